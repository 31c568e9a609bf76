"""Blue/green deployment to an Azure ML managed online endpoint.

The new colour is created at 0% traffic, smoke-tested through the endpoint, then given all the
traffic; the previous colour stays deployed at 0% so `rollback` is one traffic switch. Specs are
the YAML files in deployment/aml/, loaded with azure-ai-ml's own loaders.

Where it deploys comes from the environment (or `.env`): each of dev, test and prod has its own
subscription, resource group, workspace, endpoint name and Azure OpenAI endpoint. Locally, what is
not set falls back to the answers given at generation (the specs' values); in a pipeline nothing
falls back, and a missing variable stops the deployment before any call to Azure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiops_platform import governance, placeholders, project
from aiops_platform.azure_ml import azure_errors
from aiops_platform.paths import AML_SPECS
from aiops_platform.settings import Settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient

COLOURS = ("blue", "green")
# The pipelines name the environment they deploy (dev, test, prod); CI systems mark their runs.
ENVIRONMENT_VARIABLE = "DEPLOY_ENVIRONMENT"
PIPELINE_MARKERS = ("CI", "TF_BUILD")  # GitHub Actions sets CI=true, Azure Pipelines TF_BUILD=True
# Each environment's own values: variable -> the Settings field that reads it.
TARGET_VARIABLES = {
    "AZURE_SUBSCRIPTION_ID": "azure_subscription_id",
    "AZURE_RESOURCE_GROUP": "azure_resource_group",
    "AZURE_ML_WORKSPACE": "azure_ml_workspace",
    "AML_ENDPOINT_NAME": "aml_endpoint_name",
}
WHERE_SET = {
    "github": "the GitHub environment's secrets (Settings > Environments)",
    "azure_devops": "the variable group {slug}-<environment> (Pipelines > Library)",
}


def target_variables(settings: Settings) -> dict[str, str]:
    """The variables each environment must set in a pipeline: variable -> the Settings field."""
    online = (
        {"AZURE_OPENAI_ENDPOINT": "azure_openai_endpoint"}
        if settings.configured_provider == "azure_openai"
        else {}
    )
    return {**TARGET_VARIABLES, **online}


def where_set(environment: str) -> str:
    slug, ci_provider = project.load().slug, governance.load().ci_provider
    return WHERE_SET[ci_provider].format(slug=slug).replace("<environment>", environment)


class DeploymentError(RuntimeError):
    """The deployment stopped; live traffic was not moved."""


@dataclass(frozen=True)
class Target:
    """One environment's endpoint: the workspace is the client's; these override the specs."""

    environment: str
    endpoint_name: str | None = None  # None: the name in deployment/aml/endpoint.yml
    openai_endpoint: str | None = None  # None: the value in deployment/aml/deployment.yml


def in_pipeline(environ: Mapping[str, str]) -> bool:
    return bool(environ.get(ENVIRONMENT_VARIABLE)) or any(
        environ.get(marker, "").lower() == "true" for marker in PIPELINE_MARKERS
    )


def deploy_target(settings: Settings, environ: Mapping[str, str] = os.environ) -> Target:
    """This environment's target. In a pipeline every TARGET_VARIABLES entry must be set (from the
    environment or `.env`); the answers' defaults are for a local `make deploy` only."""
    environment = environ.get(ENVIRONMENT_VARIABLE) or ("<environment>" if in_pipeline(environ) else "local")
    if in_pipeline(environ):
        needed = target_variables(settings)
        missing = [name for name, field in needed.items() if field not in settings.model_fields_set]
        if missing:
            raise DeploymentError(
                f"set {', '.join(missing)} for the {environment} environment, "
                f"in {where_set(environment)}: "
                "in a pipeline nothing falls back to the answers given at generation"
            )
    openai_endpoint = (
        settings.azure_openai_endpoint if settings.configured_provider == "azure_openai" else None
    )
    return Target(environment, settings.aml_endpoint_name, openai_endpoint)


def refuse_placeholders(root: Path, target: Target) -> None:
    """Before any call to Azure: the Azure OpenAI endpoint the new deployment would call is real
    (this environment's AZURE_OPENAI_ENDPOINT, else deployment.yml's, the answer)."""
    variables = load_specs(root, "blue", target)[1].environment_variables or {}
    if variables.get("LLM_PROVIDER", "azure_openai") != "azure_openai":
        return
    where = (
        "AZURE_OPENAI_ENDPOINT"
        if target.openai_endpoint
        else f"{AML_SPECS}/deployment.yml AZURE_OPENAI_ENDPOINT"
    )
    found = placeholders.openai_endpoint(str(variables.get("AZURE_OPENAI_ENDPOINT", "")), where)
    if found is not None:
        raise DeploymentError(found.refusal("deploy"))


