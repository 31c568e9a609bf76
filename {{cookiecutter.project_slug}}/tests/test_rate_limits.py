"""Under a rate limit, runs slow down to the allowed rate instead of failing; a refusal that never
ends fails within LLM_RATE_LIMIT_WAIT_SECONDS, saying so. Real HTTP on loopback, the real openai client."""

import json
import math
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from {{ cookiecutter.package_name }} import llm
from {{ cookiecutter.package_name }}.engines import RunRequest
from {{ cookiecutter.package_name }}.engines.inprocess import InProcessEngine
from {{ cookiecutter.package_name }}.fake_endpoint import FakeEndpoint, Limits
from {{ cookiecutter.package_name }}.flow_entry import read_jsonl, write_jsonl
from {{ cookiecutter.package_name }}.settings import Settings

HELLO = [{"role": "user", "content": "Context: The sky is blue.\n\nQuestion: Is the sky blue?"}]


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch):
    """Point llm.chat at a fake endpoint as Azure OpenAI (or OpenAI), with these settings."""

    def use(endpoint: FakeEndpoint, provider: str = "azure_openai", **overrides) -> Settings:
        if provider == "openai":
            where = {"openai_base_url": f"{endpoint.url}/v1"}
            where["openai_api_key"] = "fake"  # pragma: allowlist secret
        else:
            where = {"azure_openai_endpoint": endpoint.url, "azure_openai_auth": "api_key"}
            where["azure_openai_api_key"] = "fake"  # pragma: allowlist secret
        overrides = {"llm_cache": "off"} | overrides  # every call must reach the endpoint
        settings = Settings(llm_provider=provider, llm_timeout_seconds=5, **where, **overrides)
        client = llm.build_client(settings)
        monkeypatch.setattr(llm, "get_settings", lambda: settings)
        monkeypatch.setattr(llm, "get_client", lambda: client)
        return settings

    return use


def test_retry_after_prefers_milliseconds_then_seconds_then_a_date():
    assert llm.retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "2"})) == 1.5
    assert llm.retry_after(httpx.Headers({"retry-after": "2"})) == 2.0
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    assert 55 < llm.retry_after(httpx.Headers({"retry-after": in_a_minute})) <= 60
    assert llm.retry_after(httpx.Headers({})) is None


def test_the_fake_endpoint_refuses_as_azure_does():
    with FakeEndpoint(Limits(rpm=60, window_seconds=30)) as endpoint:
        url = f"{endpoint.url}/openai/deployments/gpt/chat/completions?api-version=2024-10-21"
        with httpx.Client(headers={"api-key": "fake"}) as client:
            answers = [client.post(url, json={"messages": HELLO}) for _ in range(31)]
    assert [answer.status_code for answer in answers] == [200] * 30 + [429]
    assert answers[0].headers["x-ratelimit-remaining-requests"] == "29"
    refused = answers[-1]
    wait = float(refused.headers["retry-after-ms"]) / 1000  # when the first call leaves the window
    assert 25 < wait <= 30
    assert refused.headers["retry-after"] == str(math.ceil(wait))
    assert refused.json()["error"]["code"] == "429"
    assert "exceeded call rate limit" in refused.json()["error"]["message"]
    assert endpoint.stats() | {"answered_span_seconds": 0} == {
        "calls": 31,
        "answered": 30,
        "refused": 1,
        "errors": 0,
        "answered_span_seconds": 0,
    }


