"""Blue/green on Azure ML: specs load with azure-ai-ml, traffic moves only after a smoke test.

Nothing reaches Azure here: the workspace calls fail at authentication, which must stop the
deployment with a clear message before any traffic moves.
"""

import sys
from pathlib import Path

import pytest
from azure.ai.ml import load_environment
from conftest import answers_into, sample_project
from typer.testing import CliRunner

from aiops_platform import project
from aiops_platform.azure_ml import AzureUnavailable, workspace_client
from aiops_platform.cli import app
from aiops_platform.deploy import (
    TARGET_VARIABLES,
    DeploymentError,
    Target,
    blue_green,
    deploy_target,
    live_colour,
    load_specs,
    next_colour,
    rollback_target,
    switched,
    target_variables,
    where_set,
)
from aiops_platform.settings import Settings, get_settings

PIPELINE_MARKERS = ("DEPLOY_ENVIRONMENT", "CI", "TF_BUILD")
PROD = {  # one environment's own values, none of them an answer given at generation
    "azure_subscription_id": "99999999-1111-2222-3333-444444444444",
    "azure_resource_group": "rg-app-prod",
    "azure_ml_workspace": "mlw-app-prod",
    "aml_endpoint_name": "app-prod",
    "azure_openai_endpoint": "https://aoai-prod.openai.azure.com/",
}


@pytest.fixture
def local_run(monkeypatch: pytest.MonkeyPatch):
    """Not in a pipeline (the project's own CI sets CI=true), no target in the environment, fresh settings."""
    for name in [*PIPELINE_MARKERS, *target_variables(Settings(_env_file=None))]:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.parametrize("colour", ["blue", "green"])
def test_endpoint_deployment_and_environment_specs_load_with_azure_ml(project_root: Path, colour: str):
    endpoint, deployment = load_specs(project_root, colour)
    assert deployment.name == colour and deployment.endpoint_name == endpoint.name
    assert deployment.environment_variables["AIOPS_VARIANT"] == colour  # on every span it emits
    assert deployment.app_insights_enabled
    assert endpoint.auth_mode == "aad_token"
    environment = load_environment(project_root / "deployment/aml/environment.yml")
    assert environment.inference_config.scoring_route.path == "/score"


@pytest.mark.parametrize(
    ("traffic", "new", "after"),
    [
        ({}, "blue", {"blue": 100}),
        ({"blue": 100}, "green", {"blue": 0, "green": 100}),
        ({"blue": 0, "green": 100}, "blue", {"blue": 100, "green": 0}),
    ],
    ids=["first-deploy", "blue-live", "green-live"],
)
def test_the_idle_colour_is_deployed_and_then_takes_all_traffic(traffic, new, after):
    assert next_colour(traffic) == new
    assert switched(traffic, new) == after
    assert live_colour(after) == new


def test_rollback_goes_to_the_kept_colour_and_needs_one():
    assert rollback_target({"blue": 0, "green": 100}) == "blue"
    with pytest.raises(DeploymentError, match="no previous deployment"):
        rollback_target({"blue": 100})


@pytest.mark.parametrize("provider", ["azure_openai", "openai"])
def test_each_environment_s_endpoint_and_model_replace_the_specs_values(project_root: Path, provider: str):
    settings = Settings(_env_file=None, configured_provider=provider, **PROD)
    target = deploy_target(settings, {"DEPLOY_ENVIRONMENT": "prod"})
    endpoint, deployment = load_specs(project_root, "green", target)
    assert endpoint.name == deployment.endpoint_name == "app-prod"
    shipped = load_specs(project_root, "green")[1].environment_variables.get("AZURE_OPENAI_ENDPOINT")
    if provider == "azure_openai":
        assert deployment.environment_variables["AZURE_OPENAI_ENDPOINT"] == PROD["azure_openai_endpoint"]
    else:  # OpenAI has no endpoint of its own per environment: the specs keep theirs
        assert target.openai_endpoint is None
        assert deployment.environment_variables.get("AZURE_OPENAI_ENDPOINT") == shipped
    answers = load_specs(project_root, "green")[0].name  # no target: the specs as generated
    assert answers == project.load(project_root).slug


