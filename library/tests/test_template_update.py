"""`make template-update-pr`: the pull request's content (CHANGELOG entries, conflicts) and the one
pull request it opens or updates on GitHub or Azure DevOps.

The git and cruft side with this template runs in the template's own tests (two generated
projects, local remotes); here: the pieces, the platforms' APIs as a loopback stand-in records them
(each request and answer checked against the official API descriptions, official_api.py), and the
update itself on a tiny template in a local git repository: hostile `.cruft.json` values,
files the project deleted or renamed, secrets in what the pull request would show."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import official_api
import pytest
from conftest import JsonHandler, LoopbackServer
from typer.testing import CliRunner

from aiops_platform import safe_git, template_update
from aiops_platform.cli import app
from aiops_platform.template_update import (
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


def test_the_body_names_the_skipped_files_the_template_changed_with_the_change():
    update = _update()
    update.skipped = {"prompts/answer.jinja2": "--- a/prompts/answer.jinja2\n+++ b/prompts/answer.jinja2\n"}
    body = template_update.body(update)
    assert "### Not merged: 1 file this project keeps as its own" in body
    assert "- `prompts/answer.jinja2`" in body and "````diff\n--- a/prompts/answer.jinja2\n" in body
    assert "Not merged" not in _update().body


GITHUB_PULLS = re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/pulls")
GITHUB_PULL = re.compile(rf"{GITHUB_PULLS.pattern}/(?P<number>\d+)")
GITHUB_STATUSES = re.compile(r"/repos/[^/]+/[^/]+/statuses/[0-9a-f]{40}")
ADO_PULLS = re.compile(r"/[^/]+/[^/]+/_apis/git/repositories/[^/]+/pullrequests", re.IGNORECASE)
ADO_PULL = re.compile(rf"{ADO_PULLS.pattern}/(?P<number>\d+)", re.IGNORECASE)
ADO_ITERATIONS = re.compile(rf"{ADO_PULL.pattern}/iterations", re.IGNORECASE)
ADO_STATUSES = re.compile(rf"{ADO_PULL.pattern}/statuses", re.IGNORECASE)


class Forge(LoopbackServer):
    """GitHub's pulls and commit statuses, Azure DevOps' pull requests, iterations and statuses, in
    memory, each answered in its own API's shape (official_api checks every exchange)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []  # method, path?query, JSON body
        self.pulls: list[dict[str, Any]] = []  # both platforms' pull requests, in one neutral shape
        self.statuses: list[dict[str, Any]] = []  # as each platform answered them
        self.refuse: int | None = None  # answer every request with this status
        self.undescribed: list[str] = []  # what the official API descriptions do not allow
        forge = self

        class Handler(JsonHandler):
            def _serve(self) -> None:
                payload = self.json_body()
                forge.requests.append((self.command, self.path, payload))
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    self.send_json(401, {"message": "Bad credentials"})
                    return
                status, answer = forge.answer(self.command, self.path, payload)
                forge.undescribed += official_api.served(self.command, self.path, payload, status, answer)
                self.send_json(status, answer)

            do_GET = do_POST = do_PATCH = _serve

        super().__init__(Handler)

    def pull(self, head: str, base: str, title: str, body: str) -> dict[str, Any]:
        made = {"number": 7 + len(self.pulls), "head": head, "base": base, "title": title, "body": body}
        self.pulls.append({**made, "open": True, "iterations": 1})
        return self.pulls[-1]

    def push(self, number: int) -> None:
        """A new push to the pull request's source branch: Azure DevOps makes an iteration of it."""
        next(pull for pull in self.pulls if pull["number"] == number)["iterations"] += 1

    def answer(self, method: str, target: str, payload: Any) -> tuple[int, Any]:
        if self.refuse:
            return self.refuse, {"message": "Resource not accessible by integration"}
        url = urlsplit(target)
        path, query = unquote(url.path), dict(parse_qsl(url.query))
        if "/_apis/" in path:
            return self._azure_devops(method, path, query, payload)
        return self._github(method, path, query, payload)

    def _github(self, method: str, path: str, query: dict[str, str], payload: Any) -> tuple[int, Any]:
        if found := GITHUB_PULLS.fullmatch(path):
            owner = found["owner"]
            if method == "GET":
                head, state = query.get("head"), query.get("state", "open")
                shown = [
                    self._github_pull(pull, owner)
                    for pull in self.pulls
                    if head in (None, f"{owner}:{pull['head']}")
                    and state in ("all", "open" if pull["open"] else "closed")
                ]
                return 200, shown
            if any(pull["open"] and pull["head"] == payload["head"] for pull in self.pulls):
                return 422, {"message": f"A pull request already exists for {owner}:{payload['head']}."}
            made = self.pull(
                payload["head"], payload["base"], payload.get("title", ""), payload.get("body", "")
            )
            return 201, self._github_pull(made, owner)
        if (found := GITHUB_PULL.fullmatch(path)) and method == "PATCH":
            for pull in self.pulls:
                if pull["number"] == int(found["number"]):
                    pull.update({key: payload[key] for key in ("title", "body", "base") if key in payload})
                    return 200, self._github_pull(pull, found["owner"])
        if GITHUB_STATUSES.fullmatch(path) and method == "POST":
            fields = ("state", "context", "description", "target_url")
            self.statuses.append({"id": len(self.statuses) + 1} | {key: payload.get(key) for key in fields})
            return 201, self.statuses[-1]
        return 404, {"message": "Not Found"}

    @staticmethod
    def _github_pull(pull: dict[str, Any], owner: str) -> dict[str, Any]:
        return {
            "number": pull["number"],
            "state": "open" if pull["open"] else "closed",
            "title": pull["title"],
            "body": pull["body"],
            "head": {"ref": pull["head"], "label": f"{owner}:{pull['head']}"},
            "base": {"ref": pull["base"]},
        }

    def _azure_devops(self, method: str, path: str, query: dict[str, str], payload: Any) -> tuple[int, Any]:
        refs = "refs/heads/"
        if ADO_PULLS.fullmatch(path) and method == "GET":
            source, status = query.get("searchCriteria.sourceRefName"), query.get("searchCriteria.status")
            shown = [
                self._azure_devops_pull(pull)
                for pull in self.pulls
                if source in (None, refs + pull["head"])
                and (status or "active") in ("all", "active" if pull["open"] else "completed")
            ]
            return 200, {"count": len(shown), "value": shown}
        if ADO_PULLS.fullmatch(path) and method == "POST":
            if any(pull["open"] and refs + pull["head"] == payload["sourceRefName"] for pull in self.pulls):
                return 409, {"message": "TF401179: An active pull request for the branches already exists."}
            made = self.pull(
                payload["sourceRefName"].removeprefix(refs),
                payload["targetRefName"].removeprefix(refs),
                payload.get("title", ""),
                payload.get("description", ""),
            )
            return 200, self._azure_devops_pull(made)
        found = ADO_PULL.fullmatch(path) or ADO_ITERATIONS.fullmatch(path) or ADO_STATUSES.fullmatch(path)
        pull = next((pull for pull in self.pulls if found and pull["number"] == int(found["number"])), None)
        if pull is None:
            return 404, {"message": "TF401180: The requested pull request was not found."}
        if ADO_PULL.fullmatch(path) and method == "PATCH":
            pull["title"] = payload.get("title", pull["title"])
            pull["body"] = payload.get("description", pull["body"])
            return 200, self._azure_devops_pull(pull)
        if ADO_ITERATIONS.fullmatch(path) and method == "GET":
            iterations = [{"id": number} for number in range(1, pull["iterations"] + 1)]
            return 200, {"count": len(iterations), "value": iterations}
        if ADO_STATUSES.fullmatch(path) and method == "POST":
            self.statuses.append({"id": len(self.statuses) + 1, **payload})
            return 200, self.statuses[-1]
        return 404, {"message": "not found"}

    @staticmethod
    def _azure_devops_pull(pull: dict[str, Any]) -> dict[str, Any]:
        return {
            "pullRequestId": pull["number"],
            "status": "active" if pull["open"] else "completed",
            "sourceRefName": f"refs/heads/{pull['head']}",
            "targetRefName": f"refs/heads/{pull['base']}",
            "title": pull["title"],
            "description": pull["body"],
        }


