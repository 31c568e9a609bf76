"""governance.yaml: what the use case agreed, read where it applies. Data goes to Azure only in an
agreed region; a broken file is one line naming it; records and cards carry the agreement."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from conftest import PROJECT_ROOT, TEMPLATE, sample_project
from typer.testing import CliRunner

from aiops_platform import governance, registry, release, system_card
from aiops_platform.cli import app

runner = CliRunner()


def agreement(root: Path, **changes: object) -> Path:
    """The project's own governance.yaml in `root`, with `changes` applied."""
    shipped = PROJECT_ROOT / governance.FILE
    agreed = yaml.safe_load(shipped.read_text(encoding="utf-8"))
    (root / governance.FILE).write_text(yaml.safe_dump({**agreed, **changes}), encoding="utf-8")
    return root


ANSWERED = {  # answers unlike the defaults, so that each one is seen to reach governance.yaml
    "use_case_code": "CMC",
    "owner_team": "qc-analytics",
    "ci_provider": "azure_devops",
    "data_classification": "confidential",
    "data_residency": "westeurope, northeurope",
    "gxp_relevant": True,
    "approvers_test": "carol@example.com",
    "approvers_prod": "alice@example.com, [CMC]\\Release Approvers",
}


def _defaults() -> dict[str, object]:
    """cookiecutter.json's answers as `--no-input` takes them: a choice's first option."""
    answers = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
    return {key: value[0] if isinstance(value, list) else value for key, value in answers.items()}


@pytest.mark.parametrize("answers", [{}, ANSWERED], ids=["defaults", "answered"])
def test_the_shipped_file_is_valid_and_says_what_the_answers_said(answers: dict[str, object]):
    given = {**_defaults(), **answers}
    agreed = governance.load(sample_project(**answers))
    assert agreed.use_case == given["use_case_code"] and agreed.owner == given["owner_team"]
    assert agreed.ci_provider == given["ci_provider"]
    assert agreed.data_classification == given["data_classification"]
    regions = [] if given["data_residency"] == "any" else str(given["data_residency"]).split(", ")
    assert agreed.data_residency == regions
    assert agreed.gxp_relevant is given["gxp_relevant"]
    assert set(agreed.environments) == set(governance.ENVIRONMENTS)
    for name in ("test", "prod"):
        named = str(given[f"approvers_{name}"])
        assert agreed.policy(name).approvers == ([who.strip() for who in named.split(",")] if named else [])
    if agreed.gxp_relevant:  # generation refuses a GxP-relevant use case without these
        assert all(agreed.policy(name).approvers for name in ("test", "prod"))
        assert all(agreed.policy(name).prevent_self_review for name in ("test", "prod"))


@pytest.mark.parametrize(
    ("region", "allowed"),
    [("westeurope", True), ("West Europe", True), ("northeurope", True), ("eastus", False), ("", False)],
)
def test_only_an_agreed_region_passes_and_azure_s_display_names_count(
    tmp_path: Path, region: str, allowed: bool
):
    agreed = governance.load(agreement(tmp_path, data_residency=["westeurope", "northeurope"]))
    if allowed:
        governance.check_region(region, "workspace w", agreed)
        return
    with pytest.raises(governance.ResidencyError) as refused:
        governance.check_region(region, "workspace w", agreed)
    message = str(refused.value)
    assert "\n" not in message and "workspace w" in message and "westeurope, northeurope" in message
    assert (region in message) if region else "unknown" in message


def test_any_region_passes_when_no_residency_was_agreed(tmp_path: Path):
    governance.check_region("eastus", "workspace w", governance.load(agreement(tmp_path, data_residency=[])))
    governance.check_region(None, "workspace w", governance.load(agreement(tmp_path, data_residency=[])))


@pytest.mark.parametrize(
    ("content", "named"),
    [
        (None, "governance.yaml: missing"),
        ("gxp_relevant: [", "governance.yaml: "),
        ("data_classification: secret", "data_classification"),
    ],
    ids=["missing", "not-yaml", "unknown-classification"],
)
def test_a_missing_or_broken_file_is_one_line_naming_it(tmp_path: Path, content: str | None, named: str):
    if content is not None:
        agreement(tmp_path)
        text = (tmp_path / governance.FILE).read_text(encoding="utf-8")
        key = content.split(":")[0]
        kept = [line for line in text.splitlines() if not line.startswith(f"{key}:")]
        (tmp_path / governance.FILE).write_text("\n".join([*kept, content]) + "\n", encoding="utf-8")
    with pytest.raises(governance.GovernanceError) as broken:
        governance.load(tmp_path)
    assert "\n" not in str(broken.value) and named in str(broken.value)


