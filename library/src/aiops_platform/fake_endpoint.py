"""A loopback stand-in for a rate-limited Azure OpenAI (or OpenAI) endpoint, for tests and benchmarks.

Real HTTP on 127.0.0.1, so the real `openai` client (AzureOpenAI or OpenAI) talks to it as to the
service. It answers with the offline stand-in (`offline_model.respond`) and enforces requests- and
tokens-per-minute limits over a sliding window, refusing with what Azure OpenAI sends: status 429,
`retry-after` (whole seconds) and `retry-after-ms` headers and Azure's error body. Every answer
carries `x-ratelimit-limit-requests` / `-tokens` and `x-ratelimit-remaining-requests` / `-tokens`
for the limits it has. It can add latency, fail a fraction of calls with 500s and send headers of
your choosing in place of its own (a hostile `retry-after`, say), and records every call: when it
arrived, its answer, and a digest of the request, so a retry is known as the same request.

    python -m aiops_platform.fake_endpoint --rpm 600 --window-seconds 10
    python -m aiops_platform.fake_endpoint --rpm 0 --header retry-after:inf

`--window-seconds` shortens the limit's window (the per-window allowance scales with it, so
600 rpm over 10 s is 100 calls per sliding 10 s): the same rate is reached, and measured, in
seconds rather than minutes. Azure itself evaluates RPM over short windows (1 or 10 s).
Point the project at it with LLM_PROVIDER=azure_openai, AZURE_OPENAI_AUTH=api_key,
AZURE_OPENAI_API_KEY=anything and AZURE_OPENAI_ENDPOINT=<the printed URL> (or LLM_PROVIDER=openai
and OPENAI_BASE_URL=<URL>/v1).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from aiops_platform import embeddings, offline_model  # noqa: F401 - embeddings adds its route

QUOTA_MESSAGE = (
    "Requests to the {operation} Operation under Azure OpenAI API version {version} have exceeded {kind} "
    "rate limit of your current OpenAI S0 pricing tier. Please retry after {seconds} seconds. Please go "
    "here: https://aka.ms/oai/quotaincrease if you would like to further increase the default rate limit."
)
SERVER_ERROR = "The server had an error while processing your request. Sorry about that!"


@dataclass(frozen=True)
class Limits:
    """rpm / tpm: None is unlimited, 0 refuses every call. error_rate: the fraction answered 500.
    headers: sent on every answer in place of the fake's own (e.g. `{"retry-after": "inf"}`); None
    drops that header (`{"retry-after-ms": None}`: the 429 names its wait in retry-after only)."""

    rpm: float | None = None
    tpm: float | None = None
    window_seconds: float = 60.0
    latency_ms: float = 0.0
    error_rate: float = 0.0
    seed: int = 0
    headers: Mapping[str, str | None] = field(default_factory=dict)

    def per_window(self, per_minute: float) -> float:
        return per_minute * self.window_seconds / 60

    def most_requests_in(self, span_seconds: float) -> float:
        """The most calls the request limit lets through with arrival times `span_seconds` apart."""
        if self.rpm is None:
            return math.inf
        windows = math.floor(span_seconds / self.window_seconds) + 1
        return math.floor(self.per_window(self.rpm)) * windows


class SlidingWindow:
    """What was spent in the last `window` seconds, against an allowance for any such window."""

    def __init__(self, allowance: float, window: float) -> None:
        self.allowance, self.window = allowance, window
        self._spent: deque[tuple[float, float]] = deque()
        self._total = 0.0

    def _expire(self, now: float) -> None:
        while self._spent and self._spent[0][0] <= now - self.window:
            self._total -= self._spent.popleft()[1]

    def wait(self, now: float, cost: float) -> float:
        """Seconds until `cost` fits (0: it fits now); the whole window if it never can."""
        self._expire(now)
        if self._total + cost <= self.allowance:
            return 0.0
        if cost > self.allowance:
            return self.window
        freed = self._total
        for spent_at, spent in self._spent:
            freed -= spent
            if freed + cost <= self.allowance:
                return spent_at + self.window - now
        return self.window

    def spend(self, now: float, cost: float) -> None:
        self._spent.append((now, cost))
        self._total += cost

    def remaining(self) -> int:
        return max(0, math.floor(self.allowance - self._total))


@dataclass
class Call:
    at: float  # time.monotonic() on arrival
    status: int
    request: str  # digest of the request body: a retry sends the same
    retry_after: float | None = None  # the wait a 429 named (before any `Limits.headers`)


class FakeEndpoint:
    """Start with `with FakeEndpoint(Limits(rpm=600)) as endpoint:`; `endpoint.url` is the base URL."""

    def __init__(self, limits: Limits | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.limits = limits or Limits()
        self.calls: list[Call] = []
        self.most_in_flight = 0  # the most calls it was answering at once
        self._in_flight = 0
        self._lock = threading.Lock()
        self._random = random.Random(self.limits.seed)
        self._requests = self._window(self.limits.rpm)
        self._tokens = self._window(self.limits.tpm)
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def _window(self, per_minute: float | None) -> SlidingWindow | None:
        if per_minute is None:
            return None
        return SlidingWindow(self.limits.per_window(per_minute), self.limits.window_seconds)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}"

    def start(self) -> FakeEndpoint:
        serve = lambda: self._server.serve_forever(poll_interval=0.05)  # noqa: E731 - stop() returns quickly
        self._thread = threading.Thread(target=serve, name="fake-endpoint", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeEndpoint:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def count(self, status: int) -> int:
        with self._lock:
            return sum(call.status == status for call in self.calls)

    def stats(self) -> dict[str, Any]:
        """Calls made, answered, refused (429) and failed (injected 500s); the answered calls' span;
        the most calls answered at once."""
        with self._lock:
            answered = [call.at for call in self.calls if call.status == 200]
            return {
                "calls": len(self.calls),
                "answered": len(answered),
                "refused": sum(call.status == 429 for call in self.calls),
                "errors": sum(call.status >= 500 for call in self.calls),
                "answered_span_seconds": answered[-1] - answered[0] if answered else 0.0,
                "most_in_flight": self.most_in_flight,
            }

    def answer(self, path: str, body: dict[str, Any], api_version: str) -> tuple[int, dict, dict[str, str]]:
        """(status, JSON body, headers) for one call, recorded in `calls`."""
        with self._lock:
            self._in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self._in_flight)
        try:
            status, answer, headers = self._answer(path, body, api_version)
            chosen = {name.lower(): value for name, value in self.limits.headers.items()}
            sent = {name: value for name, value in (headers | chosen).items() if value is not None}
            return status, answer, sent
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, path: str, body: dict[str, Any], api_version: str) -> tuple[int, dict, dict[str, str]]:
        status, answer = offline_model.respond(path, body)
        usage = answer.get("usage", {}) if status == 200 else {}
        tokens = float(usage.get("total_tokens", 0))
        request = hashlib.sha256(json.dumps([path, body], sort_keys=True).encode()).hexdigest()[:16]
        with self._lock:
            now = time.monotonic()
            if self.limits.error_rate and self._random.random() < self.limits.error_rate:
                self.calls.append(Call(now, 500, request))
                return 500, {"error": {"code": "InternalServerError", "message": SERVER_ERROR}}, {}
            waits = {
                "call": self._requests.wait(now, 1) if self._requests else 0.0,
                "token": self._tokens.wait(now, tokens) if self._tokens else 0.0,
            }
            kind, wait = max(waits.items(), key=lambda item: item[1])
            if wait > 0:
                self.calls.append(Call(now, 429, request, wait))
                headers = self._allowance_headers() | _retry_headers(wait)
                return 429, _quota_body(path, api_version, kind, wait), headers
            for window, cost in ((self._requests, 1), (self._tokens, tokens)):
                if window is not None:
                    window.spend(now, cost)
            headers = self._allowance_headers()
            self.calls.append(Call(now, status, request))
        if self.limits.latency_ms:
            time.sleep(self.limits.latency_ms / 1000)
        return status, answer, headers

    def _allowance_headers(self) -> dict[str, str]:
        """What Azure OpenAI says of each limit: the allowance, and what is left of it."""
        headers = {}
        for name, window in (("requests", self._requests), ("tokens", self._tokens)):
            if window is not None:
                headers[f"x-ratelimit-limit-{name}"] = str(math.floor(window.allowance))
                headers[f"x-ratelimit-remaining-{name}"] = str(window.remaining())
        return headers


def _retry_headers(wait: float) -> dict[str, str]:
    return {"retry-after": str(math.ceil(wait)), "retry-after-ms": str(math.ceil(wait * 1000))}


def _quota_body(path: str, api_version: str, kind: str, wait: float) -> dict[str, Any]:
    operation = "Embeddings_Create" if path.endswith("/embeddings") else "ChatCompletions_Create"
    message = QUOTA_MESSAGE.format(
        operation=operation, version=api_version or "(none)", kind=kind, seconds=math.ceil(wait)
    )
    return {"error": {"code": "429", "message": message}}


def _handler(endpoint: FakeEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the openai client's connection pool expects
        disable_nagle_algorithm = True  # else headers and body wait out a delayed ACK: +40 ms a call

        def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            version = parse_qs(query).get("api-version", [""])[0]
            self._send(*endpoint.answer(path, body, version))

        def do_GET(self) -> None:
            if self.path.rstrip("/") == "/stats":
                self._send(200, endpoint.stats(), {})
            else:
                self._send(404, {"error": {"code": "404", "message": f"no route {self.path}"}}, {})

        def log_message(self, *_: object) -> None:
            pass

    return Handler


def _header(text: str) -> tuple[str, str | None]:
    """NAME:VALUE sends that value; NAME alone drops the header."""
    name, colon, value = text.partition(":")
    if not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME:VALUE, e.g. retry-after:inf, or NAME to drop")
    return name.strip(), value.strip() if colon else None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--rpm", type=float, help="requests per minute (default: unlimited; 0 refuses all)")
    parser.add_argument("--tpm", type=float, help="tokens per minute (default: unlimited)")
    parser.add_argument("--window-seconds", type=float, default=60.0, help="the limits' sliding window")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every answered call")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fraction of calls answered 500")
    parser.add_argument("--seed", type=int, default=0, help="for the error injection")
    parser.add_argument(
        "--header",
        action="append",
        default=[],
        type=_header,
        metavar="NAME:VALUE",
        help="sent on every answer in place of the fake's own, e.g. retry-after:inf; NAME alone drops it",
    )
    args = parser.parse_args(argv)
    rates = (args.rpm, args.tpm, args.window_seconds)
    limits = Limits(*rates, args.latency_ms, args.error_rate, args.seed, dict(args.header))
    endpoint = FakeEndpoint(limits, port=args.port).start()
    print(f"fake Azure OpenAI endpoint on {endpoint.url} ({limits}); GET {endpoint.url}/stats for counts")
    print(
        f"  LLM_PROVIDER=azure_openai AZURE_OPENAI_AUTH=api_key AZURE_OPENAI_API_KEY=fake "
        f"AZURE_OPENAI_ENDPOINT={endpoint.url}",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print(json.dumps(endpoint.stats()))
    finally:
        endpoint.stop()


if __name__ == "__main__":
    main()
