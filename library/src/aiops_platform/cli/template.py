"""`template`: the template's newer version, merged in place or as one pull request (template_update.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aiops_platform import paths, template_update, terminal
from aiops_platform.cli._common import console

app = typer.Typer(
    no_args_is_help=True, help="Template updates: cruft's three-way merge, in place or as a pull request."
)


def _say(line: str) -> None:
    """One line of the update's report: paths, CHANGELOG text and git's words shown, never acted on."""
    console.print(terminal.markup(line), highlight=False, soft_wrap=True)


@app.command("update")
def update() -> None:
    """Merge the template's newest version into the checked-out branch (make template-update); commit
    your work first. Nothing is committed. A file the template changed that this project deleted or
    renamed is a conflict, with the change in `<file>.rej`.

    Exit 0: up to date, or merged cleanly. 1: conflicts to resolve (named). 2: the update could not be
    made (the message says why)."""
    raise typer.Exit(template_update.update_in_place(paths.root(), say=_say))


@app.command("update-pr")
def update_pr(
    base: Annotated[
        str | None,
        typer.Option(help="The branch the pull request goes into; default: the CI run's, else HEAD's"),
    ] = None,
    push: Annotated[
        bool, typer.Option("--push", help=f"Push branch {template_update.BRANCH} to origin")
    ] = False,
    open_pr: Annotated[
        bool, typer.Option("--open-pr", help="Push, then open the pull request or update the open one (CI)")
    ] = False,
) -> None:
    """When the template is ahead: merge it on branch `template-update`, write the pull request's
    description (CHANGELOG entries, files changed, conflicts) and, when asked, push and open it.

    Exit 0: up to date, or merged cleanly. 1: conflicts, committed on the branch for the pull
    request to show. 2: the update could not be made (the message says why)."""
    code = template_update.run(paths.root(), base=base, push_branch=push, open_pr=open_pr, say=_say)
    raise typer.Exit(code)


@app.command("leftovers")
def leftovers(
    files: Annotated[list[Path] | None, typer.Argument(help="Files to check; default: src/**/*.py")] = None,
) -> None:
    """Name the project's old copies of platform modules (src/<package>/) that an update to the
    platform library kept because this project had changed them (pre-commit runs it). Exit 1 if any."""
    checked = files if files is not None else sorted((paths.root() / "src").rglob("*.py"))
    found = template_update.platform_copies(checked)
    for said in found:
        _say(said)
    raise typer.Exit(1 if found else 0)
