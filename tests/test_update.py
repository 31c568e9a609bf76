"""Re-running generation months later: `cruft update` merges template changes into a user's repo.

The template is copied into its own git repo (cruft only sees committed template changes), a
project is created from that commit, the user edits and commits, the template changes, and the
project is updated. A stand-in interpreter records every registration the hook attempts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import CRUFT, IDENTITY, LIBRARY_VENV, TEMPLATE, TEMPLATE_COPY_IGNORE, edit, git


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, repo, ignore=TEMPLATE_COPY_IGNORE)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "template v1")
    return repo


@pytest.fixture
def registration_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An 'interpreter' that only logs its calls: the hook's registration attempts become visible."""
    log = tmp_path / "registrations.log"
    python = tmp_path / "logging-python"
    python.write_text(f'#!/bin/sh\necho "$PWD $*" >> {log}\nexit 0\n', encoding="utf-8")
    python.chmod(0o755)
    monkeypatch.setenv("AIOPS_PROJECT_PYTHON", str(python))
    return log


def create(template: Path, out: Path) -> Path:
    context = json.dumps({"project_name": "Update Check"})
    command = [
        CRUFT,
        "create",
        str(template),
        "--no-input",
        "--output-dir",
        str(out),
        "--extra-context",
        context,
    ]
    subprocess.run(command, check=True, capture_output=True, text=True, env={**os.environ, **IDENTITY})
    project = out / "update-check"
    assert git(project, "status", "--porcelain") == "", "cruft create must leave nothing to commit"
    return project


def update(project: Path) -> subprocess.CompletedProcess[str]:
    """The project's own `make template-update`, with the library's environment (its `aiops` command and
    cruft): the project itself need not be installed for an update."""
    command = ["make", "-C", str(project), "template-update", f"VENV={LIBRARY_VENV}"]
    return subprocess.run(command, capture_output=True, text=True, env={**os.environ, **IDENTITY})


def test_user_edits_survive_and_the_template_change_arrives(template_repo, registration_log, tmp_path):
    project = create(template_repo, tmp_path / "out")
    calls_at_creation = registration_log.read_text(encoding="utf-8").splitlines()
    assert any("register --target local" in call for call in calls_at_creation)

    edit(project / "flows/qa/flow.py", '"""`prompt` and', '"""Edited by the team. `prompt` and')
    edit(project / "flows/qa/qa.jinja2", "Use only the context.", "Use only the context. Cite the SOP.")
    edit(project / "experiment.yaml", "concurrency: 8", "concurrency: 4")
    (project / "README.md").write_text((project / "README.md").read_text() + "\n## Team notes\n", "utf-8")
    git(project, "commit", "-qam", "team edits")

    edit(template_repo / "{{cookiecutter.project_slug}}/.gitignore", "build/\n", "build/\n*.log\n")
    edit(template_repo / "library/src/aiops_platform/report.py", "WORST_LINES = 10", "WORST_LINES = 12")
    git(template_repo, "commit", "-qam", "template v2")
    v2 = git(template_repo, "rev-parse", "HEAD").strip()

    result = update(project)
    assert result.returncode == 0, result.stdout + result.stderr

    assert "Edited by the team." in (project / "flows/qa/flow.py").read_text()
    assert "Cite the SOP." in (project / "flows/qa/qa.jinja2").read_text()
    assert "concurrency: 4" in (project / "experiment.yaml").read_text()
    assert "## Team notes" in (project / "README.md").read_text()
    assert "*.log" in (project / ".gitignore").read_text().splitlines()
    # the library's change arrives as the pin's new commit, not as code in the project
    assert f"@{v2}#subdirectory=library" in (project / "pyproject.toml").read_text()
    assert not (project / "src/update_check/report.py").exists()
    assert not list(project.rglob("*.rej"))
    assert not [
        p
        for p in project.rglob("*")
        if p.is_file() and ".git" not in p.parts and b"<<<<<<<" in p.read_bytes()
    ]
    assert registration_log.read_text(encoding="utf-8").splitlines() == calls_at_creation, "update registered"
    check = subprocess.run([CRUFT, "check"], cwd=project, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_cruft_check_fails_on_an_outdated_project(template_repo, registration_log, tmp_path):
    project = create(template_repo, tmp_path / "out")
    assert subprocess.run([CRUFT, "check"], cwd=project, capture_output=True).returncode == 0
    edit(template_repo / "{{cookiecutter.project_slug}}/.gitignore", "build/\n", "build/\n*.log\n")
    git(template_repo, "commit", "-qam", "template v2")
    assert subprocess.run([CRUFT, "check"], cwd=project, capture_output=True).returncode == 1
    # make template-check names our command, not cruft's "Run `cruft update` to clean this mess up"
    command = ["make", "--no-print-directory", "-C", str(project), "template-check", f"VENV={LIBRARY_VENV}"]
    checked = subprocess.run(command, capture_output=True, text=True)
    assert checked.returncode == 2 and checked.stdout == ""
    assert checked.stderr.splitlines()[0] == (
        "template-check: the template is ahead: make template-update merges it (commit your work first)"
    )
    assert "cruft update" not in checked.stderr


def test_a_real_conflict_is_reported_and_loses_nothing(template_repo, registration_log, tmp_path):
    project = create(template_repo, tmp_path / "out")
    edit(project / ".gitignore", "build/\n", "build/\nout/\n")
    edit(project / "experiment.yaml", "concurrency: 8", "concurrency: 4")
    git(project, "commit", "-qam", "team: ignore out/, concurrency 4")
    edit(template_repo / "{{cookiecutter.project_slug}}/.gitignore", "build/\n", "build/\n*.log\n")
    edit(template_repo / "{{cookiecutter.project_slug}}/experiment.yaml", "concurrency: 8", "concurrency: 12")
    git(template_repo, "commit", "-qam", "template: ignore *.log, concurrency 12")

    result = update(project)

    assert result.returncode != 0
    assert "Conflict: .gitignore" in result.stdout
    # the outcome first, in our words: no "Good work! ... as clean as possible!" from cruft before it
    said = [line for line in result.stdout.splitlines() if not line.startswith(("make", f'"{LIBRARY_VENV}'))]
    assert said[0] == (
        "Template update stopped on 1 conflict: resolve it before you commit (make lint fails until then)."
    )
    assert "Good work" not in result.stdout + result.stderr
    assert "clean as possible" not in result.stdout + result.stderr
    merged = (project / ".gitignore").read_text()
    assert "<<<<<<< ours\nout/\n=======\n*.log\n>>>>>>> theirs" in merged
    # experiment.yaml is the team's (pyproject.toml's [tool.cruft] skip): the template's edit stays out,
    # named, with the diff to adopt it by hand
    assert "concurrency: 4" in (project / "experiment.yaml").read_text()
    assert "keeps as its own ([tool.cruft] skip in pyproject.toml): experiment.yaml." in result.stdout
    assert "+concurrency: 12" in (project / ".aiops/template-update-skipped.diff").read_text()


def test_the_secrets_scan_skips_the_template_commit_in_cruft_json(template_repo, registration_log, tmp_path):
    """`.cruft.json` pins the template by commit hash, which detect-secrets flags as high entropy."""
    project = create(template_repo, tmp_path / "out")
    assert len(json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["commit"]) == 40
    hooks = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"]
    (scan,) = [hook for repo in hooks for hook in repo["hooks"] if hook["id"] == "detect-secrets"]
    assert re.search(scan["exclude"], ".cruft.json")
    assert not re.search(scan["exclude"], "src/settings.py")
