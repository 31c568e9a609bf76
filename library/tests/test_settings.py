"""Provider selection: offline unless configured, and clear errors naming missing variables."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import answers_into

from aiops_platform import project
from aiops_platform.llm import ConfigError, build_client
from aiops_platform.settings import Settings, get_settings


def test_auto_stays_offline_without_endpoint_or_key():
    assert Settings(llm_provider="auto").provider == "offline"


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch):
    """`.env.example` copied as is leaves `KEY=` lines: they must not enable anything."""
    for name in ("AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_API_KEY", "APPLICATIONINSIGHTS_CONNECTION_STRING"):
        monkeypatch.setenv(name, "")
    settings = Settings(llm_provider="auto")
    assert settings.provider == "offline"
    assert settings.azure_openai_api_key is None and settings.applicationinsights_connection_string is None


def test_a_copy_of_env_example_stays_offline(project_root: Path, monkeypatch: pytest.MonkeyPatch):
    """It names the endpoint given at generation, commented out: a copy must not go online."""
    monkeypatch.delenv("LLM_PROVIDER")  # set by conftest; here the copy's own `auto` decides
    example = project_root / ".env.example"
    settings = Settings(_env_file=example)
    assert settings.llm_provider == "auto" and settings.azure_openai_endpoint is None
    assert settings.provider == "offline"
    commented = f"# AZURE_OPENAI_ENDPOINT={project.load(project_root).model.azure_openai_endpoint}\n"
    assert commented in example.read_text(encoding="utf-8")


@pytest.mark.parametrize("configured", ["azure_openai", "openai"])
def test_auto_goes_online_once_the_configured_provider_is_set_up(configured: str):
    online = Settings(
        llm_provider="auto",
        configured_provider=configured,
        azure_openai_endpoint="https://x.openai.azure.com/",
        openai_api_key="sk-test",  # pragma: allowlist secret
    )
    assert online.provider == configured


@pytest.mark.parametrize("provider", ["azure_openai", "openai"])
def test_the_configured_provider_is_the_projects_answer(
    provider: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """aiops.yaml's model.provider, the provider `auto` goes online with."""
    answers_into(tmp_path)
    answers = yaml.safe_load((tmp_path / project.FILE).read_text(encoding="utf-8"))
    answers["model"]["provider"] = provider
    (tmp_path / project.FILE).write_text(yaml.safe_dump(answers), encoding="utf-8")
    (tmp_path / "experiment.yaml").write_text("name: scratch\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    try:
        assert get_settings().configured_provider == provider
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        (Settings(llm_provider="azure_openai"), "AZURE_OPENAI_ENDPOINT"),
        (
            Settings(
                llm_provider="azure_openai",
                azure_openai_endpoint="https://x.openai.azure.com/",
                azure_openai_auth="api_key",
            ),
            "AZURE_OPENAI_API_KEY",
        ),
        (Settings(llm_provider="openai"), "OPENAI_API_KEY"),
    ],
    ids=["azure-endpoint", "azure-api-key", "openai-key"],
)
def test_missing_setting_is_an_error_naming_the_variable(settings: Settings, variable: str):
    with pytest.raises(ConfigError, match=variable):
        build_client(settings)


def test_online_clients_have_explicit_timeout_and_bounded_retries():
    settings = Settings(
        llm_provider="azure_openai",
        azure_openai_endpoint="https://x.openai.azure.com/",
        azure_openai_auth="api_key",
        azure_openai_api_key="not-a-real-key",  # pragma: allowlist secret
        llm_timeout_seconds=7,
        llm_max_retries=2,
    )
    client = build_client(settings)
    assert client.timeout == 7
    assert client.max_retries == 2
