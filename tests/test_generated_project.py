"""Do what a user does: generate, then run the project's own `make` targets.

`make install` needs the package registry; everything after it runs in a network namespace that
has only loopback (where `unshare` works, as on CI), which proves the project works offline.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE, TEMPLATE_COPY_IGNORE, files_in
from cookiecutter.main import cookiecutter
from test_generation import expected_files

pytestmark = pytest.mark.project


def preset(name: str) -> dict:
    return yaml.safe_load((TEMPLATE / "usecases" / f"{name}.yaml").read_text(encoding="utf-8"))[
        "default_context"
    ]


# The two use-case presets; the second also takes every non-default option (the rag flow among them).
OTHER_COMBINATION = preset("cmc") | {
    "llm_provider": "openai",
    "ci_provider": "azure_devops",
    "deployment_target": "azure_webapp",
    "flow_kind": "rag",
    # Azure DevOps names approvers as e-mails or [Project]\\Group, not GitHub teams
    "approvers_test": "cmc-leads@example.com",
    "approvers_prod": "[CMC]\\Regulatory Affairs, cmc-leads@example.com",
}


def _offline_prefix() -> list[str]:
    """A new network namespace with only loopback up: local servers work, nothing else does."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare and ip:
        loopback_up = f'{ip} link set lo up && exec "$@"'
        command = [unshare, "--net", "--map-root-user", "sh", "-c", loopback_up, "offline"]
        if subprocess.run([*command, "true"], check=False).returncode == 0:
            return command
    return []


def make(project: Path, *targets: str, offline: bool = True) -> subprocess.CompletedProcess[str]:
    command = [*(_offline_prefix() if offline else []), "make", "-C", str(project), *targets]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, (
        f"{' '.join(command)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result


METRIC_RANGES = {  # evaluator -> (metrics, documented range)
    "qa_metrics": ({"exact_match", "f1_score", "rouge_l"}, (0.0, 1.0)),
    "judges": ({"groundedness", "relevance", "coherence", "fluency", "similarity"}, (1.0, 5.0)),
    "answer_length": ({"answer_words"}, (0.0, 200.0)),
}
SAFETY_RANGES = {  # the evaluators of the safety dataset
    "safety": (
        {"canary_kept", "refused", "answered", "pii_free", "harmlessness", "attack_resistance"},
        (0.0, 5.0),
    ),
    "content_safety": (set(), (0.0, 1.0)),  # offline there is no Azure AI project: skipped, no metrics
    "answer_length": METRIC_RANGES["answer_length"],
}
SAFETY_LINES = 12
# rag projects also score retrieval on the quality datasets
RETRIEVAL_RANGES = {"retrieval": ({"recall_at_3", "precision_at_3", "mrr_at_3", "ndcg_at_3"}, (0.0, 1.0))}


def assert_experiment_ran(project: Path, output: str, lines: dict[str, int]) -> None:
    """Every evaluator scored every variant on its datasets, within its range, and the gate passed."""
    (results_dir,) = (project / "results").iterdir()
    saved = json.loads((results_dir / "results.json").read_text(encoding="utf-8"))
    runs = {(e["evaluator"], e["variant"], e["dataset"]) for e in saved["evaluations"]}
    lines = lines | {"safety": SAFETY_LINES}
    quality = METRIC_RANGES | (RETRIEVAL_RANGES if (project / "evaluators/retrieval.py").exists() else {})

    def ranges(dataset: str) -> dict:
        return SAFETY_RANGES if dataset == "safety" else quality

    assert runs == {(e, v, d) for v in ("baseline", "concise") for d in lines for e in ranges(d)}
    assert [skipped["evaluator"] for skipped in saved["skipped"]] == ["content_safety"]
    for evaluation in saved["evaluations"]:
        names, (low, high) = ranges(evaluation["dataset"])[evaluation["evaluator"]]
        assert (evaluation["lines"], evaluation["failed"]) == (lines[evaluation["dataset"]], 0)
        assert set(evaluation["metrics"]) == names
        assert all(low <= value <= high for value in evaluation["metrics"].values()), evaluation
    assert saved["gate"]["passed"] is True
    assert "core_qa" in output and "hard_qa" in output and "Gate passed" in output
    assert {p.name for p in results_dir.iterdir()} >= {"summary.md", "report.html", "results.json"}


def registered_versions(project: Path) -> dict[str, list[str]]:
    index = json.loads((project / ".aiops/registry/index.json").read_text(encoding="utf-8"))
    return {name: [v["version"] for v in versions] for name, versions in index["data"].items()}


@pytest.fixture(scope="module")
def installed_default(cookies_session) -> Path:
    """The default project after `make install`: its .venv also serves the hook tests below."""
    result = cookies_session.bake(extra_context=preset("qcp") | {"register_on_generate": "none"})
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    make(project, "install", offline=False)
    return project


def test_make_install_installs_the_git_hook_with_the_project_environment(installed_default: Path):
    """So `git commit` runs the checks from any shell: the hook names .venv's Python, not PATH's."""
    hook = (installed_default / ".git/hooks/pre-commit").read_text(encoding="utf-8")
    assert "File generated by pre-commit" in hook
    assert f"INSTALL_PYTHON={installed_default / '.venv/bin/python'}\n" in hook


def onboarding_commands(project: Path) -> list[str]:
    """The make targets of docs/onboarding.md's day-one block, in order: the doc is the script."""
    text = (project / "docs/onboarding.md").read_text(encoding="utf-8")
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.removeprefix("make ").strip() for line in block.splitlines() if line.startswith("make ")]


