"""Deterministic tool-use metrics: how an agent's tool calls on one dataset line compare with the
calls the line expects, whether its answer completes the task, and in how many model turns.

No model and nothing heavy is imported: the same inputs always give the same scores, so the gate
means the same offline and online. An evaluator flow scores a line with `ToolUseMetrics()(...)`
(per-line scores) and the run with its `__aggregate__` (the mean of each metric), as a project's
qa_metrics evaluator does; `score_line` is the same per-line function for other callers.

Inputs
- `expected_tool_calls` (a dataset column): a list of `{"name": <tool>, "arguments": {<key>: <value>}}`
  in any order, listing only the KEY arguments a right call must have (other arguments the agent
  passes are neither required nor penalised). `arguments` may be left out (no key arguments). An
  empty list means the line must not trigger any tool (the tool-misuse case). Anything else (not a
  list, an item that is not an object, a `name` that is not a non-empty string, `arguments` that
  is not an object, any other key, e.g. a misspelt `argument`) is a ToolUseError naming the field:
  `expected_tool_calls[1].arguments: a JSON list, not an object`. data_validation.py reports the
  same problems as `file:line: field: problem` before anything runs.
- `tool_calls` (the agent's output): the calls it made, in order; None means none. Each call is
  `{"name", "arguments"}` (extra keys such as `type`, `call_id` are ignored: Agent Framework's and
  azure-ai-evaluation's tool-call items fit) or OpenAI's `{"function": {"name", "arguments"}}`.
  Arguments may be an object or a JSON string holding one (as OpenAI sends them); arguments that
  are not a JSON object (a list, a number, text that does not parse) are the agent's mistake, not
  the data's: the call still counts by name and none of its arguments match. A call with no
  string name is a ToolUseError (`tool_calls[2].name: ...`): the flow's output is broken.
- `answer`, `ground_truth`: the final answer and the expected answer (strings).
- `turns`: how many model turns (model responses) the agent took to answer: each round of tool
  calls is one, the final answer another. None (not given) leaves turns_to_answer out.
Errors are one line (ToolUseError, a ValueError), never a traceback through a hostile value: they
name the field and the JSON kind found, not the value.

Per-line metrics (a float, or None when the line has nothing to score it on; None is left out of
the mean, so it neither helps nor hurts)
- Calls are matched by tool name (stripped, case-sensitive), as multisets: `matched` is, summed
  over tool names, min(times expected, times called). Calling a tool twice that is expected once
  matches once; the second call is an extra one.
- tool_call_precision = matched / calls made; 1.0 when no call was made (nothing wrong was called).
- tool_call_recall = matched / calls expected; 1.0 when the line expects none.
  So: no call expected and none made -> precision 1.0, recall 1.0; none expected but some made
  (misuse) -> precision 0.0 (recall stays 1.0, vacuously); a needed tool skipped -> recall drops
  (0.0 when it was the only one); a wrong tool called instead of the right one -> both drop.
- argument_match = expected key arguments matched / expected key arguments, over every expected
  call (an expected call that was never made has all its key arguments unmatched). Each expected
  call is paired with at most one actual call of the same name and each actual call with at most
  one expected call, choosing the pairing that matches the most arguments (exactly while one side
  has at most EXACT_PAIRING calls of that tool; beyond that best-scoring pairs first). A key
  argument matches when the paired call has the key with an equal value:
  - strings: equal with case and runs of whitespace ignored (`" SOP-QC-001 "` == `"sop-qc-001"`);
  - numbers: equal numerically (12 == 12.0; floats within a relative 1e-9), also against a string
    that spells a number when the other side is a JSON number ("12" == 12, but "012" != "12");
  - true/false only equal themselves (true != 1); null equals null;
  - lists: same length and equal item by item; objects: the same keys with equal values.
  None when the line expects no key arguments at all.
- no_unexpected_tool = 1.0 when every call made is to a tool the line expects (by name), else 0.0.
  For the misuse case (nothing expected) it is 1.0 exactly when no tool was called. Repeating an
  expected tool is not an unexpected tool (precision counts it).
- task_completed = 1.0 when the normalised expected answer (evaluation.normalise: the qa_metrics
  evaluator's SQuAD normalisation: lowercase, no punctuation or articles) appears as a run of
  whole tokens in the normalised answer, or the two hold the same tokens in any order (token F1
  1.0, evaluation.token_f1); else 0.0. None when the expected answer normalises to nothing.
- turns_to_answer = `turns` (a count: LOWER is better, unlike every other metric here).

Aggregates (`__aggregate__`): the mean of each metric over the lines that have one. Gate precision,
recall, argument_match, no_unexpected_tool and task_completed with minimums (`gate.thresholds`);
turns_to_answer (LOWER_IS_BETTER) with a maximum under `gate.maximums`, which also makes a rise
against the baseline its regression (gate.py).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict

from aiops_platform.evaluation import mean_over_lines, normalise, token_f1

EXACT_PAIRING = 8  # up to this many calls of one tool on the smaller side, the best pairing is exact
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_CALL_KEYS = frozenset({"name", "arguments"})


class ToolUseScores(TypedDict):
    """None (null) where a line has nothing to score (see the module's docstring). Declared `float`:
    Prompt Flow takes no Optional output."""

    tool_call_precision: float
    tool_call_recall: float
    argument_match: float
    no_unexpected_tool: float
    task_completed: float
    turns_to_answer: float


METRICS = tuple(ToolUseScores.__annotations__)
LOWER_IS_BETTER = frozenset({"turns_to_answer"})


class ToolUseError(ValueError):
    """A line the metrics cannot read, as one line: `field: problem`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field, self.problem = field, problem


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


def _kind(value: object) -> str:
    """A parsed JSON value's type as JSON names it (`a JSON list`)."""
    names = {dict: "object", list: "list", tuple: "list", str: "string", bool: "boolean", type(None): "null"}
    kind = names.get(type(value), "number" if isinstance(value, int | float) else type(value).__name__)
    return f"a JSON {kind}"


def _key_text(key: object) -> str:
    """A key as one short line, whatever it holds."""
    text = json.dumps(key, ensure_ascii=True) if isinstance(key, str) else repr(type(key).__name__)
    return text if len(text) <= 40 else text[:37] + '..."'


def expected_calls(value: object, where: str = "expected_tool_calls") -> list[ToolCall]:
    """A dataset line's expected calls, checked (ToolUseError names the field and the problem)."""
    if not isinstance(value, list):
        raise ToolUseError(
            where, f"{_kind(value)}, not a list of calls (an empty list: no tool may be called)"
        )
    calls = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise ToolUseError(at, f"{_kind(item)}, not an object with a name and arguments")
        unknown = sorted(map(_key_text, item.keys() - _CALL_KEYS))
        if unknown:
            raise ToolUseError(at, f"unknown key {', '.join(unknown)} (a call has name and arguments)")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            found = "missing" if "name" not in item else "empty" if isinstance(name, str) else _kind(name)
            raise ToolUseError(f"{at}.name", f"{found}, not a tool's name")
        arguments = item.get("arguments", {})
        if not isinstance(arguments, dict):
            raise ToolUseError(f"{at}.arguments", f"{_kind(arguments)}, not an object")
        calls.append(ToolCall(name.strip(), arguments))
    return calls


def actual_calls(value: object, where: str = "tool_calls") -> list[ToolCall]:
    """The agent's calls in order. Arguments that are not a JSON object count as none."""
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ToolUseError(where, f"{_kind(value)}, not a list of calls")
    calls = []
    for index, item in enumerate(value):
        at = f"{where}[{index}]"
        if not isinstance(item, dict):
            raise ToolUseError(at, f"{_kind(item)}, not an object with a name and arguments")
        call = item["function"] if "name" not in item and isinstance(item.get("function"), dict) else item
        name = call.get("name")
        if not isinstance(name, str) or not name.strip():
            found = "missing" if "name" not in call else "empty" if isinstance(name, str) else _kind(name)
            raise ToolUseError(f"{at}.name", f"{found}, not a tool's name")
        calls.append(ToolCall(name.strip(), _arguments(call.get("arguments"))))
    return calls


def _arguments(value: object) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):  # text that is not JSON, or nested past Python's limit
            return {}
    return value if isinstance(value, dict) else {}


