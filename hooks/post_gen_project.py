"""Finish a freshly generated project: environment, registration, first commit.

Each concern is one small function. Nothing here may fail generation: cookiecutter deletes the
whole project when this hook exits non-zero, so every step catches its own errors, has a time
limit, and says what it skipped and the command that re-runs it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

# The rendered answers, in cookiecutter's order (the order cruft writes them in). Jinja appears only
# inside this raw string, so the file stays importable unrendered; `tojson` leaves no quote in it.
ANSWERS_JSON = r'''{{ cookiecutter.items() | list | tojson }}'''  # fmt: skip
# Projects made before `register_on_generate` became a choice answered True or False.
LEGACY_REGISTRATION = {"True": "local", "False": "none"}

UV_PIN = "uv==0.13.9"  # the same pin as the project's `make install`
PYTHON_SERIES = (3, 11)  # the project's requires-python
TIMEOUT_ENV = "AIOPS_HOOK_TIMEOUT"  # seconds per step; a slow network may need more
DEFAULT_TIMEOUTS = {"install": 900, "register": 300, "git": 60, "probe": 30}
FALLBACK_GIT_IDENTITY = ["-c", "user.name=AIOps template", "-c", "user.email=aiops-template@example.invalid"]
RENDER_VARIABLE = "AIOPS_TEMPLATE_RENDER"  # set by aiops_extensions.py under cruft
# The platform library's source to install instead of the project's pin, as `make install` takes it.
PLATFORM_VARIABLE = "AIOPS_PLATFORM"
PLATFORM = "aiops-genai-platform"
PLACEHOLDER = "your-org/aiops-genai-template"  # the pin of a project generated from a local folder
MKDTEMP_NAME = re.compile(r"tmp[a-z0-9_]{8}")  # Python's tempfile.mkdtemp(), which cruft uses
INSTALL_LOG = Path(".aiops/logs/install.log")  # in the project; .aiops/ is git-ignored
LOG_TAIL_LINES = 15
# The platform's placeholder rule (aiops_platform/placeholders.py, which the hook cannot import:
# the library is not installed where cookiecutter runs); library/tests/test_doctor.py keeps them equal.
ZERO_GUID = "00000000-0000-0000-0000-000000000000"
STAND_IN = re.compile(r"(?<![a-z0-9._-])your-[a-z0-9]", re.IGNORECASE)
# Answers that stand in for real values until a team knows its own, and the file each lands in.
PLACEHOLDER_ANSWERS = {
    "azure_subscription_id": "aiops.yaml",
    "azure_openai_endpoint": "aiops.yaml",
    "approvers_test": "governance.yaml",
    "approvers_prod": "governance.yaml",
}


class StepFailed(RuntimeError):
    """A step could not finish; the message is one line for the user."""


def timeout_for(step: str) -> float:
    configured = os.environ.get(TIMEOUT_ENV, "").strip()
    try:
        seconds = float(configured) if configured else DEFAULT_TIMEOUTS[step]
    except ValueError:
        seconds = math.nan
    if not 0 < seconds < math.inf:
        default = DEFAULT_TIMEOUTS[step]
        print(f"Ignored {TIMEOUT_ENV}={configured!r} (not a number of seconds); using {default} s.")
        return DEFAULT_TIMEOUTS[step]
    return seconds


def run(
    command: Sequence[str], cwd: Path, step: str, *, log: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run with a time limit, in a process group of its own: on timeout or Ctrl-C the whole group is
    killed here (make's and uv's children too), so nothing lingers or holds the output open. With
    `log`, the output is appended there instead of returned."""
    limit = timeout_for(step)
    with contextlib.ExitStack() as files:
        if log is None:
            stdout, stderr = subprocess.PIPE, subprocess.PIPE
        else:
            stdout, stderr = files.enter_context(log.open("a", encoding="utf-8")), subprocess.STDOUT
            stdout.write(f"$ {shlex.join(command)}\n")
            stdout.flush()
        return _run_in_group(command, cwd, step, limit, stdout, stderr)


