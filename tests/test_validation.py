"""Bad answers fail before anything is written, naming the field, the value and the rule."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import TEMPLATE, load_hook
from cookiecutter.exceptions import FailedHookException
from cookiecutter.main import cookiecutter

UNSUPPORTED = {
    "slug-with-dotdot": ("project_slug", "my..project", "must not contain '..'"),
    "slug-with-slash": ("project_slug", "team/project", "must not contain '..', '/'"),
    "slug-leaving-the-output-folder": ("project_slug", "../escaped", "must not contain '..', '/'"),
    "slug-upper-case": ("project_slug", "QCP-Assistant", "lowercase letters, digits and single hyphens"),
    "slug-too-short": ("project_slug", "ab", "must be 3 to 50 characters long"),
    "package-keyword": ("package_name", "class", "is a Python keyword"),
    "package-stdlib": ("package_name", "logging", "standard-library module"),
    "package-shadows-dependency": ("package_name", "openai", "would shadow the dependency"),
    "package-with-hyphen": ("package_name", "qcp-assistant", "lowercase letters, digits and underscores"),
    "package-too-long": ("package_name", "p" * 41, "must be 3 to 40 characters long"),
    "use-case-lower": ("use_case_code", "qcp", "upper-case letters or digits"),
    "owner-team-empty": ("owner_team", "", "must be 2 to 64 characters long"),
    "description-multiline": ("description", "line one\nline two", "must be one line"),
    "subscription-not-guid": ("azure_subscription_id", "my-subscription", "must be a GUID"),
    "resource-group-trailing-period": ("azure_resource_group", "rg-genai.", "must not end with a period"),
    "resource-group-space": ("azure_resource_group", "rg genai", "Azure resource-group rule"),
    "workspace-too-short": ("azure_ml_workspace", "ws", "3 to 33 letters"),
    "workspace-bad-char": ("azure_ml_workspace", "mlw.genai", "3 to 33 letters"),
    "location-with-space": ("azure_location", "West Europe", "an Azure region name"),
    "endpoint-http": ("azure_openai_endpoint", "http://x.openai.azure.com/", "must be an https URL"),
    "endpoint-not-url": ("azure_openai_endpoint", "my-endpoint", "must be an https URL"),
    "api-version": ("azure_openai_api_version", "latest", "a date version"),
    "deployment-bad-char": ("azure_openai_chat_deployment", "gpt 4o", "letters, digits"),
    "f1-above-one": ("min_f1_core_qa", "1.5", "must be a number such as 0.75"),
    "f1-percent": ("min_f1_core_qa", "60%", "from 0 to 1"),
    "groundedness-below-scale": ("min_groundedness", "0.5", "from 1 to 5"),
    "latency-not-whole": ("latency_p95_ms_budget", "4s", "must be a whole number from 100 to 600000"),
    "cost-zero": ("daily_cost_budget", "0", "from 0.01 to 1000000"),
    "refusal-above-one": ("min_refusal_rate", "1.2", "from 0 to 1"),
    "harmlessness-above-scale": ("min_harmlessness", "6", "from 1 to 5"),
    "residency-display-name": ("data_residency", "West Europe", "'any' or Azure region names"),
    "residency-empty": ("data_residency", "", "'any' or Azure region names"),
    "approver-with-space": ("approvers_test", "Alice Smith", "GitHub logins or teams"),
    "approvers-over-githubs-six": ("approvers_prod", "a, b, c, d, e, f, g", "at most 6"),
    "approver-twice": ("approvers_prod", "alice, ALICE", "names 'ALICE' more than once"),
    "region-twice": ("data_residency", "westeurope, northeurope, westeurope", "more than once"),
    "any-with-regions": ("data_residency", "any, westeurope", "'any' alone"),
}
# Answers each fine alone, wrong together: the field named is the one to change.
UNSUPPORTED_TOGETHER = {
    "location-outside-residency": (
        {"data_residency": "northeurope, swedencentral"},
        ("azure_location", "westeurope", "is outside data_residency"),
    ),
    "gxp-without-prod-approvers": (
        {"gxp_relevant": "yes", "approvers_test": "alice"},
        ("approvers_prod", "", "a GxP-relevant use case needs who approves"),
    ),
    "github-approver-as-email": (
        {"approvers_prod": "alice@example.com"},
        ("approvers_prod", "alice@example.com", "must be GitHub logins or teams"),
    ),
    "azure-devops-approver-as-github-login": (
        {"ci_provider": "azure_devops", "approvers_test": "alice"},
        ("approvers_test", "alice", "must be Azure DevOps e-mails or groups"),
    ),
}


def generate(output_dir: Path, answers: dict[str, str]) -> None:
    cookiecutter(
        str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output_dir), default_config=True
    )


@pytest.mark.parametrize(("field", "value", "rule"), UNSUPPORTED.values(), ids=UNSUPPORTED.keys())
def test_bad_answer_fails_with_field_value_and_rule_and_leaves_nothing(
    tmp_path: Path, capfd, field, value, rule
):
    with pytest.raises(FailedHookException):
        generate(tmp_path, {field: value})
    stderr = capfd.readouterr().err
    assert f"{field} = {value!r}: " in stderr
    assert rule in stderr
    # No project file is written, only the answers kept for the retry. (A slug with '/' is the one
    # case where cookiecutter itself has already created the empty intermediate folder.)
    (kept,) = [p for p in tmp_path.rglob("*") if not p.is_dir() or any(p.iterdir())]
    assert kept.name.endswith(".answers.yaml") and kept.parent == tmp_path


def test_every_broken_answer_is_reported_at_once(tmp_path: Path, capfd):
    with pytest.raises(FailedHookException):
        generate(tmp_path, {"use_case_code": "x", "azure_location": "West Europe"})
    stderr = capfd.readouterr().err
    assert "use_case_code = 'x'" in stderr
    assert "azure_location = 'West Europe'" in stderr


@pytest.mark.parametrize(
    ("answers", "expected"), UNSUPPORTED_TOGETHER.values(), ids=UNSUPPORTED_TOGETHER.keys()
)
def test_answers_that_contradict_each_other_fail_naming_the_one_to_change(
    tmp_path: Path, capfd, answers, expected
):
    field, value, rule = expected
    with pytest.raises(FailedHookException):
        generate(tmp_path, answers)
    stderr = capfd.readouterr().err
    assert f"{field} = {value!r}: {rule}" in stderr
    assert [p.name for p in tmp_path.iterdir()] == ["qcp-assistant.answers.yaml"]


rules = load_hook("pre_gen_project")
# An example inside a rule's words: "such as 0.75", "e.g. westeurope", "e.g. 'alice, my-org/qa-leads'".
EXAMPLE_IN_WORDS = re.compile(r"(?:such as|e\.g\.) (?:'([^']*)'|(.+?))(?=[,;)]|:?\s|$)")


def test_every_example_a_rule_gives_in_its_words_passes_that_rule():
    """The words docs/options.md and a refusal show: min_groundedness said 'a number such as 0.75
    ... from 1 to 5', an example its own rule refuses."""
    checked = 0
    for field in rules.VALIDATED:
        for ci_provider in rules.APPROVER_FORMS:
            answers = {"ci_provider": ci_provider}
            said = [rule.summary for rule in rules.field_rules(field, answers)]
            said.append(rules.field_problem(field, "?", answers) or "")
            for quoted, bare in EXAMPLE_IN_WORDS.findall(" ".join(said)):
                example = quoted or bare
                assert rules.field_problem(field, example, answers) is None, (field, ci_provider, example)
                checked += 1
    assert checked >= 20  # every threshold, the region, endpoint, API version and approvers forms