def _as_number(value: object) -> float | int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()):
        return float(value.strip())
    return None


def values_match(expected: object, actual: object) -> bool:
    """Does an actual argument's value equal the expected one (the rules in the module docstring)?"""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    numeric = isinstance(expected, int | float) or isinstance(actual, int | float)
    if numeric:
        left, right = _as_number(expected), _as_number(actual)
        if left is None or right is None:
            return False
        if isinstance(left, int) and isinstance(right, int):
            return left == right
        try:
            return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-12)
        except OverflowError:  # an int too large for a float
            return False
    if isinstance(expected, str) and isinstance(actual, str):
        return " ".join(expected.casefold().split()) == " ".join(actual.casefold().split())
    if expected is None or actual is None:
        return expected is actual
    if isinstance(expected, list) and isinstance(actual, list | tuple):
        return len(expected) == len(actual) and all(map(values_match, expected, actual))
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            values_match(v, actual[k]) for k, v in expected.items()
        )
    return False


def arguments_matched(expected: Mapping[str, Any], actual: Mapping[str, Any]) -> int:
    """How many of the expected key arguments the actual call has with an equal value."""
    return sum(1 for key, value in expected.items() if key in actual and values_match(value, actual[key]))


def _best_pairing(expected: Sequence[ToolCall], actual: Sequence[ToolCall]) -> int:
    """The most key arguments any one-to-one pairing of these calls (all of one tool) matches."""
    if not expected or not actual:
        return 0
    weights = [[arguments_matched(e.arguments, a.arguments) for a in actual] for e in expected]
    if len(expected) > len(actual):  # weights[i][j]: i over the smaller side, j over the larger
        weights = [list(column) for column in zip(*weights, strict=True)]
    small, large = len(weights), len(weights[0])
    if small <= EXACT_PAIRING and large * (1 << small) * small <= 2_000_000:
        best = {0: 0}  # which of the smaller side are paired -> most arguments matched
        for j in range(large):
            step = dict(best)
            for used, total in best.items():
                for i in range(small):
                    if not used >> i & 1:
                        key, value = used | 1 << i, total + weights[i][j]
                        if value > step.get(key, -1):
                            step[key] = value
            best = step
        return max(best.values())
    pairs = sorted((-weights[i][j], i, j) for i in range(small) for j in range(large))
    taken_i: set[int] = set()
    taken_j: set[int] = set()
    total = 0
    for negative, i, j in pairs:
        if i not in taken_i and j not in taken_j:
            taken_i.add(i)
            taken_j.add(j)
            total -= negative
    return total