@pytest.fixture
def forge():
    with Forge() as running:
        yield running
    assert running.undescribed == [], "\n".join(running.undescribed)


def _github(forge: Forge) -> dict[str, str]:
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "team/qa",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_API_URL": forge.url,
    }


def _azure_devops(forge: Forge) -> dict[str, str]:
    return {
        "TF_BUILD": "True",
        "SYSTEM_COLLECTIONURI": f"{forge.url}/org/",
        "SYSTEM_TEAMPROJECT": "Assistant Team",  # a name with a space: quoted in the URL
        "BUILD_REPOSITORY_ID": "repo-id",
        "SYSTEM_ACCESSTOKEN": TOKEN,
    }


def test_github_opens_one_pull_request_then_updates_it_and_sets_the_conflict_status(forge: Forge):
    first = template_update.open_pull_request(_update([Conflict("experiment.yaml", (6,))]), _github(forge))
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
    (pull,) = forge.pulls
    assert (pull["head"], pull["base"]) == ("template-update", "main") and "✅" in pull["body"]
    failed, passed = forge.statuses
    assert failed["state"] == "failure" and "experiment.yaml" in failed["description"]
    assert passed["state"] == "success" and passed["context"] == "template-update"


def test_github_leaves_a_closed_pull_request_closed_and_opens_a_new_one(forge: Forge):
    template_update.open_pull_request(_update(), _github(forge))
    forge.pulls[0]["open"] = False

    message = template_update.open_pull_request(_update(), _github(forge))

    assert message == "opened pull request #8 (team/qa), status template-update: success"