def _run_in_group(
    command: Sequence[str], cwd: Path, step: str, limit: float, stdout: object, stderr: object
) -> subprocess.CompletedProcess[str]:
    with subprocess.Popen(
        list(command), cwd=cwd, stdout=stdout, stderr=stderr, text=True, start_new_session=True
    ) as process:
        try:
            out, err = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise StepFailed(f"{step} took longer than {limit:.0f} s (set {TIMEOUT_ENV}=SECONDS)") from None
        except KeyboardInterrupt:
            _kill_group(process)
            raise StepFailed(f"{step} was interrupted") from None
    return subprocess.CompletedProcess(process.args, process.returncode, out or "", err or "")


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()


def answers() -> dict[str, object]:
    return dict(json.loads(ANSWERS_JSON))


def registration_target(context: dict[str, object]) -> str:
    chosen = str(context["register_on_generate"])
    return LEGACY_REGISTRATION.get(chosen, chosen)


def is_update_render(project_dir: Path, cruft_commit: str) -> bool:
    """cruft update/diff render scratch copies; a real generation never does. cruft's command line
    says which (aiops_extensions.py passes it on); without it (cruft's Python API), a scratch copy
    is a fresh `tempfile.mkdtemp()` folder with a cruft commit in the answers. `mktemp -d` folders
    (`tmp.XXXXXXXXXX`) and plain cookiecutter runs are always real generations."""
    told = os.environ.get(RENDER_VARIABLE)
    if told:
        return told == "update"
    scratch = project_dir.parent
    return (
        bool(cruft_commit)
        and scratch.parent == Path(tempfile.gettempdir()).resolve()
        and MKDTEMP_NAME.fullmatch(scratch.name) is not None
    )


def tell_cruft_where(project_dir: Path) -> None:
    """For aiops_extensions.py in the cruft process: fold cruft's own .cruft.json into the commit."""
    if os.environ.get(RENDER_VARIABLE) == "generate":
        marker = Path(tempfile.gettempdir()) / f"aiops-template-generated-{os.getppid()}"
        marker.write_text(str(project_dir), encoding="utf-8")


