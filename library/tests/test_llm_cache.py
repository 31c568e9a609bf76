"""The response cache: a repeated experiment asks the endpoint nothing, a changed prompt asks only for
its own variant's lines, and --max-cost stops a run before its first call; an entry answers only its
own call, from its own endpoint, in the shape the cache writes. Real HTTP on loopback."""

import json
import logging
import os
import shutil
import threading
from pathlib import Path

import pytest
import yaml
from conftest import copy_flow
from typer.testing import CliRunner

from aiops_platform import llm, session
from aiops_platform.cli import app
from aiops_platform.fake_endpoint import FakeEndpoint
from aiops_platform.settings import Settings

API_KEY = "sk-test-do-not-store-0123456789"  # pragma: allowlist secret
HELLO = [{"role": "user", "content": "Context: The sky is blue.\n\nQuestion: Is the sky blue?"}]
LINES = 3  # per dataset (tiny_experiment)
DATASETS = 2

runner = CliRunner()

FLOW_KIND = "qa"  # the sample project's (conftest.PROJECT_ROOT)


@pytest.fixture
def endpoint():
    with FakeEndpoint() as fake:
        yield fake


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, endpoint: FakeEndpoint):
    """llm.chat and the CLI pointed at the fake endpoint as Azure OpenAI, caching under tmp_path."""

    def use(**overrides) -> Settings:
        settings = Settings(
            **{
                "llm_provider": "azure_openai",
                "azure_openai_endpoint": endpoint.url,
                "azure_openai_auth": "api_key",
                "azure_openai_api_key": API_KEY,
                "llm_timeout_seconds": 5,
                "llm_cache_dir": str(tmp_path / "cache"),
            }
            | overrides
        )
        client = llm.build_client(settings)
        monkeypatch.setattr(llm, "get_settings", lambda: settings)
        monkeypatch.setattr(llm, "get_client", lambda: client)
        monkeypatch.setattr(session, "get_settings", lambda: settings)
        return settings

    return use


@pytest.fixture
def two_variants(tiny_experiment: Path, project_root: Path) -> Path:
    """tiny_experiment with a copy of the shipped flow and two variants (two prompt files)."""
    folder = tiny_experiment.parent
    copy_flow(project_root / "flows" / FLOW_KIND, folder / "flow")
    shutil.copytree(project_root / "monitoring", folder / "monitoring")  # the prices
    data = yaml.safe_load(tiny_experiment.read_text(encoding="utf-8"))
    data["flows"][0]["path"] = "flow"
    data["flows"][0]["variants"] = [
        {"name": "baseline"},
        {"name": "concise", "inputs": {"prompt": f"{FLOW_KIND}_concise.jinja2"}},
    ]
    tiny_experiment.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return tiny_experiment


def _run(experiment: Path, *extra: str):
    output = experiment.parent / "results"
    result = runner.invoke(app, ["experiment", "run", "-f", str(experiment), "--output", str(output), *extra])
    return result, output


def _latest(output: Path) -> dict:
    return json.loads(sorted(output.glob("*/results.json"))[-1].read_text(encoding="utf-8"))