def test_azure_devops_opens_one_pull_request_and_marks_the_latest_iteration(forge: Forge):
    first = template_update.open_pull_request(
        _update([Conflict("Makefile", (40,), "Makefile.rej")]), _azure_devops(forge)
    )
    forge.push(7)
    second = template_update.open_pull_request(_update(), _azure_devops(forge))

    assert first == "opened pull request 7 (repo-id), status template-update/conflicts: failed"
    assert second == "updated pull request 7 (repo-id), status template-update/conflicts: succeeded"
    repo = "/org/Assistant%20Team/_apis/git/repositories/repo-id"
    calls = [(method, path.split("?")[0]) for method, path, _ in forge.requests]
    assert calls == [
        ("GET", f"{repo}/pullrequests"),
        ("POST", f"{repo}/pullrequests"),
        ("GET", f"{repo}/pullRequests/7/iterations"),
        ("POST", f"{repo}/pullRequests/7/statuses"),
        ("GET", f"{repo}/pullrequests"),
        ("PATCH", f"{repo}/pullrequests/7"),
        ("GET", f"{repo}/pullRequests/7/iterations"),
        ("POST", f"{repo}/pullRequests/7/statuses"),
    ]
    (pull,) = forge.pulls
    assert (pull["head"], pull["base"]) == ("template-update", "main") and "✅" in pull["body"]
    failed, passed = forge.statuses
    assert (failed["state"], failed["iterationId"], passed["state"], passed["iterationId"]) == (
        "failed",
        1,
        "succeeded",
        2,
    )
    assert passed["context"] == {"name": "conflicts", "genre": "template-update"}


@pytest.mark.parametrize("platform", [_github, _azure_devops])
def test_a_refusal_is_one_line_naming_the_fix_without_the_token(forge: Forge, platform: Any):
    forge.refuse = 403
    with pytest.raises(UpdateError) as refused:
        template_update.open_pull_request(_update(), platform(forge))
    message = str(refused.value)
    assert "403 Resource not accessible by integration" in message and "\n" not in message
    assert ("pull-requests: write" if platform is _github else "Contribute to pull requests") in message
    assert TOKEN not in message


def test_outside_ci_the_pull_request_is_left_to_a_person():
    with pytest.raises(UpdateError, match="open the pull request from template-update by hand"):
        template_update.open_pull_request(_update(), {})


def test_an_unlinked_project_is_told_how_to_link(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["template", "update-pr"])
    assert result.exit_code == 2
    assert "not linked to the template" in result.output and "cruft link" in result.output


# --- the update on a tiny template (a local git repository; cruft in this process) -----------------


def _answer(name: str) -> str:
    """The tiny template's `{ {cookiecutter.<name>} }` (without the spaces), built so that this file
    holds no template syntax: library/ holds none, nothing renders it."""
    return "{" * 2 + f"cookiecutter.{name}" + "}" * 2


SLUG, PACKAGE = _answer("project_slug"), _answer("package_name")
TINY = {  # a template's files, under its project folder
    "experiment.yaml": "name: tiny\n",
    "README.md": f"# {SLUG}\n",
    "docs/runbook.md": "# Runbook\n\nRestart the server.\n",
    f"src/{PACKAGE}/core.py": "VALUE = 1\n",
}
GITHUB_SHAPED = "ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2  # pragma: allowlist secret


