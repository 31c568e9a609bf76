"""The local data-asset registry mirrors Azure ML: name:version, new versions only on new content."""

from pathlib import Path

import pytest
import yaml
from conftest import PROJECT_ROOT, sample_project
from typer.testing import CliRunner

from aiops_platform import governance
from aiops_platform.cli import app
from aiops_platform.experiment import ExperimentError, load, resolve_assets
from aiops_platform.paths import REGISTRY as REGISTRY_DIR
from aiops_platform.registry import LocalRegistry, RegistryError, load_specs
from aiops_platform.settings import get_settings

PREFIX = governance.load(PROJECT_ROOT).use_case.lower()  # assets are named <use case>_<dataset>
CORE, HARD = f"{PREFIX}_core_qa", f"{PREFIX}_hard_qa"
# The data sets each flow kind ships with a spec, in file order. The safety set's spec names the
# attacks in flows/eval_safety/safety.jsonl; a chat flow adds its multi-turn conversations.
DATASETS = {
    "qa": ["core_qa", "hard_qa", "safety"],
    "chat": ["core_qa", "hard_qa", "multi_turn_qa", "safety"],
    "rag": ["core_qa", "hard_qa", "safety"],
}
FIRST_VERSIONS = {f"{PREFIX}_{name}": ["1"] for name in DATASETS["qa"]}
MISSING = ["ground_truth"]  # the columns a qa flow's data needs beyond question and context
runner = CliRunner()


def _register(*extra: str):
    return runner.invoke(app, ["register", "data", "--target", "local", *extra])


def _versions(root: Path) -> dict[str, list[str]]:
    return {name: [v.version for v in versions] for name, versions in LocalRegistry(root).versions().items()}


@pytest.mark.parametrize("kind", DATASETS)
def test_every_data_spec_loads_with_azure_ml_own_loader(kind: str):
    specs = load_specs(sample_project(kind) / "data")
    expected = [(f"{PREFIX}_{name}", "uri_file", f"{name}.jsonl") for name in DATASETS[kind]]
    assert [(s.name, s.type, s.path.name) for s in specs] == expected


def test_registering_twice_changes_nothing(project_copy: Path):
    assert _register().exit_code == 0
    index = (project_copy / REGISTRY_DIR / "index.json").read_bytes()
    second = _register()
    assert second.exit_code == 0
    assert "new version" not in second.output
    assert (project_copy / REGISTRY_DIR / "index.json").read_bytes() == index
    assert _versions(project_copy) == FIRST_VERSIONS


def test_editing_one_dataset_bumps_only_that_asset(project_copy: Path):
    _register()
    data = project_copy / "data/hard_qa.jsonl"
    original = data.read_text(encoding="utf-8")
    edited = original.replace('"ground_truth": "', '"ground_truth": "four times a year, ', 1)
    data.write_text(edited, encoding="utf-8")
    _register()
    assert _versions(project_copy) == FIRST_VERSIONS | {HARD: ["1", "2"]}
    registry = LocalRegistry(project_copy)
    assert registry.resolve(f"azureml:{HARD}:1").read_text(encoding="utf-8") == original
    assert "four times a year" in registry.resolve(f"azureml:{HARD}@latest").read_text(encoding="utf-8")


def _reference_dataset(project_copy: Path, reference: str) -> Path:
    spec = yaml.safe_load((project_copy / "experiment.yaml").read_text(encoding="utf-8"))
    spec["datasets"][0]["path"] = reference
    (project_copy / "experiment.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return project_copy / "experiment.yaml"


def test_experiment_datasets_can_be_registered_asset_references(project_copy: Path):
    _register()
    experiment = load(_reference_dataset(project_copy, f"azureml:{CORE}:1"))
    experiment = resolve_assets(experiment, LocalRegistry(project_copy))
    assert experiment.datasets[0].path == project_copy / REGISTRY_DIR / "data" / CORE / "1" / "core_qa.jsonl"
    result = runner.invoke(app, ["data", "validate"])  # reads the data: resolves through the local registry
    assert result.exit_code == 0, result.output


def test_an_unregistered_reference_is_a_clear_error_when_the_data_is_read(project_copy: Path):
    experiment = load(_reference_dataset(project_copy, f"azureml:{CORE}:7"))  # validation asks no registry
    with pytest.raises(ExperimentError, match=rf"datasets\[0\]\.path: .*azureml:{CORE}:7 is not registered"):
        resolve_assets(experiment, LocalRegistry(project_copy))
    with pytest.raises(RegistryError, match="not azureml:<name>:<version>"):
        LocalRegistry(project_copy).resolve("azureml:bad name")


def test_a_malformed_reference_is_a_schema_error(project_copy: Path):
    with pytest.raises(ExperimentError, match=r"datasets\[0\]\.path: .*not azureml:<name>:<version>"):
        load(_reference_dataset(project_copy, f"azureml:{CORE}:latest"))


def test_workspace_references_validate_offline(project_copy: Path, monkeypatch: pytest.MonkeyPatch):
    """REGISTRY_TARGET=azureml, no local registry, no login: validation needs none of them."""
    monkeypatch.setenv("REGISTRY_TARGET", "azureml")
    get_settings.cache_clear()
    try:
        _reference_dataset(project_copy, f"azureml:{CORE}:3")
        assert load(project_copy / "experiment.yaml").datasets[0].is_asset
        result = runner.invoke(app, ["experiment", "validate"])
        assert result.exit_code == 0, result.output
        assert not (project_copy / REGISTRY_DIR).exists()
    finally:
        get_settings.cache_clear()


class _FakeWorkspace:
    """A registry target that records what it is asked: resolution goes through the chosen target."""

    def __init__(self, copy: Path) -> None:
        self.copy, self.asked = copy, []

    def resolve(self, reference: str) -> Path:
        self.asked.append(reference)
        return self.copy


def test_references_resolve_through_the_chosen_registry_target(project_copy: Path):
    experiment = load(_reference_dataset(project_copy, f"azureml:{CORE}@latest"))
    workspace = _FakeWorkspace(project_copy / "data/core_qa.jsonl")
    resolved = resolve_assets(experiment, workspace)
    assert workspace.asked == [f"azureml:{CORE}@latest"]
    assert resolved.datasets[0].path == project_copy / "data/core_qa.jsonl"
    assert resolved.datasets[1] == experiment.datasets[1]  # a file stays as it is


@pytest.mark.parametrize(
    ("broken_line", "message"),
    [
        ('{"id": "x", "question": "q", "context": "c"', "hard_qa.jsonl:1: not valid JSON"),
        ('{"id": "x", "question": "q", "context": "c"}', f"hard_qa.jsonl:1: missing columns {MISSING}"),
    ],
    ids=["malformed-jsonl", "missing-column"],
)
def test_bad_data_registers_nothing(project_copy: Path, broken_line: str, message: str):
    (project_copy / "data/hard_qa.jsonl").write_text(broken_line + "\n", encoding="utf-8")
    result = _register()
    assert result.exit_code == 1
    assert "nothing registered" in result.output and message in result.output
    assert not (project_copy / REGISTRY_DIR).exists()


def test_azure_target_without_credentials_fails_clearly_and_writes_nothing(
    project_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "99999999-1111-2222-3333-444444444444")  # not the placeholder
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["register", "data", "--target", "azureml"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "no Azure credentials" in result.output and "az login" in result.output
    assert not (project_copy / REGISTRY_DIR).exists()
