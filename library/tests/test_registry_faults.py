"""`azureml:name:N` always means the same bytes: under concurrent runs, `kill -9` and hostile paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiops_platform.paths import REGISTRY as REGISTRY_DIR
from aiops_platform.registry import (
    DataSpec,
    LocalRegistry,
    RegistryError,
    content_hash,
    load_spec,
)

# One registration in its own process: waits for `go`, registers, prints version and hash.
REGISTER_ONE = """
import json, sys, time
from pathlib import Path
from aiops_platform.registry import DataSpec, LocalRegistry, content_hash
project, source, kind, go = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
spec = DataSpec("shared", kind, source, "", project / "data/shared.yml")
outcome = LocalRegistry(project).register(spec, content_hash(source))
print(json.dumps([outcome.asset.version, outcome.asset.sha256, outcome.created]), flush=True)
"""

# Holds the registry's lock (as a running registration does) until told to let go.
HOLD_LOCK = """
import fcntl, os, sys
with open(sys.argv[1], "a+") as lock:
    fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
    lock.seek(0); lock.truncate(); lock.write(f"pid {os.getpid()}"); lock.flush()
    print("held", flush=True)
    sys.stdin.readline()
"""


def _start(project: Path, source: Path, kind: str, go: Path) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", REGISTER_ONE, str(project), str(source), kind, str(go)]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def _make_source(project: Path, kind: str, number: int, files: int = 3) -> Path:
    if kind == "uri_file":
        source = project / f"data/variant_{number}.jsonl"
        source.write_text(
            json.dumps({"id": str(number), "question": "q", "context": "c"}) + "\n", encoding="utf-8"
        )
        return source
    source = project / f"data/variant_{number}"
    source.mkdir()
    for index in range(files):
        (source / f"part_{index:03}.md").write_text(
            f"variant {number}, part {index}\n" * 2000, encoding="utf-8"
        )
    return source


def _assert_every_version_is_its_own_bytes(project: Path) -> list[str]:
    history = LocalRegistry(project).versions()["shared"]
    for version in history:
        assert content_hash(project / version.path) == version.sha256, version
    return [version.version for version in history]


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["uri_file", "uri_folder"])
def test_concurrent_registrations_keep_every_reported_version(project_copy: Path, kind: str):
    go = project_copy / "go"
    children = [_start(project_copy, _make_source(project_copy, kind, n), kind, go) for n in range(4)]
    go.touch()  # all four register at once
    reported = []
    for child in children:
        out, _ = child.communicate(timeout=60)
        assert child.returncode == 0
        reported.append(tuple(json.loads(out)))
    versions = _assert_every_version_is_its_own_bytes(project_copy)
    assert sorted(versions, key=int) == ["1", "2", "3", "4"]
    history = {(v.version, v.sha256) for v in LocalRegistry(project_copy).versions()["shared"]}
    assert len({sha for _, sha in history}) == 4  # four contents, four versions, none given twice
    assert {(version, sha) for version, sha, created in reported} == history
    assert all(created for *_, created in reported)


@pytest.mark.slow
def test_kill_9_during_registration_never_leaves_the_registry_unusable(project_copy: Path):
    sources = [_make_source(project_copy, "uri_folder", n, files=200) for n in range(2)]
    go = project_copy / "go"
    go.touch()
    interrupted = 0
    for attempt, delay in enumerate([0.0, 0.002, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15]):
        child = _start(project_copy, sources[attempt % 2], "uri_folder", go)
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        out, _ = child.communicate(timeout=30)
        interrupted += not out.strip()
    assert interrupted, "no kill landed during a registration; the copies are too small to test this"
    for source in sources:  # afterwards: registration works and each version is whole
        registry = LocalRegistry(project_copy)
        spec = DataSpec("shared", "uri_folder", source, "", project_copy / "data/shared.yml")
        registry.register(spec, content_hash(source))
    _assert_every_version_is_its_own_bytes(project_copy)
    assert not list((project_copy / REGISTRY_DIR / "data").glob("*/.staging-*"))


def test_a_version_folder_the_index_never_listed_is_replaced(project_copy: Path):
    """What a run killed between its rename and its index write leaves behind."""
    source = _make_source(project_copy, "uri_file", 1)
    orphan = project_copy / REGISTRY_DIR / "data/shared/1"
    orphan.mkdir(parents=True)
    (orphan / source.name).write_text("bytes from a killed run\n", encoding="utf-8")
    spec = DataSpec("shared", "uri_file", source, "", project_copy / "data/shared.yml")
    outcome = LocalRegistry(project_copy).register(spec, content_hash(source))
    assert (outcome.asset.version, outcome.created) == ("1", True)
    assert (project_copy / outcome.asset.path).read_bytes() == source.read_bytes()


def test_a_registration_waits_for_the_lock_then_fails_naming_its_holder(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    source = _make_source(project_copy, "uri_file", 1)
    lock = project_copy / REGISTRY_DIR / ".lock"
    lock.parent.mkdir(parents=True)
    monkeypatch.setenv("AIOPS_REGISTRY_LOCK_TIMEOUT", "0.2")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        spec = DataSpec("shared", "uri_file", source, "", project_copy / "data/shared.yml")
        with pytest.raises(RegistryError, match=rf"another registration \(pid {holder.pid}\) has held"):
            LocalRegistry(project_copy).register(spec, content_hash(source))
    finally:
        holder.communicate("release\n", timeout=10)
    assert LocalRegistry(project_copy).versions() == {}


def _spec(project: Path, path: str) -> Path:
    spec_file = project / "data/hostile.yml"
    spec_file.write_text(f"name: hostile\ntype: uri_file\npath: {json.dumps(path)}\n", encoding="utf-8")
    return spec_file


@pytest.mark.parametrize("how", ["dot-dot", "symlink-to-file", "symlink-inside-folder"])
def test_a_dataset_leading_out_of_the_project_is_refused_and_nothing_is_written(
    project_copy: Path, tmp_path_factory: pytest.TempPathFactory, how: str
):
    outside = tmp_path_factory.mktemp("outside") / "private.jsonl"
    outside.write_text('{"id": "1", "question": "not yours"}\n', encoding="utf-8")
    if how == "dot-dot":
        spec_file = _spec(project_copy, os.path.relpath(outside, project_copy / "data"))
    elif how == "symlink-to-file":
        (project_copy / "data/linked.jsonl").symlink_to(outside)
        spec_file = _spec(project_copy, "linked.jsonl")
    else:
        folder = project_copy / "data/docs_with_link"
        folder.mkdir()
        (folder / "fine.md").write_text("fine\n", encoding="utf-8")
        (folder / "leak.jsonl").symlink_to(outside)
        spec_file = project_copy / "data/hostile.yml"
        spec_file.write_text("name: hostile\ntype: uri_folder\npath: docs_with_link\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="path leaves the project") as raised:
        load_spec(spec_file)
    assert str(outside.resolve()) in str(raised.value) and "\n" not in str(raised.value)
    assert not (project_copy / REGISTRY_DIR).exists()
