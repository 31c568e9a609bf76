{#- Answers reach Python only as jsonify literals. A line the answer pushes past ruff's 110 columns, or a
    literal ruff would re-quote (it holds an escaped \"), is left to the author: # fmt: skip (and noqa: E501). #}
{%- macro fit(line) %}{{ line }}{{ '  # fmt: skip  # noqa: E501' if line | length > 110 else ('  # fmt: skip' if '\\"' in line else '') }}{% endmacro -%}
{#- jsonify's escapes are Python's: its string without the outer quotes is the docstring's text. -#}
{{ fit('"""' ~ ((cookiecutter.project_name ~ ': ' ~ cookiecutter.description) | jsonify)[1:-1] ~ '"""') }}
