{#- An answer's line as ruff accepts it: the one macro, in the template's templates/ folder. -#}
{%- from "python_literal.jinja" import fit -%}
"""Command line: the typer app, assembled from one module per command group under cli/.

Commands are thin: they parse options, call the module that owns the work, and print. Groups:
experiment, data, register, monitor, cache (cached model answers), pr (the evaluation summary as a
pull-request comment), template (the template's newer version as a pull request), release
(release records: what produced a run or a deployment), governance (governance.yaml: approvers applied
to the CI system and checked before a deployment, data residency); the flow's own run, serve and smoke
(flow.py); and the optional modules, generated only where the project's options include them:
index.py (rag flows) and deploy.py (Azure ML online endpoint). Each of those adds its commands
with `register(app)`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import typer
from rich.markup import escape

from {{ cookiecutter.package_name }} import paths, tracing
from {{ cookiecutter.package_name }}.cli import (  # one per line: fits any package name's length
    _common,
    cache,
    data,
    experiment,
    flow,
    monitor,
    pr,
    register,
)
from {{ cookiecutter.package_name }}.cli import governance as governance_commands
from {{ cookiecutter.package_name }}.cli import release as release_commands
from {{ cookiecutter.package_name }}.cli import template as template_commands

# Absolute, so Prompt Flow's worker processes and the server (which inherit it) trace to the same store.
os.environ.setdefault(paths.TRACE_DIR_VARIABLE, str(paths.trace_dir()))

{# escape(): the name is shown as it is, never read as Rich markup (a '[beta]' would vanish). -#}
{{ fit('app = typer.Typer(no_args_is_help=True, help=escape(' ~ ((cookiecutter.project_name ~ ' AIOps commands.') | jsonify) ~ '))') }}


@app.callback()
def _start() -> None:
    # Before every command, once: a malformed Application Insights connection string is one line here,
    # not a failure in every traced call (or, served, a 500 per request).
    try:
        tracing.check_configuration()
    except tracing.TracingConfigError as error:
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
for _optional in ("index", "deploy"):
    if importlib.util.find_spec(f"{__name__}.{_optional}") is not None:
        importlib.import_module(f"{__name__}.{_optional}").register(app)
