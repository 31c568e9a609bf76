"""Retrieval scored on its own: the metrics, the labels, and a degraded retriever failing the gate
on retrieval metrics while the answer metrics still pass."""

from __future__ import annotations

import importlib.util
import inspect
import json
import math
import random
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import sample_project
from typer.testing import CliRunner

from aiops_platform import report, retrieval
from aiops_platform.cli import app
from aiops_platform.engines import RunResult
from aiops_platform.experiment import GateConfig
from aiops_platform.flow_entry import load_entry
from aiops_platform.gate import check
from aiops_platform.jsonl import read_jsonl
from aiops_platform.results import EvaluationRecord, ExperimentResults

PROJECT = sample_project("rag")  # read here; what builds an index or runs works on `rag_copy`
_spec = importlib.util.spec_from_file_location("retrieval_evaluator", PROJECT / "evaluators/retrieval.py")
assert _spec and _spec.loader
evaluator = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(evaluator)

A = {"source": "a.md", "passage": "Balances are calibrated every six months."}
B = {"source": "b.md", "passage": "Pipettes are calibrated every twelve months."}
CHUNK_A = {
    "id": "a.md#1",
    "source": "a.md",
    "text": "Intro. Balances are  calibrated every six months. More.",
}
CHUNK_B = {"id": "b.md#4", "source": "b.md", "text": "Pipettes are calibrated every twelve months."}
OTHER = {
    "id": "c.md#2",
    "source": "c.md",
    "text": "Balances are calibrated every six months.",
}  # wrong document
IDEAL_2 = 1 + 1 / math.log2(3)  # ideal DCG with two labels


