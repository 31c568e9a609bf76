"""Answers are data, never syntax: whatever a user types reaches the files only through a serializer.

Every answer lands in YAML, JSON, TOML and Python as a `jsonify` string, in shell scripts as a
quoted word, and in Markdown as text. So an odd but valid answer bakes into a project whose files
parse back to exactly that answer, and whose Python differs from the default project's only inside
string constants; a hostile answer is refused by the pre-generation hook, naming the field, or ends
up as inert text.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import OPTIONS, TEMPLATE, files_in
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

CHOICES = {key for key, value in OPTIONS.items() if isinstance(value, list) and not key.startswith("_")}

# The longest answers the pre-generation hook accepts, in the characters that serialize longest
# (non-ASCII becomes \uXXXX, quotes and backslashes get escaped).
LONGEST = {
    "project_name": "Ассистент контроля качества «Qualité» für Prüfberichte — v2 ok!!",
    "project_slug": ("a" + "-bcdefghi" * 6)[:50],
    "package_name": ("p" + "_longname" * 5)[:40],
    "description": (
        'Answers "quoted" questions on batch records, SOPs, CAPAs and deviations \\ cites sources. ' * 3
    )[:199]
    + "x",
    "use_case_code": "Q123456789",
    "owner_team": "Quality assurance and regulatory affairs platform team - EU west",
    "azure_resource_group": ("rg-é" * 30)[:90],
    "azure_ml_workspace": "m" * 33,
    "azure_openai_endpoint": ("https://" + "a" * 63 + ".openai.azure.com/" + "p" * 200)[:200],
    "azure_openai_chat_deployment": ("gpt-4o-" + "x" * 64)[:64],
}
LIMITS = {"project_name": 64, "project_slug": 50, "package_name": 40, "description": 200, "use_case_code": 10}
LIMITS |= {
    "owner_team": 64,
    "azure_resource_group": 90,
    "azure_ml_workspace": 33,
    "azure_openai_endpoint": 200,
}
assert {key: len(value) for key, value in LONGEST.items()} == LIMITS | {"azure_openai_chat_deployment": 64}

ODD = {  # odd but valid: each one broke a generated project's lint, tests or experiment before
    "yaml-syntax-in-names": {
        "project_name": "QCP: [beta] #1",
        "description": "Answers: 'quoted' #hash [x] {y} & <z> - key: value, *alias &anchor !!str",
        "owner_team": "off",
        "use_case_code": "NO",
        "azure_openai_chat_deployment": "1.0",
        "azure_resource_group": "rg(x).y",
        "azure_ml_workspace": "null",
    },
    "leading-quote": {
        "project_name": "'Quoted' assistant",
        "description": "'Starts with a quote' and ends with one'",
        "ci_provider": "azure_devops",
        "deployment_target": "azure_webapp",
    },
    "yaml-booleans-and-null": {
        "project_name": "Yes",
        "description": "No",
        "owner_team": "null",
        "use_case_code": "TRUE",
        "azure_location": "yes",
        "azure_resource_group": "off",
        "azure_ml_workspace": "true",
        "azure_openai_chat_deployment": "on",
        "flow_kind": "chat",
        "ci_provider": "azure_devops",
    },
    "null-names": {"project_name": "null", "description": "true", "owner_team": "No"},
    "deployment-1e3": {"azure_openai_chat_deployment": "1e3", "deployment_target": "azure_webapp"},
    "deployment-42": {"azure_openai_chat_deployment": "42", "flow_kind": "rag"},
    "deployment-0x1F": {
        "azure_openai_chat_deployment": "0x1F",
        "azure_openai_api_version": "2025-01-01-preview",
    },
    "deployment-named-like-a-listed-model": {"azure_openai_chat_deployment": "offline-extractive"},
    "quotes-and-backslashes": {
        "project_name": 'The "Q" bot \\ v2',
        "description": 'Say "hi" to C:\\Users\\qa and \\n stays two characters',
    },
    "non-ascii": {
        "project_name": "Assistant Qualité 品質",
        "description": "Répond aux questions sur les dossiers de lot — Qualität, 品質管理.",
        "azure_resource_group": "rg-qualité",
    },
    # Lines within 13 columns of ruff's 110 that hold an escaped quote: `# fmt: skip` pushed them over.
    "quotes-at-the-line-length": {
        "project_name": 'The "Q" bot \\ for "batch" QA',  # the command line's help text: 105 columns
        "description": 'Says "hi" to C:\\SOPs\\ and «Qualité» records; cites sources \\',  # 104 columns
    },
    "quoted-name-at-the-line-length": {  # the name's constant in prompts.py: 110 columns
        "project_name": 'Batch "QC" assistant, "EU" sites \\ v2 "beta" Qualité «Ω» — ok',
        "project_slug": "batch-qc",
    },
    "longest-rag-azure-devops-webapp": LONGEST
    | {"flow_kind": "rag", "ci_provider": "azure_devops", "deployment_target": "azure_webapp"},
    "longest-chat-github-aml": LONGEST | {"flow_kind": "chat", "llm_provider": "openai"},
    "longest-agent-azure-devops-aml": LONGEST | {"flow_kind": "agent", "ci_provider": "azure_devops"},
}


def get(data: Any, *path: str | int) -> Any:
    """Follow keys and indexes; in a list, a string key picks the item of that `name` (or `stage`)."""
    for key in path:
        if isinstance(data, list) and isinstance(key, str):
            (data,) = [item for item in data if key in (item.get("name"), item.get("stage"))]
        else:
            data = data[key]
    return data


def parsed(project: Path, name: str) -> Any:
    text = (project / name).read_text(encoding="utf-8")
    if name.endswith(".toml"):
        return tomllib.loads(text)
    if name.endswith(".json"):
        return json.loads(text)
    if name.endswith(".jsonl"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return yaml.safe_load(text)


def where_answers_land(a: dict[str, str]) -> dict[tuple[str, tuple[str | int, ...]], object]:
    """(file, key path) -> the value found there: the spec of where each answer goes, unchanged."""
    slug, code = a["project_slug"], a["use_case_code"].lower()
    azure = a["llm_provider"] == "azure_openai"
    land = {
        ("experiment.yaml", ("name",)): slug,
        ("pyproject.toml", ("project", "name")): slug,
        ("pyproject.toml", ("project", "description")): a["description"],
        # the use case's answers the platform library reads (aiops_platform.project), each as typed
        ("aiops.yaml", ("name",)): a["project_name"],
        ("aiops.yaml", ("slug",)): slug,
        ("aiops.yaml", ("package",)): a["package_name"],
        ("aiops.yaml", ("description",)): a["description"],
        ("aiops.yaml", ("flow_kind",)): a["flow_kind"],
        ("aiops.yaml", ("deployment_target",)): a["deployment_target"],
        ("aiops.yaml", ("model", "provider")): a["llm_provider"],
        ("aiops.yaml", ("model", "azure_openai_endpoint")): a["azure_openai_endpoint"],
        ("aiops.yaml", ("model", "azure_openai_auth")): a["azure_openai_auth"],
        ("aiops.yaml", ("model", "azure_openai_api_version")): a["azure_openai_api_version"],
        ("aiops.yaml", ("model", "azure_openai_chat_deployment")): a["azure_openai_chat_deployment"],
        ("aiops.yaml", ("azure", "subscription_id")): a["azure_subscription_id"],
        ("aiops.yaml", ("azure", "resource_group")): a["azure_resource_group"],
        ("aiops.yaml", ("azure", "ml_workspace")): a["azure_ml_workspace"],
        ("aiops.yaml", ("azure", "location")): a["azure_location"],
        ("connections/azure_openai.yaml", ("azure_endpoint",)): a["azure_openai_endpoint"],
        ("connections/azure_openai.yaml", ("api_version",)): a["azure_openai_api_version"],
        ("data/core_qa.yml", ("name",)): f"{code}_core_qa",
        ("data/hard_qa.yml", ("name",)): f"{code}_hard_qa",
        ("data/safety.yml", ("name",)): f"{code}_safety",
        ("monitoring/config.yaml", ("alerts", "cost_model")): a["azure_openai_chat_deployment"]
        if azure
        else "gpt-4o-mini",
        ("monitoring/alerts.json", ("parameters", "namePrefix", "defaultValue")): slug,
        ("monitoring/alerts.json", ("parameters", "location", "defaultValue")): a["azure_location"],
        (
            "monitoring/workbook.json",
            ("resources", 0, "properties", "displayName"),
        ): f"{a['project_name']} monitoring",
        ("monitoring/workbook.json", ("parameters", "workbookName", "defaultValue")): (
            f"[guid(resourceGroup().id, '{slug}-workbook')]"
        ),
    }
    if azure:
        land[
            "monitoring/config.yaml", ("prices_per_1k_tokens", a["azure_openai_chat_deployment"], "input")
        ] = 0.00015
    if a["flow_kind"] == "chat":
        land["data/multi_turn_qa.yml", ("name",)] = f"{code}_multi_turn_qa"
    if a["deployment_target"] == "aml_online_endpoint":
        land["deployment/aml/endpoint.yml", ("name",)] = slug
        land["deployment/aml/endpoint.yml", ("description",)] = f"{a['project_name']} ({a['use_case_code']})"
        land["deployment/aml/environment.yml", ("name",)] = f"{slug}-serve"
        land["deployment/aml/deployment.yml", ("endpoint_name",)] = slug
        land["deployment/aml/deployment.yml", ("environment",)] = f"azureml:{slug}-serve@latest"
        for variable, answer in [
            ("LLM_PROVIDER", "llm_provider"),
            ("AZURE_OPENAI_ENDPOINT", "azure_openai_endpoint"),
            ("AZURE_OPENAI_CHAT_DEPLOYMENT", "azure_openai_chat_deployment"),
            ("AZURE_OPENAI_API_VERSION", "azure_openai_api_version"),
            ("AZURE_OPENAI_AUTH", "azure_openai_auth"),
        ]:
            land["deployment/aml/deployment.yml", ("environment_variables", variable)] = a[answer]
    else:
        for answer in [
            "llm_provider",
            "azure_openai_endpoint",
            "azure_openai_chat_deployment",
            "azure_openai_api_version",
        ]:
            land["deployment/webapp/app_settings.json", (answer.upper(), "value")] = a[answer]
    if a["ci_provider"] == "github":
        land[".github/workflows/evaluate.yml", ("jobs", "evaluate", "env", "LLM_PROVIDER")] = a[
            "llm_provider"
        ]
    else:
        land[".azure-pipelines/deploy.yml", ("stages", "Dev", "jobs", 0, "environment")] = f"{slug}-dev"
    return land


def docstring(path: Path) -> str | None:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=False)


def code_tokens(path: Path, package: str) -> list[tuple[int, str]]:
    """The file's tokens but its strings and comments, the package name as a placeholder."""
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
    skipped = {tokenize.STRING, tokenize.COMMENT, tokenize.NL}
    return [
        (token.type, "{package}" if token.type == tokenize.NAME and token.string == package else token.string)
        for token in tokens
        if token.type not in skipped
    ]


