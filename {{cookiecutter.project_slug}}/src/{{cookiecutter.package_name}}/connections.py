"""Connection specs (`connections/*.yaml`, Prompt Flow's connection format) and their registration.

At run time the project needs no registered connection: the model client reads settings (`.env`,
the environment), keyless with Entra ID by default. Registration copies the specs into a store for
tools that read one: Prompt Flow's local store (through `promptflow_adapter`, when the promptflow
extra is installed) or the Azure ML workspace. Secrets appear in the specs only as `${env:VAR}`;
they are resolved from the environment at registration time and go straight to the target store,
never into a file in the repo. Entra ID connections carry no secret.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from {{ cookiecutter.package_name }} import promptflow_adapter
from {{ cookiecutter.package_name }}.azure_ml import REGISTER_AGAIN, azure_errors

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


class ConnectionSpecError(RuntimeError):
    """A spec cannot be registered; the message names the file and the missing variable."""


@dataclass(frozen=True)
class ConnectionSpec:
    name: str
    type: str
    fields: dict[str, Any]
    spec_file: Path

    @property
    def env_variables(self) -> list[str]:
        return sorted({m for value in self.fields.values() for m in _ENV_REFERENCE.findall(str(value))})


def load_specs(folder: Path) -> list[ConnectionSpec]:
    specs = []
    for spec_file in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or "name" not in raw or "type" not in raw:
            raise ConnectionSpecError(f"{spec_file}: a connection spec needs 'name' and 'type'")
        specs.append(ConnectionSpec(raw["name"], raw["type"], raw, spec_file))
    return specs


def resolve(spec: ConnectionSpec, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The spec with every `${env:VAR}` filled in; a missing variable is an error naming it."""
    environ = dict(os.environ) if environ is None else environ
    missing = [name for name in spec.env_variables if not environ.get(name)]
    if missing:
        raise ConnectionSpecError(
            f"{spec.spec_file}: environment variable {', '.join(missing)} is not set "
            f"(connection '{spec.name}'); set it in .env or the environment, then re-run `make register`"
        )
    return {
        key: _ENV_REFERENCE.sub(lambda m: environ[m[1]], value) if isinstance(value, str) else value
        for key, value in spec.fields.items()
        if key != "$schema"
    }


def local_store_note() -> str | None:
    """None when Prompt Flow's local store is there; else one line saying where connections come from."""
    if promptflow_adapter.available():
        return None
    return (
        "Connections come from settings (.env or the environment; Entra ID, keyless, by default), "
        "so there is nothing to register locally; Prompt Flow's local connection store needs the "
        "promptflow extra: make install PROMPTFLOW=1"
    )


def register_local(specs: list[ConnectionSpec], pf_home: Path) -> list[str]:
    """Create or update each connection in Prompt Flow's local store (idempotent)."""
    for spec in specs:
        if spec.type not in promptflow_adapter.CONNECTION_TYPES:
            known = sorted(promptflow_adapter.CONNECTION_TYPES)
            raise ConnectionSpecError(f"{spec.spec_file}: type {spec.type!r} is not one of {known}")
    resolved = [resolve(spec) for spec in specs]  # every variable checked before anything is written
    return promptflow_adapter.save_connections(resolved, pf_home)


def workspace_connection(spec: ConnectionSpec, fields: dict[str, Any]) -> object:
    """The azure-ai-ml entity for a spec; no api_key means Entra ID (keyless) on Azure OpenAI."""
    from azure.ai.ml.entities import AzureOpenAIConnection, OpenAIConnection

    if spec.type == "azure_open_ai":
        return AzureOpenAIConnection(
            name=spec.name,
            azure_endpoint=fields["api_base"],
            api_key=fields.get("api_key"),
            api_version=fields.get("api_version"),
        )
    if spec.type == "open_ai":
        return OpenAIConnection(name=spec.name, api_key=fields["api_key"])
    raise ConnectionSpecError(f"{spec.spec_file}: type {spec.type!r} has no Azure ML workspace equivalent")


def register_azureml(specs: list[ConnectionSpec], client: MLClient) -> list[str]:
    entities = [workspace_connection(spec, resolve(spec)) for spec in specs]
    for spec, entity in zip(specs, entities, strict=True):
        with azure_errors(f"register connection {spec.name}", then=REGISTER_AGAIN):
            client.connections.create_or_update(entity)
    return [spec.name for spec in specs]
