"""Prompt Flow's own CLI on a sample project, as a Prompt Flow user runs it: `pf flow test` with no
inputs (the flow's `sample`), spans in the project's trace store, and `pf flow build --format docker`,
whose output runs in a clean environment holding only what that output declares: the platform
library, installed from the image's requirements."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from conftest import PROJECT_ROOT, sample_project
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from aiops_platform import paths, project, promptflow_adapter
from aiops_platform.flow_entry import FLEX_SPEC, entry_parameters, load_entry
from aiops_platform.jsonl import read_jsonl

PROJECT = PROJECT_ROOT  # the qa sample
FLOW = PROJECT / project.load(PROJECT).flow
LIBRARY = Path(__file__).resolve().parents[1]  # the platform under test: what an image installs here
EVAL_FLOWS = [
    paths.FLOWS / "eval_qa",
    paths.JUDGES_FLOW,
    paths.FLOWS / "eval_safety",
    paths.FLOWS / "eval_content_safety",
]
BIN = Path(sys.executable).parent  # the library's .venv: pf, uv
TIMEOUT = 300  # seconds for any one command; Prompt Flow's imports alone take seconds on a busy machine
SERVE_APP = "promptflow.core._serving.app:create_app(engine='${SERVING_ENGINE}')"  # what the image runs


def spec(flow: Path) -> dict:
    return yaml.safe_load((flow / FLEX_SPEC).read_text(encoding="utf-8"))


def sample_inputs(flow: Path) -> dict:
    return spec(flow)["sample"]["inputs"]


def pyproject() -> dict:
    return tomllib.loads((PROJECT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def installed_as_make_install_does(project_folder: Path, site: Path) -> dict[str, str]:
    """An environment in which `project_folder` is installed as `make install` installs it (editable,
    requiring the platform, its source folder recorded in direct_url.json): the metadata alone, in
    `site`, put on PYTHONPATH. This is how code run from a copy of a flow finds its project."""
    name = project.load(project_folder).package
    info = site / f"{name}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1.0\nRequires-Dist: {paths.PLATFORM}\n",
        encoding="utf-8",
    )
    url = {"url": project_folder.resolve().as_uri(), "dir_info": {"editable": True}}
    (info / "direct_url.json").write_text(json.dumps(url), encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def conda_python(conda_file: Path) -> str:
    """The `python=X.Y` a conda environment file asks for."""
    dependencies = yaml.safe_load(conda_file.read_text(encoding="utf-8"))["dependencies"]
    (python,) = [d for d in dependencies if isinstance(d, str) and d.startswith("python=")]
    return python.removeprefix("python=")


def run(command: list, **options) -> subprocess.CompletedProcess[str]:
    command = [str(part) for part in command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False, **options)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def spans(store: Path) -> list[dict]:
    return [span for path in sorted(store.glob("spans-*.jsonl")) for span in read_jsonl(path)]


# ---- what the flow folders declare (fast) ---------------------------------------------------


def test_the_image_requirements_are_the_project_s_pins():
    """requirements.txt (what `pf flow build` installs) is pyproject.toml's promptflow pin: the
    platform with its promptflow extra, from the same source as the project's runtime pin."""
    declared = pyproject()["optional-dependencies"]["promptflow"]
    text = (FLOW / spec(FLOW)["environment"]["python_requirements_txt"]).read_text(encoding="utf-8")
    lines = [re.split(r"(?:^|\s)#", line)[0].strip() for line in text.splitlines()]  # a URL's #fragment stays
    required = [Requirement(line) for line in lines if line]
    assert sorted(map(str, required)) == sorted(str(Requirement(line)) for line in declared)
    (platform,) = [Requirement(line) for line in pyproject()["dependencies"] if paths.PLATFORM in line]
    assert [(r.name, r.url, r.extras) for r in required] == [(platform.name, platform.url, {"promptflow"})]


def test_the_image_python_is_one_the_project_supports():
    """conda.yaml gives the image the Python these tests run on, not `pf flow build`'s default 3.9."""
    version = conda_python(FLOW / spec(FLOW)["environment"]["conda_file"])
    assert SpecifierSet(pyproject()["requires-python"]).contains(f"{version}.0")
    assert version == f"{sys.version_info.major}.{sys.version_info.minor}"


@pytest.mark.parametrize("kind", ["qa", "rag"])
def test_the_build_carries_the_use_case_s_answers_and_no_platform_code(kind: str):
    """The platform is a requirement of the image, not files copied in; the use case's answers are
    (a rag flow also takes data/, where the image's flow finds its documents)."""
    root = sample_project(kind)
    flow = root / project.load(root).flow
    includes = [(flow / include).resolve() for include in spec(flow)["additional_includes"]]
    expected = [root / project.FILE, root / "governance.yaml"] + (
        [root / paths.DATA] if kind == "rag" else []
    )
    assert includes == [path.resolve() for path in expected]
    assert all(path.exists() for path in includes)


