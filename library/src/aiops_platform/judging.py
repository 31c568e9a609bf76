"""One judge call for every LLM judge (flows/eval_judges, flows/eval_safety): a prompt file in, a 1-5
score out, through the same model seam as the flows. A reply that is not `{"score": <1-5>, ...}`
fails that line, quoting the reply, so a misbehaving judge is seen, never averaged in.

Kept apart from evaluation.py, which the offline model imports: this module imports the model.
"""

import json
from pathlib import Path

from aiops_platform import llm
from aiops_platform.evaluation import SCORE_RANGE
from aiops_platform.prompts import render_chat


class JudgeReplyError(ValueError):
    """The judge's reply is not `{"score": <1-5>, ...}`: that line fails, with the reply quoted."""


def score(prompt: Path, **fields: str) -> float:
    """The judge in `prompt` (a `<name>.jinja2`) on `fields`, as a score from 1 to 5."""
    reply = llm.chat(render_chat(prompt, **fields), response_format={"type": "json_object"})
    try:
        verdict = json.loads(reply.text)
    except json.JSONDecodeError:
        verdict = None
    found = verdict.get("score") if isinstance(verdict, dict) else None
    low, high = SCORE_RANGE
    if isinstance(found, bool) or not isinstance(found, int | float) or not low <= found <= high:
        expected = f"expected a JSON object with a score from {low} to {high}"
        raise JudgeReplyError(f"{prompt.stem} judge replied {reply.text[:120]!r}; {expected}")
    return float(found)
