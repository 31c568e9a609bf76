"""`engine: workflow`: each line through the flow as a Microsoft Agent Framework workflow
(workflows.py), on the in-process engine's pool: the same requests, the same results offline.

Imported only by `engines.get_engine` when that engine is asked for; Agent Framework is the optional
`agent` extra, imported when a run starts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiops_platform import workflows
from aiops_platform.engines.base import EngineUnavailable
from aiops_platform.engines.inprocess import InProcessEngine


class WorkflowEngine(InProcessEngine):
    def line_caller(self, entry: Callable[..., Any]) -> Callable[..., Any]:
        return workflows.as_function(entry)


def engine() -> WorkflowEngine:
    """The engine; EngineUnavailable (one line) without Agent Framework."""
    try:
        workflows.require("engine: workflow")
    except workflows.AgentFrameworkMissing as error:
        raise EngineUnavailable(str(error)) from None
    return WorkflowEngine()
