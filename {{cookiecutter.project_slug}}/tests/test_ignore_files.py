"""Local state stays out of git and out of Azure ML uploads at any depth, by each tool's own rules:
`git check-ignore` for .gitignore, azure-ai-ml's pattern matcher for .amlignore (code snapshots and
the serving image's build context). What the project needs stays in, a platform wheel for the
container build too. The platform's tests check .dockerignore with Docker's own rules."""

import functools
import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import FLOW, LOCAL_STATE_FILES

STATE = LOCAL_STATE_FILES
KEPT = [
    "experiment.yaml",
    "data/core_qa.jsonl",
    "data/production_samples.jsonl",  # committed on purpose (monitor sample --output): a dataset
    f"{FLOW}/flow.py",
    "evaluators/answer_length.py",
    "deployment/Dockerfile",
    "deployment/wheels/aiops_genai_platform-0.3.0-py3-none-any.whl",  # docs/platform.md
]


@functools.cache
def _azure_ml_pathspec():
    """azure-ai-ml's own gitwildmatch module, loaded alone: importing azure.ai.ml takes seconds."""
    package = importlib.util.find_spec("azure.ai.ml")  # found, not imported
    assert package is not None and package.origin is not None
    module_file = Path(package.origin).parent / "_utils/_pathspec.py"
    spec = importlib.util.spec_from_file_location("_aml_pathspec", module_file)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _aml_excluded(ignore_file: Path, name: str) -> bool:
    """As azure-ai-ml's IgnoreFile.is_file_excluded decides: the last pattern that matches wins."""
    pathspec = _azure_ml_pathspec()
    patterns = [pathspec.GitWildMatchPattern(line.rstrip()) for line in ignore_file.read_text().splitlines()]
    excluded = False
    for pattern in patterns:
        if pattern.include is not None and pattern.match_file(pathspec.normalize_file(name)) is not None:
            excluded = pattern.include
    return excluded


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_ignores_local_state_at_any_depth(project_root: Path, tmp_path: Path):
    shutil.copy(project_root / ".gitignore", tmp_path / ".gitignore")
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for name in (*STATE, *KEPT):  # real files: a folder pattern (`.aiops/`) matches folders that exist
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x\n", encoding="utf-8")
    found = subprocess.run(
        ["git", "-C", str(tmp_path), "check-ignore", "--no-index", *STATE, *KEPT],
        capture_output=True,
        text=True,
    )
    assert sorted(found.stdout.split()) == sorted(STATE)


def test_azure_ml_uploads_leave_local_state_out_at_any_depth(project_root: Path):
    amlignore = project_root / ".amlignore"
    assert [name for name in STATE if not _aml_excluded(amlignore, name)] == []
    assert [name for name in KEPT if _aml_excluded(amlignore, name)] == []
