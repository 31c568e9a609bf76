"""Writes docs/options.md from cookiecutter.json and its __prompts__ (a test keeps it current).

python docs/options_table.py
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OPTIONS_DOC = ROOT / "docs" / "options.md"


def _prompt(prompts: dict, key: str) -> str:
    prompt = prompts.get(key, key)
    return prompt["__prompt__"] if isinstance(prompt, dict) else prompt


def _values(prompts: dict, key: str, value: object) -> str:
    if isinstance(value, list):
        labels = prompts.get(key, {})
        return "<br>".join(f"`{choice}`: {labels.get(str(choice), choice)}" for choice in value)
    if isinstance(value, bool):
        return "`yes` / `no`"
    return "free text"


def _default(value: object) -> str:
    if isinstance(value, list):
        return f"`{value[0]}`"
    if isinstance(value, bool):
        return f"`{'yes' if value else 'no'}`"
    return f"`{value}`"


def render() -> str:
    options = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    prompts = options["__prompts__"]
    rows = [
        f"| `{key}` | {_prompt(prompts, key)} | {_default(value)} | {_values(prompts, key, value)} |"
        for key, value in options.items()
        if not key.startswith("_")
    ]
    return "\n".join(
        [
            "# Template options",
            "",
            "Generated from `cookiecutter.json` by `python docs/options_table.py`; do not edit by hand.",
            "Defaults in `{{ }}` are derived from earlier answers. Choices are only ever appended, so",
            "answers saved by older template versions still load.",
            "",
            "| option | question | default | values |",
            "|---|---|---|---|",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    OPTIONS_DOC.write_text(render(), encoding="utf-8")
