"""The library's shape: each concept has one home, the layers depend one way, and the CLI keeps
every command name.

The source-scanning tests guard the review's findings: `${...}` references, JSON Lines, the project
root, the judge names, the mean over lines and the problem shape are each defined in one module.
The import tests hold the layers: the command line (cli/) is a shell over the library that prints
through terminal.py, nothing below it imports it, Prompt Flow stays behind its one seam, and no two
modules import each other when they are imported. A command loads only what it uses: `--help` and the
validate commands load no model client, Prompt Flow, Azure SDK or numpy.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from conftest import PROJECT_ROOT, sample_project

import aiops_platform
from aiops_platform import evaluation, paths, project
from aiops_platform.cli import app
from aiops_platform.flow_entry import Reference, data_columns, parse_reference, resolve_inputs
from aiops_platform.jsonl import JsonLinesError, lines, read_jsonl

PACKAGE = Path(aiops_platform.__file__).resolve().parent  # library/src/aiops_platform
PROJECT = PROJECT_ROOT  # a use case's project (the qa sample): its flows use the library


def _sources(*roots: Path) -> dict[str, str]:
    """Name -> text of every Python file under the package (relative to it) and under any other
    `roots` (a sample project's folders: `<root name>/<relative path>`)."""
    found = {file.relative_to(PACKAGE).as_posix(): file for file in sorted(PACKAGE.rglob("*.py"))}
    for root in roots:
        found |= {
            f"{root.name}/{file.relative_to(root).as_posix()}": file for file in sorted(root.rglob("*.py"))
        }
    return {name: file.read_text(encoding="utf-8") for name, file in found.items()}


def _holders(pattern: str, *roots: Path) -> set[str]:
    """The package files (and `roots`' files) in which `pattern` matches, named as `_sources` names them."""
    found = re.compile(pattern)
    return {name for name, text in _sources(*roots).items() if found.search(text)}


def test_only_flow_entry_parses_input_references():
    # A regex that matches `${` is written `\$\{`; connections.py's is `${env:VAR}` in connection
    # specs (resolved at registration), not a flow input reference.
    assert _holders(r"\\\$\\\{") <= {"flow_entry.py", "connections.py"}
    assert _holders(r"\\\$\\\{\(?(data|run)") == {"flow_entry.py"}
    assert _holders(r'"\$\{(data|run)') == set()  # built with flow_entry.data_reference/output_reference


def test_only_jsonl_reads_json_lines():
    assert _holders(r"json\.loads\((line|text)\b", PROJECT / "flows", PROJECT / "evaluators") == {"jsonl.py"}


def test_only_paths_knows_the_root_and_the_state_folders():
    roots = (r"parents\[", r"Path\.cwd\(\)", r'Path\("\."\)')  # ways to find the project root
    for pattern in (*roots, r'"\.aiops"', r'"\.promptflow"', r'"data/docs"'):
        assert _holders(pattern) <= {"paths.py"}, pattern


def test_judges_mean_and_problem_are_each_defined_once():
    flows = PROJECT / "flows"
    judges = _holders(r'"(groundedness|relevance|coherence|fluency|similarity)"', flows)
    # benchmarks/rate_limits.py keys azure-ai-evaluation's own RelevanceEvaluator, which it measures
    assert {name for name in judges if not name.startswith("benchmarks/")} == {"evaluation.py"}
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
    monkeypatch.chdir(PROJECT / project.load(PROJECT).flow)
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
    "template": {"update", "update-pr", "leftovers"},
    "governance": {"show", "approvals", "verify", "region"},
    "run": None,
    "serve": None,
    "smoke": None,
    "doctor": None,
    "index": None,  # registered in every project: it tells a flow kind without documents so
    "deploy": {"aml", "rollback"},  # likewise for a deployment target without an online endpoint
}


def test_every_command_keeps_its_name():
    """The Makefile, pipelines, docs and tests call these: the cli/ package keeps them all."""
    root = typer.main.get_command(app)
    assert set(root.commands) == set(COMMANDS)
    for name, subcommands in COMMANDS.items():
        if subcommands is not None:
            assert set(root.commands[name].commands) == subcommands, name


# ---- the layers: who imports whom -------------------------------------------------------------


def _module_name(path: Path) -> str:
    parts = [PACKAGE.name, *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _run_at_import(tree: ast.AST) -> list[ast.AST]:
    """Every node that runs when the module is imported: all but function bodies and the imports
    only a type checker reads (`if TYPE_CHECKING:`)."""
    nodes = []
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
            nodes += [node for branch in child.orelse for node in (branch, *_run_at_import(branch))]
            continue
        nodes += [child, *_run_at_import(child)]
    return nodes


def _imported(module: str, node: ast.AST) -> list[str]:
    """The modules an import statement names: `from a import b` is module a.b when there is one."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    target = node.module or ""
    if node.level:  # relative: from the module's package
        package = module.split(".") if MODULES[module].name == "__init__.py" else module.split(".")[:-1]
        target = ".".join(
            [*package[: len(package) - node.level + 1], *([node.module] if node.module else [])]
        )
    return [
        f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target for alias in node.names
    ]


def _imports(at_import_only: bool) -> dict[str, set[str]]:
    """Module -> every module (the library's or another's) it imports: when it is imported, or anywhere."""
    graph = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        nodes = _run_at_import(tree) if at_import_only else list(ast.walk(tree))
        graph[module] = {name for node in nodes for name in _imported(module, node)} - {module}
    return graph


def _importers(prefix: str, at_import_only: bool = False) -> set[str]:
    return {
        module
        for module, names in _imports(at_import_only).items()
        if any(name == prefix or name.startswith(f"{prefix}.") for name in names)
    }


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan): modules that import each other."""
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for other in sorted(graph.get(module, ())):
            if other not in graph:
                continue
            if other not in order:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], order[other])
        if low[module] == order[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(graph):
        if module not in order:
            visit(module)
    return found


def test_no_modules_import_each_other_when_imported():
    graph = _imports(at_import_only=True)
    assert "aiops_platform.cli._common" in graph["aiops_platform.cli.experiment"]  # the graph is read
    assert _cycles(graph) == []


def test_the_cycle_check_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]


