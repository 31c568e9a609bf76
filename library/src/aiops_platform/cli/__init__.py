"""Command line: the typer app, assembled from one module per command group under cli/.

Commands are thin: they parse options, call the module that owns the work, and print. Groups:
experiment, data, register, monitor, cache (cached model answers), pr (the evaluation summary as a
pull-request comment), template (the template's newer version as a pull request), release
(release records: what produced a run or a deployment), governance (governance.yaml: approvers applied
to the CI system and checked before a deployment, data residency); the flow's own run, serve and smoke
(flow.py); doctor (what is still a placeholder or missing); index.py (rag flows) and deploy.py (Azure
ML online endpoint), each adding its commands with `register(app)`.
"""

from __future__ import annotations

import os

import typer

from aiops_platform import paths
from aiops_platform.cli import (  # one per line: fits any package name's length
    _common,
    cache,
    data,
    deploy,
    doctor,
    experiment,
    flow,
    index,
    monitor,
    pr,
    register,
)
from aiops_platform.cli import governance as governance_commands
from aiops_platform.cli import release as release_commands
from aiops_platform.cli import template as template_commands

app = typer.Typer(no_args_is_help=True, help="The AIOps platform's commands, run in a use-case project.")


@app.callback()
def _start() -> None:
    # Before every command, once: a malformed Application Insights connection string is one line here,
    # not a failure in every traced call (or, served, a 500 per request).
    # In a project, its answers (aiops.yaml) likewise: one line naming the field, before any command
    # reads them, never a traceback from the first one that does.
    # Imported here, not with the app: `aiops --help` loads no schema and no OpenTelemetry.
    from aiops_platform import project, tracing

    # Absolute, so Prompt Flow's worker processes and the server (which inherit it) trace to the same store.
    os.environ.setdefault(paths.TRACE_DIR_VARIABLE, str(paths.trace_dir()))
    try:
        tracing.check_configuration()
        if (paths.root() / project.FILE).is_file():
            project.load()
    except (tracing.TracingConfigError, project.ProjectError) as error:
        raise _common.fail(error, code=2) from None


app.add_typer(experiment.app, name="experiment")
app.add_typer(data.app, name="data")
app.add_typer(register.app, name="register")
app.add_typer(monitor.app, name="monitor")
app.add_typer(pr.app, name="pr")
app.add_typer(cache.app, name="cache")
app.add_typer(template_commands.app, name="template")
app.add_typer(release_commands.app, name="release")
app.add_typer(governance_commands.app, name="governance")
app.command("run")(flow.run_once)
app.command("serve")(flow.serve_flow)
app.command("smoke")(flow.smoke)
app.command("doctor")(doctor.doctor)
index.register(app)
deploy.register(app)
