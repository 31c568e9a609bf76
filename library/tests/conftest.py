"""Offline, isolated tests of the platform, run once here, against use-case projects rendered from
the template next to this library (`sample_project`): the offline model, a throw-away Prompt Flow
home (when it is installed), and no network."""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import pytest
import yaml

# Before anything imports promptflow (it reads its home at import time) or builds settings.
for _variable in [name for name in os.environ if name.startswith(("AZURE_OPENAI_", "OPENAI_"))]:
    del os.environ[_variable]
os.environ["LLM_PROVIDER"] = "offline"
# Spans from the tests go to a throw-away store, not the project's .aiops/traces.
_TRACES = tempfile.TemporaryDirectory(prefix="traces-")
os.environ["AIOPS_TRACE_DIR"] = _TRACES.name
# Model answers cached by tests against the fake endpoint: a throw-away folder, not .aiops/cache.
_CACHE = tempfile.TemporaryDirectory(prefix="llm-cache-")
os.environ["LLM_CACHE_DIR"] = _CACHE.name
# The tests exercise span content and production sampling on their own throw-away traces, whatever
# the project's default (off for confidential or personal data: see settings.py).
os.environ["AIOPS_TRACE_CONTENT"] = "true"

from aiops_platform import project, promptflow_adapter  # noqa: E402 - imports no promptflow

# Agent Framework's tests need its environment (.venv-agent: it cannot sit beside Prompt Flow); `make
# test` runs them there, after the rest here.
collect_ignore = [] if importlib.util.find_spec("agent_framework") else ["agent"]

if promptflow_adapter.available():  # an optional extra: `make install PROMPTFLOW=0` leaves it out
    # Under $HOME because `pf flow build` refuses a PF home outside it; removed when pytest exits.
    _PF_HOME = tempfile.TemporaryDirectory(prefix="pf-home-", dir=Path.home())
    promptflow_adapter.isolate(Path(_PF_HOME.name))

TEMPLATE = Path(__file__).resolve().parents[2]  # library/tests -> the template repository
_SAMPLES = tempfile.TemporaryDirectory(prefix="aiops-samples-")


@functools.cache
def sample_project(flow_kind: str = "qa", **answers: str) -> Path:
    """A project as a team gets it, rendered once per answers from the template (hooks off: no git,
    no registration). Tests read it; a test that writes works on a copy (`project_copy`)."""
    from cookiecutter.main import cookiecutter

    output = Path(tempfile.mkdtemp(dir=_SAMPLES.name))
    context = {"flow_kind": flow_kind, "register_on_generate": "none", **answers}
    return Path(cookiecutter(str(TEMPLATE), no_input=True, output_dir=str(output), extra_context=context,
                             accept_hooks=False))  # fmt: skip


def answers_into(folder: Path, source: Path | None = None) -> Path:
    """The use case's answers (aiops.yaml, governance.yaml) copied into a scratch project `folder`."""
    for name in (project.FILE.name, "governance.yaml"):
        shutil.copy((source or PROJECT_ROOT) / name, folder / name)
    return folder


PROJECT_ROOT = sample_project()  # the default answers: a qa flow
os.chdir(PROJECT_ROOT)  # as when a team runs `aiops` in its project


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked `runs_last` reads what the others did (the contract coverage): it runs after them."""
    items.sort(key=lambda item: getattr(getattr(item, "function", None), "runs_last", False))


_FLOW = "flows/qa"
# Local state a developer's commands leave, at the root and deeper: secrets, environments, traces
# and samples (request contents), results and caches. No ignore file may let any of it through.
LOCAL_STATE_FILES = [
    ".env",
    f"{_FLOW}/.env",
    ".venv/bin/python",
    ".aiops/traces/spans-1.jsonl",
    ".aiops/samples/production_samples.jsonl",
    f"{_FLOW}/.aiops/traces/spans-1.jsonl",
    ".promptflow/pf.sqlite",
    f"{_FLOW}/.promptflow/flow.log",
    "results/run-1/report.html",
    f"{_FLOW}/results/run-1/report.html",
    "src/qcp_assistant/__pycache__/server.cpython-311.pyc",
    "tests/.pytest_cache/README.md",
]
_LOOPBACK = ("127.", "::1", "localhost")
_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: object) -> None:
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family == socket.AF_UNIX or str(host).startswith(_LOOPBACK):
        return _real_connect(self, address)
    # An OSError, as a real offline machine gives, so clients fail the way they would in the field.
    raise ConnectionRefusedError(f"test tried to reach the network: {address!r}")


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)


class LoopbackServer:
    """A REST API's stand-in on 127.0.0.1 (a free port), served by `handler` while in a `with`."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class JsonHandler(BaseHTTPRequestHandler):
    """A stand-in's handler: the request's JSON body in, a JSON answer out, nothing logged."""

    def json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length)) if length else None

    def send_json(self, status: int, answer: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(answer).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *_: object) -> None:
        pass


