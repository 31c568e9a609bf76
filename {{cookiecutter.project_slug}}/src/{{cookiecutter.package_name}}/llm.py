"""The model-provider seam: one `openai` client for the offline stand-in, Azure OpenAI or OpenAI."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import httpx
import openai

from {{ cookiecutter.package_name }} import offline_model, tracing
from {{ cookiecutter.package_name }}.settings import Settings, get_settings

AZURE_SCOPE = "https://cognitiveservices.azure.com/.default"
PROVIDER_NAMES = {"azure_openai": "azure.ai.openai", "openai": "openai", "offline": "offline"}


class ConfigError(RuntimeError):
    """A setting the chosen provider needs is missing; the message names the variable."""


class ModelCallError(RuntimeError):
    """The model could not be reached or refused the call, after the configured retries."""


def describe_failure(settings: Settings, error: openai.APIError) -> str:
    """One line a developer can act on: which provider, what went wrong, which setting to check."""
    where = f"{settings.provider} ({settings.azure_openai_endpoint or 'api.openai.com'})"
    limits = f"timeout {settings.llm_timeout_seconds:g} s, {settings.llm_max_retries} retries"
    if isinstance(error, openai.AuthenticationError | openai.PermissionDeniedError):
        hint = "check AZURE_OPENAI_API_KEY / OPENAI_API_KEY, or your Entra ID role on the resource"
        return f"{where} refused the call ({error.status_code}): {hint}"
    if isinstance(error, openai.APITimeoutError):
        return f"{where} did not answer ({limits}); check the endpoint and the network"
    if isinstance(error, openai.APIConnectionError):
        return f"{where} is unreachable ({limits}): {error.__cause__ or error}"
    return f"{where} failed: {error}"


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int


def build_client(settings: Settings) -> openai.OpenAI:
    """Explicit timeout and bounded retries: the client backs off on 429/5xx and honours Retry-After."""
    limits = {"timeout": settings.llm_timeout_seconds, "max_retries": settings.llm_max_retries}
    if settings.provider == "offline":
        return openai.OpenAI(
            api_key="offline",  # pragma: allowlist secret
            base_url=offline_model.BASE_URL,
            http_client=httpx.Client(transport=offline_model.transport(settings.offline_model_latency_ms)),
            **limits,
        )
    if settings.provider == "openai":
        if settings.openai_api_key is None:
            raise ConfigError("OPENAI_API_KEY is not set (LLM_PROVIDER=openai needs it).")
        return openai.OpenAI(api_key=settings.openai_api_key.get_secret_value(), **limits)
    return _azure_client(settings, limits)


def _azure_client(settings: Settings, limits: dict) -> openai.AzureOpenAI:
    if not settings.azure_openai_endpoint:
        raise ConfigError("AZURE_OPENAI_ENDPOINT is not set (LLM_PROVIDER=azure_openai needs it).")
    common = {
        "azure_endpoint": settings.azure_openai_endpoint,
        "api_version": settings.azure_openai_api_version,
        **limits,
    }
    if settings.azure_openai_auth == "api_key":
        if settings.azure_openai_api_key is None:
            raise ConfigError("AZURE_OPENAI_API_KEY is not set (AZURE_OPENAI_AUTH=api_key needs it).")
        return openai.AzureOpenAI(api_key=settings.azure_openai_api_key.get_secret_value(), **common)
    from azure.identity import DefaultAzureCredential, get_bearer_token_provider

    token_provider = get_bearer_token_provider(DefaultAzureCredential(), AZURE_SCOPE)
    return openai.AzureOpenAI(azure_ad_token_provider=token_provider, **common)


@lru_cache
def get_client() -> openai.OpenAI:
    return build_client(get_settings())


def chat(
    messages: list[dict[str, str]], temperature: float = 0.0, response_format: dict[str, str] | None = None
) -> Completion:
    """One chat completion, traced as a GenAI client span with its token usage."""
    extra = {"response_format": response_format} if response_format else {}
    settings = get_settings()
    provider = PROVIDER_NAMES[settings.provider]
    temperature_attribute = {"gen_ai.request.temperature": temperature}
    with tracing.model_call("chat", provider, settings.model, **temperature_attribute) as span:
        try:
            response = get_client().chat.completions.create(
                model=settings.model, messages=messages, temperature=temperature, **extra
            )
        except openai.APIError as error:
            raise ModelCallError(describe_failure(settings, error)) from error
        usage = response.usage
        completion = Completion(
            text=response.choices[0].message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )
        tracing.record_usage(span, response.model, completion.prompt_tokens, completion.completion_tokens)
    return completion
