"""One report for everything: two datasets x two variants, nothing overwritten, HTML self-contained."""

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app


@pytest.fixture
def two_variants(tiny_experiment: Path) -> Path:
    data = yaml.safe_load(tiny_experiment.read_text(encoding="utf-8"))
    data["flows"][0]["variants"] = [
        {"name": "baseline"},
        {"name": "concise", "inputs": {"prompt": {{ (cookiecutter.flow_kind ~ '_concise.jinja2') | jsonify }}}},
    ]
    data["gate"] = {"thresholds": {"qa_metrics.f1_score": 0.1}}
    tiny_experiment.write_text(yaml.safe_dump(data), encoding="utf-8")
    return tiny_experiment


@pytest.fixture
def report_folder(two_variants: Path, tmp_path: Path) -> Path:
    result = CliRunner().invoke(
        app, ["experiment", "run", "-f", str(two_variants), "--output", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    (folder,) = (tmp_path / "out").iterdir()
    return folder


RUNS = [(v, d) for v in ("baseline", "concise") for d in ("core_qa", "hard_qa")]


def test_every_variant_and_dataset_has_its_own_results(report_folder: Path):
    saved = json.loads((report_folder / "results.json").read_text(encoding="utf-8"))
    assert [(e["variant"], e["dataset"]) for e in saved["evaluations"]] == RUNS
    for variant, dataset in RUNS:
        assert (report_folder / {{ ('runs/' ~ cookiecutter.flow_kind) | jsonify }} / variant / dataset / "lines.jsonl").is_file()
        assert (report_folder / {{ ('evaluations/qa_metrics/' ~ cookiecutter.flow_kind) | jsonify }} / variant / dataset / "lines.jsonl").is_file()
    metrics = {(e["variant"], e["dataset"]): e["metrics"]["exact_match"] for e in saved["evaluations"]}
    assert metrics["baseline", "core_qa"] != metrics["concise", "core_qa"]  # the variants really differ


def test_markdown_summary_has_a_row_per_variant_and_dataset(report_folder: Path):
    summary = (report_folder / "summary.md").read_text(encoding="utf-8")
    for variant, dataset in RUNS:
        assert f"| {{ cookiecutter.flow_kind }} | {variant} | {dataset} | 3 | 0 |" in summary
    assert "**Gate: ✅ passed**" in summary


def test_html_report_is_self_contained_with_tables_charts_comparison_and_worst_lines(report_folder: Path):
    page = (report_folder / "report.html").read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"(src|href)=\"https?:", page)
    for variant, dataset in RUNS:
        assert f"<td>{variant}</td><td>{dataset}</td>" in page.replace('<td class="">', "<td>")
    assert page.count("<svg") >= 2 * 3  # a chart per dataset and metric
    assert "<h2>Variant comparison</h2>" in page and {{ ('<th>' ~ cookiecutter.flow_kind ~ '/concise</th>') | jsonify }} in page
    assert "Worst lines by qa_metrics.exact_match" in page
    assert "<h3>core_qa</h3>" in page and "<h3>hard_qa</h3>" in page
    assert "Gate passed" in page
