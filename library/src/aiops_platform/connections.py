"""Connection specs (`connections/*.yaml`, azure-ai-ml's connection format) and their registration.

At run time the project needs no registered connection: the model client reads settings (`.env`,
the environment), keyless with Entra ID by default. Registration copies the specs into a store for
tools that read one: the Azure ML workspace (through azure-ai-ml's own loader, the one behind `az
ml connection create -f`) or Prompt Flow's local store (its form derived in `promptflow_adapter`,
when the promptflow extra is installed). Secrets appear in the specs only as `${env:VAR}`; they are
resolved from the environment at registration time and go straight to the target store, never into
a file in the repo. An Azure OpenAI spec without `api_key` is Entra ID: no secret at all.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from aiops_platform import placeholders, project, promptflow_adapter
from aiops_platform.azure_ml import REGISTER_AGAIN, azure_errors

if TYPE_CHECKING:
    from azure.ai.ml import MLClient
    from azure.ai.ml.entities import WorkspaceConnection as Connection

_ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
# Fields of Prompt Flow's own connection YAML, which specs used before they took azure-ai-ml's format.
_PROMPT_FLOW_FIELDS = {"api_base": "azure_endpoint", "api_type": None, "auth_mode": None}


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

    @property
    def secret_fields(self) -> list[str]:
        """Fields filled from the environment: the only ones a spec may hold a secret in."""
        return sorted(key for key, value in self.fields.items() if _ENV_REFERENCE.search(str(value)))


def load_specs(folder: Path) -> list[ConnectionSpec]:
    specs = []
    for spec_file in sorted(folder.glob("*.yaml")):
        raw = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        if not isinstance(raw, dict) or "name" not in raw or "type" not in raw:
            raise ConnectionSpecError(f"{spec_file}: a connection spec needs 'name' and 'type'")
        if stale := sorted(_PROMPT_FLOW_FIELDS.keys() & raw.keys()):
            fixes = [f"rename {f} to {to}" if (to := _PROMPT_FLOW_FIELDS[f]) else f"drop {f}" for f in stale]
            raise ConnectionSpecError(
                f"{spec_file}: {', '.join(stale)} belong to Prompt Flow's connection format; specs use "
                f"azure-ai-ml's now: {'; '.join(fixes)} (no api_key means Entra ID; see CHANGELOG)"
            )
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
    note = (
        "Connections come from settings (.env or the environment; Entra ID, keyless, by default), "
        "so there is nothing to register locally"
    )
    if project.load().flow_kind == "agent":
        return note  # an agent project never has Prompt Flow
    return (
        f"{note}; Prompt Flow's local connection store needs the promptflow extra: make install PROMPTFLOW=1"
    )


def register_local(specs: list[ConnectionSpec], pf_home: Path) -> list[str]:
    """Create or update each connection in Prompt Flow's local store (idempotent)."""
    for spec in specs:
        if spec.type not in promptflow_adapter.CONNECTION_TYPES:
            known = sorted(promptflow_adapter.CONNECTION_TYPES)
            raise ConnectionSpecError(f"{spec.spec_file}: type {spec.type!r} is not one of {known}")
    resolved = [resolve(spec) for spec in specs]  # every variable checked before anything is written
    return promptflow_adapter.save_connections(resolved, pf_home)


def workspace_connection(spec: ConnectionSpec, environ: dict[str, str] | None = None) -> Connection:
    """The spec as azure-ai-ml's loader reads it, with secrets from the environment (what `--set` does)."""
    from azure.ai.ml import load_connection
    from azure.core.exceptions import AzureError
    from marshmallow import ValidationError

    secrets = {key: value for key, value in resolve(spec, environ).items() if key in spec.secret_fields}
    try:
        return load_connection(spec.spec_file, params_override=[secrets] if secrets else None)
    except (ValidationError, AzureError, ValueError) as error:
        reason = " ".join(str(error).split("The easiest way to author")[0].split())  # one line, no advert
        raise ConnectionSpecError(f"{spec.spec_file}: azure-ai-ml cannot load it: {reason}") from error


def refuse_placeholders(specs: list[ConnectionSpec]) -> None:
    """A workspace connection to a stand-in endpoint would fail every call made with it: refused."""
    for spec in specs:
        for field, value in spec.fields.items():
            if isinstance(value, str) and placeholders.is_placeholder(value):
                fix = placeholders.change_answer(
                    "azure_openai_endpoint", "https://<resource>.openai.azure.com/"
                )
                found = placeholders.Placeholder(
                    field, value, str(spec.spec_file), f"{fix} (or edit the file)"
                )
                raise ConnectionSpecError(found.refusal(f"connection {spec.name}"))


def register_azureml(specs: list[ConnectionSpec], client: MLClient) -> list[str]:
    refuse_placeholders(specs)
    entities = [workspace_connection(spec) for spec in specs]  # all loaded before anything is created
    for spec, entity in zip(specs, entities, strict=True):
        with azure_errors(f"register connection {spec.name}", then=REGISTER_AGAIN):
            client.connections.create_or_update(entity)
    return [spec.name for spec in specs]
