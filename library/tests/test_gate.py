"""The gate fails on every metric, dataset and variant below its threshold, and on regressions."""

import json
import math
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from aiops_platform.cli import app
from aiops_platform.experiment import GateConfig
from aiops_platform.gate import MIN_PAIRED_LINES, BaselineError, check, newly_failing

runner = CliRunner()


def _results(**metrics_by_dataset: dict[str, float]) -> dict:
    return {
        "evaluations": [
            {"evaluator": "qa_metrics", "flow": "qa", "variant": "v1", "dataset": dataset, "metrics": metrics}
            for dataset, metrics in metrics_by_dataset.items()
        ]
    }


def _with_gate(experiment: Path, gate: dict) -> Path:
    data = yaml.safe_load(experiment.read_text(encoding="utf-8"))
    data["gate"] = gate
    experiment.write_text(yaml.safe_dump(data), encoding="utf-8")
    return experiment


def test_every_metric_below_its_threshold_is_named():
    gate = GateConfig(thresholds={"qa_metrics.f1_score": {"core": 0.8, "hard": 0.5}, "qa_metrics.em": 0.9})
    report = check(_results(core={"f1_score": 0.9, "em": 0.5}, hard={"f1_score": 0.4, "em": 1.0}), gate)
    assert not report.passed
    assert sorted(str(f) for f in report.failures) == [
        "qa_metrics.em on core (flow qa, variant v1): 0.500 is below the threshold 0.900",
        "qa_metrics.f1_score on hard (flow qa, variant v1): 0.400 is below the threshold 0.500",
    ]


def test_a_run_whose_every_line_failed_fails_the_gate_instead_of_escaping_it():
    results = _results(core={"f1_score": 0.9})  # hard's run failed on every line: no evaluation of it
    results["runs"] = [
        {"flow": "qa", "variant": "v1", "dataset": "core", "lines": 5, "failed": 1},
        {"flow": "qa", "variant": "v1", "dataset": "hard", "lines": 5, "failed": 5},
    ]
    report = check(results, GateConfig(thresholds={"qa_metrics.f1_score": 0.5}))
    assert [str(f) for f in report.failures] == [
        "run.lines on hard (flow qa, variant v1): 5 of 5 lines failed, so nothing was evaluated"
    ]
    assert check(results, GateConfig()).passed  # nothing gated: the command's own exit code says it


def test_reachable_thresholds_pass_and_a_missing_metric_fails():
    assert check(_results(core={"f1_score": 0.9}), GateConfig(thresholds={"qa_metrics.f1_score": 0.5})).passed
    report = check(_results(core={"f1_score": 0.9}), GateConfig(thresholds={"qa_metrics.recall": 0.5}))
    assert "no such metric (produced: ['f1_score'])" in str(report.failures[0])


def test_a_drop_beyond_the_tolerance_is_a_regression_with_its_delta():
    baseline = _results(core={"f1_score": 0.90, "em": 0.50})
    current = _results(core={"f1_score": 0.80, "em": 0.49})
    report = check(current, GateConfig(tolerance=0.02), baseline)
    assert [str(f) for f in report.regressions] == [
        "qa_metrics.f1_score on core (flow qa, variant v1): 0.800 regressed -0.100 from baseline 0.900 "
        "(tolerance 0.020; no per-line scores to pair, significance not tested)"
    ]
    assert not report.passed
    assert round(report.deltas[("qa_metrics", "qa", "v1", "core"), "em"].change, 3) == -0.01
    assert check(current, GateConfig(tolerance=0.02, fail_on_regression=False), baseline).passed


def _scored(line_scores: list[float]) -> dict:
    """Results whose f1_score on `core` is these per-line scores (ids l00, l01, ...)."""
    results = _results(core={"f1_score": sum(line_scores) / len(line_scores)})
    results["evaluations"][0]["line_metrics"] = {
        "f1_score": {f"l{i:02}": s for i, s in enumerate(line_scores)}
    }
    return results