class Workspace:
    """Azure ML's client as far as registration uses it, in a region of our choosing: nothing may
    be read or written in a workspace outside the agreed regions."""

    workspace_name = "mlw-elsewhere"

    def __init__(self, region: str) -> None:
        self.workspaces = SimpleNamespace(get=lambda name: SimpleNamespace(location=region))
        self.data = SimpleNamespace(get=self.refuse, create_or_update=self.refuse)

    @staticmethod
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("data reached a workspace outside the agreed regions")


def test_data_is_not_registered_in_a_workspace_outside_the_agreed_regions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    agreement(tmp_path, data_residency=["westeurope"])
    (tmp_path / "experiment.yaml").write_text("name: x\n", encoding="utf-8")  # marks the project root
    monkeypatch.chdir(tmp_path)
    data = tmp_path / "core_qa.jsonl"
    data.write_text('{"id": "1"}\n', encoding="utf-8")
    spec = registry.DataSpec("core_qa", "uri_file", data, "one line", tmp_path / "core_qa.yml")
    target = registry.AzureMLRegistry(Workspace("East US"), tmp_path)
    with pytest.raises(registry.RegistryError) as refused:
        target.register(spec, registry.content_hash(data))
    assert "Azure ML workspace mlw-elsewhere is in East US" in str(refused.value)


def test_every_record_carries_the_agreement_and_a_diff_names_a_changed_one(small_project: Path):
    agreement(small_project)
    arguments = ["experiment", "run", "--gate", "-f", str(small_project / "experiment.yaml")]
    records = []
    for output, approvers in (("one", []), ("two", ["qa-lead"])):
        agreed = yaml.safe_load((small_project / governance.FILE).read_text(encoding="utf-8"))
        agreed["environments"]["prod"]["approvers"] = approvers
        (small_project / governance.FILE).write_text(yaml.safe_dump(agreed), encoding="utf-8")
        result = runner.invoke(app, [*arguments, "--output", str(small_project / output)])
        assert result.exit_code == 0, result.output
        (record,) = (small_project / output).glob("*/release.json")
        records.append(release.read(record))
    assert records[1].agreed == governance.load(small_project)  # the file as the run read it
    assert records[0].agreed is not None and records[0].agreed.environments["prod"].approvers == []
    changes = release.diff(*records)
    assert [line.split(":")[0] for line in changes if line.startswith("agreed ")] == ["agreed environments"]
    shown = runner.invoke(app, ["release", "show", str(next((small_project / "two").glob("*/release.json")))])
    assert f"{records[1].agreed.data_classification} data, {records[1].agreed.residency}" in shown.output
    card = next((small_project / "two").glob(f"*/{system_card.CARD}")).read_text(encoding="utf-8")
    assert "## Governance" in card and "- Approves prod: qa-lead" in card


def test_a_broken_agreement_stops_the_experiment_before_anything_runs(small_project: Path):
    (small_project / governance.FILE).write_text("gxp_relevant: maybe\n", encoding="utf-8")
    arguments = ["experiment", "run", "-f", str(small_project / "experiment.yaml")]
    result = runner.invoke(app, [*arguments, "--output", str(small_project / "out")])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error governance.yaml: ")
    assert not (small_project / "out").exists()


def test_a_record_from_before_governance_yaml_existed_still_loads(small_project: Path, tmp_path: Path):
    (small_project / governance.FILE).unlink()  # as in a project generated before it existed
    result = runner.invoke(
        app,
        ["experiment", "run", "-f", str(small_project / "experiment.yaml"), "--output", str(tmp_path / "o")],
    )
    assert result.exit_code == 0, result.output
    (record,) = (tmp_path / "o").glob("*/release.json")
    assert release.read(record).agreed is None
    card = (record.parent / system_card.CARD).read_text(encoding="utf-8")
    assert f"owner {system_card.NOT_ON_RECORD}" in card and "## Governance\n\n- Not on record" in card
