"""deployment/webapp/deploy.sh against a stand-in `az` that records its calls: nothing reaches Azure.

A missing CLI, login or setting stops it before anything changes, with one line naming the fix.
The first deployment creates the Web App in the project's region; settings come from the
environment, then `.env`, then the answers given when the project was generated.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import answers_into, sample_project

from aiops_platform import project

WEBAPP = {"deployment_target": "azure_webapp"}
SAMPLE = sample_project(**WEBAPP)  # the default answers otherwise: GitHub, Azure OpenAI
ANSWERS = project.load(SAMPLE)
SUBSCRIPTION = ANSWERS.azure.subscription_id
RESOURCE_GROUP = ANSWERS.azure.resource_group
LOCATION = ANSWERS.azure.location
REPOSITORY = ANSWERS.slug  # the image name in the registry
FAKE_AZ = """#!/bin/sh
echo "az $*" >> "$AZ_CALLS"
case "$*" in
  "account show"*) [ -n "$AZ_LOGGED_IN" ] || { echo "ERROR: Please run 'az login'." >&2; exit 1; } ;;
  "group exists"*) echo true ;;
  "appservice plan show"*"--query location"*) [ -n "$PLAN_REGION" ] && echo "$PLAN_REGION" || exit 3 ;;
  "webapp show"* | "appservice plan show"*) exit 3 ;;  # neither exists yet: a first deployment
  "acr show"*"--query location"*) echo "${ACR_REGION:-westeurope}" ;;
  "acr show"*) echo /subscriptions/s/resourceGroups/g/providers/Microsoft.ContainerRegistry/registries/r ;;
esac
"""


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    """A PATH with only what deploy.sh needs: no real Azure CLI can be reached."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ("sh", "bash", "sed", "tail"):
        (folder / tool).symlink_to(shutil.which(tool))
    return folder