# A kept-back pair against one baseline of 20 lines: both drop the mean by 0.06, beyond a 0.05
# tolerance. In the real drop nearly every line loses a little; in the noise lines move both ways.
BASELINE_LINES = [0.9, 0.7, 0.8, 0.6, 1.0, 0.5, 0.9, 0.7, 0.8, 0.6] * 2
REAL_DROP = [score - 0.06 + (0.02 if i % 2 else -0.02) for i, score in enumerate(BASELINE_LINES)]
NOISE = [score + (0.3 if i % 2 == 0 else -0.42) for i, score in enumerate(BASELINE_LINES)]


def test_a_real_drop_is_a_regression_and_noise_of_the_same_size_is_not():
    gate, baseline = GateConfig(tolerance=0.05), _scored(BASELINE_LINES)
    drop, noise = check(_scored(REAL_DROP), gate, baseline), check(_scored(NOISE), gate, baseline)
    key = (("qa_metrics", "qa", "v1", "core"), "f1_score")
    assert round(drop.deltas[key].change, 3) == round(noise.deltas[key].change, 3) == -0.06
    (finding,) = drop.regressions
    assert "regressed -0.060" in str(finding) and "over 20 lines" in str(finding)
    assert drop.deltas[key].significant and not drop.passed
    assert noise.deltas[key].significant is False and noise.regressions == [] and noise.passed


def test_a_baseline_scored_by_another_model_is_not_compared_and_the_report_says_why():
    """A fork's pull request runs the offline model; main's baseline came from the real one."""
    baseline, current = _scored(BASELINE_LINES), _scored(REAL_DROP)
    real = {"provider": "azure_openai", "model": "gpt-4o-mini", "endpoint": "dev.openai.azure.com"}
    baseline["model"] = real
    current["model"] = {"provider": "offline", "model": "offline-extractive", "endpoint": "offline"}
    report = check(current, GateConfig(tolerance=0.05), baseline)
    assert report.passed and report.regressions == [] and report.deltas == {}
    assert report.baseline_note == (
        "baseline not compared: it was scored by azure_openai gpt-4o-mini (dev.openai.azure.com), "
        "this run by offline offline-extractive (offline); the thresholds alone decide"
    )
    current["model"] = baseline["model"]  # the same model: the drop is found
    assert not check(current, GateConfig(tolerance=0.05), baseline).passed


def test_too_few_paired_lines_fall_back_to_the_tolerance_and_say_so():
    report = check(_scored([0.5, 0.4, 0.3]), GateConfig(tolerance=0.05), _scored([0.9, 0.8, 0.7]))
    (finding,) = report.regressions
    assert "only 3 paired lines, too few to test significance" in str(finding)


def test_run_with_gate_exits_1_naming_the_failure(tiny_experiment: Path, tmp_path: Path):
    _with_gate(tiny_experiment, {"thresholds": {"qa_metrics.f1_score": 0.99}})
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["experiment", "run", "--gate", "-f", str(tiny_experiment), "--output", str(out)]
    )
    assert result.exit_code == 1
    assert "qa_metrics.f1_score on hard_qa (flow qa, variant default)" in result.output
    assert "Gate failed" in result.output
    (folder,) = out.iterdir()
    assert json.loads((folder / "results.json").read_text(encoding="utf-8"))["gate"]["passed"] is False


