"""Under a rate limit, runs slow down to the allowed rate instead of failing; a refusal that never
ends fails within LLM_RATE_LIMIT_WAIT_SECONDS, saying so; no one answer holds the process longer than
RETRY_AFTER_SECONDS allows, or removes the wait. Real HTTP on loopback, the real openai client, and the
fake endpoint checked against the openai package's own response types.

These tests assert what the limiter does (who waited for what), never how fast: efficiency under a limit
is measured by benchmarks/rate_limits.py."""

import itertools
import json
import math
import subprocess
import sys
import threading
import time
import typing
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import openai
import pydantic
import pytest
from openai.types import CreateEmbeddingResponse, ErrorObject
from openai.types.chat import ChatCompletion

from aiops_platform import llm
from aiops_platform.engines import RunRequest
from aiops_platform.engines.inprocess import InProcessEngine
from aiops_platform.fake_endpoint import FakeEndpoint, Limits
from aiops_platform.jsonl import read_jsonl, write_jsonl
from aiops_platform.settings import Settings

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
        monkeypatch.setattr(llm, "_LIMITERS", {})  # no hold from an earlier test on a reused port
        client = llm.build_client(settings)
        monkeypatch.setattr(llm, "get_settings", lambda: settings)
        monkeypatch.setattr(llm, "get_client", lambda: client)
        return settings

    return use


SHORTEST, LONGEST = llm.RETRY_AFTER_SECONDS
FIRST_BACKOFF = (0.75 * llm.BACKOFF_SECONDS[0], llm.BACKOFF_SECONDS[0])  # jittered


def _limiter_log(monkeypatch: pytest.MonkeyPatch, limiter: llm.RateLimiter) -> dict[str, list]:
    """What the limiter was told and did, on its own clock: when each call started, and for each 429
    how long it held every call, from before the refusal was reported to after."""
    log: dict[str, list] = {"starts": [], "refusals": []}
    acquire, release = limiter.acquire, limiter.release

    def acquiring(deadline: float) -> float | None:
        started = acquire(deadline)
        if started is not None:
            log["starts"].append(started)
        return started

    def releasing(started: float, refused_for: float | None = None, spare: int | None = None) -> None:
        before = time.monotonic()
        release(started, refused_for, spare)
        if refused_for is not None:
            log["refusals"].append((before, refused_for, time.monotonic()))

    monkeypatch.setattr(limiter, "acquire", acquiring)
    monkeypatch.setattr(limiter, "release", releasing)
    return log


def _nothing_started_while_held(log: dict[str, list]) -> None:
    """No call started between a 429 being reported and its wait ending (the gate is process-wide).
    A start after the report returned saw the gate closed until at least `before + wait`."""
    for before, wait, after in log["refusals"]:
        early = [started for started in log["starts"] if after < started < before + wait]
        assert early == [], f"{len(early)} calls started during a {wait:.2f} s hold"


def test_retry_after_prefers_milliseconds_then_seconds_then_a_date():
    assert llm.retry_after(httpx.Headers({"retry-after-ms": "1500", "retry-after": "2"})) == 1.5
    assert llm.retry_after(httpx.Headers({"retry-after": "2"})) == 2.0
    in_a_minute = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 25 < llm.retry_after(httpx.Headers({"retry-after": in_a_minute})) <= 30
    assert llm.retry_after(httpx.Headers({"retry-after-ms": "nonsense", "retry-after": "2"})) == 2.0
    assert llm.retry_after(httpx.Headers({})) is None


# A 429's wait as sent -> what it may hold the process for: (shortest, longest) seconds.
HOSTILE_WAITS = {
    "retry-after: 86400": (LONGEST, LONGEST),
    "retry-after: inf": (LONGEST, LONGEST),
    "retry-after: 1e309": (LONGEST, LONGEST),
    "retry-after-ms: Infinity": (LONGEST, LONGEST),
    "retry-after: Fri, 31 Dec 9999 23:59:59 GMT": (LONGEST, LONGEST),
    "retry-after-ms: 0.001": (SHORTEST, SHORTEST),
    # no wait to honour: the limiter's own back-off, never none
    "retry-after: 0": FIRST_BACKOFF,
    "retry-after: -30": FIRST_BACKOFF,
    "retry-after: nan": FIRST_BACKOFF,
    "retry-after-ms: NaN": FIRST_BACKOFF,
    "retry-after: -inf": FIRST_BACKOFF,
    "retry-after: soon": FIRST_BACKOFF,
    "retry-after: ": FIRST_BACKOFF,
    "retry-after: Sun, 06 Nov 1994 08:49:37 GMT": FIRST_BACKOFF,
    "retry-after: Fri, 31 Dec 99999999999 23:59:59 GMT": FIRST_BACKOFF,  # no calendar holds it
}