@pytest.fixture(scope="module")
def rag_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the rag sample: its retriever builds its index in the project (.aiops/index)."""
    return Path(shutil.copytree(PROJECT, tmp_path_factory.mktemp("rag") / PROJECT.name))


def _scores(ranking: list[dict], labels: list) -> dict[str, float] | None:
    return evaluator.scores(ranking, labels)


@pytest.mark.parametrize(
    ("ranking", "labels", "expected"),
    [
        ([CHUNK_A, CHUNK_B], [A, B], {"recall": 1.0, "precision": 2 / 3, "mrr": 1.0, "ndcg": 1.0}),
        (
            [OTHER, CHUNK_A, CHUNK_B],
            [A, B],
            {"recall": 1.0, "precision": 2 / 3, "mrr": 0.5, "ndcg": (1 / math.log2(3) + 0.5) / IDEAL_2},
        ),
        ([CHUNK_A], [A, B], {"recall": 0.5, "precision": 1 / 3, "mrr": 1.0, "ndcg": 1 / IDEAL_2}),
        ([OTHER, OTHER, OTHER, CHUNK_A], [A], {"recall": 0.0, "precision": 0.0, "mrr": 0.0, "ndcg": 0.0}),
        ([OTHER, OTHER, CHUNK_A], [A], {"recall": 1.0, "precision": 1 / 3, "mrr": 1 / 3, "ndcg": 0.5}),
        ([], [A], {"recall": 0.0, "precision": 0.0, "mrr": 0.0, "ndcg": 0.0}),
        (
            [OTHER, CHUNK_B],
            ["b.md"],
            {"recall": 1.0, "precision": 1 / 3, "mrr": 0.5, "ndcg": 1 / math.log2(3)},
        ),
    ],
    ids=["ideal", "one-miss-first", "k=1", "beyond-k", "third", "nothing", "whole-document"],
)
def test_metrics_on_hand_made_rankings(ranking: list[dict], labels: list, expected: dict[str, float]):
    assert _scores(ranking, labels) == pytest.approx(expected)


def test_a_line_without_labels_is_not_scored_and_left_out_of_the_means():
    metrics = evaluator.RetrievalMetrics()
    unlabelled, labelled = metrics([CHUNK_A], []), metrics([CHUNK_A, CHUNK_B], [A, B])
    assert unlabelled == {
        "recall_at_3": None,
        "precision_at_3": None,
        "mrr_at_3": None,
        "ndcg_at_3": None,
        "labels": 0,
    }
    assert metrics.__aggregate__([unlabelled, labelled]) == pytest.approx(
        {"recall_at_3": 1.0, "precision_at_3": 2 / 3, "mrr_at_3": 1.0, "ndcg_at_3": 1.0}
    )
    json.dumps(labelled)  # a flow output: JSON as it is


def test_ndcg_equals_azure_ai_evaluation_document_retrieval_ndcg_at_3():
    """Its `ndcg@3` on the same ranking: retrieved chunks become documents named by the label they
    hold (unlabelled ones by their chunk id), scored by rank."""
    from azure.ai.evaluation import DocumentRetrievalEvaluator

    azure = DocumentRetrievalEvaluator()
    rankings = [[OTHER, CHUNK_A, CHUNK_B], [CHUNK_A], [CHUNK_B, OTHER, CHUNK_A], [OTHER, OTHER, CHUNK_A]]
    for ranking in rankings:
        names = {"a.md#1": "A", "b.md#4": "B"}
        documents = [
            {
                "document_id": names.get(chunk["id"], f"{chunk['id']}@{rank}"),
                "relevance_score": float(10 - rank),
            }
            for rank, chunk in enumerate(ranking)
        ]
        truth = [{"document_id": name, "query_relevance_label": 1} for name in ("A", "B")]
        theirs = azure(retrieval_ground_truth=truth, retrieved_documents=documents)
        ours = _scores(ranking, [A, B])
        assert ours is not None
        assert theirs["document_retrieval_properties"]["ndcg@3"] == pytest.approx(ours["ndcg"]), ranking


def test_k_is_the_flow_s_default_top_k_and_named_in_the_metrics():
    top_k = inspect.signature(load_entry(PROJECT / "flows/rag")).parameters["top_k"].default
    assert top_k == evaluator.K
    names = [name for name in evaluator.RetrievalScores.__annotations__ if name != "labels"]
    assert names and all(name.endswith(f"_at_{evaluator.K}") for name in names)


def _rows() -> list[dict]:
    return [row for name in ("core_qa", "hard_qa") for row in read_jsonl(PROJECT / f"data/{name}.jsonl")]


@pytest.mark.parametrize("chunk_words", [20, retrieval.CHUNK_WORDS, 400])
def test_every_label_is_a_passage_of_its_document_at_any_chunk_size(chunk_words: int):
    """Labels name a document and a sentence, so they survive a change of chunk size (or an edit
    elsewhere in the document); an edited sentence shows here, not as a silent drop in recall."""
    chunks = [vars(chunk) for chunk in retrieval.chunk_documents(PROJECT / "data/docs", chunk_words)]
    for row in _rows():
        for label in row["relevant_passages"]:
            assert any(evaluator.holds(chunk, evaluator._label(label)) for chunk in chunks), (
                row["id"],
                label,
            )


def test_only_unanswerable_questions_have_no_labels():
    unlabelled = [row["id"] for row in _rows() if not row["relevant_passages"]]
    assert unlabelled == [row["id"] for row in _rows() if row["ground_truth"].startswith("I don't know")]


def _thresholds() -> dict[str, float | dict[str, float]]:
    experiment = yaml.safe_load((PROJECT / "experiment.yaml").read_text(encoding="utf-8"))
    return {
        key: value for key, value in experiment["gate"]["thresholds"].items() if key.startswith("retrieval.")
    }


def _retrieval_results(top_k: int, root: Path) -> dict:
    """Results as the gate reads them, from the project's own retriever at `top_k` (no model call)."""
    metrics = evaluator.RetrievalMetrics()
    evaluations = []
    for dataset in ("core_qa", "hard_qa"):
        lines = []
        for row in read_jsonl(PROJECT / f"data/{dataset}.jsonl"):
            chunks = [vars(chunk) for chunk in retrieval.retrieve(row["question"], top_k, root)]
            lines.append(metrics(chunks, row["relevant_passages"]))
        evaluations.append(
            {
                "evaluator": "retrieval",
                "flow": "rag",
                "variant": f"top{top_k}",
                "dataset": dataset,
                "metrics": metrics.__aggregate__(lines),
            }
        )
    return {"evaluations": evaluations}


def test_the_shipped_retriever_passes_the_retrieval_thresholds(rag_copy: Path):
    thresholds = _thresholds()
    assert {"retrieval.recall_at_3", "retrieval.mrr_at_3"} <= set(thresholds)
    report = check(_retrieval_results(evaluator.K, rag_copy), GateConfig(thresholds=thresholds))
    assert report.passed, [str(finding) for finding in report.failures]


def test_a_retriever_cut_to_one_chunk_fails_the_retrieval_thresholds(rag_copy: Path):
    report = check(_retrieval_results(1, rag_copy), GateConfig(thresholds=_thresholds()))
    assert not report.passed
    assert {finding.metric for finding in report.failures} == {"recall_at_3"}  # what it lost: passages


