{#- An answer's line as ruff accepts it: the one macro, in the template's templates/ folder. -#}
{%- from "python_literal.jinja" import fit -%}
{#- jsonify's escapes are Python's: its string without the outer quotes is the docstring's text. -#}
{{ fit('"""' ~ ((cookiecutter.project_name ~ ': ' ~ cookiecutter.description) | jsonify)[1:-1] ~ '"""') }}

# This use case's own Python: helper modules the team writes for its flows and evaluators (parsers,
# lookups, formatting) live in this package, installed with the project (`make install`).
# The platform (experiments, gate, report, serving, monitoring, governance, the `aiops` command) is
# not here: it is the pinned library aiops-genai-platform (docs/platform.md). Import it as
# `aiops_platform`, and your own modules as this package.
