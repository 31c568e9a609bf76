"""The flow itself: `run` it once, `serve` it over HTTP, `smoke`-test a served flow."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from aiops_platform import paths
from aiops_platform.cli._common import console, fail
from aiops_platform.terminal import json_text, line

FlowOption = Annotated[Path | None, typer.Option(help="Flow folder (default: the one aiops.yaml names)")]


def _input_value(value: str) -> object:
    """A JSON list or object (e.g. chat_history) as such; anything else as the string given."""
    if value.lstrip().startswith(("[", "{")):
        try:
            return json.loads(value)
        except json.JSONDecodeError as error:
            raise fail("--input value is not valid JSON: {}", error, code=2) from error
    return value


def run_once(
    inputs: Annotated[
        list[str],
        typer.Option("--input", "-i", help="name=value, repeatable; JSON lists and objects are parsed"),
    ],
    flow: FlowOption = None,
    workflow: Annotated[
        bool, typer.Option(help="Run it as a Microsoft Agent Framework workflow (the agent extra)")
    ] = False,
) -> None:
    """Run the flow once on one input and print its output as JSON."""
    from aiops_platform import project, workflows
    from aiops_platform.agent_tools import AgentError
    from aiops_platform.flow_entry import load_entry
    from aiops_platform.llm import ConfigError, ModelCallError  # the model client: when a flow runs

    pairs = [item.partition("=") for item in inputs]
    if any(not separator for _, separator, _ in pairs):
        raise fail("each --input must be name=value", code=2)
    values = {name: _input_value(value) for name, _, value in pairs}
    try:
        entry = load_entry(flow or project.load().flow)
        _check_inputs(entry, values)
        output = (workflows.as_function(entry) if workflow else entry)(**values)
    except (ConfigError, ModelCallError, project.ProjectError, workflows.AgentFrameworkMissing) as error:
        raise fail(error) from error
    except AgentError as error:  # an agent's chat_history it cannot take, a tools.py it cannot offer
        raise fail(error) from error
    console.out(json_text(output), highlight=False)


def _check_inputs(entry: Callable[..., Any], values: dict[str, object]) -> None:
    """A missing or unknown input in one line naming the flow's inputs, not the call's traceback."""
    signature = inspect.signature(entry)
    try:
        signature.bind(**values)
    except TypeError as error:
        raise fail(
            "--input: {}; the flow takes {}", error, ", ".join(signature.parameters), code=2
        ) from error


def serve_flow(flow: FlowOption = None, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Serve the flow over HTTP (uvicorn): POST /score, GET /health, GET /ready."""
    from aiops_platform import project, server  # the web stack loads only for this command

    try:
        folder = flow or project.load().flow
    except project.ProjectError as error:
        raise fail(error, code=2) from None
    server.serve(folder, host, port)


def smoke(
    url: Annotated[str, typer.Argument(help="Base URL, e.g. http://127.0.0.1:8080 or the endpoint's")],
    request: Annotated[Path, typer.Option(help="Sample request")] = paths.SAMPLE_REQUEST,
    timeout: Annotated[float, typer.Option(help="Seconds before giving up")] = 30.0,
    entra: Annotated[bool, typer.Option(help="Send an Entra ID token (aad_token endpoints)")] = False,
) -> None:
    """POST the sample request to URL/score and fail unless a non-empty answer comes back."""
    from aiops_platform import serving

    try:
        answer = serving.smoke_test(url, request, timeout, serving.entra_headers() if entra else {})
    except serving.SmokeTestFailed as error:
        raise fail("smoke test failed: {}", error) from error
    console.print(line("[green]Smoke test passed[/]: {}", answer), highlight=False, soft_wrap=True)
