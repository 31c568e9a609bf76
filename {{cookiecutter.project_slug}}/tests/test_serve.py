"""The flow served over real HTTP on loopback answers the sample request (the pipelines' smoke test)."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.serving import SmokeTestFailed, smoke_test


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served_traces(tmp_path: Path) -> Path:
    return tmp_path / "traces"


@pytest.fixture
def served(project_root: Path, served_traces: Path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", {{ cookiecutter.package_name | jsonify }}, "serve", "--port", str(port)],
        cwd=project_root,
        env={**os.environ, "AIOPS_TRACE_DIR": str(served_traces)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            pytest.fail("the server did not become healthy within 60 s")
        yield base_url
    finally:
        server.terminate()
        server.wait(timeout=30)
        with socket.socket() as probe:  # the server itself is gone, not just a wrapper around it
            assert probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.slow  # a server in a subprocess: ~3 s to start
def test_served_flow_answers_the_sample_request_over_http(served: str, project_root: Path):
    result = CliRunner().invoke(
        app, ["smoke", served, "--request", str(project_root / "deployment/sample_request.json")]
    )
    assert result.exit_code == 0, result.output
    assert "{{ 'The shelf life is 36 months' if cookiecutter.flow_kind == 'rag' and cookiecutter.use_case_code == 'CMC' else 'Balances are calibrated every six months' }}" in result.output


def test_smoke_test_fails_clearly_when_nothing_listens(project_root: Path):
    with pytest.raises(SmokeTestFailed, match="ConnectError"):
        smoke_test(f"http://127.0.0.1:{_free_port()}", project_root / "deployment/sample_request.json", 2, {})


@pytest.mark.slow  # a server in a subprocess: ~3 s to start
def test_monitor_counts_every_served_request_with_latency_and_tokens(
    served: str, served_traces: Path, project_root: Path
):
    request = json.loads((project_root / "deployment/sample_request.json").read_text(encoding="utf-8"))
    for _ in range(7):
        assert httpx.post(f"{served}/score", json=request, timeout=30).status_code == 200
    config = str(project_root / "monitoring/config.yaml")
    result = CliRunner().invoke(app, ["monitor", "summary", str(served_traces), "--config", config])
    assert result.exit_code == 0, result.output
    flow_name = {{ cookiecutter.flow_kind | jsonify }}
    (row,) = [line.split() for line in result.output.splitlines() if line.split()[:1] == [flow_name]]
    flow, variant, requests, errors, *_, p50, p95, tokens_in, tokens_out, cost = row  # errors: "0 (0 %)"
    assert (flow, variant, requests, errors) == (flow_name, "default", "7", "0")
    assert 0 < float(p50) <= float(p95) < 30_000
    assert int(tokens_in) > int(tokens_out) > 0 and float(cost) > 0


@pytest.mark.slow  # a server in a subprocess: ~3 s to start
def test_the_real_server_refuses_bad_bodies_with_short_errors(served: str):
    assert httpx.post(f"{served}/score", content=b"null", timeout=30).status_code == 400
    huge_and_bad = b'{"question": "' + b"x" * 10_000_000
    response = httpx.post(f"{served}/score", content=huge_and_bad, timeout=30)
    assert response.status_code == 413 and len(response.content) < 200
    assert httpx.get(f"{served}/ready", timeout=30).json()["status"] == "ready"
