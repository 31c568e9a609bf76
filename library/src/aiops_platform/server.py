"""The production HTTP app: Azure ML's online-endpoint scoring contract, for both deployment targets.

`POST /score` takes the flow's data inputs as a JSON object and returns its outputs; `GET /health`
is liveness (with the project's version), `GET /ready` readiness (flow loaded, model configured).
uvicorn serves it. Prompt Flow's `pf flow serve` is Flask's development server and is not used.

A caller sends data only: the flow's parameters without a default (question, context,
chat_history). Those with one (prompt, temperature, top_k) are the variant's settings, and the
deployment serves the flow's own defaults, the baseline variant the gate scores: no request picks a
file to open or a setting nobody evaluated.

Status codes are for the callers and the 5xx alert: the caller's mistakes are 4xx, a model that
refuses is 502, one that is down or not configured is 503. Error bodies say what went wrong in a
short sentence with a request id; endpoints, variable names and stack traces go only to the log,
with secrets masked (ci_api.MaskSecrets: keys, tokens, credentials in a URL).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import tomllib
import types
import typing
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, cast

import openai
import yaml
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aiops_platform import ci_api, llm, paths, project, terminal, tracing
from aiops_platform.flow_entry import FLEX_SPEC, entry_file, load_entry

MAX_BODY_VARIABLE = "AIOPS_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 1_048_576
CHAT_ROLES = ("user", "assistant")
MAX_DEPTH = 32  # levels of nesting in a body: a chat turn needs 4; a deeper one is a mistake or an attack
_CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_JSON_TYPES: dict[Any, tuple[type, ...]] = {
    str: (str,),
    int: (int,),
    float: (int, float),
    bool: (bool,),
    list: (list,),
    dict: (dict,),
}

_JSON_NAMES = {str: "a string", int: "a number", float: "a number", bool: "true or false", list: "a list"}
_JSON_NAMES[dict] = "an object"

log = logging.getLogger(__name__)


class RequestRejected(Exception):
    """A reply with a status code and a message that is safe to show the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ChatHistory:
    """A chat flow's earlier turns (`is_chat_history` in flow.flex.yaml), in Prompt Flow's shape
    {"inputs": {<question>: ...}, "outputs": {<answer>: ...}} or as chat messages {"role", "content"}."""

    name: str
    question: str
    answer: str

    @classmethod
    def of(cls, flow_dir: Path) -> ChatHistory | None:
        spec_file = entry_file(flow_dir) / FLEX_SPEC
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8")) if spec_file.is_file() else None
        if not isinstance(spec, dict):
            return None

        def marked(section: str, flag: str) -> str | None:
            declared = spec.get(section) or {}
            return next((name for name, item in declared.items() if (item or {}).get(flag)), None)

        names = marked("inputs", "is_chat_history"), marked("inputs", "is_chat_input")
        answer = marked("outputs", "is_chat_output")
        return cls(names[0], names[1], answer) if names[0] and names[1] and answer else None

    def check(self, turns: list[Any]) -> None:
        for number, turn in enumerate(turns, start=1):
            if not self._valid(turn):
                shape = json.dumps({"inputs": {self.question: "..."}, "outputs": {self.answer: "..."}})
                raise RequestRejected(
                    400,
                    f"input '{self.name}' turn {number} must be {shape} "
                    'or {"role": "user" or "assistant", "content": "..."}',
                )

    def _valid(self, turn: object) -> bool:
        if not isinstance(turn, dict):
            return False
        if "role" in turn:  # never "system": a caller does not write the instructions
            return turn["role"] in CHAT_ROLES and isinstance(turn.get("content"), str)
        inputs, outputs = turn.get("inputs"), turn.get("outputs")
        return (
            isinstance(inputs, dict)
            and isinstance(outputs, dict)
            and isinstance(inputs.get(self.question), str)
            and isinstance(outputs.get(self.answer), str)
        )