def baked_answers(answers: dict[str, str]) -> dict[str, str]:
    """Every answer, the defaults filled in the way cookiecutter derives them."""
    rendered = {key: value[0] if isinstance(value, list) else value for key, value in OPTIONS.items()}
    rendered |= answers
    if "project_slug" not in answers:
        rendered["project_slug"] = _slugify(rendered["project_name"])
    if "package_name" not in answers:
        rendered["package_name"] = rendered["project_slug"].replace("-", "_")
    return {key: value for key, value in rendered.items() if not key.startswith("_")}


def _slugify(name: str) -> str:
    from slugify import slugify  # cookiecutter's own `slugify` filter

    return slugify(name)


@pytest.mark.parametrize("answers", ODD.values(), ids=ODD.keys())
def test_odd_answers_parse_back_unchanged_from_every_yaml_json_and_toml_file(bake, answers):
    project = bake(**answers)
    a = baked_answers(answers)
    for name in sorted(files_in(project)):
        if name.endswith((".yml", ".yaml", ".json", ".jsonl", ".toml")):
            parsed(project, name)  # raises on a file an answer broke
    for (name, path), expected in where_answers_land(a).items():
        assert get(parsed(project, name), *path) == expected, f"{name}: {path}"


@pytest.mark.parametrize("answers", ODD.values(), ids=ODD.keys())
def test_odd_answers_reach_python_only_as_string_constants(bake, answers):
    project, reference = bake(**answers), bake(**{k: v for k, v in answers.items() if k in CHOICES})
    a, package = baked_answers(answers), baked_answers(answers)["package_name"]
    default_package = baked_answers({})["package_name"]
    python = sorted(name for name in files_in(project) if name.endswith(".py"))
    assert python == sorted(
        name.replace(f"src/{default_package}/", f"src/{package}/")
        for name in files_in(reference)
        if name.endswith(".py")
    )
    for name in python:
        compile((project / name).read_text(encoding="utf-8"), name, "exec")
        same_file = reference / name.replace(f"src/{package}/", f"src/{default_package}/")
        assert code_tokens(project / name, package) == code_tokens(same_file, default_package), name
    # The platform reads the answers from aiops.yaml (where_answers_land); in Python, the team's package
    # names itself in its docstring, and no other file holds an answer.
    init = f"src/{package}/__init__.py"
    assert docstring(project / init) == f"{a['project_name']}: {a['description']}"
    for name in python:
        text = (project / name).read_text(encoding="utf-8")
        if name != init:
            assert len(a["description"]) < 8 or a["description"] not in text, name  # "No" is in any code
        assert a["azure_openai_endpoint"] not in text, name


