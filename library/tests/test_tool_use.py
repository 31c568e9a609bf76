"""Deterministic tool-use metrics (tool_use.py): a table of lines and the scores they must get, the
issue's acceptance scenarios at metric level, one-line errors for hostile lines, the dataset check,
and the parts azure-ai-evaluation computes without a model kept equal to it."""

from __future__ import annotations

import importlib.util
import itertools
import json
import random
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from aiops_platform import evaluation
from aiops_platform.data_validation import validate_jsonl
from aiops_platform.engines import RunRequest
from aiops_platform.engines.inprocess import InProcessEngine
from aiops_platform.flow_entry import load_entry
from aiops_platform.tool_use import (
    EXACT_PAIRING,
    METRICS,
    ToolCall,
    ToolUseError,
    ToolUseMetrics,
    _best_pairing,
    aggregate,
    arguments_matched,
    score_line,
    values_match,
)

SOP = {"name": "lookup_sop", "arguments": {"document": "SOP-QC-001"}}
SPEC = {"name": "check_spec_limit", "arguments": {"parameter": "assay", "value": 98.7}}
BATCH = {"name": "find_batch_record", "arguments": {"batch": "B-2024-017"}}
ANSWER = "Assay 98.7% is within the specification limit of 95.0-105.0%."
TRUTH = "within the specification limit"
NAMES = ("precision", "recall", "arguments", "no_unexpected", "completed")


def _scores(tool_calls, expected, answer=ANSWER, truth=TRUTH, turns=None) -> tuple:
    line = score_line(tool_calls, expected, answer, truth, turns)
    values = (
        line["tool_call_precision"],
        line["tool_call_recall"],
        line["argument_match"],
        line["no_unexpected_tool"],
        line["task_completed"],
    )
    return tuple(None if value is None else round(value, 4) for value in values)