def remove_empty_dirs(project_dir: Path) -> None:
    """Conditional file names can leave a folder empty (e.g. `.github/workflows` on Azure DevOps)."""
    for folder in sorted(project_dir.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and ".git" not in folder.parts and not any(folder.iterdir()):
            folder.rmdir()


def find_uv() -> list[str] | None:
    if shutil.which("uv"):
        return ["uv"]
    if importlib.util.find_spec("uv") is not None:
        return [sys.executable, "-m", "uv"]
    return None


def base_python() -> str | None:
    """The interpreter for the project's .venv: this one when it is the project's series."""
    if sys.version_info[:2] == PYTHON_SERIES:
        return sys.executable
    return shutil.which("python{}.{}".format(*PYTHON_SERIES))


def runtime_extra(context: dict[str, object]) -> str:
    """The extra `make install` installs by default: an agent's Agent Framework, else Prompt Flow (their
    OpenTelemetry pins conflict, so never both)."""
    return "agent" if context.get("flow_kind") == "agent" else "promptflow"


def has_dependencies(python: Path, project_dir: Path, package: str) -> bool:
    probe = f"import {package}, aiops_platform, azure.ai.ml"  # Prompt Flow is optional (PROMPTFLOW=0)
    if runtime_extra(answers()) == "agent":
        probe += ", agent_framework"
    try:
        return run([str(python), "-c", probe], project_dir, "probe").returncode == 0
    except (OSError, StepFailed):
        return False


def has_placeholder_pin(project_dir: Path) -> bool:
    return PLACEHOLDER in (project_dir / "pyproject.toml").read_text(encoding="utf-8")


def platform_source(project_dir: Path, context: dict[str, object]) -> str:
    """AIOPS_PLATFORM; else, for a placeholder pin, the library/ of the local template folder the project
    came from (as `make demo` installs it); else ''. A relative template path is the invoking shell's."""
    chosen = os.environ.get(PLATFORM_VARIABLE, "").strip()
    if chosen or not has_placeholder_pin(project_dir):
        return chosen
    invoked_in = Path(os.environ.get("PWD") or os.getcwd())
    for given in (context.get("_repo_dir"), context.get("_template")):
        folder = invoked_in / str(given or "")
        marks = ("cookiecutter.json", "library/pyproject.toml")
        if given and all((folder / mark).is_file() for mark in marks):
            return str((folder / "library").resolve())
    return ""


def create_environment(project_dir: Path, package: str) -> Path:
    """The project's .venv, made as `make install` makes it: one progress line on the terminal, the
    tools' output (some 170 package lines) in .aiops/logs/install.log, its last lines on failure."""
    venv_python = project_dir / ".venv" / "bin" / "python"
    override = os.environ.get("AIOPS_PROJECT_PYTHON")  # a shared, already installed environment
    if override:
        return Path(override)
    if venv_python.exists() and has_dependencies(venv_python, project_dir, package):
        return venv_python
    context = answers()
    platform = platform_source(project_dir, context)
    if not platform and has_placeholder_pin(project_dir):
        raise StepFailed(
            "pyproject.toml pins the platform to a placeholder URL, as for any project generated from a"
            f" local template folder; set {PLATFORM_VARIABLE}=<template checkout>/library (docs/platform.md)"
        )
    if platform and not os.environ.get(PLATFORM_VARIABLE, "").strip():
        print(f"The platform pin is a placeholder (local template folder): installing {platform};")
        print(f"later installs: make install {PLATFORM_VARIABLE}={shlex.quote(platform)} (docs/platform.md)")
    python = base_python()
    if python is None:
        raise StepFailed("no Python {}.{} found on PATH".format(*PYTHON_SERIES))
    uv = find_uv()
    if uv is None:  # exactly `make install`: a venv with pip, then uv from the package index
        steps = [[python, "-m", "venv", ".venv"], [str(venv_python), "-m", "pip", "install", "-q", UV_PIN]]
        uv = [str(venv_python.parent / "uv")]
    else:
        steps = [[*uv, "venv", "--quiet", "--seed", "--python", python, ".venv"]]
    extra = runtime_extra(context)
    extras = f".[dev,{extra}]"  # what `make install` installs by default
    install = [*uv, "pip", "install", "--python", str(venv_python), "-e", extras, UV_PIN]
    # As `make install AIOPS_PLATFORM=<folder, wheel or URL>`: that source instead of the pin.
    override = project_dir / ".venv" / "aiops-platform-override.txt"
    if platform:
        install += ["--override", str(override)]
    steps.append(install)
    log = project_dir / INSTALL_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("", encoding="utf-8")
    limit = timeout_for("install")  # a malformed limit is named before the progress line starts
    print(f"Installing the environment (.venv) with uv, limit {limit:.0f} s ... ", end="", flush=True)
    started = time.monotonic()
    try:
        for command in steps:
            if command is install and platform:
                url = Path(platform).as_uri() if Path(platform).is_absolute() else platform
                override.write_text(f"{PLATFORM}[{extra}] @ {url}\n", encoding="utf-8")
            if run(command, project_dir, "install", log=log).returncode != 0:
                raise StepFailed(f"`{shlex.join(command)}` failed")
    except StepFailed:
        print(f"failed after {time.monotonic() - started:.0f} s; the last lines of {INSTALL_LOG}:")
        logged = log.read_text(encoding="utf-8", errors="replace")  # the tools' bytes, not all UTF-8
        tail = logged.splitlines()[-LOG_TAIL_LINES:]
        print("  " + "\n  ".join(tail))
        shutil.rmtree(project_dir / ".venv", ignore_errors=True)  # half an environment fools `make install`
        raise
    print(f"done in {time.monotonic() - started:.0f} s (output: {INSTALL_LOG})")
    return venv_python


def azure_credentials_present() -> bool:
    """A service principal or workload identity in the environment, or an `az login` profile."""
    if os.environ.get("AZURE_CLIENT_ID") and os.environ.get("AZURE_TENANT_ID"):
        return True
    profile = Path(os.environ.get("AZURE_CONFIG_DIR", Path.home() / ".azure")) / "azureProfile.json"
    try:
        return bool(json.loads(profile.read_text(encoding="utf-8-sig")).get("subscriptions"))
    except (OSError, ValueError):
        return False


def register(project_dir: Path, target: str, package: str, workspace: str) -> None:
    """Data assets and connections through the project's own `register` command."""
    rerun = "make register" + (" REGISTRY_TARGET=azureml" if target == "azureml" else "")
    if target == "azureml" and not azure_credentials_present():
        print(f"Skipped: registering in Azure ML workspace {workspace} (no Azure credentials).")
        print(f"Run `az login`, then: {rerun}")
        return
    try:
        python = create_environment(project_dir, package)
        command = [str(python), "-m", "aiops_platform", "register", "--target", target]
        result = run(command, project_dir, "register")
    except (OSError, StepFailed) as error:
        print(f"Skipped: registering data assets and connections ({error}).")
        found = platform_source(project_dir, answers())
        source = shlex.quote(found) if found else "<template checkout>/library"
        needed = f" {PLATFORM_VARIABLE}={source}" * has_placeholder_pin(project_dir)
        print(f"Re-run with: make install{needed} && {rerun}")
        return
    if result.returncode != 0:
        print("Skipped: registering data assets and connections failed:")
        print("  " + "\n  ".join((result.stdout + result.stderr).strip().splitlines()[-12:]))
        print(f"Fix the problem above, then run: {rerun}")
        return
    print(result.stdout.rstrip())


def write_cruft_state(project_dir: Path, context: dict[str, object]) -> None:
    """What `cruft create` writes once this hook has finished, written now so that the first commit
    holds it: a project whose link file is left untracked silently loses its template."""
    if not context.get("_commit"):
        return  # plain cookiecutter: no template link
    state = {
        "template": context["_template"],
        "commit": context["_commit"],
        "checkout": None,
        "context": {"cookiecutter": context},
        "directory": None,
    }
    text = json.dumps(state, ensure_ascii=False, indent=2, separators=(",", ": ")) + "\n"
    (project_dir / ".cruft.json").write_text(text, encoding="utf-8")


def init_git(project_dir: Path) -> None:
    """A first commit lets pre-commit (`make lint`) and cruft see the files from day one. An empty
    repository (a freshly cloned empty remote) gets that commit too; one with history is left alone."""
    if shutil.which("git") is None:
        print("Skipped: git init (git is not installed). Later run: git init && git add -A && git commit")
        return
    steps = [["add", "-A"], [*_fallback_identity(project_dir), "commit", "-q", "-m", "Initial commit"]]
    if not (project_dir / ".git").exists():
        steps.insert(0, ["init", "-q", "-b", "main"])
    elif _has_commits(project_dir):
        return
    for args in steps:
        try:
            result = run(["git", *args], project_dir, "git")
        except (OSError, StepFailed) as error:
            result = subprocess.CompletedProcess(args, 1, "", str(error))
        if result.returncode != 0:
            print(f"Skipped: first git commit ({result.stderr.strip() or 'git ' + args[0] + ' failed'}).")
            init = "" if (project_dir / ".git").exists() else "git init -b main && "
            print(f"Re-run with: {init}git add -A && git commit -m 'Initial commit'")
            return


def install_commit_checks(project_dir: Path) -> None:
    """pre-commit's git hook, as `make install` installs it, when the environment exists already, so
    a key is stopped at the first `git commit`; without the environment `make install` does it."""
    python = Path(os.environ.get("AIOPS_PROJECT_PYTHON") or project_dir / ".venv" / "bin" / "python")
    pre_commit = python.parent / "pre-commit"
    if not pre_commit.exists() or not (project_dir / ".git").is_dir():
        return
    try:
        result = run([str(pre_commit), "install"], project_dir, "git")
    except (OSError, StepFailed) as error:
        result = subprocess.CompletedProcess([], 1, "", str(error))
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["pre-commit install failed"]
        print(f"Skipped: the commit checks' git hook ({reason[0]}); `make install` installs it.")


def _has_commits(project_dir: Path) -> bool:
    try:
        return run(["git", "rev-parse", "--verify", "-q", "HEAD"], project_dir, "git").returncode == 0
    except (OSError, StepFailed):
        return True  # unsure: never commit over what might be someone's history


def _fallback_identity(project_dir: Path) -> list[str]:
    return [] if _git_identity_configured(project_dir) else FALLBACK_GIT_IDENTITY


def _git_identity_configured(project_dir: Path) -> bool:
    try:
        return bool(run(["git", "config", "user.email"], project_dir, "git").stdout.strip())
    except (OSError, StepFailed):
        return False


def is_placeholder(value: str) -> bool:
    text = value.strip()
    return text == ZERO_GUID or STAND_IN.search(text) is not None


def name_placeholders(project_dir: Path, context: dict[str, object]) -> None:
    """Stand-in answers (a preset's `your-org/...` approvers, the zero subscription) named as such at
    once: the offline loop runs with them, and whatever would send one to Azure or the CI system
    refuses it; `make doctor` says what each blocks."""
    found = []
    for answer, file in PLACEHOLDER_ANSWERS.items():
        if answer == "azure_openai_endpoint" and context.get("llm_provider") != "azure_openai":
            continue  # not used by the openai provider
        stand_ins = [item.strip() for item in str(context.get(answer, "")).split(",") if is_placeholder(item)]
        if stand_ins:
            found.append((answer, ", ".join(stand_ins), file))
    pyproject = project_dir / "pyproject.toml"
    if pyproject.is_file() and PLACEHOLDER in pyproject.read_text(encoding="utf-8"):
        found.append(("platform pin", PLACEHOLDER, "pyproject.toml"))
    if not found:
        return
    width = max(len(answer) for answer, _, _ in found)
    print("\nPlaceholders: replace them before anything goes to Azure or the CI system (make doctor: what")
    print("each one blocks, and how):")
    for answer, value, file in found:
        print(f"  {answer:<{width}}  {value}  ({file})")


def print_next_steps(project_dir: Path, context: dict[str, object]) -> None:
    """The real path, quoted for a shell, wherever the project was generated; with approvers agreed,
    the step an admin owes before the first deployment (each deployment checks it was done)."""
    installed = (project_dir / ".venv" / "bin" / "python").exists()
    targets = "gate" if installed else "install gate"  # the template README's next step
    print(f"\nGenerated {project_dir.name}. Next:\n  cd {shlex.quote(str(project_dir))}\n  make {targets}\n")
    if any(str(context.get(name, "")).strip() for name in ("approvers_test", "approvers_prod")):
        print("Before the first deployment, a repository or project admin runs `make approvals`:")
        print("it makes the CI environments' approvers those in governance.yaml.\n")


def main() -> int:
    project_dir = Path.cwd().resolve()
    context = answers()
    remove_empty_dirs(project_dir)
    if is_update_render(project_dir, str(context.get("_commit", ""))):
        return 0
    target = registration_target(context)
    if target != "none":
        register(project_dir, target, str(context["package_name"]), str(context["azure_ml_workspace"]))
    write_cruft_state(project_dir, context)
    init_git(project_dir)
    install_commit_checks(project_dir)
    tell_cruft_where(project_dir)
    name_placeholders(project_dir, context)
    print_next_steps(project_dir, context)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("Interrupted: the project is kept; finish it with: make install register")
        sys.exit(0)
    except Exception as error:  # noqa: BLE001 - generation must survive any hook failure
        print(f"Skipped the remaining post-generation steps: {error}")
        sys.exit(0)