def test_the_flow_s_sample_is_the_deployment_s_sample_request():
    assert sample_inputs(FLOW) == json.loads((PROJECT / paths.SAMPLE_REQUEST).read_text(encoding="utf-8"))


def chat_flow() -> Path:
    root = sample_project("chat")
    return root / project.load(root).flow


def test_the_chat_flow_marks_its_chat_input_history_and_output():
    flow = chat_flow()
    inputs, outputs = spec(flow)["inputs"], spec(flow)["outputs"]
    assert list(inputs) == entry_parameters(flow)

    def marked(ports: dict, key: str) -> list[str]:
        return [name for name, port in ports.items() if port.get(key)]

    assert marked(inputs, "is_chat_input") == ["question"]
    assert marked(inputs, "is_chat_history") == ["chat_history"]
    assert marked(outputs, "is_chat_output") == ["answer"]


@pytest.mark.parametrize("flow", [project.load(PROJECT).flow, *EVAL_FLOWS], ids=str)
def test_every_flow_s_sample_is_a_call_its_entry_answers(flow: Path):
    """What `pf flow test --flow flows/<name>` runs with no inputs, called here directly."""
    sample = sample_inputs(PROJECT / flow)
    assert set(sample) <= set(entry_parameters(PROJECT / flow))
    outputs = load_entry(PROJECT / flow)(**sample)
    assert outputs and all(value not in (None, "") for value in outputs.values()), outputs


# ---- the pf CLI (slow: each `pf` command imports Prompt Flow) ---------------------------------


@pytest.fixture
def pf_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A quiet PF home under $HOME (`pf flow build` refuses one outside it), for this test only:
    other tests move the home elsewhere for good."""
    with tempfile.TemporaryDirectory(prefix="pf-home-", dir=Path.home()) as home:
        for name in promptflow_adapter.pf_environment(Path(home)):
            monkeypatch.setenv(name, os.environ.get(name, ""))  # so the old value comes back after
        promptflow_adapter.isolate(Path(home))
        yield Path(home)


@contextlib.contextmanager
def restored(store: Path) -> Iterator[None]:
    """The project's trace store as it was: a test adds spans to it and takes them out again."""
    existed = [folder for folder in (store.parent, store) if folder.is_dir()]
    sizes = {path: path.stat().st_size for path in store.glob("*.jsonl")}
    try:
        yield
    finally:
        for path in store.glob("*.jsonl"):
            if path in sizes:
                os.truncate(path, sizes[path])
            else:
                path.unlink()
        for folder in (store, store.parent):
            if folder not in existed:
                with contextlib.suppress(OSError):  # kept when something else has put files there
                    folder.rmdir()


@pytest.mark.slow
@pytest.mark.promptflow
@pytest.mark.usefixtures("pf_home")
def test_pf_flow_test_with_no_inputs_runs_the_sample_and_traces_into_the_project(tmp_path: Path):
    """From any folder, with no AIOPS_TRACE_DIR: Prompt Flow runs the flow from a temporary copy
    (it has additional_includes), and its spans still land in the installed project's store, which
    `make monitor` reads."""
    variant = f"pf-cli-{uuid.uuid4().hex}"  # tells this test's spans from any others in the store
    env = {key: value for key, value in os.environ.items() if key != paths.TRACE_DIR_VARIABLE}
    env |= installed_as_make_install_does(PROJECT, tmp_path / "site")
    store = PROJECT / paths.TRACES
    with restored(store):
        env["AIOPS_VARIANT"] = variant
        result = run([BIN / "pf", "flow", "test", "--flow", FLOW], cwd=tmp_path, env=env)
        answer = json.loads(result.stdout)["answer"]
        (flow_span,) = [span for span in spans(store) if span["attributes"].get("aiops.variant") == variant]
    assert answer.strip()
    assert flow_span["name"] == "flow qa"
    assert json.loads(flow_span["attributes"]["aiops.inputs"])["question"] == sample_inputs(FLOW)["question"]
    assert json.loads(flow_span["attributes"]["aiops.outputs"])["answer"] == answer


@pytest.mark.slow
@pytest.mark.promptflow
@pytest.mark.usefixtures("pf_home")
def test_pf_flow_test_interactive_chats_with_the_flow(tmp_path: Path):
    """`pf flow test --interactive`: each line on stdin is a turn; Prompt Flow sends the earlier
    turns back as chat messages, which the flow takes as its history."""
    flow = chat_flow()
    context = sample_inputs(flow)["context"]
    command = [BIN / "pf", "flow", "test", "--flow", flow, "--interactive", "--inputs", f"context={context}"]
    env = os.environ | {paths.TRACE_DIR_VARIABLE: str(tmp_path / "traces")}
    turns = "How often are balances calibrated?\nWho calibrates them?\n"
    result = run(command, input=turns, cwd=tmp_path, env=env)
    replies = [line.split("Bot: ", 1)[1].strip() for line in result.stdout.splitlines() if "Bot: " in line]
    assert len(replies) == 2 and all(replies), result.stdout[-2000:]
    flow_spans = [span for span in spans(tmp_path / "traces") if span["name"] == "flow chat"]
    histories = [json.loads(span["attributes"]["aiops.inputs"])["chat_history"] for span in flow_spans]
    assert [len(history) for history in histories] == [0, 2]  # the second turn saw the first
    assert histories[1][0] == {"role": "user", "content": "How often are balances calibrated?"}


