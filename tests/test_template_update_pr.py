"""Template updates arrive as pull requests, and the fleet report sees who is behind.

Local git repositories stand in for the remotes: a copy of the template (advanced twice: a change
that merges cleanly, then one that conflicts with a team's edit and changes a file that team
deleted), and a bare `origin` for each of two generated projects. Each project runs its own update
script (`python -m aiops_platform.template_update`, the code behind `make template-update-pr`) from
the platform library's environment (with its cruft), then `tools/fleet.py` reports on both. No project
environment is installed: up to the push, the script needs only git and cruft. Last, the fleet report
meets hostile lists.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CRUFT, IDENTITY, LIBRARY_VENV, TEMPLATE, TEMPLATE_COPY_IGNORE, edit, git

CLEAN_ENTRY = "- Generated projects ignore `*.log` files."
CONFLICTING_ENTRY = "- Experiments run 12 lines at a time by default."
RUNBOOK_LINE = "On call: the platform team."
TITLE = "# {{ cookiecutter.project_name }} assistant\n"
CI = ("GITHUB_ACTIONS", "GITHUB_REF_NAME", "TF_BUILD", "BUILD_SOURCEBRANCH")  # this run's own CI, if any


def create(template: Path, out: Path, name: str) -> Path:
    """`cruft create`, then a bare repository as the project's origin, as a team's remote would be."""
    context = json.dumps({"project_name": name, "register_on_generate": "none"})
    command = [CRUFT, "create", str(template), "--no-input", "--output-dir", str(out)]
    subprocess.run(
        [*command, "--extra-context", context],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **IDENTITY},
    )
    project = out / name.lower()
    origin = out / f"{name.lower()}-origin.git"
    git(out, "init", "-q", "--bare", "-b", "main", str(origin))
    git(project, "remote", "add", "origin", str(origin))
    git(project, "push", "-q", "origin", "main")
    return project


def update_pr(project: Path, package: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The platform's update script in `project` (`package` names the team's, for the reader only)."""
    env = {key: value for key, value in os.environ.items() if key not in CI} | IDENTITY
    command = [str(LIBRARY_VENV / "bin/python"), "-m", "aiops_platform.template_update", *args]
    return subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=300)


def shown(project: Path, ref: str, path: str) -> str:
    return git(project, "show", f"{ref}:{path}")


@pytest.fixture
def scenario(tmp_path: Path) -> dict[str, object]:
    """Two teams' projects on template v1, each with its edits; the template then advanced twice."""
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=TEMPLATE_COPY_IGNORE)
    git(template, "init", "-q", "-b", "main")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "template v1")
    v1 = git(template, "rev-parse", "HEAD").strip()

    clean = create(template, tmp_path, "Alpha")  # edits what the template will not touch
    edit(clean / "flows/qa/qa.jinja2", "Use only the context.", "Use only the context. Cite the SOP.")
    (clean / "README.md").write_text((clean / "README.md").read_text() + "\n## Team notes\n", "utf-8")
    git(clean, "commit", "-qam", "team edits")
    conflicted = create(template, tmp_path, "Beta")  # edits the line the template will change
    edit(conflicted / "README.md", "# Beta\n", "# Beta (team fork)\n")
    edit(conflicted / "experiment.yaml", "concurrency: 8", "concurrency: 4")  # the team's file: skipped
    git(conflicted, "rm", "-q", "docs/runbook.md")  # and deletes a file the template will change
    git(conflicted, "commit", "-qam", "team: our title, concurrency 4, our own runbook elsewhere")
    for project in (clean, conflicted):
        git(project, "push", "-q", "origin", "main")

    # 1: merges cleanly everywhere. Its entry goes under Unreleased.
    project_template = template / "{{cookiecutter.project_slug}}"
    edit(project_template / ".gitignore", "build/\n", "build/\n*.log\n")
    edit(template / "CHANGELOG.md", "## Unreleased\n\n", f"## Unreleased\n\n{CLEAN_ENTRY}\n\n")
    git(template, "commit", "-qam", "template: ignore *.log")
    # 2: conflicts with Beta's edit; changes the runbook Beta deleted. Unreleased becomes release 9.1.0,
    # a new entry is unreleased.
    edit(project_template / "README.md", "# {{ cookiecutter.project_name }}\n", TITLE)
    edit(project_template / "experiment.yaml", "concurrency: 8", "concurrency: 12")  # reaches no project
    edit(project_template / "docs/runbook.md", "# Runbook\n", f"# Runbook\n\n{RUNBOOK_LINE}\n")
    edit(
        template / "CHANGELOG.md",
        "## Unreleased\n\n",
        f"## Unreleased\n\n{CONFLICTING_ENTRY}\n\n## 9.1.0\n\n",
    )
    git(template, "commit", "-qam", "template: a longer title, concurrency 12")
    return {"template": template, "v1": v1, "clean": clean, "conflicted": conflicted}


