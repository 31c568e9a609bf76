"""What every engine takes and returns: one request, one result, one line-progress callback."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

OnLine = Callable[[], None]


@dataclass(frozen=True)
class RunRequest:
    """One flow folder over one dataset; `base` makes it an evaluation of that earlier run."""

    flow_dir: Path  # a flow folder, or `file.py:Callable`
    data: Path
    column_mapping: Mapping[str, str | int | float | bool]  # ${data.x}, ${run.outputs.y}, or a literal input
    concurrency: int
    limit: int | None = None
    base: RunResult | None = None
    labels: dict[str, str] = field(default_factory=dict)  # variant and dataset, put on trace spans
    project: Path | None = None  # the experiment's folder: entries load only from its project (paths)


@dataclass
class RunResult:
    """Per-line outputs in dataset order (None for a failed line) and aggregated metrics."""

    outputs: list[dict[str, Any] | None]
    errors: list[str | None]
    metrics: dict[str, float] = field(default_factory=dict)
    handle: Any = None  # the engine's own reference to the run (a Prompt Flow run name)

    @property
    def failed(self) -> int:
        return sum(error is not None for error in self.errors)


class EngineUnavailable(RuntimeError):
    """The engine cannot run in this environment; the message is one line saying what to install."""


class Engine(Protocol):
    concurrent_runs: bool  # may independent runs be started at once?

    def run(self, request: RunRequest, on_line: OnLine) -> RunResult: ...
