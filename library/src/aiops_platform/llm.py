"""The model-provider seam: one `openai` client for the offline stand-in, Azure OpenAI or OpenAI.

Online, every call goes through one process-wide `RateLimiter` per endpoint (an httpx transport
under the openai client, so chat and embeddings both pass it). When the endpoint answers 429, the
limiter holds every new call until its `retry-after-ms` / `retry-after` has passed (`retry_after`
keeps that within RETRY_AFTER_SECONDS, whatever the answer says), then retries the refused one; it
also caps and paces the calls in flight (AIMD, see `RateLimiter`). A call gives
up after LLM_RATE_LIMIT_WAIT_SECONDS of such waiting and fails with a message saying so; 5xx,
timeouts and connection errors stay with the openai client's LLM_MAX_RETRIES. The offline stand-in
is not limited.

Online, answers are also cached on disk (`ResponseCache`, LLM_CACHE): a call whose provider,
endpoint URL, model, api version, messages and parameters were all asked before is answered from
`.aiops/cache/llm/` without reaching the endpoint. An entry answers only the key it holds, in the
shape `put` writes; anything else is a miss. `CALLS` counts the calls made and answered from
the cache, process-wide (`experiment run` prints them and saves them in results.json).
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import logging
import math
import os
import random
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from aiops_platform import ci_api, offline_model, paths, tracing
from aiops_platform.settings import Settings, get_settings

if TYPE_CHECKING:  # openai (~1 s to import) loads with the first client: a flow imported to be checked
    import openai  # (`experiment validate`) or a command that calls no model never pays for it

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
PROVIDER_NAMES = {"azure_openai": "azure.ai.openai", "openai": "openai", "offline": "offline"}

log = logging.getLogger(__name__)


class ConfigError(RuntimeError):
    """A setting the chosen provider needs is missing; the message names the variable."""


class ModelCallError(RuntimeError):
    """The model could not be reached or refused the call, after the configured retries."""


def endpoint_named(settings: Settings) -> str:
    """The provider and its endpoint as a message names them: no credentials, no query."""
    endpoint = settings.openai_base_url if settings.provider == "openai" else settings.azure_openai_endpoint
    return f"{settings.provider} ({ci_api.display_url(endpoint) if endpoint else 'api.openai.com'})"


def describe_failure(settings: Settings, error: openai.APIError) -> str:
    """One line a developer can act on: which provider, what went wrong, which setting to check."""
    import openai

    where = endpoint_named(settings)
    limits = f"timeout {settings.llm_timeout_seconds:g} s, {settings.llm_max_retries} retries"
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        hint = "check AZURE_OPENAI_API_KEY / OPENAI_API_KEY, or your Entra ID role on the resource"
        return f"{where} refused the call ({error.status_code}): {hint}"
    if isinstance(error, openai.RateLimitError):
        gave_up = error.response.headers.get(GAVE_UP_HEADER)
        if gave_up:  # the limiter's own account of the waiting it did
            return (
                f"{where} kept refusing the call (429 rate limit): {gave_up} "
                f"(LLM_RATE_LIMIT_WAIT_SECONDS={settings.llm_rate_limit_wait_seconds:g}); lower the "
                "concurrency, raise the deployment's quota or allow a longer wait"
            )
        return f"{where} rate-limited the call (429), {settings.llm_max_retries} retries: {error.message}"
    if isinstance(error, openai.APITimeoutError):
        return f"{where} did not answer ({limits}); check the endpoint and the network"
    if isinstance(error, openai.APIConnectionError):
        return f"{where} is unreachable ({limits}): {error.__cause__ or error}"
    return f"{where} failed: {error}"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


@contextlib.contextmanager
def model_answer(settings: Settings, answer: str) -> Iterator[None]:
    """Around one model call and the reading of its answer (`answer`: what it should be): a refusal,
    or an answer no OpenAI-compatible endpoint gives (not JSON, nested beyond reason, no choices,
    counts that are no counts), is one ModelCallError line naming the endpoint, never a traceback."""
    import openai

    try:
        yield
    except openai.APIError as error:
        raise ModelCallError(describe_failure(settings, error)) from error
    except NoIdentityToken as error:
        raise ModelCallError(f"{endpoint_named(settings)}: {error}") from error
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError) as error:
        reason = f"{type(error).__name__}: {error}"[:200]
        raise ModelCallError(
            f"{endpoint_named(settings)} answered with no {answer} ({reason}); "
            "check that the endpoint is OpenAI-compatible"
        ) from error


def counted(*counts: object) -> None:
    """TypeError unless every count an answer gives is a whole number, not below zero."""
    if any(type(count) is not int or count < 0 for count in counts):
        raise TypeError(f"token counts {list(counts)} are not counts")


# --- rate limits ---------------------------------------------------------------------------------

GAVE_UP_HEADER = "x-aiops-rate-limit"  # set on the 429 the limiter hands back when it stops waiting
BACKOFF_SECONDS = (0.5, 8.0)  # first and longest wait after a 429 that names no retry-after
# The shortest and longest wait one 429 imposes on the process, whatever its retry-after says: one
# answer can neither close the model to every call (huge, infinite, a far date) nor remove the wait.
RETRY_AFTER_SECONDS = (0.1, 60.0)
# The cap after a 429, as a fraction of the calls then in flight. Far gentler than halving: the
# gate already stops the burst, and a cap below rate x latency leaves allowed calls unmade
# (measured on the fake endpoint, 600 rpm: 0.5 reaches ~80% of the allowed rate, 0.9 ~95%).
DECREASE = 0.9
MIN_CAP = 0.05  # below 1 the cap paces a single call: one start per latency / cap seconds


class RateLimiter:
    """How many calls to one endpoint may be in flight, shared by every thread of the process.

    The cap starts unlimited (the engine's pool bounds it). A 429 closes the gate (no call starts
    until its retry-after has passed) and cuts the cap to 0.9 x the calls in flight, once per
    episode: refusals of calls sent before the last cut don't cut again. Each answered call grows
    it by 1/cap while the cap is what holds calls back and the endpoint has requests to spare
    (`x-ratelimit-remaining-*` not 0). Once capped, calls start paced, latency / cap apart, so they
    reach the endpoint spread out rather than in bursts that all leave its window at once; so the
    cap is in effect a rate (cap / latency calls per second), and may fall below one call.
    """

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0
        self.cap = math.inf
        self.refused = 0
        self.closed_until = 0.0  # time.monotonic() before which no call starts (a 429 holds them)
        self._last_cut = 0.0
        self._latency = 0.0  # smoothed seconds an answered call takes
        self._next_start = 0.0

    def acquire(self, deadline: float) -> float | None:
        """Wait for the gate and a free slot: the call's start time, or None once `deadline` passes."""
        with self._changed:
            while True:
                now = time.monotonic()
                if now >= deadline:
                    return None
                opens = max(self.closed_until, self._next_start)
                if now >= opens and self._in_flight < self.cap:
                    self._in_flight += 1
                    if self.cap != math.inf:
                        self._next_start = now + self._latency / self.cap
                    return now
                self._changed.wait(min(opens if now < opens else deadline, deadline) - now)

    def release(self, started: float, refused_for: float | None = None, spare: int | None = None) -> None:
        """A call started at `started` ended: refused (wait `refused_for`), else answered (`spare`: what
        the endpoint says is left of its allowance, -1 if it doesn't say), or failed (no sign either way)."""
        with self._changed:
            in_flight, self._in_flight = self._in_flight, self._in_flight - 1
            now = time.monotonic()
            if refused_for is not None:
                self.refused += 1
                self.closed_until = max(self.closed_until, now + refused_for)
                if started >= self._last_cut:
                    self.cap = max(MIN_CAP, min(self.cap, in_flight) * DECREASE)
                    self._last_cut = now
            elif spare is not None:
                took = now - started
                self._latency = 0.8 * self._latency + 0.2 * took if self._latency else took
                # calls in flight are already counted in `spare`: 0 means the next one would be refused
                if spare != 0 and self.cap != math.inf and in_flight >= self.cap - 1:
                    self.cap += 1 / self.cap if self.cap >= 1 else 0.1
            self._changed.notify_all()