@pytest.mark.slow
def test_a_repeated_run_calls_the_endpoint_zero_times(online, endpoint, two_variants: Path):
    online()
    first, output = _run(two_variants)
    assert first.exit_code == 0, first.output
    runs = 2 * DATASETS * LINES
    assert endpoint.stats()["calls"] == runs
    assert _latest(output)["model_calls"] == {"made": runs, "cached": 0, "tokens_saved": 0}
    assert f"Model calls: {runs} made, 0 answered from the cache" in first.output
    host = endpoint.url.split("://", 1)[1]
    assert _latest(output)["model"] == {"provider": "azure_openai", "model": "gpt-4o-mini", "endpoint": host}

    second, _ = _run(two_variants)
    assert second.exit_code == 0, second.output
    assert endpoint.stats()["calls"] == runs  # not one more
    saved = _latest(output)
    assert saved["model_calls"]["made"] == 0
    assert saved["model_calls"]["cached"] == runs
    assert saved["model_calls"]["tokens_saved"] > 0
    assert saved["runs"][0]["stats"]["input_tokens"] > 0  # the stats don't depend on the cache

    prompt = two_variants.parent / "flow" / f"{FLOW_KIND}_concise.jinja2"
    prompt.write_text(prompt.read_text(encoding="utf-8") + "\nAnswer in one sentence.\n", encoding="utf-8")
    third, _ = _run(two_variants)
    assert third.exit_code == 0, third.output
    assert endpoint.stats()["calls"] == runs + DATASETS * LINES  # only the concise variant's lines
    assert _latest(output)["model_calls"] == {
        "made": DATASETS * LINES,
        "cached": DATASETS * LINES,
        "tokens_saved": _latest(output)["model_calls"]["tokens_saved"],
    }


def test_every_parameter_is_part_of_the_key_and_no_credential_is(online, endpoint, tmp_path: Path):
    online()
    answers = [llm.chat(HELLO, temperature=0.0), llm.chat(HELLO, temperature=0.7), llm.chat(HELLO)]
    json_format = llm.chat(HELLO, response_format={"type": "json_object"})
    assert endpoint.stats()["calls"] == 3  # the third is the first again
    assert answers[2] == answers[0] and json_format.text
    files = sorted((tmp_path / "cache").glob("*.json"))
    assert len(files) == 3
    for file in files:
        text = file.read_text(encoding="utf-8")
        entry = json.loads(text)
        assert API_KEY not in text
        assert entry["key"]["endpoint"] == endpoint.url
        assert entry["key"]["model"] == "gpt-4o-mini" and entry["key"]["api_version"]
        assert file.stem == llm.ResponseCache.digest(entry["key"])
    assert not list((tmp_path / "cache").glob("*.tmp"))
    temperatures = {
        json.loads(f.read_text(encoding="utf-8"))["key"]["parameters"]["temperature"] for f in files
    }
    assert temperatures == {0.0, 0.7}


@pytest.mark.parametrize(
    ("provider", "paths"),
    [
        ("openai", ("/v1", "/proxy/v1")),  # two OpenAI-compatible services behind one gateway
        ("azure_openai", ("", "/eu")),  # two Azure OpenAI resources behind one host
    ],
)
def test_two_endpoints_on_one_host_keep_their_own_answers(online, endpoint, tmp_path, provider, paths):
    where = "openai_base_url" if provider == "openai" else "azure_openai_endpoint"
    urls = [f"{endpoint.url}{path}" for path in paths]
    for url in [*urls, urls[0]]:
        online(llm_provider=provider, openai_api_key=API_KEY, **{where: url})
        llm.chat(HELLO)
    assert endpoint.stats()["calls"] == 2  # each asked once; the third is the first again
    entries = [json.loads(file.read_bytes()) for file in (tmp_path / "cache").glob("*.json")]
    assert sorted(entry["key"]["endpoint"] for entry in entries) == sorted(urls)


def test_an_endpoint_is_one_key_however_written_and_never_with_its_credentials(online, endpoint, tmp_path):
    """Case, default port and trailing slash don't matter; user, password, query and fragment (which
    may hold a key) are left out of the key and the file."""
    spellings = [
        "HTTPS://Example.OPENAI.azure.com:443/",
        "https://user:s3cret-pass@example.openai.azure.com/?api-key=k3y#k3y",  # pragma: allowlist secret
        "https://example.openai.azure.com",
    ]
    keys = {llm.endpoint_url(online(azure_openai_endpoint=spelling)) for spelling in spellings}
    assert keys == {"https://example.openai.azure.com"}
    host, port = endpoint.url.removeprefix("http://").split(":")
    online(azure_openai_endpoint=f"http://user:s3cret-pass@{host}:{port}/")  # pragma: allowlist secret
    llm.chat(HELLO)
    (entry,) = (tmp_path / "cache").glob("*.json")
    assert "s3cret" not in entry.read_text(encoding="utf-8")
    assert json.loads(entry.read_bytes())["key"]["endpoint"] == endpoint.url


