"""A custom evaluator: one function in one file, plus one line in experiment.yaml.

Parameters are matched by name to the flow's outputs, then to the dataset's columns; numeric
results are averaged into the run's metrics.
"""

from typing import TypedDict


class Length(TypedDict):
    answer_words: float


def answer_length(answer: str) -> Length:
    return {"answer_words": float(len(answer.split()))}
