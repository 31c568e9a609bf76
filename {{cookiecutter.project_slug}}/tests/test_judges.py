"""LLM judges: the team's prompt files (flows/eval_judges/prompts), scores within 1-5, through the same
provider seam as the flow (the offline model here). A reply that is not a score fails its line: the
platform's judging checks that, in its own tests."""

from pathlib import Path

import pytest
from aiops_platform.flow_entry import load_entry
from aiops_platform.jsonl import read_jsonl

JUDGES_FLOW = Path(__file__).resolve().parents[1] / "flows/eval_judges"


@pytest.fixture(scope="module")
def judges():
    return load_entry(JUDGES_FLOW)


def test_every_judge_scores_every_sample_line_within_1_to_5(judges, project_root: Path):
{%- if cookiecutter.flow_kind == 'agent' %}
    agent = load_entry(project_root / "flows/agent")
{%- endif %}
    for row in read_jsonl(project_root / "data/hard_qa.jsonl", limit=5):
{%- if cookiecutter.flow_kind == 'agent' %}
        context = agent(row["question"], row["chat_history"])["context"]  # the tool results it saw
        scores = judges(row["question"], row["ground_truth"], context, row["ground_truth"])
{%- else %}
        scores = judges(row["question"], row["ground_truth"], row["context"], row["ground_truth"])
{%- endif %}
        assert set(scores) == {"groundedness", "relevance", "coherence", "fluency", "similarity"}
        assert all(1.0 <= score <= 5.0 for score in scores.values()), scores


def test_an_answer_copied_from_the_context_is_grounded_and_an_invented_one_is_not(judges):
    context = "Balances are calibrated every six months by an accredited provider."
    grounded = judges("How often?", "Balances are calibrated every six months.", context, "every six months")
    invented = judges("How often?", "Pumps get replaced weekly overnight.", context, "every six months")
    assert grounded["groundedness"] == 5.0 and invented["groundedness"] == 1.0
    assert grounded["similarity"] > invented["similarity"]
