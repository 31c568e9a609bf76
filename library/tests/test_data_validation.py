"""`data validate` and every reader of a dataset: each line parses, has the columns the mappings need
and a unique id; a file in another encoding is one line naming the byte and the fix. (A project's own
tests check its shipped datasets.)"""

from pathlib import Path

import pytest
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
