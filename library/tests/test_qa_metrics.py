"""A project's qa_metrics evaluator (flows/eval_qa) writes out azure-ai-evaluation's F1 and ROUGE-L in
plain Python (importing that package takes seconds): its scores stay equal to the package's."""

import json
import random

import pytest
from azure.ai.evaluation import F1ScoreEvaluator, RougeScoreEvaluator, RougeType
from conftest import PROJECT_ROOT

from aiops_platform.flow_entry import load_entry

EDGES = ["", "   ", "The a an", "Ünïcode café: 36 months!", "x-ray X ray", "2024-10-21 v1.2"]


def _texts() -> list[str]:
    rows = [
        json.loads(line)
        for name in ("core_qa", "hard_qa")
        for line in (PROJECT_ROOT / f"data/{name}.jsonl").open()
    ]
    return [row[column] for row in rows for column in ("question", "ground_truth")] + EDGES


@pytest.fixture(scope="module")
def qa_metrics():
    return load_entry(PROJECT_ROOT / "flows/eval_qa")


def test_f1_and_rouge_l_equal_azure_ai_evaluation_s(qa_metrics):
    f1, rouge = F1ScoreEvaluator(), RougeScoreEvaluator(rouge_type=RougeType.ROUGE_L)
    texts, pick = _texts(), random.Random(7)
    pairs = [(a, b) for a in texts for b in pick.sample(texts, 5)] + [(t, t) for t in texts]
    for answer, truth in pairs:
        ours = qa_metrics(answer=answer, ground_truth=truth)
        assert ours["f1_score"] == pytest.approx(f1(response=answer, ground_truth=truth)["f1_score"]), (
            answer,
            truth,
        )
        assert ours["rouge_l"] == pytest.approx(rouge(response=answer, ground_truth=truth)["rouge"]), (
            answer,
            truth,
        )
