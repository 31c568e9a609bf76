"""Environment settings in one object: read from the process environment and the nearest `.env`."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from dotenv import find_dotenv
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Provider = Literal["offline", "azure_openai", "openai"]

CONFIGURED_PROVIDER: Provider = "{{ cookiecutter.llm_provider }}"
CONFIGURED_AZURE_OPENAI_ENDPOINT = "{{ cookiecutter.azure_openai_endpoint }}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    llm_provider: Literal["auto", "offline", "azure_openai", "openai"] = "auto"
    llm_timeout_seconds: float = 30.0
    llm_max_retries: int = 3
    offline_model_latency_ms: int = 0  # simulated per-call latency, for throughput benchmarks

    azure_openai_endpoint: str | None = None
    azure_openai_auth: Literal["entra_id", "api_key"] = "{{ cookiecutter.azure_openai_auth }}"
    azure_openai_api_key: SecretStr | None = None
    azure_openai_api_version: str = "{{ cookiecutter.azure_openai_api_version }}"
    azure_openai_chat_deployment: str = "{{ cookiecutter.azure_openai_chat_deployment }}"

    openai_api_key: SecretStr | None = None
    openai_model: str = "gpt-4o-mini"

    registry_target: Literal["local", "azureml"] = "local"
    azure_subscription_id: str = "{{ cookiecutter.azure_subscription_id }}"
    azure_resource_group: str = "{{ cookiecutter.azure_resource_group }}"
    azure_ml_workspace: str = "{{ cookiecutter.azure_ml_workspace }}"
    azure_ml_compute: str = "cpu-cluster"

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
    """Searched upwards from the working directory, so flows run from their own folder still see it."""
    return Settings(_env_file=find_dotenv(usecwd=True) or None)
