"""How a generated project gets the platform library: a pinned git source, never a path or a copy.

The project names `aiops-genai-platform @ git+<template url>@<commit or tag>#subdirectory=library`
(templates/platform.jinja) in pyproject.toml and in its flow's requirements.txt; `make install
AIOPS_PLATFORM=...` installs another source at install time only. A library change in the template
reaches a project by `make template-update` as a new pin and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from conftest import (
    CRUFT,
    IDENTITY,
    LIBRARY,
    LIBRARY_VENV,
    OPTIONS,
    TEMPLATE,
    TEMPLATE_COPY_IGNORE,
    edit,
    files_in,
    git,
)

DISTRIBUTION = "aiops-genai-platform"
LIBRARY_PROJECT = tomllib.loads((LIBRARY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
PIN = re.compile(
    rf"{DISTRIBUTION}(\[(?P<extra>promptflow|agent)\])? @ git\+(?P<url>(https|ssh)://[^@\s\"]+)@(?P<rev>[^#\s\"]+)"
    r"#subdirectory=library"
)


def pins(project: Path) -> list[re.Match[str]]:
    """Every requirement naming the platform, in pyproject.toml and the flow's requirements.txt."""
    pyproject = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = pyproject["optional-dependencies"]
    requirements = [*pyproject["dependencies"], *(pin for name in extras for pin in extras[name])]
    (flow,) = (project / "flows").glob("[!e]*/requirements.txt")  # the use case's flow, not eval_*
    requirements += [
        line for line in flow.read_text(encoding="utf-8").splitlines() if line and line[0] != "#"
    ]
    named = [line for line in requirements if line.startswith(DISTRIBUTION)]
    assert len(named) == len(extras) + 1, named  # the dependency, one per extra but dev, the flow image's
    matches = [PIN.fullmatch(line) for line in named]
    assert all(matches), named
    return [match for match in matches if match]


@pytest.mark.parametrize("answers", [{}, {"flow_kind": "rag", "deployment_target": "azure_webapp"}])
def test_no_generated_file_holds_a_machine_path_or_the_librarys_source(bake, answers):
    """AIOPS_PLATFORM is set for this whole session (conftest): it reaches no file. Nor does any file
    of library/ (the platform is installed, never copied), nor the folder it was generated into."""
    project = bake(**answers)
    assert os.environ["AIOPS_PLATFORM"] == str(LIBRARY)
    machine = [
        str(TEMPLATE),
        str(LIBRARY),
        str(project.parent),
        str(Path.home()),
        "/home/",
        "/Users/",
        "C:\\",
    ]
    library_files = {
        hashlib.sha256(path.read_bytes()).hexdigest(): path
        for path in (LIBRARY / "src").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.stat().st_size > 200
    }
    assert len(library_files) > 40
    for name in files_in(project):
        data = (project / name).read_bytes()
        text = data.decode("utf-8")
        assert [path for path in machine if path != "/" and path in text] == [], name
        assert hashlib.sha256(data).hexdigest() not in library_files, name
        assert "aiops_platform/" not in name and not name.startswith("library/"), name
    assert not (project / "src" / "aiops_platform").exists()


@pytest.mark.parametrize("kind", ["qa", "agent"])
def test_the_pin_names_the_platform_by_its_git_source_and_release_tag(bake, kind):
    """Plain cookiecutter from a folder: no URL to pin (a placeholder `make install` names) and no
    commit (the release tag of __platform_version). The flow image takes the kind's runtime extra:
    an agent's Agent Framework, never Prompt Flow (their OpenTelemetry pins conflict)."""
    found = pins(bake(flow_kind=kind))
    assert {(m["url"], m["rev"]) for m in found} == {
        ("https://github.com/your-org/aiops-genai-template.git", f"v{OPTIONS['__platform_version']}")
    }
    runtime = "agent" if kind == "agent" else "promptflow"
    promptflow = ["promptflow"] if kind != "agent" else []
    assert [m["extra"] for m in found] == [None, *promptflow, "agent", runtime]


def test_the_platform_version_is_the_librarys_version():
    assert OPTIONS["__platform_version"] == LIBRARY_PROJECT["version"]


def test_the_distribution_is_the_documented_name_and_is_only_ever_pinned_by_source():
    """The name is not on the public package index (checked when chosen; library/pyproject.toml says
    when, docs/design.md says why). The check against the index itself is manual: an index listing is
    machine-specific and this suite is offline. What the suite holds: the one documented name
    everywhere, and no requirement that an index could answer (every mention is a direct reference)."""
    assert LIBRARY_PROJECT["name"] == DISTRIBUTION
    comment = (LIBRARY / "pyproject.toml").read_text(encoding="utf-8").split("[project]", 1)[1]
    assert re.search(r"Not on the public package index \(checked \d{4}-\d{2}-\d{2}\)", comment)
    paths = (LIBRARY / "src/aiops_platform/paths.py").read_text(encoding="utf-8")
    assert f'PLATFORM = "{DISTRIBUTION}"' in paths
    assert DISTRIBUTION in (TEMPLATE / "{{cookiecutter.project_slug}}/docs/design.md").read_text(
        encoding="utf-8"
    )
    assert "aiops-genai-platform{{ extras }} @ git+" in (TEMPLATE / "templates/platform.jinja").read_text(
        encoding="utf-8"
    )


