"""Every use of Prompt Flow in one module; no other module imports `promptflow`.

Prompt Flow is retired on 2027-04-20 and is an optional extra here (`make install PROMPTFLOW=0`
leaves it out). This module imports it only inside functions, so the package imports without it.
What it holds:

- the client the batch engine (`engines/promptflow.py`, `engine: promptflow`) runs on;
- the local connection store (`.promptflow/pf.sqlite`): Prompt Flow's form of each azure-ai-ml
  connection spec, created or updated; list, show;
- `pf` CLI compatibility: a project-local PF home with telemetry, version checks and the background
  service off (`isolate`, `pf_environment`), so `pf` commands read the same store.

Leaving Prompt Flow is deleting this file, `engines/promptflow.py`, the `promptflow` extra in
pyproject.toml and the tests marked `promptflow`.
"""

from __future__ import annotations

import importlib.util
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from aiops_platform import paths

INSTALL_HINT = "install it with `make install PROMPTFLOW=1` (the `promptflow` extra)"
QUIET_PF_CONFIG = "telemetry:\n  enabled: 'false'\ntrace:\n  destination: none\n"
CONNECTION_TYPES = ("azure_open_ai", "open_ai")  # azure-ai-ml connection types the local store has a form for


class PromptFlowMissing(RuntimeError):
    """Prompt Flow is not installed (the project was installed with PROMPTFLOW=0)."""


def available() -> bool:
    """Is Prompt Flow installed? Finds the package without importing it."""
    return importlib.util.find_spec("promptflow") is not None


def require(what: str) -> None:
    """One line naming what needs Prompt Flow and how to install it, when it is not installed; an agent
    project, which refuses PROMPTFLOW=1, is told what to use instead."""
    if available():
        return
    from aiops_platform import project

    try:
        agent = project.load().flow_kind == "agent"
    except project.ProjectError:  # outside a project: the general hint
        agent = False
    if agent:
        raise PromptFlowMissing(
            f"{what} needs Prompt Flow, which an agent project never has (its OpenTelemetry pins conflict "
            "with Agent Framework's): use engine: inprocess or workflow"
        )
    raise PromptFlowMissing(f"{what} needs Prompt Flow, which is not installed here: {INSTALL_HINT}")


def home(project_root: Path) -> Path:
    """The project-local PF home: runs, connections (pf.sqlite), pf.yaml."""
    return project_root / paths.PROMPTFLOW_HOME


def pf_environment(pf_home: Path) -> dict[str, str]:
    """What a `pf` command (or promptflow's Python API) needs to use `pf_home` quietly."""
    return {
        "PF_HOME_DIRECTORY": str(pf_home.resolve()),
        # Azure Monitor's control plane and statsbeat: contacted even with PF telemetry off.
        "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
        "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    }


def isolate(pf_home: Path) -> None:
    """Project-local PF home with telemetry, version checks and the background service off.

    Imports nothing from promptflow, so it may run whether or not it is installed; it must run
    before promptflow is imported, which reads PF_HOME_DIRECTORY at import time.
    """
    pf_home.mkdir(parents=True, exist_ok=True)
    (pf_home / "pf.yaml").write_text(QUIET_PF_CONFIG, encoding="utf-8")
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    (pf_home / "pf_version_check.json").write_text(json.dumps({"last_check_time": now}), encoding="utf-8")
    os.environ.update(pf_environment(pf_home))


def client(pf_home: Path, what: str = "Prompt Flow's client") -> Any:
    """PFClient on an isolated home (its import takes ~2 s); PromptFlowMissing naming `what`."""
    require(what)
    isolate(pf_home)
    from promptflow.client import PFClient

    return PFClient()


def preload(pf_home: Path) -> None:
    """Isolate and import PFClient now, e.g. to keep its import out of a benchmark's clock."""
    client(pf_home)


# --- the local connection store ---------------------------------------------------------------


def _promptflow_connection(spec: dict[str, Any]) -> Any:
    """Prompt Flow's form of a resolved azure-ai-ml spec: the same endpoint, with its key or Entra ID."""
    from promptflow.entities import AzureOpenAIConnection, OpenAIConnection

    if spec["type"] == "azure_open_ai":
        key = spec.get("api_key")
        optional = {"api_version": spec["api_version"]} if spec.get("api_version") else {}
        return AzureOpenAIConnection(
            name=spec["name"],
            api_base=spec["azure_endpoint"],
            api_key=key,
            auth_mode="key" if key else "meid_token",  # no key: Entra ID, as azure-ai-ml reads the spec
            **optional,
        )
    return OpenAIConnection(name=spec["name"], api_key=spec["api_key"])


def save_connections(connections: list[dict[str, Any]], pf_home: Path) -> list[str]:
    """Create or update each connection (a resolved azure-ai-ml spec) in the local store."""
    store = client(pf_home, "Prompt Flow's local connection store")
    for spec in connections:
        store.connections.create_or_update(_promptflow_connection(spec))
    return [spec["name"] for spec in connections]


def show_connection(name: str, pf_home: Path) -> dict[str, Any]:
    """A stored connection's fields as `pf connection show` prints them (secrets masked)."""
    store = client(pf_home, "Prompt Flow's local connection store")
    return store.connections.get(name)._to_dict()


def list_connections(pf_home: Path) -> list[str]:
    """Names of the connections in the local store."""
    store = client(pf_home, "Prompt Flow's local connection store")
    return [connection.name for connection in store.connections.list()]
