"""The Azure ML workspace client, keyless (Entra ID), and one translation of Azure's auth errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from aiops_platform import governance, placeholders
from aiops_platform.settings import Settings

if TYPE_CHECKING:
    from azure.ai.ml import MLClient


class AzureUnavailable(RuntimeError):
    """Azure could not be reached or refused us; nothing was changed there."""


# What to re-run once logged in, after a failed registration in the workspace.
REGISTER_AGAIN = "re-run with REGISTRY_TARGET=azureml"


def workspace_client(settings: Settings) -> MLClient:
    """Lazy: constructing it makes no call, so a missing login shows up at the first request. A
    placeholder subscription (the template's zero GUID) is refused here, before anything is sent."""
    found = placeholders.subscription(
        settings.azure_subscription_id, "azure_subscription_id" in settings.model_fields_set
    )
    if found is not None:
        raise AzureUnavailable(found.refusal(f"Azure ML workspace {settings.azure_ml_workspace}"))
    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    return MLClient(
        DefaultAzureCredential(),
        settings.azure_subscription_id,
        settings.azure_resource_group,
        settings.azure_ml_workspace,
    )


def workspace_region(client: MLClient, then: str = "try again") -> str:
    """The workspace's region, where registered data and deployments live, once it is known to be
    one of the regions the use case agreed (governance.yaml); else ResidencyError, nothing sent."""
    name = client.workspace_name
    with azure_errors(f"read workspace {name}", then=then):
        region = client.workspaces.get(name).location
    governance.check_region(region, f"Azure ML workspace {name}")
    return region


@contextmanager
def azure_errors(action: str, then: str = "try again") -> Iterator[None]:
    """Azure's failures as one line that names the fix; `then` says what to re-run after it.

    azure.identity logs a dozen lines (one per credential it tried) before it raises; they are
    held back while the block runs, so a missing login reads as one line, not a wall of text.
    """
    from azure.core.exceptions import ClientAuthenticationError, HttpResponseError, ServiceRequestError
    from azure.identity import CredentialUnavailableError

    identity_log = logging.getLogger("azure.identity")
    level = identity_log.level
    identity_log.setLevel(logging.ERROR)
    try:
        yield
    except (ClientAuthenticationError, CredentialUnavailableError) as error:
        raise AzureUnavailable(
            f"{action}: no Azure credentials. Run `az login` (or configure a workload identity), "
            f"then {then}. ({type(error).__name__})"
        ) from error
    except ServiceRequestError as error:
        raise AzureUnavailable(f"{action}: Azure is unreachable ({error}).") from error
    except HttpResponseError as error:
        raise AzureUnavailable(f"{action}: Azure ML refused the request: {error.message}") from error
    finally:
        identity_log.setLevel(level)