EXPRESSION = re.compile(r"\{\{(.*?)\}\}")


RUFF = str(Path(sys.executable).with_name("ruff"))  # the version the generated project pins


@pytest.mark.parametrize("answers", ODD.values(), ids=ODD.keys())
def test_odd_answers_keep_the_python_lint_clean_and_formatted(bake, answers):
    """The project's own ruff settings: no answer pushes a line past 110 columns or out of format."""
    project = bake(**answers)
    for command in ([RUFF, "check", "--no-cache", "."], [RUFF, "format", "--check", "--no-cache", "."]):
        result = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


# May stand bare: the package name (an identifier by the hook's rule) and a choice whose options are all
# identifiers (cookiecutter refuses any other value for a choice), such as the flow kind in a path.
BARE = {"cookiecutter.package_name"} | {
    f"cookiecutter.{name}"
    for name, options in OPTIONS.items()
    if isinstance(options, list) and all(isinstance(o, str) and o.isidentifier() for o in options)
}


def test_in_the_template_every_answer_in_yaml_json_and_toml_passes_a_serializer():
    """Outside comments, an answer is written by `jsonify`; the package name, an identifier by the
    hook's rule, may stand bare in a command line (`python -m package`)."""
    project_template = TEMPLATE / "{{cookiecutter.project_slug}}"
    for path in sorted(project_template.rglob("*")):
        if not (path.is_file() and path.suffix in {".yml", ".yaml", ".json", ".toml"}):
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            code = re.split(r"(^|\s)# ", line, maxsplit=1)[0]
            for expression in EXPRESSION.findall(code):
                if "cookiecutter." in expression and expression.strip() not in BARE:
                    assert "| jsonify" in expression, f"{path.relative_to(project_template)}: {line.strip()}"


