"""What the use case agreed before it started, read from `governance.yaml`.

The file is generated from the answers (classification, GxP relevance, data residency, approvers),
so one `cruft update --variables-to-update` changes every place that follows from them. Code
reads the agreement here instead of repeating it: the approvals applied to each CI environment
(approvals.py), the region checks before Azure calls, release records and the system card.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops_platform import paths

FILE = Path("governance.yaml")
ENVIRONMENTS = ("dev", "test", "prod")


class GovernanceError(RuntimeError):
    """governance.yaml is missing or malformed, or an agreement is broken; one line naming it."""


class ResidencyError(GovernanceError):
    """An Azure resource sits outside the regions the use case agreed; nothing was sent to it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EnvironmentPolicy(_Strict):
    approvers: list[str] = Field(
        default_factory=list, description="GitHub logins or org/team; Azure DevOps identities"
    )
    prevent_self_review: bool = Field(False, description="whoever started a deployment cannot approve it")


class Governance(_Strict):
    use_case: str
    owner: str
    ci_provider: Literal["github", "azure_devops"]
    data_classification: Literal["internal", "public", "confidential", "personal"]
    gxp_relevant: bool
    data_residency: list[str] = Field(description="Azure region names; empty: any region")
    environments: dict[str, EnvironmentPolicy]

    def policy(self, environment: str) -> EnvironmentPolicy:
        return self.environments.get(environment, EnvironmentPolicy())

    def allows_region(self, region: str) -> bool:
        return not self.data_residency or region_name(region) in {region_name(r) for r in self.data_residency}

    @property
    def residency(self) -> str:
        return ", ".join(self.data_residency) if self.data_residency else "any region"


def region_name(region: str) -> str:
    """Azure names one region 'West Europe' in its APIs' displays and 'westeurope' in its ids."""
    return re.sub(r"[^a-z0-9]", "", region.lower())


def load(root: Path | None = None) -> Governance:
    path = (root or paths.root()) / FILE
    try:
        return Governance.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError as error:
        raise GovernanceError(f"{FILE}: missing; `cruft update` restores it from the answers") from error
    except yaml.YAMLError as error:  # where it broke: line and column, as an editor counts them
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
        raise GovernanceError(f"{FILE}:{where} {getattr(error, 'problem', None) or error}") from error
    except ValidationError as error:
        raise GovernanceError(f"{FILE}: {'; '.join(str(error).splitlines()[1:3])}") from error


def check_region(region: str | None, what: str, governance: Governance | None = None) -> None:
    """Before data goes to `what`: refuse a region outside the agreed residency. An unknown region
    (Azure did not say) is refused too when residency is restricted: unknown is not agreed."""
    agreed = governance or load()
    if not agreed.data_residency:
        return
    if not region:
        raise ResidencyError(f"{what}: its region is unknown, and data may live only in {agreed.residency}")
    if not agreed.allows_region(region):
        raise ResidencyError(
            f"{what} is in {region}, outside the regions where this use case's data may live "
            f"({agreed.residency}, governance.yaml); use a resource in one of them, or agree a change "
            "and update the answer data_residency"
        )