def task_completed(answer: str, ground_truth: str) -> float | None:
    """1.0 when the answer holds the expected answer (see the module docstring), else 0.0; None
    when the expected answer normalises to nothing."""
    expected = normalise(ground_truth).split()
    if not expected:
        return None
    tokens = normalise(answer).split()
    width = len(expected)
    held = any(tokens[start : start + width] == expected for start in range(len(tokens) - width + 1))
    return 1.0 if held or token_f1(answer, ground_truth) == 1.0 else 0.0


def _text(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ToolUseError(where, f"{_kind(value)}, not text")
    return value


def _turns(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        found = f"{value}" if isinstance(value, int) and not isinstance(value, bool) else _kind(value)
        raise ToolUseError("turns", f"{found}, not a count of model turns (a whole number from 0)")
    return float(value)


def score_line(
    tool_calls: object,
    expected_tool_calls: object,
    answer: object = "",
    ground_truth: object = "",
    turns: object = None,
) -> ToolUseScores:
    """One line's scores (the module docstring defines each); ToolUseError on a line it cannot read."""
    expected = expected_calls(expected_tool_calls)
    actual = actual_calls(tool_calls)
    answer_text, truth_text = _text(answer, "answer"), _text(ground_truth, "ground_truth")
    wanted, made = Counter(call.name for call in expected), Counter(call.name for call in actual)
    matched = sum((wanted & made).values())
    key_arguments = sum(len(call.arguments) for call in expected)
    matched_arguments = sum(
        _best_pairing([c for c in expected if c.name == name], [c for c in actual if c.name == name])
        for name in wanted.keys() & made.keys()
    )
    scores = {
        "tool_call_precision": matched / len(actual) if actual else 1.0,
        "tool_call_recall": matched / len(expected) if expected else 1.0,
        "argument_match": matched_arguments / key_arguments if key_arguments else None,
        "no_unexpected_tool": float(made.keys() <= wanted.keys()),
        "task_completed": task_completed(answer_text, truth_text),
        "turns_to_answer": _turns(turns),
    }
    return ToolUseScores(**scores)  # type: ignore[typeddict-item]  # None where nothing is scored


def aggregate(line_results: Iterable[Mapping[str, Any] | None]) -> dict[str, float]:
    """The mean of each metric over the lines that have one (None and failed lines left out)."""
    present = [
        {name: value for name, value in line.items() if value is not None} for line in line_results if line
    ]
    return mean_over_lines(present, METRICS)


class ToolUseMetrics:
    """The evaluator's entry, as an evaluator flow calls one: per line, then `__aggregate__`.

    Its parameters are the columns a column_mapping names: `tool_calls`, `answer` and `turns` from
    the agent run's outputs, `expected_tool_calls` and `ground_truth` from the dataset."""

    def __init__(self) -> None:
        """Nothing to set up; Prompt Flow reads a class entry's `__init__` (object's fails it)."""

    def __call__(
        self,
        tool_calls: list,
        expected_tool_calls: list,
        answer: str,
        ground_truth: str,
        turns: int | None = None,
    ) -> ToolUseScores:
        return score_line(tool_calls, expected_tool_calls, answer, ground_truth, turns)

    def __aggregate__(self, line_results: list[ToolUseScores]) -> dict[str, float]:
        return aggregate(line_results)
