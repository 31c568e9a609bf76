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
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, cast

from aiops_platform import governance, paths
from aiops_platform.data_validation import validate_jsonl
from aiops_platform.evaluation import ONLINE_JUDGES, mean_over_lines
from aiops_platform.flow_entry import load_entry
from aiops_platform.jsonl import lines, read_jsonl, write_jsonl
from aiops_platform.monitoring_config import MonitoringConfig
from aiops_platform.problems import report


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


@dataclass(frozen=True)
class ToolSummary:
    """An agent's calls of one tool (its `execute_tool` spans), wherever in a request they ran."""

    tool: str
    calls: int
    errors: int
    p50_ms: float
    p95_ms: float


VARIANT_INPUTS = ("prompt", "temperature", "top_k")  # what a variant sets: not data
SAMPLE_COLUMNS = frozenset({"question", "answer", "ground_truth"})  # every sampled line has these
# Samples are real user requests: by default local state (git-, docker- and amlignored), registered as
# data-asset versions; committing one under data/ is a choice (`monitor sample --output data/...`).
SAMPLES = paths.STATE / "samples"
SAMPLE_NAME = paths.SAMPLE_NAME
# A sample's data asset is named after the use case: <use case>_<sample name>.


def sample_asset_prefix() -> str:
    return governance.load().use_case.lower() + "_"


class TraceReadError(ValueError):
    """A trace source is missing or is neither a span file nor an App Insights export."""


class SampleError(ValueError):
    """The sample cannot be written: it would overwrite labelled lines, or it is not a valid dataset."""


class OnlineEvaluationError(RuntimeError):
    """No line could be scored, or the model is unusable (not configured, unreachable, refusing)."""


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


SPAN_KEYS = frozenset(
    {"name", "trace_id", "span_id", "parent_id", "start_ns", "end_ns", "status", "attributes"}
)


def read_spans(
    paths: Iterable[Path], on_skipped: Callable[[str], None] = lambda _: None
) -> list[dict[str, Any]]:
    """Local span files, or `.json` App Insights exports (see `from_app_insights`).

    A line that is not a span (a write cut short, a stray edit) is skipped and reported through
    `on_skipped` as `file:line: reason`: one bad line must not hide every request. A file with no
    span at all is not a span file, and an error.
    """
    spans = []
    for file in span_files(paths):
        if file.suffix == ".json":
            try:
                spans.extend(from_app_insights(json.loads(file.read_text(encoding="utf-8"))))
            except (KeyError, TypeError, ValueError) as error:
                raise TraceReadError(f"{file}: not an App Insights export ({error!r})") from error
            continue
        found, skipped = [], []
        for line in lines(file):
            reason = line.error or _not_a_span(line.value)
            if reason:
                skipped.append(f"{file}:{line.number}: skipped, {reason}")
            else:
                found.append(line.value)
        if skipped and not found:
            raise TraceReadError(f"{file}: not a span file or App Insights export ({skipped[0]})")
        for message in skipped:
            on_skipped(message)
        spans.extend(found)
    return spans


def _not_a_span(value: Any) -> str | None:
    if not isinstance(value, dict):
        return "not a JSON object"
    if missing := sorted(SPAN_KEYS - value.keys()):
        return f"not a span (no {', '.join(missing)})"
    return None if isinstance(value["attributes"], dict) else "not a span (attributes is not an object)"


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


