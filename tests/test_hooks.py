"""The generation hooks, as a user meets them: the real cookiecutter and cruft commands.

A plain run ends registered and committed; a cruft update render has no side effects; a hung or
failing step is skipped with the command to re-run, and the project is kept; a refused answer or
an existing project ends with the template's message, not a traceback.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import TEMPLATE, TEMPLATE_COPY_IGNORE, load_hook

post_gen = load_hook("post_gen_project")
BIN = Path(sys.executable).parent
COOKIECUTTER, CRUFT = str(BIN / "cookiecutter"), str(BIN / "cruft")
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
GIT_IDENTITY |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
DATASETS = {"qcp_core_qa": ["1"], "qcp_hard_qa": ["1"], "qcp_safety": ["1"]}


def mktemp_d() -> Path:
    """What a user's shell makes: `tmp.XXXXXXXXXX` directly in the temp directory."""
    made = subprocess.run(["mktemp", "-d"], capture_output=True, text=True, check=True).stdout.strip()
    return Path(made).resolve()


def generate(*args: str, env: dict[str, str] | None = None, command: str = COOKIECUTTER) -> tuple[int, str]:
    result = subprocess.run(
        [command, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **GIT_IDENTITY, **(env or {})},
    )
    return result.returncode, result.stdout + result.stderr


def git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout


def registered_versions(project: Path) -> dict[str, list[str]]:
    index = json.loads((project / ".aiops/registry/index.json").read_text(encoding="utf-8"))
    return {name: [v["version"] for v in versions] for name, versions in index["data"].items()}


def connection_names(project: Path) -> list[str]:
    """Prompt Flow's own CLI, reading the project's local connection store."""
    bin_dir = project / ".venv/bin"
    listing = subprocess.run(
        [str(bin_dir / "pf"), "connection", "list"],
        env={
            "PF_HOME_DIRECTORY": str(project / ".promptflow"),
            "PATH": str(bin_dir),
            "HOME": str(Path.home()),
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return [c["name"] for c in json.loads(listing.stdout)]


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """cruft needs the template as a git repo and sees only committed files."""
    repo = tmp_path / "template"
    shutil.copytree(TEMPLATE, repo, ignore=TEMPLATE_COPY_IGNORE)  # not library/.venv either
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "template"]):
        subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_IDENTITY}, check=True)
    return repo


@pytest.fixture(scope="module")
def plain_run() -> tuple[Path, str]:
    """`cookiecutter --no-input` into a `mktemp -d` folder, the real hook doing everything."""
    output = mktemp_d()
    code, out = generate("--no-input", "--output-dir", str(output), str(TEMPLATE))
    assert code == 0, out
    yield output / "qcp-assistant", out
    subprocess.run(["rm", "-rf", str(output)], check=True)


@pytest.mark.project
def test_the_install_is_one_progress_line_and_its_output_a_git_ignored_log(plain_run):
    project, out = plain_run
    (progress,) = [line for line in out.splitlines() if "Installing the environment" in line]
    assert re.search(r"limit \d+ s \.\.\. done in \d+ s \(output: \.aiops/logs/install\.log\)$", progress)
    log = (project / ".aiops/logs/install.log").read_text(encoding="utf-8")
    assert "+ aiops-genai-platform" in log and len(log.splitlines()) > 100  # uv's package lines, kept
    assert "+ aiops-genai-platform" not in out
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.project
def test_a_plain_run_registers_every_dataset_at_version_1(plain_run):
    project, out = plain_run
    assert registered_versions(project) == DATASETS
    assert "Skipped" not in out


@pytest.mark.project
def test_a_plain_run_puts_the_connection_in_the_local_store(plain_run):
    project, _ = plain_run
    assert connection_names(project) == ["azure_openai"]


@pytest.mark.project
def test_a_plain_run_into_a_mktemp_folder_has_one_commit_and_a_clean_tree(plain_run):
    project, _ = plain_run
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    assert git(project, "status", "--porcelain") == ""


