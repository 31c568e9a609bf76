"""What scoring means in this project, defined once: the judges and the mean over lines.

The judge flow (flows/eval_judges), the offline stand-in that plays a judge, online evaluation and
the monitoring config all take the judge names from here; evaluators, the runner and online
evaluation all aggregate lines with `mean_over_lines`.
"""

from __future__ import annotations

import re
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
