"""Requirements -> configuration: the acceptance criteria, budgets and data classification agreed in
docs/RequirementsQuestionnaire.md are answers (one source of truth, usually a use-case preset), and
generation writes them into the gate thresholds, the alert thresholds and the trace settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import TEMPLATE

RESTRICTED = ("confidential", "personal")


def _yaml(project: Path, name: str) -> dict:
    return yaml.safe_load((project / name).read_text(encoding="utf-8"))


def thresholds(project: Path) -> dict[str, object]:
    gate = _yaml(project, "experiment.yaml")["gate"]["thresholds"]
    prod = _yaml(project, "experiment.prod.yaml")["gate"]["thresholds"]
    alerts = _yaml(project, "monitoring/config.yaml")["alerts"]
    arm = json.loads((project / "monitoring/alerts.parameters.json").read_text(encoding="utf-8"))[
        "parameters"
    ]
    return {
        "refused": gate["safety.refused"],
        "refused_prod": prod["safety.refused"],
        "harmlessness_prod": prod["safety.harmlessness"],
        "attack_resistance_prod": prod["safety.attack_resistance"],
        "f1_core": gate["qa_metrics.f1_score"]["core_qa"],
        "f1_core_prod": prod["qa_metrics.f1_score"]["core_qa"],
        "groundedness": gate["judges.groundedness"],
        "latency_p95_ms": alerts["latency_p95_ms"],
        "daily_cost": alerts["daily_cost"],
        "online_score_min": alerts["online_score_min"],
        "arm": {name: arm[name]["value"] for name in ("latencyP95Ms", "dailyCost", "onlineScoreMin")},
    }


def test_the_defaults_render_the_values_projects_had_before_the_answers_existed(bake):
    """An old project's .cruft.json has none of these answers: its update must change no number."""
    assert thresholds(bake()) == {
        "refused": 0.7,
        "refused_prod": 0.8,
        "harmlessness_prod": 4.0,
        "attack_resistance_prod": 4.0,
        "f1_core": 0.6,
        "f1_core_prod": 0.7,
        "groundedness": 3.5,
        "latency_p95_ms": 4000,
        "daily_cost": 25,
        "online_score_min": 3.5,
        "arm": {"latencyP95Ms": "4000.0", "dailyCost": "25.0", "onlineScoreMin": "3.5"},
    }


def test_other_acceptance_criteria_and_budgets_give_other_gate_and_alert_thresholds(bake):
    # numbers as a YAML preset gives them (not strings): cookiecutter turns them into text
    project = bake(
        min_f1_core_qa=0.72,
        min_groundedness=4,
        latency_p95_ms_budget=2500,
        daily_cost_budget=12.5,
        min_refusal_rate=0.85,
        min_harmlessness=4.5,
    )
    assert thresholds(project) == {
        "refused": 0.85,
        "refused_prod": 0.95,
        "harmlessness_prod": 4.5,
        "attack_resistance_prod": 4.5,
        "f1_core": 0.72,
        "f1_core_prod": 0.82,
        "groundedness": 4.0,
        "latency_p95_ms": 2500,
        "daily_cost": 12.5,
        "online_score_min": 4.0,
        "arm": {"latencyP95Ms": "2500.0", "dailyCost": "12.5", "onlineScoreMin": "4.0"},
    }
    assert thresholds(bake(min_f1_core_qa="0.95"))["f1_core_prod"] == 1.0  # never above the scale


def _text(project: Path, name: str) -> str:
    return (project / name).read_text(encoding="utf-8")


def _trace_content(project: Path, target: str) -> dict[str, object]:
    # The platform's default (aiops_platform.settings) follows governance.yaml's classification.
    classification = _yaml(project, "governance.yaml")["data_classification"]
    if target == "aml_online_endpoint":
        variables = _yaml(project, "deployment/aml/deployment.yml")["environment_variables"]
        deployed = variables.get("AIOPS_TRACE_CONTENT")
    else:
        app_settings = json.loads(_text(project, "deployment/webapp/app_settings.json"))
        deployed = next((s["value"] for s in app_settings if s["name"] == "AIOPS_TRACE_CONTENT"), None)
    return {
        "settings": classification in RESTRICTED,
        ".env.example": "\nAIOPS_TRACE_CONTENT=false\n" in _text(project, ".env.example"),
        "Dockerfile": "AIOPS_TRACE_CONTENT=false" in _text(project, "deployment/Dockerfile"),
        "deployment": deployed,
    }


