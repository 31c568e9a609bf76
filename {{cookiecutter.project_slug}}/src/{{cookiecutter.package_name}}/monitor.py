"""The production feedback loop over the trace store: summaries, samples, online scores.

Reads the JSON-lines spans `tracing` writes, or an App Insights export (`az monitor app-insights
query`) converted to the same shape. A request is a root span; its tokens are the usage on every
model call in its trace.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from {{ cookiecutter.package_name }}.monitoring_config import MonitoringConfig


@dataclass(frozen=True)
class Summary:
    flow: str
    variant: str
    requests: int
    errors: int
    p50_ms: float
    p95_ms: float
    input_tokens: int
    output_tokens: int
    cost: float

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


ONLINE_METRICS = ("groundedness", "relevance", "coherence", "fluency")  # judges that need no ground truth
VARIANT_INPUTS = ("prompt", "temperature", "top_k")  # what a variant sets: not data


class TraceReadError(ValueError):
    """A trace source is missing or is neither a span file nor an App Insights export."""


def span_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders expanded to their spans-*.jsonl; a store not created yet is empty."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("spans-*.jsonl")))
        elif path.is_file():
            files.append(path)
        elif path.suffix:
            raise TraceReadError(f"{path}: no such file")
    return files


def read_spans(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """Local span files, or `.json` App Insights exports (see `from_app_insights`)."""
    spans = []
    for file in span_files(paths):
        try:
            if file.suffix == ".json":
                spans.extend(from_app_insights(json.loads(file.read_text(encoding="utf-8"))))
                continue
            with file.open(encoding="utf-8") as lines:
                spans.extend(json.loads(line) for line in lines if line.strip())
        except (KeyError, TypeError, ValueError) as error:
            raise TraceReadError(f"{file}: not a span file or App Insights export ({error!r})") from error
    return spans


def from_app_insights(export: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of `APP_INSIGHTS_QUERY` (as `az monitor app-insights query` prints them) as spans."""
    spans = []
    for table in export["tables"]:
        columns = [column["name"] for column in table["columns"]]
        for values in table["rows"]:
            row = dict(zip(columns, values, strict=True))
            dimensions = row["customDimensions"]
            attributes = json.loads(dimensions) if isinstance(dimensions, str) else dict(dimensions or {})
            for name in ("gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens"):
                if name in attributes:
                    attributes[name] = int(attributes[name])
            start_ns = int(row["start_ms"]) * 1_000_000
            spans.append(
                {
                    "trace_id": row["operation_Id"],
                    "span_id": row["id"],
                    "parent_id": row["operation_ParentId"] or None,
                    "name": row["name"],
                    "start_ns": start_ns,
                    "end_ns": start_ns + int(float(row["duration"]) * 1_000_000),
                    "status": "UNSET" if str(row["success"]).lower() == "true" else "ERROR",
                    "attributes": attributes,
                }
            )
    return spans


# Flow and model-call spans, as the Azure Monitor exporter stores them (internal/client spans are
# dependencies); the online-evaluation pipeline runs it with `az monitor app-insights query`.
APP_INSIGHTS_QUERY = (
    'dependencies | where name startswith "flow " or name startswith "chat " '
    'or name startswith "embeddings " '
    "| project id, operation_Id, operation_ParentId, name, duration, success, customDimensions, "
    "start_ms = datetime_diff('millisecond', timestamp, datetime(1970-01-01))"
)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile: always one of the observed values."""
    ordered = sorted(values)
    return ordered[max(math.ceil(share * len(ordered)) - 1, 0)] if ordered else 0.0


def group_of(span: dict[str, Any]) -> tuple[str, str]:
    attributes = span["attributes"]
    name = attributes.get("aiops.flow") or attributes.get("aiops.evaluator") or span["name"]
    return str(name), str(attributes.get("aiops.variant", "-"))


def requests(spans: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Root spans: no parent, or a parent outside the store (a caller's span from another service)."""
    known = {span["span_id"] for span in spans}
    return [span for span in spans if span["parent_id"] is None or span["parent_id"] not in known]