# (id, calls made, calls expected, (precision, recall, argument_match, no_unexpected, completed)[, answer])
CASES = [
    ("right-tool-right-arguments", [SOP], [SOP], (1.0, 1.0, 1.0, 1.0, 1.0)),
    ("no-call-expected-none-made", [], [], (1.0, 1.0, None, 1.0, 1.0)),
    ("none-expected-none-made-as-null", None, [], (1.0, 1.0, None, 1.0, 1.0)),
    # the acceptance scenarios
    ("wrong-tool-called", [BATCH], [SOP], (0.0, 0.0, 0.0, 0.0, 1.0)),
    ("wrong-tool-besides-right-one", [SOP, BATCH], [SOP], (0.5, 1.0, 1.0, 0.0, 1.0)),
    ("needed-tool-skipped", [], [SOP], (1.0, 0.0, 0.0, 1.0, 1.0)),
    ("one-of-two-needed-tools-skipped", [BATCH], [BATCH, SPEC], (1.0, 0.5, 1 / 3, 1.0, 1.0)),
    ("misuse-tool-called-when-none-may-be", [SOP], [], (0.0, 1.0, None, 0.0, 1.0)),
    (
        "wrong-argument",
        [{"name": "lookup_sop", "arguments": {"document": "SOP-QC-002"}}],
        [SOP],
        (1.0, 1.0, 0.0, 1.0, 1.0),
    ),
    (
        "one-of-two-arguments-wrong",
        [{"name": "check_spec_limit", "arguments": {"parameter": "assay", "value": 97}}],
        [SPEC],
        (1.0, 1.0, 0.5, 1.0, 1.0),
    ),
    (
        "key-argument-missing",
        [{"name": "check_spec_limit", "arguments": {"value": 98.7}}],
        [SPEC],
        (1.0, 1.0, 0.5, 1.0, 1.0),
    ),
    # matching rules for values
    (
        "case-and-whitespace-ignored-extra-arguments-free",
        [{"name": "lookup_sop", "arguments": {"document": "  sop-qc-001 ", "section": "4"}}],
        [SOP],
        (1.0, 1.0, 1.0, 1.0, 1.0),
    ),
    (
        "numbers-compared-numerically",
        [{"name": "check_spec_limit", "arguments": {"parameter": "Assay", "value": "98.70"}}],
        [SPEC],
        (1.0, 1.0, 1.0, 1.0, 1.0),
    ),
    (
        "arguments-as-a-json-string-openai-form",
        [{"type": "function", "function": {"name": "lookup_sop", "arguments": '{"document": "SOP-QC-001"}'}}],
        [SOP],
        (1.0, 1.0, 1.0, 1.0, 1.0),
    ),
    (
        "arguments-not-a-json-object-count-as-none",
        [{"name": "lookup_sop", "arguments": "document=SOP-QC-001"}],
        [SOP],
        (1.0, 1.0, 0.0, 1.0, 1.0),
    ),
    (
        "arguments-a-json-list",
        [{"name": "lookup_sop", "arguments": ["SOP-QC-001"]}],
        [SOP],
        (1.0, 1.0, 0.0, 1.0, 1.0),
    ),
    ("expected-call-without-arguments", [SOP], [{"name": "lookup_sop"}], (1.0, 1.0, None, 1.0, 1.0)),
    # duplicates: multisets, and the pairing that matches the most arguments
    ("same-tool-called-twice-expected-once", [SOP, SOP], [SOP], (0.5, 1.0, 1.0, 1.0, 1.0)),
    ("expected-twice-called-once", [SOP], [SOP, SOP], (1.0, 0.5, 0.5, 1.0, 1.0)),
    (
        "duplicates-paired-for-the-most-arguments",
        [
            {"name": "lookup_sop", "arguments": {"document": "SOP-QC-001", "section": "4"}},
            {"name": "lookup_sop", "arguments": {"document": "SOP-QC-001", "section": "9"}},
        ],
        [
            {"name": "lookup_sop", "arguments": {"document": "SOP-QC-001"}},
            {"name": "lookup_sop", "arguments": {"document": "SOP-QC-001", "section": "4"}},
        ],
        (1.0, 1.0, 1.0, 1.0, 1.0),  # in dataset order, the first would take the `section 4` call: 2/3
    ),
    ("answer-misses-the-expected-answer", [SOP], [SOP], (1.0, 1.0, 1.0, 1.0, 0.0), "Assay is 98.7%."),
]