def test_run_without_gate_says_its_findings_are_not_enforced(tiny_experiment: Path, tmp_path: Path):
    """make experiment exits 0 whatever the gate finds: its verdict cannot be read as make gate's."""
    _with_gate(tiny_experiment, {"thresholds": {"qa_metrics.f1_score": 0.99}})
    out = tmp_path / "out"
    result = runner.invoke(app, ["experiment", "run", "-f", str(tiny_experiment), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert re.search(
        r"Gate \(not enforced by make experiment\): \d+ findings?; make gate fails on them", result.output
    )
    assert "Gate failed" not in result.output and "finding(s)" not in result.output


def test_run_with_a_reachable_gate_passes(tiny_experiment: Path, tmp_path: Path):
    _with_gate(
        tiny_experiment,
        {"thresholds": {"qa_metrics.f1_score": 0.1, "qa_metrics.exact_match": {"core_qa": 1.0}}},
    )
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["experiment", "run", "--gate", "-f", str(tiny_experiment), "--output", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Gate passed" in result.output


def test_baseline_deltas_show_in_the_summary_and_saved_results_can_be_gated(
    tiny_experiment: Path, tmp_path: Path
):
    runner.invoke(app, ["experiment", "run", "-f", str(tiny_experiment), "--output", str(tmp_path / "main")])
    (main_results,) = (tmp_path / "main").glob("*/results.json")
    inflated = json.loads(main_results.read_text(encoding="utf-8"))
    for evaluation in inflated["evaluations"]:
        evaluation["metrics"] = {name: value + 0.5 for name, value in evaluation["metrics"].items()}
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(inflated), encoding="utf-8")

    arguments = ["-f", str(tiny_experiment), "--baseline", str(baseline)]
    result = runner.invoke(app, ["experiment", "run", *arguments, "--output", str(tmp_path / "pr")])
    (summary,) = (tmp_path / "pr").glob("*/summary.md")
    assert "(-0.500, regressed)" in summary.read_text(encoding="utf-8")
    assert "regressed -0.500" in result.output

    gated = runner.invoke(app, ["experiment", "gate", str(main_results), *arguments])
    assert gated.exit_code == 1 and "regressed" in gated.output

    inflated["model"] = {"provider": "openai", "model": "gpt-4o", "endpoint": "api.openai.com"}
    baseline.write_text(json.dumps(inflated), encoding="utf-8")
    note = "Offline stand-in model: a pull request from a fork."
    other = runner.invoke(
        app,
        ["experiment", "run", *arguments, "--output", str(tmp_path / "fork")],
        env={"AIOPS_RUN_NOTE": note},
    )
    assert other.exit_code == 0 and "regressed" not in other.output
    (summary,) = (tmp_path / "fork").glob("*/summary.md")
    text = summary.read_text(encoding="utf-8")
    assert "> Model: offline offline-extractive\n" in text and f"> {note}\n" in text
    assert "> Baseline not compared: it was scored by openai gpt-4o (api.openai.com)" in text
    saved = json.loads(summary.with_name("results.json").read_text(encoding="utf-8"))
    assert saved["note"] == note and saved["model"]["provider"] == "offline"


def _lines(scores: dict[str, float]) -> dict:
    """Results whose f1_score on `core` is these per-line scores, by line id."""
    results = _results(core={"f1_score": sum(scores.values()) / len(scores)})
    results["evaluations"][0]["line_metrics"] = {"f1_score": scores}
    return results


TEN_LINES = {f"core-{i:02}": 0.9 for i in range(10)}
TWO_BROKEN = TEN_LINES | {"core-03": 0.0, "core-07": 0.1}  # the mean still passes: 0.73


def test_a_line_that_passed_on_the_baseline_and_fails_now_is_named_with_its_metric():
    gate = GateConfig(thresholds={"qa_metrics.f1_score": 0.6})
    report = check(_lines(TWO_BROKEN | {"core-09": 0.5}), gate, _lines(TEN_LINES | {"core-09": 0.5}))
    assert report.passed  # listed, not failed: no max_new_failures on `core`
    assert [str(failure) for failure in report.new_failures] == [
        "core line core-03 (qa/v1): qa_metrics.f1_score 0.000 (was 0.900, threshold 0.600)",
        "core line core-07 (qa/v1): qa_metrics.f1_score 0.100 (was 0.900, threshold 0.600)",
    ]  # core-09 failed on the baseline too: not new


def test_more_new_failures_than_max_new_failures_fail_the_gate_in_one_line_naming_them():
    thresholds = {"qa_metrics.f1_score": 0.6}
    strict = check(_lines(TWO_BROKEN), GateConfig(thresholds=thresholds, max_new_failures={"core": 1}),
                   _lines(TEN_LINES))  # fmt: skip
    assert [str(finding) for finding in strict.failures] == [
        "lines.new_failures on core (flow qa, variant v1): 2 lines passed on the baseline and fail now, "
        "1 allowed (max_new_failures): core-03, core-07"
    ]
    allowed = GateConfig(thresholds=thresholds, max_new_failures={"core": 2})
    assert check(_lines(TWO_BROKEN), allowed, _lines(TEN_LINES)).passed


def test_a_line_that_errors_now_or_scores_nan_after_passing_on_the_baseline_is_newly_failing():
    gate = GateConfig(thresholds={"qa_metrics.f1_score": 0.6}, max_new_failures={"core": 0})
    nine = {line: score for line, score in TEN_LINES.items() if line != "core-04"}
    now = _lines(nine | {"core-05": math.nan})
    now["evaluations"][0]["failed_lines"] = ["core-04"]
    report = check(now, gate, _lines(TEN_LINES))
    assert [str(failure) for failure in report.new_failures] == [
        "core line core-04 (qa/v1): qa_metrics.f1_score errored (was 0.900, threshold 0.600)",
        "core line core-05 (qa/v1): qa_metrics.f1_score nan (was 0.900, threshold 0.600)",
    ]
    assert not report.passed
    assert check(_lines(nine), gate, _lines(TEN_LINES)).new_failures == []  # not run now: not compared


def test_a_damaged_baseline_s_line_scores_are_not_compared_and_do_not_crash_the_gate():
    gate = GateConfig(thresholds={"qa_metrics.f1_score": 0.6})
    for damaged in ({"core-01": "0.9", "core-02": None, "core-03": math.nan, "core-04": True}, [0.9]):
        baseline = _results(core={"f1_score": 0.9})
        baseline["evaluations"][0]["line_metrics"] = {"f1_score": damaged}
        assert newly_failing(_lines(TWO_BROKEN), baseline, gate) == []


def _hostile(change) -> dict:
    """A baseline of TEN_LINES (copied: the change edits it in place), changed."""
    baseline = _lines(dict(TEN_LINES))
    return change(baseline) or baseline


HOSTILE_BASELINES = {
    "line-score-a-string": (
        lambda b: b["evaluations"][0]["line_metrics"]["f1_score"].update({"core-01": "0.9"}),
        'evaluations[0].line_metrics.f1_score.core-01 is "0.9", not a number',
    ),
    "line-score-null": (
        lambda b: b["evaluations"][0]["line_metrics"]["f1_score"].update({"core-01": None}),
        "evaluations[0].line_metrics.f1_score.core-01 is null, not a number",
    ),
    "line-scores-a-list": (
        lambda b: b["evaluations"][0]["line_metrics"].update({"f1_score": [0.9]}),
        "evaluations[0].line_metrics.f1_score is a JSON list, not an object",
    ),
    "a-list-not-a-mapping": (lambda b: [b], "is a JSON list, not a results.json object"),
    "no-metrics": (
        lambda b: {"evaluations": [{k: v for k, v in b["evaluations"][0].items() if k != "metrics"}]},
        "evaluations[0] has no 'metrics'",
    ),
    "metric-null": (
        lambda b: b["evaluations"][0]["metrics"].update({"f1_score": None}),
        "evaluations[0].metrics.f1_score is null, not a number",
    ),
}


@pytest.mark.parametrize(("change", "said"), HOSTILE_BASELINES.values(), ids=HOSTILE_BASELINES.keys())
def test_a_hostile_baseline_fails_the_gate_in_one_line_naming_the_file_and_what_is_wrong(
    tiny_experiment: Path, tmp_path: Path, change, said
):
    """It crashed _compare with a traceback; comparing nothing instead would let the gate pass."""
    with pytest.raises(BaselineError, match=re.escape(said)):
        check(_lines(TWO_BROKEN), GateConfig(thresholds={"qa_metrics.f1_score": 0.6}), _hostile(change))
    _with_gate(tiny_experiment, {"thresholds": {"qa_metrics.f1_score": 0.1}})
    baseline, results = tmp_path / "main.json", tmp_path / "results.json"
    baseline.write_text(json.dumps(_hostile(change)), encoding="utf-8")
    results.write_text(json.dumps(_lines(TEN_LINES)), encoding="utf-8")
    arguments = ["-f", str(tiny_experiment), "--baseline", str(baseline)]
    saved = ["experiment", "gate", str(results), *arguments]
    for command in (saved, ["experiment", "run", "--gate", *arguments, "--output", str(tmp_path / "out")]):
        gated = runner.invoke(app, command)
        assert gated.exit_code == 1, gated.output
        assert gated.exception is None or isinstance(gated.exception, SystemExit), gated.exception
        (error,) = [line for line in gated.output.splitlines() if line.startswith("Error")]
        assert error.startswith(f"Error baseline {baseline}: {said}")
    assert not (tmp_path / "out").exists()  # refused before the run


def test_without_a_baseline_or_per_line_scores_nothing_is_newly_failing_and_the_summary_says_why():
    gate = GateConfig(thresholds={"qa_metrics.f1_score": 0.6}, max_new_failures={"core": 0})
    assert check(_lines(TWO_BROKEN), gate).new_failures == []
    unpaired = check(_lines(TWO_BROKEN), gate, _results(core={"f1_score": 0.9}))
    assert unpaired.new_failures == []  # the drop of the mean still fails, by the tolerance alone
    assert unpaired.significance_note == (
        "Significance not tested for 1 of 1 compared metrics, the tolerance alone decides for them; "
        "without per-line scores (no line compared): qa_metrics.f1_score on core"
    )
    few = check(_scored([0.5, 0.6, 0.7]), GateConfig(tolerance=0.5), _scored([0.5, 0.6, 0.7]))
    assert few.passed and few.significance_note.endswith(
        f"fewer than {MIN_PAIRED_LINES} paired lines: qa_metrics.f1_score on core"
    )
    assert check(_lines(TEN_LINES), gate, _lines(TEN_LINES)).significance_note == ""


def test_max_new_failures_names_only_datasets_of_the_experiment(tiny_experiment: Path, tmp_path: Path):
    _with_gate(tiny_experiment, {"max_new_failures": {"core_qa": 0, "nightly": 1}})
    result = runner.invoke(app, ["experiment", "validate", "-f", str(tiny_experiment)])
    assert result.exit_code != 0 and "gate.max_new_failures: unknown datasets ['nightly']" in result.output


# Lower-is-better metrics (tool_use.turns_to_answer): a maximum under gate.maximums, a rise regresses.
TURNS = GateConfig(maximums={"tool_use.turns_to_answer": 3})


def _turns(
    per_line: dict[str, float], dataset: str = "core", evaluator: str = "tool_use", **other: float
) -> dict:
    """Results whose `evaluator`.turns_to_answer on `dataset` is these per-line counts, by line id."""
    mean = sum(per_line.values()) / len(per_line)
    evaluation = {"evaluator": evaluator, "flow": "agent", "variant": "v1", "dataset": dataset}
    evaluation |= {
        "metrics": {"turns_to_answer": mean, **other},
        "line_metrics": {"turns_to_answer": per_line},
    }
    return {"evaluations": [evaluation]}


def test_a_maximum_passes_at_and_below_it_and_fails_above_naming_the_metric_dataset_and_values():
    assert check(_turns({"a": 3.0, "b": 3.0}), TURNS).passed  # at the maximum
    assert check(_turns({"a": 1.0, "b": 2.0}), TURNS).passed
    report = check(_turns({"a": 3.0, "b": 4.0}), TURNS)
    assert [str(finding) for finding in report.failures] == [
        "tool_use.turns_to_answer on core (flow agent, variant v1): 3.500 is above the maximum 3.000"
    ]
    per_dataset = GateConfig(maximums={"tool_use.turns_to_answer": {"hard": 2}})
    assert check(_turns({"a": 5.0}), per_dataset).passed  # `core` has no maximum
    assert not check(_turns({"a": 2.5}, dataset="hard"), per_dataset).passed
    not_a_number = _turns({"a": 2.0})
    not_a_number["evaluations"][0]["metrics"]["turns_to_answer"] = math.nan  # below and above nothing
    assert "nan is not a number" in str(check(not_a_number, TURNS).failures[0])
    both = GateConfig(thresholds={"tool_use.f1_score": 0.5}, maximums=TURNS.maximums)
    (finding,) = check(_turns({"a": 1.0}, f1_score=0.2), both).failures  # a minimum beside it, as before
    assert finding.message == "0.200 is below the threshold 0.500"


def test_a_rise_of_a_metric_under_maximums_is_the_regression_and_a_fall_is_not():
    ten = [f"l{i:02}" for i in range(10)]
    baseline = _turns(dict.fromkeys(ten, 2.0))
    fewer = check(_turns(dict.fromkeys(ten, 1.0)), TURNS, baseline)
    assert fewer.passed and fewer.regressions == []  # an improvement: it was a "drop" before
    more = check(_turns(dict.fromkeys(ten, 2.5)), TURNS, baseline)  # still within the maximum
    assert [str(finding) for finding in more.regressions] == [
        "tool_use.turns_to_answer on core (flow agent, variant v1): 2.500 regressed +0.500 from baseline "
        "2.000 (tolerance 0.020, lower is better; 95% interval [+0.500, +0.500] over 10 lines)"
    ]
    assert not more.passed
    within = GateConfig(maximums=TURNS.maximums, tolerance=0.5)  # a rise of exactly the tolerance
    assert check(_turns(dict.fromkeys(ten, 2.5)), within, baseline).passed
    # a metric with a minimum (or none) keeps its direction: its drop regresses, its rise does not
    lower_f1 = check(
        _turns(dict.fromkeys(ten, 2.0), f1_score=0.5), TURNS, _turns(dict.fromkeys(ten, 2.0), f1_score=0.9)
    )
    assert [finding.metric for finding in lower_f1.regressions] == ["f1_score"]


def test_a_line_that_newly_exceeds_a_maximum_is_newly_failing_and_counts_against_max_new_failures():
    baseline = _turns({"l1": 2.0, "l2": 3.0, "l3": 4.0, "l4": 1.0})
    now = _turns({"l1": 4.0, "l2": 3.0, "l3": 5.0, "l4": 1.0})  # l3 exceeded the maximum before too
    gate = GateConfig(maximums=TURNS.maximums, max_new_failures={"core": 0}, fail_on_regression=False)
    report = check(now, gate, baseline)
    assert [str(failure) for failure in report.new_failures] == [
        "core line l1 (agent/v1): tool_use.turns_to_answer 4.000 (was 2.000, maximum 3.000)"
    ]
    assert [str(finding) for finding in report.failures] == [
        "tool_use.turns_to_answer on core (flow agent, variant v1): 3.250 is above the maximum 3.000",
        "lines.new_failures on core (flow agent, variant v1): 1 lines passed on the baseline and fail now, "
        "0 allowed (max_new_failures): l1",
    ]
    fewer = check(_turns({"l1": 1.0, "l2": 1.0, "l3": 1.0, "l4": 1.0}), gate, baseline)
    assert fewer.new_failures == [] and fewer.passed  # fewer turns on every line: nothing newly fails


def test_saved_results_gated_with_a_maximum_from_experiment_yaml(tiny_experiment: Path, tmp_path: Path):
    _with_gate(tiny_experiment, {"maximums": {"qa_metrics.turns_to_answer": {"core_qa": 3}}})
    results = tmp_path / "results.json"  # qa_metrics: the tiny experiment's only evaluator
    results.write_text(json.dumps(_turns({"a": 4.0}, "core_qa", "qa_metrics")), encoding="utf-8")
    gated = runner.invoke(app, ["experiment", "gate", str(results), "-f", str(tiny_experiment)])
    assert gated.exit_code == 1, gated.output
    assert "qa_metrics.turns_to_answer on core_qa (flow agent, variant v1): 4.000 is above the maximum" in (
        " ".join(gated.output.split())
    )