def live_colour(traffic: dict[str, int]) -> str | None:
    serving = {name: share for name, share in traffic.items() if share > 0}
    return max(serving, key=serving.__getitem__) if serving else None


def next_colour(traffic: dict[str, int]) -> str:
    """The colour not taking traffic now (blue for a new endpoint)."""
    return "green" if live_colour(traffic) == "blue" else "blue"


def switched(traffic: dict[str, int], to: str) -> dict[str, int]:
    """All traffic to `to`; every other known deployment stays listed at 0% (kept for rollback)."""
    return {name: (100 if name == to else 0) for name in {*traffic, to}}


def rollback_target(traffic: dict[str, int]) -> str:
    live = live_colour(traffic)
    standby = [name for name in traffic if name != live]
    if not standby:
        raise DeploymentError("no previous deployment to roll back to")
    return standby[0]


def load_specs(root: Path, colour: str, target: Target | None = None):
    """(endpoint, deployment named `colour`) from deployment/aml/, as azure-ai-ml entities, with
    the target environment's endpoint name and Azure OpenAI endpoint where it sets them."""
    from azure.ai.ml import load_online_deployment, load_online_endpoint

    endpoint = load_online_endpoint(root / AML_SPECS / "endpoint.yml")
    deployment = load_online_deployment(root / AML_SPECS / "deployment.yml")
    deployment.name = colour
    variables = {**(deployment.environment_variables or {}), "AIOPS_VARIANT": colour}
    if target is not None and target.endpoint_name:
        endpoint.name = deployment.endpoint_name = target.endpoint_name
    if target is not None and target.openai_endpoint:
        variables["AZURE_OPENAI_ENDPOINT"] = target.openai_endpoint
    deployment.environment_variables = variables
    return endpoint, deployment


def blue_green(
    client: MLClient,
    root: Path,
    smoke: Callable[[str], str],
    log: Callable[[str], None],
    target: Target | None = None,
    tags: Callable[[], dict[str, str]] | None = None,
) -> str:
    """Deploy the next colour and move traffic to it only after its smoke test passes. `tags` (the
    release record's, release.tags) go on the new deployment, so the workspace shows what it runs;
    asked for once Azure has answered, so a missing login is reported before a missing record."""
    from azure.core.exceptions import ResourceNotFoundError

    name = load_specs(root, "blue", target)[0].name
    with azure_errors(f"deploy to endpoint {name}", then="run `make deploy` again"):
        try:
            traffic = dict(client.online_endpoints.get(name).traffic or {})
        except ResourceNotFoundError:
            traffic = {}
        colour = next_colour(traffic)
        endpoint, deployment = load_specs(root, colour, target)
        deployment.tags = {**(deployment.tags or {}), **(tags() if tags else {})}
        if not traffic:
            log(f"creating endpoint {name}")
            client.online_endpoints.begin_create_or_update(endpoint).result()
        log(f"deploying {colour} at 0% traffic")
        client.online_deployments.begin_create_or_update(deployment).result()
        log(f"smoke-testing {colour}: {smoke(colour)}")
        endpoint.traffic = switched(traffic, colour)
        client.online_endpoints.begin_create_or_update(endpoint).result()
    log(f"{colour} takes all traffic; {live_colour(traffic) or 'nothing'} kept for rollback")
    return colour


def rollback(client: MLClient, root: Path, target: Target | None = None) -> str:
    """All traffic back to the previous colour (kept at 0% by `blue_green`); returns that colour."""
    endpoint, _ = load_specs(root, "blue", target)
    with azure_errors(f"roll back endpoint {endpoint.name}", then="run the rollback again"):
        traffic = dict(client.online_endpoints.get(endpoint.name).traffic or {})
        colour = rollback_target(traffic)
        endpoint.traffic = switched(traffic, colour)
        client.online_endpoints.begin_create_or_update(endpoint).result()
    return colour


def deploy(
    client: MLClient,
    root: Path,
    request_file: Path,
    log: Callable[[str], None],
    target: Target | None = None,
    tags: Callable[[], dict[str, str]] | None = None,
) -> str:
    """Blue/green to the target's endpoint, smoke-testing the new colour with `request_file`."""
    endpoint = load_specs(root, "blue", target)[0].name
    return blue_green(client, root, endpoint_smoke(client, endpoint, request_file), log, target, tags)


def endpoint_smoke(client: MLClient, endpoint: str, request_file: Path) -> Callable[[str], str]:
    """Invoke one deployment directly (bypassing traffic rules) with the sample request."""

    def check(colour: str) -> str:
        reply = client.online_endpoints.invoke(
            endpoint_name=endpoint, request_file=str(request_file), deployment_name=colour
        )
        answer = json.loads(reply).get("answer", "")
        if not answer:
            raise DeploymentError(f"{colour} returned no answer: {reply[:300]}")
        return answer

    return check
