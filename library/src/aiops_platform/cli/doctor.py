"""`doctor`: what is still a placeholder or missing, what each blocks, and the fix (doctor.py)."""

from __future__ import annotations

import typer

from aiops_platform import doctor as checks
from aiops_platform import paths
from aiops_platform.cli._common import console
from aiops_platform.terminal import line, text


def doctor() -> None:
    """What is still a placeholder or missing, what each blocks, and the fix; offline, nothing sent.

    Exit 0 when nothing blocks the offline loop (install, experiment, gate); what blocks Azure,
    the CI system or online runs is listed either way."""
    findings = checks.diagnose(paths.root())
    for finding in findings:
        mark = "[red]✗[/]" if finding.blocks_offline else "[yellow]![/]"
        console.print(line(mark + " {}", finding.said), highlight=False, soft_wrap=True)
        console.print(text(f"    blocks: {finding.blocked}"), highlight=False, soft_wrap=True)
        console.print(text(f"    fix: {finding.fix}"), highlight=False, soft_wrap=True)
    offline = [finding for finding in findings if finding.blocks_offline]
    beyond = len(findings) - len(offline)
    if offline:
        console.print(
            line("[red]The offline loop is blocked[/] by {} of these: fix them first.", len(offline))
        )
    elif beyond:
        said = (
            "[green]The offline loop is ready.[/] [yellow]{} value(s) above still block Azure, CI or "
            "online runs.[/]"
        )
        console.print(line(said, beyond))
    else:
        console.print("[green]Nothing is a placeholder or missing.[/]")
    raise typer.Exit(1 if offline else 0)