class Unauthorised(JsonHandler):
    """A model endpoint that refuses every call with 401, as Azure OpenAI answers a wrong key."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_json(401, {"error": {"code": "401", "message": "Access denied"}})


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture
def project_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch copy of the project's data, flows, connections and experiment, as the working dir."""
    for folder in ("data", "flows", "connections", "evaluators", "monitoring"):
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder)
    for file in [*PROJECT_ROOT.glob("experiment*.yaml"), PROJECT_ROOT / "pyproject.toml"]:
        shutil.copy(file, tmp_path / file.name)
    answers_into(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def copy_flow(source: Path, target: Path) -> Path:
    """A copy of a flow that runs in process, anywhere: without the `additional_includes` Prompt Flow
    copies in, which name the shipped project's code and would lie outside the copy's project."""
    shutil.copytree(source, target)
    spec = target / "flow.flex.yaml"
    flex = yaml.safe_load(spec.read_text(encoding="utf-8"))
    flex.pop("additional_includes", None)
    spec.write_text(yaml.safe_dump(flex, sort_keys=False), encoding="utf-8")
    return target


@pytest.fixture
def shipped() -> dict:
    """experiment.yaml as shipped, unvalidated: tests take its flow and evaluator entries from it."""
    return yaml.safe_load((PROJECT_ROOT / "experiment.yaml").read_text(encoding="utf-8"))


@pytest.fixture
def small_project(tmp_path: Path, project_root: Path, shipped: dict) -> Path:
    """A copy of the shipped flow and three lines of one dataset, with its spec, in a project of its own."""
    flow_folder = project.load(project_root).flow
    shutil.copytree(project_root / flow_folder, tmp_path / flow_folder)
    answers_into(tmp_path, project_root)
    (tmp_path / "data").mkdir(exist_ok=True)
    lines = (project_root / "data" / "core_qa.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    (tmp_path / "data" / "core_qa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    spec = {"name": "small_core_qa", "type": "uri_file", "path": "core_qa.jsonl", "description": "3 lines"}
    (tmp_path / "data" / "core_qa.yml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    flow = {key: value for key, value in shipped["flows"][0].items() if key != "variants"}
    qa_metrics = next(evaluator for evaluator in shipped["evaluators"] if evaluator["name"] == "qa_metrics")
    qa_metrics = {key: value for key, value in qa_metrics.items() if key != "datasets"}
    shutil.copytree(project_root / qa_metrics["path"], tmp_path / qa_metrics["path"])
    experiment = {
        "name": "small",
        "flows": [flow],
        "datasets": [{"name": "core_qa", "path": "data/core_qa.jsonl"}],
        "evaluators": [qa_metrics],
        "gate": {"thresholds": {"qa_metrics.f1_score": 0.1}},
    }
    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False), encoding="utf-8")
    return tmp_path


@pytest.fixture
def tiny_experiment(tmp_path: Path, shipped: dict) -> Path:
    """The shipped flow and the qa_metrics evaluator on the first three lines of each sample dataset."""
    datasets = [dataset["name"] for dataset in shipped["datasets"]][:2]
    for name in datasets:
        lines = (PROJECT_ROOT / "data" / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[:3]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    flow = {key: value for key, value in shipped["flows"][0].items() if key != "variants"}
    qa_metrics = next(evaluator for evaluator in shipped["evaluators"] if evaluator["name"] == "qa_metrics")
    qa_metrics = {key: value for key, value in qa_metrics.items() if key != "datasets"}  # it scores both
    # In a project of its own: an experiment runs only flows and evaluators inside its project.
    copy_flow(PROJECT_ROOT / flow["path"], tmp_path / flow["path"])
    shutil.copytree(PROJECT_ROOT / qa_metrics["path"], tmp_path / qa_metrics["path"])
    experiment = {
        "name": "tiny",
        "flows": [flow],
        "datasets": [{"name": name, "path": f"{name}.jsonl"} for name in datasets],
        "evaluators": [qa_metrics],
    }
    (tmp_path / "experiment.yaml").write_text(yaml.safe_dump(experiment, sort_keys=False), encoding="utf-8")
    answers_into(tmp_path)
    return tmp_path / "experiment.yaml"


def fresh_tracing() -> None:
    """Settings and tracer providers rebuilt from the environment, as in a new process."""
    from aiops_platform import tracing
    from aiops_platform.settings import get_settings

    get_settings.cache_clear()
    tracing.reset()


@pytest.fixture
def trace_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A local span store of the test's own (AIOPS_TRACE_DIR), fresh before and after."""
    monkeypatch.setenv("AIOPS_TRACE_DIR", str(tmp_path / "traces"))
    fresh_tracing()
    yield tmp_path / "traces"
    fresh_tracing()