def test_only_the_command_line_uses_typer_and_nothing_below_it_imports_it():
    """cli/ is a shell over the library: it parses options, calls the module that owns the work, and
    prints. The library's modules are called by it, by the server and by flows, never the other way."""
    cli = {module for module in MODULES if module.startswith("aiops_platform.cli")}
    assert _importers("typer") <= cli
    assert _importers("aiops_platform.cli") <= cli | {"aiops_platform.__main__"}


def _own_constant(node: ast.AST) -> bool:
    """A literal, or a constant the library names (UPPER_CASE): text that is the library's own."""
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)) or bool(name and name.isupper())


def test_command_modules_print_through_terminal():
    """One console (cli/_common.py); every command module that prints takes its values through
    terminal.py, and writes nothing to stdout another way but the library's own constant text (the
    KQL of `monitor query`, printed as is for a pipe)."""
    for module, path in MODULES.items():
        if not module.startswith("aiops_platform.cli.") or module == "aiops_platform.cli._common":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found = [node for node in ast.walk(tree) if isinstance(node, ast.Call)]
        calls = [ast.unparse(node.func) for node in found]
        raw = [
            ast.unparse(node)
            for node, call in zip(found, calls, strict=True)
            if call in ("print", "typer.echo", "typer.secho", "sys.stdout.write")
            and not all(map(_own_constant, node.args))
        ]
        assert not raw, f"{module} writes with {raw}: print through cli._common.console and terminal"
        assert "Console" not in calls, module
        if "console.print" in calls:
            assert "aiops_platform.terminal" in _imports(at_import_only=False)[module], module


def test_prompt_flow_stays_behind_its_seam():
    """Only promptflow_adapter imports Prompt Flow; the Prompt Flow engine (engine: promptflow), the
    connection registration and the benchmarks reach it through the adapter, nothing else does."""
    assert _importers("promptflow") == {"aiops_platform.promptflow_adapter"}
    seam = {"aiops_platform.engines.promptflow", "aiops_platform.connections"}
    users = _importers("aiops_platform.promptflow_adapter")
    assert {module for module in users if not module.startswith("aiops_platform.benchmarks")} == seam


# ---- what a command loads ---------------------------------------------------------------------

# What the daily loop's quick commands must not pay for: each takes from 0.1 s to a second to import.
HEAVY = {"openai", "promptflow", "azure", "opentelemetry", "numpy", "bm25s"}


def _loaded_by(arguments: list[str], folder: Path) -> tuple[int, set[str]]:
    """`aiops ARGUMENTS` in a fresh interpreter in `folder`: its exit status and the top-level
    packages imported by then."""
    code = (
        "import sys\n"
        "from aiops_platform.cli import app\n"
        "try:\n    app(sys.argv[1:])\nexcept SystemExit as exit:\n    status = exit.code\n"
        "print('LOADED', status, *sorted({name.split('.')[0] for name in sys.modules}), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *arguments], cwd=folder, capture_output=True, text=True, timeout=120
    )
    status, *loaded = done.stderr.splitlines()[-1].removeprefix("LOADED ").split()
    return int(status), set(loaded)


def test_help_loads_no_model_client_prompt_flow_azure_or_telemetry():
    status, loaded = _loaded_by(["--help"], PROJECT_ROOT)
    assert status == 0
    assert {"typer", "aiops_platform"} <= loaded  # the list is read
    assert loaded & (HEAVY | {"pydantic", "httpx", "jinja2"}) == set()


@pytest.mark.parametrize(
    ("arguments", "flow_kind"),
    [(["data", "validate"], "qa"), (["experiment", "validate"], "qa"), (["experiment", "validate"], "rag")],
    ids=["data-validate", "experiment-validate-qa", "experiment-validate-rag-imports-its-flows"],
)
def test_validating_loads_no_model_client_prompt_flow_azure_or_numpy(arguments: list[str], flow_kind: str):
    """Validation imports every flow and evaluator entry to check it: the model client and the index
    load with a flow's first call, not with its module (OpenTelemetry does: `traced` wraps the flow)."""
    status, loaded = _loaded_by(arguments, sample_project(flow_kind))
    assert status == 0
    assert "pydantic" in loaded  # the schema was read
    assert loaded & (HEAVY - {"opentelemetry"}) == set()


def test_validating_an_agent_s_data_reads_its_tools_without_agent_framework(tmp_path: Path):
    """`data validate` checks the expected calls against tools.py (here a misspelt tool: status 1)
    without the agent runtime: no Agent Framework, model client or HTTP client."""
    project = shutil.copytree(sample_project("agent"), tmp_path / "agent")
    data = project / "data/core_qa.jsonl"
    data.write_text(data.read_text(encoding="utf-8").replace('"find_batch_record"', '"find_batchez"', 1))
    status, loaded = _loaded_by(["data", "validate"], project)
    assert status == 1
    assert loaded & (HEAVY - {"opentelemetry"} | {"agent_framework", "httpx"}) == set()
