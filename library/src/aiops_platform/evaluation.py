"""What scoring means in this project, defined once: the judges and the mean over lines.

The judge flow (flows/eval_judges), the offline stand-in that plays a judge, online evaluation and
the monitoring config all take the judge names from here; evaluators, the runner and online
evaluation all aggregate lines with `mean_over_lines`. `normalise` and `token_f1` are the SQuAD
normalisation and token F1 of a project's qa_metrics evaluator (flows/eval_qa, equal to
azure-ai-evaluation's F1ScoreEvaluator), for library code that compares answers (tool_use.py); the
platform's tests keep the two equal.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping
from statistics import fmean
from typing import Any, Literal

# judge -> the input its answer is judged against (None: the answer alone, for its form)
JUDGES: dict[str, Literal["context", "question", "ground_truth"] | None] = {
    "groundedness": "context",
    "relevance": "question",
    "coherence": None,
    "fluency": None,
    "similarity": "ground_truth",
}
# Production traffic has no ground truth: these are the judges online evaluation can run.
ONLINE_JUDGES = tuple(name for name, against in JUDGES.items() if against != "ground_truth")
SCORE_RANGE = (1, 5)  # every judge scores 1 (worst) to 5 (best)
# Judges that score an abstention 5 when the ground truth abstains too, as their prompts ask: it
# claims nothing (groundedness) and it is the right reply to the question (relevance).
EXPECTED_ABSTENTION = ("groundedness", "relevance")
# An answer that only says the context does not hold the answer, as the flows' "I don't know based
# on the provided context.": it claims nothing, so nothing in it is ungrounded.
ABSTENTION = re.compile(
    r"\bI (?:do not|don't) know\b"
    r"|\b(?:context|documents?) (?:does|do) not (?:contain|say|mention|state)"
    r"|\bnot (?:in|stated in|mentioned in) the (?:provided )?(?:context|documents?)",
    re.IGNORECASE,
)


def abstains(answer: str) -> bool:
    return bool(ABSTENTION.search(answer))


_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalise(text: str) -> str:
    """SQuAD's answer normalisation: lowercase, no punctuation, no articles, single spaces."""
    text = text.lower().translate(str.maketrans("", "", string.punctuation))
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(answer: str, ground_truth: str) -> float:
    """SQuAD token F1 of the normalised texts (0.0 when they share no token)."""
    predicted, expected = normalise(answer).split(), normalise(ground_truth).split()
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def mean_over_lines(lines: Iterable[Mapping[str, Any] | None], names: Iterable[str] | None = None) -> dict:
    """The mean of each metric over the lines that produced one (failed lines, None, are skipped).

    `names` defaults to the numeric fields (booleans count, as a rate) of the first line; a name
    no line has is left out.
    """
    scored = [line for line in lines if line]
    if names is None:
        first = scored[0] if scored else {}
        names = [name for name, value in first.items() if isinstance(value, int | float)]
    means = {}
    for name in names:
        values = [float(line[name]) for line in scored if name in line]
        if values:
            means[name] = fmean(values)
    return means
