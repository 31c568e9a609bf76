"""Writes docs/options.md from cookiecutter.json, the pre-generation hook's rules and the front
door's questions (tools/new.py); a test keeps it current.

.venv/bin/python docs/options_table.py
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
OPTIONS_DOC = ROOT / "docs" / "options.md"


def _module(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _prompt(prompts: dict, key: str) -> str:
    prompt = prompts.get(key, key)
    return prompt["__prompt__"] if isinstance(prompt, dict) else prompt


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _rule(rules: ModuleType, prompts: dict, key: str, value: object) -> str:
    """What an answer must be: the choices, yes/no, or each check's summary as the hook words it."""
    if isinstance(value, list):
        labels = prompts.get(key, {})
        return "one of:<br>" + "<br>".join(f"`{item}`: {labels.get(str(item), item)}" for item in value)
    if isinstance(value, bool):
        return "`yes` or `no`"
    if key in rules.APPROVER_FIELDS:
        said = [f"{ci}: {rules.approvers_for(ci).summary}" for ci in rules.APPROVER_FORMS]
    else:
        said = [rule.summary for rule in rules.RULES[key] if rule.summary != "text"]
    if key in rules.BETWEEN_FIELDS:
        said.append(rules.BETWEEN_FIELDS[key])
    return "; ".join(_cell(text) for text in said)


def _example(rules: ModuleType, key: str, value: object) -> str:
    if key in rules.VALIDATED:
        return "<br>".join(
            f"`{rules.example(key, {'ci_provider': ci})}`"
            for ci in (rules.APPROVER_FORMS if key in rules.APPROVER_FIELDS else ["github"])
        )
    return f"`{[item for item in value if isinstance(item, str)][-1] if isinstance(value, list) else 'yes'}`"


def _when(new: ModuleType, key: str) -> str:
    if key in new.DAY_ONE:
        return "asked by `make new`"
    if key in new.LATER:
        file, field = new.LATER[key]
        return f"default; later `{file}` `{field}`"
    return f"default; {new.NOT_KEPT[key]}"


def _default(value: object) -> str:
    if isinstance(value, list):
        return f"`{value[0]}`"
    if isinstance(value, bool):
        return f"`{'yes' if value else 'no'}`"
    return f"`{value}`" if value != "" else "(empty)"


def render() -> str:
    rules = _module("pre_gen_project", ROOT / "hooks" / "pre_gen_project.py")
    new = _module("new_project", ROOT / "tools" / "new.py")
    options = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    prompts = options["__prompts__"]
    rows = [
        f"| `{key}` | {_cell(_prompt(prompts, key))} | {_default(value)} "
        f"| {_rule(rules, prompts, key, value)} | {_example(rules, key, value)} | {_when(new, key)} |"
        for key, value in options.items()
        if not key.startswith("_")
    ]
    return "\n".join(
        [
            "# Template options",
            "",
            "Generated from `cookiecutter.json`, the pre-generation hook's rules and `tools/new.py` by",
            "`.venv/bin/python docs/options_table.py`; do not edit by hand. Defaults in `{{ }}` are derived",
            "from earlier answers. Choices are only ever appended, so answers saved by older template",
            "versions still load.",
            "",
            f"`make new` asks the {len(new.DAY_ONE)} questions marked *asked*, each checked as it is typed;",
            "every other option keeps its default and lives in the file named, which the platform reads.",
            "Edit it there. For a file the template still owns, `cruft update --variables-to-update",
            '\'{"KEY": "value"}\'` changes the answer and every such file generated from it; the',
            "experiment files (`experiment*.yaml`) are the team's (template updates skip them), so their",
            "thresholds are changed there only. Generation checks every rule",
            "below whichever way a project is made (`make new`, `cookiecutter`, `cruft create`). With",
            "gxp_relevant yes, `make new` fills both approvers with `your-...` placeholders that every",
            "command acting on them refuses until governance.yaml names the real ones (`make doctor`).",
            "",
            "| option | question | default | rule | example | `make new` |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    OPTIONS_DOC.write_text(render(), encoding="utf-8")
