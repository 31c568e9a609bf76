"""Text from outside (datasets, experiment files, evaluators' answers, traces, governance.yaml, run
notes) reaches a terminal and Markdown only as typed: one policy, terminal.py, for every command.

Nothing in it clears the screen, moves the cursor, forges a line, applies Rich markup, leaves its
table cell, links or embeds. The hunt runs the commands on hostile values; the architecture test
holds every command module to printing through `terminal`."""

from __future__ import annotations

import ast
import itertools
import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aiops_platform import system_card, terminal
from aiops_platform.cli import app

runner = CliRunner()
# A clear screen, a C1 escape (CSI), a right-to-left override, carriage return and line break that
# forge a line of the tool's own, Rich markup, a Markdown cell break, code span, HTML and an image.
HOSTILE = (
    "x\x1b[2J\x9b31m\u202e\rForged\nForged: gate passed [red]red[/red] | cell `tick` "
    "<img src=x onerror=alert(1)> ![i](http://example.invalid/p.png)"
)
ACTING = ("\x1b", "\r", "\x9b", "\u202e")


def _shown_as_typed(output: str) -> None:
    assert [character for character in ACTING if character in output] == []
    assert not [line for line in output.splitlines() if line.lstrip().startswith("Forged")], output


def _cells(row: str) -> int:
    """Cells of a Markdown table row: `|` ends a cell unless escaped (`\\|`; `\\\\` is a backslash)."""
    return re.findall(r"\\.|\|", row.strip()).count("|") - 1


def _markdown_holds(text: str) -> None:
    """Every table keeps its column count, and nothing from a value is HTML, a link or an image."""
    _shown_as_typed(text)
    lines = text.splitlines()
    tables = [number for number, line in enumerate(lines) if re.fullmatch(r"\|(-+:?\|)+", line)]
    assert tables
    for number in tables:
        header = _cells(lines[number - 1])
        for row in itertools.takewhile(lambda line: line.startswith("|"), lines[number + 1 :]):
            assert _cells(row) == header, (lines[number - 1], row)
    assert not re.search(r"(?<!\\)<img", text) and "![i]" not in text, text


def test_line_fills_the_commands_words_with_values_shown_as_typed():
    said = terminal.line("[green]OK[/] {} of {:.1f}", "[red]x[/red]\x1b[2J\n", 2.25)
    assert said == "[green]OK[/] \\[red]x\\[/red]\\x1b[2J\\n of 2.2"
    assert terminal.markdown_inline("a|b\n<i>`c`\\|") == "a\\|b\\\\n\\<i\\>\\`c\\`\\\\\\|"
    assert terminal.markdown_inline("``a|b", code=True) == "``` ``a\\|b ```"
    assert json.loads(terminal.json_text({"a": "\x9b\u202e\x1b"})) == {"a": "\x9b\u202e\x1b"}
    assert not any(character in terminal.json_text({"a": HOSTILE}) for character in ACTING)


def _hostile_run(project: Path) -> Path:
    """small_project with HOSTILE in a dataset line and the run's note, a flow that fails every line
    with it, and an evaluator whose metric is named with it."""
    data = project / "data" / "core_qa.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    rows[0] |= {"id": HOSTILE, "question": HOSTILE, "ground_truth": HOSTILE}
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    broken = project / "flows" / "broken"
    broken.mkdir(parents=True)
    (broken / "flow.flex.yaml").write_text('entry: "flow:answer"\n', encoding="utf-8")
    (broken / "flow.py").write_text(f"def answer(question):\n    raise ValueError({HOSTILE!r})\n", "utf-8")
    (project / "odd.py").write_text("def odd(answer):\n    return {" + repr(HOSTILE) + ": 1.0}\n", "utf-8")
    experiment = yaml.safe_load((project / "experiment.yaml").read_text(encoding="utf-8"))
    experiment["flows"].append(
        {"name": "broken", "path": "flows/broken", "column_mapping": {"question": "${data.question}"}}
    )
    experiment["evaluators"].append({"name": "odd", "path": "odd.py:odd"})
    (project / "experiment.yaml").write_text(yaml.safe_dump(experiment), encoding="utf-8")
    return project / "experiment.yaml"


def test_a_run_on_hostile_data_prints_and_writes_every_value_as_typed(small_project: Path):
    file = _hostile_run(small_project)
    output = small_project / "results"
    result = runner.invoke(
        app, ["experiment", "run", "-f", str(file), "--output", str(output), "--note", HOSTILE]
    )
    assert result.exit_code == 1, result.output  # the broken flow failed every line
    _shown_as_typed(result.output)
    assert "Forged: gate passed [red]red[/red]" in result.output  # the note and the failure: as typed
    assert "broken/default on core_qa: 3 of 3 lines failed" in result.output.replace("\n", "")
    (folder,) = output.iterdir()
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    _markdown_holds(summary)
    assert "## odd" in summary and "\\|" in summary  # the hostile metric is a column, escaped
    _markdown_holds((folder / system_card.CARD).read_text(encoding="utf-8"))
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert "<img" not in page and "&lt;img src=x" in page  # autoescape
    shown = runner.invoke(app, ["release", "show", str(folder / "release.json")])
    _shown_as_typed(shown.output)


