"""A model that is unreachable or refuses the call fails fast, within the configured limits, saying why."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import LoopbackServer, Unauthorised, sample_project
from typer.testing import CliRunner

from aiops_platform import llm
from aiops_platform.cli import app
from aiops_platform.offline_model import NO_ANSWER
from aiops_platform.settings import Settings


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch):
    def use(endpoint: str) -> Settings:
        settings = Settings(
            llm_provider="azure_openai",
            azure_openai_endpoint=endpoint,
            azure_openai_auth="api_key",
            azure_openai_api_key="placeholder-not-a-key",  # pragma: allowlist secret
            llm_timeout_seconds=2,
            llm_max_retries=1,
        )
        monkeypatch.setattr(llm, "get_settings", lambda: settings)
        monkeypatch.setattr(llm, "get_client", lambda: llm.build_client(settings))
        return settings

    return use


def test_an_unreachable_endpoint_fails_within_the_limits_and_names_it(settings_for):
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    settings_for(endpoint)
    start = time.perf_counter()
    expected = rf"azure_openai \({endpoint}\) is unreachable \(timeout 2 s, 1 retries\)"
    with pytest.raises(llm.ModelCallError, match=expected):
        llm.chat([{"role": "user", "content": "hi"}])
    assert time.perf_counter() - start < 2 * 2 + 5  # two attempts, each bounded by the timeout


@pytest.mark.parametrize(
    ("provider", "variable", "cache"),
    [("azure_openai", "AZURE_OPENAI_ENDPOINT", "on"), ("openai", "OPENAI_BASE_URL", "off")],
)
def test_an_endpoint_that_is_no_url_is_named_in_one_line(monkeypatch, tmp_path, provider, variable, cache):
    """Before any call, with or without the cache: the variable to fix, and never the password in it."""
    endpoint = "https://user:s3cret@resource.openai.azure.com:port/"  # pragma: allowlist secret
    settings = Settings(
        llm_provider=provider,
        azure_openai_endpoint=endpoint,
        azure_openai_auth="api_key",
        azure_openai_api_key="placeholder-not-a-key",  # pragma: allowlist secret
        openai_base_url=endpoint,
        openai_api_key="placeholder-not-a-key",  # pragma: allowlist secret
        llm_cache=cache,
        llm_cache_dir=str(tmp_path),
    )
    monkeypatch.setattr(llm, "get_settings", lambda: settings)
    monkeypatch.setattr(llm, "get_client", lambda: llm.build_client(settings))
    with pytest.raises(llm.ConfigError) as refused:
        llm.chat([{"role": "user", "content": "hi"}])
    assert str(refused.value) == f"{variable} is not a URL; give it as https://<host>[:<port>][/<path>]"


def test_an_unauthorised_call_says_which_credential_to_check(settings_for):
    with LoopbackServer(Unauthorised) as server:
        settings_for(server.url)
        with pytest.raises(llm.ModelCallError, match=r"refused the call \(401\): check AZURE_OPENAI_API_KEY"):
            llm.chat([{"role": "user", "content": "hi"}])


class _Misshapen(BaseHTTPRequestHandler):
    body = b""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


_COMPLETION = {"id": "c", "object": "chat.completion", "created": 1, "model": "m"}
_MESSAGE = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hi"}}


@pytest.mark.parametrize(
    "body",
    [
        b"<html>a proxy's page</html>",
        b"[1, 2, 3]",
        json.dumps(_COMPLETION | {"choices": []}).encode(),
        b'{"choices": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        json.dumps(
            _COMPLETION | {"choices": [_MESSAGE], "usage": {"prompt_tokens": -5, "completion_tokens": "lots"}}
        ).encode(),
    ],
    ids=["not-json", "a-list", "no-choices", "nested", "counts-no-counts"],
)
def test_an_answer_in_no_shape_of_a_completion_is_one_line_naming_the_endpoint(
    settings_for, tmp_path, body: bytes
):
    """An endpoint (or a proxy in front of it) that answers 200 with something else: the call fails
    in one line, as a refusal does, and nothing of it is cached."""
    handler = type("Answer", (_Misshapen,), {"body": body})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = settings_for(f"http://127.0.0.1:{server.server_address[1]}")
        settings.llm_cache_dir = str(tmp_path)
        with pytest.raises(llm.ModelCallError) as failed:
            llm.chat([{"role": "user", "content": "hi"}])
    finally:
        server.shutdown()
    message = str(failed.value)
    where = f"azure_openai (http://127.0.0.1:{server.server_address[1]})"
    assert message.startswith(f"{where} answered with no chat completion")
    assert message.endswith("check that the endpoint is OpenAI-compatible") and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_a_run_whose_every_line_fails_names_the_first_error_and_keeps_the_results(
    settings_for, tiny_experiment, tmp_path
):
    with LoopbackServer(Unauthorised) as server:
        settings_for(server.url)
        output = tmp_path / "results"
        command = ["experiment", "run", "-f", str(tiny_experiment), "--output", str(output)]
        result = CliRunner().invoke(app, command)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "3 of 3 lines failed (not evaluated): " in result.output
    assert "refused the call (401)" in result.output
    (saved,) = output.glob("*/results.json")
    assert {run["failed"] for run in json.loads(saved.read_text(encoding="utf-8"))["runs"]} == {3}


def test_run_once_prints_the_flow_output(project_root):
    inputs = ["-i", "question=When are checks done?", "-i", "context=Checks are done weekly. Audits too."]
    result = CliRunner().invoke(app, ["run", "--flow", str(project_root / "flows/qa"), *inputs])
    assert result.exit_code == 0, result.output
    assert '"answer": "Checks are done weekly."' in result.output


@pytest.mark.parametrize(
    ("inputs", "said"),
    [
        (["question=When?"], "missing a required argument: 'context'"),
        (["question=When?", "context=Weekly.", "bogus=1"], "unexpected keyword argument 'bogus'"),
    ],
)
def test_run_once_names_a_missing_or_unknown_input_in_one_line(project_root, inputs, said):
    command = ["run", "--flow", str(project_root / "flows/qa"), *[f"--input={item}" for item in inputs]]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert said in result.output and "the flow takes question, context" in result.output


def test_run_once_names_an_agent_s_chat_history_it_cannot_take(monkeypatch):
    root = sample_project("agent")
    monkeypatch.chdir(root)
    inputs = [
        "-i",
        "question=Is batch B-2024-017 released?",
        "-i",
        'chat_history=[{"role": "system", "content": "x"}]',
    ]
    result = CliRunner().invoke(app, ["run", "--flow", str(root / "flows/agent"), *inputs])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "chat_history[0]: role user or assistant" in result.output and "Traceback" not in result.output


def test_run_once_takes_a_chat_history(monkeypatch):
    root = sample_project("chat")
    monkeypatch.chdir(root)
    inputs = ["-i", "question=When are checks done?", "-i", "context=Checks are done weekly. Audits too."]
    inputs += ["-i", 'chat_history=[{"inputs": {"question": "Hi"}, "outputs": {"answer": "Hello."}}]']
    result = CliRunner().invoke(app, ["run", "--flow", str(root / "flows/chat"), *inputs])
    assert result.exit_code == 0, result.output
    assert '"answer": "Checks are done weekly."' in result.output


def test_run_once_answers_from_what_a_rag_flow_retrieves(monkeypatch):
    root = sample_project("rag")
    monkeypatch.chdir(root)
    question = "How long are retained samples stored?"
    result = CliRunner().invoke(app, ["run", "--flow", str(root / "flows/rag"), "-i", f"question={question}"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.output)
    assert output["answer"] != NO_ANSWER and output["answer"] in output["context"]
