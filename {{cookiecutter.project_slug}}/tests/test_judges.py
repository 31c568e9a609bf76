"""LLM judges: our own prompt files, scores within 1-5, through the same provider seam."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.flow_entry import load_entry, read_jsonl
from {{ cookiecutter.package_name }}.llm import Completion

JUDGES_FLOW = Path(__file__).resolve().parents[1] / "flows/eval_judges"


@pytest.fixture(scope="module")
def judges():
    return load_entry(JUDGES_FLOW)


def test_every_judge_scores_every_sample_line_within_1_to_5(judges, project_root: Path):
    for row in read_jsonl(project_root / "data/hard_qa.jsonl", limit=5):
        scores = judges(row["question"], row["ground_truth"], row["context"], row["ground_truth"])
        assert set(scores) == {"groundedness", "relevance", "coherence", "fluency", "similarity"}
        assert all(1.0 <= score <= 5.0 for score in scores.values()), scores


def test_an_answer_copied_from_the_context_is_grounded_and_an_invented_one_is_not(judges):
    context = "Balances are calibrated every six months by an accredited provider."
    grounded = judges("How often?", "Balances are calibrated every six months.", context, "every six months")
    invented = judges("How often?", "Pumps get replaced weekly overnight.", context, "every six months")
    assert grounded["groundedness"] == 5.0 and invented["groundedness"] == 1.0
    assert grounded["similarity"] > invented["similarity"]


def test_a_reply_outside_the_range_fails_the_line(judges, monkeypatch: pytest.MonkeyPatch):
    flow_globals = type(judges).__call__.__globals__  # the flow module, loaded from its file
    monkeypatch.setitem(flow_globals, "chat", lambda *args, **kwargs: Completion('{"score": 7}', 0, 0))
    with pytest.raises(ValueError, match=r"returned 7, outside \(1, 5\)"):
        judges("q", "a", "c", "g")
