"""`make template-update-pr`: the pull request's content (CHANGELOG entries, conflicts) and the one
pull request it opens or updates on GitHub or Azure DevOps.

The git and cruft side runs in the template's own tests (two generated projects, local remotes);
here: the pieces, and the platforms' APIs, as a loopback stand-in records them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import JsonHandler, LoopbackServer
from typer.testing import CliRunner

from {{ cookiecutter.package_name }} import template_update
from {{ cookiecutter.package_name }}.cli import app
from {{ cookiecutter.package_name }}.template_update import (
    OURS,
    SEPARATOR,
    THEIRS,
    Conflict,
    Update,
    UpdateError,
)

TOKEN = "ghs_not-a-real-token-0123456789"  # pragma: allowlist secret
OLD = """# Changelog

## Unreleased

- Faster gate.
  Second line of the same entry.

## 0.2.0

- Old entry.
"""
NEW = """# Changelog

## Unreleased

- Conflict check in make lint.

## 0.3.0

- Faster gate.
  Second line of the same entry.
- Reports show p95 latency.

## 0.2.0

- Old entry.
"""


def test_changelog_entries_between_two_commits_are_the_new_ones_under_their_headings():
    assert template_update.new_entries(OLD, NEW) == [
        ("Unreleased", ["- Conflict check in make lint."]),
        ("0.3.0", ["- Reports show p95 latency."]),  # "Faster gate" only moved from Unreleased
    ]
    assert template_update.new_entries(None, "## 0.1.0\n\n- First.\n") == [("0.1.0", ["- First."])]
    assert template_update.new_entries(NEW, NEW) == []


def test_the_release_is_the_newest_version_heading_and_says_when_entries_wait():
    assert template_update.release(OLD) == "0.2.0+unreleased"
    assert template_update.release(NEW.replace("- Conflict check in make lint.\n", "")) == "0.3.0"
    assert template_update.release("# Changelog\n") is None
    assert template_update.release(None) is None


def test_conflict_markers_and_rejected_hunks_are_named_with_their_lines(tmp_path: Path):
    (tmp_path / "experiment.yaml").write_text(
        f"name: x\n{OURS}\nconcurrency: 4\n{SEPARATOR}\nconcurrency: 12\n{THEIRS}\n", encoding="utf-8"
    )
    (tmp_path / "Makefile.rej").write_text("--- a/Makefile\n+++ b/Makefile\n@@ -40,3 +40,4 @@\n x\n", "utf-8")
    (tmp_path / "clean.py").write_text(f"x = 1  # {SEPARATOR} is fine inside a line\n", encoding="utf-8")
    found = template_update.find_conflicts(tmp_path, ["experiment.yaml", "Makefile.rej", "clean.py", "gone"])
    assert found == [
        Conflict("Makefile", (40,), rejected="Makefile.rej"),
        Conflict("experiment.yaml", (2,)),
    ]
    assert str(found[1]) == f"experiment.yaml (line 2): conflict markers {OURS} / {SEPARATOR} / {THEIRS}"


def _update(conflicts: list[Conflict] | None = None) -> Update:
    update = Update(
        "conflicts" if conflicts else "updated",
        "https://example.invalid/template.git",
        "a" * 40,
        "b" * 40,
        old_release="0.2.0",
        new_release="0.3.0",
        behind=3,
        entries=[("0.3.0", ["- Reports show p95 latency."])],
        changed=[("M", ".gitignore"), ("M", "experiment.yaml")],
        conflicts=conflicts or [],
        base="main",
        commit="c" * 40,
    )
    update.body = template_update.body(update)
    return update


def test_the_body_lists_entries_files_and_conflicts():
    body = _update([Conflict("experiment.yaml", (6,))]).body
    assert "from template commit `aaaaaaa` (0.2.0) to `bbbbbbb` (0.3.0), 3 template commits" in body
    assert "### ❌ 1 conflict: resolve before merging" in body
    assert "- `experiment.yaml`, line 6: conflict markers" in body
    assert "#### 0.3.0\n\n- Reports show p95 latency." in body
    assert "- modified `experiment.yaml`" in body
    assert "### ✅ No conflicts" in _update().body


class Forge(LoopbackServer):
    """GitHub's pulls and statuses, Azure DevOps' pull requests, iterations and statuses, in memory."""

    def __init__(self, refuse: int | None = None) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.open: list[dict[str, Any]] = []
        self.refuse = refuse
        forge = self

        class Handler(JsonHandler):
            def _answer(self) -> None:
                payload = self.json_body()
                forge.requests.append((self.command, self.path, payload))
                self.send_json(*forge.answer(self.command, self.path, payload))

            do_GET = do_POST = do_PATCH = _answer

        super().__init__(Handler)

    def answer(self, method: str, path: str, payload: Any) -> tuple[int, Any]:
        if self.refuse:
            return self.refuse, {"message": "Resource not accessible by integration"}
        if "/pullrequests?" in path.lower() and method == "GET":
            return 200, {"value": [{"pullRequestId": pr["number"]} for pr in self.open]}
        if path.endswith("/iterations?api-version=7.1"):
            return 200, {"value": [{"id": 1}, {"id": 2}]}
        if method == "GET":
            return 200, list(self.open)
        if method == "POST" and "statuses" not in path:
            self.open.append({"number": 7})
            return 201, {"number": 7, "pullRequestId": 7}
        return 200, {}


def _github(forge: Forge) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "team/qa",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": forge.url,
    }


def test_github_opens_one_pull_request_then_updates_it_and_sets_the_conflict_status():
    with Forge() as forge:
        first = template_update.open_pull_request(
            _update([Conflict("experiment.yaml", (6,))]), _github(forge)
        )
        second = template_update.open_pull_request(_update(), _github(forge))
    assert first == "opened pull request #7 (team/qa), status template-update: failure"
    assert second == "updated pull request #7 (team/qa), status template-update: success"
    calls = [(method, path.split("?")[0]) for method, path, _ in forge.requests]
    assert calls == [
        ("GET", "/repos/team/qa/pulls"),
        ("POST", "/repos/team/qa/pulls"),
        ("POST", f"/repos/team/qa/statuses/{'c' * 40}"),
        ("GET", "/repos/team/qa/pulls"),
        ("PATCH", "/repos/team/qa/pulls/7"),
        ("POST", f"/repos/team/qa/statuses/{'c' * 40}"),
    ]
    assert "head=team:template-update&state=open" in forge.requests[0][1]
    opened = forge.requests[1][2]
    assert opened["head"] == "template-update" and opened["base"] == "main" and "❌" in opened["body"]
    assert (
        forge.requests[2][2]["state"] == "failure"
        and "experiment.yaml" in forge.requests[2][2]["description"]
    )


def test_azure_devops_opens_one_pull_request_and_marks_the_latest_iteration():
    env = {
        "TF_BUILD": "True",
        "SYSTEM_COLLECTIONURI": "",
        "SYSTEM_TEAMPROJECT": "Quality",
        "BUILD_REPOSITORY_ID": "repo-id",
        "SYSTEM_ACCESSTOKEN": TOKEN,
    }
    with Forge() as forge:
        env["SYSTEM_COLLECTIONURI"] = f"{forge.url}/org/"
        message = template_update.open_pull_request(
            _update([Conflict("Makefile", (40,), "Makefile.rej")]), env
        )
    assert message == "opened pull request 7 (repo-id), status template-update/conflicts: failed"
    paths = [path for _, path, _ in forge.requests]
    assert "searchCriteria.sourceRefName=refs/heads/template-update" in paths[0]
    assert forge.requests[1][2]["targetRefName"] == "refs/heads/main"
    status = forge.requests[-1][2]
    assert status["state"] == "failed" and status["iterationId"] == 2
    assert status["context"] == {"name": "conflicts", "genre": "template-update"}


def test_a_refusal_is_one_line_naming_the_fix_without_the_token():
    with Forge(refuse=403) as forge, pytest.raises(UpdateError) as refused:
        template_update.open_pull_request(_update(), _github(forge))
    message = str(refused.value)
    assert "403 Resource not accessible by integration" in message and "pull-requests: write" in message
    assert TOKEN not in message and "\n" not in message


def test_outside_ci_the_pull_request_is_left_to_a_person():
    with pytest.raises(UpdateError, match="open the pull request from template-update by hand"):
        template_update.open_pull_request(_update(), {})


def test_an_unlinked_project_is_told_how_to_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["template", "update-pr"])
    assert result.exit_code == 2
    assert "not linked to the template" in result.output and "cruft link" in result.output