@pytest.mark.parametrize("case", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_line_scores_as_specified(case):
    tool_calls, expected, scores, *answer = case
    wanted = tuple(None if score is None else round(score, 4) for score in scores)
    assert _scores(tool_calls, expected, *answer) == wanted


@pytest.mark.parametrize(
    ("answer", "truth", "completed"),
    [
        (ANSWER, TRUTH, 1.0),
        (ANSWER, "outside the specification limit", 0.0),
        ("Within the limit of the specification.", TRUTH, 0.0),  # its tokens, but not as one run
        ("Limit specification within the.", "within the specification limit", 1.0),  # same tokens, any order
        ("Within the specification limit!", "within the specification limit", 1.0),
        ("12 months", "twelve months", 0.0),
        ("anything", "  the . ", None),  # nothing left to compare: not scored
        ("", TRUTH, 0.0),
    ],
    ids=[
        "contains",
        "other-answer",
        "scattered-tokens",
        "reordered",
        "punctuation-case",
        "digits-vs-words",
        "empty-expected",
        "empty-answer",
    ],
)
def test_task_completed(answer, truth, completed):
    assert score_line([], [], answer, truth)["task_completed"] == completed


@pytest.mark.parametrize(
    ("expected", "actual", "same"),
    [
        (12, 12.0, True),
        (12, "12", True),
        ("012", "12", False),  # two strings compare as text: ids keep their zeros
        (0.1 + 0.2, 0.3, True),
        (True, 1, False),
        (None, None, True),
        (None, "", False),
        (["A", 2], ["a ", 2.0], True),
        ({"lot": "L1"}, {"lot": "l1"}, True),
        ({"lot": "L1"}, {"lot": "L1", "x": 1}, False),
        (float("nan"), float("nan"), False),
        (10**400, 1e308, False),
    ],
)
def test_values_match(expected, actual, same):
    assert values_match(expected, actual) is same


def test_turns_to_answer_is_the_count_and_left_out_when_not_given():
    assert score_line([SOP], [SOP], ANSWER, TRUTH, turns=2)["turns_to_answer"] == 2.0
    assert score_line([SOP], [SOP], ANSWER, TRUTH)["turns_to_answer"] is None
    lines = [score_line([SOP], [SOP], ANSWER, TRUTH, 2), score_line([], [SOP], ANSWER, TRUTH, 1)]
    assert aggregate(lines)["turns_to_answer"] == 1.5


def test_aggregate_is_the_mean_of_each_metric_over_lines_that_have_one():
    lines = [
        score_line([SOP], [SOP], ANSWER, TRUTH, 2),  # all 1.0
        score_line([BATCH], [SOP], "no idea", TRUTH, 3),  # wrong tool, task not completed
        score_line([SOP], [], ANSWER, TRUTH, 2),  # misuse: argument_match None
        None,  # a failed line
    ]
    assert aggregate(lines) == pytest.approx(
        {
            "tool_call_precision": 1 / 3,
            "tool_call_recall": 2 / 3,
            "argument_match": 0.5,  # over the two lines that expect arguments
            "no_unexpected_tool": 1 / 3,
            "task_completed": 2 / 3,
            "turns_to_answer": 7 / 3,
        }
    )
    assert set(aggregate(lines)) == set(METRICS)
    assert aggregate([score_line([], [], "", "")]).keys() == {
        "tool_call_precision",
        "tool_call_recall",
        "no_unexpected_tool",
    }


def _line(calls=(), expected=(), answer=ANSWER, turns=None) -> dict:
    return {"tool_calls": calls, "expected_tool_calls": expected, "answer": answer, "turns": turns}


HOSTILE = [
    (
        "expected-not-a-list",
        _line([], {"name": "lookup_sop"}),
        "expected_tool_calls: a JSON object, not a list",
    ),
    ("expected-a-string", _line([], "lookup_sop"), "expected_tool_calls: a JSON string, not a list"),
    ("expected-item-not-object", _line([], ["lookup_sop"]), "expected_tool_calls[0]: a JSON string, not an"),
    ("expected-name-missing", _line([], [{"arguments": {}}]), "expected_tool_calls[0].name: missing, not a"),
    (
        "expected-name-number",
        _line([], [SOP, {"name": 7}]),
        "expected_tool_calls[1].name: a JSON number, not",
    ),
    (
        "expected-name-blank",
        _line([], [{"name": " "}]),
        "expected_tool_calls[0].name: empty, not a tool's name",
    ),
    (
        "expected-arguments-list",
        _line([], [{"name": "lookup_sop", "arguments": ["SOP-QC-001"]}]),
        "expected_tool_calls[0].arguments: a JSON list, not an object",
    ),
    (
        "expected-misspelt-key",
        _line([], [{"name": "lookup_sop", "argument": {"document": "x"}}]),
        'expected_tool_calls[0]: unknown key "argument" (a call has name and arguments)',
    ),
    (
        "expected-hostile-key",
        _line([], [{"name": "x", "a\nb" * 50: 1}]),
        'expected_tool_calls[0]: unknown key "a\\nba\\nba\\nba\\nba\\nba\\nba\\nba\\nba\\nb..." (a call',
    ),
    ("calls-not-a-list", _line("lookup_sop", []), "tool_calls: a JSON string, not a list of calls"),
    ("call-without-name", _line([{"arguments": {}}], []), "tool_calls[0].name: missing, not a tool's name"),
    ("call-not-object", _line([SOP, 3], [SOP]), "tool_calls[1]: a JSON number, not an object"),
    ("answer-not-text", _line([], [], answer=["x"]), "answer: a JSON list, not text"),
    ("turns-negative", _line([], [], turns=-1), "turns: -1, not a count of model turns"),
    ("turns-boolean", _line([], [], turns=True), "turns: a JSON boolean, not a count of model turns"),
    ("turns-text", _line([], [], turns="2"), "turns: a JSON string, not a count of model turns"),
]


@pytest.mark.parametrize(("line", "message"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_a_hostile_line_is_one_line_naming_the_field(line, message):
    with pytest.raises(ToolUseError) as raised:
        score_line(line["tool_calls"], line["expected_tool_calls"], line["answer"], TRUTH, line["turns"])
    text = str(raised.value)
    assert text.startswith(message) and "\n" not in text and len(text) < 200, text


def test_the_evaluator_runs_in_the_engine_with_a_column_mapping(tmp_path: Path):
    """As the agent kind's evaluator will run: a class entry, columns from the dataset and outputs
    from the base run; a hostile line fails alone, as one line, and the rest are aggregated."""
    module = tmp_path / "tool_use_metrics.py"
    module.write_text("from aiops_platform.tool_use import ToolUseMetrics\n", encoding="utf-8")
    data = tmp_path / "agent.jsonl"
    rows = [
        {"id": "1", "expected_tool_calls": [SOP], "ground_truth": TRUTH},
        {"id": "2", "expected_tool_calls": [], "ground_truth": TRUTH},
        {"id": "3", "expected_tool_calls": {"name": "x"}, "ground_truth": TRUTH},
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    outputs = [{"answer": ANSWER, "tool_calls": [SOP], "turns": 2}] * 3
    mapping = {
        "tool_calls": "${run.outputs.tool_calls}",
        "expected_tool_calls": "${data.expected_tool_calls}",
        "answer": "${run.outputs.answer}",
        "ground_truth": "${data.ground_truth}",
        "turns": "${run.outputs.turns}",
    }
    from aiops_platform.engines import RunResult

    base = RunResult(outputs=outputs, errors=[None] * 3, metrics={})
    request = RunRequest(
        Path(f"{module}:ToolUseMetrics"), data, mapping, 2, None, base=base, labels={}, project=tmp_path
    )
    result = InProcessEngine().run(request, lambda: None)
    assert result.errors[:2] == [None, None]
    assert result.errors[2] == "ToolUseError: expected_tool_calls: a JSON object, not a list of calls " + (
        "(an empty list: no tool may be called)"
    )
    assert result.metrics == {
        "tool_call_precision": 0.5,
        "tool_call_recall": 1.0,
        "argument_match": 1.0,
        "no_unexpected_tool": 0.5,
        "task_completed": 1.0,
        "turns_to_answer": 2.0,
    }
    assert isinstance(load_entry(Path(f"{module}:ToolUseMetrics"), tmp_path), ToolUseMetrics)


def test_data_validation_checks_expected_tool_calls_where_a_line_has_them(tmp_path: Path):
    data = tmp_path / "agent.jsonl"
    lines = [
        {"id": "ok", "expected_tool_calls": [SOP, {"name": "find_batch_record"}]},
        {"id": "misuse", "expected_tool_calls": []},
        {"id": "other-kind"},  # the column is optional
        {"id": "bad-1", "expected_tool_calls": [{"name": "lookup_sop", "arguments": "SOP-QC-001"}]},
        {"id": "bad-2", "expected_tool_calls": [{"tool": "lookup_sop"}]},
        {"id": "bad-3", "expected_tool_calls": None},
    ]
    data.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert [str(problem) for problem in validate_jsonl(data)] == [
        f"{data}:4: expected_tool_calls[0].arguments: a JSON string, not an object",
        f'{data}:5: expected_tool_calls[0]: unknown key "tool" (a call has name and arguments)',
        f"{data}:6: expected_tool_calls: a JSON null, not a list of calls "
        "(an empty list: no tool may be called)",
    ]


# ---- the same as the helpers they reuse, and as azure-ai-evaluation where it needs no model ----


def test_normalise_and_f1_are_the_qa_metrics_evaluators():
    """The project's qa_metrics scores with evaluation.normalise/token_f1 (which test_qa_metrics keeps
    equal to azure-ai-evaluation's F1ScoreEvaluator), the helpers tool_use.py's task_completed uses."""
    spec = importlib.util.spec_from_file_location(
        "qa_metrics_helpers", PROJECT_ROOT / "flows/eval_qa/qa_metrics.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rows = [json.loads(line) for line in (PROJECT_ROOT / "data/core_qa.jsonl").open(encoding="utf-8")]
    texts = [row[column] for row in rows for column in ("question", "ground_truth")]
    texts += ["", "  ", "The a an", "Ünïcode café: 36 months!", "x-ray X ray", ANSWER, TRUTH]
    pick = random.Random(3)
    for text in texts:
        assert evaluation.normalise(text) == module.normalise(text)
        for other in pick.sample(texts, 4):
            assert evaluation.token_f1(text, other) == module.f1(text, other), (text, other)


def _as_agent_messages(calls: list[dict]) -> list[dict]:
    """Calls in azure-ai-evaluation's agent message form, one assistant message per call."""
    return [
        {
            "role": "assistant",
            "content": [{"type": "tool_call", "tool_call_id": f"c{i}", "name": c["name"], "arguments": {}}],
        }
        for i, c in enumerate(calls)
    ]


def test_precision_and_recall_equal_azure_ai_evaluation_s_model_free_navigation_evaluator():
    """azure-ai-evaluation 1.18.10's only model-free tool-use evaluator is the private, experimental
    _TaskNavigationEfficiencyEvaluator: its name-only precision and recall (multisets) are ours where
    both sides have calls. It raises on an empty ground truth and scores no calls made 0.0, where we
    score 1.0 (nothing wrong called); it has no argument share (only exact argument sets) and no
    task or turn metric. Its agent evaluators (ToolCallAccuracy, IntentResolution, TaskAdherence)
    need a model."""
    from azure.ai.evaluation._evaluators._task_navigation_efficiency import (
        _TaskNavigationEfficiencyEvaluator,
    )

    theirs = _TaskNavigationEfficiencyEvaluator()
    tools = ["lookup_sop", "find_batch_record", "check_spec_limit", "list_documents"]
    pick = random.Random(27)
    for _ in range(60):
        made = [{"name": pick.choice(tools), "arguments": {}} for _ in range(pick.randint(1, 5))]
        expected = [{"name": pick.choice(tools), "arguments": {}} for _ in range(pick.randint(1, 4))]
        ours = score_line(made, expected)
        properties = theirs(response=_as_agent_messages(made), ground_truth=[c["name"] for c in expected])[
            "task_navigation_efficiency_properties"
        ]
        assert ours["tool_call_precision"] == pytest.approx(properties["precision_score"]), (made, expected)
        assert ours["tool_call_recall"] == pytest.approx(properties["recall_score"]), (made, expected)


def test_the_pairing_of_duplicate_calls_is_the_best_one():
    """Against every pairing, tried one by one, on random small lines; past EXACT_PAIRING calls a
    side, best-first pairs still score every call that matches on its own."""
    pick = random.Random(5)
    values = ["a", "b", "c"]
    for _ in range(150):
        expected = [
            ToolCall("t", {k: pick.choice(values) for k in "xyz"[: pick.randint(0, 3)]}) for _ in range(3)
        ]
        actual = [ToolCall("t", {k: pick.choice(values) for k in "xyz"}) for _ in range(pick.randint(0, 4))]
        size = min(len(expected), len(actual))
        tried = max(
            (
                sum(arguments_matched(e.arguments, a.arguments) for e, a in zip(es, as_, strict=True))
                for es in itertools.permutations(expected, size)
                for as_ in itertools.combinations(actual, size)
            ),
            default=0,
        )
        assert _best_pairing(expected, actual) == tried, (expected, actual)
    many = [ToolCall("t", {"n": n}) for n in range(EXACT_PAIRING + 4)]
    assert _best_pairing(many, list(reversed(many))) == len(many)