def retry_after(headers: httpx.Headers) -> float | None:
    """Seconds a 429 holds every call: `retry-after-ms`, else `retry-after` (seconds or an HTTP date),
    kept within RETRY_AFTER_SECONDS (infinity and far dates wait the longest). None when neither names
    a wait to honour (absent, text, NaN, zero or less: "now" from an endpoint that just refused is no
    guidance), so the caller backs off on its own."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        text = headers.get(name, "")
        try:
            seconds = float(text) * scale
        except ValueError:
            seconds = _seconds_until(text) if name == "retry-after" else math.nan
        if seconds > 0:  # False for NaN
            shortest, longest = RETRY_AFTER_SECONDS
            return min(max(seconds, shortest), longest)
    return None


def _seconds_until(date: str) -> float:
    """Seconds from now to an HTTP date; NaN when it is none (or no date a calendar holds)."""
    try:
        parsed = email.utils.parsedate_tz(date)
        return email.utils.mktime_tz(parsed) - time.time() if parsed else math.nan
    except (ArithmeticError, LookupError, ValueError):  # the parser's own failures on odd text
        return math.nan


def backoff(refusals: int) -> float:
    """The limiter's own wait after a 429 that names none: doubling from the first, jittered."""
    first, longest = BACKOFF_SECONDS
    return min(first * 2.0 ** min(refusals - 1, 16), longest) * random.uniform(0.75, 1)


