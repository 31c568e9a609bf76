"""Prompt Flow's batch engine behind the engine seam; the only module that imports promptflow.

Prompt Flow is retired in April 2027: removing this file and its dependency is the whole migration.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.engines import OnLine, RunRequest, RunResult
from {{ cookiecutter.package_name }}.tracing import RUN_LABELS_VARIABLE

QUIET_PF_CONFIG = "telemetry:\n  enabled: 'false'\ntrace:\n  destination: none\n"


def isolate(home: Path) -> None:
    """Project-local PF home with telemetry, version checks and the background service off.

    Must run before promptflow is imported: it reads PF_HOME_DIRECTORY at import time.
    """
    home.mkdir(parents=True, exist_ok=True)
    (home / "pf.yaml").write_text(QUIET_PF_CONFIG, encoding="utf-8")
    now = datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")
    (home / "pf_version_check.json").write_text(json.dumps({"last_check_time": now}), encoding="utf-8")
    os.environ["PF_HOME_DIRECTORY"] = str(home.resolve())
    os.environ["APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED"] = "true"
    os.environ["APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL"] = "true"


def _clean(value: Any) -> Any:
    """pandas hands back NaN for a failed line's outputs."""
    return None if isinstance(value, float) and math.isnan(value) else value


class PromptFlowEngine:
    concurrent_runs = False  # one PFClient run at a time; it has its own worker pool

    def __init__(self, home: Path) -> None:
        isolate(home)
        from promptflow.client import PFClient

        self._client = PFClient()
        self._scratch = home / "scratch"
        self._scratch.mkdir(exist_ok=True)

    def _flow_folder(self, flow: Path) -> Path:
        """Prompt Flow runs folders: a `file.py:Callable` evaluator gets a generated flow.flex.yaml."""
        file_part, _, attribute = str(flow).partition(":")
        if not attribute:
            return flow
        folder = Path(tempfile.mkdtemp(prefix="flow-", dir=self._scratch))
        shutil.copy(file_part, folder)
        (folder / "flow.flex.yaml").write_text(
            f"entry: {Path(file_part).stem}:{attribute}\n", encoding="utf-8"
        )
        return folder

    def _data(self, request: RunRequest) -> Path:
        if request.limit is None:
            return request.data
        lines = [line for line in request.data.read_text(encoding="utf-8").splitlines() if line.strip()]
        trimmed = Path(tempfile.mkstemp(suffix=".jsonl", dir=self._scratch)[1])
        trimmed.write_text("\n".join(lines[: request.limit]) + "\n", encoding="utf-8")
        return trimmed

    def run(self, request: RunRequest, on_line: OnLine) -> RunResult:
        os.environ["PF_WORKER_COUNT"] = str(request.concurrency)
        os.environ[RUN_LABELS_VARIABLE] = json.dumps(request.labels)  # workers inherit it; one run at a time
        try:
            run = self._client.run(
                flow=str(self._flow_folder(request.flow_dir)),
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
