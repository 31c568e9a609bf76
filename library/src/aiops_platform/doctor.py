"""`aiops doctor`: what in this project is still a placeholder or missing, and what each one blocks.

Offline only: files, the environment and `.env`; no call to Azure, the model or the CI system. A
finding blocks either the offline loop (install, experiment, gate) or something that reaches Azure
or the CI system; the command's exit status is 1 only for the first kind. The placeholder rule is
placeholders.is_placeholder, which the commands that would act on a value also refuse by.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiops_platform import paths, placeholders

if TYPE_CHECKING:
    from aiops_platform.governance import Governance
    from aiops_platform.project import Project
    from aiops_platform.settings import Settings

# What a finding can block, in the words the report uses.
BLOCKS = {
    "offline": "the offline loop (make experiment, make gate)",
    "install": "make install from the pin, and CI (it installs from the pin)",
    "register": "make register (connections)",
    "online": "online runs with the model (until then make experiment uses the offline model)",
    "azureml": "registering data and connections in Azure ML (REGISTRY_TARGET=azureml)",
    "deploy": "make deploy (dev, test, prod)",
    "approvals": "make approvals, and test and prod deployments (they check the approvers first)",
    "monitoring": "traces and alerts in Azure Monitor (traces stay in .aiops/traces)",
}
FIX_THE_FILE = "fix the file (make doctor again)"
ASSET_REFERENCE = re.compile(r"^[^#\n]*\bazureml:[A-Za-z0-9_-]+", re.MULTILINE)


@dataclass(frozen=True)
class Finding:
    said: str  # what is a placeholder or missing, and where
    blocks: tuple[str, ...]  # keys of BLOCKS
    fix: str

    @property
    def blocks_offline(self) -> bool:
        return "offline" in self.blocks

    @property
    def blocked(self) -> str:
        return "; ".join(BLOCKS[key] for key in self.blocks)


def _from_placeholder(found: placeholders.Placeholder | None, *blocks: str) -> list[Finding]:
    return [] if found is None else [Finding(found.said, blocks, found.fix)]


def diagnose(root: Path) -> list[Finding]:
    """Every finding, the offline loop's first. Settings as every command reads them (environment, .env)."""
    findings = _environment(root) + _answers(root)
    return sorted(findings, key=lambda finding: not finding.blocks_offline)


def _environment(root: Path) -> list[Finding]:
    findings = []
    if not os.access(root / ".venv" / "bin" / "python", os.X_OK):
        findings.append(Finding(".venv: missing", ("offline",), "make install"))
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and placeholders.PLATFORM_PIN in pyproject.read_text(encoding="utf-8"):
        findings.append(
            Finding(
                f"platform pin (pyproject.toml) is the placeholder {placeholders.PLATFORM_PIN}",
                ("install",),
                "set the template's git URL in both pins (docs/platform.md), or install with "
                "AIOPS_PLATFORM=<template checkout>/library",
            )
        )
    referenced = sorted(
        file.name
        for file in root.glob("experiment*.yaml")
        if ASSET_REFERENCE.search(file.read_text(encoding="utf-8"))
    )
    if referenced and not (root / paths.REGISTRY / "index.json").is_file():
        findings.append(
            Finding(
                f"data assets: {', '.join(referenced)} name registered assets (azureml:...); none registered",
                ("offline",),
                "make register",
            )
        )
    return findings


def _answers(root: Path) -> list[Finding]:
    """What the answers and settings hold; read lazily (pydantic) and only here."""
    from aiops_platform import governance, project
    from aiops_platform.settings import get_settings

    findings = []
    try:  # each file on its own: a broken one is a finding, and hides only what is read from it
        answers: project.Project | None = project.load(root)
    except project.ProjectError as error:
        answers = None
        findings.append(Finding(str(error), ("offline",), FIX_THE_FILE))
    try:
        agreed: governance.Governance | None = governance.load(root)
    except governance.GovernanceError as error:
        agreed = None
        findings.append(Finding(str(error), ("offline",), FIX_THE_FILE))
    settings = get_settings()
    from_environment = "azure_subscription_id" in settings.model_fields_set
    if answers is not None or from_environment:
        found = placeholders.subscription(settings.azure_subscription_id, from_environment)
        findings += _from_placeholder(found, "azureml", "deploy")
    if settings.registry_target == "azureml" and not azure_login():
        findings.append(
            Finding(
                "Azure login: none (REGISTRY_TARGET=azureml)",
                ("azureml",),
                "az login (or AZURE_CLIENT_ID and AZURE_TENANT_ID for a service principal)",
            )
        )
    if answers is not None:
        findings += _model(answers, settings)
    if agreed is not None:
        findings += _approvers(agreed)
    if settings.applicationinsights_connection_string is None:
        findings.append(
            Finding(
                "APPLICATIONINSIGHTS_CONNECTION_STRING: not set",
                ("monitoring",),
                "set it (environment or .env) to the Application Insights resource's connection string",
            )
        )
    return findings


def _model(answers: Project, settings: Settings) -> list[Finding]:
    """The model's endpoint and key, as aiops.yaml, the environment and `.env` give them."""
    findings: list[Finding] = []
    if answers.model.provider == "azure_openai":
        from_environment = "azure_openai_endpoint" in settings.model_fields_set
        endpoint = settings.azure_openai_endpoint if from_environment else answers.model.azure_openai_endpoint
        where = "AZURE_OPENAI_ENDPOINT" if from_environment else "aiops.yaml model.azure_openai_endpoint"
        found = placeholders.openai_endpoint(endpoint or "", where)
        findings += _from_placeholder(found, "online", "azureml", "deploy")
        if settings.azure_openai_auth == "api_key" and settings.azure_openai_api_key is None:
            findings.append(
                Finding(
                    "AZURE_OPENAI_API_KEY: not set (azure_openai_auth is api_key)",
                    ("online", "register", "azureml"),
                    "set it in .env (git-ignored) or the environment",
                )
            )
    elif settings.openai_api_key is None:
        findings.append(
            Finding(
                "OPENAI_API_KEY: not set",
                ("online", "register", "azureml"),
                "set it in .env or the environment",
            )
        )
    return findings


def _approvers(agreed: Governance) -> list[Finding]:
    """Each environment's approvers in governance.yaml: placeholders, or none where GxP needs them."""
    from aiops_platform.governance import ENVIRONMENTS

    findings: list[Finding] = []
    for environment in ENVIRONMENTS:
        names = agreed.policy(environment).approvers
        findings += _from_placeholder(placeholders.approvers(environment, names), "approvals")
        if agreed.gxp_relevant and environment != "dev" and not names:
            findings.append(
                Finding(
                    f"{environment} approvers (governance.yaml): none, and the use case is GxP-relevant",
                    ("approvals",),
                    placeholders.change_answer(f"approvers_{environment}", "<org/team or login>"),
                )
            )
    return findings


def azure_login() -> bool:
    """A service principal or workload identity in the environment, or an `az login` profile."""
    if os.environ.get("AZURE_CLIENT_ID") and os.environ.get("AZURE_TENANT_ID"):
        return True
    profile = Path(os.environ.get("AZURE_CONFIG_DIR") or Path.home() / ".azure") / "azureProfile.json"
    try:
        return bool(json.loads(profile.read_text(encoding="utf-8-sig")).get("subscriptions"))
    except (OSError, ValueError, AttributeError):
        return False