def _spare(headers: httpx.Headers) -> int:
    """What the endpoint says is left of its request (or token) allowance; -1 if it doesn't say."""
    left = []
    for name in ("x-ratelimit-remaining-requests", "x-ratelimit-remaining-tokens"):
        try:
            value = float(headers.get(name, "-1"))
        except ValueError:
            continue
        if 0 <= value < math.inf:  # Azure sends -1 when it doesn't know; NaN and infinity say nothing
            left.append(int(value))
    return min(left) if left else -1


class _Attempts:
    """One request's attempts under the limiter, for the sync and async transports alike: a 429 is
    waited out and retried until `wait_seconds` have passed, then handed back as given up."""

    def __init__(self, limiter: RateLimiter, wait_seconds: float) -> None:
        self.limiter = limiter
        self.start = time.monotonic()
        self.deadline = self.start + wait_seconds
        self.refusals = 0

    def held_back(self) -> httpx.Response:
        """The answer when the limiter let no attempt start before the deadline."""
        why = f"held back {time.monotonic() - self.start:.1f} s after {self.refusals} refusals"
        return _gave_up(httpx.Response(429, json={"error": {"code": "429", "message": why}}), why)

    def settle(self, started: float, response: httpx.Response) -> httpx.Response | None:
        """Tell the limiter how the attempt went: the response to hand back, or None to try again
        (after the caller has read and closed this one)."""
        if response.status_code != 429:
            answered = response.status_code < 400  # a failure is no sign of the rate either way
            self.limiter.release(started, spare=_spare(response.headers) if answered else None)
            return response
        self.refusals += 1
        asked = retry_after(response.headers)
        wait = backoff(self.refusals) if asked is None else asked
        self.limiter.release(started, refused_for=wait)
        now = time.monotonic()
        if now + wait > self.deadline:
            at_least = "at least " if asked == RETRY_AFTER_SECONDS[1] else ""
            asked_for = f"; it asked for {at_least}{wait:.1f} s more" if asked is not None else ""
            return _gave_up(response, f"refused {self.refusals} times in {now - self.start:.1f} s{asked_for}")
        return None