def test_a_refused_call_waits_out_retry_after_and_nothing_starts_meanwhile(online):
    """One call per 0.4 s window and three threads: every call gets through, and after each 429 no
    call reaches the endpoint until its retry-after has passed (the gate is process-wide)."""
    with FakeEndpoint(Limits(rpm=150, window_seconds=0.4)) as endpoint:
        online(endpoint)
        start = time.perf_counter()
        threads = [threading.Thread(target=llm.chat, args=(HELLO,)) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
    assert endpoint.count(200) == 3
    assert elapsed >= 2 * 0.4  # three calls, one per window
    refusals = [call for call in endpoint.calls if call.status == 429]
    assert refusals
    for refusal in refusals:
        # calls already on their way when the 429 was sent may still land just after it
        early = [
            call
            for call in endpoint.calls
            if refusal.at + 0.05 < call.at < refusal.at + refusal.retry_after - 0.01
        ]
        assert early == [], f"calls during a {refusal.retry_after:.2f} s cool-down"


def test_the_openai_provider_shares_the_limiter(online):
    with FakeEndpoint(Limits(rpm=120, window_seconds=0.5)) as endpoint:
        online(endpoint, provider="openai")
        answers = [llm.chat(HELLO).text for _ in range(2)]
    assert answers == ["The sky is blue."] * 2
    assert endpoint.count(429) >= 1  # the second call was refused once, then waited


def test_an_endpoint_that_keeps_refusing_fails_within_the_wait_saying_so(online):
    with FakeEndpoint(Limits(rpm=0, window_seconds=0.3)) as endpoint:  # every call: 429, retry after 0.3 s
        online(endpoint, llm_rate_limit_wait_seconds=1)
        start = time.perf_counter()
        expected = r"kept refusing the call \(429 rate limit\): refused \d+ times .*_WAIT_SECONDS=1\)"
        with pytest.raises(llm.ModelCallError, match=expected):
            llm.chat(HELLO)
        elapsed = time.perf_counter() - start
    assert elapsed < 1 + 0.5
    assert 2 <= endpoint.stats()["calls"] <= 5  # waited out each retry-after: no hammering


def test_a_retry_after_beyond_the_wait_fails_at_once(online):
    with FakeEndpoint(Limits(rpm=0, window_seconds=86400)) as endpoint:  # "retry after 86400 seconds"
        online(endpoint, llm_rate_limit_wait_seconds=60)
        start = time.perf_counter()
        with pytest.raises(llm.ModelCallError, match=r"it asked for 86400\.0 s more"):
            llm.chat(HELLO)
    assert time.perf_counter() - start < 1
    assert endpoint.stats()["calls"] == 1


@pytest.mark.slow
def test_server_errors_are_retried_within_the_bound(online):
    with FakeEndpoint(Limits(error_rate=1.0)) as endpoint:
        online(endpoint, llm_max_retries=2)
        with pytest.raises(llm.ModelCallError, match=r"failed: .*500"):
            llm.chat(HELLO)
    assert endpoint.stats()["calls"] == 3  # the call and its two retries
    with FakeEndpoint(Limits(error_rate=0.3, seed=1)) as endpoint:
        online(endpoint, llm_max_retries=3)
        answers = [llm.chat(HELLO).text for _ in range(6)]
    assert answers == ["The sky is blue."] * 6
    assert endpoint.stats()["errors"] >= 1


@pytest.mark.slow
def test_a_run_under_a_low_limit_loses_no_line_and_keeps_refusals_few(online, tmp_path: Path, shipped: dict):
    """240 calls a minute over a 0.5 s window (2 per sliding half second), eight workers, 12 lines."""
    flow = shipped["flows"][0]
    dataset = read_jsonl(Path(__file__).parents[1] / shipped["datasets"][0]["path"])
    data = tmp_path / "lines.jsonl"
    write_jsonl(data, [{**dataset[i % len(dataset)], "id": f"line-{i}"} for i in range(12)])
    limits = Limits(rpm=240, window_seconds=0.5, latency_ms=20)
    with FakeEndpoint(limits) as endpoint:
        online(endpoint)
        root = Path(__file__).parents[1]
        request = RunRequest(root / flow["path"], data, flow.get("column_mapping", {}), concurrency=8)
        result = InProcessEngine().run(request, lambda: None)
    stats = endpoint.stats()
    assert result.failed == 0, result.errors
    assert stats["answered"] == 12
    assert stats["refused"] <= 12  # 8 workers start at once; after that, refusals stay rare
    assert stats["answered_span_seconds"] < 12 / 4 + 1  # close to the allowed rate: ~2.5 s for 12 calls


@pytest.mark.slow
def test_the_fake_endpoint_runs_from_the_command_line():
    module = {{ (cookiecutter.package_name ~ '.fake_endpoint') | jsonify }}
    command = [sys.executable, "-m", module, "--port", "0", "--rpm", "60"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        url = first_line.split(" on ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(f"{url}/stats", timeout=5) as answer:
            assert json.load(answer)["calls"] == 0
    finally:
        process.terminate()
        process.wait(timeout=10)
