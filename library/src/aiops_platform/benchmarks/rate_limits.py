"""Throughput under a rate limit: how close each runner gets to the rate a rate-limited endpoint allows.

    # 600 rpm over a 1 s window, 200 lines each
    python -m aiops_platform.benchmarks.rate_limits
    # Azure's per-minute window
    python -m aiops_platform.benchmarks.rate_limits --window-seconds 60 --lines 1200

Each runner does the same lines against a fresh loopback fake Azure OpenAI endpoint
(`fake_endpoint.py`: real HTTP, the real openai client, 429 with retry-after) limited to `--rpm`:
the in-process engine (the project's adaptive limiter), the same engine with the limiter off
(LLM_ADAPTIVE_CONCURRENCY=false: the openai client's own bounded retries), Prompt Flow's batch
engine (the `promptflow` engine, PF_WORKER_COUNT workers) on the same flow, and azure-ai-evaluation's
`evaluate()` with its RelevanceEvaluator (an LLM judge) pointed at the endpoint. For each it prints
the ratio of the achieved rate to the allowed rate (target >= 0.9 for the in-process engine, with
zero failed lines), the failed lines and the calls the endpoint refused.

The achieved rate is measured at the endpoint, between the first and the last answered call. A
client may burst into the empty window at the start, so the ratio can exceed 1 by up to one
window's allowance over the run (rpm x W / 60 calls: 10 of 200 here). `strict` gives no such credit:
the answered calls over the most the limit lets through in their span (a sliding window of W s lets
rpm x W / 60 calls through per window: floor(T / W) + 1 windows' worth in T s); a client paced
exactly at the limit scores about 1 - W / T on it (~0.95 for a 20 s run).

The window is configurable: Azure evaluates RPM over short windows too (1 or 10 s), and a 1 s
window measures the same ratio in ~20 s per runner where a 60 s one needs minutes. Each runner runs
in a fresh process; start-up (imports, Prompt Flow's ~4 s per run) is outside the measured span."""

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from aiops_platform.fake_endpoint import FakeEndpoint, Limits
from aiops_platform.jsonl import read_jsonl, write_jsonl
from aiops_platform.paths import EXPERIMENT, root

ROOT = root()  # run it from a project folder: the working directory's project
RUNNERS = {
    "inprocess": "in-process engine (adaptive limiter)",
    "inprocess-no-limiter": "in-process, limiter off",
    "promptflow": "Prompt Flow batch engine",
    "evaluate": "azure-ai-evaluation evaluate()",
}
DEPLOYMENT = "gpt-4o-mini"


def the_flow() -> tuple[Path, dict[str, str]]:
    """experiment.yaml's first flow: its folder and column mapping."""
    flow = yaml.safe_load((ROOT / EXPERIMENT).read_text(encoding="utf-8"))["flows"][0]
    return (ROOT / flow["path"]).resolve(), dict(flow.get("column_mapping", {}))


def prepare(workdir: Path, lines: int) -> None:
    """experiment.yaml's first dataset cycled to `lines` lines (lines.jsonl), and the same lines as
    query/response pairs for the relevance judge (judged.jsonl)."""
    dataset = yaml.safe_load((ROOT / EXPERIMENT).read_text(encoding="utf-8"))["datasets"][0]
    rows = read_jsonl(ROOT / dataset["path"])
    cycled = [{**rows[i % len(rows)], "id": f"line-{i:05d}"} for i in range(lines)]
    write_jsonl(workdir / "lines.jsonl", cycled)
    judged = [{"query": row["question"], "response": row["ground_truth"]} for row in cycled]
    write_jsonl(workdir / "judged.jsonl", judged)


