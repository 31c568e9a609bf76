"""The default engine: plain Python calls with a bounded thread pool, no per-run fixed overhead."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from {{ cookiecutter.package_name }} import tracing
from {{ cookiecutter.package_name }}.engines import OnLine, RunRequest, RunResult

_REFERENCE = re.compile(r"^\$\{(data|run\.outputs)\.([A-Za-z_][A-Za-z0-9_]*)\}$")


def entry_of(flow: Path) -> tuple[Path, str]:
    """(module file, callable name) for a flow folder (its flow.flex.yaml) or a `file.py:Callable` path."""
    file_part, _, attribute = str(flow).partition(":")
    if attribute:
        return Path(file_part), attribute
    spec = yaml.safe_load((flow / "flow.flex.yaml").read_text(encoding="utf-8"))
    module_name, _, attribute = spec["entry"].partition(":")
    return flow / f"{module_name.replace('.', '/')}.py", attribute


def load_entry(flow: Path) -> Callable[..., Any]:
    """The flow's callable; a class entry is instantiated, as Prompt Flow does."""
    module_path, attribute = entry_of(flow)
    unique_name = f"_flow_{module_path.resolve().as_posix().replace('/', '_').removesuffix('.py')}"
    module_spec = importlib.util.spec_from_file_location(unique_name, module_path)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {module_path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    entry = getattr(module, attribute)
    return entry() if inspect.isclass(entry) else entry


def entry_parameters(flow: Path) -> list[str]:
    return list(inspect.signature(load_entry(flow)).parameters)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def resolve_inputs(mapping: dict[str, str], row: dict[str, Any], outputs: dict[str, Any] | None) -> dict:
    """Apply `${data.x}` / `${run.outputs.y}` references the way Prompt Flow does."""
    inputs = {}
    for name, reference in mapping.items():
        match = _REFERENCE.match(reference)
        if match is None:
            inputs[name] = reference
        elif match[1] == "data":
            inputs[name] = row[match[2]]
        else:
            inputs[name] = (outputs or {})[match[2]]
    return inputs


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

    def run(self, request: RunRequest, on_line: OnLine) -> RunResult:
        entry = load_entry(request.flow_dir)
        rows = read_jsonl(request.data)[: request.limit]
        base_outputs = request.base.outputs if request.base else [None] * len(rows)

        def run_line(index: int) -> tuple[dict[str, Any] | None, str | None]:
            try:
                if request.base and base_outputs[index] is None:
                    raise RuntimeError("the base run failed on this line")
                inputs = resolve_inputs(request.column_mapping, rows[index], base_outputs[index])
                with tracing.run_attributes(**request.labels):
                    return dict(entry(**inputs)), None
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
