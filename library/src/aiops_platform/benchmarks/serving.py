"""The project's server against `pf flow serve`, side by side on loopback: requests/s and p95.

Both serve the same flow with the offline model (at a simulated per-call latency), and the same
load generator (threads with one keep-alive connection each) sends the sample request at a fixed
concurrency. Ratios are ours / Prompt Flow's (requests/s: higher is better; p95: lower is better).

    python -m aiops_platform.benchmarks.serving --latency-ms 0 --concurrency 16 --requests 800
    python -m aiops_platform.benchmarks.serving --latency-ms 200 --concurrency 16 --requests 320
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from aiops_platform import paths, project, promptflow_adapter

ROOT = paths.root()  # run it from a project folder: the working directory's project
FLOW = ROOT / project.load(ROOT).flow
SAMPLE = json.loads((ROOT / "deployment/sample_request.json").read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running(command: list[str], port: int, environment: dict[str, str]):
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            raise RuntimeError(f"{command[0]} did not become healthy within 120 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def load(base_url: str, requests: int, concurrency: int) -> tuple[float, float, int]:
    """(requests/s, p95 latency in ms, failed requests)."""
    latencies: list[float] = []
    failures = 0
    lock = threading.Lock()
    remaining = iter(range(requests))

    def worker() -> None:
        nonlocal failures
        with httpx.Client(timeout=60) as client:
            while True:
                with lock:
                    if next(remaining, None) is None:
                        return
                start = time.perf_counter()
                response = client.post(f"{base_url}/score", json=SAMPLE)
                elapsed = time.perf_counter() - start
                with lock:
                    latencies.append(elapsed)
                    failures += response.status_code != 200

    for _ in range(concurrency):  # warm-up: one request per connection
        httpx.post(f"{base_url}/score", json=SAMPLE, timeout=60)
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    p95 = statistics.quantiles(latencies, n=20)[-1] * 1000
    return len(latencies) / wall, p95, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--requests", type=int, default=800)
    args = parser.parse_args()
    if not promptflow_adapter.available():
        sys.exit(f"The comparison needs Prompt Flow: {promptflow_adapter.INSTALL_HINT}.")
    traces = tempfile.mkdtemp(prefix="serving-bench-traces-")
    pf_home = Path(tempfile.mkdtemp(prefix="serving-bench-pf-", dir=Path.home()))  # pf needs it under $HOME
    promptflow_adapter.isolate(pf_home)  # quiet pf home, in this process's environment
    environment = {
        **os.environ,
        "LLM_PROVIDER": "offline",
        "OFFLINE_MODEL_LATENCY_MS": str(args.latency_ms),
        "AIOPS_TRACE_DIR": traces,
    }
    pf = str(Path(sys.executable).with_name("pf"))
    servers = {
        "ours (uvicorn)": lambda port: [sys.executable, "-m", "aiops_platform", "serve", "--port", str(port)],
        "pf flow serve": lambda port: [
            pf, "flow", "serve", "--source", str(FLOW), "--port", str(port), "--skip-open-browser"
        ],
    }  # fmt: skip
    results = {}
    for name, command in servers.items():
        port = free_port()
        with running(command(port), port, environment) as base_url:
            results[name] = load(base_url, args.requests, args.concurrency)
    print(f"offline model at {args.latency_ms} ms, concurrency {args.concurrency}, {args.requests} requests")
    for name, (rps, p95, failed) in results.items():
        print(f"  {name:16} {rps:8.1f} requests/s   p95 {p95:8.1f} ms   failed {failed}")
    (ours_rps, ours_p95, _), (pf_rps, pf_p95, _) = results.values()
    print(f"  ratio ours / pf: requests/s {ours_rps / pf_rps:.2f}x, p95 {ours_p95 / pf_p95:.2f}x")


if __name__ == "__main__":
    main()