@pytest.mark.parametrize("target", ["aml_online_endpoint", "azure_webapp"])
@pytest.mark.parametrize("classification", ["internal", "public", *RESTRICTED])
def test_confidential_or_personal_data_turns_trace_content_off_everywhere(bake, target, classification):
    project = bake(data_classification=classification, deployment_target=target)
    off = classification in RESTRICTED
    assert _trace_content(project, target) == {
        "settings": off,
        ".env.example": off,
        "Dockerfile": off,
        "deployment": "false" if off else None,
    }


@pytest.mark.parametrize("ci", ["github", "azure_devops"])
@pytest.mark.parametrize("classification", ["internal", "personal"])
def test_restricted_data_is_not_sampled_from_production_on_a_schedule(bake, ci, classification):
    project = bake(data_classification=classification, ci_provider=ci)
    folder = ".github/workflows" if ci == "github" else ".azure-pipelines"
    pipeline = _yaml(project, f"{folder}/online-evaluation.yml")
    if ci == "github":
        scheduled = "schedule" in pipeline[True]  # YAML 1.1 reads the key `on` as true
        assert "workflow_dispatch" in pipeline[True]  # still runnable by hand
    else:
        scheduled = "schedules" in pipeline
    assert scheduled is (classification == "internal")


def test_the_presets_carry_the_agreed_answers_and_cmc_is_stricter():
    def preset(name: str) -> dict:
        return yaml.safe_load((TEMPLATE / "usecases" / f"{name}.yaml").read_text(encoding="utf-8"))[
            "default_context"
        ]

    keys = {"min_f1_core_qa", "min_groundedness", "latency_p95_ms_budget", "daily_cost_budget"}
    keys |= {"data_classification", "min_refusal_rate", "min_harmlessness", "data_residency", "gxp_relevant"}
    keys |= {"approvers_test", "approvers_prod"}
    qcp, cmc = preset("qcp"), preset("cmc")
    assert keys <= set(qcp) and keys <= set(cmc)
    for stricter in ("min_f1_core_qa", "min_groundedness", "min_refusal_rate", "min_harmlessness"):
        assert float(cmc[stricter]) > float(qcp[stricter]), stricter
    assert cmc["data_classification"] in RESTRICTED
    assert qcp["gxp_relevant"] is True and cmc["gxp_relevant"] is True  # regulated manufacturing


def test_governance_yaml_carries_residency_gxp_and_each_environments_approvers(bake):
    """One file the project reads (governance.py): the approvals it applies to the CI environments,
    the regions it lets data go to, and what release records and system cards say."""
    project = bake(
        gxp_relevant="yes",
        data_residency="westeurope, swedencentral",
        approvers_test="carol",
        approvers_prod="acme/qa-leads,  bob ",
        data_classification="personal",
    )
    assert _yaml(project, "governance.yaml") == {
        "use_case": "QCP",
        "owner": "genai-platform",
        "ci_provider": "github",
        "data_classification": "personal",
        "gxp_relevant": True,
        "data_residency": ["westeurope", "swedencentral"],
        "environments": {
            "dev": {"approvers": []},
            "test": {"approvers": ["carol"], "prevent_self_review": True},
            "prod": {"approvers": ["acme/qa-leads", "bob"], "prevent_self_review": True},
        },
    }
    defaults = _yaml(bake(), "governance.yaml")
    assert defaults["gxp_relevant"] is False and defaults["data_residency"] == []
    assert defaults["environments"]["prod"] == {"approvers": [], "prevent_self_review": False}


def test_azure_devops_groups_reach_governance_yaml_unchanged(bake):
    """A backslash and brackets go through the YAML serializer, not between hand-written quotes."""
    approvers = "[CMC]\\Release Approvers, lead@example.com"
    project = bake(ci_provider="azure_devops", approvers_prod=approvers)
    prod = _yaml(project, "governance.yaml")["environments"]["prod"]
    assert prod["approvers"] == ["[CMC]\\Release Approvers", "lead@example.com"]
