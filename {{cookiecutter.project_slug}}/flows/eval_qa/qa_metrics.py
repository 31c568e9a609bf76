"""Per-line exact match, token F1 and ROUGE-L, and their means as the aggregate.

F1 and ROUGE-L come from azure-ai-evaluation (they run offline); exact match has no counterpart
there, so it is the SQuAD-style normalised comparison below.
"""

import re
import string
from typing import TypedDict

from azure.ai.evaluation import F1ScoreEvaluator, RougeScoreEvaluator, RougeType

from aiops_platform.evaluation import mean_over_lines

_ARTICLES = re.compile(r"\b(a|an|the)\b")


class Scores(TypedDict):
    exact_match: float
    f1_score: float
    rouge_l: float


def normalise(text: str) -> str:
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


class QAMetrics:
    def __init__(self) -> None:
        self._f1 = F1ScoreEvaluator()
        self._rouge = RougeScoreEvaluator(rouge_type=RougeType.ROUGE_L)

    def __call__(self, answer: str, ground_truth: str) -> Scores:
        return {
            "exact_match": float(normalise(answer) == normalise(ground_truth)),
            "f1_score": float(self._f1(response=answer, ground_truth=ground_truth)["f1_score"]),
            "rouge_l": float(self._rouge(response=answer, ground_truth=ground_truth)["rouge"]),
        }

    def __aggregate__(self, line_results: list[Scores]) -> dict[str, float]:
        return mean_over_lines(line_results, Scores.__annotations__)
