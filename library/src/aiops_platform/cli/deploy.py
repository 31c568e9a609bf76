"""`deploy`: blue/green to the Azure ML online endpoint, and rollback (aml_online_endpoint projects)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aiops_platform import paths
from aiops_platform.cli._common import console, fail
from aiops_platform.terminal import line, text

if TYPE_CHECKING:  # the release records and the Azure clients load where a command uses them
    from aiops_platform import release

app = typer.Typer(no_args_is_help=True, help="Blue/green deployment to the Azure ML online endpoint.")


@app.command("aml")
def deploy_aml(
    request: Annotated[Path, typer.Option(help="Sample request")] = paths.SAMPLE_REQUEST,
    record: Annotated[
        Path | None, typer.Option("--release", help="The gated run's release.json (default: the newest)")
    ] = None,
) -> None:
    """New colour at 0%, smoke test, then all traffic; the old colour stays for rollback.

    The workspace must be in a region the use case agreed (governance.yaml). The workspace and
    endpoint are this environment's (DEPLOY_ENVIRONMENT and its variables). The
    deployment carries the gated run's release record as tags, and the record, completed with the
    environment, target and who deployed, is written to results/release-<environment>.json."""
    from aiops_platform import azure_ml, deploy, release, system_card
    from aiops_platform.governance import GovernanceError
    from aiops_platform.settings import get_settings

    settings = get_settings()
    root = paths.root()
    shipped: list[release.ReleaseRecord] = []

    def tags() -> dict[str, str]:
        shipped.append(release.gated_record(root, record))
        return release.tags(shipped[0])

    try:
        target = deploy.deploy_target(settings)
        client = azure_ml.workspace_client(settings)
        deploy.refuse_placeholders(root, target)
        region = azure_ml.workspace_region(client, then="run `make deploy` again")
        colour = deploy.deploy(client, root, request, _say, target, tags)
    except (
        deploy.DeploymentError,
        azure_ml.AzureUnavailable,
        release.ReleaseError,
        GovernanceError,
    ) as error:
        raise fail("deployment stopped, live traffic unchanged: {}", error) from error
    environment = os.environ.get("DEPLOY_ENVIRONMENT", "local")
    where = f"{target.endpoint_name or 'endpoint.yml'}/{colour}"
    deployed = release.deployment_record(shipped[0], environment, where, os.environ, region)
    written = release.write_as(deployed, root / paths.RESULTS, environment)
    console.print(line("Release record: {}", written), soft_wrap=True, highlight=False)
    console.print(line("System card: {}", system_card.write(written, root)), soft_wrap=True, highlight=False)


@app.command("rollback")
def deploy_rollback() -> None:
    """Send all traffic back to the previous colour (of this environment's endpoint)."""
    from aiops_platform import azure_ml, deploy
    from aiops_platform.settings import get_settings

    settings = get_settings()
    try:
        target = deploy.deploy_target(settings)
        colour = deploy.rollback(azure_ml.workspace_client(settings), paths.root(), target)
    except (deploy.DeploymentError, azure_ml.AzureUnavailable) as error:
        raise fail(error) from error
    console.print(line("[green]Rolled back:[/] {} takes all traffic", colour))


def _say(progress: str) -> None:
    """A deployment step: it names the endpoint and quotes the smoke test's answer, shown as typed."""
    console.print(text(progress), soft_wrap=True, highlight=False)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="deploy")