@pytest.mark.parametrize("sent", HOSTILE_WAITS)
def test_one_hostile_retry_after_holds_the_process_within_bounds(online, monkeypatch, sent: str):
    """Each value as the only wait a real 429 names (the fake sends it on loopback); the call gives up
    at once (LLM_RATE_LIMIT_WAIT_SECONDS is shorter than any wait), so nothing sleeps."""
    name, _, value = sent.partition(": ")
    other = "retry-after" if name == "retry-after-ms" else "retry-after-ms"
    shortest, longest = HOSTILE_WAITS[sent]
    with FakeEndpoint(Limits(rpm=0, headers={name: value, other: None})) as endpoint:
        online(endpoint, llm_rate_limit_wait_seconds=SHORTEST / 2)
        limiter = llm.limiter_for(endpoint.url)
        log = _limiter_log(monkeypatch, limiter)
        with pytest.raises(llm.ModelCallError, match=r"\(429 rate limit\): refused 1 times"):
            llm.chat(HELLO)
        held_at_most = limiter.closed_until - time.monotonic()
    assert endpoint.stats()["calls"] == 1
    (wait,) = [wait for _, wait, _ in log["refusals"]]
    assert shortest <= wait <= longest
    assert held_at_most <= LONGEST  # every other call of the process may start within LONGEST


def test_a_hostile_allowance_header_is_no_sign_either_way(online):
    """`x-ratelimit-remaining-*` that is no finite count is ignored: the call is answered."""
    hostile = {"x-ratelimit-remaining-requests": "inf", "x-ratelimit-remaining-tokens": "nan"}
    with FakeEndpoint(Limits(rpm=600, headers=hostile)) as endpoint:
        online(endpoint)
        assert llm.chat(HELLO).text == "The sky is blue."
    assert endpoint.stats()["answered"] == 1


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
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.json()["error"]["code"] == "429"
    assert "exceeded call rate limit" in refused.json()["error"]["message"]
    assert endpoint.stats() | {"answered_span_seconds": 0} == {
        "calls": 31,
        "answered": 30,
        "refused": 1,
        "errors": 0,
        "answered_span_seconds": 0,
        "most_in_flight": 1,
    }


