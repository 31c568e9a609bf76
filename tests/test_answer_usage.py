"""Every answer is used, in every place that needs it; and a use case other than QCP reads as itself.

`where_used` is the spec: for each free-text answer, the generated files that must carry it. A new
answer in cookiecutter.json fails `test_the_spec_names_every_answer` until it is placed here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from conftest import OPTIONS, TEMPLATE, files_in

# Values no template text contains by accident, so finding one proves the answer got there.
DISTINCT = {
    "project_name": "Zephyr Desk",
    "description": "Zephyr desk assistant that answers questions on widget audits.",
    "use_case_code": "ZPH",
    "owner_team": "zephyr-team",
    "azure_subscription_id": "12345678-aaaa-bbbb-cccc-1234567890ab",
    "azure_resource_group": "rg-zephyr-spec",
    "azure_ml_workspace": "mlw-zephyr-spec",
    "azure_location": "swedencentral",
    "azure_openai_endpoint": "https://zephyr-spec.openai.azure.com/",
    "azure_openai_chat_deployment": "zephyr-chat",
    "azure_openai_api_version": "2025-01-01-preview",
    "register_on_generate": "none",
    "min_f1_core_qa": "0.83",
    "min_groundedness": "4.25",
    "latency_p95_ms_budget": "3217",
    "daily_cost_budget": "41.5",
    "min_refusal_rate": "0.73",
    "min_harmlessness": "4.35",
    "data_residency": "swedencentral, norwayeast",
    "gxp_relevant": "yes",
    "approvers_test": "zephyr-lead",
    "approvers_prod": "zephyr-org/zephyr-approvers, zephyr-lead",
}
RENDERED = DISTINCT | {"project_slug": "zephyr-desk", "package_name": "zephyr_desk"}


def where_used(a: dict[str, str], target: str) -> dict[str, list[tuple[str, str]]]:
    """answer -> [(file, text the file must contain)], for one deployment target."""
    package = f"src/{a['package_name']}"
    aml, webapp = target == "aml_online_endpoint", target == "azure_webapp"
    deploy_spec = "deployment/aml/deployment.yml" if aml else "deployment/webapp/app_settings.json"
    return {
        "project_name": [
            ("README.md", f"# {a['project_name']}"),
            ("docs/onboarding.md", a["project_name"]),
            ("aiops.yaml", f"name: {a['project_name']}"),  # the CLI's title, the prompts' {{ project_name }}
            ("monitoring/workbook.json", a["project_name"]),
        ],
        "project_slug": [
            ("pyproject.toml", f'name = "{a["project_slug"]}"'),
            ("aiops.yaml", f"slug: {a['project_slug']}"),
            ("experiment.yaml", a["project_slug"]),
            ("monitoring/alerts.json", a["project_slug"]),
            ("deployment/aml/endpoint.yml" if aml else "deployment/webapp/deploy.sh", a["project_slug"]),
        ],
        "package_name": [
            ("pyproject.toml", f'packages = ["src/{a["package_name"]}"]'),
            ("aiops.yaml", f"package: {a['package_name']}"),
            (f"{package}/__init__.py", a["project_name"]),  # the team's own package, for its helper modules
        ],
        "description": [
            ("README.md", a["description"]),
            ("pyproject.toml", a["description"]),
            ("docs/onboarding.md", a["description"]),
            (f"{package}/__init__.py", a["description"]),
            ("aiops.yaml", f"description: {a['description']}"),  # the prompts' {{ project_description }}
        ],
        "use_case_code": [
            ("README.md", f"Use case `{a['use_case_code']}`"),
            ("data/core_qa.yml", f"name: {a['use_case_code'].lower()}_core_qa"),
            ("experiment.yaml", f"{a['use_case_code'].lower()}_core_qa"),
        ],
        "owner_team": [
            ("README.md", a["owner_team"]),
            ("docs/onboarding.md", a["owner_team"]),
            ("monitoring/alerts.json", f"{a['owner_team']}@example.com"),
        ],
        "azure_subscription_id": [
            (".env.example", f"AZURE_SUBSCRIPTION_ID={a['azure_subscription_id']}"),
            ("aiops.yaml", f"subscription_id: {a['azure_subscription_id']}"),
            ("monitoring/README.md", f"--subscription {a['azure_subscription_id']}"),
            *([("deployment/webapp/deploy.sh", a["azure_subscription_id"])] if webapp else []),
        ],
        "azure_resource_group": [
            (".env.example", f"AZURE_RESOURCE_GROUP={a['azure_resource_group']}"),
            ("aiops.yaml", f"resource_group: {a['azure_resource_group']}"),
            ("monitoring/README.md", f"-g {a['azure_resource_group']}"),
            *([("deployment/webapp/deploy.sh", a["azure_resource_group"])] if webapp else []),
        ],
        "azure_ml_workspace": [
            (".env.example", f"AZURE_ML_WORKSPACE={a['azure_ml_workspace']}"),
            ("aiops.yaml", f"ml_workspace: {a['azure_ml_workspace']}"),
        ],
        "azure_location": [
            ("aiops.yaml", f"location: {a['azure_location']}"),
            ("monitoring/alerts.json", f'"defaultValue": "{a["azure_location"]}"'),
            ("monitoring/workbook.json", f'"defaultValue": "{a["azure_location"]}"'),
            ("monitoring/README.md", a["azure_location"]),
            *(
                [
                    (".env.example", f"AZURE_LOCATION={a['azure_location']}"),
                    ("deployment/webapp/deploy.sh", f"setting AZURE_LOCATION '{a['azure_location']}'"),
                    ("README.md", a["azure_location"]),
                ]
                if webapp
                else []
            ),
        ],
        "azure_openai_endpoint": [
            (".env.example", f"# AZURE_OPENAI_ENDPOINT={a['azure_openai_endpoint']}"),
            ("aiops.yaml", f"azure_openai_endpoint: {a['azure_openai_endpoint']}"),
            ("connections/azure_openai.yaml", a["azure_openai_endpoint"]),
            (deploy_spec, a["azure_openai_endpoint"]),
        ],
        "azure_openai_chat_deployment": [
            (".env.example", f"AZURE_OPENAI_CHAT_DEPLOYMENT={a['azure_openai_chat_deployment']}"),
            ("aiops.yaml", f"azure_openai_chat_deployment: {a['azure_openai_chat_deployment']}"),
            ("monitoring/config.yaml", a["azure_openai_chat_deployment"]),
            (deploy_spec, a["azure_openai_chat_deployment"]),
        ],
        "azure_openai_api_version": [
            (".env.example", f"AZURE_OPENAI_API_VERSION={a['azure_openai_api_version']}"),
            ("aiops.yaml", f"azure_openai_api_version: {a['azure_openai_api_version']}"),
            ("connections/azure_openai.yaml", a["azure_openai_api_version"]),
            (deploy_spec, a["azure_openai_api_version"]),
        ],
        # Acceptance criteria and budgets: gate and alert thresholds, never copied by hand.
        "min_f1_core_qa": [
            ("experiment.yaml", f"core_qa: {a['min_f1_core_qa']}"),
            ("experiment.prod.yaml", f"core_qa: {round(float(a['min_f1_core_qa']) + 0.1, 3)}"),
        ],
        "min_groundedness": [
            ("experiment.yaml", f"judges.groundedness: {a['min_groundedness']}"),
            ("monitoring/config.yaml", f"online_score_min: {a['min_groundedness']}"),
            ("monitoring/alerts.parameters.json", f'"value": "{float(a["min_groundedness"])}"'),
        ],
        "latency_p95_ms_budget": [
            ("monitoring/config.yaml", f"latency_p95_ms: {a['latency_p95_ms_budget']}"),
            ("monitoring/alerts.parameters.json", f'"value": "{float(a["latency_p95_ms_budget"])}"'),
        ],
        "daily_cost_budget": [
            ("monitoring/config.yaml", f"daily_cost: {a['daily_cost_budget']}"),
            ("monitoring/alerts.parameters.json", f'"value": "{float(a["daily_cost_budget"])}"'),
        ],
        "min_refusal_rate": [
            ("experiment.yaml", f"safety.refused: {a['min_refusal_rate']}"),
            ("experiment.prod.yaml", f"safety.refused: {round(float(a['min_refusal_rate']) + 0.1, 3)}"),
        ],
        "min_harmlessness": [
            ("experiment.prod.yaml", f"safety.harmlessness: {a['min_harmlessness']}"),
            ("experiment.prod.yaml", f"safety.attack_resistance: {a['min_harmlessness']}"),
        ],
        # Governance: one file the project reads (governance.py), in YAML's own quoting.
        "data_residency": [
            ("governance.yaml", f'  - "{region.strip()}"') for region in a["data_residency"].split(",")
        ],
        "gxp_relevant": [
            ("governance.yaml", f"gxp_relevant: {'true' if a['gxp_relevant'] == 'yes' else 'false'}"),
            ("README.md", f"GxP relevance ({a['gxp_relevant']})"),
        ],
        "approvers_test": [("governance.yaml", f'      - "{a["approvers_test"]}"')],
        "approvers_prod": [
            ("governance.yaml", f'      - "{name.strip()}"') for name in a["approvers_prod"].split(",")
        ],
    }


# Choice answers: each value leaves its own mark (file, text) in the project.
CHOICE_MARKS = {
    ("llm_provider", "azure_openai"): ("aiops.yaml", "\n  provider: azure_openai\n"),
    ("llm_provider", "openai"): ("aiops.yaml", "\n  provider: openai\n"),
    ("azure_openai_auth", "entra_id"): ("aiops.yaml", "azure_openai_auth: entra_id\n"),
    ("azure_openai_auth", "api_key"): ("aiops.yaml", "azure_openai_auth: api_key\n"),
    ("ci_provider", "github"): ("README.md", "GitHub Actions (`.github/workflows/`)"),
    ("ci_provider", "azure_devops"): ("README.md", "Azure DevOps (`.azure-pipelines/`)"),
    ("deployment_target", "aml_online_endpoint"): ("Makefile", "deploy aml"),
    ("deployment_target", "azure_webapp"): ("Makefile", "deployment/webapp/deploy.sh"),
    **{
        ("flow_kind", kind): ("aiops.yaml", f"flow_kind: {kind}\n") for kind in ("qa", "chat", "rag", "agent")
    },
    **{
        ("data_classification", level): ("README.md", f"Data classification: `{level}`")
        for level in ("internal", "public", "confidential", "personal")
    },
}
# Read by the post-generation hook only: it decides what happens right after generation.
HOOK_ANSWERS = {"register_on_generate"}


def test_the_spec_names_every_answer():
    asked = {key for key in OPTIONS if not key.startswith("_")}
    choices = {option for option, _ in CHOICE_MARKS}
    assert set(where_used(RENDERED, "aml_online_endpoint")) | choices | HOOK_ANSWERS == asked
    for option in choices:
        assert {value for name, value in CHOICE_MARKS if name == option} == set(OPTIONS[option]), option
    hook = (TEMPLATE / "hooks/post_gen_project.py").read_text(encoding="utf-8")
    assert all(answer in hook for answer in HOOK_ANSWERS)


def contains(path: Path, text: str) -> bool:
    """Whether quoted (JSON, YAML, shell) or not, the value is there."""
    return unquoted(text) in unquoted(path.read_text(encoding="utf-8"))


def unquoted(text: str) -> str:
    return text.replace('"', "").replace("'", "")


@pytest.mark.parametrize("target", ["aml_online_endpoint", "azure_webapp"])
def test_every_answer_reaches_the_files_that_need_it(bake, target):
    project = bake(**DISTINCT, deployment_target=target)
    missing = [
        f"{answer}: {name} lacks {text!r}"
        for answer, places in where_used(RENDERED, target).items()
        for name, text in places
        if not contains(project / name, text)
    ]
    assert missing == []


@pytest.mark.parametrize(("option", "value"), list(CHOICE_MARKS), ids=[f"{o}={v}" for o, v in CHOICE_MARKS])
def test_each_choice_leaves_its_mark(bake, option, value):
    project = bake(register_on_generate="none", **{option: value})
    name, text = CHOICE_MARKS[option, value]
    assert contains(project / name.format(package="qcp_assistant"), text)


def test_a_copied_env_example_names_the_endpoint_but_leaves_it_off(bake):
    """Setting AZURE_OPENAI_ENDPOINT takes `auto` online: a copy of the example must stay offline."""
    text = (bake(register_on_generate="none") / ".env.example").read_text(encoding="utf-8")
    assert "\n# AZURE_OPENAI_ENDPOINT=https://" in text
    assert not re.search(r"^AZURE_OPENAI_ENDPOINT=", text, re.MULTILINE)


# Quality-control (QCP) vocabulary; "standard deviation" is statistics, used by CMC data too.
QCP_WORDING = re.compile(
    r"\bQCP\b|quality[- ]control|batch records?|\bSOPs?\b|\bCAPAs?\b|regulated manufacturing"
    r"|(?<!standard )\bdeviations?\b",
    re.IGNORECASE,
)


def qcp_wording(project: Path, skip: tuple[str, ...] = ()) -> list[str]:
    return [
        f"{name}:{number}: {line.strip()[:100]}"
        for name in sorted(files_in(project))
        if not name.startswith(skip)
        for number, line in enumerate((project / name).read_text(encoding="utf-8").splitlines(), 1)
        if QCP_WORDING.search(line)
    ]


def preset(name: str) -> dict:
    text = (TEMPLATE / "usecases" / f"{name}.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)["default_context"]


@pytest.mark.parametrize("flow_kind", OPTIONS["flow_kind"])
def test_a_cmc_project_says_nothing_about_quality_control(bake, flow_kind):
    project = bake(**preset("cmc"), flow_kind=flow_kind, register_on_generate="none")
    assert qcp_wording(project) == []


def test_the_qcp_preset_keeps_its_own_wording(bake):
    project = bake(**preset("qcp"), register_on_generate="none")
    assert qcp_wording(project), "the check above would pass on anything if QCP text matched nothing"


def test_a_custom_use_case_names_itself_and_flags_the_borrowed_samples(bake):
    answers = {"use_case_code": "ABC", "project_name": "ABC Helper", "description": "Answers ABC questions."}
    project = bake(**answers, register_on_generate="none")
    found = qcp_wording(project, skip=("data/",))
    data_row = [line for line in found if line.startswith("README.md:") and "| `data/` |" in line]
    assert [line for line in found if line not in data_row] == [], "only the sample data may be QCP's"
    assert len(data_row) == 1
    assert "replace them with ABC questions" in (project / "README.md").read_text(encoding="utf-8")
    answers = yaml.safe_load((project / "aiops.yaml").read_text(encoding="utf-8"))  # the prompts' names
    assert (answers["name"], answers["description"]) == ("ABC Helper", "Answers ABC questions.")


@pytest.mark.parametrize("target", ["aml_online_endpoint", "azure_webapp"])
def test_aiops_yaml_holds_exactly_the_answers_the_platform_reads(bake, target):
    """The platform library reads the use case from aiops.yaml (aiops_platform.project): every value
    there is an answer, parsed back as YAML to the same text (quoting holds odd answers)."""
    project = bake(**DISTINCT, deployment_target=target, llm_provider="openai", flow_kind="rag")
    assert yaml.safe_load((project / "aiops.yaml").read_text(encoding="utf-8")) == {
        "name": RENDERED["project_name"],
        "slug": RENDERED["project_slug"],
        "package": RENDERED["package_name"],
        "description": RENDERED["description"],
        "flow_kind": "rag",
        "deployment_target": target,
        "model": {
            "provider": "openai",
            "azure_openai_endpoint": RENDERED["azure_openai_endpoint"],
            "azure_openai_auth": OPTIONS["azure_openai_auth"][0],
            "azure_openai_api_version": RENDERED["azure_openai_api_version"],
            "azure_openai_chat_deployment": RENDERED["azure_openai_chat_deployment"],
        },
        "azure": {
            "subscription_id": RENDERED["azure_subscription_id"],
            "resource_group": RENDERED["azure_resource_group"],
            "ml_workspace": RENDERED["azure_ml_workspace"],
            "location": RENDERED["azure_location"],
        },
    }
