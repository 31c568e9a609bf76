"""Placeholders: `aiops doctor` names each one with what it blocks, and every command that would send
one to Azure or the CI system refuses it in one line naming the value, the file and the fix.

The projects are rendered from the template: a CMC project from its preset (placeholder approvers,
the zero subscription, the stand-in endpoint) and one with real values. Nothing leaves the machine.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE, sample_project
from typer.testing import CliRunner

from aiops_platform import approvals, doctor, governance, placeholders
from aiops_platform.cli import app
from aiops_platform.paths import REGISTRY
from aiops_platform.settings import get_settings

runner = CliRunner()
CMC = yaml.safe_load((TEMPLATE / "usecases/cmc.yaml").read_text(encoding="utf-8"))["default_context"]
REAL = {
    "azure_subscription_id": "3f2b6c1e-8d4a-4c2b-9e7f-1a2b3c4d5e6f",
    "azure_openai_endpoint": "https://aoai-cmc.openai.azure.com/",
    "approvers_test": "contoso/cmc-genai-leads",
    "approvers_prod": "contoso/cmc-regulatory-affairs",
}
APP_INSIGHTS = (
    "InstrumentationKey=7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d;"
    "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/"
)
SETTINGS_VARIABLES = (
    "AZURE_SUBSCRIPTION_ID",
    "REGISTRY_TARGET",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "DEPLOY_ENVIRONMENT",
    "CI",
    "TF_BUILD",
)


def _copy(source: Path, into: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A writable copy with an environment (.venv), as the working directory, with fresh settings."""
    project = into / source.name
    shutil.copytree(source, project)
    (project / ".venv/bin").mkdir(parents=True)
    (project / ".venv/bin/python").symlink_to(sys.executable)
    monkeypatch.chdir(project)
    return project


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch):
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def preset_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """`make new USECASE=cmc` as generated: the preset's placeholder approvers and the defaults."""
    return _copy(sample_project("rag", **CMC), tmp_path, monkeypatch)


@pytest.fixture
def real_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same use case once the team has given its own values (and the template's git URL)."""
    project = _copy(sample_project("rag", **{**CMC, **REAL}), tmp_path, monkeypatch)
    pyproject = project / "pyproject.toml"
    pin = pyproject.read_text(encoding="utf-8").replace(
        placeholders.PLATFORM_PIN, "contoso/aiops-genai-template"
    )
    pyproject.write_text(pin, encoding="utf-8")
    monkeypatch.setenv("APPLICATIONINSIGHTS_CONNECTION_STRING", APP_INSIGHTS)
    return project


def test_doctor_names_each_placeholder_of_a_preset_project_with_what_it_blocks(preset_project: Path):
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output  # the offline loop runs with placeholders
    said = result.output
    assert (
        "! Azure subscription (aiops.yaml azure.subscription_id): placeholder "
        "00000000-0000-0000-0000-000000000000\n"
        "    blocks: registering data and connections in Azure ML (REGISTRY_TARGET=azureml); "
        "make deploy (dev, test, prod)\n"
    ) in said
    assert (
        "! Azure OpenAI endpoint (aiops.yaml model.azure_openai_endpoint): placeholder "
        "https://your-aoai-resource.openai.azure.com/\n    blocks: online runs with the model"
    ) in said
    assert (
        "! test approvers (governance.yaml environments.test.approvers): "
        "placeholder your-org/cmc-genai-leads\n"
        "    blocks: make approvals, and test and prod deployments (they check the approvers first)\n"
        '    fix: cruft update --variables-to-update \'{"approvers_test":'
    ) in said
    assert "placeholder your-org/cmc-regulatory-affairs, your-org/cmc-genai-leads" in said
    assert "! platform pin (pyproject.toml) is the placeholder your-org/aiops-genai-template" in said
    assert "! APPLICATIONINSIGHTS_CONNECTION_STRING: not set" in said
    assert said.strip().splitlines()[-1] == (
        "The offline loop is ready. 6 value(s) above still block Azure, CI or online runs."
    )


def test_a_project_with_real_values_has_nothing_to_report(real_project: Path):
    assert doctor.diagnose(real_project) == []
    result = runner.invoke(app, ["doctor"])
    assert (result.exit_code, result.output) == (0, "Nothing is a placeholder or missing.\n")


def test_without_its_environment_the_offline_loop_is_blocked_and_the_exit_says_so(real_project: Path):
    shutil.rmtree(real_project / ".venv")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "✗ .venv: missing",
        "    blocks: the offline loop (make experiment, make gate)",
        "    fix: make install",
        "The offline loop is blocked by 1 of these: fix them first.",
    ]