# Flow, model-call, agent and tool spans, as the Azure Monitor exporter stores them (internal/client
# spans are dependencies); the online-evaluation pipeline runs it with `az monitor app-insights query`.
APP_INSIGHTS_QUERY = (
    'dependencies | where name startswith "flow " or name startswith "chat " '
    'or name startswith "embeddings " or name startswith "invoke_agent " '
    'or name startswith "execute_tool " '
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
    return [
        summary_of(flow, variant, roots, usage, config) for (flow, variant), roots in sorted(groups.items())
    ]


def summary_of(
    flow: str,
    variant: str,
    roots: list[dict[str, Any]],
    usage: dict[str, dict[tuple[str, str], int]],
    config: MonitoringConfig | None,
) -> Summary:
    """Latency of these requests (root spans) and the tokens of their traces, priced by `config`
    (cost 0 without one: a caller without prices shows the cost as unknown)."""
    latencies = [(root["end_ns"] - root["start_ns"]) / 1e6 for root in roots]
    tokens: dict[tuple[str, str], int] = defaultdict(int)
    for root in roots:
        for key, count in usage.get(root["trace_id"], {}).items():
            tokens[key] += count
    return Summary(
        flow=flow,
        variant=variant,
        requests=len(roots),
        errors=sum(root["status"] == "ERROR" for root in roots),
        p50_ms=percentile(latencies, 0.50),
        p95_ms=percentile(latencies, 0.95),
        input_tokens=sum(count for (_, kind), count in tokens.items() if kind == "input"),
        output_tokens=sum(count for (_, kind), count in tokens.items() if kind == "output"),
        cost=sum(config.cost(model, kind, count) for (model, kind), count in tokens.items())
        if config
        else 0.0,
    )


def tool_summaries(spans: list[dict[str, Any]]) -> list[ToolSummary]:
    """Calls, errors and p50/p95 latency per tool, from the `execute_tool` spans (none: an empty list)."""
    calls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for span in spans:
        attributes = span["attributes"]
        if attributes.get("gen_ai.operation.name") == "execute_tool":
            calls[
                str(attributes.get("gen_ai.tool.name") or span["name"].removeprefix("execute_tool "))
            ].append(span)
    summaries = []
    for name, tool_spans in sorted(calls.items()):
        latencies = [(span["end_ns"] - span["start_ns"]) / 1e6 for span in tool_spans]
        summaries.append(
            ToolSummary(
                tool=name,
                calls=len(tool_spans),
                errors=sum(span["status"] == "ERROR" for span in tool_spans),
                p50_ms=percentile(latencies, 0.50),
                p95_ms=percentile(latencies, 0.95),
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
    return sum(bool(str(row.get("ground_truth", "")).strip()) for row in read_jsonl(data))


def latest_sample(name: str = SAMPLE_NAME) -> str:
    """The registry reference of the newest version of a sample: what `monitor evaluate` reads."""
    return f"azureml:{sample_asset_prefix()}{name}@latest"


def write_sample(lines: list[dict[str, Any]], data: Path, name: str) -> Path:
    """`data` (`.aiops/samples/<name>.jsonl` by default; replacing an unlabelled earlier sample) and,
    the first time, its Azure ML data spec next to it (`<stem>.yml`, asset `<use case>_<name>`);
    returns the spec file, ready to register. Never overwrites labels."""
    if data.suffix != ".jsonl":
        raise SampleError(f"{data}: a sample is a .jsonl file")
    data.parent.mkdir(parents=True, exist_ok=True)
    labelled = labelled_lines(data)
    if labelled:
        raise SampleError(
            f"{data} has {labelled} labelled lines; keep them and sample into another --name (or --output)"
        )
    write_jsonl(data, lines)
    problems = validate_jsonl(data, set(SAMPLE_COLUMNS))
    if problems:
        raise SampleError(report(problems))
    spec_file = data.with_suffix(".yml")
    if not spec_file.exists():
        asset = sample_asset_prefix() + name
        spec_file.write_text(  # JSON strings are YAML strings: no name reads as a number or boolean
            "$schema: https://azuremlschemas.azureedge.net/latest/data.schema.json\n"
            f"name: {json.dumps(asset)}\ntype: uri_file\npath: {json.dumps(data.name)}\n"
            'description: "Sampled production requests; fill in ground_truth to use them for regression."\n',
            encoding="utf-8",
        )
    return spec_file


@dataclass(frozen=True)
class OnlineScores:
    dataset: str  # as asked: a file, or a registered sample (azureml:<name>@latest or :<version>)
    lines: int  # scored
    unscored: int
    scores: dict[str, float]  # judge -> mean (1-5)


class _JudgesFlow(Protocol):
    """The judges flow's entry (flows/eval_judges): a callable whose `judges` says which judges score."""

    judges: tuple[str, ...]

    def __call__(self, question: str, answer: str, context: str, ground_truth: str) -> dict[str, Any]: ...


def evaluate_online(dataset: Path, judges_flow: Path | None = None, label: str | None = None) -> OnlineScores:
    """Judge sampled production answers with the judges that need no ground truth, and emit the mean
    scores as an `online_evaluation` span (what the score-drop alert queries).

    A line the judges cannot score (a missing field, a reply that is not a 1-5 score) is counted;
    a model that cannot be used stops the evaluation.
    """
    from aiops_platform import tracing  # the model client and OpenTelemetry: for this command only
    from aiops_platform.llm import ConfigError, ModelCallError

    # the judges flow's entry is a class: load_entry returns its instance, whose `judges` picks the judges
    judges = cast(_JudgesFlow, load_entry(judges_flow or paths.root() / paths.JUDGES_FLOW))
    judges.judges = ONLINE_JUDGES
    scored, unscored = [], 0
    for row in read_jsonl(dataset):
        try:
            scored.append(judges(row["question"], row["answer"], row.get("context", ""), ""))
        except (ConfigError, ModelCallError) as error:  # the model itself is unusable: stop
            raise OnlineEvaluationError(str(error)) from error
        except (KeyError, ValueError):  # a missing field or a reply that is not a 1-5 score
            unscored += 1
    if not scored:
        raise OnlineEvaluationError(f"{dataset}: no line could be scored ({unscored} failed)")
    means = mean_over_lines(scored, ONLINE_JUDGES)
    tracing.record_online_scores(means, len(scored), dataset.name)
    return OnlineScores(label or str(dataset), len(scored), unscored, means)


def save_scores(scores: OnlineScores, output: Path) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(asdict(scores), indent=2) + "\n", encoding="utf-8")
