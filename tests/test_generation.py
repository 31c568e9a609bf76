"""What the template generates, option by option. Reads as the spec of the generated file set."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from fnmatch import fnmatch

import pytest
import yaml
from conftest import OPTIONS, TEMPLATE, files_in

JUDGES = ("coherence", "fluency", "groundedness", "relevance", "similarity")


def flow_files(kind: str) -> list[str]:
    """A flow folder: the plain-Python entry, its flex spec, a prompt with its concise variant, and
    the Python and requirements `pf flow build` puts in its image."""
    names = ("flow.flex.yaml", "flow.py", f"{kind}.jinja2", f"{kind}_concise.jinja2")
    names += ("conda.yaml", "requirements.txt")
    return [f"flows/{kind}/{name}" for name in names]


COMMON_FILES = {
    ".amlignore",
    ".dockerignore",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    "Makefile",
    "README.md",
    "pyproject.toml",
    # the use case's answers the platform library reads (names, flow kind, target, model, Azure)
    "aiops.yaml",
    "experiment.yaml",
    "experiment.dev.yaml",
    "experiment.pr.yaml",
    "experiment.prod.yaml",
    "experiment.test.yaml",
    "experiment.schema.json",
    "governance.yaml",
    "release.schema.json",
    "evaluators/answer_length.py",
    "data/core_qa.jsonl",
    "data/hard_qa.jsonl",
    "connections/azure_openai.yaml",
    "data/core_qa.yml",
    "data/hard_qa.yml",
    "data/safety.yml",
    "deployment/Dockerfile",
    "deployment/wheels/README.md",  # where a project may carry the platform as a wheel
    "docs/design.md",
    "docs/experiments.md",
    "docs/onboarding.md",
    "docs/operations.md",
    "docs/platform.md",
    "docs/runbook.md",
    "monitoring/README.md",
    "monitoring/alerts.json",
    "monitoring/alerts.parameters.json",
    "monitoring/config.yaml",
    "monitoring/workbook.json",
    "deployment/sample_request.json",
    "flows/eval_qa/flow.flex.yaml",
    "flows/eval_qa/qa_metrics.py",
    "flows/eval_judges/flow.flex.yaml",
    "flows/eval_judges/judges.py",
    *(f"flows/eval_judges/prompts/{judge}.jinja2" for judge in JUDGES),
    "flows/eval_safety/flow.flex.yaml",
    "flows/eval_safety/safety_checks.py",
    "flows/eval_safety/safety.jsonl",
    "flows/eval_safety/prompts/harmlessness.jinja2",
    "flows/eval_safety/prompts/attack_resistance.jinja2",
    "flows/eval_content_safety/flow.flex.yaml",
    "flows/eval_content_safety/content_safety.py",
    # the team's own package (its helper modules go here) and tests of its own flows, evaluators, data;
    # the platform and its tests live in the template's library/, pinned in pyproject.toml
    "src/{package}/__init__.py",
    "tests/conftest.py",
    "tests/test_commit_checks.py",
    "tests/test_custom_evaluator.py",
    "tests/test_data_validation.py",
    "tests/test_evaluator.py",
    "tests/test_flow.py",
    "tests/test_ignore_files.py",
    "tests/test_judges.py",
}
FILES_FOR_OPTION = {  # "{package}" stands for the package folder
    ("llm_provider", "azure_openai"): set(),
    ("llm_provider", "openai"): {"connections/openai.yaml"},
    ("ci_provider", "github"): {
        f".github/workflows/{name}.yml"
        for name in ("pr", "evaluate", "deploy", "deploy-environment", "online-evaluation", "template-update")
    },
    ("ci_provider", "azure_devops"): {
        f".azure-pipelines/{name}.yml"
        for name in ("pr", "evaluate", "deploy", "online-evaluation", "template-update")
    },
    ("deployment_target", "aml_online_endpoint"): {
        "deployment/aml/endpoint.yml",
        "deployment/aml/deployment.yml",
        "deployment/aml/environment.yml",
    },
    ("deployment_target", "azure_webapp"): {
        "deployment/webapp/app_settings.json",
        "deployment/webapp/deploy.sh",
    },
    ("flow_kind", "qa"): set(flow_files("qa")),
    ("flow_kind", "chat"): {
        *flow_files("chat"),
        "data/multi_turn_qa.jsonl",
        "data/multi_turn_qa.yml",
    },
    ("flow_kind", "rag"): {
        *flow_files("rag"),
        "data/docs/handbook_part_1.md",
        "data/docs/handbook_part_2.md",
        "data/docs/supplier_notice.md",
        "evaluators/retrieval.py",
    },
    ("flow_kind", "agent"): {
        *flow_files("agent"),
        "flows/agent/tools.py",
        "data/batch_records.csv",
        "data/specifications.csv",
        "data/docs/sops.md",
        "data/docs/supplier_notices.md",
        "evaluators/tool_use.py",
        "evaluators/agent_judges.py",
    },
}

SUPPORTED = {
    "defaults": {},
    "azure-devops-webapp": {
        "ci_provider": "azure_devops",
        "deployment_target": "azure_webapp",
        "data_classification": "personal",
    },
    "github-webapp": {"deployment_target": "azure_webapp", "data_classification": "public"},
    "azure-devops-aml": {"ci_provider": "azure_devops"},
    "openai-api-key": {"llm_provider": "openai", "azure_openai_auth": "api_key"},
    "chat-azure-devops": {"flow_kind": "chat", "ci_provider": "azure_devops"},
    "rag-cmc-webapp": {
        "flow_kind": "rag",
        "use_case_code": "CMC",
        "deployment_target": "azure_webapp",
        "data_classification": "confidential",
    },
    "agent": {"flow_kind": "agent"},
    "cmc-custom-names": {
        "project_name": "CMC Helper",
        "project_slug": "cmc-helper-app",
        "package_name": "cmc_helper",
        "use_case_code": "CMC",
        "register_on_generate": False,
    },
}


def expected_files(answers: dict) -> set[str]:
    chosen = {
        key: answers.get(key, OPTIONS[key][0])
        for key in ("llm_provider", "ci_provider", "deployment_target", "flow_kind")
    }
    package = answers.get("package_name", "qcp_assistant")
    expected = {name.format(package=package) for name in COMMON_FILES}
    for option, value in chosen.items():
        expected |= {name.format(package=package) for name in FILES_FOR_OPTION[option, value]}
    return expected


@pytest.mark.parametrize("answers", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_answers_generate_exactly_the_expected_files(bake, answers):
    project = bake(**answers)
    assert files_in(project) == expected_files(answers)


def test_the_platform_library_holds_none_of_the_templates_jinja():
    """library/ is plain Python (and its own report template): no answer is rendered into it, so it is
    linted, type-checked and tested in place, and a project reads its answers from aiops.yaml."""
    ours = re.compile(r"\{\{-?\s*cookiecutter\.|\{%-?[^%]*cookiecutter\.")
    checked = [
        p
        for p in (TEMPLATE / "library").rglob("*")
        if p.is_file() and p.suffix in {".py", ".jinja2", ".toml"}
    ]
    tooling = re.compile(r"\.venv.*|\.mypy_cache|__pycache__")  # the library's .venv and .venv-agent too
    checked = [p for p in checked if not any(tooling.fullmatch(part) for part in p.parts)]
    assert len(checked) > 50, "the library's files were not found"
    for path in checked:
        assert not ours.search(path.read_text(encoding="utf-8")), path
        assert "{{" not in path.relative_to(TEMPLATE).as_posix(), path


@pytest.mark.parametrize("answers", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_no_template_syntax_is_left_in_any_path_or_file(bake, answers):
    project = bake(**answers)
    leftovers = re.compile(r"\{\{\s*cookiecutter\.|\{%|%\}")
    for name in files_in(project):
        assert not leftovers.search(name), name
        text = (project / name).read_text(encoding="utf-8")
        if any(fnmatch(name, pattern) for pattern in OPTIONS["_copy_without_render"]):
            assert "cookiecutter." not in text, name  # Jinja of its own (prompts, report), none of ours
        else:
            assert not leftovers.search(text), name


@pytest.mark.parametrize("answers", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_generated_python_compiles(bake, answers):
    project = bake(**answers)
    for name in files_in(project):
        if name.endswith(".py"):
            compile((project / name).read_text(encoding="utf-8"), name, "exec")


# Each registration choice changes what the hook does, not the files: tests/test_hooks.py bakes each.
HOOK_ONLY_OPTIONS = {"register_on_generate"}


def test_every_choice_of_every_option_is_covered_by_a_supported_combination():
    for option, choices in OPTIONS.items():
        if isinstance(choices, list) and not option.startswith("_") and option not in HOOK_ONLY_OPTIONS:
            covered = {answers.get(option, choices[0]) for answers in SUPPORTED.values()}
            assert covered == set(choices), option


def test_answers_reach_the_generated_settings(bake):
    """The platform's settings default to the use case's answers through aiops.yaml (no rendered code)."""
    project = bake(
        llm_provider="openai", azure_openai_auth="api_key", azure_openai_api_version="2025-01-01-preview"
    )
    model = yaml.safe_load((project / "aiops.yaml").read_text(encoding="utf-8"))["model"]
    assert model["provider"] == "openai"
    assert model["azure_openai_auth"] == "api_key"
    assert model["azure_openai_api_version"] == "2025-01-01-preview"


def test_same_answers_give_byte_identical_trees(bake):
    first, second = bake(project_name="Twin Check"), bake(project_name="Twin Check")
    assert first != second
    assert files_in(first) == files_in(second)
    for name in files_in(first):
        assert (first / name).read_bytes() == (second / name).read_bytes(), name


def test_secrets_stay_out_of_git(bake):
    project = bake()
    assert ".env" in (project / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "AZURE_OPENAI_API_KEY=\n" in (project / ".env.example").read_text(encoding="utf-8")


def test_first_generation_makes_one_initial_commit(bake):
    project = bake()
    log = subprocess.run(
        ["git", "log", "--format=%s"], cwd=project, capture_output=True, text=True, check=True
    )
    assert log.stdout.splitlines() == ["Initial commit"]
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=project, capture_output=True, text=True, check=True
    )
    assert status.stdout == ""


PRESETS = sorted(path.stem for path in (TEMPLATE / "usecases").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_each_use_case_preset_bakes_with_its_own_flavour(bake, preset):
    context = yaml.safe_load((TEMPLATE / "usecases" / f"{preset}.yaml").read_text(encoding="utf-8"))[
        "default_context"
    ]
    project = bake(**context)
    assert files_in(project) == expected_files(
        {"package_name": context["project_name"].lower().replace(" ", "_")}
    )
    first = json.loads((project / "data/core_qa.jsonl").read_text(encoding="utf-8").splitlines()[0])
    flavour = {"qcp": "batch records", "cmc": "drug substance specification"}[preset]
    assert flavour in first["question"].lower() + first["context"].lower()
    assert context["description"] in (project / "README.md").read_text(encoding="utf-8")


def test_presets_cover_the_two_documented_use_cases():
    assert PRESETS == ["cmc", "qcp"]


@pytest.mark.parametrize("answers", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_every_phony_make_target_is_a_documented_rule(bake, answers):
    project = bake(**answers)
    makefile = (project / "Makefile").read_text(encoding="utf-8")
    phony = set(re.search(r"^\.PHONY: (.+)$", makefile, re.MULTILINE)[1].split())
    command = ["make", "-C", str(project), "--no-print-directory", "help"]
    listed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines() if line.strip()} == phony


def _git_hook_step(folder, path: str) -> subprocess.CompletedProcess[str]:
    """The git-hook step of the project's `make install`, alone (no environment is installed)."""
    step = ["--eval", "hook-step: ; @$(GIT_HOOK)", "hook-step"]
    command = [shutil.which("make"), "-s", "-C", str(folder), *step]
    return subprocess.run(command, capture_output=True, text=True, env={"PATH": path}, check=False)


def test_make_install_skips_the_git_hook_in_one_line_outside_a_repository_root(bake, tmp_path):
    """Without git, outside a repository, or in a subfolder of another one (whose root config the
    hook would run), `make install` says so in one line and goes on; `pre-commit install` never runs."""
    makefile = (bake() / "Makefile").read_text(encoding="utf-8")
    outside, nested = tmp_path / "outside", tmp_path / "monorepo" / "project"
    for folder in (outside, nested):
        folder.mkdir(parents=True)
        (folder / "Makefile").write_text(makefile, encoding="utf-8")
    subprocess.run(["git", "init", "-q", str(tmp_path / "monorepo")], check=True)
    not_root = "Skipped the git hook: this folder is not the root of a git repository (git init, then make"
    cases = [
        (outside, "/nonexistent", "Skipped the git hook: git is not installed (make lint still runs"),
        (outside, os.environ["PATH"], not_root),
        (nested, os.environ["PATH"], not_root),
    ]
    for folder, path, message in cases:
        result = _git_hook_step(folder, path)
        assert result.returncode == 0, result.stderr
        (line,) = result.stdout.splitlines()
        assert line.startswith(message), line
    assert not (tmp_path / "monorepo/.git/hooks/pre-commit").exists()