class RateLimitedTransport(httpx.BaseTransport):
    """Every request waits for the limiter; a 429 is waited out and retried within `wait_seconds`."""

    def __init__(self, inner: httpx.BaseTransport, limiter: RateLimiter, wait_seconds: float) -> None:
        self._inner, self._limiter, self._wait_seconds = inner, limiter, wait_seconds

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        attempts = _Attempts(self._limiter, self._wait_seconds)
        while True:
            started = self._limiter.acquire(attempts.deadline)
            if started is None:
                return attempts.held_back()
            try:
                response = self._inner.handle_request(request)
            except BaseException:
                self._limiter.release(started)
                raise
            final = attempts.settle(started, response)
            if final is not None:
                return final
            response.read()
            response.close()

    def close(self) -> None:
        self._inner.close()


class AsyncRateLimitedTransport(httpx.AsyncBaseTransport):
    """The same limiter for async clients (Agent Framework's): the wait for a slot runs on a worker
    thread, so the event loop is never blocked by it."""

    def __init__(self, inner: httpx.AsyncBaseTransport, limiter: RateLimiter, wait_seconds: float) -> None:
        self._inner, self._limiter, self._wait_seconds = inner, limiter, wait_seconds

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio

        attempts = _Attempts(self._limiter, self._wait_seconds)
        while True:
            started = await asyncio.to_thread(self._limiter.acquire, attempts.deadline)
            if started is None:
                return attempts.held_back()
            try:
                response = await self._inner.handle_async_request(request)
            except BaseException:
                self._limiter.release(started)
                raise
            final = attempts.settle(started, response)
            if final is not None:
                return final
            await response.aread()
            await response.aclose()

    async def aclose(self) -> None:
        await self._inner.aclose()


def _gave_up(response: httpx.Response, why: str) -> httpx.Response:
    response.headers["x-should-retry"] = "false"  # the openai client must not start over
    response.headers[GAVE_UP_HEADER] = why
    return response


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(endpoint: str) -> RateLimiter:
    """The process's limiter for one endpoint (every client built for it shares it)."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault(endpoint, RateLimiter())


def _http_client(settings: Settings, asynchronous: bool) -> httpx.Client | httpx.AsyncClient | None:
    """The rate-limited transport under openai's default client (sync or async, one process-wide
    limiter per endpoint either way); None (openai's own) when turned off."""
    if not settings.llm_adaptive_concurrency:
        return None
    pool_limits = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
    limiter = limiter_for(endpoint_url(settings))
    wait = settings.llm_rate_limit_wait_seconds
    if asynchronous:
        limited = AsyncRateLimitedTransport(httpx.AsyncHTTPTransport(limits=pool_limits), limiter, wait)
        return httpx.AsyncClient(transport=limited, follow_redirects=True)
    transport = RateLimitedTransport(httpx.HTTPTransport(limits=pool_limits), limiter, wait)
    return httpx.Client(transport=transport, follow_redirects=True)  # as the offline stand-in's client


# --- clients -------------------------------------------------------------------------------------


def build_client(settings: Settings) -> openai.OpenAI:
    """Explicit timeout and bounded retries; online, the process-wide rate limiter (see above)."""
    import openai

    azure, arguments = _client_arguments(settings, asynchronous=False)
    return openai.AzureOpenAI(**arguments) if azure else openai.OpenAI(**arguments)


def build_async_client(settings: Settings) -> openai.AsyncOpenAI:
    """`build_client`'s async twin, for Agent Framework (agents.py): the same provider switch, timeout,
    retries and, online, the same process-wide rate limiter per endpoint."""
    import openai

    azure, arguments = _client_arguments(settings, asynchronous=True)
    return openai.AsyncAzureOpenAI(**arguments) if azure else openai.AsyncOpenAI(**arguments)


def _client_arguments(settings: Settings, asynchronous: bool) -> tuple[bool, dict[str, Any]]:
    """(Azure OpenAI or not, the client's keyword arguments) for the configured provider; ConfigError
    naming the variable a provider needs and lacks."""
    arguments: dict[str, Any] = {
        "timeout": settings.llm_timeout_seconds,
        "max_retries": settings.llm_max_retries,
    }
    endpoint_url(settings)  # an endpoint that is no URL: ConfigError naming the variable
    if settings.provider == "offline":
        transport = offline_model.transport(settings.offline_model_latency_ms)
        http_client = (
            httpx.AsyncClient(transport=transport) if asynchronous else httpx.Client(transport=transport)
        )
        arguments |= {"api_key": "offline", "base_url": offline_model.BASE_URL}  # pragma: allowlist secret
        return False, arguments | {"http_client": http_client}
    arguments["http_client"] = _http_client(settings, asynchronous)
    if settings.provider == "openai":
        if settings.openai_api_key is None:
            raise ConfigError("OPENAI_API_KEY is not set (LLM_PROVIDER=openai needs it).")
        arguments["api_key"] = settings.openai_api_key.get_secret_value()
        return False, arguments | {"base_url": settings.openai_base_url or "https://api.openai.com/v1"}
    if not settings.azure_openai_endpoint:
        raise ConfigError("AZURE_OPENAI_ENDPOINT is not set (LLM_PROVIDER=azure_openai needs it).")
    arguments |= {
        "azure_endpoint": settings.azure_openai_endpoint,
        "api_version": settings.azure_openai_api_version,
    }
    if settings.azure_openai_auth == "api_key":
        if settings.azure_openai_api_key is None:
            raise ConfigError("AZURE_OPENAI_API_KEY is not set (AZURE_OPENAI_AUTH=api_key needs it).")
        return True, arguments | {"api_key": settings.azure_openai_api_key.get_secret_value()}
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    token_provider = get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE)
    return True, arguments | {"azure_ad_token_provider": _entra_token(token_provider)}


