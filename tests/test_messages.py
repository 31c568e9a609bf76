"""When a command cannot do its job, it ends in one line that names the fix, not a traceback.

Each case runs the real `make` target. `own_lines` drops what make itself prints (the recipe
echo and its `make: *** [...] Error N` trailer): what is left is what the user has to read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE, TEMPLATE_COPY_IGNORE

VENV = str(Path(sys.executable).parents[1])  # the template's tools (cookiecutter, cruft)
MAKE = shutil.which("make") or "make"  # by path: some tests run with a PATH that has no make
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
GIT_IDENTITY |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def run_make(folder: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [MAKE, "--no-print-directory", "-C", str(folder), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, env=env)


def own_lines(result: subprocess.CompletedProcess[str], echoed: str = "") -> list[str]:
    lines = (result.stdout + result.stderr).splitlines()
    return [
        line
        for line in lines
        if line.strip() and not line.startswith(("make: ***", "make[")) and not (echoed and echoed in line)
    ]


@pytest.mark.parametrize("target", ["template-check", "template-update"])
def test_an_unlinked_project_says_how_to_link_it(bake, target):
    project = bake(register_on_generate="none")  # plain cookiecutter: no .cruft.json
    result = run_make(project, target, f"VENV={VENV}")
    assert result.returncode != 0
    assert own_lines(result) == [
        f"{target}: this project is not linked to the template (no .cruft.json); "
        f"link it once with: {VENV}/bin/cruft link <template-git-url>"
    ]


# Targets that run nothing from the project's environment.
WITHOUT_VENV = {"help", "install", "clean", "clean-cache"}


@pytest.mark.parametrize("deployment_target", ["aml_online_endpoint", "azure_webapp"])
def test_without_the_environment_every_target_but_install_says_to_run_make_install(bake, deployment_target):
    """A colleague's fresh clone, or a project generated with registration `none`: one line, exit 2."""
    project = bake(register_on_generate="none", flow_kind="rag", deployment_target=deployment_target)
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    targets = set(re.search(r"^\.PHONY: (.+)$", makefile, re.MULTILINE)[1].split()) - WITHOUT_VENV
    assert {"experiment", "lint", "test", "deploy", "template-check", "index"} <= targets
    for target in sorted(targets):
        result = run_make(project, target)
        assert result.returncode == 2, (target, result.stdout, result.stderr)
        assert own_lines(result) == ["No .venv here: run make install first"], target
    assert not (project / ".venv").exists()
    assert run_make(project, "help").returncode == 0


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """cruft creates from committed template files: a throw-away repo of the working tree."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, repo, ignore=TEMPLATE_COPY_IGNORE)
    env = {**os.environ, **GIT_IDENTITY}
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "template"]):
        subprocess.run(["git", *command], cwd=repo, env=env, check=True, capture_output=True)
    return repo


def test_make_new_into_an_existing_project_says_what_to_do(template_repo: Path, tmp_path: Path):
    out = tmp_path / "out"
    stand_in = tmp_path / "python"  # for the hook's install and registration: not what is tested here
    stand_in.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    stand_in.chmod(0o755)
    env = {**os.environ, **GIT_IDENTITY, "AIOPS_PROJECT_PYTHON": str(stand_in)}
    first = run_make(template_repo, "new", "USECASE=cmc", f"OUT={out}", f"VENV={VENV}", env=env)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    (out / "cmc-assistant" / "my-work.txt").write_text("keep me\n", encoding="utf-8")

    again = run_make(template_repo, "new", "USECASE=cmc", f"OUT={out}", f"VENV={VENV}", env=env)
    assert again.returncode != 0
    project = out / "cmc-assistant"
    assert own_lines(again) == [
        f"make new: {project} already exists; remove it, choose another folder with OUT=<dir>, "
        f"or update it with: make -C {project} template-update"
    ]
    assert (project / "my-work.txt").read_text(encoding="utf-8") == "keep me\n"


FAKE_AZ = """#!/bin/sh
echo "az $*" >> "$AZ_CALLS"
case "$*" in "account show"*) echo "ERROR: Please run 'az login' to setup account." >&2; exit 1 ;; esac
"""


def tools_without_az(folder: Path) -> Path:
    """A PATH folder with what make and deploy.sh need, and no Azure CLI."""
    folder.mkdir()
    for tool in ("sh", "bash", "sed", "tail", "git"):
        (folder / tool).symlink_to(shutil.which(tool))
    return folder


WEBAPP_NAMES = {"ACR_NAME": "acrqcp", "WEBAPP_NAME": "app-qcp"}  # checked first, before any call to az


def test_webapp_deploy_without_the_azure_cli_says_how_to_get_it(bake, tmp_path: Path):
    project = bake(deployment_target="azure_webapp", register_on_generate="none")
    env = {"PATH": str(tools_without_az(tmp_path / "bin")), "HOME": str(tmp_path), **WEBAPP_NAMES}
    result = run_make(project, "deploy", f"VENV={VENV}", env=env)  # a stand-in: make deploy needs one
    assert result.returncode != 0
    assert own_lines(result, echoed="deploy.sh") == [
        "make deploy: the Azure CLI (az) is not installed: install it (https://aka.ms/installazurecli), "
        "run az login, then make deploy again."
    ]


def test_webapp_deploy_without_a_login_names_az_login_and_calls_nothing_else(bake, tmp_path: Path):
    project = bake(deployment_target="azure_webapp", register_on_generate="none")
    tools = tools_without_az(tmp_path / "bin")
    (tools / "az").write_text(FAKE_AZ, encoding="utf-8")
    (tools / "az").chmod(0o755)
    calls = tmp_path / "az-calls.log"
    env = {"PATH": str(tools), "HOME": str(tmp_path), "AZ_CALLS": str(calls), **WEBAPP_NAMES}
    result = run_make(project, "deploy", f"VENV={VENV}", env=env)
    assert result.returncode != 0
    subscription = "00000000-0000-0000-0000-000000000000"
    assert own_lines(result, echoed="deploy.sh") == [
        f"make deploy: no Azure login for subscription {subscription} (AZURE_SUBSCRIPTION_ID): "
        "run az login, then make deploy again."
    ]
    assert calls.read_text(encoding="utf-8").splitlines() == [
        f"az account show --subscription {subscription} --output none"
    ]