def _degraded_gate(
    root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: dict, shuffle: bool
) -> tuple:
    """`experiment run --gate` of the shipped experiment (its thresholds, retrieval and answer
    evaluators) on one degraded variant, in the rag project `root`."""
    monkeypatch.chdir(root)
    experiment = yaml.safe_load((root / "experiment.yaml").read_text(encoding="utf-8"))
    experiment["flows"][0]["variants"] = [variant]
    experiment["datasets"] = [d for d in experiment["datasets"] if d["name"] in ("core_qa", "hard_qa")]
    keep = {"qa_metrics", "judges", "retrieval"}
    experiment["evaluators"] = [e for e in experiment["evaluators"] if e["name"] in keep]
    thresholds = experiment["gate"]["thresholds"]
    experiment["gate"]["thresholds"] = {k: v for k, v in thresholds.items() if k.split(".")[0] in keep}
    file = root / f"experiment.{variant['name']}-degraded.yaml"  # in the project: it runs only its code
    file.write_text(yaml.safe_dump(experiment), encoding="utf-8")
    if shuffle:  # the index's scores now point at the wrong chunks: a corrupted index
        index = retrieval.load(root)
        shuffled = list(index.chunks)
        random.Random(0).shuffle(shuffled)
        monkeypatch.setattr(index, "chunks", shuffled)
    result = CliRunner().invoke(
        app, ["experiment", "run", "--gate", "-f", str(file), "--output", str(tmp_path)]
    )
    (saved,) = tmp_path.glob("*/results.json")
    return result, json.loads(saved.read_text(encoding="utf-8"))


@pytest.mark.slow
def test_top_k_1_fails_the_gate_on_retrieval_while_the_answer_metrics_pass(
    rag_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    top1 = {"name": "top1", "inputs": {"top_k": 1}}
    result, saved = _degraded_gate(rag_copy, tmp_path, monkeypatch, top1, False)
    assert result.exit_code == 1, result.output
    failures = saved["gate"]["failures"]
    assert failures and all(failure.startswith("retrieval.recall_at_3 on ") for failure in failures), failures
    summary = next(tmp_path.glob("*/summary.md")).read_text(encoding="utf-8")
    assert "## Retrieval vs answer" in summary and "| retrieval |" in summary


@pytest.mark.slow
def test_a_shuffled_index_fails_the_gate_and_the_report_points_at_retrieval(
    rag_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    result, saved = _degraded_gate(rag_copy, tmp_path, monkeypatch, {"name": "baseline"}, True)
    assert result.exit_code == 1, result.output
    failing = {failure.split(" on ")[0] for failure in saved["gate"]["failures"]}
    assert {"retrieval.recall_at_3", "retrieval.mrr_at_3"} <= failing
    summary = next(tmp_path.glob("*/summary.md")).read_text(encoding="utf-8")
    assert "| generation |" not in summary and "| retrieval |" in summary


def test_the_report_puts_retrieval_next_to_the_answer_and_names_the_failing_stage():
    def record(evaluator: str, variant: str, metrics: dict[str, float]) -> EvaluationRecord:
        return EvaluationRecord(evaluator, "rag", variant, "core_qa", RunResult([{}], [None], metrics))

    results = ExperimentResults(
        "x",
        "inprocess",
        [],
        [
            record("retrieval", "top1", {"recall_at_3": 0.8, "mrr_at_3": 1.0}),
            record("retrieval", "prompt", {"recall_at_3": 1.0, "mrr_at_3": 1.0}),
            record("qa_metrics", "top1", {"f1_score": 0.9}),
            record("qa_metrics", "prompt", {"f1_score": 0.2}),
        ],
    )
    gate = GateConfig(thresholds={"retrieval.recall_at_3": 0.95, "qa_metrics.f1_score": 0.6})
    columns, rows = report.retrieval_vs_answer(results, None, gate)
    assert columns == ["retrieval.recall_at_3", "retrieval.mrr_at_3", "qa_metrics.f1_score"]
    assert [(row.counts[1], row.verdict) for row in rows] == [("top1", "retrieval"), ("prompt", "generation")]
    summary = report.markdown(results, None, gate)
    assert "## Retrieval vs answer" in summary
    top1 = "| rag | top1 | core_qa | 1 | 0 | 0.800 · ≥ 0.950 FAIL | 1.000 · — | 0.900 · ≥ 0.600 pass |"
    assert f"{top1} retrieval |" in summary
    page = report.html(results, {}, None, gate)
    assert 'id="retrieval-vs-answer"' in page and 'data-verdict="generation"' in page
    no_retrieval = ExperimentResults("x", "inprocess", [], results.evaluations[2:])
    assert report.retrieval_vs_answer(no_retrieval) == ([], []) and "Retrieval vs" not in report.markdown(
        no_retrieval
    )