class NoIdentityToken(RuntimeError):
    """Entra ID gave no token: the identity is missing or not allowed, so the model is unavailable."""


def _entra_token(provider: Callable[[], str]) -> Callable[[], str]:
    """The token provider, failing in one line: azure-identity's error spans a screen per credential."""
    from azure.core.exceptions import ClientAuthenticationError

    def token() -> str:
        try:
            return provider()
        except ClientAuthenticationError as error:
            first = (str(error).strip().splitlines() or ["no reason given"])[0][:200]
            raise NoIdentityToken(
                f"no Entra ID token for {AZURE_SCOPE} ({first}); sign in with az login, "
                "or give the deployment a managed identity with access to the Azure OpenAI resource"
            ) from None

    return token


@lru_cache
def get_client() -> openai.OpenAI:
    return build_client(get_settings())


# --- response cache ------------------------------------------------------------------------------


@dataclass
class CallCounts:
    made: int = 0  # calls that reached the model (offline included)
    cached: int = 0  # calls answered from the response cache
    tokens_saved: int = 0  # input + output tokens of the cached answers


class CallCounter:
    """The process's model calls: made, answered from the cache, and the tokens the cache saved."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = CallCounts()

    def add(self, made: int = 0, cached: int = 0, tokens_saved: int = 0) -> None:
        with self._lock:
            self._counts.made += made
            self._counts.cached += cached
            self._counts.tokens_saved += tokens_saved

    def snapshot(self) -> CallCounts:
        with self._lock:
            return CallCounts(**asdict(self._counts))

    def since(self, before: CallCounts) -> CallCounts:
        now = self.snapshot()
        saved = now.tokens_saved - before.tokens_saved
        return CallCounts(now.made - before.made, now.cached - before.cached, saved)


CALLS = CallCounter()


def endpoint_url(settings: Settings) -> str:
    """Where the provider's calls go, one spelling per endpoint: scheme, lower-case host, port (unless
    the default) and path (no trailing slash), and no user, password, query or fragment, which may hold
    a key. Part of every cache key: two deployments or paths on one host never share answers."""
    if settings.provider == "offline":
        return "offline"
    azure = settings.provider == "azure_openai"
    setting = settings.azure_openai_endpoint if azure else settings.openai_base_url
    try:
        url = httpx.URL(setting or "https://api.openai.com/v1")
    except httpx.InvalidURL:
        variable = "AZURE_OPENAI_ENDPOINT" if azure else "OPENAI_BASE_URL"
        raise ConfigError(f"{variable} is not a URL; give it as https://<host>[:<port>][/<path>]") from None
    return str(url.copy_with(username=None, password=None, query=None, fragment=None)).rstrip("/")


def endpoint_host(settings: Settings) -> str:
    """The host (and port) the provider's calls go to, no credentials: which model answered."""
    url = endpoint_url(settings)
    return url if settings.provider == "offline" else httpx.URL(url).netloc.decode("ascii")