@pytest.mark.project
def test_a_plain_run_installs_the_commit_checks_so_a_key_never_reaches_a_commit(plain_run):
    project, _ = plain_run
    assert "pre-commit" in (project / ".git/hooks/pre-commit").read_text(encoding="utf-8")
    (project / "data/leak.jsonl").write_text('{"key": "AKIAIOSFODNN7EXAMPLE"}\n', encoding="utf-8")
    git(project, "add", "data/leak.jsonl")
    plain_shell = {"HOME": os.environ["HOME"], "PATH": "/usr/bin:/bin"}  # no .venv on PATH
    commit = subprocess.run(
        ["git", "commit", "-q", "-m", "leak"], cwd=project, env=plain_shell, capture_output=True, text=True
    )
    assert commit.returncode == 1 and "AWS Access Key" in commit.stderr, commit.stdout + commit.stderr
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    git(project, "reset", "-q", "data/leak.jsonl")
    (project / "data/leak.jsonl").unlink()


@pytest.mark.project
def test_the_next_hint_names_the_real_path(plain_run):
    """The same step the template README and docs/start.md give (`Then, in the project: ...`)."""
    project, out = plain_run
    readme_step = re.search(r"Then, in the project: `([^`]+)`", (TEMPLATE / "README.md").read_text()).group(1)
    assert f"cd {shlex.quote(str(project))}\n  {readme_step}\n" in out


@pytest.mark.project
def test_cruft_create_commits_its_link_file_and_leaves_a_clean_tree(plain_run, template_repo, tmp_path):
    installed = plain_run[0] / ".venv/bin/python"
    code, out = generate(
        "create", "--no-input", "--output-dir", str(tmp_path / "out"), str(template_repo),
        env={"AIOPS_PROJECT_PYTHON": str(installed)}, command=CRUFT,
    )  # fmt: skip
    project = tmp_path / "out/qcp-assistant"
    assert code == 0, out
    assert git(project, "status", "--porcelain") == ""
    assert ".cruft.json" in git(project, "show", "--name-only", "--format=", "HEAD").split()
    assert registered_versions(project) == DATASETS


def test_a_hung_step_is_skipped_with_the_rerun_command_and_the_project_is_kept(
    bake, tmp_path, monkeypatch, capfd
):
    hung = tmp_path / "hung-python"
    hung.write_text("#!/bin/sh\nsleep 60\n", encoding="utf-8")  # sh waits on a child holding the output
    hung.chmod(0o755)
    monkeypatch.setenv("AIOPS_PROJECT_PYTHON", str(hung))
    monkeypatch.setenv("AIOPS_HOOK_TIMEOUT", "1")
    started = time.monotonic()
    project = bake(register_on_generate="local")
    assert time.monotonic() - started < 30, "the hung step's child outlived the time limit"
    out = capfd.readouterr().out
    assert "Skipped: registering data assets and connections (register took longer than 1 s" in out
    assert "make register" in out
    assert (project / "experiment.yaml").is_file() and (project / ".git").is_dir()


