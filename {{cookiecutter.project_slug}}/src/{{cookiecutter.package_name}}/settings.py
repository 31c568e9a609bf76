{#- An answer's line as ruff accepts it: the one macro, in the template's templates/ folder. -#}
{%- from "python_literal.jinja" import fit -%}
"""Environment settings in one object: read from the process environment and the project's `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from {{ cookiecutter.package_name }} import paths

Provider = Literal["offline", "azure_openai", "openai"]

CONFIGURED_PROVIDER: Provider = {{ cookiecutter.llm_provider | jsonify }}
{{ fit('CONFIGURED_AZURE_OPENAI_ENDPOINT = ' ~ cookiecutter.azure_openai_endpoint | jsonify) }}


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
    azure_openai_auth: Literal["entra_id", "api_key"] = {{ cookiecutter.azure_openai_auth | jsonify }}
    azure_openai_api_key: SecretStr | None = None
    azure_openai_api_version: str = {{ cookiecutter.azure_openai_api_version | jsonify }}
{{ fit('    azure_openai_chat_deployment: str = ' ~ cookiecutter.azure_openai_chat_deployment | jsonify) }}

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
    aiops_trace_content: bool = {{ 'False' if cookiecutter.data_classification in ['confidential', 'personal'] else 'True' }}
    aiops_variant: str = "default"  # the variant a deployment serves, on every span it emits
    applicationinsights_connection_string: SecretStr | None = None

    # Azure AI Foundry project endpoint (https://<resource>.services.ai.azure.com/api/projects/<name>):
    # the content-safety and indirect-attack evaluators run there; unset, they are reported skipped.
    azure_ai_project: str | None = None

    registry_target: Literal["local", "azureml"] = "local"
    azure_subscription_id: str = {{ cookiecutter.azure_subscription_id | jsonify }}
{{ fit('    azure_resource_group: str = ' ~ cookiecutter.azure_resource_group | jsonify) }}
{{ fit('    azure_ml_workspace: str = ' ~ cookiecutter.azure_ml_workspace | jsonify) }}
    azure_ml_compute: str = "cpu-cluster"
    aml_endpoint_name: str | None = None  # `deploy aml`: this environment's endpoint; else endpoint.yml's

    @property
    def provider(self) -> Provider:
        """`auto` goes online only once the configured provider's endpoint or key is present."""
        if self.llm_provider != "auto":
            return self.llm_provider
        online_ready = {
            "azure_openai": bool(self.azure_openai_endpoint),
            "openai": self.openai_api_key is not None,
        }
        return CONFIGURED_PROVIDER if online_ready[CONFIGURED_PROVIDER] else "offline"

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
    env_file = paths.project() / paths.ENV_FILE
    return Settings(_env_file=env_file if env_file.is_file() else None)
