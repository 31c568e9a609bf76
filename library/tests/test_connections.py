"""Connection specs hold no secrets; registration resolves them from the environment or fails naming them."""

from pathlib import Path

import pytest
import yaml
from azure.ai.ml import load_connection
from azure.ai.ml.entities import AadCredentialConfiguration, ApiKeyConfiguration
from typer.testing import CliRunner

from aiops_platform import promptflow_adapter
from aiops_platform.cli import app
from aiops_platform.connections import (
    ConnectionSpec,
    ConnectionSpecError,
    load_specs,
    resolve,
    workspace_connection,
)

SECRET_FIELDS = ("api_key",)


def test_specs_carry_secrets_only_as_environment_references(project_root: Path):
    specs = load_specs(project_root / "connections")
    assert "azure_openai" in [spec.name for spec in specs]
    for spec in specs:
        for field in SECRET_FIELDS:
            if field in spec.fields:
                assert spec.fields[field].startswith("${env:"), (spec.spec_file, field)


def test_a_missing_variable_is_an_error_naming_it(tmp_path: Path):
    spec = ConnectionSpec("openai", "open_ai", {"api_key": "${env:OPENAI_API_KEY}"}, tmp_path / "openai.yaml")
    with pytest.raises(ConnectionSpecError, match="environment variable OPENAI_API_KEY is not set"):
        resolve(spec, environ={})
    resolved = resolve(spec, environ={"OPENAI_API_KEY": "from-environment"})
    assert resolved["api_key"] == "from-environment"  # pragma: allowlist secret


def test_every_spec_loads_with_azure_ml_s_own_loader_as_az_ml_connection_create_reads_it(project_root: Path):
    for spec in load_specs(project_root / "connections"):
        entity = load_connection(spec.spec_file)  # what `az ml connection create -f <file>` runs
        assert (entity.name, entity.type) == (spec.name, spec.type)
        if spec.type == "azure_open_ai":
            assert entity.target == spec.fields["azure_endpoint"]
            expected = ApiKeyConfiguration if "api_key" in spec.fields else AadCredentialConfiguration
            assert isinstance(entity.credentials, expected)


def test_registration_fills_secrets_from_the_environment_as_az_s_set_does(tmp_path: Path):
    spec_file = tmp_path / "keyed.yaml"
    spec_file.write_text(
        "name: keyed\ntype: azure_open_ai\nazure_endpoint: https://example.openai.azure.com/\n"
        "api_key: ${env:KEYED_TEST_KEY}\n",
        encoding="utf-8",
    )
    (spec,) = load_specs(tmp_path)
    entity = workspace_connection(spec, environ={"KEYED_TEST_KEY": "from-environment"})
    assert entity.api_key == "from-environment"  # pragma: allowlist secret
    with pytest.raises(ConnectionSpecError, match="environment variable KEYED_TEST_KEY is not set"):
        workspace_connection(spec, environ={})


def test_a_spec_azure_ml_cannot_load_is_one_line_naming_the_file_and_field(tmp_path: Path):
    typo = "name: typo\ntype: azure_open_ai\nazure_endpiont: https://example.openai.azure.com/\n"
    (tmp_path / "typo.yaml").write_text(typo, encoding="utf-8")
    (spec,) = load_specs(tmp_path)
    with pytest.raises(ConnectionSpecError) as raised:
        workspace_connection(spec, environ={})
    message = str(raised.value)
    assert "typo.yaml" in message and "azure_endpiont" in message and "\n" not in message


def test_a_spec_in_prompt_flow_s_old_format_is_refused_naming_the_fix(tmp_path: Path):
    (tmp_path / "old.yaml").write_text(
        "name: old\ntype: azure_open_ai\napi_base: https://example.openai.azure.com/\napi_type: azure\n"
        "auth_mode: meid_token\n",
        encoding="utf-8",
    )
    with pytest.raises(ConnectionSpecError, match="rename api_base to azure_endpoint; drop api_type"):
        load_specs(tmp_path)


@pytest.mark.promptflow
def test_register_puts_connections_in_prompt_flow_store(project_copy: Path, monkeypatch: pytest.MonkeyPatch):
    secret = "value-that-must-not-land-in-any-file"  # pragma: allowlist secret
    for spec in load_specs(project_copy / "connections"):
        for variable in spec.env_variables:
            monkeypatch.setenv(variable, secret)
    result = CliRunner().invoke(app, ["register", "connections", "--target", "local"])
    assert result.exit_code == 0, result.output
    names = set(promptflow_adapter.list_connections(project_copy / ".promptflow"))
    assert {spec.name for spec in load_specs(project_copy / "connections")} <= names
    azure = yaml.safe_load((project_copy / "connections/azure_openai.yaml").read_text(encoding="utf-8"))
    stored = promptflow_adapter.show_connection("azure_openai", project_copy / ".promptflow")
    assert stored["api_base"] == azure["azure_endpoint"]  # Prompt Flow's form, derived from the spec
    assert stored["auth_mode"] == ("key" if "api_key" in azure else "meid_token")
    for file in project_copy.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file


@pytest.mark.promptflow
def test_register_fails_naming_the_missing_variable(project_copy: Path, monkeypatch: pytest.MonkeyPatch):
    for spec in load_specs(project_copy / "connections"):  # the shipped ones are set; only the new one is not
        for variable in spec.env_variables:
            monkeypatch.setenv(variable, "placeholder")
    (project_copy / "connections/extra.yaml").write_text(
        "name: extra\ntype: open_ai\napi_key: ${env:EXTRA_TEST_KEY}\n", encoding="utf-8"
    )
    result = CliRunner().invoke(app, ["register", "connections", "--target", "local"])
    assert result.exit_code == 1
    assert "environment variable EXTRA_TEST_KEY is not set" in result.output


def test_without_prompt_flow_local_registration_is_one_line_and_succeeds(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    """After `make install PROMPTFLOW=0`: connections come from settings; `make register` still passes."""
    monkeypatch.setattr(promptflow_adapter, "available", lambda: False)
    for command in (["register", "connections", "--target", "local"], ["register", "--target", "local"]):
        result = CliRunner().invoke(app, command)
        assert result.exit_code == 0, result.output
        (line,) = [line for line in result.output.splitlines() if "Connections" in line]
        assert "come from settings" in line and "Entra ID, keyless" in line
        assert "make install PROMPTFLOW=1" in line
    connections_only = CliRunner().invoke(app, ["register", "connections", "--target", "local"])
    assert len(connections_only.output.strip().splitlines()) == 1
    assert not (project_copy / ".promptflow").exists()


def test_an_agent_project_s_local_registration_never_suggests_prompt_flow(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    """An agent project cannot install Prompt Flow (make install refuses PROMPTFLOW=1): the note ends
    where connections come from."""
    monkeypatch.setattr(promptflow_adapter, "available", lambda: False)
    answers = project_copy / "aiops.yaml"
    answers.write_text(answers.read_text(encoding="utf-8").replace('flow_kind: "qa"', "flow_kind: agent"))
    result = CliRunner().invoke(app, ["register", "connections", "--target", "local"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Connections come from settings (.env or the environment; Entra ID, keyless, by default), "
        "so there is nothing to register locally"
    )
