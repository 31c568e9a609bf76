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


PACKAGE_FILES = [
    "__init__.py",
    "__main__.py",
    "approvals.py",
    "azure_ml.py",
    "ci_api.py",
    "cli/__init__.py",
    "cli/_common.py",
    "cli/cache.py",
    "cli/data.py",
    "cli/experiment.py",
    "cli/flow.py",
    "cli/governance.py",
    "cli/monitor.py",
    "cli/pr.py",
    "cli/register.py",
    "cli/release.py",
    "cli/template.py",
    "connections.py",
    "data_validation.py",
    "engines/__init__.py",
    "engines/inprocess.py",
    "evaluation.py",
    "experiment.py",
    "fake_endpoint.py",
    "flow_entry.py",
    "gate.py",
    "governance.py",
    "judging.py",
    "llm.py",
    "monitor.py",
    "monitoring_config.py",
    "offline_model.py",
    "paths.py",
    "pr_comment.py",
    "problems.py",
    "promptflow_adapter.py",
    "prompts.py",
    "registry.py",
    "release.py",
    "report.py",
    "safe_git.py",
    "safety.py",
    "results.py",
    "runner.py",
    "scaleout.py",
    "server.py",
    "serving.py",
    "settings.py",
    "system_card.py",
    "template_update.py",
    "templates/report.html.jinja2",
    "terminal.py",
    "tracing.py",
]
COMMON_FILES = {
    ".amlignore",
    ".dockerignore",
    ".env.example",
    ".gitignore",
    ".pre-commit-config.yaml",
    "Makefile",
    "README.md",
    "pyproject.toml",
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
    "benchmarks/engines.py",
    "benchmarks/rate_limits.py",
    "benchmarks/serving.py",
    "connections/azure_openai.yaml",
    "data/core_qa.yml",
    "data/hard_qa.yml",
    "data/safety.yml",
    "deployment/Dockerfile",
    "docs/design.md",
    "docs/onboarding.md",
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
    "tests/conftest.py",
    # the official API descriptions the CI clients are checked against, trimmed to what they call
    "tests/official_api.py",
    "tests/contracts/README.md",
    "tests/contracts/github/api.github.com.json",
    "tests/contracts/github/ghes-3.19.json",
    "tests/contracts/azure_devops/POST__AddApprovalCheckConfiguration.json",
    "tests/contracts/azure_devops/build.json",
    "tests/contracts/azure_devops/git.json",
    "tests/contracts/azure_devops/identities.json",
    "tests/contracts/azure_devops/pipelinesChecks.json",
    "tests/contracts/azure_devops/pipelinesapproval.json",
    "tests/contracts/azure_devops/taskAgent.json",
    "tests/test_approvals.py",
    "tests/test_contracts.py",
    "tests/test_architecture.py",
    "tests/test_cli.py",
    "tests/test_commit_checks.py",
    "tests/test_connections.py",
    "tests/test_container.py",
    "tests/test_custom_evaluator.py",
    "tests/test_data_validation.py",
    "tests/test_engines.py",
    "tests/test_evaluator.py",
    "tests/test_experiment.py",
    "tests/test_flow.py",
    "tests/test_gate.py",
    "tests/test_governance.py",
    "tests/test_ignore_files.py",
    "tests/test_judges.py",
    "tests/test_model_failures.py",
    "tests/test_offline_model.py",
    "tests/test_pf_cli.py",
    "tests/test_pr_comment.py",
    "tests/test_registry.py",
    "tests/test_registry_faults.py",
    "tests/test_release.py",
    "tests/test_promptflow_boundary.py",
    "tests/test_llm_cache.py",
    "tests/test_rate_limits.py",
    "tests/test_report.py",
    "tests/test_safety.py",
    "tests/test_system_card.py",
    "tests/test_scaleout.py",
    "tests/test_serve.py",
    "tests/test_server.py",
    "tests/test_settings.py",
    "tests/test_template_update.py",
    "tests/test_monitoring.py",
    "tests/test_terminal_text.py",
    "tests/test_tracing.py",
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
        "src/{package}/deploy.py",
        "src/{package}/cli/deploy.py",
        "tests/test_deploy_aml.py",
    },
    ("deployment_target", "azure_webapp"): {
        "deployment/webapp/app_settings.json",
        "deployment/webapp/deploy.sh",
        "tests/test_deploy_webapp.py",
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
        "src/{package}/retrieval.py",
        "src/{package}/embeddings.py",
        "src/{package}/cli/index.py",
        "tests/test_retrieval.py",
        "evaluators/retrieval.py",
        "tests/test_retrieval_metrics.py",
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
    expected = COMMON_FILES | {f"src/{package}/{name}" for name in PACKAGE_FILES}
    for option, value in chosen.items():
        expected |= {name.format(package=package) for name in FILES_FOR_OPTION[option, value]}
    return expected


@pytest.mark.parametrize("answers", SUPPORTED.values(), ids=SUPPORTED.keys())
def test_supported_answers_generate_exactly_the_expected_files(bake, answers):
    project = bake(**answers)
    assert files_in(project) == expected_files(answers)


def test_optional_features_live_in_their_own_files():
    """rag (retrieval, embeddings, `index`) and the Azure ML endpoint (`deploy`) are conditional files,
    not `{% if %}` blocks spread over the provider seam, the settings, the stand-in and the CLI."""
    package = TEMPLATE / "{{cookiecutter.project_slug}}" / "src" / "{{cookiecutter.package_name}}"
    for name in ("llm.py", "settings.py", "offline_model.py", "cli/__init__.py", "cli/flow.py"):
        text = (package / name).read_text(encoding="utf-8")
        assert "cookiecutter.flow_kind" not in text and "cookiecutter.deployment_target" not in text, name


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
    project = bake(
        llm_provider="openai", azure_openai_auth="api_key", azure_openai_api_version="2025-01-01-preview"
    )
    settings = (project / "src/qcp_assistant/settings.py").read_text(encoding="utf-8")
    assert 'CONFIGURED_PROVIDER: Provider = "openai"' in settings
    assert '= "api_key"' in settings
    assert '"2025-01-01-preview"' in settings


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
