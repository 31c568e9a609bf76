"""A project's flow as a Microsoft Agent Framework workflow: issue 27's path off Prompt Flow for a team
that wants Agent Framework, with the qa, chat and rag flows as they are.

The flow stays the plain function every engine calls (`flow_entry.load_entry`); the workflow is one
executor that takes the flow's inputs (a dict) and yields its outputs (a dict) unchanged, so the same
datasets, evaluators and gate apply (`engine: workflow` in experiment.yaml, engines/workflow.py).
The trace is the flow's own span (`flow <kind>`, tracing.traced), as under the other engines, a
child of the caller's span: Agent Framework's workflow spans go to OpenTelemetry's global provider,
which the platform leaves unset (tracing.py), so they record nothing and pass the caller's span on.

Agent Framework is the optional `agent` extra, imported only when a workflow is built. No
`from __future__ import annotations` here: Agent Framework reads the executor's type hints at
build time, and `WorkflowContext` exists only inside `build`.
"""

import asyncio
import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any, Never

from aiops_platform import flow_entry

INSTALL_HINT = "make install PROMPTFLOW=0 EXTRA=agent (the `agent` extra, without Prompt Flow)"


class AgentFrameworkMissing(RuntimeError):
    """Agent Framework is not installed here; the message is one line naming the install."""


def available() -> bool:
    """Is Agent Framework installed? Finds the package without importing it."""
    return importlib.util.find_spec("agent_framework") is not None


def require(what: str) -> None:
    """One line naming what needs Agent Framework and how to install it, when it is not installed."""
    if not available():
        raise AgentFrameworkMissing(f"{what} needs the agent extra (Agent Framework): {INSTALL_HINT}")


def build(entry: Callable[..., Any], name: str | None = None) -> Any:
    """A one-executor workflow around the flow callable `entry`. Build one per run at a time: Agent
    Framework refuses a second run of a workflow instance while one is under way."""
    require("a flow as an Agent Framework workflow")
    from agent_framework import WorkflowBuilder, WorkflowContext, executor

    name = name or getattr(entry, "__name__", type(entry).__name__)

    @executor(id=name)
    async def run_flow(inputs: dict, ctx: WorkflowContext[Never, dict]) -> None:
        # A worker thread: flows are synchronous (the model client, retrieval) and may start their own loop.
        await ctx.yield_output(dict(await asyncio.to_thread(lambda: entry(**inputs))))

    return WorkflowBuilder(start_executor=run_flow, name=name).build()


def flow_workflow(flow: Path, start: Path | None = None) -> Any:
    """The project's flow (a flow folder or `file.py:Callable`, loaded as every engine loads it) as a
    workflow: `run(flow_workflow(Path("flows/qa")), {"question": ..., "context": ...})`."""
    return build(flow_entry.load_entry(flow, start))


def run(workflow: Any, inputs: dict) -> dict:
    """Run the workflow on one line of inputs from synchronous code: the flow's outputs, or the flow's
    own error. The flow's span is a child of the span current here."""
    (outputs,) = asyncio.run(workflow.run(inputs)).get_outputs()
    return dict(outputs)


def as_function(entry: Callable[..., Any]) -> Callable[..., dict]:
    """`entry` called through a fresh workflow each time: what `engine: workflow` runs for each line."""
    require("engine: workflow")

    def through_workflow(**inputs: Any) -> dict:
        return run(build(entry), inputs)

    return through_workflow
