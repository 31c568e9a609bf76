"""Per-line exact match, token F1 and ROUGE-L, and their means as the aggregate.

F1 and ROUGE-L are azure-ai-evaluation's F1ScoreEvaluator and RougeScoreEvaluator (ROUGE-L F-measure,
no stemming), written out in plain Python: importing that package takes seconds, and the platform's
tests keep these equal to it. F1 and the SQuAD normalisation exact match uses come from the platform
(aiops_platform.evaluation), which scores an agent's task completion with the same two.
"""

import re
from typing import TypedDict

from aiops_platform.evaluation import mean_over_lines, normalise
from aiops_platform.evaluation import token_f1 as f1  # SQuAD token F1 of the normalised texts


class Scores(TypedDict):
    exact_match: float
    f1_score: float
    rouge_l: float


def _rouge_tokens(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).split()


def rouge_l(answer: str, ground_truth: str) -> float:
    """F-measure of the longest common token subsequence (lowercase alphanumeric tokens)."""
    predicted, expected = _rouge_tokens(answer), _rouge_tokens(ground_truth)
    if not predicted or not expected:
        return 0.0
    row = [0] * (len(predicted) + 1)
    for token in expected:
        previous = 0  # the cell up and to the left
        for j, other in enumerate(predicted, 1):
            previous, row[j] = row[j], previous + 1 if token == other else max(row[j], row[j - 1])
    common = row[-1]
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


class QAMetrics:
    def __init__(self) -> None:
        """Nothing to set up; Prompt Flow reads a class entry's `__init__` (object's fails it)."""

    def __call__(self, answer: str, ground_truth: str) -> Scores:
        return {
            "exact_match": float(normalise(answer) == normalise(ground_truth)),
            "f1_score": f1(answer, ground_truth),
            "rouge_l": rouge_l(answer, ground_truth),
        }

    def __aggregate__(self, line_results: list[Scores]) -> dict[str, float]:
        return mean_over_lines(line_results, Scores.__annotations__)
