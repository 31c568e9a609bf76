{#- An answer's line as ruff accepts it: the one macro, in the template's templates/ folder. -#}
{%- from "python_literal.jinja" import fit -%}
{#- jsonify's escapes are Python's: its string without the outer quotes is the docstring's text. -#}
{{ fit('"""' ~ ((cookiecutter.project_name ~ ': ' ~ cookiecutter.description) | jsonify)[1:-1] ~ '"""') }}
