"""Offline, isolated tests of this use case (its flows, evaluators, data and repository hygiene): the
offline model, throw-away traces, cache and Prompt Flow home, and no network. The platform's own
tests run once, in the platform library's repository."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

# Before anything imports promptflow (it reads its home at import time) or builds settings.
for _variable in [name for name in os.environ if name.startswith(("AZURE_OPENAI_", "OPENAI_"))]:
    del os.environ[_variable]
os.environ["LLM_PROVIDER"] = "offline"
_TRACES = tempfile.TemporaryDirectory(prefix="traces-")  # not the project's .aiops/traces
os.environ["AIOPS_TRACE_DIR"] = _TRACES.name
_CACHE = tempfile.TemporaryDirectory(prefix="llm-cache-")  # not the project's .aiops/cache
os.environ["LLM_CACHE_DIR"] = _CACHE.name

from aiops_platform import project, promptflow_adapter  # noqa: E402 - imports no promptflow

if promptflow_adapter.available():  # an optional extra: `make install PROMPTFLOW=0` leaves it out
    # Under $HOME because `pf flow build` refuses a PF home outside it; removed when pytest exits.
    _PF_HOME = tempfile.TemporaryDirectory(prefix="pf-home-", dir=Path.home())
    promptflow_adapter.isolate(Path(_PF_HOME.name))

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FLOW = project.load(PROJECT_ROOT).flow  # flows/<kind>, relative to the project
# Local state a developer's commands leave, at the root and deeper: secrets, environments, traces
# and samples (request contents), results and caches. No ignore file may let any of it through.
LOCAL_STATE_FILES = [
    ".env",
    f"{FLOW}/.env",
    ".venv/bin/python",
    ".aiops/traces/spans-1.jsonl",
    ".aiops/samples/production_samples.jsonl",
    f"{FLOW}/.aiops/traces/spans-1.jsonl",
    ".promptflow/pf.sqlite",
    f"{FLOW}/.promptflow/flow.log",
    "results/run-1/report.html",
    f"{FLOW}/results/run-1/report.html",
    f"{FLOW}/__pycache__/flow.cpython-311.pyc",
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


@pytest.fixture
def project_root() -> Path:
    return PROJECT_ROOT
