"""Each flow kind's serving image, built from the generated deployment/Dockerfile and run for real.

buildah builds and runs it with no Docker daemon (vfs storage, chroot isolation, as root), from a
local stand-in for `python:3.11-slim` (Debian bookworm, Python 3.11) that
`../shared/tools/local-base-image.sh` builds once per machine; `.ci/run` installs both. With chroot
isolation a container shares the host's network, so each server listens on loopback and a free port.
The platform library goes in as a wheel built from this checkout and carried in deployment/wheels/
(the documented build without access to the template repository): the pin's commit is not published.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import LIBRARY, LIBRARY_VENV

pytestmark = pytest.mark.slow

FLOW_KINDS = ("qa", "chat", "rag", "agent")
BUILDAH = ("buildah", "--storage-driver", "vfs")
BASE_IMAGE = "localhost/python:3.11-slim"  # what `FROM python:3.11-slim` resolves to with --pull=never
SETUP = "apt-get update && apt-get install -y buildah debootstrap && ../shared/tools/local-base-image.sh"
START_SECONDS = 60  # first start imports the web stack from a cold image


@dataclass
class Image:
    project: Path
    tag: str


def buildah(*args: str) -> str:
    done = subprocess.run([*BUILDAH, *args], capture_output=True, text=True)
    assert done.returncode == 0, f"buildah {' '.join(args)}: {done.stderr.strip()[-2000:]}"
    return done.stdout.strip()


def _require_buildah_and_base_image() -> None:
    """Missing tools fail the run, naming the setup: a skipped container test proves nothing."""
    if shutil.which("buildah") is None:
        pytest.fail(f"buildah is not installed; as root: {SETUP}", pytrace=False)
    found = subprocess.run([*BUILDAH, "inspect", "--type", "image", BASE_IMAGE], capture_output=True)
    if found.returncode != 0:
        pytest.fail(f"no base image {BASE_IMAGE}; build it: {SETUP}", pytrace=False)


@pytest.fixture(scope="module")
def platform_wheel(tmp_path_factory) -> Path:
    """The library of this checkout as a wheel, as a team would carry it in deployment/wheels/."""
    out = tmp_path_factory.mktemp("wheel")
    command = [str(LIBRARY_VENV / "bin/uv"), "build", "--wheel", "--out-dir", str(out), str(LIBRARY)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    (wheel,) = out.glob("aiops_genai_platform-*.whl")
    return wheel


def _selected_kinds(session: pytest.Session) -> list[str]:
    """The kinds this run asks for: `-k agent` builds one image, not four (a build is minutes of CPU)."""
    asked = {item.callspec.params.get("kind") for item in session.items if hasattr(item, "callspec")}
    return [kind for kind in FLOW_KINDS if kind in asked]


@pytest.fixture(scope="module")
def images(request, cookies_session, platform_wheel: Path) -> Iterator[dict[str, Image]]:
    """One image per selected flow kind from a fresh bake, built in parallel; removed afterwards."""
    _require_buildah_and_base_image()
    built: dict[str, Image] = {}
    for kind in _selected_kinds(request.session):
        result = cookies_session.bake(extra_context={"flow_kind": kind, "register_on_generate": "none"})
        assert result.exception is None, result.exception
        tag = f"localhost/aiops-template-test-{kind}:{os.getpid()}"
        built[kind] = Image(Path(result.project_path), tag)
        shutil.copy2(platform_wheel, built[kind].project / "deployment/wheels")
    command = [*BUILDAH, "bud", "--isolation", "chroot", "--pull=never", "-f", "deployment/Dockerfile"]
    command += ["--build-arg", f"AIOPS_PLATFORM=/app/deployment/wheels/{platform_wheel.name}"]
    builds = {
        kind: subprocess.Popen(
            [*command, "-t", image.tag, "."],
            cwd=image.project,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for kind, image in built.items()
    }
    logs = {kind: build.communicate()[0] for kind, build in builds.items()}
    try:
        for kind, build in builds.items():
            assert build.returncode == 0, f"the {kind} image did not build:\n{logs[kind][-3000:]}"
        yield built
    finally:
        tags = [image.tag for image in built.values()]
        subprocess.run([*BUILDAH, "rmi", "--force", *tags], capture_output=True)  # one call: vfs is slow


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _get(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status
    except (urllib.error.URLError, OSError):
        return None


def _post(url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@contextmanager
def _served(image: Image, log: Path) -> Iterator[tuple[str, str]]:
    """The image's server, started in a container as its CMD would but on loopback; its base URL and
    the container (for a look inside)."""
    container = buildah("from", image.tag)
    port = _free_port()
    serve = ["aiops", "serve", "--host", "127.0.0.1", "--port", str(port)]  # the image's CMD, on loopback
    # No model endpoint is reachable here: the offline model answers, whatever the host's settings.
    run = [*BUILDAH, "run", "--isolation", "chroot", "--env", "LLM_PROVIDER=offline", container, "--"]
    with log.open("w", encoding="utf-8") as output:
        server = subprocess.Popen([*run, *serve], stdout=output, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_SECONDS
        while _get(f"{url}/health") != 200:
            assert server.poll() is None, f"the server exited:\n{_tail(log)}"
            assert time.monotonic() < deadline, f"no /health in {START_SECONDS} s:\n{_tail(log)}"
            time.sleep(0.3)
        yield url, container
    finally:
        server.terminate()  # buildah run passes it on to the server in the container
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        buildah("rm", container)


@pytest.mark.parametrize("kind", FLOW_KINDS)
def test_the_image_builds_serves_and_answers_the_sample_request(images, kind: str, tmp_path: Path):
    image = images[kind]
    body = (image.project / "deployment/sample_request.json").read_bytes()
    log = tmp_path / "server.log"
    with _served(image, log) as (url, container):
        status, answer = _post(f"{url}/score", body)
        assert status == 200, f"{kind}: /score answered {status} {answer}\n{_tail(log)}"
        assert isinstance(answer.get("answer"), str) and answer["answer"].strip(), answer
        if kind == "agent":
            _the_agent_answered_with_its_tool(answer)
            assert _installed(container, AGENT_FRAMEWORK, *PROMPT_FLOW) == {AGENT_FRAMEWORK: "1.23.0"}


AGENT_FRAMEWORK = "agent-framework-core"
PROMPT_FLOW = ("promptflow", "promptflow-core", "promptflow-devkit", "promptflow-tracing")


def _the_agent_answered_with_its_tool(answer: dict) -> None:
    """The default bake's sample asks for a batch's release status: the batch-record tool answers it."""
    assert [call["name"] for call in answer["tool_calls"]] == ["find_batch_record"], answer
    assert answer["tool_calls"][0]["arguments"] == {"batch_id": "B-2024-017"}, answer
    assert "B-2024-017" in answer["context"], answer
    assert answer["turns"] == 2, answer  # the tool call, then the answer


def _installed(container: str, *distributions: str) -> dict[str, str]:
    """Which of these distributions the image's Python has, with their versions."""
    script = (
        "import importlib.metadata as m, json, sys\n"
        "found = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try: found[name] = m.version(name)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(found))"
    )
    run = ["run", "--isolation", "chroot", container, "--", "python", "-c", script, *distributions]
    return json.loads(buildah(*run))
