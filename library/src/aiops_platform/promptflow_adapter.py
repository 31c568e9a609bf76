"""Every use of Prompt Flow in one module; no other module imports `promptflow`.

Prompt Flow is retired on 2027-04-20 and is an optional extra here (`make install PROMPTFLOW=0`
leaves it out). This module imports it only inside functions, so the package imports without it.
What it holds:

- the batch engine behind the engine seam (`engine: promptflow`; `engines.get_engine` imports it lazily);
- the local connection store (`.promptflow/pf.sqlite`): Prompt Flow's form of each azure-ai-ml
  connection spec, created or updated; list, show;
- `pf` CLI compatibility: a project-local PF home with telemetry, version checks and the background
  service off (`isolate`, `pf_environment`), so `pf` commands read the same store.

Leaving Prompt Flow is deleting this file, the `promptflow` extra in pyproject.toml and the tests
marked `promptflow`.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from aiops_platform import paths
from aiops_platform.engines import EngineUnavailable, OnLine, RunRequest, RunResult
from aiops_platform.flow_entry import (
    FLEX_SPEC,
    entry_file,
    entry_of,
    read_jsonl,
    write_jsonl,
)
from aiops_platform.tracing import RUN_LABELS_VARIABLE

INSTALL_HINT = "install it with `make install PROMPTFLOW=1` (the `promptflow` extra)"
QUIET_PF_CONFIG = "telemetry:\n  enabled: 'false'\ntrace:\n  destination: none\n"
CONNECTION_TYPES = ("azure_open_ai", "open_ai")  # azure-ai-ml connection types the local store has a form for


class PromptFlowMissing(EngineUnavailable):
    """Prompt Flow is not installed (the project was installed with PROMPTFLOW=0)."""


def available() -> bool:
    """Is Prompt Flow installed? Finds the package without importing it."""
    return importlib.util.find_spec("promptflow") is not None


def require(what: str) -> None:
    """One line naming what needs Prompt Flow and how to install it, when it is not installed."""
    if not available():
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


def _client(pf_home: Path, what: str = "Prompt Flow's client") -> Any:
    """PFClient on an isolated home (its import takes ~2 s); PromptFlowMissing naming `what`."""
    require(what)
    isolate(pf_home)
    from promptflow.client import PFClient

    return PFClient()


def preload(pf_home: Path) -> None:
    """Isolate and import PFClient now, e.g. to keep its import out of a benchmark's clock."""
    _client(pf_home)


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
    client = _client(pf_home, "Prompt Flow's local connection store")
    for spec in connections:
        client.connections.create_or_update(_promptflow_connection(spec))
    return [spec["name"] for spec in connections]


def show_connection(name: str, pf_home: Path) -> dict[str, Any]:
    """A stored connection's fields as `pf connection show` prints them (secrets masked)."""
    client = _client(pf_home, "Prompt Flow's local connection store")
    return client.connections.get(name)._to_dict()


def list_connections(pf_home: Path) -> list[str]:
    """Names of the connections in the local store."""
    client = _client(pf_home, "Prompt Flow's local connection store")
    return [connection.name for connection in client.connections.list()]


# --- the batch engine --------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """pandas hands back NaN for a failed line's outputs."""
    return None if isinstance(value, float) and math.isnan(value) else value


class PromptFlowEngine:
    """Prompt Flow's batch engine (PFClient.run) behind the engine seam: same requests, same results."""

    concurrent_runs = False  # one PFClient run at a time; it has its own worker pool

    def __init__(self, home: Path) -> None:
        self._client = _client(home, "engine: promptflow")
        self._scratch = home / "scratch"
        self._scratch.mkdir(exist_ok=True)

    def _flow_folder(self, flow: Path, project: Path | None) -> Path:
        """Prompt Flow runs folders: a `file.py:Callable` evaluator gets a generated flow.flex.yaml.
        Either way the entry is first checked to lie in the project (entry_of), as in-process."""
        module, attribute = entry_of(flow, project)
        if entry_file(flow) == flow:
            return flow
        folder = Path(tempfile.mkdtemp(prefix="flow-", dir=self._scratch))
        shutil.copy(module, folder)
        (folder / FLEX_SPEC).write_text(f"entry: {module.stem}:{attribute}\n", encoding="utf-8")
        return folder

    def _data(self, request: RunRequest) -> Path:
        if request.limit is None:
            return request.data
        trimmed = Path(tempfile.mkstemp(suffix=".jsonl", dir=self._scratch)[1])
        write_jsonl(trimmed, read_jsonl(request.data, request.limit))
        return trimmed

    def run(self, request: RunRequest, on_line: OnLine) -> RunResult:
        os.environ["PF_WORKER_COUNT"] = str(request.concurrency)
        os.environ[RUN_LABELS_VARIABLE] = json.dumps(request.labels)  # workers inherit it; one run at a time
        try:
            run = self._client.run(
                flow=str(self._flow_folder(request.flow_dir, request.project)),
                data=str(self._data(request)),
                run=request.base.handle if request.base else None,
                column_mapping=request.column_mapping,
                stream=False,
            )
        finally:
            del os.environ[RUN_LABELS_VARIABLE]
        details = self._client.get_details(run, all_results=True).to_dict(orient="records")
        details.sort(key=lambda row: row["inputs.line_number"])
        outputs: list[dict[str, Any] | None] = []
        errors: list[str | None] = []
        for row in details:
            line = {
                key.removeprefix("outputs."): _clean(v)
                for key, v in row.items()
                if key.startswith("outputs.")
            }
            failed = not line or all(value is None for value in line.values())
            outputs.append(None if failed else line)
            errors.append("failed in Prompt Flow (see its run logs)" if failed else None)
            on_line()
        metrics = {name: float(value) for name, value in self._client.get_metrics(run).items()}
        return RunResult(outputs=outputs, errors=errors, metrics=metrics, handle=run)


def engine(project_root: Path) -> PromptFlowEngine:
    """The engine on the project's own PF home; PromptFlowMissing when Prompt Flow is not installed."""
    return PromptFlowEngine(home=home(project_root))
