"""A judge's reply that is not a 1-5 score object fails its line, quoting the reply (judging.score),
whichever judge prompt a project ships."""

import pytest
from conftest import PROJECT_ROOT

from aiops_platform import llm
from aiops_platform.flow_entry import load_entry
from aiops_platform.judging import JudgeReplyError
from aiops_platform.llm import Completion


@pytest.fixture(scope="module")
def judges():
    return load_entry(PROJECT_ROOT / "flows/eval_judges")


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


ABSTAINED = "I don't know based on the provided context."
UNRELATED_CONTEXT = "The annual budget for calibration is set by engineering. Certificates are kept."


def test_an_abstention_the_ground_truth_shares_is_grounded_and_relevant_not_the_worst_score(judges):
    """The shipped judge prompts, answered by the offline model: a correct "I don't know" claims
    nothing (groundedness) and is the right reply (relevance)."""
    question = "Who is the current head of the microbiology laboratory?"
    scores = judges(question, ABSTAINED, UNRELATED_CONTEXT, ABSTAINED)
    assert (scores["groundedness"], scores["relevance"]) == (5.0, 5.0)
    wrong = judges(question, ABSTAINED, UNRELATED_CONTEXT, "Dr. Meyer heads the microbiology laboratory.")
    assert wrong["groundedness"] < 3 and wrong["relevance"] < 3  # abstaining where an answer was due