@pytest.fixture
def registration_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An 'interpreter' that only logs its arguments: the registrations the hook starts."""
    log = tmp_path / "registrations.log"
    python = tmp_path / "logging-python"
    python.write_text(f'#!/bin/sh\necho "$*" >> {log}\n', encoding="utf-8")
    python.chmod(0o755)
    monkeypatch.setenv("AIOPS_PROJECT_PYTHON", str(python))
    return log


@pytest.mark.parametrize(
    ("answer", "registered"),
    [("local", "register --target local"), (True, "register --target local"), ("none", None), (False, None)],
    ids=["local", "old-answer-true-is-local", "none", "old-answer-false-is-none"],
)
def test_register_on_generate_choices_and_old_boolean_answers(bake, registration_log, answer, registered):
    bake(register_on_generate=answer)
    logged = registration_log.read_text(encoding="utf-8") if registration_log.exists() else ""
    assert (registered in logged) if registered else logged == ""


def test_azureml_without_credentials_is_a_one_line_skip_with_the_rerun_command(
    bake, registration_log, tmp_path, monkeypatch, capfd
):
    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "no-az-login"))
    bake(register_on_generate="azureml", azure_ml_workspace="mlw-qcp-dev")
    out = capfd.readouterr().out
    assert "Skipped: registering in Azure ML workspace mlw-qcp-dev (no Azure credentials)." in out
    assert "Run `az login`, then: make register REGISTRY_TARGET=azureml" in out
    assert not registration_log.exists()


def test_azureml_with_credentials_registers_in_the_workspace(bake, registration_log, monkeypatch):
    monkeypatch.setenv("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001")
    monkeypatch.setenv("AZURE_TENANT_ID", "00000000-0000-0000-0000-000000000002")
    bake(register_on_generate="azureml")
    assert "register --target azureml" in registration_log.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("folder", "commit", "is_update"),
    [
        ("tmpa1b2c3d4", "0123abc", True),  # cruft update/diff: tempfile.mkdtemp() and a cruft commit
        ("tmp.a1B2c3D4e5", "0123abc", False),  # `mktemp -d`
        ("tmpa1b2c3d4", "", False),  # plain cookiecutter into a mkdtemp() folder (e.g. a benchmark)
    ],
    ids=["cruft-update-render", "mktemp-d-folder", "plain-cookiecutter-in-mkdtemp"],
)
def test_only_cruft_update_renders_are_taken_for_update_renders(folder, commit, is_update):
    project = Path(tempfile.gettempdir()).resolve() / folder / "qcp-assistant"
    assert post_gen.is_update_render(project, commit) is is_update


def test_real_generations_elsewhere_are_not_update_renders(tmp_path: Path):
    assert not post_gen.is_update_render(tmp_path / "qcp-assistant", "0123abc")
    assert not post_gen.is_update_render(Path.home() / "projects" / "qcp-assistant", "0123abc")


def test_an_update_render_has_no_side_effects(monkeypatch: pytest.MonkeyPatch):
    calls = []
    context = {
        "register_on_generate": "local",
        "_commit": "0123abc",
        "package_name": "p",
        "azure_ml_workspace": "w",
    }
    monkeypatch.setattr(post_gen, "ANSWERS_JSON", json.dumps(list(context.items())))
    monkeypatch.setattr(post_gen, "register", lambda *args: calls.append(args))
    with tempfile.TemporaryDirectory() as scratch:  # exactly what cruft makes: <tmp>/tmpXXXXXXXX/<slug>
        project = Path(scratch).resolve() / "qcp-assistant"
        project.mkdir()
        monkeypatch.chdir(project)
        assert post_gen.main() == 0
        assert calls == []
        assert not (project / ".git").exists()
        assert not (project / ".cruft.json").exists()


def test_regenerating_over_a_project_with_history_is_refused_naming_the_override(tmp_path: Path):
    args = ["--no-input", "--output-dir", str(tmp_path), str(TEMPLATE), "register_on_generate=none"]
    assert generate(*args)[0] == 0
    experiment = tmp_path / "qcp-assistant/experiment.yaml"
    experiment.write_text(experiment.read_text(encoding="utf-8") + "# my edit\n", encoding="utf-8")

    code, out = generate("-f", *args)

    assert code == 1
    assert "already holds a git repository" in out and "make template-update" in out
    assert "AIOPS_OVERWRITE_PROJECT=1" in out and "Traceback" not in out
    assert experiment.read_text(encoding="utf-8").endswith("# my edit\n")
    assert generate("-f", *args, env={"AIOPS_OVERWRITE_PROJECT": "1"})[0] == 0
    assert not experiment.read_text(encoding="utf-8").endswith("# my edit\n")


@pytest.mark.parametrize("command", ["cookiecutter", "cruft"])
@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("use_case_code=bad", "use_case_code = 'bad': 2 to 10 upper-case letters"),
        ("project_slug=", "project_slug is empty: give the project's folder name"),
        ("description=Batch {{ records", "Unable to render variable 'description'"),
        ("description={{ 7*7 }}", "an answer may not contain Jinja syntax"),
        (
            "owner_team={{ cycler.__init__.__globals__.os.system('touch pwned') }}",
            "Unable to render variable 'owner_team'",
        ),
    ],
    ids=[
        "refused-by-pre-gen",
        "empty-slug",
        "broken-jinja-in-an-answer",
        "jinja-in-an-answer",
        "code-in-an-answer",
    ],
)
def test_a_refused_answer_ends_with_the_template_message_not_a_traceback(
    template_repo, tmp_path, command, answer, message
):
    key, value = answer.split("=", 1)
    if command == "cruft":
        args = ["create", "--no-input", "--output-dir", str(tmp_path / "out"), str(template_repo)]
        code, out = generate(*args, "--extra-context", json.dumps({key: value}), command=CRUFT)
    else:
        code, out = generate("--no-input", "--output-dir", str(tmp_path / "out"), str(TEMPLATE), answer)
    assert code == 1
    assert message in out
    assert "Traceback" not in out and "╭─" not in out
    assert not (tmp_path / "out/qcp-assistant").exists()
    assert not list(Path.cwd().glob("pwned")) and not list(tmp_path.rglob("pwned"))


def test_cruft_create_at_a_chosen_commit_still_commits_its_link_file(template_repo, tmp_path):
    commit = git(template_repo, "rev-parse", "HEAD").strip()
    args = ["create", "--no-input", "--checkout", commit, "--output-dir", str(tmp_path), str(template_repo)]
    code, out = generate(*args, "--extra-context", '{"register_on_generate": "none"}', command=CRUFT)
    project = tmp_path / "qcp-assistant"
    assert code == 0, out
    assert git(project, "status", "--porcelain") == ""
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"
    assert json.loads(git(project, "show", "HEAD:.cruft.json"))["checkout"] == commit


def test_cruft_create_into_a_python_mkdtemp_folder_is_a_real_generation(template_repo):
    with tempfile.TemporaryDirectory() as output:
        args = ["create", "--no-input", "--output-dir", output, str(template_repo)]
        code, out = generate(*args, "--extra-context", '{"register_on_generate": "none"}', command=CRUFT)
        assert code == 0, out
        assert git(Path(output) / "qcp-assistant", "rev-list", "--count", "HEAD").strip() == "1"


def test_a_failed_install_leaves_no_half_environment_and_says_make_install(tmp_path: Path):
    unreachable = {
        "UV_INDEX_URL": "http://127.0.0.1:9/simple",
        "UV_NO_CACHE": "1",
        "AIOPS_HOOK_TIMEOUT": "20",
    }
    code, out = generate("--no-input", "--output-dir", str(tmp_path), str(TEMPLATE), env=unreachable)
    project = tmp_path / "qcp-assistant"
    assert code == 0, out
    assert "Skipped: registering data assets and connections" in out
    assert "limit 20 s ... failed after" in out and "the last lines of .aiops/logs/install.log:" in out
    assert "127.0.0.1:9" in out  # the log's tail names the cause
    assert not (project / ".venv").exists()
    source = shlex.quote(os.environ["AIOPS_PLATFORM"])
    rerun = f"Re-run with: make install AIOPS_PLATFORM={source} && make register"
    assert "make install gate" in out and rerun in out  # a placeholder pin: the source it was installed from
    assert git(project, "rev-list", "--count", "HEAD").strip() == "1"


# A uv whose install prints a byte that is not UTF-8 (a build tool's locale output) and fails.
FAILING_UV = (
    "import sys\n"
    "if sys.argv[1] != 'venv':\n"
    "    sys.stdout.buffer.write(b'error: building wheel: caf\\xe9 not found\\n')\n"
    "    sys.exit(1)\n"
)


def test_a_failed_install_whose_log_is_not_utf8_still_shows_its_last_lines(
    tmp_path: Path, monkeypatch, capsys
):
    """The log was read back as strict UTF-8: one stray byte turned the failure into a traceback."""
    monkeypatch.delenv("AIOPS_PROJECT_PYTHON", raising=False)
    monkeypatch.setattr(post_gen, "find_uv", lambda: [sys.executable, "-c", FAILING_UV])
    monkeypatch.setattr(post_gen, "answers", dict)
    monkeypatch.setattr(post_gen, "platform_source", lambda project_dir, context: "")
    monkeypatch.setattr(post_gen, "has_placeholder_pin", lambda project_dir: False)
    with pytest.raises(post_gen.StepFailed):
        post_gen.create_environment(tmp_path, "qcp_assistant")
    out = capsys.readouterr().out
    assert "the last lines of .aiops/logs/install.log:" in out
    assert "  error: building wheel: caf\ufffd not found" in out


def test_an_empty_cloned_repository_is_a_place_to_generate_into(tmp_path: Path):
    subprocess.run(["git", "init", "-q", str(tmp_path / "qcp-assistant")], check=True)
    args = ["-f", "--no-input", "--output-dir", str(tmp_path), str(TEMPLATE), "register_on_generate=none"]
    code, out = generate(*args)
    assert code == 0, out
    assert git(tmp_path / "qcp-assistant", "status", "--porcelain") == ""


@pytest.mark.parametrize("approvers", [{}, {"approvers_prod": "qa-leads"}], ids=["none", "prod"])
def test_agreed_approvers_add_the_admin_step_to_the_next_steps(bake, capfd, approvers):
    bake(**approvers)
    told = "a repository or project admin runs `make approvals`" in capfd.readouterr().out
    assert told is bool(approvers)


def test_a_malformed_timeout_is_named_and_the_defaults_used(bake, registration_log, monkeypatch, capfd):
    monkeypatch.setenv("AIOPS_HOOK_TIMEOUT", "abc")
    project = bake(register_on_generate="local")
    assert "Ignored AIOPS_HOOK_TIMEOUT='abc' (not a number of seconds)" in capfd.readouterr().out
    assert "register --target local" in registration_log.read_text(encoding="utf-8")
    assert (project / ".git").is_dir()


INSTALLED_NAMES = """
import importlib.metadata as m, json, re
dists, modules = set(), set()
for d in m.distributions():
    dists.add(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower())
    top = d.read_text("top_level.txt") or ""
    modules.update(name for name in top.split() if not name.startswith("_"))
