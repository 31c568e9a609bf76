"""The pre-commit checks where developers work: a plain shell (nothing on PATH but the system's) and
`git commit` through the hook `make install` installs. The tools come from the project's .venv; a
key pasted into a dataset is refused at commit time; without .venv, one line names the fix."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VENV = Path(sys.prefix)  # the environment running the tests: the project's .venv under make
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs git"),
    pytest.mark.skipif(not (VENV / "bin/pre-commit").is_file(), reason="needs the dev tools (make install)"),
]
FAKE_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example, split so this file is not a finding


def _plain_env(tmp_path: Path) -> dict[str, str]:
    """No .venv on PATH, no variable from make: what a terminal or an IDE's commit button has."""
    path = os.pathsep.join(dict.fromkeys([str(Path(shutil.which("git")).parent), "/usr/bin", "/bin"]))
    return {"HOME": str(tmp_path / "home"), "PATH": path, "PRE_COMMIT_HOME": str(tmp_path / "cache")}


def _repo(project_root: Path, tmp_path: Path, *, venv: bool = True) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(project_root / "data", repo / "data", ignore=shutil.ignore_patterns("production_*"))
    for name in (".pre-commit-config.yaml", "pyproject.toml", "experiment.yaml"):
        shutil.copy(project_root / name, repo / name)
    (repo / ".gitignore").write_text(".venv\n", encoding="utf-8")
    if venv:
        (repo / ".venv").symlink_to(VENV)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    return repo


def _run(repo: Path, env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=repo, env=env, capture_output=True, text=True, timeout=120)


def _commit(repo: Path, env: dict[str, str], message: str) -> subprocess.CompletedProcess[str]:
    _run(repo, env, "git", "add", "-A")
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid"]
    return _run(repo, env, "git", *identity, "commit", "-q", "-m", message)


def test_git_commit_runs_the_checks_from_a_plain_shell_and_refuses_a_key_in_a_data_file(
    project_root: Path, tmp_path: Path
):
    repo, env = _repo(project_root, tmp_path), _plain_env(tmp_path)
    installed = _run(repo, env, str(VENV / "bin/pre-commit"), "install")
    assert installed.returncode == 0, installed.stderr
    first = _commit(repo, env, "the shipped data")  # every dataset scanned: no false positive
    assert first.returncode == 0, first.stdout + first.stderr
    assert re.search(r"secrets scan\.+Passed", first.stderr), first.stderr
    line = {"id": "leak", "question": "Is this my key?", "answer": FAKE_KEY}
    (repo / "data/pasted.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    refused = _commit(repo, env, "a pasted key")
    assert refused.returncode == 1
    assert "AWS Access Key" in refused.stderr and "data/pasted.jsonl" in refused.stderr  # git: hook output
    assert _run(repo, env, "git", "rev-list", "--count", "HEAD").stdout.strip() == "1"


def test_without_the_environment_one_line_names_make_install(project_root: Path, tmp_path: Path):
    repo, env = _repo(project_root, tmp_path, venv=False), _plain_env(tmp_path)
    _run(repo, env, "git", "add", "-A")
    result = _run(repo, env, str(VENV / "bin/pre-commit"), "run", "--all-files")
    assert result.returncode == 1
    assert ".venv/bin/ruff not found: run make install, then try again" in result.stdout
    assert "Executable" not in result.stdout  # the hooks after the first are not run


def test_a_template_update_left_unresolved_fails_the_checks(project_root: Path, tmp_path: Path):
    """`make template-update-pr` commits its conflicts for the pull request to show: the checks fail
    on conflict markers and on `.rej` files until they are resolved."""
    repo, env = _repo(project_root, tmp_path), _plain_env(tmp_path)
    ours, separator, theirs = "<" * 7 + " ours", "=" * 7, ">" * 7 + " theirs"  # none in this file
    conflicted = f"name: x\n{ours}\nconcurrency: 4\n{separator}\nconcurrency: 12\n{theirs}\n"
    (repo / "experiment.yaml").write_text(conflicted, encoding="utf-8")
    (repo / "Makefile.rej").write_text("@@ -1,1 +1,2 @@\n a\n+b\n", encoding="utf-8")
    _run(repo, env, "git", "add", "-A")
    result = _run(repo, env, str(VENV / "bin/pre-commit"), "run", "--all-files")
    assert result.returncode == 1
    assert re.search(r"no merge conflict markers\.+Failed", result.stdout), result.stdout
    assert "experiment.yaml:2: Merge conflict string" in result.stdout
    assert re.search(r"no rejected hunks \(\.rej\)\.+Failed", result.stdout)
    assert "Makefile.rej" in result.stdout
