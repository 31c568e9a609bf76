"""The flow served over real HTTP on loopback answers the sample request (the pipelines' smoke test)."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LoopbackServer, Unauthorised
from typer.testing import CliRunner

from aiops_platform import project
from aiops_platform.cli import app
from aiops_platform.serving import SmokeTestFailed, smoke_test


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def served_traces(tmp_path: Path) -> Path:
    return tmp_path / "traces"


@pytest.fixture
def served(project_root: Path, served_traces: Path):
    with serving(project_root, {"AIOPS_TRACE_DIR": str(served_traces)}) as base_url:
        yield base_url


@contextlib.contextmanager
def serving(project_root: Path, env: dict[str, str], log: Path | None = None) -> Iterator[str]:
    """`serve` in a subprocess with `env` added, its log (stderr) in `log`; its base URL once healthy."""
    port = _free_port()
    with open(log or os.devnull, "w", encoding="utf-8") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "aiops_platform", "serve", "--port", str(port)],
            cwd=project_root,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
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
    assert "Balances are calibrated every six months" in result.output  # the qa sample's answer


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
    flow_name = project.load(project_root).flow_kind
    # an 80-column terminal shows the columns that do not fit in a second table, after flow and variant
    first, *rest = [line.split() for line in result.output.splitlines() if line.split()[:1] == [flow_name]]
    row = first + [cell for more in rest for cell in more[2:]]
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


def test_a_failed_smoke_test_shows_the_url_without_credentials_or_query(project_root: Path):
    secret = "pa55-" + "word"  # pragma: allowlist secret
    url = f"http://alice:{secret}@127.0.0.1:{_free_port()}/?code={secret}"
    with pytest.raises(SmokeTestFailed) as failed:
        smoke_test(url, project_root / "deployment/sample_request.json", 2, {})
    assert str(failed.value).startswith("http://127.0.0.1:")
    assert secret not in str(failed.value) and "alice" not in str(failed.value)


@pytest.mark.slow  # a server in a subprocess: ~3 s to start
def test_the_real_servers_log_holds_no_credential_or_key(project_root: Path, tmp_path: Path):
    password, key = "pa55-" + "word-in-the-url", "0123456789abcdef" * 2
    request = json.loads((project_root / "deployment/sample_request.json").read_text(encoding="utf-8"))
    with LoopbackServer(Unauthorised) as refusing:
        env = {
            "LLM_PROVIDER": "azure_openai",
            "AZURE_OPENAI_ENDPOINT": refusing.url.replace("http://", f"http://alice:{password}@"),
            "AZURE_OPENAI_AUTH": "api_key",
            "AZURE_OPENAI_API_KEY": key,
            "LLM_MAX_RETRIES": "0",
            "LLM_CACHE": "off",
            "AIOPS_TRACE_DIR": str(tmp_path / "traces"),
        }
        with serving(project_root, env, tmp_path / "server.log") as base_url:
            response = httpx.post(f"{base_url}/score", json=request, timeout=30)
    assert response.status_code == 502
    log = (tmp_path / "server.log").read_text(encoding="utf-8")
    assert response.json()["request_id"] in log and "refused the call (401)" in log
    assert password not in log and "alice" not in log and key not in log, log


@pytest.mark.slow  # a CLI in a subprocess: ~3 s to start
def test_serve_with_a_malformed_connection_string_stops_with_one_line(project_root: Path):
    port = str(_free_port())
    done = subprocess.run(
        [sys.executable, "-m", "aiops_platform", "serve", "--port", port],
        cwd=project_root,
        env={**os.environ, "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=not-a-guid"},
        capture_output=True,
        text=True,
        timeout=60,  # it must not start serving
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING is not a valid connection string" in line
    assert "Traceback" not in done.stderr
