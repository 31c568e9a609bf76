"""`release`: read and compare release records (what produced a run or a deployment).

A record is outside text (a file anyone can edit, a downloaded artifact): every value from it is
printed through `terminal`, so none can move the cursor, forge a line or apply markup."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from aiops_platform import paths
from aiops_platform.cli._common import console, export_schema, fail
from aiops_platform.terminal import line, text, visible

if TYPE_CHECKING:  # the records' schema (pydantic) loads where a command reads or writes one
    from aiops_platform import release

app = typer.Typer(no_args_is_help=True, help="Release records: what produced a run or a deployment.")

RecordArgument = Annotated[Path | None, typer.Argument(help="A release.json or its results folder")]


def _load(path: Path | None) -> release.ReleaseRecord:
    from pydantic import ValidationError

    from aiops_platform import release

    chosen = path or release.latest(paths.root())
    if chosen is None:
        raise fail("no release record yet: `make gate` writes one next to its results", code=2)
    try:
        return release.read(chosen)
    except OSError as error:
        raise fail("{}: {}", chosen, error.strerror, code=2) from error
    except paths.NotAFile as error:
        raise fail("{}: {}", chosen, error, code=2) from error
    except ValidationError as error:
        problems = error.error_count()
        raise fail("{} is not a release record ({} problems)", chosen, problems, code=2) from error


@app.command("show")
def show(record: RecordArgument = None) -> None:
    """Print a record: source, model, data, files, scores and the gate verdict."""
    from aiops_platform import release

    loaded = _load(record)
    source = loaded.source
    commit = f"{source.commit or 'not in git'}{' (uncommitted changes)' if source.dirty else ''}"
    overview = Table(box=box.SIMPLE, show_header=False)
    for label, value in (
        ("kind", loaded.kind),
        ("created", loaded.created),
        ("commit", commit),
        ("template", source.template_commit or "—"),
        ("model", f"{loaded.model.provider} {loaded.model.model} ({loaded.model.endpoint})"),
    ):
        overview.add_row(text(label), text(value))
    if loaded.deployment:
        deployed = loaded.deployment
        where = f"{deployed.target} in {deployed.environment} at {deployed.deployed_at}"
        overview.add_row("deployed", text(where))
        overview.add_row("started by", text(deployed.approver or "—"))
        overview.add_row("approved by", text(release.approved_by(deployed)))
        overview.add_row("region", text(deployed.region or "—"))
    if loaded.agreed:
        agreed = loaded.agreed
        gxp = "GxP-relevant" if agreed.gxp_relevant else "not GxP-relevant"
        overview.add_row("agreed", text(f"{gxp}, {agreed.data_classification} data, {agreed.residency}"))
    if loaded.evaluation:
        gate = loaded.evaluation.gate
        verdict = ("passed" if gate.passed else "failed") + ("" if gate.enforced else " (not enforced)")
        if gate.experiment:
            overlay = f" --env {gate.overlay}" if gate.overlay else ""
            verdict += f", thresholds of {gate.experiment}{overlay}"
        overview.add_row("gate", text(verdict))
    console.print(overview)
    data = Table("dataset", "asset", "sha256", box=box.SIMPLE_HEAD)
    for item in loaded.data:
        data.add_row(text(item.dataset), text(item.asset or "unregistered"), text(item.sha256[:16]))
    console.print(data)
    files = Table("file", "sha256", box=box.SIMPLE_HEAD)
    for name, digest in loaded.files.items():
        files.add_row(text(name), text(digest[:16]))
    console.print(files)
    if loaded.evaluation:
        scores = Table("evaluator", "flow/variant", "dataset", "metrics", box=box.SIMPLE_HEAD)
        skipped: dict[str, set[str]] = {}  # evaluator -> why; no row of empty metrics for it
        for score in loaded.evaluation.scores:
            if score.skipped or not score.metrics:
                skipped.setdefault(score.evaluator, set()).add(score.skipped or "no metrics recorded")
                continue
            metrics = ", ".join(f"{name} {value:.3f}" for name, value in score.metrics.items())
            cells = (score.evaluator, f"{score.flow}/{score.variant}", score.dataset, metrics)
            scores.add_row(*map(text, cells))
        if scores.row_count:
            console.print(scores)
        for evaluator, reasons in skipped.items():
            said = line("Skipped, not passed: {}: {}", evaluator, "; ".join(sorted(reasons)))
            console.print(said, highlight=False, soft_wrap=True)
        for finding in loaded.evaluation.gate.failures:
            console.print(Text.assemble(("✗ ", "red"), visible(finding)), soft_wrap=True)


@app.command("diff")
def diff(
    before: Annotated[Path, typer.Argument(help="The older record (or results folder)")],
    after: Annotated[Path, typer.Argument(help="The newer record (or results folder)")],
) -> None:
    """What changed between two releases: files, data versions, model, commit, scores and verdict."""
    from aiops_platform import release

    changes = release.diff(_load(before), _load(after))
    for change in changes:
        console.print(text(change), soft_wrap=True)
    if not changes:
        console.print("No difference in files, data, model, source or scores")


@app.command("card")
def card(record: RecordArgument = None) -> None:
    """(Re)write the system card (system_card.md) next to a record, from it and its results.json."""
    from aiops_platform import release, system_card

    chosen = record or release.latest(paths.root())
    if chosen is None:
        raise fail("no release record yet: `make gate` writes one next to its results", code=2)
    _load(chosen)  # one line, not a traceback, for a missing or broken record
    written = system_card.write(chosen)
    console.print(text(f"System card: {written}"), soft_wrap=True)


ReleaseOption = Annotated[
    Path | None, typer.Option("--release", help="The gated run's release.json (default: the newest)")
]


def _gated(record: Path | None) -> release.ReleaseRecord:
    from aiops_platform import release

    try:
        return release.gated_record(paths.root(), record)
    except release.ReleaseError as error:
        raise fail("deployment stopped: {}", error) from error


@app.command("tags")
def tags(
    record: ReleaseOption = None,
    output: Annotated[Path | None, typer.Option(help="Write KEY=value lines here instead of stdout")] = None,
) -> None:
    """The gated record as KEY=value settings (a Web App's app settings); fails without a passed gate."""
    from aiops_platform import release

    lines = [f"AIOPS_{key.upper()}={value}" for key, value in release.tags(_gated(record)).items()]
    if output is None:
        console.out("\n".join(lines))
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text("\n".join(lines) + "\n", encoding="utf-8")


@app.command("deployed")
def deployed(
    target: Annotated[str, typer.Option(help="What was deployed to, e.g. the Web App's name")],
    record: ReleaseOption = None,
    environment: Annotated[
        str, typer.Option(envvar="DEPLOY_ENVIRONMENT", help="dev, test or prod (default: local)")
    ] = "local",
    region: Annotated[str | None, typer.Option(help="The Azure region deployed to")] = None,
) -> None:
    """Write the deployment's record (results/release-<environment>.json), after a deployment:
    what was deployed where, and this run's approvals of the environment as the CI system has them."""
    from aiops_platform import release, system_card

    if not re.fullmatch(release.ENVIRONMENT_NAME, environment):
        raise fail("environment {}: use letters, digits, - and _ (dev, test, prod)", environment, code=2)
    written = release.write_as(
        release.deployment_record(_gated(record), environment, target, os.environ, region),
        paths.root() / paths.RESULTS,
        environment,
    )
    console.print(text(f"Release record: {written}"), soft_wrap=True)
    console.print(text(f"System card: {system_card.write(written)}"), soft_wrap=True)


@app.command("schema")
def schema(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout")] = None,
    check: Annotated[bool, typer.Option(help="Fail if OUTPUT differs from the schema")] = False,
) -> None:
    """Export the JSON Schema of release records."""
    from aiops_platform import release

    export_schema(release.json_schema(), output, check)
