"""A project made from each earlier release, edited by its team, updates to this template cleanly
and still passes its own checks.

The template's history is the source of the releases: a release is the commit that added its
CHANGELOG heading (docs/update.md). Each is replayed into a scratch template repo, followed by
this working tree as the newest commit, so the update is exactly what a team would pull.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import CRUFT, IDENTITY, LIBRARY_VENV, TEMPLATE, TEMPLATE_COPY_IGNORE, git
from test_generated_project import make

pytestmark = pytest.mark.project

RELEASES = ["0.1.0", "0.2.0"]
# Teams generate from main between releases too. Main as it last landed already loads the
# template's Jinja extension (then local_extensions.py, which cached its commit's Jinja tags), and
# cruft imports an update's old extension first: the new render must load its own (now
# aiops_extensions.py), or the agent kind's file names are refused as Jinja in an answer.
LANDED = {"main-2026-11-30": "1ebd3d7e4d060444babb2aba0eebd20c3df3d2d6"}
STARTS = [*RELEASES, *LANDED]
TEAM_MODULE = '''"""The team's own helpers: a module the template never had."""


def shout(text: str) -> str:
    return text.upper()
'''


def is_platform(name: str) -> bool:
    """A file of the platform as earlier releases copied it into the project's package."""
    return name.endswith(".py") and name != "src/update_check/__init__.py"


def start_commit(name: str) -> str:
    return LANDED.get(name) or release_commit(name)


def release_commit(version: str) -> str:
    """The commit that added `## <version>` to the CHANGELOG: the oldest one that mentions it."""
    found = git(TEMPLATE, "log", "--reverse", "--format=%H", "-S", f"## {version}", "--", "CHANGELOG.md")
    assert found, f"release {version} is not in the template's git history"
    return found.split()[0]


@pytest.fixture
def releases_then_now(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A template repo whose commits are each release (and main as it last landed), then this working tree."""
    repo = tmp_path / "template"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    commits = {}
    for version in STARTS:
        archive = subprocess.run(
            ["git", "-C", str(TEMPLATE), "archive", start_commit(version)], capture_output=True, check=True
        )
        for child in repo.iterdir():
            if child.name != ".git":
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        subprocess.run(["tar", "-x", "-C", str(repo)], input=archive.stdout, check=True)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"release {version}")
        commits[version] = git(repo, "rev-parse", "HEAD").strip()
    for child in repo.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    ignore = TEMPLATE_COPY_IGNORE
    shutil.copytree(TEMPLATE, repo, ignore=ignore, dirs_exist_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "this template")
    return repo, commits


def created(repo: Path, commits: dict[str, str], version: str, out: Path) -> Path:
    """A project made with cruft from the release `version` of `repo`, committed."""
    create = [CRUFT, "create", str(repo), "--checkout", commits[version], "--no-input"]
    create += ["--output-dir", str(out), "--extra-context", '{"project_name": "Update Check"}']
    subprocess.run(create, check=True, capture_output=True, text=True, env={**os.environ, **IDENTITY})
    project = out / "update-check"
    git(project, "add", "-A")
    if git(project, "status", "--porcelain"):
        git(project, "commit", "-q", "-m", "link to the template")  # older releases left .cruft.json out
    return project


def team_edits(project: Path) -> None:
    """What a team does in the months after generation: prompts, experiment, README, data, code."""
    prompt = project / "flows/qa/qa.jinja2"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "Answer in one paragraph.\n", encoding="utf-8")
    experiment = project / "experiment.yaml"
    experiment.write_text(experiment.read_text(encoding="utf-8").replace("concurrency: 8", "concurrency: 4"))
    readme = project / "README.md"
    readme.write_text(
        readme.read_text(encoding="utf-8") + "\n## Team notes\n\nOur runbook.\n", encoding="utf-8"
    )
    data = project / "data/core_qa.jsonl"
    line = '{"id": "team-001", "question": "Who signs?", "context": "QA signs.", "ground_truth": "QA signs."}'
    data.write_text(data.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    (project / "src/update_check/team_utils.py").write_text(TEAM_MODULE, encoding="utf-8")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "team edits")


@pytest.mark.parametrize("version", STARTS)
def test_a_project_from_an_earlier_release_updates_cleanly_and_passes_its_checks(
    releases_then_now, tmp_path: Path, version: str
):
    project = created(*releases_then_now, version, tmp_path)
    platform_files = [
        name for name in git(project, "ls-files", "src/update_check").split() if is_platform(name)
    ]
    assert len(platform_files) > 10, platform_files  # what the split moves into the library
    team_edits(project)

    update = subprocess.run(
        ["make", "-C", str(project), "template-update", f"VENV={LIBRARY_VENV}"],
        capture_output=True, text=True, env={**os.environ, **IDENTITY},
    )  # fmt: skip

    assert update.returncode == 0, update.stdout + update.stderr
    assert not list(project.rglob("*.rej"))
    files = git(project, "ls-files", "--cached", "--others", "--exclude-standard").splitlines()  # not .venv
    conflicted = [name for name in files if b"<<<<<<<" in (project / name).read_bytes()]
    assert conflicted == []
    assert "Answer in one paragraph." in (project / "flows/qa/qa.jinja2").read_text(encoding="utf-8")
    assert "concurrency: 4" in (project / "experiment.yaml").read_text(encoding="utf-8")
    assert "## Team notes" in (project / "README.md").read_text(encoding="utf-8")
    assert "team-001" in (project / "data/core_qa.jsonl").read_text(encoding="utf-8")
    # The split arrived: the answers the platform reads, the pin, and no platform code left behind,
    # while the team's own module stays in the team's package.
    assert (project / "aiops.yaml").is_file(), "this template's changes did not arrive"
    assert "aiops-genai-platform @ git+" in (project / "pyproject.toml").read_text(encoding="utf-8")
    assert [name for name in platform_files if (project / name).exists()] == []
    assert (project / "src/update_check/team_utils.py").read_text(encoding="utf-8") == TEAM_MODULE
    assert (project / "src/update_check/__init__.py").is_file()
    # The platform is a new dependency: install before committing, as the CHANGELOG's steps say (the
    # git hook a project from main installed runs the platform's checks).
    make(project, "install", offline=False)
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "template update")
    make(project, "lint", "test", "experiment-validate", "data-validate")


@pytest.mark.parametrize("version", ["0.2.0"])
def test_a_platform_module_the_team_changed_is_named_after_the_update_not_dropped(
    releases_then_now, tmp_path: Path, version: str
):
    """The update deletes the platform code the project carried; a module the team had changed stays,
    and the project's checks name it with what to do until the change has moved."""
    project = created(*releases_then_now, version, tmp_path)
    gate = project / "src/update_check/gate.py"
    gate.write_text(gate.read_text(encoding="utf-8") + "\nTEAM_TOLERANCE = 0.02\n", encoding="utf-8")
    git(project, "commit", "-q", "-am", "team: our own tolerance, in the gate")

    update = subprocess.run(
        ["make", "-C", str(project), "template-update", f"VENV={LIBRARY_VENV}"],
        capture_output=True, text=True, env={**os.environ, **IDENTITY},
    )  # fmt: skip
    kept = [path for path in (gate, gate.with_name("gate.py.rej")) if path.is_file()]
    assert any("TEAM_TOLERANCE" in path.read_text(encoding="utf-8") for path in kept), "dropped"
    make(project, "install", offline=False)
    lint = subprocess.run(["make", "-C", str(project), "lint"], capture_output=True, text=True)
    said = update.stdout + update.stderr + lint.stdout + lint.stderr
    assert lint.returncode != 0 and "src/update_check/gate.py" in said
    assert "move your change into a module of your own" in said