def measure(runner: str, workdir: Path, concurrency: int) -> dict:
    """Run in a fresh process with the endpoint in the environment: {"lines": n, "failed": n}."""
    if runner == "evaluate":
        from azure.ai.evaluation import AzureOpenAIModelConfiguration, RelevanceEvaluator, evaluate

        config = AzureOpenAIModelConfiguration(
            azure_endpoint=os.environ["AZURE_OPENAI_ENDPOINT"],
            api_key=os.environ["AZURE_OPENAI_API_KEY"],
            azure_deployment=DEPLOYMENT,
            api_version=os.environ["AZURE_OPENAI_API_VERSION"],
        )
        judged = workdir / "judged.jsonl"
        with contextlib.redirect_stdout(io.StringIO()):  # evaluate() prints its own summary
            judge = RelevanceEvaluator(model_config=config)
            evaluation = evaluate(data=str(judged), evaluators={"relevance": judge})
        scores = [row.get("outputs.relevance.relevance") for row in evaluation["rows"]]
        return {"lines": len(scores), "failed": sum(score is None or score != score for score in scores)}
    from aiops_platform.engines import RunRequest, get_engine

    if runner == "promptflow":
        from aiops_platform import promptflow_adapter

        promptflow_adapter.preload(promptflow_adapter.home(workdir))  # its import stays out of the span
    engine = get_engine("inprocess" if runner.startswith("inprocess") else runner, workdir)
    flow, mapping = the_flow()
    result = engine.run(RunRequest(flow, workdir / "lines.jsonl", mapping, concurrency), lambda: None)
    return {"lines": len(result.outputs), "failed": result.failed}


def in_fresh_process(runner: str, limits: Limits, workdir: Path, args: argparse.Namespace) -> dict:
    with FakeEndpoint(limits) as endpoint:
        environment = {
            **os.environ,
            "LLM_PROVIDER": "azure_openai",
            "AZURE_OPENAI_ENDPOINT": endpoint.url,
            "AZURE_OPENAI_AUTH": "api_key",
            "AZURE_OPENAI_API_KEY": "fake-endpoint",  # pragma: allowlist secret
            "AZURE_OPENAI_CHAT_DEPLOYMENT": DEPLOYMENT,
            "AZURE_OPENAI_API_VERSION": "2024-10-21",
            "LLM_ADAPTIVE_CONCURRENCY": str(runner != "inprocess-no-limiter").lower(),
            "AIOPS_TRACING": "false",
            "LLM_CACHE": "off",  # every line must reach the endpoint
            "PF_WORKER_COUNT": str(args.concurrency),
        }
        command = [sys.executable, __file__, "--measure", runner, str(workdir)]
        command += ["--concurrency", str(args.concurrency)]
        done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
        if done.returncode != 0:
            raise SystemExit(f"{runner} failed:\n{done.stderr[-3000:]}")
        measured = json.loads(done.stdout.strip().splitlines()[-1])
        return {**measured, **endpoint.stats()}


def report(args: argparse.Namespace) -> None:
    limits = Limits(rpm=args.rpm, window_seconds=args.window_seconds, latency_ms=args.latency_ms)
    print(
        f"{args.lines} lines per runner against a fake Azure OpenAI endpoint: {args.rpm:g} requests/min "
        f"over a sliding {args.window_seconds:g} s window, {args.latency_ms:g} ms per answered call, "
        f"concurrency {args.concurrency}"
    )
    print(f"{'runner':38} {'ratio':>6} {'strict':>7} {'calls/s':>8} {'failed':>8} {'refused':>8}")
    with tempfile.TemporaryDirectory(dir=Path.home()) as folder:
        workdir = Path(folder)
        prepare(workdir, args.lines)
        for runner in args.runners:
            measured = in_fresh_process(runner, limits, workdir, args)
            span = measured["answered_span_seconds"]
            rate = (measured["answered"] - 1) / span if span else 0.0
            ratio, strict = rate / (args.rpm / 60), measured["answered"] / limits.most_requests_in(span)
            failed = f"{measured['failed']}/{measured['lines']}"
            refused = measured["refused"]
            print(f"{RUNNERS[runner]:38} {ratio:6.2f} {strict:7.2f} {rate:8.1f} {failed:>8} {refused:8}")
    print(f"ratio: the achieved rate (answered calls / s) / the allowed rate ({args.rpm / 60:g} calls/s)")
    print("strict: answered calls / the most the limit lets through in their span (no first-burst credit)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rpm", type=float, default=600)
    parser.add_argument("--window-seconds", type=float, default=1.0)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--lines", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--runners", nargs="+", choices=RUNNERS, default=list(RUNNERS))
    parser.add_argument("--measure", nargs=2, metavar=("RUNNER", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        runner, workdir = args.measure
        print(json.dumps(measure(runner, Path(workdir), args.concurrency)))
    else:
        report(args)


if __name__ == "__main__":
    main()
