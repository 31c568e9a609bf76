"""The package's shape: each concept has one home, and the CLI keeps every command name.

The source-scanning tests guard the review's findings: `${...}` references, JSON Lines, the project
root, the judge names, the mean over lines and the problem shape are each defined in one module.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer

from aiops_platform import evaluation, paths
from aiops_platform.cli import app
from aiops_platform.flow_entry import (
    JsonLinesError,
    Reference,
    data_columns,
    lines,
    parse_reference,
    read_jsonl,
    resolve_inputs,
)

PROJECT = paths.root(Path(__file__).parent)
PACKAGE = PROJECT / "src" / {{ cookiecutter.package_name | jsonify }}


def _sources(*roots: Path) -> dict[str, str]:
    """Relative path -> text of every Python file under the package (and any other `roots`)."""
    files = [file for root in (PACKAGE, *roots) for file in sorted(root.rglob("*.py"))]
    return {file.relative_to(PROJECT).as_posix(): file.read_text(encoding="utf-8") for file in files}


def _holders(pattern: str, *roots: Path) -> set[str]:
    """The package files (and `roots`' files) in which `pattern` matches, as names relative to the package."""
    found = re.compile(pattern)
    return {
        name.removeprefix(f"{PACKAGE.relative_to(PROJECT).as_posix()}/")
        for name, text in _sources(*roots).items()
        if found.search(text)
    }


def test_only_flow_entry_parses_input_references():
    # A regex that matches `${` is written `\$\{`; connections.py's is `${env:VAR}` in connection
    # specs (resolved at registration), not a flow input reference.
    assert _holders(r"\\\$\\\{") <= {"flow_entry.py", "connections.py"}
    assert _holders(r"\\\$\\\{\(?(data|run)") == {"flow_entry.py"}
    assert _holders(r'"\$\{(data|run)') == set()  # built with flow_entry.data_reference/output_reference


def test_only_flow_entry_reads_json_lines():
    assert _holders(r"json\.loads\((line|text)\b", PROJECT / "benchmarks") == {"flow_entry.py"}


def test_only_paths_knows_the_root_and_the_state_folders():
    roots = (r"parents\[", r"Path\.cwd\(\)", r'Path\("\."\)')  # ways to find the project root
    for pattern in (*roots, r'"\.aiops"', r'"\.promptflow"', r'"data/docs"'):
        assert _holders(pattern) <= {"paths.py"}, pattern


def test_judges_mean_and_problem_are_each_defined_once():
    flows = PROJECT / "flows"
    assert _holders(r'"(groundedness|relevance|coherence|fluency|similarity)"', flows) == {"evaluation.py"}
    assert _holders(r"\bfmean\(|/ len\(scored\)", flows) == {"evaluation.py"}
    assert _holders(r"(?m)^class \w*Problem\b") == {"problems.py"}


def test_json_lines_are_read_with_line_numbers(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": 1}\n\n{"id": 2\n{"id": 3}\n', encoding="utf-8")
    assert [(line.number, line.value, line.error is None) for line in lines(data)] == [
        (1, {"id": 1}, True),
        (3, None, False),
        (4, {"id": 3}, True),
    ]
    assert read_jsonl(data, limit=1) == [{"id": 1}]
    with pytest.raises(JsonLinesError, match=rf"{re.escape(str(data))}:3: not valid JSON"):
        read_jsonl(data)


def test_references_mean_what_prompt_flow_means():
    assert parse_reference("${data.question}") == Reference("data", "question")
    assert parse_reference("${run.outputs.answer}") == Reference("run.outputs", "answer")
    assert parse_reference("qa_concise.jinja2") is None  # a literal input (a variant's prompt)
    assert str(Reference("run.outputs", "answer")) == "${run.outputs.answer}"
    mapping = {"question": "${data.question}", "answer": "${run.outputs.answer}", "prompt": "p.jinja2"}
    assert data_columns(mapping) == {"question"}
    row, outputs = {"question": "Q?"}, {"answer": "A."}
    assert resolve_inputs(mapping, row, outputs) == {"question": "Q?", "answer": "A.", "prompt": "p.jinja2"}


def test_the_root_is_found_from_any_folder_of_the_project(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    assert (PROJECT / paths.EXPERIMENT).is_file()
    monkeypatch.chdir(PROJECT / paths.FLOW)
    assert paths.root() == PROJECT
    monkeypatch.chdir(tmp_path)  # no experiment.yaml above: the folder itself
    assert paths.root() == tmp_path.resolve()


def test_online_judges_are_those_that_need_no_ground_truth():
    assert "similarity" in evaluation.JUDGES and "similarity" not in evaluation.ONLINE_JUDGES
    assert evaluation.mean_over_lines([{"a": 1, "b": "x"}, None, {"a": 3}]) == {"a": 2.0}


COMMANDS = {
    "experiment": {"validate", "schema", "run", "azureml", "gate"},
    "data": {"validate", "list"},
    "register": {"data", "connections"},
    "monitor": {"summary", "sample", "evaluate", "query", "alert-params"},
    "pr": {"comment"},
    "cache": {"stats", "prune", "clear"},
    "release": {"show", "diff", "card", "schema", "tags", "deployed"},
    "template": {"update", "update-pr"},
    "governance": {"show", "approvals", "verify", "region"},
    "run": None,
    "serve": None,
    "smoke": None,
{%- if cookiecutter.flow_kind == 'rag' %}
    "index": None,
{%- endif %}
{%- if cookiecutter.deployment_target == 'aml_online_endpoint' %}
    "deploy": {"aml", "rollback"},
{%- endif %}
}


def test_every_command_keeps_its_name():
    """The Makefile, pipelines, docs and tests call these: the cli/ package keeps them all."""
    root = typer.main.get_command(app)
    assert set(root.commands) == set(COMMANDS)
    for name, subcommands in COMMANDS.items():
        if subcommands is not None:
            assert set(root.commands[name].commands) == subcommands, name
