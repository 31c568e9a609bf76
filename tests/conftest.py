"""Shared helpers for the template tests: one place that knows the template and its options."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

TEMPLATE = Path(__file__).resolve().parents[1]
OPTIONS = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
LIBRARY = TEMPLATE / "library"
# Every baked project's `make install` (and the post-generation hook) installs the platform from this
# checkout instead of its pin: offline-capable, tests this tree's library, and writes no path into any
# generated file (the variable is read at install time only).
os.environ["AIOPS_PLATFORM"] = str(LIBRARY)
# The library's own environment (`make -C library install`; `make test` makes it first): its `aiops`
# command and cruft run a project's template update without installing the project.
LIBRARY_VENV = LIBRARY / ".venv"


# What a copy of the template leaves out: local state and caches. Named one by one: a `*cache*`
# pattern also drops template files such as tests/test_llm_cache.py.
TEMPLATE_COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "build", ".pytest_cache", ".ruff_cache", ".mypy_cache", "__pycache__"
)
LOCAL_STATE = {".git", ".aiops", ".promptflow", ".venv"}  # made by the hook or by running, never rendered
CRUFT = str(Path(sys.executable).with_name("cruft"))
# A commit identity for the scratch repositories the update tests make, whatever the machine's git config.
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
IDENTITY |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **IDENTITY}
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def files_in(project: Path) -> set[str]:
    """Every file the template rendered, relative and POSIX."""
    return {
        p.relative_to(project).as_posix()
        for p in project.rglob("*")
        if p.is_file() and not LOCAL_STATE.intersection(p.relative_to(project).parts)
    }


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, TEMPLATE / "hooks" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def bake(cookies):
    """Bake with extra answers and insist it worked, returning the project folder.

    No environment install or registration unless asked for: most tests need only the files."""

    def _bake(**answers: object) -> Path:
        answers.setdefault("register_on_generate", "none")  # registration has its own tests (test_hooks)
        result = cookies.bake(extra_context=answers)
        assert result.exception is None, result.exception
        assert result.exit_code == 0
        return Path(result.project_path)

    return _bake