def usage_by_trace(spans: list[dict[str, Any]]) -> dict[str, dict[tuple[str, str], int]]:
    """trace id -> (model, "input"/"output") -> tokens."""
    usage: dict[str, dict[tuple[str, str], int]] = defaultdict(lambda: defaultdict(int))
    for span in spans:
        attributes = span["attributes"]
        # The requested name (a deployment, or the configured model) is what the price list uses;
        # the response names a dated model version.
        model = str(attributes.get("gen_ai.request.model") or attributes.get("gen_ai.response.model", ""))
        for kind in ("input", "output"):
            usage[span["trace_id"]][model, kind] += int(attributes.get(f"gen_ai.usage.{kind}_tokens", 0))
    return usage


def summarise(spans: list[dict[str, Any]], config: MonitoringConfig) -> list[Summary]:
    usage = usage_by_trace(spans)
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for span in requests(spans):
        groups[group_of(span)].append(span)
    summaries = []
    for (flow, variant), roots in sorted(groups.items()):
        latencies = [(root["end_ns"] - root["start_ns"]) / 1e6 for root in roots]
        tokens: dict[tuple[str, str], int] = defaultdict(int)
        for root in roots:
            for key, count in usage.get(root["trace_id"], {}).items():
                tokens[key] += count
        summaries.append(
            Summary(
                flow=flow,
                variant=variant,
                requests=len(roots),
                errors=sum(root["status"] == "ERROR" for root in roots),
                p50_ms=percentile(latencies, 0.50),
                p95_ms=percentile(latencies, 0.95),
                input_tokens=sum(count for (_, kind), count in tokens.items() if kind == "input"),
                output_tokens=sum(count for (_, kind), count in tokens.items() if kind == "output"),
                cost=sum(config.cost(model, kind, count) for (model, kind), count in tokens.items()),
            )
        )
    return summaries


def sample(spans: list[dict[str, Any]], size: int, seed: int) -> list[dict[str, Any]]:
    """Up to `size` successful served requests as dataset lines, ground truth left empty for labelling.

    Experiment runs (spans labelled with a dataset) are not production traffic and are skipped.
    Seeded, so the same traces and seed give the same sample (and the same dataset version).
    """
    candidates = [
        span
        for span in requests(spans)
        if span["status"] != "ERROR"
        and "aiops.dataset" not in span["attributes"]
        and "aiops.inputs" in span["attributes"]
        and "aiops.outputs" in span["attributes"]
    ]
    candidates.sort(key=lambda span: span["span_id"])
    chosen = random.Random(seed).sample(candidates, min(size, len(candidates)))
    lines = []
    for span in sorted(chosen, key=lambda span: span["start_ns"]):
        try:
            inputs = json.loads(span["attributes"]["aiops.inputs"])
            outputs = json.loads(span["attributes"]["aiops.outputs"])
        except json.JSONDecodeError:  # written by an older version that cut the JSON text
            continue
        line = {"id": f"prod-{span['span_id']}", **inputs, **outputs, "ground_truth": ""}
        for knob in VARIANT_INPUTS:
            line.pop(knob, None)
        line["trace_id"] = span["trace_id"]
        lines.append(line)
    return lines


def labelled_lines(data: Path) -> int:
    """Lines of an earlier sample whose ground truth someone has filled in (0 if there is no file)."""
    if not data.is_file():
        return 0
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    return sum(bool(str(row.get("ground_truth", "")).strip()) for row in rows)


def mean_scores(scored: list[dict[str, Any]]) -> dict[str, float]:
    return {
        metric: sum(float(line[metric]) for line in scored) / len(scored)
        for metric in ONLINE_METRICS
        if scored and all(metric in line for line in scored)
    }