REJECTED = {  # hostile or broken answers the pre-generation hook refuses, naming the field
    "endpoint-python-injection": (
        "azure_openai_endpoint",
        "https://x.openai.azure.com/\"+__import__('os').system('touch /tmp/pwned')+\"",
        "must be an https URL",
    ),
    "endpoint-newline-adds-yaml-key": (
        "azure_openai_endpoint",
        "https://x.openai.azure.com/\nevil: true",
        "https URL",
    ),
    "endpoint-query-string": ("azure_openai_endpoint", "https://x.openai.azure.com/?a=b c", "https URL"),
    "description-newline-adds-yaml-key": ("description", "ok\nevil: true", "must be one line"),
    "description-tab": ("description", "one\ttwo", "must be one line"),
    "description-terminal-escape": ("description", "\x1b[31mred", "must be one line"),
    "description-trailing-space": ("description", "ok ", "must not start or end with whitespace"),
    "name-leading-space": ("project_name", " QCP Assistant", "must not start or end with whitespace"),
    "name-bidi-override": ("project_name", "Safe \u202eevil", "invisible"),
    "name-emoji": ("project_name", "Rocket \U0001f680 bot", "emoji"),
    # Jinja in an answer never reaches this hook: aiops_extensions.py refuses it (tests/test_hooks.py).
    "owner-team-trailing-space": ("owner_team", "qa-team ", "must not start or end with whitespace"),
    "owner-team-yaml-boolean-from-a-config-file": ("owner_team", False, "must be text"),
    "resource-group-command-substitution": (
        "azure_resource_group",
        "$(touch /tmp/pwned)",
        "resource-group rule",
    ),
    "resource-group-emoji": ("azure_resource_group", "rg-\U0001d400", "emoji"),
    "deployment-yaml-flow-mapping": ("azure_openai_chat_deployment", "{a: b}", "letters, digits"),
    "api-version-arabic-digits": (
        "azure_openai_api_version",
        "\u0662\u0660\u0662\u0664-10-21",
        "a date version",
    ),
    "slug-names-a-dependency": ("project_slug", "pydantic-settings", "dependency"),
    "package-shadows-pytest": ("package_name", "pytest", "would shadow"),
}


