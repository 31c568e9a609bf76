"""Groundedness, relevance, coherence, fluency and similarity, each scored 1 to 5 by a judge prompt.

The judges call the model through the same provider seam as the flow: the offline stand-in in
tests, Azure OpenAI or OpenAI for real. A reply that is not a 1-5 score fails that line.
"""

from pathlib import Path
from typing import TypedDict

from aiops_platform.evaluation import JUDGES, mean_over_lines
from aiops_platform.judging import score

PROMPTS = Path(__file__).with_name("prompts")  # one <judge>.jinja2 per name in evaluation.JUDGES
# A TypedDict (Prompt Flow needs one for a class entry's output) with a float per judge.
Scores = TypedDict("Scores", dict.fromkeys(JUDGES, float))


class LLMJudges:
    def __init__(self) -> None:
        # An explicit __init__: Prompt Flow cannot inspect object.__init__ of a class entry.
        self.judges = tuple(JUDGES)  # online evaluation keeps those that need no ground truth

    def __call__(self, question: str, answer: str, context: str, ground_truth: str) -> Scores:
        fields = {"question": question, "answer": answer, "context": context, "ground_truth": ground_truth}
        return {name: score(PROMPTS / f"{name}.jinja2", **fields) for name in self.judges}

    def __aggregate__(self, line_results: list[Scores]) -> dict[str, float]:
        return mean_over_lines(line_results, self.judges)
