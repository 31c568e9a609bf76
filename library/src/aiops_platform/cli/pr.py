"""`pr`: the evaluation summary on the pull request, as one comment the pipeline keeps current."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from aiops_platform.cli._common import console
from aiops_platform.terminal import line

app = typer.Typer(no_args_is_help=True, help="Pull-request feedback: the evaluation summary as one comment.")


class GateResult(StrEnum):
    passed = "passed"
    failed = "failed"


@app.command("comment")
def comment(
    summary: Annotated[
        Path | None, typer.Argument(help="The summary.md to post; default: the newest results/*/summary.md")
    ] = None,
    gate_result: Annotated[
        GateResult | None,
        typer.Option("--gate-result", help="The gate's verdict; default: results.json next to the summary"),
    ] = None,
) -> None:
    """Post the summary on this CI run's pull request, or edit the comment posted before.

    GitHub Actions (GITHUB_TOKEN, `pull-requests: write`) or Azure Pipelines (SYSTEM_ACCESSTOKEN; the
    thread is active while the gate fails, closed once it passes). Informational: exits 0 and says
    why in one line when there is no pull request, no token, or the API refuses.
    """
    from aiops_platform import pr_comment  # the HTTP client: for this command only

    passed = None if gate_result is None else gate_result is GateResult.passed
    outcome = pr_comment.comment(summary, passed)
    said = line("[green]✓[/] {}" if outcome.posted else "[yellow]![/] {}", outcome.message)
    console.print(said, highlight=False, soft_wrap=True)