@pytest.mark.parametrize(("field", "value", "rule"), REJECTED.values(), ids=REJECTED.keys())
def test_hostile_answer_is_refused_naming_the_field(tmp_path: Path, capfd, field, value, rule):
    with pytest.raises(FailedHookException):
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context={field: value, "register_on_generate": "none"},
            output_dir=str(tmp_path),
            default_config=True,
        )
    stderr = capfd.readouterr().err
    assert f"  {field} = " in stderr and rule in stderr, stderr
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert [path.name.endswith(".answers.yaml") for path in written] == [True]  # only the answers, kept


MARKER = "pwned-by-an-answer"  # a file each hostile answer below tries to create
INERT = {  # hostile answers the hook lets through: the serializers make them plain text
    "name-breaks-out-of-a-python-string": {
        "project_name": f'x"; __import__("os").system("touch {MARKER}"); "'
    },
    "description-breaks-out-of-json-and-toml": {"description": 'x", "evil": "1"} [tool.evil] a = "1'},
    "name-runs-make-functions": {"project_name": f"$(shell touch {MARKER}) $$(touch {MARKER})"},
    "name-is-yaml-tags": {"project_name": f"!!python/object/apply:os.system ['touch {MARKER}']"},
    "description-is-html-and-shell": {
        "description": f"<script>alert(1)</script> &amp; `touch {MARKER}` $(id)"
    },
}


@pytest.mark.parametrize("answers", INERT.values(), ids=INERT.keys())
def test_hostile_answer_the_hook_accepts_stays_inert_text(bake, answers):
    answers = {"project_slug": "inert-check", **answers}
    project = bake(**answers)
    a = baked_answers(answers)
    for (name, path), expected in where_answers_land(a).items():
        assert get(parsed(project, name), *path) == expected, f"{name}: {path}"
    assert (
        docstring(project / f"src/{a['package_name']}/__init__.py")
        == f"{a['project_name']}: {a['description']}"
    )
    assert "evil" not in parsed(project, "pyproject.toml").get("tool", {})
    help_text = subprocess.run(
        ["make", "-C", str(project), "help"], capture_output=True, text=True, check=True
    )
    assert "lint" in help_text.stdout
    for name in files_in(project):
        if name.endswith(".py"):
            compile((project / name).read_text(encoding="utf-8"), name, "exec")
    assert not list(project.rglob(MARKER)) and not (Path.cwd() / MARKER).exists()


# --- The slow one: the projects' own lint and validation, with one shared environment ----------


def _make(project: Path, *arguments: str) -> str:
    from test_generated_project import _offline_prefix

    command = [*_offline_prefix(), "make", "-C", str(project), "--no-print-directory", *arguments]
    environment = {**os.environ, "PYTHONPATH": str(project / "src")}  # the shared venv has another package
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
    assert result.returncode == 0, (
        f"{arguments} in {project}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    return result.stdout


def _generate(output_dir: Path, answers: dict[str, str]) -> Path:
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            extra_context=answers | {"register_on_generate": "none"},
            output_dir=str(output_dir),
            default_config=True,
        )
    )


# The first installs the shared environment: a rag project, whose dependencies include every other kind's.
LINTED = ["longest-rag-azure-devops-webapp", "yaml-syntax-in-names", "yaml-booleans-and-null"]
LINTED += ["quotes-and-backslashes", "deployment-42", "longest-chat-github-aml", "quotes-at-the-line-length"]


@pytest.mark.project
def test_odd_projects_pass_their_own_lint_and_validation_even_under_a_path_with_a_space(tmp_path: Path):
    """One environment, installed by `make install` in a project under "with space/", serves all."""
    first = _generate(tmp_path / "with space", ODD[LINTED[0]])
    subprocess.run(["make", "-C", str(first), "install"], check=True, capture_output=True)
    venv = f"VENV={first / '.venv'}"
    assert "OK experiment.yaml" in _make(first, "lint", "experiment-validate", "data-validate")
    for name in LINTED[1:]:
        project = _generate(tmp_path / name / "with space", ODD[name])
        output = _make(project, venv, "lint", "experiment-validate", "data-validate")
        assert "OK experiment.yaml" in output and "datasets valid" in output, name
    shutil.rmtree(first / ".venv")