@pytest.mark.parametrize("marker", [{"DEPLOY_ENVIRONMENT": "test"}, {"CI": "true"}, {"TF_BUILD": "True"}])
@pytest.mark.parametrize("provider", ["azure_openai", "openai"])
def test_in_a_pipeline_every_target_value_must_come_from_the_environment(
    marker: dict[str, str], provider: str, local_run: None
):
    settings = Settings(_env_file=None, configured_provider=provider)
    needed = target_variables(settings)
    assert ("AZURE_OPENAI_ENDPOINT" in needed) is (provider == "azure_openai")
    with pytest.raises(DeploymentError) as raised:
        deploy_target(settings, marker)
    message = str(raised.value)
    assert message.startswith(f"set {', '.join(needed)} for the ")
    assert "\n" not in message
    assert "AML_ENDPOINT_NAME" in TARGET_VARIABLES and "AZURE_ML_WORKSPACE" in TARGET_VARIABLES
    values = {field: PROD[field] for field in needed.values()}
    given = Settings(_env_file=None, configured_provider=provider, **values)
    assert deploy_target(given, marker).endpoint_name == "app-prod"


@pytest.mark.parametrize(
    ("ci_provider", "where"),
    [
        ("github", "in the GitHub environment's secrets (Settings > Environments): "),
        ("azure_devops", "in the variable group qcp-assistant-test (Pipelines > Library): "),
    ],
)
def test_a_missing_value_names_where_this_ci_system_keeps_it(
    ci_provider: str, where: str, monkeypatch: pytest.MonkeyPatch, local_run: None
):
    sample = sample_project(ci_provider=ci_provider)
    monkeypatch.chdir(sample)
    assert project.load(sample).slug == "qcp-assistant"
    assert where_set("test") == where.removeprefix("in ").removesuffix(": ")
    with pytest.raises(DeploymentError, match=r"^set AZURE_SUBSCRIPTION_ID, .*") as raised:
        deploy_target(Settings(_env_file=None), {"DEPLOY_ENVIRONMENT": "test"})
    assert f"for the test environment, {where}in a pipeline nothing falls back" in str(raised.value)


def test_locally_the_answers_are_the_defaults(local_run: None):
    assert deploy_target(Settings(_env_file=None), {}) == Target("local")


def test_a_pipeline_without_its_environment_s_values_stops_before_azure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_run: None
):
    monkeypatch.setenv("DEPLOY_ENVIRONMENT", "test")
    monkeypatch.chdir(answers_into(tmp_path))  # the sample's answers, no .env
    result = CliRunner().invoke(app, ["deploy", "aml"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error deployment stopped, live traffic unchanged: set AZURE_SUBSCRIPTION_ID, ")
    assert "for the test environment" in line


def test_without_azure_credentials_nothing_moves_and_the_error_says_why(project_root: Path):
    smoked = []
    settings = Settings(azure_subscription_id=PROD["azure_subscription_id"])
    with pytest.raises(AzureUnavailable, match="no Azure credentials"):
        blue_green(workspace_client(settings), project_root, smoked.append, lambda message: None)
    assert smoked == []


def test_deploy_without_a_login_is_one_line_naming_az_login(
    project_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, local_run: None
):
    """azure.identity's own report (a line per credential it tried) stays out of the way."""
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_FEDERATED_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))  # no az, azd or pwsh to ask
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path))  # and no az login profile
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", PROD["azure_subscription_id"])  # real ones, not the
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", PROD["azure_openai_endpoint"])  # answers' placeholders
    monkeypatch.chdir(project_root)
    result = CliRunner().invoke(app, ["deploy", "aml"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    # the first call asks for the workspace's region (data residency), before anything is deployed
    assert line.startswith("Error deployment stopped, live traffic unchanged: read workspace ")
    assert "no Azure credentials. Run `az login`" in line and "then run `make deploy` again." in line
