"""Finish a freshly generated project.

Each concern is one small function. Nothing here may fail generation: cookiecutter deletes the
whole project when this hook exits non-zero, so every step catches its own errors and says what
it skipped and how to re-run it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Jinja only inside string literals, so this file stays importable (and testable) unrendered.
REGISTER_ON_GENERATE = "{{ cookiecutter.register_on_generate }}" == "True"
PACKAGE = "{{ cookiecutter.package_name }}"
REQUIRED_MODULES = ("promptflow", "azure.ai.ml", "typer", "pydantic_settings")
RERUN_REGISTER = "make register"
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


def python_with_dependencies(project_dir: Path) -> str | None:
    """The project's own .venv (a re-generation over an installed project) or AIOPS_PROJECT_PYTHON."""
    candidates = [project_dir / ".venv" / "bin" / "python", os.environ.get("AIOPS_PROJECT_PYTHON")]
    probe = (
        f"import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in {REQUIRED_MODULES!r}))"
    )
    for candidate in candidates:
        if candidate and Path(candidate).exists():
            found = subprocess.run([str(candidate), "-c", probe], capture_output=True, check=False)
            if found.returncode == 0:
                return str(candidate)
    return None


def register(project_dir: Path) -> None:
    """Local registration through the project's own command; on any failure, say what to re-run."""
    python = python_with_dependencies(project_dir)
    if python is None:
        print(
            "Skipped: registering data assets and connections (the project's dependencies are not installed)."
        )
        print(f"Run after `make install`: {RERUN_REGISTER}")
        return
    environment = {**os.environ, "PYTHONPATH": str(project_dir / "src")}
    command = [python, "-m", PACKAGE, "register", "--target", "local"]
    result = subprocess.run(
        command, cwd=project_dir, env=environment, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        print("Skipped: registering data assets and connections failed:")
        print("  " + "\n  ".join((result.stdout + result.stderr).strip().splitlines()[-12:]))
        print(f"Fix the problem above, then run: {RERUN_REGISTER}")
        return
    print(result.stdout.rstrip())


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
    if REGISTER_ON_GENERATE:
        register(project_dir)
    init_git(project_dir)
    print_next_steps(project_dir)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001 - generation must survive any hook failure
        print(f"Skipped the remaining post-generation steps: {error}")
        sys.exit(0)
