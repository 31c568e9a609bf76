"""`register`: data assets and connections, locally (default) or in the Azure ML workspace."""

from __future__ import annotations

from pathlib import Path

import typer
from rich import box
from rich.table import Table

from aiops_platform import paths
from aiops_platform.cli._common import (
    ExperimentFile,
    RegistryTarget,
    TargetOption,
    chosen_target,
    console,
    fail,
    load,
)
from aiops_platform.terminal import line, text

app = typer.Typer(help="Register data assets and connections (local by default).")


@app.callback(invoke_without_command=True)
def register_everything(ctx: typer.Context, target: TargetOption = None) -> None:
    """With no sub-command: data assets, then connections."""
    if ctx.invoked_subcommand is None:
        register_data(target=target)
        register_connections(target=target)


@app.command("data")
def register_data(
    target: TargetOption = None, file: ExperimentFile = paths.EXPERIMENT, data_dir: Path = paths.DATA
) -> None:
    """Register each data/*.yml asset; a new version only when its content changed."""
    from aiops_platform import azure_ml, data_validation, registry

    chosen = chosen_target(target)
    try:
        specs = registry.load_specs(data_dir)
        problems = data_validation.validate_for_registration(load(file), file.parent, specs)
        if problems:
            raise fail("nothing registered; fix these first", problems=problems)
        outcomes = registry.register_all(specs, registry.target(chosen.value, paths.root(file.parent)))
    except (registry.RegistryError, azure_ml.AzureUnavailable) as error:
        raise fail(error) from error
    title = line("data assets ({})", chosen.value)
    table = Table("asset", "version", "sha256", "status", title=title, box=box.SIMPLE_HEAD)
    for outcome in outcomes:
        status = "[green]new version[/]" if outcome.created else "unchanged"
        asset = outcome.asset
        table.add_row(text(asset.name), text(asset.version), text(asset.sha256[:12]), status)
    console.print(table)


@app.command("connections")
def register_connections(target: TargetOption = None, folder: Path = paths.CONNECTIONS) -> None:
    """Create or update each connections/*.yaml in Prompt Flow's local store or the workspace."""
    from aiops_platform import azure_ml, connections
    from aiops_platform.governance import GovernanceError
    from aiops_platform.settings import get_settings

    chosen = chosen_target(target)
    try:
        specs = connections.load_specs(folder)
        note = connections.local_store_note() if chosen is RegistryTarget.local else None
        if note:  # no Prompt Flow installed: nothing to store locally, and nothing fails
            console.print(text(note), highlight=False, soft_wrap=True)
            return
        if chosen is RegistryTarget.local:
            pf_home = paths.root(folder.resolve().parent) / paths.PROMPTFLOW_HOME
            names = connections.register_local(specs, pf_home)
        else:
            connections.refuse_placeholders(specs)  # before Azure is asked anything
            client = azure_ml.workspace_client(get_settings())
            azure_ml.workspace_region(client, then=azure_ml.REGISTER_AGAIN)
            names = connections.register_azureml(specs, client)
    except (connections.ConnectionSpecError, azure_ml.AzureUnavailable, GovernanceError) as error:
        raise fail(error) from error
    console.print(line("[green]Registered connections ({}):[/] {}", chosen.value, ", ".join(names)))
