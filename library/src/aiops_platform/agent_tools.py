"""An agent project's tools file (flows/agent/tools.py) read as the tools the model is offered.

Kept apart from agents.py, which loads the model client and telemetry: `aiops data validate` reads the
tool names and parameters the datasets expect through here without paying for either.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiops_platform.flow_entry import NotAPythonFile, import_file


class AgentError(ValueError):
    """A turn the agent cannot take: the history or a tool file is not what it needs (one line)."""


def tools_in(file: Path) -> list[Callable[..., Any]]:
    """The public functions defined in `file` (not imported into it), in the order they are written:
    the tools a team edits as plain Python, each offered to the model by its signature and docstring."""
    try:
        module = import_file(file, "_agent_tools_")
    except NotAPythonFile:
        raise AgentError(f"{file}: not a Python file the agent can load its tools from") from None
    functions = []
    for key, value in vars(module).items():
        written = inspect.unwrap(value) if callable(value) else None  # under @functools.cache and the like
        if key.startswith("_") or not inspect.isfunction(written) or written.__module__ != module.__name__:
            continue
        if not inspect.getdoc(value):
            raise AgentError(
                f"{file}: tool {key} has no docstring, the description the model picks tools by "
                f"(or name it _{key} if it is a helper)"
            )
        functions.append((written.__code__.co_firstlineno, value))
    if not functions:
        raise AgentError(f"{file}: defines no public function to offer the agent as a tool")
    return [function for _, function in sorted(functions, key=lambda pair: pair[0])]
