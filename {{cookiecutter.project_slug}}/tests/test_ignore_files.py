"""Local state stays out of git and out of Azure ML uploads at any depth, by each tool's own rules:
`git check-ignore` for .gitignore, azure-ai-ml's matcher for .amlignore (code snapshots and the
serving image's build context). .dockerignore: tests/test_container.py."""

import shutil
import subprocess
from pathlib import Path

import pytest
from azure.ai.ml._utils._asset_utils import get_ignore_file  # what azure-ai-ml uploads by (pinned)
from conftest import LOCAL_STATE_FILES

FLOW = {{ ('flows/' ~ cookiecutter.flow_kind) | jsonify }}
PACKAGE = {{ ('src/' ~ cookiecutter.package_name) | jsonify }}
STATE = LOCAL_STATE_FILES
KEPT = [
    "experiment.yaml",
    "data/core_qa.jsonl",
    "data/production_samples.jsonl",  # committed on purpose (monitor sample --output): a dataset
    f"{FLOW}/flow.py",
    f"{PACKAGE}/server.py",
    "deployment/Dockerfile",
]


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


def test_azure_ml_uploads_leave_local_state_out_at_any_depth(project_root: Path, tmp_path: Path):
    shutil.copy(project_root / ".amlignore", tmp_path / ".amlignore")
    ignore = get_ignore_file(tmp_path)
    assert ignore.path == tmp_path / ".amlignore"  # it takes precedence over .gitignore
    assert [name for name in STATE if not ignore.is_file_excluded(tmp_path / name)] == []
    assert [name for name in KEPT if ignore.is_file_excluded(tmp_path / name)] == []
