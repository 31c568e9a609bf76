"""A Jinja extension cookiecutter and cruft load from the template (`_extensions` in cookiecutter.json).

It is the only template code that runs inside the cookiecutter or cruft process, before any file
is written, so it is where an answer that breaks Jinja, or an empty folder name, gets a message
naming the field; and where a refused generation ends with the template's message rather than
cookiecutter's or cruft's traceback after it. It validates nothing else: that is the pre-generation
hook's job.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from types import TracebackType

from cookiecutter.exceptions import EmptyDirNameException, FailedHookException, UndefinedVariableInTemplate
from jinja2 import Environment, TemplateSyntaxError
from jinja2.exceptions import UndefinedError
from jinja2.ext import Extension

PROJECT_FOLDER = "{{cookiecutter.project_slug}}"


class AnswerGuard(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["aiops_folder_name"] = folder_name
        _quiet_refusals()

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        """Answers reach Jinja as nameless templates: cookiecutter renders each one. A syntax error
        there becomes the UndefinedError that cookiecutter reports with the field's name."""
        if name is not None:
            return source
        if source == PROJECT_FOLDER:
            return "{{ cookiecutter.project_slug | aiops_folder_name }}"
        if "{" in source:
            try:
                Environment().parse(source)
            except TemplateSyntaxError as error:
                syntax = "'{{', '{%' and '{#' start Jinja syntax in an answer: remove them"
                raise UndefinedError(f"{error.message.rstrip('.')}; {syntax}") from None
        return source


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