def _entry(tmp_path: Path, **parameters) -> Path:
    """The cache file of HELLO asked with these parameters, by the settings in use."""
    key = llm.cache_key(llm.get_settings(), HELLO, {"temperature": 0.0} | parameters)
    return tmp_path / "cache" / f"{llm.ResponseCache.digest(key)}.json"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == llm.__name__]


def test_an_entry_answers_only_the_call_it_was_saved_for(online, endpoint, tmp_path, caplog):
    online()
    llm.chat(HELLO)
    llm.chat(HELLO, temperature=0.7)
    shutil.copyfile(_entry(tmp_path), _entry(tmp_path, temperature=0.7))  # one answer under another name
    with caplog.at_level(logging.WARNING, logger=llm.__name__):
        llm.chat(HELLO, temperature=0.7)
    assert endpoint.stats()["calls"] == 3  # asked again, not answered by the copy
    assert _warnings(caplog) == [
        f"Ignored and removed cached answer {_entry(tmp_path, temperature=0.7)}: it was saved for another "
        "call; the model is asked again"
    ]
    saved = json.loads(_entry(tmp_path, temperature=0.7).read_text(encoding="utf-8"))
    assert saved["key"]["parameters"] == {"temperature": 0.7}  # written again, under its own key


def _edited(**changes):
    """A damage: the entry with these fields changed (None: removed)."""

    def damage(content: bytes) -> bytes:
        entry = json.loads(content) | changes
        return json.dumps({name: value for name, value in entry.items() if value is not None}).encode()

    return damage