print(json.dumps([sorted(dists), sorted(modules)]))
"""


def listed_in_pre_gen(name: str) -> set[str]:
    source = (TEMPLATE / "hooks/pre_gen_project.py").read_text(encoding="utf-8")
    return set(source.split(f'{name} = frozenset(\n    """', 1)[1].split('"""', 1)[0].split())


@pytest.mark.project
def test_the_names_a_project_may_not_take_cover_everything_it_installs(plain_run):
    python = plain_run[0] / ".venv/bin/python"
    found = subprocess.run([str(python), "-c", INSTALLED_NAMES], capture_output=True, text=True, check=True)
    distributions, modules = json.loads(found.stdout)
    assert set(distributions) - {"qcp-assistant"} <= listed_in_pre_gen("DEPENDENCY_DISTRIBUTIONS")
    assert set(modules) - {"qcp_assistant"} <= listed_in_pre_gen("DEPENDENCY_MODULES")


def test_the_hooks_read_the_answers_through_the_one_tag_every_earlier_extension_knows():
    """cruft renders an update's old template first, importing its extension (local_extensions in
    earlier commits), which refused Jinja its own commit's files never held: one tag, known to all."""
    tags = {
        tag
        for hook in sorted((TEMPLATE / "hooks").glob("*.py"))
        for tag in re.findall(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", hook.read_text(encoding="utf-8"), re.DOTALL)
    }
    assert tags == {"{{ cookiecutter.items() | list | tojson }}"}


def test_a_placeholder_pin_without_a_platform_source_is_one_line_naming_the_fix(tmp_path: Path):
    """Generated from a local folder with no library/ beside it, the pin names no real URL: the hook says
    how to install instead of handing git's failure for a placeholder host."""
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns("library", ".git", ".venv", "build"))
    env = {"AIOPS_PLATFORM": ""}
    code, out = generate("--no-input", "--output-dir", str(tmp_path), str(template), env=env)
    assert code == 0, out
    (line,) = [line for line in out.splitlines() if line.startswith("Skipped: registering")]
    assert (
        "pins the platform to a placeholder URL" in line
        and "AIOPS_PLATFORM=<template checkout>/library" in line
    )
    assert "Re-run with: make install AIOPS_PLATFORM=<template checkout>/library && make register" in out
    assert "fatal:" not in out and not (tmp_path / "qcp-assistant/.venv").exists()


