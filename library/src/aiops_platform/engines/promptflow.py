"""Prompt Flow's batch engine (PFClient.run) behind the engine seam, for `engine: promptflow`.

Imported only by `engines.get_engine` when that engine is asked for; Prompt Flow itself is reached
through `promptflow_adapter` (its client, its isolated home), an optional extra.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiops_platform import promptflow_adapter
from aiops_platform.engines.base import EngineUnavailable, OnLine, RunRequest, RunResult
from aiops_platform.flow_entry import FLEX_SPEC, entry_file, entry_of
from aiops_platform.jsonl import read_jsonl, write_jsonl
from aiops_platform.tracing import RUN_LABELS_VARIABLE


def _clean(value: Any) -> Any:
    """pandas hands back NaN for a failed line's outputs."""
    return None if isinstance(value, float) and math.isnan(value) else value


class PromptFlowEngine:
    """Prompt Flow's batch engine (PFClient.run) behind the engine seam: same requests, same results."""

    concurrent_runs = False  # one PFClient run at a time; it has its own worker pool

    def __init__(self, home: Path) -> None:
        self._client = promptflow_adapter.client(home, "engine: promptflow")
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
    """The engine on the project's own PF home; EngineUnavailable (one line) without Prompt Flow."""
    try:
        return PromptFlowEngine(home=promptflow_adapter.home(project_root))
    except promptflow_adapter.PromptFlowMissing as error:
        raise EngineUnavailable(str(error)) from None