def _template_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, repo, ignore=TEMPLATE_COPY_IGNORE)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "template v1")
    return repo


# A URL-like template with no network: git rewrites it to the local repository (insteadOf), for cruft's
# clone and every later fetch, as a team's template repository would be reached.
TEMPLATE_URL = "https://git.example.invalid/platform-team/aiops-genai-template.git"


def _url_env(repo: Path) -> dict[str, str]:
    return {
        **os.environ,
        **IDENTITY,
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{repo.as_uri()}.insteadOf",
        "GIT_CONFIG_VALUE_0": TEMPLATE_URL,
    }


def _create(source: str, out: Path, env: dict[str, str]) -> Path:
    context = json.dumps({"project_name": "Pin Check", "register_on_generate": "none"})
    command = [CRUFT, "create", source, "--no-input", "--output-dir", str(out), "--extra-context", context]
    subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    return out / "pin-check"


def test_cruft_create_from_a_url_pins_that_url_at_the_template_commit(tmp_path: Path):
    repo = _template_repo(tmp_path)
    project = _create(TEMPLATE_URL, tmp_path / "out", _url_env(repo))
    commit = git(repo, "rev-parse", "HEAD").strip()
    assert {(m["url"], m["rev"]) for m in pins(project)} == {(TEMPLATE_URL, commit)}
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == commit


@pytest.mark.project
def test_a_fresh_clone_installs_the_platform_from_its_pin_alone(tmp_path: Path):
    """No AIOPS_PLATFORM: `make install` in a clone of the project's own repository fetches the
    platform by the pinned git URL and commit (git reaches the template as a team's CI would) and
    the platform's command runs the project's checks."""
    repo = _template_repo(tmp_path)
    env = _url_env(repo)
    project = _create(TEMPLATE_URL, tmp_path / "out", env)
    git(project, "add", "-A")
    if git(project, "status", "--porcelain"):
        git(project, "commit", "-q", "-m", "day one")
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(project), str(clone))
    env.pop("AIOPS_PLATFORM", None)
    install = subprocess.run(
        ["make", "-C", str(clone), "install", "PROMPTFLOW=0"], capture_output=True, text=True, env=env
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    installed = subprocess.run(
        [str(clone / ".venv/bin/python"), "-c", "import aiops_platform; print(aiops_platform.__file__)"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert str(TEMPLATE) not in installed and str(clone / ".venv") in installed  # not this checkout's
    validated = subprocess.run(
        ["make", "-C", str(clone), "experiment-validate"], capture_output=True, text=True, env=env
    )
    assert validated.returncode == 0, validated.stdout[-2000:] + validated.stderr[-2000:]


def test_a_library_change_reaches_a_project_as_its_pin_only(tmp_path: Path):
    """The second template commit touches only library/: `make template-update` changes the pin in
    pyproject.toml and the flow's requirements.txt, and .cruft.json's commit; no other file."""
    repo = _template_repo(tmp_path)
    env = _url_env(repo)
    project = _create(TEMPLATE_URL, tmp_path / "out", env)
    assert git(project, "status", "--porcelain") == ""
    first = git(repo, "rev-parse", "HEAD").strip()

    edit(repo / "library/src/aiops_platform/report.py", "WORST_LINES = 10", "WORST_LINES = 12")
    git(repo, "commit", "-qam", "library: twelve worst lines")
    second = git(repo, "rev-parse", "HEAD").strip()

    command = ["make", "-C", str(project), "template-update", f"VENV={LIBRARY_VENV}"]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    changed = git(project, "diff", "--name-only", "HEAD").split()
    assert sorted(changed) == [".cruft.json", "flows/qa/requirements.txt", "pyproject.toml"]
    diff = git(project, "diff", "-U0", "HEAD", "--", "pyproject.toml", "flows/qa/requirements.txt")
    removed = [line for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert len(removed) == len(added) == len(pins(project)), diff  # each pin line, nothing else
    assert all(f"@{first}#subdirectory=library" in line for line in removed), removed
    assert all(f"@{second}#subdirectory=library" in line for line in added), added
    assert [line.replace(second, first)[1:] for line in added] == [line[1:] for line in removed]
    assert json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"] == second


def test_a_changed_library_folder_is_rebuilt_when_a_project_installs_it():
    """`make install AIOPS_PLATFORM=<library folder>`: uv rebuilds a local folder only when one of its
    cache keys changed (pyproject.toml alone by default); a new module was installed stale (seen)."""
    uv = tomllib.loads((LIBRARY / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["uv"]
    assert {"file": "src/**/*"} in uv["cache-keys"] and {"file": "pyproject.toml"} in uv["cache-keys"]