def test_the_day_one_commands_of_the_onboarding_doc_pass_offline(installed_default: Path):
    commands = onboarding_commands(installed_default)
    assert commands == ["install", "lint", "test-all", "data-validate", "register", "gate", "monitor"]
    outputs = {target: make(installed_default, target).stdout for target in commands[1:]}  # installed above
    assert " passed" in outputs["test-all"] and " failed" not in outputs["test-all"]
    assert " skipped" not in outputs["test-all"] and " deselected" not in outputs["test-all"]
    assert registered_versions(installed_default) == {
        "qcp_core_qa": ["1"],
        "qcp_hard_qa": ["1"],
        "qcp_safety": ["1"],
    }
    assert_experiment_ran(installed_default, outputs["gate"], {"core_qa": 24, "hard_qa": 20})
    flow_rows = [line.split() for line in outputs["monitor"].splitlines() if line.split()[:1] == ["qa"]]
    assert sorted((row[1], row[2]) for row in flow_rows) == [("baseline", "56"), ("concise", "56")]


def test_another_combination_installs_lints_tests_and_runs_offline(bake):
    project = bake(**OTHER_COMBINATION)
    make(project, "install", offline=False)
    make(project, "lint")
    tests = make(project, "test-all")
    assert " passed" in tests.stdout and " failed" not in tests.stdout
    assert "Indexed" in make(project, "index").stdout
    pr_overlay = make(project, "gate", "ENV=pr").stdout
    assert_experiment_ran(project, pr_overlay, {"core_qa": 10, "hard_qa": 10})
    assert "drug substance" in (project / "data/docs/handbook_part_1.md").read_text(encoding="utf-8")
    leave_prompt_flow(project, ["ENV=pr"], {"core_qa": 10, "hard_qa": 10})


