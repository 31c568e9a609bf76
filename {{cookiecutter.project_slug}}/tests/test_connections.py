"""Connection specs hold no secrets; registration resolves them from the environment or fails naming them."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }} import promptflow_adapter
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.connections import (
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


def test_every_spec_maps_to_an_azure_ml_workspace_connection(project_root: Path):
    for spec in load_specs(project_root / "connections"):
        fields = resolve(spec, environ={name: "placeholder" for name in spec.env_variables})
        entity = workspace_connection(spec, fields)
        assert entity.name == spec.name


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
    for file in project_copy.rglob("*"):
        if file.is_file():
            assert secret.encode() not in file.read_bytes(), file


@pytest.mark.promptflow
def test_register_fails_naming_the_missing_variable(project_copy: Path):
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