def _git(cwd: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    return subprocess.run(
        ["git", *identity, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")


def _tiny_template(tmp_path: Path) -> dict[str, Path]:
    template = tmp_path / "template"
    _write(template, {"cookiecutter.json": '{"project_slug": "tiny", "package_name": "tiny"}\n'})
    _write(template, {"CHANGELOG.md": "# Changelog\n\n## 0.1.0\n\n- First.\n"})
    _write(template / SLUG, TINY)
    _git(template, "init", "-q", "-b", "main")
    _git(template, "add", "-A")
    _git(template, "commit", "-qm", "v1")
    return {"template": template, "slug": template / SLUG}


@pytest.fixture
def tiny(tmp_path: Path) -> dict[str, Path]:
    """A tiny template at v1 and a project made from it with cruft, committed."""
    from cruft import create

    tiny = _tiny_template(tmp_path)
    project = create(str(tiny["template"]), output_dir=tmp_path / "out", no_input=True)
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "made from the template")
    return {**tiny, "project": project}


def _template_v2(tiny: dict[str, Path], entry: str = "- Second.") -> None:
    """The template changes the package's module, adds one to it, changes the runbook and README."""
    folder = tiny["slug"]
    _write(folder, {f"src/{PACKAGE}/core.py": "VALUE = 2\n", f"src/{PACKAGE}/extra.py": "EXTRA = True\n"})
    _write(folder, {"docs/runbook.md": "# Runbook\n\nRestart the server.\nThen check /health.\n"})
    _write(folder, {"README.md": f"# {SLUG}\n\nMore.\n"})
    changelog = tiny["template"] / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## 0.1.0", f"## 0.2.0\n\n{entry}\n\n## 0.1.0"))
    _git(tiny["template"], "add", "-A")
    _git(tiny["template"], "commit", "-qm", "v2")


def _rename_and_delete(project: Path) -> None:
    _git(project, "mv", "src/tiny", "src/tiny_core")
    _git(project, "rm", "-q", "docs/runbook.md")
    _git(project, "commit", "-qm", "team: own package name, no runbook")


LOST = ["docs/runbook.md", "src/tiny/core.py", "src/tiny/extra.py"]


def test_a_template_change_to_a_file_the_project_renamed_or_deleted_fails_the_update_by_name(
    tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    project = tiny["project"]
    _rename_and_delete(project)
    _template_v2(tiny)
    monkeypatch.chdir(project)

    result = CliRunner().invoke(app, ["template", "update"])

    assert result.exit_code == 1, result.output
    for name in LOST:
        assert f"Conflict: {name}: changed by the template, but this project has no such" in result.output
        assert (project / f"{name}.rej").is_file()
    assert "+Then check /health." in (project / "docs/runbook.md.rej").read_text(encoding="utf-8")
    assert "+VALUE = 2" in (project / "src/tiny/core.py.rej").read_text(encoding="utf-8")
    assert "[tool.cruft] skip" in result.output
    assert result.output.startswith("Template update stopped on 3 conflicts: resolve them before you commit")
    assert (project / "README.md").read_text(encoding="utf-8") == "# tiny\n\nMore.\n", "the rest arrives"
    assert (project / "src/tiny_core/core.py").read_text(encoding="utf-8") == "VALUE = 1\n"
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    assert state["commit"] == _git(tiny["template"], "rev-parse", "HEAD").strip()


def test_the_terminal_lists_the_changelog_entries_by_title_not_their_text(
    tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    """The PR description and CHANGELOG.md hold the text; a terminal line of thousands of characters
    helps no one."""
    project = tiny["project"]
    long_entry = (
        "- **The agent kind.** " + "A long explanation. " * 200 + "\n- A plain entry without a title."
    )
    _template_v2(tiny, entry=long_entry)
    monkeypatch.chdir(project)

    result = CliRunner().invoke(app, ["template", "update"])

    (line,) = [line for line in result.output.splitlines() if line.startswith("Template CHANGELOG")]
    titles = "The agent kind; A plain entry without a title."
    assert line == f"Template CHANGELOG, 0.2.0 (2 changes, in CHANGELOG.md): {titles}"
    assert "A long explanation" not in result.output


def test_one_conflict_is_the_first_line_of_the_report_in_the_singular(
    tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    """The outcome comes first: a count of changed files before it reads like success."""
    project = tiny["project"]
    (project / "src/tiny/core.py").write_text("VALUE = 3\n", encoding="utf-8")
    _git(project, "commit", "-qam", "team: value 3")
    _template_v2(tiny)
    monkeypatch.chdir(project)

    result = CliRunner().invoke(app, ["template", "update"])

    assert result.exit_code == 1, result.output
    first, second = result.output.splitlines()[:2]
    assert first == (
        "Template update stopped on 1 conflict: resolve it before you commit (make lint fails until then)."
    )
    assert "changed, not committed" in second
    assert "Conflict: src/tiny/core.py (line 1): conflict markers" in result.output


def test_a_template_change_to_a_file_the_project_skips_is_named_with_the_diff_to_adopt_it(
    tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    """cruft leaves the skipped files out without a word; the report names the ones the template
    changed and where its change is, and the file itself stays the team's."""
    project = tiny["project"]
    (project / "pyproject.toml").write_text('[tool.cruft]\nskip = ["docs"]\n', encoding="utf-8")
    _git(project, "add", "pyproject.toml")
    _git(project, "commit", "-qm", "team: the docs are ours")
    _template_v2(tiny)
    monkeypatch.chdir(project)

    result = CliRunner().invoke(app, ["template", "update"])

    assert result.exit_code == 0, result.output
    diff = template_update.SKIPPED_DIFF
    assert (
        "Not merged: the template changed 1 file this project keeps as its own ([tool.cruft] skip in "
        "pyproject.toml): docs/runbook.md." in result.output
    )
    assert (
        f"The template's change: {diff}; adopt what you want by hand (git apply {diff} takes" in result.output
    )
    assert (project / "docs/runbook.md").read_text(encoding="utf-8") == "# Runbook\n\nRestart the server.\n"
    assert "+Then check /health." in (project / diff).read_text(encoding="utf-8")
    _git(project, "apply", str(diff))
    assert "Then check /health." in (project / "docs/runbook.md").read_text(encoding="utf-8")
    assert (project / "README.md").read_text(encoding="utf-8") == "# tiny\n\nMore.\n", "the rest is merged"


def test_the_update_pull_request_shows_a_lost_change_as_a_conflict_and_no_secret(
    tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    project = tiny["project"]
    _rename_and_delete(project)
    _template_v2(tiny, entry=f"- Example call: curl -H 'Authorization: token {GITHUB_SHAPED}' with {TOKEN}.")
    monkeypatch.chdir(project)
    said: list[str] = []

    code = template_update.run(project, env={"GITHUB_TOKEN": TOKEN}, say=said.append)

    assert code == 1, said
    body = (project / template_update.BODY_FILE).read_text(encoding="utf-8")
    assert "3 conflicts: resolve before merging" in body
    for name in LOST:
        assert f"- `{name}`: not in this project (deleted or renamed)" in body
    branch = _git(project, "ls-tree", "-r", "--name-only", template_update.BRANCH).split()
    assert {f"{name}.rej" for name in LOST} <= set(branch)
    assert "Example call" in body and TOKEN not in body and GITHUB_SHAPED not in body
    message = _git(project, "log", "-1", "--format=%B", template_update.BRANCH)
    assert "src/tiny/core.py" in message and TOKEN not in message


HOSTILE = [  # (field of .cruft.json, value); {marker} is a file the value would create if run
    ("template", "--upload-pack=touch {marker}"),
    ("template", "ext::sh -c touch% {marker}"),
    ("commit", "--output={marker}"),
    ("checkout", "--output={marker}"),
]


@pytest.mark.parametrize("command", ["update", "update-pr"])
@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_a_hostile_cruft_json_value_reaches_no_git_command_and_is_named_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, field: str, value: str
):
    tiny, project, marker = _tiny_template(tmp_path), tmp_path / "project", tmp_path / "pwned"
    old = _git(tiny["template"], "rev-parse", "HEAD").strip()
    _template_v2(tiny)  # behind: every git step would run
    state = {
        "template": str(tiny["template"]),
        "commit": old,
        "checkout": None,
        "context": {"cookiecutter": {}},
    }
    state[field] = value.format(marker=marker)
    _write(project, {"experiment.yaml": "name: tiny\n", ".cruft.json": json.dumps(state)})
    _git(project, "init", "-q", "-b", "main")
    _git(project, "add", "-A")
    _git(project, "commit", "-qm", "a hostile link file")
    monkeypatch.chdir(project)

    result = CliRunner().invoke(app, ["template", command])

    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and f"failed: .cruft.json {field}: " in result.output
    assert not marker.exists()


@pytest.mark.parametrize(
    "location",
    [
        "https://host/t.git",
        "ssh://git@host:22/t.git",
        "git@host:org/t.git",
        "file:///srv/t",
        "/srv/t",
        "../t",
    ],
)
def test_a_template_location_git_may_use_passes_as_written(location: str):
    assert safe_git.repository(location, "here") == location


@pytest.mark.parametrize(
    "location",
    [
        "-u",
        "ext::sh -c x",
        "fd::3",
        "http://host/t",
        "git://host/t",
        "git@-oProxyCommand=x:t",
        "ssh://-oX/t",
        "a\nb",
    ],
)
def test_an_option_a_command_or_an_unsafe_transport_is_refused(location: str):
    with pytest.raises(safe_git.Refused, match=r"^here: .+; write an https://"):
        safe_git.repository(location, "here")


def test_git_itself_refuses_a_transport_that_runs_commands(tmp_path: Path):
    """The second line of defence: a value that slipped past the checks still runs nothing."""
    marker = tmp_path / "pwned"
    done = safe_git.run(tmp_path, "ls-remote", "--", f"ext::sh -c touch% {marker}")
    assert done.returncode != 0 and "not allowed" in done.stderr
    assert not marker.exists()


def test_a_file_the_template_removes_but_the_project_changed_stops_the_update_by_name(
    tiny: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    """As when platform code moves out of the project into the library: the team's change to it is
    named with what to do, never dropped with the file, and the unchanged files go quietly."""
    project = tiny["project"]
    core = project / "src/tiny/core.py"
    core.write_text(core.read_text(encoding="utf-8") + "TEAM_FIX = True\n", encoding="utf-8")
    _git(project, "commit", "-qam", "team: a fix in a template file")
    _git(tiny["slug"], "rm", "-q", f"src/{PACKAGE}/core.py", "docs/runbook.md")
    _git(tiny["template"], "commit", "-qm", "v2: the module moved into the platform")
    monkeypatch.chdir(project)

    result = CliRunner().invoke(app, ["template", "update"])

    assert result.exit_code == 1, result.output
    assert "Conflict: src/tiny/core.py: removed by the template, but this project changed it" in result.output
    assert "move your change into a module of your own" in result.output
    assert "TEAM_FIX = True" in core.read_text(encoding="utf-8"), (
        "the team's change is kept until they move it"
    )
    assert not (project / "docs/runbook.md").exists(), "an unchanged file the template removed goes"


def test_an_old_copy_of_a_platform_module_is_named_and_a_teams_own_module_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """After the update to the platform library, a project's changed copy of a platform module stays
    (the update does not drop a team's change): `aiops template leftovers` (a pre-commit hook) names it."""
    package = tmp_path / "src" / "team"
    package.mkdir(parents=True)
    server = Path(template_update.__file__).with_name("server.py").read_text(encoding="utf-8")
    (package / "server.py").write_text(server.replace("MAX_DEPTH = 32", "MAX_DEPTH = 64"), encoding="utf-8")
    (package / "retrieval.py").write_text('"""Our own retrieval helpers."""\n', encoding="utf-8")
    (package / "helpers.py").write_text('"""Shout."""\n', encoding="utf-8")
    (package / "__init__.py").write_text('"""The team\'s package."""\n', encoding="utf-8")
    (tmp_path / "experiment.yaml").write_text("name: t\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, ["template", "leftovers"])

    assert result.exit_code == 1, result.output
    named = [line for line in result.output.splitlines() if "a copy of the platform's" in line]
    assert len(named) == 1 and "src/team/server.py" in named[0] and "aiops_platform.server" in named[0]
    assert "move your change into a module of your own" in result.output
    (package / "server.py").unlink()
    assert CliRunner().invoke(app, ["template", "leftovers"]).exit_code == 0


def test_a_copy_whose_docstring_changed_is_still_named_by_its_imports(tmp_path: Path):
    """Copies from before the split import their sibling platform modules from the project's package."""
    package = tmp_path / "src" / "team"
    package.mkdir(parents=True)
    (package / "flow_entry.py").write_text('"""Edited."""\n\nfrom team import paths\n', encoding="utf-8")
    (package / "gate.py").write_text('"""Ours."""\n\nfrom aiops_platform import paths\n', encoding="utf-8")
    found = template_update.platform_copies(sorted(package.glob("*.py")))
    assert len(found) == 1 and found[0].startswith(f"{package / 'flow_entry.py'}: a copy of the platform's")