def _model_in(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The response type a field holds (itself, in a list or optional), if any."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return next(filter(None, map(_model_in, typing.get_args(annotation))), None)


def _invented(body: Any, model: type[pydantic.BaseModel], where: str = "") -> list[str]:
    """The fields of `body`, at any depth, that the openai type has no field for. (The types accept
    any extra field, so validating alone would not tell.)"""
    found = []
    for name, value in body.items():
        field = model.model_fields.get(name)
        nested = _model_in(field.annotation) if field else None
        if field is None:
            found.append(f"{where}{name}")
        elif nested and isinstance(value, dict):
            found += _invented(value, nested, f"{where}{name}.")
        elif nested and isinstance(value, list):
            for index, item in enumerate(value):
                found += _invented(item, nested, f"{where}{name}[{index}].")
    return found


def _error_shape(body: dict) -> None:
    """Azure OpenAI's error body: {"error": {"code": ..., "message": ...}}, fields of openai's ErrorObject."""
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= set(ErrorObject.model_fields)
    assert isinstance(body["error"]["code"], str) and isinstance(body["error"]["message"], str)


def test_the_fake_endpoint_answers_in_the_openai_types_shapes():
    """Every answer as the openai package types it: no invented field, every required one; errors in
    Azure's body; the real client reads the 429's code and message."""
    chat = "/openai/deployments/gpt/chat/completions?api-version=2024-10-21"
    asked = {"model": "gpt", "messages": HELLO}
    with httpx.Client(headers={"api-key": "fake"}) as client:
        with FakeEndpoint() as endpoint:
            answered = client.post(f"{endpoint.url}{chat}", json=asked)
            unknown = client.post(f"{endpoint.url}/openai/deployments/gpt/nothing", json={})
            embeddings = "/openai/deployments/emb/embeddings?api-version=2024-10-21"
            embedded = client.post(f"{endpoint.url}{embeddings}", json={"model": "emb", "input": ["a", "b"]})
        with FakeEndpoint(Limits(error_rate=1.0)) as failing:
            failed = client.post(f"{failing.url}{chat}", json=asked)
        with FakeEndpoint(Limits(rpm=0)) as endpoint:
            refused = client.post(f"{endpoint.url}{chat}", json=asked)
            real = openai.AzureOpenAI(
                azure_endpoint=endpoint.url,
                api_key="fake",  # pragma: allowlist secret
                api_version="2024-10-21",
                max_retries=0,
            )
            with pytest.raises(openai.RateLimitError) as refusal:
                real.chat.completions.create(model="gpt", messages=HELLO)

    assert answered.status_code == 200
    body = answered.json()
    assert _invented(body, ChatCompletion) == []
    assert ChatCompletion.model_validate(body).choices[0].message.content == "The sky is blue."
    assert _invented(embedded.json(), CreateEmbeddingResponse) == []
    assert len(CreateEmbeddingResponse.model_validate(embedded.json()).data) == 2
    for answer, status in ((refused, 429), (unknown, 404), (failed, 500)):
        assert answer.status_code == status
        _error_shape(answer.json())
    assert {"retry-after", "retry-after-ms", "x-ratelimit-remaining-requests"} <= set(refused.headers)
    assert refusal.value.code == "429" and "exceeded call rate limit" in refusal.value.message


def _each_refused_request_waited(endpoint: FakeEndpoint) -> dict[str, list]:
    """The endpoint's record by request: each was answered once, at last, and re-sent after each 429
    no sooner than that 429's wait. (Same clock: the fake runs in this process.)"""
    by_request: dict[str, list] = defaultdict(list)
    for call in endpoint.calls:
        by_request[call.request].append(call)
    for calls in by_request.values():
        assert [call.status for call in calls] == [429] * (len(calls) - 1) + [200]
        for refused, again in itertools.pairwise(calls):
            assert again.at >= refused.at + refused.retry_after, "re-sent before its retry-after"
    return by_request


def test_a_refused_call_waits_out_retry_after_and_nothing_starts_meanwhile(online, monkeypatch):
    """One call per 0.4 s window and three threads: every call gets through, each refused call is
    re-sent only after its retry-after, and no other call starts meanwhile (the gate is process-wide)."""
    with FakeEndpoint(Limits(rpm=150, window_seconds=0.4)) as endpoint:
        online(endpoint)
        log = _limiter_log(monkeypatch, llm.limiter_for(endpoint.url))
        questions = [[{"role": "user", "content": f"{HELLO[0]['content']} ({n})"}] for n in range(3)]
        threads = [threading.Thread(target=llm.chat, args=(question,)) for question in questions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert endpoint.count(200) == 3
    assert len(_each_refused_request_waited(endpoint)) == 3
    assert log["refusals"]  # one call per window: the second and third were refused at least once
    _nothing_started_while_held(log)


def test_the_openai_provider_shares_the_limiter(online):
    with FakeEndpoint(Limits(rpm=60, window_seconds=1)) as endpoint:  # one call a second
        online(endpoint, provider="openai")
        answers = [llm.chat(HELLO).text for _ in range(2)]
    assert answers == ["The sky is blue."] * 2
    assert endpoint.count(429) >= 1  # the second call was refused once, then waited


def test_an_endpoint_that_keeps_refusing_fails_within_the_wait_saying_so(online, monkeypatch):
    with FakeEndpoint(Limits(rpm=0, window_seconds=0.3)) as endpoint:  # every call: 429, retry after 0.3 s
        online(endpoint, llm_rate_limit_wait_seconds=1)
        log = _limiter_log(monkeypatch, llm.limiter_for(endpoint.url))
        # its account: refused until the next wait would overrun, or held back until the wait ran out
        account = r"(refused \d+ times in .* s more|held back [\d.]+ s after \d+ refusals)"
        expected = rf"kept refusing the call \(429 rate limit\): {account} \(LLM_RATE_LIMIT_WAIT_SECONDS=1\)"
        with pytest.raises(llm.ModelCallError, match=expected):
            llm.chat(HELLO)
    # every retry started after the wait its refusal named, and none once the next wait would overrun
    waits = [wait for _, wait, _ in log["refusals"]]
    assert endpoint.stats()["calls"] == len(log["starts"]) == len(waits) >= 2
    assert sum(waits[:-1]) <= 1  # the waits it sat out fit LLM_RATE_LIMIT_WAIT_SECONDS
    for (reported, wait, _), started in zip(log["refusals"], log["starts"][1:], strict=False):
        assert started >= reported + wait


def test_a_retry_after_beyond_the_wait_fails_at_once(online):
    with FakeEndpoint(Limits(rpm=0, window_seconds=86400)) as endpoint:  # "retry after 86400 seconds"
        online(endpoint, llm_rate_limit_wait_seconds=LONGEST)
        with pytest.raises(llm.ModelCallError, match=rf"refused 1 times .* at least {LONGEST:.1f} s more"):
            llm.chat(HELLO)  # no waiting: the endpoint asks for more than the wait allows
        held_at_most = llm.limiter_for(endpoint.url).closed_until - time.monotonic()
    assert endpoint.stats()["calls"] == 1
    assert held_at_most <= LONGEST  # the process's other calls are not shut out for a day


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
def test_a_run_under_a_low_limit_loses_no_line_and_never_hammers(
    online, monkeypatch, tmp_path: Path, shipped: dict, project_root: Path
):
    """240 calls a minute over a 0.5 s window (2 per sliding half second), eight workers, 12 lines:
    every line answered once, no more calls in flight than workers, every refused call re-sent only
    after its retry-after and no call started while a 429 held the process. Counts come from the
    endpoint's and the limiter's own records, so a loaded machine changes how long, never the verdict."""
    flow = shipped["flows"][0]
    dataset = read_jsonl(project_root / shipped["datasets"][0]["path"])
    data = tmp_path / "lines.jsonl"
    lines = [dataset[i % len(dataset)] | {"id": f"line-{i}"} for i in range(12)]
    for i, line in enumerate(lines):  # one request per line, so a retry is known by its body
        line["question"] = f"{line['question']} (line {i})"
    write_jsonl(data, lines)
    limits = Limits(rpm=240, window_seconds=0.5, latency_ms=20)
    with FakeEndpoint(limits) as endpoint:
        online(endpoint)
        log = _limiter_log(monkeypatch, llm.limiter_for(endpoint.url))
        request = RunRequest(project_root / flow["path"], data, flow.get("column_mapping", {}), concurrency=8)
        result = InProcessEngine().run(request, lambda: None)
    stats = endpoint.stats()
    assert result.failed == 0, result.errors
    assert stats["answered"] == 12 and stats["errors"] == 0
    assert len(_each_refused_request_waited(endpoint)) == 12
    assert stats["refused"] == len(log["refusals"]) >= 1  # 8 workers at once against 2 per window
    assert stats["most_in_flight"] <= 8
    _nothing_started_while_held(log)


@pytest.mark.slow
def test_the_fake_endpoint_runs_from_the_command_line():
    module = "aiops_platform.fake_endpoint"
    command = [sys.executable, "-m", module, "--port", "0", "--rpm", "0"]
    command += ["--header", "Retry-After: inf", "--header", "retry-after-ms"]  # a hostile wait, alone
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        url = first_line.split(" on ", 1)[1].split(" ", 1)[0]
        with urllib.request.urlopen(f"{url}/stats", timeout=5) as answer:
            assert json.load(answer)["calls"] == 0
        refused = httpx.post(f"{url}/v1/chat/completions", json={"messages": HELLO}, timeout=5)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "inf" and "retry-after-ms" not in refused.headers
    finally:
        process.terminate()
        process.wait(timeout=10)