def test_a_broken_governance_yaml_is_named_at_its_line_and_hides_no_other_finding(preset_project: Path):
    """It hid every other finding (both files were read in one try), and said no line."""
    governance_file = preset_project / "governance.yaml"
    lines = governance_file.read_text(encoding="utf-8").splitlines()
    governance_file.write_text("\n".join([*lines, "note: : not a mapping"]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 1, result.output  # the offline loop reads governance.yaml
    said = result.output
    assert (
        f"✗ governance.yaml: line {len(lines) + 1}, column 7: mapping values are not allowed here\n"
    ) in said
    assert "! Azure subscription (aiops.yaml azure.subscription_id): placeholder 0000" in said
    assert "! Azure OpenAI endpoint (aiops.yaml model.azure_openai_endpoint): placeholder" in said
    assert "! APPLICATIONINSIGHTS_CONNECTION_STRING: not set" in said
    assert "approvers" not in said  # read from the broken file: not guessed


def test_an_experiment_naming_registered_data_needs_a_registration_first(real_project: Path):
    experiment = real_project / "experiment.yaml"
    text = experiment.read_text(encoding="utf-8").replace(
        "path: data/core_qa.jsonl", "path: azureml:cmc_core_qa:1"
    )
    experiment.write_text(text, encoding="utf-8")
    (found,) = doctor.diagnose(real_project)
    assert found.said == "data assets: experiment.yaml name registered assets (azureml:...); none registered"
    assert found.blocks_offline and found.fix == "make register"


def test_a_gxp_use_case_without_prod_approvers_is_missing_them_and_no_deployment_passes(real_project: Path):
    agreed = yaml.safe_load((real_project / "governance.yaml").read_text(encoding="utf-8"))
    agreed["environments"]["prod"]["approvers"] = []
    (real_project / "governance.yaml").write_text(yaml.safe_dump(agreed), encoding="utf-8")
    (found,) = doctor.diagnose(real_project)
    assert found.said == "prod approvers (governance.yaml): none, and the use case is GxP-relevant"
    assert found.blocks == ("approvals",)  # and so test and prod deployments: they check them first
    with pytest.raises(
        approvals.ApprovalError, match=r"^prod: no approvers agreed in governance\.yaml, and the use"
    ):
        approvals.verify(governance.load(), "prod", environ={})


def test_approvals_dry_run_says_the_approvers_are_placeholders_not_what_it_would_set(preset_project: Path):
    result = runner.invoke(app, ["governance", "approvals", "--dry-run"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(
        "Error approvals: refused, test approvers (governance.yaml environments.test.approvers): "
        "placeholder your-org/cmc-genai-leads; prod approvers (governance.yaml environments.prod.approvers): "
        "placeholder your-org/cmc-regulatory-affairs, your-org/cmc-genai-leads; name yours: cruft update "
    )
    assert "would require" not in result.output


def test_the_approvers_check_before_a_deployment_refuses_placeholders_without_asking_the_ci(
    preset_project: Path,
):
    with pytest.raises(approvals.ApprovalError) as refused:
        approvals.verify(governance.load(), "prod", environ={})  # no token: asking would fail otherwise
    assert str(refused.value).startswith(
        "prod approvers check: refused, prod approvers (governance.yaml environments.prod.approvers): "
        "placeholder your-org/cmc-regulatory-affairs, your-org/cmc-genai-leads"
    )


def test_deploy_refuses_the_placeholder_subscription_before_any_call(preset_project: Path):
    result = runner.invoke(app, ["deploy", "aml"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(
        "Error deployment stopped, live traffic unchanged: Azure ML workspace mlw-genai-dev: refused, "
        "Azure subscription (aiops.yaml azure.subscription_id): "
        "placeholder 00000000-0000-0000-0000-000000000000; "
        "set AZURE_SUBSCRIPTION_ID (environment or .env), or cruft update --variables-to-update"
    )


def test_deploy_with_a_real_subscription_refuses_the_placeholder_endpoint(
    preset_project: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", REAL["azure_subscription_id"])
    result = runner.invoke(app, ["deploy", "aml"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(
        "Error deployment stopped, live traffic unchanged: deploy: refused, Azure OpenAI endpoint "
        "(deployment/aml/deployment.yml AZURE_OPENAI_ENDPOINT): placeholder https://your-aoai-resource.openai"
    )


def test_registering_data_in_azure_ml_refuses_the_placeholder_subscription_and_writes_nothing(
    preset_project: Path,
):
    result = runner.invoke(app, ["register", "data", "--target", "azureml"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert "refused, Azure subscription (aiops.yaml azure.subscription_id): placeholder 00000000-" in line
    assert not (preset_project / REGISTRY).exists()


def test_a_workspace_connection_to_the_placeholder_endpoint_is_refused(
    preset_project: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", REAL["azure_subscription_id"])
    result = runner.invoke(app, ["register", "connections", "--target", "azureml"])
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert line.startswith(
        "Error connection azure_openai: refused, azure_endpoint (connections/azure_openai.yaml): "
        "placeholder https://your-aoai-resource.openai.azure.com/"
    )


def _post_gen_hook():
    spec = importlib.util.spec_from_file_location("post_gen_project", TEMPLATE / "hooks/post_gen_project.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    return hook


STAND_INS = [
    "your-org/x",
    "[your-project]\\x approvers",
    "https://your-aoai.openai.azure.com/",
    "a, Your-Team",
]
REAL_NAMES = [
    "acme/ask-your-doctor",
    "my.your-app",
    "x_your-y",
    "tell-your-story",
    "yours-truly",
    "acme/your",
]


def test_only_a_word_starting_your_is_a_placeholder_not_your_inside_a_name():
    """`(?<![a-z0-9])your-` also matched after '-', '.' or '_': `acme/ask-your-doctor` was refused."""
    hook = _post_gen_hook()
    for rule in (placeholders.is_placeholder, hook.is_placeholder):
        assert [value for value in STAND_INS + REAL_NAMES if rule(value)] == STAND_INS, rule.__module__


def test_generation_names_placeholders_by_the_same_rule_the_platform_refuses_them_by():
    """The hook cannot import the library (it runs where cookiecutter does): its copy of the rule
    gives the platform's verdict on every default and preset value, and on real ones."""
    hook = _post_gen_hook()
    options = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    presets = [
        yaml.safe_load(file.read_text(encoding="utf-8"))["default_context"]
        for file in sorted((TEMPLATE / "usecases").glob("*.yaml"))
    ]
    values = {
        item.strip()
        for answers in (options, *presets)
        for value in answers.values()
        if isinstance(value, str)
        for item in value.split(",")
    } | set(REAL.values())
    verdicts = {value: placeholders.is_placeholder(value) for value in values}
    assert {value: hook.is_placeholder(value) for value in values} == verdicts
    assert {value for value, placeholder in verdicts.items() if placeholder} == {
        placeholders.ZERO_GUID,
        "https://your-aoai-resource.openai.azure.com/",
        "your-org/cmc-genai-leads",
        "your-org/cmc-regulatory-affairs",
        "your-org/qcp-genai-leads",
        "your-org/qcp-quality-assurance",
    }