def deploy(
    tmp_path: Path, tools: Path, env: dict[str, str], dotenv: str = "", sample: Path = SAMPLE
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `sample`'s deploy.sh from a scratch working folder (its .env is `dotenv`); returns the az
    calls (and the stand-in project Python's, whose release record passes unless `env` says otherwise)."""
    work, calls, python = tmp_path / "work", tmp_path / "az-calls.log", tmp_path / "python"
    script = sample / "deployment" / "webapp" / "deploy.sh"
    work.mkdir(exist_ok=True)
    if dotenv:
        (work / ".env").write_text(dotenv, encoding="utf-8")
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(0o755)
    release = {"RELEASE_PYTHON": str(python), "RELEASE_SETTINGS": str(tmp_path / "release.env")}
    environment = {"PATH": str(tools), "AZ_CALLS": str(calls), "IMAGE_TAG": "abc1234", "GATE_PASSED": "1"}
    environment |= release | env
    result = subprocess.run(
        [shutil.which("bash"), str(script)], cwd=work, env=environment, capture_output=True, text=True
    )
    return result, calls.read_text(encoding="utf-8").splitlines() if calls.exists() else []


def with_az(tools: Path) -> Path:
    (tools / "az").write_text(FAKE_AZ, encoding="utf-8")
    (tools / "az").chmod(0o755)
    return tools


def test_without_the_azure_cli_it_says_how_to_get_it(tmp_path: Path, tools: Path):
    result, calls = deploy(tmp_path, tools, {"ACR_NAME": "acr", "WEBAPP_NAME": "app"})
    assert result.returncode == 1 and calls == []
    assert result.stderr.splitlines() == [
        "make deploy: the Azure CLI (az) is not installed: install it (https://aka.ms/installazurecli), "
        "run az login, then make deploy again."
    ]


def test_without_a_login_it_names_az_login_and_changes_nothing(tmp_path: Path, tools: Path):
    result, calls = deploy(tmp_path, with_az(tools), {"ACR_NAME": "acr", "WEBAPP_NAME": "app"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"make deploy: no Azure login for subscription {SUBSCRIPTION} (AZURE_SUBSCRIPTION_ID): "
        "run az login, then make deploy again."
    ]
    assert calls == [f"az account show --subscription {SUBSCRIPTION} --output none"]


def test_missing_names_are_listed_in_one_line(tmp_path: Path, tools: Path):
    result, calls = deploy(tmp_path, with_az(tools), {"AZ_LOGGED_IN": "1", "WEBAPP_NAME": ""})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "make deploy: set ACR_NAME WEBAPP_NAME (environment or .env): "
        "the container registry and the Web App to deploy to."
    ]
    assert calls == []  # known before asking Azure anything


PER_ENVIRONMENT = {
    "AZURE_SUBSCRIPTION_ID": "99999999-1111-2222-3333-444444444444",
    "AZURE_RESOURCE_GROUP": "rg-app-prod",
    "AZURE_OPENAI_ENDPOINT": "https://aoai-prod.openai.azure.com/",
    "ACR_NAME": "acrprod",
    "WEBAPP_NAME": "app-prod",
}
# What a pipeline must set, and where its CI system keeps it, differ with the answers given.
VARIANTS = {
    "github-azure-openai": (
        {},
        "AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_OPENAI_ENDPOINT",
        "in its GitHub environment secrets (Settings > Environments).",
    ),
    "azure-devops": (
        {"ci_provider": "azure_devops"},
        "AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP AZURE_OPENAI_ENDPOINT",
        f"in the variable group {REPOSITORY}-test (Pipelines > Library).",
    ),
    "openai": (
        {"llm_provider": "openai"},
        "AZURE_SUBSCRIPTION_ID AZURE_RESOURCE_GROUP",
        "in its GitHub environment secrets (Settings > Environments).",
    ),
}


@pytest.mark.parametrize("marker", [{"DEPLOY_ENVIRONMENT": "test"}, {"CI": "true"}, {"TF_BUILD": "True"}])
@pytest.mark.parametrize("variant", VARIANTS)
def test_in_a_pipeline_nothing_falls_back_to_the_answers(
    tmp_path: Path, tools: Path, marker: dict[str, str], variant: str
):
    """dev, test and prod each bring their own target; a missing one is one line, before any Azure call."""
    answers, required, where = VARIANTS[variant]
    env = {"AZ_LOGGED_IN": "1", "ACR_NAME": "acr", "WEBAPP_NAME": "app", **marker}
    result, calls = deploy(tmp_path, with_az(tools), env, sample=sample_project(**WEBAPP, **answers))
    assert result.returncode == 1 and calls == []
    environment = marker.get("DEPLOY_ENVIRONMENT", "<environment>")
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"make deploy: set {required} for the {environment} environment, ")
    if "DEPLOY_ENVIRONMENT" in marker:
        assert line.endswith(where)


def test_a_pipeline_deploys_to_its_environment_s_own_target(tmp_path: Path, tools: Path):
    env = {"AZ_LOGGED_IN": "1", "DEPLOY_ENVIRONMENT": "prod", **PER_ENVIRONMENT, "KEY_VAULT_NAME": "kv-prod"}
    result, calls = deploy(tmp_path, with_az(tools), env)
    assert result.returncode == 0, result.stderr
    log = "\n".join(calls)
    assert SUBSCRIPTION not in log and RESOURCE_GROUP not in log, "no answer is used in a pipeline"
    target = "--subscription 99999999-1111-2222-3333-444444444444 --resource-group rg-app-prod"
    assert f"az webapp config container set {target} --name app-prod" in log
    overrides = next(call for call in calls if "AZURE_OPENAI_ENDPOINT=" in call)
    assert overrides.startswith(f"az webapp config appsettings set {target} --name app-prod --settings ")
    assert "AZURE_OPENAI_ENDPOINT=https://aoai-prod.openai.azure.com/" in overrides
    assert "SecretUri=https://kv-prod.vault.azure.net/secrets/appinsights-connection-string" in overrides
    assert overrides.endswith("AIOPS_RELEASE_GATE=passed --output none")  # what the app runs: `release tags`
    assert calls.index(overrides) > next(i for i, call in enumerate(calls) if "@deployment/webapp" in call)


def test_the_first_deployment_creates_the_web_app_in_the_project_region(tmp_path: Path, tools: Path):
    env = {"AZ_LOGGED_IN": "1", "ACR_NAME": "acr", "WEBAPP_NAME": "app"}
    result, calls = deploy(tmp_path, with_az(tools), env)
    assert result.returncode == 0, result.stderr
    target = f"--subscription {SUBSCRIPTION} --resource-group {RESOURCE_GROUP}"
    image = f"acr.azurecr.io/{REPOSITORY}:abc1234"
    plan = f"az appservice plan create {target} --name app-plan --location {LOCATION} --is-linux --sku B1"
    assert f"{plan} --output none" in calls
    created = next(call for call in calls if call.startswith("az webapp create"))
    assert f"--container-image-name {image}" in created and "--role AcrPull" in created
    assert calls[-6:-1] == [
        f"az webapp config container set {target} --name app --container-image-name {image} --output none",
        f"az webapp config set {target} --name app --generic-configurations "
        '{"healthCheckPath": "/ready"} --output none',
        f"az webapp config appsettings set {target} --name app "
        "--settings @deployment/webapp/app_settings.json --output none",
        f"az webapp config appsettings set {target} --name app "
        "--settings AIOPS_RELEASE_GATE=passed --output none",  # what the app runs: `release tags`
        f"az webapp restart {target} --name app",
    ]


def test_dotenv_fills_what_the_environment_leaves_unset(tmp_path: Path, tools: Path):
    dotenv = "ACR_NAME=acr\nWEBAPP_NAME='quoted-app'\nAZURE_LOCATION=northeurope\n"
    dotenv += "AZURE_RESOURCE_GROUP=rg-from-dotenv\n"  # the environment's value wins over this one
    env = {"AZ_LOGGED_IN": "1", "AZURE_RESOURCE_GROUP": "rg-from-env"}
    result, calls = deploy(tmp_path, with_az(tools), env, dotenv)
    assert result.returncode == 0, result.stderr
    plan = next(call for call in calls if call.startswith("az appservice plan create"))
    assert "--resource-group rg-from-env --name quoted-app-plan --location northeurope" in plan


FAKE_PYTHON = """#!/bin/sh
echo "python $*" >> "$AZ_CALLS"
case "$*" in
  *"release tags"*) [ -n "$GATE_PASSED" ] || { echo "Error deployment stopped: no release record" ; exit 1; }
    printf 'AIOPS_RELEASE_GATE=passed\\n' > "$6" ;;  # -m <package> release tags --output FILE
  *"governance region eastus"*) echo "Error container registry acr is in eastus, outside ..."; exit 1 ;;
esac
"""


@pytest.mark.parametrize("gate_passed", [True, False], ids=["passed-gate", "no-passed-gate"])
def test_the_release_record_is_checked_after_the_login_and_recorded_after_the_deployment(
    tmp_path: Path, tools: Path, gate_passed: bool
):
    """make deploy passes RELEASE_PYTHON: `release tags` before anything is built, `release deployed` last."""
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(0o755)
    env = {"AZ_LOGGED_IN": "1", "ACR_NAME": "acr", "WEBAPP_NAME": "app", "RELEASE_PYTHON": str(python)}
    env |= {"RELEASE_SETTINGS": str(tmp_path / "release.env"), "GATE_PASSED": "1" if gate_passed else ""}
    result, calls = deploy(tmp_path, with_az(tools), env)
    tags = next(index for index, call in enumerate(calls) if "release tags" in call)
    platform = f"python -m aiops_platform release tags --output {tmp_path}"  # the platform's command
    assert calls[tags].startswith(platform)
    assert calls[tags - 1].startswith("az group exists")  # the login and the target were checked first
    if not gate_passed:
        assert result.returncode == 1 and calls[-1] == calls[tags]  # nothing built, nothing changed
        assert "no release record" in result.stdout
        return
    assert result.returncode == 0, result.stderr
    build = next(index for index, call in enumerate(calls) if call.startswith("az acr build"))
    checked = [call.split(" governance region ")[1] for call in calls[tags:build] if " region " in call]
    assert checked == [f"{LOCATION} --what Web App app", "westeurope --what container registry acr"]
    settings = next(call for call in calls if "AIOPS_RELEASE_GATE=passed" in call)
    assert settings.startswith("az webapp config appsettings set")
    assert calls[-1].endswith(f"release deployed --target app --region {LOCATION}")


def test_without_the_project_s_python_nothing_is_deployed(tmp_path: Path, tools: Path):
    """Run directly (not by make deploy), deploy.sh checks the record with .venv's Python, or stops."""
    env = {"AZ_LOGGED_IN": "1", "ACR_NAME": "acr", "WEBAPP_NAME": "app", "RELEASE_PYTHON": ""}
    result, calls = deploy(tmp_path, with_az(tools), env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "make deploy: no project Python at .venv/bin/python to check the release record: "
        "run make install, then make deploy again."
    ]
    assert not any(call.startswith(("python", "az acr build", "az webapp")) for call in calls)


def test_a_first_deployment_onto_an_existing_plan_checks_the_plan_s_region(tmp_path: Path, tools: Path):
    """The new app lands on `<app>-plan`; if that plan exists, its region is where the app will run."""
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(0o755)
    env = {"AZ_LOGGED_IN": "1", "ACR_NAME": "acr", "WEBAPP_NAME": "app", "RELEASE_PYTHON": str(python)}
    env |= {"RELEASE_SETTINGS": str(tmp_path / "release.env"), "GATE_PASSED": "1", "PLAN_REGION": "eastus"}
    result, calls = deploy(tmp_path, with_az(tools), env)
    assert result.returncode == 1
    assert "governance region eastus --what Web App app" in calls[-1]
    assert not any(call.startswith(("az acr build", "az webapp create")) for call in calls)


def test_a_registry_outside_the_agreed_regions_stops_the_deployment_before_the_build(
    tmp_path: Path, tools: Path
):
    """`governance region` (tested in test_approvals.py) refuses; deploy.sh builds and changes nothing."""
    python = tmp_path / "python"
    python.write_text(FAKE_PYTHON, encoding="utf-8")
    python.chmod(0o755)
    env = {"AZ_LOGGED_IN": "1", "ACR_NAME": "acr", "WEBAPP_NAME": "app", "RELEASE_PYTHON": str(python)}
    env |= {"RELEASE_SETTINGS": str(tmp_path / "release.env"), "GATE_PASSED": "1", "ACR_REGION": "eastus"}
    result, calls = deploy(tmp_path, with_az(tools), env)
    assert result.returncode == 1
    assert "outside" in result.stdout
    assert "governance region eastus" in calls[-1]
    assert not any(call.startswith(("az acr build", "az webapp config")) for call in calls)


def test_the_real_platform_refuses_a_project_without_a_gated_run(tmp_path: Path, tools: Path):
    """deploy.sh's `python -m aiops_platform release tags`, run by this library's own Python in a
    project that has never passed the gate: it stops, in one line, before anything is built."""
    work = tmp_path / "work"
    work.mkdir()
    answers_into(work, SAMPLE)
    shutil.copy(SAMPLE / "experiment.yaml", work / "experiment.yaml")  # marks the project root
    env = {"AZ_LOGGED_IN": "1", "ACR_NAME": "acr", "WEBAPP_NAME": "app", "RELEASE_PYTHON": sys.executable}
    env |= {"RELEASE_SETTINGS": str(tmp_path / "release.env"), "HOME": str(tmp_path)}
    result, calls = deploy(tmp_path, with_az(tools), env)
    assert result.returncode == 1, result.stderr
    assert "Error deployment stopped: no release record: run `make gate` first" in result.stdout
    assert calls[-1].startswith("az group exists")  # the real Python is not the recording stand-in
    assert not (tmp_path / "release.env").exists()
