"""Prompt Flow (retired 2027-04-20) sits behind one module, `promptflow_adapter.py`: no other module
imports it, and the adapter imports it only inside functions, so the package imports without it
(`make install PROMPTFLOW=0`). Its batch engine (`engines/promptflow.py`) reaches it through the
adapter. Leaving Prompt Flow is deleting those two modules and the extra."""

from __future__ import annotations

import ast
import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiops_platform import promptflow_adapter

PACKAGE = Path(promptflow_adapter.__file__).resolve().parent
ADAPTER = "promptflow_adapter.py"
PROMPT_FLOW_ONLY = ("PFClient", "PF_HOME_DIRECTORY", "pf_version_check")  # its API, its home, its files
# Modules that name Prompt Flow's client in their text, never in code: the engine benchmark measures
# the promptflow engine (through the adapter) and says so in its docstring and output, and that
# engine says what it runs.
NAMES_IN_TEXT = {"benchmarks/engines.py", "engines/promptflow.py"}


def _imports_promptflow(node: ast.AST) -> bool:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.level == 0:
        names = [node.module or ""]
    elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
        "import_module",
        "__import__",
    ):
        names = [arg.value for arg in node.args[:1] if isinstance(arg, ast.Constant)]
    else:
        return False
    return any(name == "promptflow" or str(name).startswith("promptflow.") for name in names)


def _run_at_import(tree: ast.AST) -> list[ast.AST]:
    """Every node that runs when the module is imported: all but the bodies of functions."""
    nodes = []
    for child in ast.iter_child_nodes(tree):
        if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            nodes += [child, *_run_at_import(child)]
    return nodes


@functools.cache
def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def test_only_the_adapter_imports_promptflow():
    importers = [name for name, tree in _modules().items() if any(map(_imports_promptflow, ast.walk(tree)))]
    assert importers == [ADAPTER]


def test_the_adapter_imports_promptflow_only_inside_functions():
    at_import = [node for node in _run_at_import(_modules()[ADAPTER]) if _imports_promptflow(node)]
    assert not at_import, [f"{ADAPTER}:{node.lineno}" for node in at_import]


def test_no_other_module_uses_prompt_flow_s_client_home_or_files():
    for name, tree in _modules().items():
        if name == ADAPTER:
            continue
        names = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        strings = (
            set()
            if name in NAMES_IN_TEXT
            else {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)}
        )
        used = [word for word in PROMPT_FLOW_ONLY if word in names or any(word in str(s) for s in strings)]
        assert not used, f"{name} uses {used}: that belongs in {ADAPTER}"
    assert _modules().keys() >= NAMES_IN_TEXT  # no exemption outlives its module


@pytest.mark.slow
def test_every_module_imports_with_promptflow_unimportable():
    """As in a PROMPTFLOW=0 install, even where Prompt Flow is installed: a fresh process where
    `import promptflow` fails imports the whole package, CLI included."""
    package = PACKAGE.name
    script = (
        "import importlib, pkgutil, sys\n"
        "sys.modules['promptflow'] = None  # `import promptflow` now raises ImportError\n"
        f"import {package}\n"
        f"for module in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    if not module.name.endswith('.__main__'):  # that one runs the CLI\n"
        "        importlib.import_module(module.name)\n"
        "print(sorted(name for name in sys.modules if name.startswith('promptflow')))\n"
    )
    command = [sys.executable, "-c", script]
    env = {**os.environ, "LLM_PROVIDER": "offline"}
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "['promptflow']"  # only the blocker itself
