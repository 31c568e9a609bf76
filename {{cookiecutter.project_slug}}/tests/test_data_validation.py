"""The team's datasets: every line parses, has the columns the experiment's mappings need, and a unique
id (`make data-validate` checks the same).{% if cookiecutter.flow_kind == 'rag' %} Retrieval labels name passages the
documents still hold.{% endif %}"""

{% if cookiecutter.flow_kind == 'agent' -%}
import inspect
{% endif -%}
from pathlib import Path

{% if cookiecutter.flow_kind == 'rag' -%}
import pytest
{% endif -%}
{%- if cookiecutter.flow_kind == 'agent' -%}
from aiops_platform.agents import tools_in
{% endif -%}
from aiops_platform.data_validation import required_columns, validate_experiment_data
from aiops_platform.experiment import load
{%- if cookiecutter.flow_kind == 'agent' %}
from aiops_platform.jsonl import read_jsonl
{%- endif %}
{%- if cookiecutter.flow_kind == 'rag' %}
from aiops_platform.flow_entry import load_entry
from aiops_platform.jsonl import read_jsonl
from aiops_platform.retrieval import CHUNK_WORDS, chunk_documents
from conftest import PROJECT_ROOT
{%- endif %}


def test_the_shipped_datasets_are_valid(project_root: Path):
    experiment = load(project_root / "experiment.yaml")
    assert validate_experiment_data(experiment, project_root) == []


def test_required_columns_come_from_flow_and_evaluator_mappings(project_root: Path):
    experiment = load(project_root / "experiment.yaml")
    assert required_columns(experiment, "core_qa") == {
        "question",
{%- if cookiecutter.flow_kind not in ['rag', 'agent'] %}
        "context",
{%- endif %}
{%- if cookiecutter.flow_kind in ['chat', 'agent'] %}
        "chat_history",
{%- endif %}
        "ground_truth",
{%- if cookiecutter.flow_kind == 'rag' %}
        "relevant_passages",  # the retrieval evaluator's labels
{%- elif cookiecutter.flow_kind == 'agent' %}
        "expected_tool_calls",  # the tool_use evaluator's labels
{%- endif %}
    }
{%- if cookiecutter.flow_kind == 'rag' %}


def _rows() -> list[dict]:
    return [row for name in ("core_qa", "hard_qa") for row in read_jsonl(PROJECT_ROOT / f"data/{name}.jsonl")]


@pytest.mark.parametrize("chunk_words", [20, CHUNK_WORDS, 400])
def test_every_label_is_a_passage_of_its_document_at_any_chunk_size(chunk_words: int):
    """Labels name a document and a sentence, so they survive a change of chunk size (or an edit
    elsewhere in the document); an edited sentence shows here, not as a silent drop in recall."""
    holds = load_entry(Path(f"{PROJECT_ROOT}/evaluators/retrieval.py:holds"))
    label_of = load_entry(Path(f"{PROJECT_ROOT}/evaluators/retrieval.py:_label"))
    chunks = [vars(chunk) for chunk in chunk_documents(PROJECT_ROOT / "data/docs", chunk_words)]
    for row in _rows():
        for label in row["relevant_passages"]:
            assert any(holds(chunk, label_of(label)) for chunk in chunks), (row["id"], label)


def test_only_unanswerable_questions_have_no_labels():
    unlabelled = [row["id"] for row in _rows() if not row["relevant_passages"]]
    assert unlabelled == [row["id"] for row in _rows() if row["ground_truth"].startswith("I don't know")]
{%- endif %}
{%- if cookiecutter.flow_kind == 'agent' %}


def test_expected_tool_calls_name_the_agent_s_tools_and_their_parameters(project_root: Path):
    """A renamed tool or parameter shows here, not as a silent drop in tool-call recall."""
    tools = {
        tool.__name__: inspect.signature(tool).parameters
        for tool in tools_in(project_root / "flows/agent/tools.py")
    }
    for path in ("data/core_qa.jsonl", "data/hard_qa.jsonl", "flows/eval_safety/safety.jsonl"):
        for row in read_jsonl(project_root / path):
            for call in row["expected_tool_calls"]:
                assert call["name"] in tools, (row["id"], call["name"])
                assert set(call.get("arguments", {})) <= set(tools[call["name"]]), (row["id"], call)
{%- endif %}
