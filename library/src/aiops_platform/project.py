"""The use case's own answers, read from `aiops.yaml` at the project root.

The platform is one library for every use case: what differs between projects (names, flow kind,
deployment target, model and Azure defaults) is configuration the project holds, never a constant
rendered into platform code. The governance answers (use case, owner, classification, CI system)
live in `governance.yaml` (governance.py).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aiops_platform import paths

FILE = Path("aiops.yaml")
FlowKind = Literal["qa", "chat", "rag", "agent"]
DeploymentTarget = Literal["aml_online_endpoint", "azure_webapp"]


class ProjectError(ValueError):
    """aiops.yaml is missing or does not hold what the platform reads."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelDefaults(_Strict):
    provider: Literal["azure_openai", "openai"] = "azure_openai"
    azure_openai_endpoint: str = ""
    azure_openai_auth: Literal["entra_id", "api_key"] = "entra_id"
    azure_openai_api_version: str = "2024-10-21"
    azure_openai_chat_deployment: str = "gpt-4o-mini"


class AzureDefaults(_Strict):
    subscription_id: str = ""
    resource_group: str = ""
    ml_workspace: str = ""
    location: str = ""


class Project(_Strict):
    name: str
    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    package: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    description: str = ""
    flow_kind: FlowKind
    deployment_target: DeploymentTarget
    model: ModelDefaults = ModelDefaults()
    azure: AzureDefaults = AzureDefaults()

    @property
    def flow(self) -> Path:
        """The use case's flow folder, relative to the root."""
        return paths.FLOWS / self.flow_kind


@functools.cache
def _load(file: Path) -> Project:
    try:
        data = yaml.safe_load(paths.read_bytes(file, 1 << 20))
        return Project.model_validate(data)
    except OSError as error:
        raise ProjectError(
            f"{file}: cannot be read ({error.strerror or error}); is this an AIOps project?"
        ) from None
    except (yaml.YAMLError, paths.NotAFile) as error:
        raise ProjectError(f"{file}: {' '.join(str(error).split())}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the file"
        raise ProjectError(f"{file}: {where}: {first['msg']} ({len(error.errors())} problem(s))") from None


def load(root: Path | None = None) -> Project:
    """This project's answers (default: the project the working directory belongs to)."""
    return _load((root or paths.project()) / FILE)
