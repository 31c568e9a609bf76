"""Environment settings in one object: read from the process environment and the project's `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from aiops_platform import governance, paths, project

Provider = Literal["offline", "azure_openai", "openai"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_ignore_empty=True)  # `KEY=` counts as unset

    llm_provider: Literal["auto", "offline", "azure_openai", "openai"] = "auto"
    llm_timeout_seconds: float = 30.0
    llm_max_retries: int = 3  # for 5xx, timeouts and connection errors (429s: the wait below)
    # Online calls share one adaptive limit on calls in flight and wait out 429s (llm.RateLimiter);
    # a call still refused after this many seconds of waiting fails, saying so.
    llm_adaptive_concurrency: bool = True  # false: the openai client's own bounded 429 retries only
    llm_rate_limit_wait_seconds: float = 120.0
    # Online answers cached on disk by everything that determines them (llm.ResponseCache): `on`
    # reads and writes, `refresh` calls the model again and overwrites, `off` neither. Offline: never.
    llm_cache: Literal["on", "off", "refresh"] = "on"
    llm_cache_dir: str | None = None  # unset: .aiops/cache/llm under the project
    offline_model_latency_ms: int = 0  # simulated per-call latency, for throughput benchmarks

    azure_openai_endpoint: str | None = None
    azure_openai_auth: Literal["entra_id", "api_key"] = "entra_id"
    azure_openai_api_key: SecretStr | None = None
    azure_openai_api_version: str = "2024-10-21"
    azure_openai_chat_deployment: str = "gpt-4o-mini"

    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"
    openai_base_url: str | None = None  # an OpenAI-compatible endpoint; unset: api.openai.com

    # Retrieval, read by rag flows only (embeddings.py): `auto` uses embeddings once the online
    # provider has an embedding model, else BM25.
    aiops_retriever: Literal["auto", "bm25", "embeddings"] = "auto"
    azure_openai_embedding_deployment: str | None = None
    openai_embedding_model: str = "text-embedding-3-small"

    # Tracing: a local store always (unless off), Azure Monitor when the connection string is set.
    aiops_tracing: bool = True
    # inputs/outputs on flow spans; `monitor sample` needs them. Off by default for confidential or
    # personal data (answer data_classification); AIOPS_TRACE_CONTENT=true turns it on.
    aiops_trace_content: bool = True
    aiops_variant: str = "default"  # the variant a deployment serves, on every span it emits
    applicationinsights_connection_string: SecretStr | None = None

    # Azure AI Foundry project endpoint (https://<resource>.services.ai.azure.com/api/projects/<name>):
    # the content-safety and indirect-attack evaluators run there; unset, they are reported skipped.
    azure_ai_project: str | None = None

    registry_target: Literal["local", "azureml"] = "local"
    azure_subscription_id: str = ""
    azure_resource_group: str = ""
    azure_ml_workspace: str = ""
    azure_ml_compute: str = "cpu-cluster"
    aml_endpoint_name: str | None = None  # `deploy aml`: this environment's endpoint; else endpoint.yml's

    configured_provider: Literal["azure_openai", "openai"] = "azure_openai"  # aiops.yaml's model.provider

    @property
    def provider(self) -> Provider:
        """`auto` goes online only once the configured provider's endpoint or key is present."""
        if self.llm_provider != "auto":
            return self.llm_provider
        online_ready = {
            "azure_openai": bool(self.azure_openai_endpoint),
            "openai": self.openai_api_key is not None,
        }
        configured = self.configured_provider
        return configured if online_ready[configured] else "offline"

    @property
    def model(self) -> str:
        return {
            "azure_openai": self.azure_openai_chat_deployment,
            "openai": self.openai_model,
            "offline": "offline-extractive",
        }[self.provider]


@lru_cache
def get_settings() -> Settings:
    """The project's `.env`, so flows run from their own folder (or Prompt Flow's copy of it) still see it."""
    root = paths.project()
    env_file = root / paths.ENV_FILE
    settings = Settings(_env_file=env_file if env_file.is_file() else None)
    answered = {
        key: value for key, value in _answered_defaults(root).items() if key not in settings.model_fields_set
    }
    answered_settings = settings.model_copy(update=answered)
    # Set means set by the environment or .env: deploy.py asks which values a pipeline gave.
    answered_settings.__pydantic_fields_set__ = set(settings.model_fields_set)
    return answered_settings


def _answered_defaults(root: Path) -> dict[str, object]:
    """The project's answers (aiops.yaml, governance.yaml): defaults the environment and `.env` override."""
    try:
        answers = project.load(root)
    except project.ProjectError:
        return {}  # a `pf flow build` image: the environment says everything
    defaults: dict[str, object] = {
        "configured_provider": answers.model.provider,
        "azure_openai_auth": answers.model.azure_openai_auth,
        "azure_openai_api_version": answers.model.azure_openai_api_version,
        "azure_openai_chat_deployment": answers.model.azure_openai_chat_deployment,
        "azure_subscription_id": answers.azure.subscription_id,
        "azure_resource_group": answers.azure.resource_group,
        "azure_ml_workspace": answers.azure.ml_workspace,
    }
    try:
        classification = governance.load(root).data_classification
    except governance.GovernanceError:
        classification = "internal"
    defaults["aiops_trace_content"] = classification not in ("confidential", "personal")
    return {key: value for key, value in defaults.items() if value != ""}
