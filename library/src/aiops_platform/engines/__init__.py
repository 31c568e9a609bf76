"""The execution-engine seam. Every engine takes the same request and returns the same result.

`inprocess` (default) calls the flow functions directly with bounded concurrency. `promptflow`
hands the same flow folders to Prompt Flow's batch engine (`engines/promptflow.py`, on the optional
extra). `workflow` runs each line through the flow as an Agent Framework workflow
(`engines/workflow.py`, on the `agent` extra). Flows never import an engine. The request and result
types are in `engines/base.py`, so no engine imports this package's `__init__` back (no import cycle).
"""

from __future__ import annotations

from pathlib import Path

from aiops_platform.engines.base import Engine, EngineUnavailable, OnLine, RunRequest, RunResult

__all__ = ["Engine", "EngineUnavailable", "OnLine", "RunRequest", "RunResult", "get_engine"]


def get_engine(name: str, project_root: Path) -> Engine:
    """The named engine; EngineUnavailable (one line) when its optional dependency is not installed."""
    if name == "promptflow":
        from aiops_platform.engines import promptflow

        return promptflow.engine(project_root)
    if name == "workflow":
        from aiops_platform.engines import workflow

        return workflow.engine()
    from aiops_platform.engines.inprocess import InProcessEngine

    return InProcessEngine()