def model_identity(settings: Settings) -> dict[str, str]:
    """Which model answered: saved in results.json, so a gate never compares answers of two models."""
    return {"provider": settings.provider, "model": settings.model, "endpoint": endpoint_host(settings)}


def cache_key(
    settings: Settings, messages: list[dict[str, str]], parameters: dict[str, Any]
) -> dict[str, Any]:
    """Everything that determines an answer; never a credential."""
    return {
        "provider": settings.provider,
        "endpoint": endpoint_url(settings),
        "model": settings.model,
        "api_version": settings.azure_openai_api_version if settings.provider == "azure_openai" else None,
        "messages": messages,
        "parameters": parameters,
    }


ENTRY_FIELDS = {"key": dict, "response_model": str, "saved": str, "text": str}
ENTRY_COUNTS = ("prompt_tokens", "completion_tokens")


def entry_problem(entry: Any, key: dict[str, Any]) -> str | None:
    """Why a cache file's content is no answer to `key` (None: it is): not the shape `put` writes, or
    written for another key (a file copied or renamed into place)."""
    if not isinstance(entry, dict):
        return "not a JSON object"  # or no JSON at all: truncated, not UTF-8
    for name, kind in ENTRY_FIELDS.items():
        if not isinstance(entry.get(name), kind):
            return f"'{name}' is missing or not a {kind.__name__}"
    for name in ENTRY_COUNTS:
        count = entry.get(name)
        if type(count) is not int or count < 0:
            return f"'{name}' is missing or not a count"
    try:
        same = ResponseCache.digest(entry["key"]) == ResponseCache.digest(key)
    except (ValueError, RecursionError):  # text UTF-8 cannot hold, nesting beyond reason
        same = False
    return None if same else "it was saved for another call"


ENTRY_LIMIT_BYTES = 16 * 1024 * 1024  # an entry `put` writes holds one answer: a few kilobytes