def test_the_chat_flow_installs_lints_tests_and_runs_its_experiment_offline(bake):
    project = bake(flow_kind="chat", register_on_generate=False)
    make(project, "install", offline=False)
    make(project, "lint")
    tests = make(project, "test-all")
    assert " passed" in tests.stdout and " failed" not in tests.stdout
    experiment = make(project, "gate").stdout
    assert_experiment_ran(project, experiment, {"core_qa": 24, "hard_qa": 20, "multi_turn_qa": 8})
    leave_prompt_flow(project, [], {"core_qa": 24, "hard_qa": 20, "multi_turn_qa": 8})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_and_smoke(project: Path) -> str:
    """`make serve` in the background, `make smoke` against it, then the server stopped: one
    offline namespace for all three, so the smoke test reaches the server on loopback."""
    url = f"http://127.0.0.1:{_free_port()}"
    script = (
        'setsid make -s -C "$1" serve PORT="${2##*:}" > "$1/serve.log" 2>&1 & server=$!\n'
        'for _ in $(seq 1 60); do curl -fsS "$2/health" > /dev/null 2>&1 && break; sleep 1; done\n'
        'make -s -C "$1" smoke URL="$2"; status=$?\n'
        'kill -TERM -"$server"; wait "$server"  # the whole group: make and the server\n'
        'for _ in $(seq 1 100); do curl -fsS "$2/health" > /dev/null 2>&1 || break; sleep 0.1; done\n'
        'test "$status" = 0 || tail -n 40 "$1/serve.log" >&2; exit "$status"\n'
    )
    command = [*_offline_prefix(), "sh", "-c", script, "serve-and-smoke", str(project), url]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=180)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def runbook_commands_to_leave_prompt_flow(project: Path) -> list[str]:
    """The make commands of docs/runbook.md's "Leave Prompt Flow" block, in order: the doc is the script."""
    section = (project / "docs/runbook.md").read_text(encoding="utf-8").split("## Leave Prompt Flow\n", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return [
        line.split("#")[0].removeprefix("make ").strip()
        for line in block.splitlines()
        if line.startswith("make ")
    ]


def leave_prompt_flow(project: Path, gate: list[str], lines: dict[str, int]) -> None:
    """An existing project installed with Prompt Flow leaves it by docs/runbook.md's commands, then
    tests, gates, serves and passes its smoke test without it: the chat and rag kinds' check (the qa
    kind's is the fresh install below). About 20 s on an installed project, on 2 shared cores."""
    assert runbook_commands_to_leave_prompt_flow(project) == [
        "install PROMPTFLOW=0",
        "test-all",
        "gate",
        "serve",
    ]
    assert (project / ".venv/bin/pf").exists()  # installed with Prompt Flow, as before the migration
    make(project, "install", "PROMPTFLOW=0", offline=False)
    probe = "import importlib.util; print(importlib.util.find_spec('promptflow'))"
    found = subprocess.run([project / ".venv/bin/python", "-c", probe], capture_output=True, text=True)
    assert found.stdout == "None\n", found.stderr
    assert not (project / ".venv/bin/pf").exists()
    tests = make(project, "test-all").stdout
    assert " passed" in tests and " failed" not in tests and " 1 deselected" in tests  # the promptflow one
    shutil.rmtree(project / "results")  # assert_experiment_ran reads the one run
    assert_experiment_ran(project, make(project, "gate", *gate).stdout, lines)
    assert "Smoke test passed" in serve_and_smoke(project)


def test_without_prompt_flow_everything_else_installs_lints_tests_and_runs_offline(bake):
    """`make install PROMPTFLOW=0`: no promptflow package at all, and every other target works."""
    project = bake(**preset("qcp"))
    make(project, "install", "PROMPTFLOW=0", offline=False)
    python, uv = str(project / ".venv/bin/python"), str(project / ".venv/bin/uv")

    def stdout(*command: str) -> str:
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    probe = "import importlib.util; print(importlib.util.find_spec('promptflow'))"
    assert stdout(python, "-c", probe) == "None\n"
    listed = stdout(uv, "pip", "list", "--python", python)
    assert not [line for line in listed.splitlines() if line.lower().startswith("promptflow")], listed
    stdout(uv, "pip", "check", "--python", python)  # exits 1 on any conflict
    make(project, "lint")
    tests = make(project, "test-all").stdout
    assert " passed" in tests and " failed" not in tests and " skipped" not in tests
    assert " deselected" in tests  # the tests marked promptflow, by marker only
    assert_experiment_ran(project, make(project, "gate").stdout, {"core_qa": 24, "hard_qa": 20})
    assert "hard_qa" in make(project, "experiment").stdout and len(list((project / "results").iterdir())) == 2
    assert [line for line in make(project, "monitor").stdout.splitlines() if line.split()[:1] == ["qa"]]
    registered = make(project, "register").stdout
    (note,) = [line for line in registered.splitlines() if "Connections come from settings" in line]
    assert "make install PROMPTFLOW=1" in note
    assert "Smoke test passed" in serve_and_smoke(project)


def test_a_broken_dataset_never_loses_the_generated_project(
    tmp_path: Path, installed_default: Path, monkeypatch: pytest.MonkeyPatch, capfd
):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=TEMPLATE_COPY_IGNORE)
    broken = template / "{{cookiecutter.project_slug}}/data/hard_qa.jsonl"
    broken.write_text('{"id": "1", "question": "unclosed"\n', encoding="utf-8")
    monkeypatch.setenv("AIOPS_PROJECT_PYTHON", str(installed_default / ".venv/bin/python"))

    project = Path(
        cookiecutter(str(template), no_input=True, output_dir=str(tmp_path / "out"), default_config=True)
    )

    out = capfd.readouterr().out
    assert "Skipped: registering data assets and connections failed" in out
    assert "hard_qa.jsonl:1: not valid JSON" in out
    assert "Fix the problem above, then run: make register" in out
    assert files_in(project) == expected_files({})
    assert not (project / ".aiops").exists()


def test_deploy_without_an_azure_login_ends_in_one_line_naming_az_login(
    installed_default: Path, tmp_path: Path
):
    """The CLI's line, and nothing from azure.identity (it logs a line per credential it tried)."""
    login = ("AZURE_CLIENT_", "AZURE_TENANT_", "AZURE_FEDERATED_", "IDENTITY_", "MSI_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(login)}
    env["AZURE_CONFIG_DIR"] = str(tmp_path)  # no `az login` profile, even where az is installed
    # Real-looking values: the default answers are placeholders, which deploy refuses before any login.
    env["AZURE_SUBSCRIPTION_ID"] = "99999999-1111-2222-3333-444444444444"
    env["AZURE_OPENAI_ENDPOINT"] = "https://contoso-aoai.openai.azure.com/"
    env.pop("MAKELEVEL", None)  # under `make test`, make's own error line would read `make[1]: ***`
    for pipeline_marker in ("CI", "TF_BUILD", "DEPLOY_ENVIRONMENT"):  # a developer's shell, not a pipeline
        env.pop(pipeline_marker, None)
    command = [*_offline_prefix(), "make", "--no-print-directory", "-C", str(installed_default), "deploy"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert result.returncode != 0
    lines = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line and not line.startswith("make: ***") and not line.endswith(" deploy aml")  # make's own
    ]
    assert len(lines) == 1, lines
    assert "no Azure credentials. Run `az login`" in lines[0] and "then run `make deploy` again" in lines[0]
