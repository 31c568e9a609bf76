"""Finish a freshly generated project.

Each concern is one small function. Nothing here may fail generation: cookiecutter deletes the
whole project when this hook exits non-zero, so every step catches its own errors and says what
it skipped and how to re-run it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FALLBACK_GIT_IDENTITY = ["-c", "user.name=AIOps template", "-c", "user.email=aiops-template@example.invalid"]


def is_update_render(project_dir: Path) -> bool:
    """cruft update/diff render into `<tmp>/tmpXXXXXXXX/<slug>`; a real generation never does."""
    scratch = project_dir.parent
    return scratch.parent == Path(tempfile.gettempdir()).resolve() and scratch.name.startswith("tmp")


def remove_empty_dirs(project_dir: Path) -> None:
    """Conditional file names can leave a folder empty (e.g. `.github/workflows` on Azure DevOps)."""
    for folder in sorted(project_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and ".git" not in folder.parts and not any(folder.iterdir()):
            folder.rmdir()


def init_git(project_dir: Path) -> None:
    """A first commit lets pre-commit (`make lint`) and cruft see the files from day one."""
    if (project_dir / ".git").exists():
        return
    if shutil.which("git") is None:
        print("Skipped: git init (git is not installed). Later run: git init && git add -A && git commit")
        return
    identity = [] if _git_identity_configured(project_dir) else FALLBACK_GIT_IDENTITY
    try:
        for args in (
            ["init", "-q", "-b", "main"],
            ["add", "-A"],
            [*identity, "commit", "-q", "-m", "Initial commit"],
        ):
            subprocess.run(["git", *args], cwd=project_dir, check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as error:
        print(f"Skipped: first git commit ({error.stderr.strip() or error}).")
        print("Re-run with: git add -A && git commit -m 'Initial commit'")


def _git_identity_configured(project_dir: Path) -> bool:
    result = subprocess.run(
        ["git", "config", "user.email"], cwd=project_dir, capture_output=True, text=True, check=False
    )
    return bool(result.stdout.strip())


def print_next_steps(project_dir: Path) -> None:
    print(f"\nGenerated {project_dir.name}. Next:\n  cd {project_dir.name}\n  make install experiment\n")


def main() -> int:
    project_dir = Path.cwd().resolve()
    remove_empty_dirs(project_dir)
    if is_update_render(project_dir):
        return 0
    init_git(project_dir)
    print_next_steps(project_dir)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001 - generation must survive any hook failure
        print(f"Skipped the remaining post-generation steps: {error}")
        sys.exit(0)