DAMAGES = {
    "truncated": lambda content: content[: len(content) // 2],
    "not UTF-8": lambda _: b"\xff\xfe{}",
    "a list": lambda _: b"[]",
    "null": lambda _: b"null",
    "nested beyond reason": lambda _: b"[" * 100_000 + b"]" * 100_000,
    "text not text": _edited(text=5),
    "tokens as text": _edited(prompt_tokens="12"),
    "tokens as a truth value": _edited(completion_tokens=True),
    "negative tokens": _edited(completion_tokens=-1),
    "fractional tokens": _edited(prompt_tokens=1.5),
    "no key": _edited(key=None),
    "key not an object": _edited(key="any"),
    "key of another call": _edited(key={"messages": [{"role": "user", "content": "Something else?"}]}),
    "key no UTF-8 holds": _edited(key={"messages": "\ud800"}),
    "no saved time": _edited(saved=None),
}


@pytest.mark.parametrize("damage", DAMAGES)
def test_a_damaged_entry_is_a_miss_never_an_answer_nor_a_crash(online, endpoint, tmp_path, caplog, damage):
    online()
    answer = llm.chat(HELLO)
    entry = _entry(tmp_path)
    entry.write_bytes(DAMAGES[damage](entry.read_bytes()))
    with caplog.at_level(logging.WARNING, logger=llm.__name__):
        assert llm.chat(HELLO) == answer  # asked again
        assert llm.chat(HELLO) == answer  # and answered by the entry written then
    assert endpoint.stats()["calls"] == 2
    (warning,) = _warnings(caplog)
    assert warning.startswith(f"Ignored and removed cached answer {entry}: ") and "\n" not in warning


@pytest.mark.parametrize("made", ["a named pipe", "a link to a device", "larger than an entry can be"])
def test_a_hand_made_entry_that_is_no_file_is_a_miss_never_a_hang(online, endpoint, tmp_path, caplog, made):
    """Read forever (a link to /dev/zero), never opened (a named pipe), or no answer's size: each is
    refused before it is read, and the call asks the model."""
    online()
    answer = llm.chat(HELLO)
    entry = _entry(tmp_path)
    saved = entry.read_bytes()
    entry.unlink()
    if made == "a named pipe":
        os.mkfifo(entry)
    elif made == "a link to a device":
        entry.symlink_to("/dev/zero")
    else:
        entry.write_bytes(saved + b" " * llm.ENTRY_LIMIT_BYTES)
    answered = []
    with caplog.at_level(logging.WARNING, logger=llm.__name__):
        call = threading.Thread(target=lambda: answered.append(llm.chat(HELLO)), daemon=True)
        call.start()
        call.join(timeout=60)  # a guard against a hang, not a measure: the call ends at once
    assert answered == [answer] and endpoint.stats()["calls"] == 2
    (warning,) = _warnings(caplog)
    assert warning.startswith(f"Ignored and removed cached answer {entry}: ") and entry.is_file()


def test_refresh_calls_again_and_off_neither_reads_nor_writes(online, endpoint, tmp_path: Path):
    online()
    llm.chat(HELLO)
    online(llm_cache="refresh")
    llm.chat(HELLO)
    assert endpoint.stats()["calls"] == 2
    online(llm_cache="off")
    llm.chat(HELLO)
    assert endpoint.stats()["calls"] == 3
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1


def test_the_offline_model_bypasses_the_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    settings = Settings(llm_provider="offline", llm_cache_dir=str(tmp_path / "cache"))
    assert llm.response_cache(settings) is None
    monkeypatch.setattr(llm, "get_settings", lambda: settings)
    before = llm.CALLS.snapshot()
    llm.chat(HELLO)
    assert llm.CALLS.since(before).made == 1
    assert not (tmp_path / "cache").exists()


@pytest.mark.slow
def test_max_cost_below_the_estimate_refuses_before_any_call(online, endpoint, two_variants: Path):
    online()
    result, output = _run(two_variants, "--max-cost", "0.0000001")
    assert result.exit_code == 2, result.output
    assert "Estimate: 12 model calls to gpt-4o-mini" in result.output
    assert "exceeds --max-cost 1e-07; nothing ran" in result.output
    assert "USD (the cache is ignored: an upper bound)" in result.output
    assert endpoint.stats()["calls"] == 0
    assert not output.exists()
    allowed, _ = _run(two_variants, "--max-cost", "5")
    assert allowed.exit_code == 0, allowed.output


def test_prune_keeps_the_answers_a_recent_run_read_and_drops_the_rest(online, endpoint, tmp_path: Path):
    """What CI runs before saving its cache: answers of prompts no longer asked go, read ones stay."""
    online()
    llm.chat(HELLO)
    llm.chat(HELLO, temperature=0.7)  # a prompt the next run no longer asks
    long_ago = 10 * 86400
    for entry in (tmp_path / "cache").glob("*.json"):
        os.utime(entry, (entry.stat().st_atime - long_ago, entry.stat().st_mtime - long_ago))
    llm.chat(HELLO)  # this run: answered from the cache, which marks the entry used
    assert endpoint.stats()["calls"] == 2

    pruned = runner.invoke(app, ["cache", "prune", "--unused-for", "1h"])
    assert pruned.exit_code == 0, pruned.output
    assert "Removed 1 cached answers unused for 1h; kept 1" in pruned.output
    llm.chat(HELLO)
    assert endpoint.stats()["calls"] == 2  # the answer this run read survived
    stats = runner.invoke(app, ["cache", "stats"])
    assert stats.output.startswith("1 cached answers")
    assert runner.invoke(app, ["cache", "prune", "--unused-for", "a week"]).exit_code == 2
    cleared = runner.invoke(app, ["cache", "clear"])
    assert "Removed 1 cached answers" in cleared.output and not list((tmp_path / "cache").glob("*.json"))
