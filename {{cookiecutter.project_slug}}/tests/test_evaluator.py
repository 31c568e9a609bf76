"""The evaluation flow: per-line scores in [0, 1] and their means as the aggregate."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiops_platform.flow_entry import load_entry


@pytest.fixture(scope="module")
def qa_metrics():
    return load_entry(Path(__file__).resolve().parents[1] / "flows/eval_qa")


def test_identical_answers_score_one_everywhere(qa_metrics):
    assert qa_metrics(answer="The answer is 42.", ground_truth="the answer is 42") == {
        "exact_match": 1.0,
        "f1_score": 1.0,
        "rouge_l": 1.0,
    }


def test_partial_answer_scores_between_zero_and_one(qa_metrics):
    scores = qa_metrics(answer="every six months", ground_truth="Balances are calibrated every six months.")
    assert scores["exact_match"] == 0.0
    assert 0.0 < scores["f1_score"] < 1.0
    assert 0.0 < scores["rouge_l"] < 1.0


def test_unrelated_answer_scores_zero(qa_metrics):
    scores = qa_metrics(answer="blue sky", ground_truth="calibrated every six months")
    assert scores == {"exact_match": 0.0, "f1_score": 0.0, "rouge_l": 0.0}


def test_aggregate_is_the_mean_of_each_metric(qa_metrics):
    lines = [
        {"exact_match": 1.0, "f1_score": 1.0, "rouge_l": 0.5},
        {"exact_match": 0.0, "f1_score": 0.5, "rouge_l": 0.0},
    ]
    assert qa_metrics.__aggregate__(lines) == {"exact_match": 0.5, "f1_score": 0.75, "rouge_l": 0.25}
