"""`data validate` and every reader of a dataset: each line parses, has the columns the mappings need
and a unique id; a file in another encoding is one line naming the byte and the fix. (A project's own
tests check its shipped datasets.) In an agent project, the expected tool calls name tools and
arguments of flows/agent/tools.py."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import sample_project
from typer.testing import CliRunner

from aiops_platform.cli import app
from aiops_platform.data_validation import validate_jsonl


def _write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_malformed_line_is_reported_as_file_and_line(tmp_path: Path):
    data = _write(tmp_path / "d.jsonl", '{"id": "1"}', '{"id": "2",', '{"id": "3"}')
    (problem,) = validate_jsonl(data)
    assert str(problem).startswith(f"{data}:2: not valid JSON")


def test_missing_columns_empty_and_duplicate_ids_are_flagged(tmp_path: Path):
    data = _write(
        tmp_path / "d.jsonl",
        '{"id": "a", "question": "q"}',
        '{"id": "", "question": "q", "context": "c"}',
        '{"id": "a", "question": "q", "context": "c"}',
    )
    assert [str(p) for p in validate_jsonl(data, {"question", "context"})] == [
        f"{data}:1: missing columns ['context']",
        f"{data}:2: empty 'id'",
        f"{data}:3: duplicate 'id' 'a' (first on line 1)",
    ]


def test_cli_fails_naming_each_problem(project_copy: Path):
    _write(project_copy / "data/hard_qa.jsonl", '{"id": "x", "question": "q"}')
    result = CliRunner().invoke(app, ["data", "validate"])
    assert result.exit_code == 1
    assert "data/hard_qa.jsonl:1: missing columns ['context', 'ground_truth']" in result.output  # qa


# A dataset saved in another encoding: line 3 holds "café" in Latin-1, whose é (0xe9) is column 12.
LATIN_1 = b'{"id": "1"}\n{"id": "2"}\n{"id": "caf\xe9"}\n'
UTF_16 = '{"id": "1"}\n{"id": "2"}\n'.encode("utf-16")  # with its byte-order mark, as Windows saves it


def test_a_dataset_in_another_encoding_is_one_line_naming_the_byte_and_the_fix(tmp_path: Path):
    data = tmp_path / "x.jsonl"
    data.write_bytes(LATIN_1)
    assert [str(p) for p in validate_jsonl(data)] == [
        f"{data}:3: not UTF-8 (byte 0xe9 at column 12); save the file as UTF-8"
    ]
    data.write_bytes(UTF_16)
    assert [str(p) for p in validate_jsonl(data)] == [
        f"{data}:1: not UTF-8: UTF-16 (it starts with a UTF-16 byte-order mark); save the file as UTF-8"
    ]


@pytest.mark.parametrize(
    ("command", "exit_code"),
    [(["data", "validate"], 1), (["experiment", "validate"], 2), (["experiment", "run"], 2)],
)
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (LATIN_1, "data/core_qa.jsonl:3: not UTF-8 (byte 0xe9 at column 12); save the file as UTF-8"),
        (UTF_16, "data/core_qa.jsonl:1: not UTF-8: UTF-16 (it starts with a UTF-16 byte-order mark)"),
    ],
    ids=["latin-1", "utf-16"],
)
def test_every_command_that_reads_a_dataset_names_its_encoding_in_one_line(
    project_copy: Path, command: list[str], exit_code: int, content: bytes, message: str
):
    (project_copy / "data/core_qa.jsonl").write_bytes(content)
    result = CliRunner().invoke(app, [*command, "--file", "experiment.yaml"])
    assert result.exit_code == exit_code and isinstance(result.exception, SystemExit), result.output
    assert message in result.output
    assert "Traceback" not in result.output and not (project_copy / "results").exists()


# ---- an agent's expected tool calls against its tools.py -----------------------------------------

TOOLS = "search_procedures, find_batch_record, check_specification"  # the QCP agent's, in file order


@pytest.fixture
def agent_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    project = shutil.copytree(sample_project("agent"), tmp_path / "agent")
    monkeypatch.chdir(project)
    return project


def _expect_calls(project: Path, number: int, calls: list[dict]) -> None:
    """Line `number` of data/core_qa.jsonl now expects `calls`."""
    data = project / "data/core_qa.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    rows[number - 1]["expected_tool_calls"] = calls
    _write(data, *map(json.dumps, rows))


def _validate() -> tuple[int, list[str]]:
    result = CliRunner().invoke(app, ["data", "validate"])
    return result.exit_code, [line.removeprefix("✗ ") for line in result.output.splitlines()]


def _validate_in(project: Path) -> tuple[int, list[str]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        return _validate()


def test_an_agent_project_s_shipped_expected_calls_name_its_tools():
    assert _validate_in(sample_project("agent")) == (0, ["OK 3 datasets valid"])


@pytest.mark.parametrize(
    ("calls", "problem"),
    [
        (
            [{"name": "list_product_batchez", "arguments": {}}],
            "data/core_qa.jsonl:3: expected_tool_calls[0].name: 'list_product_batchez' is not a tool in "
            f"flows/agent/tools.py (its tools: {TOOLS})",
        ),
        (
            [{"name": "find_batch_record", "arguments": {"batch_id": "B-1"}},
             {"name": "check_specification", "arguments": {"attribute": "pH", "result": 7.1}}],
            "data/core_qa.jsonl:3: expected_tool_calls[1].arguments: 'result' is not a parameter of "
            "check_specification (its parameters: attribute, value)",
        ),
    ],
    ids=["unknown-tool", "unknown-argument"],
)  # fmt: skip
def test_an_expected_call_the_agent_cannot_make_is_one_line(agent_project: Path, calls: list, problem: str):
    _expect_calls(agent_project, 3, calls)
    status, output = _validate()
    assert status == 1
    assert output[:-1] == [problem]
    assert output[-1] == "Error 1 problem(s) in the datasets of experiment.yaml"


def test_a_tool_the_model_has_nothing_to_choose_by_is_one_line(agent_project: Path):
    tools = agent_project / "flows/agent/tools.py"
    text = tools.read_text(encoding="utf-8")
    untyped = '\n\ndef list_lots(product, since: str):\n    """List the lots of a product."""\n'
    tools.write_text(text + untyped, encoding="utf-8")
    line = len(text.splitlines()) + 3
    assert _validate() == (1, [
        f"flows/agent/tools.py:{line}: tool list_lots: no type hint on product (the model sees no type)",
        "Error 1 problem(s) in the datasets of experiment.yaml",
    ])  # fmt: skip
    tools.write_text(text + "\n\ndef list_lots(product: str) -> str:\n    return product\n", encoding="utf-8")
    status, output = _validate()
    assert status == 1
    assert output[0] == (
        "flows/agent/tools.py: tool list_lots has no docstring, the description the model picks tools by "
        "(or name it _list_lots if it is a helper)"
    )


def test_a_tools_file_that_cannot_be_imported_is_one_line(agent_project: Path):
    (agent_project / "flows/agent/tools.py").write_text("import no_such_module\n", encoding="utf-8")
    status, output = _validate()
    assert status == 1
    assert output[0] == (
        "flows/agent/tools.py: cannot be loaded: ModuleNotFoundError: No module named 'no_such_module'"
    )


def test_other_kinds_expected_calls_are_checked_in_shape_only(project_copy: Path):
    """A qa project has no tools.py: a call it expects is not looked up anywhere."""
    _expect_calls(project_copy, 1, [{"name": "any_tool", "arguments": {"anything": 1}}])
    assert _validate() == (0, ["OK 3 datasets valid"])