@pytest.mark.parametrize("given", ["_repo_dir", "_template"])
def test_a_placeholder_pin_installs_the_local_template_s_own_library(tmp_path: Path, monkeypatch, given):
    """`cookiecutter .` in a template checkout: its library/ is the platform to install (as `make demo`
    installs it), found from the path as typed, relative to the shell it was typed in."""
    hook = load_hook("post_gen_project")
    project = tmp_path / "out/qcp-assistant"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        f'dependencies = ["x @ git+https://github.com/{hook.PLACEHOLDER}"]'
    )
    monkeypatch.delenv("AIOPS_PLATFORM", raising=False)
    monkeypatch.setenv("PWD", str(TEMPLATE.parent))
    assert hook.platform_source(project, {given: TEMPLATE.name}) == str(TEMPLATE / "library")
    assert hook.platform_source(project, {given: str(tmp_path)}) == ""  # not a template checkout
    (project / "pyproject.toml").write_text('dependencies = ["x @ git+https://github.com/org/t.git"]')
    assert hook.platform_source(project, {given: TEMPLATE.name}) == ""  # a real pin is installed as pinned


def test_a_preset_s_placeholders_are_named_at_generation_with_the_file_that_holds_each(tmp_path: Path):
    """`make new USECASE=cmc`: the preset's approvers stand in for a team's, and the defaults for its
    Azure resources; the offline loop runs with them, so they are named now, not met at deployment."""
    preset = str(TEMPLATE / "usecases/cmc.yaml")
    args = ["--no-input", "--config-file", preset, "--output-dir", str(tmp_path), str(TEMPLATE)]
    code, out = generate(*args, "register_on_generate=none")
    assert code == 0, out
    block = out[out.index("Placeholders:") :].split("\n\n")[0].splitlines()
    assert block[2:] == [
        "  azure_subscription_id  00000000-0000-0000-0000-000000000000  (aiops.yaml)",
        "  azure_openai_endpoint  https://your-aoai-resource.openai.azure.com/  (aiops.yaml)",
        "  approvers_test         your-org/cmc-genai-leads  (governance.yaml)",
        "  approvers_prod         your-org/cmc-regulatory-affairs, your-org/cmc-genai-leads"
        "  (governance.yaml)",
        "  platform pin           your-org/aiops-genai-template  (pyproject.toml)",
    ]
    assert "make doctor" in block[0] + block[1]


def test_real_answers_leave_only_the_local_folder_s_pin_to_name(bake, capfd):
    bake(
        azure_subscription_id="3f2b6c1e-8d4a-4c2b-9e7f-1a2b3c4d5e6f",
        azure_openai_endpoint="https://aoai-qc.openai.azure.com/",
        approvers_test="contoso/qc-leads",
    )
    out = capfd.readouterr().out
    block = out[out.index("Placeholders:") :].split("\n\n")[0].splitlines()
    assert block[2:] == ["  platform pin  your-org/aiops-genai-template  (pyproject.toml)"]
