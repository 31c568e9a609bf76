"""The default engine: plain Python calls with a bounded thread pool, no per-run fixed overhead."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aiops_platform import tracing
from aiops_platform.engines.base import OnLine, RunRequest, RunResult
from aiops_platform.flow_entry import load_entry, resolve_inputs
from aiops_platform.jsonl import read_jsonl


class InProcessEngine:
    """Lines of every run share one pool of `concurrency` workers, so runs started together (the
    runner starts independent runs at once) fill each other's tails instead of waiting them out."""

    concurrent_runs = True

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _lines_pool(self, workers: int) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="line")
            return self._pool

    def line_caller(self, entry: Callable[..., Any]) -> Callable[..., Any]:
        """How each line calls the flow: directly here; through a workflow in engines/workflow.py."""
        return entry

    def run(self, request: RunRequest, on_line: OnLine) -> RunResult:
        entry = load_entry(request.flow_dir, request.project)
        call = self.line_caller(entry)
        rows = read_jsonl(request.data, request.limit)
        base_outputs = request.base.outputs if request.base else [None] * len(rows)

        def run_line(index: int) -> tuple[dict[str, Any] | None, str | None]:
            try:
                if request.base and base_outputs[index] is None:
                    raise RuntimeError("the base run failed on this line")
                inputs = resolve_inputs(request.column_mapping, rows[index], base_outputs[index])
                with tracing.run_attributes(**request.labels):
                    return dict(call(**inputs)), None
            except Exception as error:  # noqa: BLE001 - one bad line must not stop the run
                return None, f"{type(error).__name__}: {error}"
            finally:
                on_line()

        results = list(self._lines_pool(request.concurrency).map(run_line, range(len(rows))))
        outputs = [output for output, _ in results]
        metrics = {}
        aggregate = getattr(entry, "__aggregate__", None)
        succeeded = [output for output in outputs if output is not None]
        if aggregate is not None and succeeded:
            metrics = dict(aggregate(succeeded))
        return RunResult(outputs=outputs, errors=[error for _, error in results], metrics=metrics)
