"""Summaries of the trace store: requests, latency percentiles, errors, tokens and cost per flow and variant.

Reads the JSON-lines spans `tracing` writes (locally, or exported from App Insights in the same
shape). A request is a root span; its tokens are the usage on every model call in its trace.
"""

from __future__ import annotations

import json
import math
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


def span_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders expanded to their spans-*.jsonl."""
    files = []
    for path in paths:
        files.extend(sorted(path.glob("spans-*.jsonl")) if path.is_dir() else [path])
    return files


def read_spans(paths: Iterable[Path]) -> list[dict[str, Any]]:
    spans = []
    for file in span_files(paths):
        with file.open(encoding="utf-8") as lines:
            spans.extend(json.loads(line) for line in lines if line.strip())
    return spans


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
        model = str(attributes.get("gen_ai.response.model") or attributes.get("gen_ai.request.model", ""))
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
