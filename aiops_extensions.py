"""A Jinja extension cookiecutter and cruft load from the template (`_extensions` in cookiecutter.json).

It is the only template code that runs inside the cookiecutter or cruft process, before any file
is written. So it is where:
- Jinja in an answer is refused with the field's name (cookiecutter renders every answer it did not
  prompt for as a template, so `{{ ... }}` in a config file or on the command line would run);
- an empty folder name is named;
- a refused generation ends with the template's message, not cookiecutter's or cruft's traceback;
- the post-generation hook learns whether cruft is updating (a scratch render) or creating, and a
  `cruft create` link file that differs from the hook's first commit is folded into that commit.
It validates nothing else: that is the pre-generation hook's job.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

from cookiecutter.exceptions import EmptyDirNameException, FailedHookException, UndefinedVariableInTemplate
from jinja2 import Environment
from jinja2.exceptions import UndefinedError
from jinja2.ext import Extension

PROJECT_FOLDER = "{{cookiecutter.project_slug}}"
TEMPLATE = Path(__file__).resolve().parent
RENDER_VARIABLE = "AIOPS_TEMPLATE_RENDER"  # read by hooks/post_gen_project.py
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


class AnswerGuard(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["aiops_folder_name"] = folder_name
        # Read now, for this environment: cruft renders an update's old and new template from one
        # folder in one process (checking out each commit in turn) and imports this module once.
        self.known_jinja = template_jinja()
        _quiet_refusals()
        _tell_the_hook_what_cruft_does()

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """Answers, file names and hooks reach Jinja as nameless templates. Jinja that the template
        itself does not contain came from an answer: refused as the UndefinedError that cookiecutter
        reports with the field's name, before it runs."""
        if name is not None:
            return source
        if source == PROJECT_FOLDER:
            return "{{ cookiecutter.project_slug | aiops_folder_name }}"
        leftover = _JINJA.sub(lambda tag: "" if tag[0] in self.known_jinja else tag[0], source)
        if any(marker in leftover for marker in ("{{", "{%", "{#")):
            raise UndefinedError("an answer may not contain Jinja syntax ('{{', '{%', '{#'); remove it")
        return source


def template_jinja() -> frozenset[str]:
    """Every Jinja tag the template's own nameless sources hold: defaults, file names, hooks."""
    return frozenset(tag for text in _template_texts() for tag in _JINJA.findall(text))


def _template_texts() -> Iterator[str]:
    def strings(value: object) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for key, item in value.items():
                yield key
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)

    yield from strings(json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8")))
    for hook in (TEMPLATE / "hooks").glob("*.py"):
        yield hook.read_text(encoding="utf-8")
    for path in (TEMPLATE / PROJECT_FOLDER).rglob("*"):
        yield path.name
    yield PROJECT_FOLDER


def folder_name(slug: str) -> str:
    if not str(slug).strip():
        raise EmptyDirNameException(
            "project_slug is empty: give the project's folder name, e.g. project_slug=qcp-assistant"
        )
    return slug


def _quiet_refusals() -> None:
    """The hook has already printed why generation stopped; a traceback after it only hides that."""
    hooks_logger = logging.getLogger("cookiecutter.hooks")
    if not any(isinstance(f, _NoTraceback) for f in hooks_logger.filters):
        hooks_logger.addFilter(_NoTraceback())
    if not getattr(sys.excepthook, "aiops_template", False):
        sys.excepthook = _one_line_excepthook(sys.excepthook)


class _NoTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


def _one_line_excepthook(previous: Callable[..., object]) -> Callable[..., None]:
    """For cruft, whose CLI prints a full traceback for these (cookiecutter's CLI catches them)."""

    def excepthook(kind: type[BaseException], error: BaseException, traceback: TracebackType | None) -> None:
        if isinstance(error, FailedHookException):
            print("Nothing was generated: see the message above.", file=sys.stderr)
        elif isinstance(error, UndefinedVariableInTemplate):
            print(f"{error.message}: {error.error.message}", file=sys.stderr)
        elif isinstance(error, EmptyDirNameException):
            print(error, file=sys.stderr)
        else:
            previous(kind, error, traceback)

    excepthook.aiops_template = True
    return excepthook


def _tell_the_hook_what_cruft_does() -> None:
    """The hook runs in a child process; cruft's command line says whether this render is a scratch
    copy (`update`, `diff`) or a real project (`create`). Plain cookiecutter leaves it unset."""
    if Path(sys.argv[0]).name != "cruft" or len(sys.argv) < 2:
        return
    command = sys.argv[1]
    os.environ[RENDER_VARIABLE] = "update" if command in ("update", "diff") else "generate"
    if command == "create" and not getattr(_commit_the_link_file, "registered", False):
        atexit.register(_commit_the_link_file)
        _commit_the_link_file.registered = True


def generated_marker(cruft_pid: int) -> Path:
    """Where the hook leaves the project's path for the cruft process that started it."""
    return Path(tempfile.gettempdir()) / f"aiops-template-generated-{cruft_pid}"


def _commit_the_link_file() -> None:
    """cruft writes .cruft.json after the hooks. The hook committed its own copy; when cruft's
    differs (`--checkout`, `--directory`, `--skip`), amend the hook's first commit with it."""
    marker = generated_marker(os.getpid())
    if not marker.exists():
        return
    project = Path(marker.read_text(encoding="utf-8").strip())
    marker.unlink()

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, timeout=60)

    try:
        if not git("status", "--porcelain", "--", ".cruft.json").stdout.strip():
            return
        if git("rev-list", "--count", "HEAD").stdout.strip() != "1":
            return  # not the hook's first commit: leave the user's history alone
        identity = ["-c", "user.name=AIOps template", "-c", "user.email=aiops-template@example.invalid"]
        if git("config", "user.email").stdout.strip():
            identity = []
        git("add", ".cruft.json")
        git(*identity, "commit", "-q", "--amend", "--no-edit")
    except (OSError, subprocess.TimeoutExpired) as error:
        print(
            f"Skipped: committing .cruft.json ({error}); run: git add .cruft.json && git commit",
            file=sys.stderr,
        )