@dataclass(frozen=True)
class FlowInputs:
    """What a caller may send, read once from the flow: its data inputs (the parameters without a
    default) and their JSON types. The parameters with a default are the variant's settings."""

    types: dict[str, tuple[type, ...] | None]
    settings: frozenset[str]
    chat_history: ChatHistory | None = None

    @classmethod
    def of(cls, entry: Callable[..., Any], chat_history: ChatHistory | None = None) -> FlowInputs:
        function = inspect.unwrap(entry if inspect.isfunction(entry) else cast(Any, entry).__call__)
        try:
            hints = typing.get_type_hints(function)
        except (NameError, TypeError):  # an annotation that cannot be resolved checks nothing
            hints = {}
        parameters = inspect.signature(entry).parameters
        data = [name for name, p in parameters.items() if p.default is inspect.Parameter.empty]
        settings = frozenset(parameters) - set(data)
        return cls({name: _json_types(hints.get(name)) for name in data}, settings, chat_history)

    def check(self, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise RequestRejected(400, "the body must be a JSON object of the flow's inputs")
        unknown = sorted(set(body) - set(self.types))
        if unknown:
            message = f"unknown input {_names(unknown)}; the flow takes {_names(self.types)}"
            if fixed := sorted(self.settings & set(unknown)):
                message += f" ({_names(fixed)}: the deployment's variant, not a request's)"
            raise RequestRejected(400, message)
        missing = [name for name in self.types if name not in body]
        if missing:
            raise RequestRejected(400, f"missing input {_names(missing)}")
        for name, value in body.items():
            expected = self.types[name]
            if expected and not (isinstance(value, expected) and not _is_bool_for_number(value, expected)):
                kinds = " or ".join(sorted({_JSON_NAMES[t] for t in expected}))
                raise RequestRejected(400, f"input '{name}' must be {kinds}")
        if self.chat_history and isinstance(body.get(self.chat_history.name), list):
            self.chat_history.check(body[self.chat_history.name])
        return body


def _json_types(hint: Any) -> tuple[type, ...] | None:
    """The JSON shapes a parameter accepts; None when the annotation says nothing checkable."""
    origin = typing.get_origin(hint) or hint
    if origin in (typing.Union, types.UnionType):
        members = [_json_types(arg) for arg in typing.get_args(hint) if arg is not type(None)]
        return None if None in members else tuple(t for m in members for t in m)  # type: ignore[union-attr]
    return _JSON_TYPES.get(origin)


def _is_bool_for_number(value: object, expected: tuple[type, ...]) -> bool:
    return isinstance(value, bool) and bool not in expected


NAME_SHOWN = 64  # characters of a caller's input name an error repeats: a name may be a megabyte


def _names(names: Iterable[str]) -> str:
    return ", ".join(f"'{name[:NAME_SHOWN]}...'" if len(name) > NAME_SHOWN else f"'{name}'" for name in names)


def max_body_bytes() -> int:
    return int(os.environ.get(MAX_BODY_VARIABLE) or DEFAULT_MAX_BODY_BYTES)


def project_version() -> str:
    """The installed distribution's version; from a source checkout, its pyproject.toml."""
    try:
        return metadata.version(project.load().slug)
    except metadata.PackageNotFoundError:
        pyproject = paths.project() / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


async def read_body(request: Request, limit: int) -> bytes:
    """At most `limit` bytes: a declared or streamed larger body is refused before it is held."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise RequestRejected(413, f"the body is larger than {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestRejected(413, f"the body is larger than {limit} bytes")
    return bytes(body)


def parse(body: bytes) -> object:
    """The body as JSON: UTF-8 text, standard JSON (no NaN), at most MAX_DEPTH levels deep, every
    string a string of characters. Anything else is the caller's mistake, a 400."""
    if not body.strip():
        raise RequestRejected(400, "the body is empty: send a JSON object of the flow's inputs")
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRejected(400, "the body is not UTF-8 text") from None
    try:
        value = json.loads(decoded, parse_constant=_not_json)
    except RecursionError:  # the parser's own limit, far deeper than MAX_DEPTH
        raise RequestRejected(400, f"the body is nested deeper than {MAX_DEPTH} levels") from None
    except ValueError:  # not JSON, NaN or Infinity, an integer of thousands of digits
        raise RequestRejected(400, "the body is not valid JSON") from None
    _check_values(value)
    return value


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def _check_values(value: object) -> None:
    """Depth and text of every value, without recursion (the body may be deep)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise RequestRejected(400, f"the body is nested deeper than {MAX_DEPTH} levels")
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                pending.append((child, depth + 1))
        elif isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RequestRejected(400, "the body holds an escape that is no character (a lone \\ud800)") from None


def model_failure(error: BaseException) -> RequestRejected | None:
    """A model that refused the call is a bad gateway; one that is down or unconfigured, unavailable."""
    cause = error.__cause__ if isinstance(error, llm.ModelCallError) else error
    if isinstance(error, llm.ConfigError):
        return RequestRejected(503, "the model is not configured")
    if isinstance(cause, openai.APITimeoutError | openai.APIConnectionError | openai.RateLimitError):
        return RequestRejected(503, "the model is unavailable; try again later")
    if isinstance(cause, openai.InternalServerError | llm.NoIdentityToken):
        return RequestRejected(503, "the model is unavailable; try again later")
    if isinstance(error, llm.ModelCallError):
        return RequestRejected(502, "the model refused the request")
    return None


def request_id_of(request: Request) -> str:
    offered = request.headers.get("x-request-id") or request.headers.get("x-ms-client-request-id") or ""
    return offered if _CLIENT_REQUEST_ID.fullmatch(offered) else str(uuid.uuid4())  # dashed: never key-shaped


def error_response(status: int, message: str, request_id: str) -> JSONResponse:
    return JSONResponse({"error": message, "request_id": request_id}, status, {"x-request-id": request_id})


def create_app(flow_dir: Path) -> Starlette:
    """The app for `flow_dir`; tracing.TracingConfigError first when its exporters cannot be built."""
    tracing.check_configuration()
    entry = load_entry(flow_dir)
    inputs = FlowInputs.of(entry, ChatHistory.of(flow_dir))
    version = project_version()
    limit = max_body_bytes()

    async def score(request: Request) -> JSONResponse:
        request_id = request_id_of(request)
        try:
            arguments = inputs.check(parse(await read_body(request, limit)))
            outputs = await run_in_threadpool(_call, entry, arguments, request_id)
        except RequestRejected as rejected:
            log.info("request %s rejected (%s): %s", request_id, rejected.status, rejected.message)
            return error_response(rejected.status, rejected.message, request_id)
        except Exception as error:  # every failure becomes a status code, never a stack trace
            failure = model_failure(error)
            status, message = (failure.status, failure.message) if failure else (500, "internal error")
            log.error("request %s failed (%s): %r", request_id, status, error, exc_info=failure is None)
            return error_response(status, message, request_id)
        return JSONResponse(outputs, headers={"x-request-id": request_id})

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "healthy", "version": version})

    async def ready(_: Request) -> JSONResponse:
        try:
            llm.get_client()
        except llm.ConfigError as error:
            log.warning("not ready: %s", error)
            return JSONResponse({"status": "not ready", "reason": "the model is not configured"}, 503)
        return JSONResponse({"status": "ready", "version": version})

    routes = [
        Route("/score", score, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/ready", ready, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def _call(entry: Callable[..., Any], arguments: dict[str, Any], request_id: str) -> dict[str, Any]:
    with tracing.run_attributes(request_id=request_id):
        return dict(entry(**arguments))


class LogLine(logging.Formatter):
    """A record's message on one line: a caller's text in it (an input's name) shows its line breaks
    and escape sequences as escapes (terminal.visible), so it forges no line and acts on no terminal."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        return terminal.visible(super().formatMessage(record))


def log_handler(stream: typing.TextIO | None = None) -> logging.Handler:
    """The server's log (stderr): one line per record (a traceback below it), secrets masked."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(LogLine("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(ci_api.MaskSecrets())
    return handler


def serve(flow_dir: Path, host: str, port: int) -> None:
    """uvicorn in this process; workers and limits come from its own settings (UVICORN_*). Its own
    loggers (access lines included) write through log_handler too: no log_config of its own."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, handlers=[log_handler()])
    app = create_app(flow_dir)
    uvicorn.run(app, host=host, port=port, log_level="info", log_config=None, server_header=False)
