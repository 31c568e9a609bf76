"""`governance`: what the use case agreed (governance.yaml), its approvers applied to the CI system and
checked before a deployment, and the data-residency check a deploy script calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table

from aiops_platform.cli._common import console, fail
from aiops_platform.terminal import line, text

if TYPE_CHECKING:  # governance.yaml's schema and the CI systems' clients load where a command uses them
    from aiops_platform import governance

app = typer.Typer(
    no_args_is_help=True, help="What the use case agreed: approvers, residency, classification."
)


def _load() -> governance.Governance:
    from aiops_platform import governance

    try:
        return governance.load()
    except governance.GovernanceError as error:
        raise fail(error) from error


def _say(said: str, planned: bool = False) -> None:
    """`said` quotes governance.yaml and the CI system's answers: shown as typed."""
    mark = "[cyan]→[/]" if planned else "[green]✓[/]"
    console.print(line(mark + " {}", said), highlight=False, soft_wrap=True)


@app.command("show")
def show() -> None:
    """Print governance.yaml: use case, owner, classification, GxP, residency, approvers."""
    from aiops_platform import approvals

    agreed = _load()
    overview = Table(box=box.SIMPLE, show_header=False)
    for label, value in (
        ("use case", agreed.use_case),
        ("owner", agreed.owner),
        ("CI", agreed.ci_provider),
        ("classification", agreed.data_classification),
        ("GxP-relevant", "yes" if agreed.gxp_relevant else "no"),
        ("residency", agreed.residency),
    ):
        overview.add_row(text(label), text(value))
    console.print(overview)
    environments = Table("environment", "CI name", "approvers", "self-review", box=box.SIMPLE_HEAD)
    for name, policy in agreed.environments.items():
        environments.add_row(
            text(name),
            text(approvals.environment_name(agreed.ci_provider, name)),
            text(", ".join(policy.approvers) or "none"),
            "prevented" if policy.prevent_self_review else "allowed",
        )
    console.print(environments)


@app.command("approvals")
def apply_approvals(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be set; read and change nothing")
    ] = False,
    repository: Annotated[
        str | None,
        typer.Option("--repository", help="GitHub owner/name; default: GITHUB_REPOSITORY, else git's origin"),
    ] = None,
) -> None:
    """Make each CI environment's approvers those in governance.yaml (idempotent).

    GitHub: required reviewers, with a repository admin's token (`GH_TOKEN=$(gh auth token)`).
    Azure DevOps: an Approval check on <slug>-<env>, with SYSTEM_ACCESSTOKEN or AZURE_DEVOPS_EXT_PAT.
    """
    from aiops_platform import approvals

    agreed = _load()
    try:
        outcomes = approvals.apply(agreed, dry_run=dry_run, repository=repository)
    except approvals.ApprovalError as error:
        raise fail(error) from error
    for outcome in outcomes:
        _say(outcome, planned=dry_run)


@app.command("verify")
def verify(
    environment: Annotated[str, typer.Option("--environment", "--env", help="dev, test or prod")],
) -> None:
    """Before a deployment: exit 1 unless the CI environment still requires the agreed approvers."""
    from aiops_platform import approvals

    agreed = _load()
    try:
        verified = approvals.verify(agreed, environment)
    except approvals.ApprovalError as error:
        raise fail(error) from error
    _say(verified)


@app.command("region")
def region(
    name: Annotated[str, typer.Argument(metavar="REGION", help="An Azure region, e.g. westeurope")],
    what: Annotated[str, typer.Option("--what", help="What sits there, for the message")],
) -> None:
    """Exit 1 when REGION is outside the regions where the use case's data may live."""
    from aiops_platform import governance

    agreed = _load()
    try:
        governance.check_region(name, what, agreed)
    except governance.ResidencyError as error:
        raise fail(error) from error
    _say(f"{what} is in {name}: allowed ({agreed.residency}, governance.yaml)")