def pip_installs(dockerfile: str) -> list[list[str]]:
    """The arguments of each `pip install` the Dockerfile runs, in order."""
    found = re.findall(r"pip install (.+?)(?:\s*&&)?(?:\s*\\)?$", dockerfile, re.MULTILINE)
    return [shlex.split(args) for args in found]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
@pytest.mark.promptflow
@pytest.mark.usefixtures("pf_home")
def test_the_pf_flow_build_output_serves_the_flow_from_a_clean_environment(tmp_path: Path):
    """`pf flow build --format docker`, then what its image does, without Docker: a venv on the
    Python of conda.yaml with only the Dockerfile's `pip install`s (offline, from uv's cache, at the
    versions the library's .venv has; the platform pin's source is this library, as the project's
    Dockerfile takes one with AIOPS_PLATFORM), and the app its start script serves, in the flow folder.
    No project around it: its spans go to the flow folder's .aiops/traces (/flow/... in the image)."""
    output = tmp_path / "build"
    run([BIN / "pf", "flow", "build", "--source", FLOW, "--output", output, "--format", "docker"])
    flow, dockerfile = output / "flow", (output / "Dockerfile").read_text(encoding="utf-8")
    environment = spec(flow)["environment"]
    assert f"conda create -f flow/{environment['conda_file']}" in dockerfile
    assert "python=3.9" not in dockerfile
    installs = pip_installs(dockerfile)
    assert installs[0] == ["-r", f"/flow/{environment['python_requirements_txt']}"], installs
    start = (output / "runit/promptflow-serve/run").read_text(encoding="utf-8")
    assert f'gunicorn_app="{SERVE_APP}"' in start and "cd /flow" in start

    venv, uv = tmp_path / "venv", BIN / "uv"
    python = venv / "bin/python"
    version = conda_python(flow / environment["conda_file"])
    run([uv, "venv", "--offline", "--quiet", "--python", version, venv])
    requirements = flow / environment["python_requirements_txt"]
    text = requirements.read_text(encoding="utf-8")
    (pin,) = [line for line in text.splitlines() if line.startswith(f"{paths.PLATFORM}[")]
    requirement = Requirement(pin)
    assert requirement.url and requirement.extras == {"promptflow"}  # a pinned source, never an index
    local = f"{requirement.name}[promptflow] @ {LIBRARY.as_uri()}"
    requirements.write_text(text.replace(pin, local), encoding="utf-8")
    pins = tmp_path / "pins.txt"  # constraints: they add no package, they keep versions to the cached ones
    pins.write_text(run([uv, "pip", "freeze", "--exclude-editable", "--python", sys.executable]).stdout)
    # gunicorn, the image's WSGI server, is left out: it is no project dependency, so not in uv's cache
    # offline; the same app is served below by Flask's own server.
    packages = [arg.replace("/flow/", f"{flow}/") for args in installs for arg in args]
    packages = [package for package in packages if not package.startswith("gunicorn")]
    run([uv, "pip", "install", "--offline", "--quiet", "--python", python, "--constraint", pins, *packages])
    installed = run([uv, "pip", "freeze", "--python", python]).stdout
    assert "promptflow==" in installed
    assert f"{paths.PLATFORM} @ {LIBRARY.as_uri()}" in installed  # the flow imports the platform installed
    assert not (flow / "aiops_platform").exists()  # not a copy in the flow folder

    port = free_port()
    app = "from promptflow.core._serving.app import create_app; app = create_app(engine='flask')"
    serve = f"{app}; app.run(port={port})"
    env = {key: value for key, value in os.environ.items() if key != paths.TRACE_DIR_VARIABLE}
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([python, "-c", serve], cwd=flow, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + TIMEOUT
        while not _healthy(url):
            assert server.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        request = json.loads((PROJECT / paths.SAMPLE_REQUEST).read_text(encoding="utf-8"))
        response = httpx.post(f"{url}/score", json=request, timeout=60, trust_env=False)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == load_entry(FLOW)(**request)["answer"]  # as the project's flow answers
    (flow_span,) = [span for span in spans(flow / paths.TRACES) if span["name"].startswith("flow ")]
    assert json.loads(flow_span["attributes"]["aiops.inputs"])["question"] == request["question"]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False
