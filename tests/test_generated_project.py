"""Do what a user does: generate, then run the project's own `make install lint test experiment`.

`install` needs the package registry; everything after it runs in a network namespace with no
network at all (where `unshare` is available, as on CI), which proves the project works offline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.project

USER_COMBINATIONS = {
    "defaults": {},
    "azure-devops-webapp-openai-custom-names": {
        "project_name": "CMC Helper",
        "package_name": "cmc_helper",
        "use_case_code": "CMC",
        "llm_provider": "openai",
        "ci_provider": "azure_devops",
        "deployment_target": "azure_webapp",
    },
}


def _offline_prefix() -> list[str]:
    unshare = shutil.which("unshare")
    if unshare and subprocess.run([unshare, "--net", "--map-root-user", "true"], check=False).returncode == 0:
        return [unshare, "--net", "--map-root-user"]
    return []


def make(project: Path, *targets: str, offline: bool) -> subprocess.CompletedProcess[str]:
    command = [*(_offline_prefix() if offline else []), "make", "-C", str(project), *targets]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


@pytest.mark.parametrize("answers", USER_COMBINATIONS.values(), ids=USER_COMBINATIONS.keys())
def test_generated_project_installs_lints_tests_and_runs_its_experiment_offline(bake, answers):
    project = bake(**answers)
    make(project, "install", offline=False)
    make(project, "lint", offline=True)
    tests = make(project, "test", offline=True)
    assert " passed" in tests.stdout and " failed" not in tests.stdout
    experiment = make(project, "experiment", offline=True)

    (results_dir,) = (project / "results").iterdir()
    saved = json.loads((results_dir / "results.json").read_text(encoding="utf-8"))
    assert [(e["dataset"], e["failed"]) for e in saved["evaluations"]] == [("core_qa", 0), ("hard_qa", 0)]
    for evaluation in saved["evaluations"]:
        assert set(evaluation["metrics"]) == {"exact_match", "f1_score", "rouge_l"}
        assert all(0.0 <= value <= 1.0 for value in evaluation["metrics"].values())
    assert "core_qa" in experiment.stdout and "hard_qa" in experiment.stdout
    assert (results_dir / "summary.md").is_file()