class ResponseCache:
    """One small JSON file per key (sha256 of its canonical JSON), written to a temporary file and
    renamed into place, so threads and processes sharing the folder never read half a file. Two
    callers missing the same key at once both call the model; the last to finish wins (same answer).
    An entry holds its key, and is an answer only to that key and only in the shape `put` writes."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def digest(key: dict[str, Any]) -> str:
        canonical = json.dumps(key, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def path(self, key: dict[str, Any]) -> Path:
        return self.folder / f"{self.digest(key)}.json"

    def get(self, key: dict[str, Any]) -> Completion | None:
        """The cached answer, its file touched: `prune` keeps what recent runs used. A file that is no
        answer to `key` is a miss: removed, with one warning line, so the call is made again."""
        path = self.path(key)
        try:
            content = paths.read_bytes(path, ENTRY_LIMIT_BYTES)  # never a hand-made pipe or device
        except OSError:  # absent (or unreadable): a miss
            return None
        except paths.NotAFile as error:
            problem: str | None = str(error)
        else:
            try:
                entry = json.loads(content)
            except (ValueError, RecursionError):  # truncated, not JSON, not UTF-8, nested beyond reason
                entry = None
            problem = entry_problem(entry, key)
        if problem:
            log.warning("Ignored and removed cached answer %s: %s; the model is asked again", path, problem)
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            return None
        with contextlib.suppress(OSError):  # a read-only cache still answers
            os.utime(path)
        return Completion(entry["text"], entry["prompt_tokens"], entry["completion_tokens"])

    def put(self, key: dict[str, Any], completion: Completion, response_model: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        saved = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entry = {"key": key, "response_model": response_model, "saved": saved} | asdict(completion)
        handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                json.dump(entry, file, ensure_ascii=False, indent=1)
            os.replace(temporary, self.path(key))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def entries(self) -> list[Path]:
        return sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []

    def stats(self) -> tuple[int, int]:
        """Entries and bytes on disk."""
        files = self.entries()
        return len(files), sum(file.stat().st_size for file in files)

    def clear(self) -> int:
        """Remove every entry; how many there were."""
        files = self.entries()
        for file in files:
            file.unlink(missing_ok=True)
        return len(files)

    def prune(self, unused_for_seconds: float) -> tuple[int, int]:
        """Remove entries no call has read or written for that long: a CI cache then holds what the
        current prompts ask, not every answer ever given. (removed, kept)."""
        cutoff = time.time() - unused_for_seconds
        files = self.entries()
        stale = [file for file in files if file.stat().st_mtime < cutoff]
        for file in stale:
            file.unlink(missing_ok=True)
        return len(stale), len(files) - len(stale)


def cache_folder(settings: Settings) -> Path:
    return Path(settings.llm_cache_dir) if settings.llm_cache_dir else paths.project() / paths.LLM_CACHE


def response_cache(settings: Settings) -> ResponseCache | None:
    """The cache the settings ask for; None offline (deterministic and free) or with LLM_CACHE=off."""
    if settings.provider == "offline" or settings.llm_cache == "off":
        return None
    return ResponseCache(cache_folder(settings))


def chat(
    messages: list[dict[str, str]], temperature: float = 0.0, response_format: dict[str, str] | None = None
) -> Completion:
    """One chat completion, traced as a GenAI client span with its token usage; online, answered from
    the response cache when the same call was made before (the span says `aiops.cache_hit`)."""
    parameters: dict[str, Any] = {"temperature": temperature}
    if response_format:
        parameters["response_format"] = response_format
    settings = get_settings()
    provider = PROVIDER_NAMES[settings.provider]
    temperature_attribute = {"gen_ai.request.temperature": temperature}
    cache = response_cache(settings)
    key = cache_key(settings, messages, parameters) if cache else {}
    with tracing.model_call("chat", provider, settings.model, **temperature_attribute) as span:
        cached = cache.get(key) if cache and settings.llm_cache == "on" else None
        if cached is not None:
            span.set_attribute("aiops.cache_hit", True)
            CALLS.add(cached=1, tokens_saved=cached.prompt_tokens + cached.completion_tokens)
            tracing.record_usage(span, settings.model, cached.prompt_tokens, cached.completion_tokens)
            return cached
        try:
            with model_answer(settings, "chat completion"):
                response = get_client().chat.completions.create(
                    model=settings.model,
                    messages=messages,  # type: ignore[arg-type]  # role/content dicts, as the API takes
                    **parameters,
                )
                usage = response.usage
                completion = Completion(
                    text=response.choices[0].message.content or "",
                    prompt_tokens=usage.prompt_tokens if usage else 0,
                    completion_tokens=usage.completion_tokens if usage else 0,
                )
                if not isinstance(completion.text, str) or not isinstance(response.model, str):
                    raise TypeError("its message content or model is not text")
                counted(completion.prompt_tokens, completion.completion_tokens)
        finally:
            CALLS.add(made=1)
        tracing.record_usage(span, response.model, completion.prompt_tokens, completion.completion_tokens)
        if cache:
            cache.put(key, completion, response.model)
    return completion
