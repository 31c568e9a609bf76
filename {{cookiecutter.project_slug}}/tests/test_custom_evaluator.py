"""The team's own evaluators (evaluators/): one function or class in one file plus one line in
experiment.yaml each; the experiment passes them the flow's outputs, then the dataset's columns, by name."""
{% if cookiecutter.flow_kind == 'rag' %}
import inspect
{%- endif %}
from pathlib import Path

{% if cookiecutter.flow_kind == 'rag' -%}
import pytest
{% endif -%}
from aiops_platform.engines import get_engine
from aiops_platform.experiment import load, select
from aiops_platform.flow_entry import load_entry
from aiops_platform.runner import run_experiment
{%- if cookiecutter.flow_kind == 'rag' %}
from conftest import FLOW, PROJECT_ROOT

RETRIEVAL = PROJECT_ROOT / "evaluators/retrieval.py"
{%- endif %}


def _custom_evaluators(project_root: Path) -> dict:
    experiment = load(project_root / "experiment.yaml")
    return {e.name: e for e in experiment.evaluators if e.path.parts[0] == "evaluators"}


def test_answer_length_counts_the_words_of_the_answer(project_root: Path):
    answer_length = load_entry(project_root / _custom_evaluators(project_root)["answer_length"].path)
    assert answer_length(answer="Every six months.") == {"answer_words": 3.0}


def test_the_shipped_experiment_scores_the_flow_s_answers_with_the_custom_evaluators(project_root: Path):
    """The shipped flow (baseline) on three lines of core_qa, scored by evaluators/ only, in process."""
    experiment = select(load(project_root / "experiment.yaml"), ["baseline"], ["core_qa"])
    core_qa = experiment.datasets[0].model_copy(update={"limit": 3})
    experiment = experiment.model_copy(
        update={"datasets": [core_qa], "evaluators": list(_custom_evaluators(project_root).values())}
    )
    engine = get_engine("inprocess", project_root)
    results = run_experiment(experiment, project_root, engine, "inprocess", 2, lambda *_: lambda: None)
    (run,) = results.runs
    assert run.result.failed == 0, run.result.errors
    scores = {e.evaluator: e.result.metrics for e in results.evaluations}
    answers = [output["answer"] for output in run.result.outputs]
    assert len(answers) == 3
    assert scores["answer_length"] == {"answer_words": sum(len(a.split()) for a in answers) / 3}
{%- if cookiecutter.flow_kind == 'agent' %}
    assert scores["tool_use"]["tool_call_recall"] == 1.0  # the calls core_qa expects, against the agent's


def test_tool_use_scores_a_wrong_tool_a_skipped_one_and_a_misuse(project_root: Path):
    tool_use = load_entry(project_root / _custom_evaluators(project_root)["tool_use"].path)
{%- if cookiecutter.use_case_code == 'CMC' %}
    expected = [{"name": "find_lot", "arguments": {"lot_number": "L23-014"}}]
    right = [{"name": "find_lot", "arguments": {"lot_number": "l23-014", "extra": 1}}]
    wrong = [{"name": "search_dossier", "arguments": {"query": "L23-014"}}]
    answer = "Lot L23-014 stability status: out-of-trend dissolution at 6 months."
{%- else %}
    expected = [{"name": "find_batch_record", "arguments": {"batch_id": "B-2024-017"}}]
    right = [{"name": "find_batch_record", "arguments": {"batch_id": "b-2024-017", "extra": 1}}]
    wrong = [{"name": "search_procedures", "arguments": {"query": "B-2024-017"}}]
    answer = "Batch B-2024-017 status: on hold."
{%- endif %}
    assert tool_use(right, expected, answer, answer, 2)["argument_match"] == 1.0
    assert tool_use(wrong, expected, answer, answer, 2)["tool_call_recall"] == 0.0
    assert tool_use([], expected, "I don't know.", answer, 1)["task_completed"] == 0.0
    misuse = tool_use(right, [], "Done.", "", 2)
    assert misuse["no_unexpected_tool"] == 0.0 and misuse["tool_call_precision"] == 0.0
{%- endif %}
{%- if cookiecutter.flow_kind == 'rag' %}
    assert scores["retrieval"]["recall_at_3"] > 0  # the labels of core_qa, against what the flow retrieved


def test_retrieval_scores_a_hand_made_ranking():
    metrics = load_entry(Path(f"{RETRIEVAL}:RetrievalMetrics"))
    label = {"source": "a.md", "passage": "Balances are calibrated every six months."}
    hit = {"id": "a.md#1", "source": "a.md", "text": "Intro. Balances are  calibrated every six months."}
    miss = {**hit, "id": "c.md#2", "source": "c.md"}  # the passage, in another document
    scores = metrics([miss, hit], [label])
    assert scores["recall_at_3"] == 1.0 and scores["mrr_at_3"] == 0.5
    assert scores["precision_at_3"] == pytest.approx(1 / 3)
    assert metrics([miss], [])["recall_at_3"] is None  # an unanswerable question is not scored


def test_k_is_the_flow_s_default_top_k():
    top_k = inspect.signature(load_entry(PROJECT_ROOT / FLOW)).parameters["top_k"].default
    assert top_k == load_entry(Path(f"{RETRIEVAL}:K"))  # the k its metric names carry
{%- endif %}