def test_updates_become_branches_with_a_pull_request_body_and_the_fleet_sees_who_is_behind(
    scenario, tmp_path
):
    template, clean, conflicted = scenario["template"], scenario["clean"], scenario["conflicted"]
    assert isinstance(template, Path) and isinstance(clean, Path) and isinstance(conflicted, Path)
    newest = git(template, "rev-parse", "HEAD").strip()

    # Before: the fleet sees both two commits behind, on 0.2.0 plus unreleased entries; no update branch.
    fleet = tmp_path / "fleet.txt"
    origins = [str(tmp_path / "alpha-origin.git"), str(conflicted)]  # a remote (bare) and a working tree
    fleet.write_text("# the platform's projects\n" + "\n".join(origins) + "\n", encoding="utf-8")
    before = run_fleet(fleet, tmp_path / "before.md")
    for line in table_rows(before):
        assert line[1] == f"`{scenario['v1'][:7]}`" and line[3] == "2", line
        assert line[2].endswith("+unreleased") and line[4:7] == ["qa", "github", "aml_online_endpoint"]
        assert line[7] == "no"

    # The clean one: a branch, pushed, and a body listing the CHANGELOG entries between the two commits.
    (clean / "scratch.txt").write_text("a team member's untracked notes\n", encoding="utf-8")
    result = update_pr(clean, "alpha", "--push")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scratch.txt" not in git(clean, "ls-tree", "-r", "--name-only", "template-update")
    body = (clean / ".aiops/template-update.md").read_text(encoding="utf-8")
    assert CLEAN_ENTRY in body and CONFLICTING_ENTRY in body
    assert "#### Unreleased" in body and "#### 9.1.0" in body and "9.1.0+unreleased" in body
    assert "No conflicts" in body and "`.gitignore`" in body and "`README.md`" in body
    merged, not_merged = body.split("### Not merged: 1 file this project keeps as its own")
    assert "`experiment.yaml`" not in merged, "the team's experiment files are never merged"
    assert "- `experiment.yaml`" in not_merged and "+concurrency: 12" in not_merged, "named, with the change"
    assert shown(clean, "template-update", "experiment.yaml") == (clean / "experiment.yaml").read_text()
    assert "- Real-model runs at near-zero repeat cost" not in body, "an entry v1 already had"
    assert git(clean, "rev-parse", "--abbrev-ref", "HEAD").strip() == "main", (
        "the team's branch is left as it was"
    )
    assert git(clean, "status", "--porcelain") == "?? scratch.txt\n"
    assert "*.log" in shown(clean, "template-update", ".gitignore").splitlines()
    assert "concurrency: 8" in shown(clean, "template-update", "experiment.yaml")
    assert "# Alpha assistant\n" in shown(clean, "template-update", "README.md")
    assert "Cite the SOP." in shown(clean, "template-update", "flows/qa/qa.jinja2")
    assert RUNBOOK_LINE in shown(clean, "template-update", "docs/runbook.md")
    assert "## Team notes" in shown(clean, "template-update", "README.md")
    assert json.loads(shown(clean, "template-update", ".cruft.json"))["commit"] == newest
    origin = tmp_path / "alpha-origin.git"
    assert git(origin, "rev-parse", "template-update") == git(clean, "rev-parse", "template-update")
    again = update_pr(clean, "alpha", "--push")  # next week, nothing new: the branch is not pushed again
    assert again.returncode == 0 and "already holds this update" in again.stdout, again.stdout + again.stderr

    # The conflicting one: the conflict is committed on the branch, named in the body, and fails; so
    # does the runbook change that had no file to go to (cruft alone drops it and reports success).
    result = update_pr(conflicted, "beta", "--push")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Conflict: README.md (line" in result.stdout
    assert "Conflict: docs/runbook.md: changed by the template, but this project has no such" in result.stdout
    body = (conflicted / ".aiops/template-update.md").read_text(encoding="utf-8")
    assert re.search(r"2 conflicts: resolve before merging", body)
    assert re.search(r"- `README\.md`, line \d+: conflict markers", body)
    assert "- `docs/runbook.md`: not in this project (deleted or renamed)" in body
    assert f"+{RUNBOOK_LINE}" in shown(conflicted, "template-update", "docs/runbook.md.rej")
    assert "its checks fail while any remains" in body and CONFLICTING_ENTRY in body
    merged = shown(conflicted, "template-update", "README.md")
    assert "<<<<<<< ours\n# Beta (team fork)\n=======\n# Beta assistant\n>>>>>>> theirs" in merged
    assert "*.log" in shown(conflicted, "template-update", ".gitignore").splitlines()
    assert "concurrency: 4\n" in shown(conflicted, "template-update", "experiment.yaml")
    assert "# Beta (team fork)\n" in (conflicted / "README.md").read_text(encoding="utf-8"), "main untouched"
    hooks = shown(conflicted, "template-update", ".pre-commit-config.yaml")
    assert 'check-merge-conflict" --assume-in-merge' in hooks and "files: \\.rej$" in hooks  # make lint fails

    # The team resolves on the branch and pushes: the next run leaves their work alone.
    git(conflicted, "checkout", "-q", "template-update")
    edit(
        conflicted / "README.md",
        "<<<<<<< ours\n# Beta (team fork)\n=======\n# Beta assistant\n>>>>>>> theirs\n",
        "# Beta (team fork)\n",
    )
    git(conflicted, "commit", "-qam", "keep our title")
    git(conflicted, "push", "-q", "origin", "template-update")
    git(conflicted, "checkout", "-q", "main")
    resolved = git(conflicted, "rev-parse", "template-update")
    refused = update_pr(conflicted, "beta", "--push")
    assert refused.returncode == 2 and "has commits of yours" in refused.stdout, refused.stdout
    git(conflicted, "branch", "-q", "-D", "template-update")  # say, another clone runs it
    kept = update_pr(conflicted, "beta", "--push")
    assert kept.returncode == 0 and "Not pushed" in kept.stdout, kept.stdout + kept.stderr
    assert git(tmp_path / "beta-origin.git", "rev-parse", "template-update") == resolved

    # After: the fleet still counts both behind (nothing merged yet) and sees Alpha's update branch.
    after = run_fleet(fleet, tmp_path / "after.md")
    rows = table_rows(after)
    assert [row[3] for row in rows] == ["2", "2"]
    assert rows[0][7] == rows[1][7] == "branch template-update"
    assert f"newest commit `{newest[:7]}` (9.1.0+unreleased)" in after


def run_fleet(fleet: Path, output: Path) -> str:
    command = [sys.executable, str(TEMPLATE / "tools" / "fleet.py"), str(fleet), "--output", str(output)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, **IDENTITY}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return output.read_text(encoding="utf-8")


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("| ")][1:]  # no header
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_the_fleet_report_runs_nothing_that_a_hostile_list_or_cruft_json_holds(tmp_path):
    """Each hostile value ends in one line naming the list line (and the .cruft.json field)."""
    marker = tmp_path / "pwned"
    template = tmp_path / "template-repo"
    template.mkdir()
    git(template, "init", "-q", "-b", "main")
    git(template, "commit", "-q", "--allow-empty", "-m", "v1")
    linked = {  # working trees whose .cruft.json holds a hostile value
        "template": {"template": f"--upload-pack=touch {marker}", "commit": "a" * 40},
        "commit": {"template": str(template), "commit": f"--output={marker}"},
    }
    for field, state in linked.items():
        (tmp_path / f"bad-{field}").mkdir()
        (tmp_path / f"bad-{field}" / ".cruft.json").write_text(json.dumps(state), encoding="utf-8")
    fleet = tmp_path / "fleet.txt"
    hostile = [f"--upload-pack=touch {marker}", f"ext::sh -c touch% {marker}"]
    lines = [*hostile, *(str(tmp_path / f"bad-{field}") for field in linked)]
    fleet.write_text("\n".join(lines) + "\n", encoding="utf-8")

    command = [sys.executable, str(TEMPLATE / "tools" / "fleet.py"), str(fleet), "--output", "f.md"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert result.returncode == 1, result.stdout + result.stderr
    said = result.stderr.splitlines()
    assert [line.split(": ", 2)[1] for line in said] == [f"{fleet}:{number}" for number in (1, 2, 3, 4)]
    assert "starts with '-'" in said[0] and "remote helper" in said[1]
    assert ".cruft.json template: " in said[2] and ".cruft.json commit: " in said[3]
    assert not marker.exists()


def test_the_fleet_report_runs_nothing_a_listed_working_trees_git_config_names(tmp_path):
    """A listed working tree's git config is the team's: a remote's uploadpack (or core.sshCommand)
    is a command git runs when it asks that remote. The report asks the origin from outside the tree,
    so the command never runs, and still sees the update branch there."""
    marker = tmp_path / "pwned"
    template = tmp_path / "template-repo"
    template.mkdir()
    git(template, "init", "-q", "-b", "main")
    git(template, "commit", "-q", "--allow-empty", "-m", "v1")
    head = git(template, "rev-parse", "HEAD").strip()
    project = tmp_path / "team"
    project.mkdir()
    git(project, "init", "-q", "-b", "main")
    state = {"template": str(template), "commit": head, "context": {"cookiecutter": {"flow_kind": "qa"}}}
    (project / ".cruft.json").write_text(json.dumps(state), encoding="utf-8")
    git(project, "add", ".cruft.json")
    git(project, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "linked")
    git(project, "branch", "template-update")
    git(tmp_path, "clone", "-q", "--bare", str(project), str(tmp_path / "team-origin.git"))
    git(project, "remote", "add", "origin", "../team-origin.git")
    git(project, "config", "remote.origin.uploadpack", f"touch {marker}; git-upload-pack")
    fleet = tmp_path / "fleet.txt"
    fleet.write_text(f"{project}\n", encoding="utf-8")

    command = [sys.executable, str(TEMPLATE / "tools" / "fleet.py"), str(fleet), "--output", "f.md"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    assert not marker.exists()
    (row,) = table_rows((tmp_path / "f.md").read_text(encoding="utf-8"))
    assert row[0] == str(project) and row[-1] != "no", row  # the origin's update branch is seen


def test_the_fleet_report_keeps_each_cruft_json_value_in_its_own_table_cell(tmp_path):
    """Answers and the template location are text from outside: a line break, `|` or markup in one
    stays in its cell of the markdown report, and the terminal shows it escaped, not as a new line."""
    template = tmp_path / "tpl|x"
    template.mkdir()
    git(template, "init", "-q", "-b", "main")
    git(template, "commit", "-q", "--allow-empty", "-m", "v1")
    head = git(template, "rev-parse", "HEAD").strip()
    project = tmp_path / "team|one"
    project.mkdir()
    answers = {
        "flow_kind": "qa\n\n# Forged heading",
        "ci_provider": "github | forged cell",
        "deployment_target": "<img src=x onerror=alert(1)> [link](https://evil.example)",
    }
    state = {"template": str(template), "commit": head, "context": {"cookiecutter": answers}}
    (project / ".cruft.json").write_text(json.dumps(state), encoding="utf-8")
    fleet = tmp_path / "fleet.txt"
    fleet.write_text(f"{project}\n", encoding="utf-8")

    command = [sys.executable, str(TEMPLATE / "tools" / "fleet.py"), str(fleet), "--output", "f.md"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stdout + result.stderr
    report = (tmp_path / "f.md").read_text(encoding="utf-8")
    table = [line for line in report.splitlines() if line.startswith("|")]
    assert len(table) == 3, report  # header, rule, the one project
    row = [cell.strip() for cell in re.split(r"(?<!\\)\|", table[2])[1:-1]]
    assert row[0] == str(project).replace("|", "\\|") and row[1] == f"`{head[:7]}`", row
    assert row[4:7] == [
        "qa\\\\n\\\\n# Forged heading",  # the escape `\\n`, its backslash escaped for markdown
        "github \\| forged cell",
        "\\<img src=x onerror=alert(1)\\> \\[link\\](https://evil.example)",
    ], row
    assert f"Template {str(template).replace('|', chr(92) + '|')}: newest commit" in report
    assert not any(line.startswith("# Forged") for line in (report + result.stdout).splitlines())
