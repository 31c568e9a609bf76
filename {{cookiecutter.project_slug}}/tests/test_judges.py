"""LLM judges: our own prompt files, scores within 1-5, through the same provider seam."""

from pathlib import Path

import pytest

from aiops_platform import llm
from aiops_platform.flow_entry import load_entry, read_jsonl
from aiops_platform.judging import JudgeReplyError
from aiops_platform.llm import Completion

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
    monkeypatch.setattr(llm, "chat", lambda *args, **kwargs: Completion('{"score": 7}', 0, 0))
    expected = r"replied '\{\"score\": 7\}'; expected a JSON object with a score from 1 to 5"
    with pytest.raises(ValueError, match=expected):
        judges("q", "a", "c", "g")


@pytest.mark.parametrize(
    "reply", ["[4, 5]", "4", '"4"', '{"score": true}', '{"score": "4"}', '{"rating": 4}', "null", "not json"]
)
def test_a_reply_that_is_not_a_score_object_fails_the_line_quoting_it(
    judges, monkeypatch: pytest.MonkeyPatch, reply: str
):
    monkeypatch.setattr(llm, "chat", lambda *args, **kwargs: Completion(reply, 0, 0))
    with pytest.raises(JudgeReplyError, match="expected a JSON object with a score") as raised:
        judges("q", "a", "c", "g")
    assert repr(reply) in str(raised.value)
    assert isinstance(raised.value, ValueError)  # what a run and `monitor evaluate` count as a failed line