def test_validate_quotes_a_hostile_key_and_dataset_value_in_one_line_each(small_project: Path):
    data = small_project / "data" / "core_qa.jsonl"
    first = json.loads(data.read_text(encoding="utf-8").splitlines()[0])
    data.write_text("".join(json.dumps(first | {"id": HOSTILE}) + "\n" for _ in range(2)), "utf-8")
    validated = runner.invoke(app, ["experiment", "validate", "-f", str(small_project / "experiment.yaml")])
    assert validated.exit_code == 2
    _shown_as_typed(validated.output)
    assert "duplicate 'id'" in validated.output and "[red]red[/red]" in validated.output

    experiment = yaml.safe_load((small_project / "experiment.yaml").read_text(encoding="utf-8"))
    experiment["flows"][0][HOSTILE] = 1  # an unknown key: the problem names it
    (small_project / "experiment.yaml").write_text(yaml.safe_dump(experiment), encoding="utf-8")
    invalid = runner.invoke(app, ["experiment", "validate", "-f", str(small_project / "experiment.yaml")])
    assert invalid.exit_code == 2 and invalid.output.startswith("Error invalid experiment")
    _shown_as_typed(invalid.output)
    assert "Extra inputs are not permitted" in invalid.output and "[red]red[/red]" in invalid.output


def test_monitor_summary_shows_a_hostile_trace_as_typed(tmp_path: Path, project_root: Path):
    span = {
        "trace_id": "t1",
        "span_id": "s1",
        "parent_id": None,
        "name": HOSTILE,
        "start_ns": 0,
        "end_ns": 5_000_000,
        "status": "UNSET",
        "attributes": {"aiops.flow": HOSTILE, "aiops.variant": "[red]v[/red]"},
    }
    spans = tmp_path / "spans-1.jsonl"
    spans.write_text(json.dumps(span) + "\n", encoding="utf-8")
    config = project_root / "monitoring" / "config.yaml"
    result = runner.invoke(app, ["monitor", "summary", str(spans), "--config", str(config)])
    assert result.exit_code == 0, result.output
    _shown_as_typed(result.output)
    assert "[red]v[/red]" in result.output  # markup in a cell: shown, not applied


def test_governance_names_and_errors_are_shown_as_typed(
    tmp_path: Path, project_root: Path, monkeypatch: pytest.MonkeyPatch
):
    shipped = yaml.safe_load((project_root / "governance.yaml").read_text(encoding="utf-8"))
    hostile = {
        **shipped,
        "owner": HOSTILE,
        "data_residency": ["westeurope"],
        "environments": {HOSTILE: {"approvers": [HOSTILE, "[red]lead[/red]"]}},
    }
    (tmp_path / "governance.yaml").write_text(yaml.safe_dump(hostile), encoding="utf-8")
    (tmp_path / "experiment.yaml").write_text("name: x\n", encoding="utf-8")  # marks the project root
    monkeypatch.chdir(tmp_path)
    shown = runner.invoke(app, ["governance", "show"])
    assert shown.exit_code == 0, shown.output
    _shown_as_typed(shown.output)
    assert "[red]lead[/red]" in shown.output
    refused = runner.invoke(app, ["governance", "region", "eastus", "--what", HOSTILE])
    assert refused.exit_code == 1 and refused.output.startswith("Error ")
    _shown_as_typed(refused.output)
    assert len(refused.output.strip().splitlines()) == 1  # one line, whatever the value held


# --- every command module prints through terminal ------------------------------------------------

PACKAGE = Path(terminal.__file__).parent
CHECKED = [*sorted((PACKAGE / "cli").glob("*.py")), PACKAGE / "report.py"]  # report: the terminal tables
TEXT_SINKS = {"print", "out", "log", "echo", "add_row", "add_column", "add_task", "Table"}
TEXT_KEYWORDS = {"title", "caption", "description", "header"}  # read as markup by Rich
# Printed as they are, each for a reason stated here (the check cannot see it).
EXEMPT = {
    ("_common.py", "fail"): "fail itself: its callers' words and values are checked where they call it",
    ("_common.py", "export_schema"): "the JSON Schema the package itself generates",
    ("release.py", "tags"): "release.tags makes every value visible (one KEY=value line each)",
    ("monitor.py", "monitor_query"): "the package's own KQL constant",
}


class _Printing(ast.NodeVisitor):
    """Calls that print, and what they are given: the command's literal words, calls of terminal's
    functions, tables and Text built from those, or names assigned one of these in the function."""

    def __init__(self, file: Path, tree: ast.Module) -> None:
        self.file, self.found = file, []
        self.terminal = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith(".terminal")
            for alias in node.names
        }
        self.function: ast.FunctionDef | None = None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        outer, self.function = self.function, node
        self.generic_visit(node)
        self.function = outer

    def _assigned(self, name: str) -> list[ast.expr] | None:
        """Every value `name` is assigned in the enclosing function; None when it is bound otherwise
        (a parameter, a loop variable) and so can hold anything."""
        scope = self.function
        if scope is None or name in {a.arg for a in scope.args.args + scope.args.kwonlyargs}:
            return None
        values = []
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                values.append(node.value)
            elif isinstance(node, ast.For | ast.comprehension) and name in {
                n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)
            }:
                return None
        return values or None

    def _is_terminal_call(self, node: ast.expr) -> bool:
        function = node.func if isinstance(node, ast.Call) else None
        return (isinstance(function, ast.Name) and function.id in self.terminal) or (
            isinstance(function, ast.Attribute)
            and isinstance(function.value, ast.Name)
            and function.value.id == "terminal"
        )

    def template(self, node: ast.expr, exception_names: set[str]) -> bool:
        """The command's own words: a literal (or literals joined), or an exception alone (`fail(error)`)."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return True
        if isinstance(node, ast.IfExp):
            return self.template(node.body, exception_names) and self.template(node.orelse, exception_names)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self.template(node.left, set()) and self.template(node.right, set())
        if isinstance(node, ast.Name):
            if node.id in exception_names:
                return True
            values = self._assigned(node.id)
            return values is not None and all(self.template(value, set()) for value in values)
        return False

    def printable(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Constant):
            return True
        if self._is_terminal_call(node):
            return True
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Table":
            return True  # its own arguments are checked where it is called
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "Text.assemble":
            return all(self.printable(argument) for argument in node.args)
        if isinstance(node, ast.Tuple):
            return all(self.printable(element) for element in node.elts)
        if isinstance(node, ast.IfExp):
            return self.printable(node.body) and self.printable(node.orelse)
        if isinstance(node, ast.Starred):
            value = node.value
            if isinstance(value, ast.Call) and ast.unparse(value.func) == "report.metrics_tables":
                return True  # report.py is checked too: its tables hold terminal text only
            if isinstance(value, ast.Call) and ast.unparse(value.func) == "map":
                return isinstance(value.args[0], ast.Name) and value.args[0].id in self.terminal
            if isinstance(value, ast.GeneratorExp | ast.ListComp):
                return self.printable(value.elt)
            return self.printable(value)
        if isinstance(node, ast.Name):
            values = self._assigned(node.id)
            return values is not None and all(self.printable(value) for value in values)
        return False

    def _exception_names(self) -> set[str]:
        scope = self.function or ast.Module(body=[], type_ignores=[])
        return {node.name for node in ast.walk(scope) if isinstance(node, ast.ExceptHandler) and node.name}

    def _report(self, node: ast.AST, what: str) -> None:
        function = self.function.name if self.function else "<module>"
        if (self.file.name, function) not in EXEMPT:
            where = f"{self.file.name}:{node.lineno} ({function})"
            self.found.append(f"{where}: {what}: {ast.unparse(node)[:90]}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if ast.unparse(node) == "console.print" and not getattr(node, "called", False):
            self._report(node, "console.print handed on: the callee's text is not checked")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        node.func.called = True  # type: ignore[attr-defined]
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "fail" or (self._is_terminal_call(node) and name in ("line", "markup_line")):
            template = node.args[0] if node.args else None
            exceptions = self._exception_names() if name == "fail" else set()
            if template is not None and not self.template(template, exceptions):
                self._report(node, "its words are not a literal (values go in as arguments)")
        elif name in TEXT_SINKS:
            arguments = [*node.args, *(k.value for k in node.keywords if k.arg in TEXT_KEYWORDS)]
            if name in ("add_task", "add_column"):
                arguments = arguments[:1] + [k.value for k in node.keywords if k.arg in TEXT_KEYWORDS]
            for argument in arguments:
                if not self.printable(argument):
                    self._report(node, "prints a value that did not go through terminal")
        self.generic_visit(node)


def test_every_command_module_prints_outside_text_through_terminal():
    """A value reaches the console only as an argument of terminal's functions (text, markup, line)
    or of `fail` (which uses them): never in an f-string, `%` or `+` given to a printing call, a table
    cell or a progress label, where a control character or markup in it would act."""
    found = []
    for file in CHECKED:
        tree = ast.parse(file.read_text(encoding="utf-8"))
        printing = _Printing(file, tree)
        printing.visit(tree)
        found += printing.found
    assert found == []


def test_the_check_catches_a_value_printed_raw(tmp_path: Path):
    """The architecture test is not vacuous: each way a raw value used to reach the console is found."""
    source = tmp_path / "raw.py"
    source.write_text(
        "from x.terminal import text\n"
        "def f(value, error):\n"
        "    console.print(f'[red]{value}[/]')\n"
        "    table.add_row(value.name, text(value))\n"
        "    raise fail(f'cannot read {value}')\n"
        "    progress.add_task(value)\n"
        "    deploy(console.print)\n",
        encoding="utf-8",
    )
    tree = ast.parse(source.read_text(encoding="utf-8"))
    printing = _Printing(source, tree)
    printing.visit(tree)
    assert [finding.split(" ")[0] for finding in printing.found] == [f"raw.py:{n}" for n in (3, 4, 5, 6, 7)]
