"""Fleet report: which generated projects are behind the template (`make fleet FLEET=fleet.txt`).

FLEET lists one project a line: a git URL, a path to a clone, or a path to a bare repository (`#`
starts a comment). For each project the report reads `.cruft.json`, without its history or files:
a working tree's file directly, otherwise a depth-1, blob-less clone and `git show HEAD:.cruft.json`
(only that blob is fetched). It then asks the template (the URL in `.cruft.json`, or --template)
once per template: a bare, blob-less clone gives `git rev-list --count <commit>..HEAD` (how many
template commits the project is behind) and the CHANGELOG.md at that commit (its release: the
newest `## x.y.z` heading, "+unreleased" when entries wait under Unreleased).

Every value read from the list or a `.cruft.json` reaches git only as the platform's safe_git
allows: a URL or a path, a commit id; never an option or a remote helper. A refused line is reported
as `<list>:<line>: ...` and runs nothing. No git command that reaches a remote runs inside a listed
working tree (its git config may name commands). Every such value
is printed as the platform's terminal.py shows text from outside: on the terminal with
its control characters visible, in the markdown report as one inline cell (no line break, `|` or
markup of its own).

Whether a template-update pull request is open: on GitHub, `gh pr list --head template-update` when
the gh CLI and a token (GH_TOKEN or GITHUB_TOKEN) are there; elsewhere whether the project's remote
has the branch `template-update` that `make template-update-pr` pushes ("branch"), or not ("no").
Prints a table and writes the same as markdown (--output).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

BRANCH = "template-update"
GITHUB = re.compile(r"github\.com[:/](?P<repo>[^/]+/[^/]+?)(?:\.git)?/?$")
KEY_ANSWERS = ("flow_kind", "ci_provider", "deployment_target")
TIMEOUT_SECONDS = 300
TEMPLATE = Path(__file__).resolve().parents[1]
# The platform's policy modules and its one CHANGELOG reader, from the template's own library/ (they
# need nothing beyond the standard library and rich, which this tool's environment has).
sys.path.insert(0, str(TEMPLATE / "library" / "src"))
from aiops_platform import changelog, safe_git, terminal  # noqa: E402 - after the path it lives on


@dataclass
class Entry:
    text: str  # as written in the list
    where: str  # "<list>:<line>"


@dataclass
class Row:
    project: str
    template: str = ""
    commit: str = ""
    release: str = ""
    behind: str = ""
    answers: tuple[str, ...] = ("", "", "")
    update_pr: str = ""
    problem: str = ""


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """git in safe_git's environment: safe transports only, a private remote fails instead of asking."""
    return safe_git.run(cwd, *args, timeout=TIMEOUT_SECONDS)


def url_of(entry: str) -> str:
    """A local repository as a file:// URL (so shallow and filtered clones apply), else as written."""
    path = Path(entry).expanduser()
    return path.resolve().as_uri() if path.exists() else entry


class Template:
    """One template repository: its history without file contents, blobs fetched when shown."""

    def __init__(self, url: str, scratch: Path) -> None:
        self.url = url
        self.repo = scratch / f"template-{abs(hash(url))}.git"
        source = url_of(url)
        cloned = git(scratch, "clone", "-q", "--bare", "--filter=blob:none", "--", source, str(self.repo))
        self.problem = _last_line(cloned) if cloned.returncode else ""
        self.head = "" if self.problem else git(self.repo, "rev-parse", "HEAD").stdout.strip()

    def behind(self, commit: str) -> str:
        counted = git(self.repo, "rev-list", "--count", f"{commit}..HEAD")
        return counted.stdout.strip() if counted.returncode == 0 else "? (commit not in the template)"

    def release(self, commit: str) -> str:
        shown = git(self.repo, "show", f"{commit}:CHANGELOG.md")
        return changelog.release(shown.stdout if shown.returncode == 0 else None) or "?"


def read_cruft_state(entry: Entry, scratch: Path) -> tuple[dict, list[str]]:
    """The project's .cruft.json and the branches its repository has (heads, for `template-update`)."""
    safe_git.repository(entry.text, entry.where)
    path = Path(entry.text).expanduser()
    if (path / ".cruft.json").is_file():  # a working tree: the file as it is, the branches it knows
        state = json.loads((path / ".cruft.json").read_text(encoding="utf-8"))
        return state, _working_tree_heads(path, entry, scratch)
    url = url_of(entry.text)
    heads = git(scratch, "ls-remote", "--heads", "--", url, BRANCH)
    if heads.returncode != 0:
        raise LookupError(_last_line(heads))
    clone = scratch / f"project-{abs(hash(entry.text))}"
    cloned = git(
        scratch, "clone", "-q", "--depth", "1", "--filter=blob:none", "--no-checkout", "--", url, str(clone)
    )
    if cloned.returncode != 0:
        raise LookupError(_last_line(cloned))
    shown = git(clone, "show", "HEAD:.cruft.json")
    if shown.returncode != 0:
        raise LookupError("no .cruft.json: not linked to the template (cruft link)")
    return json.loads(shown.stdout), heads.stdout.split()


def _working_tree_heads(path: Path, entry: Entry, scratch: Path) -> list[str]:
    """The update branch on the tree's origin, else among its own branches. Its origin is asked from
    the scratch folder, not from inside the tree: the tree's git config may name commands (a
    remote's uploadpack, core.sshCommand) that git runs for a remote, and its URL passes safe_git."""
    origin = git(path, "config", "--get", "remote.origin.url").stdout.strip()
    if origin:
        url = safe_git.repository(origin, f"{entry.where} remote.origin.url")
        local = path / url  # a local remote is named relative to the tree
        remote = url_of(str(local)) if local.exists() else url
        listed = git(scratch, "ls-remote", "--heads", "--", remote, BRANCH)
        if listed.returncode == 0:
            return listed.stdout.split()
    listed = git(path, "branch", "--list", BRANCH, "--format=refs/heads/%(refname:short)")  # refs only
    return listed.stdout.split()


def linked_template(state: object, entry: Entry, override: str | None) -> tuple[str, str]:
    """The template (`--template`, else .cruft.json's) and the commit the project is on, checked."""
    if not isinstance(state, dict):
        raise ValueError(f"{entry.text}/.cruft.json is not cruft's state file")
    source = f"{entry.text}/.cruft.json"
    template = safe_git.repository(override, "--template") if override else None
    template = template or safe_git.repository(state.get("template"), f"{source} template")
    return template, safe_git.commit(state.get("commit"), f"{source} commit")


def update_pr(entry: str, heads: list[str]) -> str:
    """'#12' (an open pull request, GitHub via gh), 'branch' (template-update pushed), 'no', or 'unknown'."""
    match = GITHUB.search(entry)
    token = os.environ.get("GH_TOKEN") or os.environ.get("GITHUB_TOKEN")
    if match and shutil.which("gh") and token:
        command = ["gh", "pr", "list", "--repo", match["repo"], "--head", BRANCH, "--state", "open"]
        listed = subprocess.run(
            [*command, "--json", "number"], capture_output=True, text=True, timeout=60, check=False
        )
        if listed.returncode == 0:
            numbers = [f"#{pr['number']}" for pr in json.loads(listed.stdout or "[]")]
            return ", ".join(numbers) or "no"
    if any(head.endswith(f"refs/heads/{BRANCH}") for head in heads):
        return f"branch {BRANCH}"
    return "no"


def report(
    entries: list[Entry], template_override: str | None = None
) -> tuple[list[Row], dict[str, tuple[str, str]]]:
    """One row per project, and each template's newest commit and its release (URL -> (commit, release))."""
    rows: list[Row] = []
    templates: dict[str, Template] = {}
    with tempfile.TemporaryDirectory(prefix="fleet-") as folder:
        scratch = Path(folder)
        for entry in entries:
            row = Row(entry.text)
            rows.append(row)
            try:
                state, heads = read_cruft_state(entry, scratch)
                row.template, row.commit = linked_template(state, entry, template_override)
            except (LookupError, ValueError, OSError) as error:  # safe_git.Refused is a ValueError
                row.problem = str(error) or type(error).__name__
                continue
            context = state.get("context")
            answers = context.get("cookiecutter") if isinstance(context, dict) else None
            answers = answers if isinstance(answers, dict) else {}
            row.answers = tuple(str(answers.get(key, "?")) for key in KEY_ANSWERS)
            row.update_pr = update_pr(entry.text, heads)
            if row.template not in templates:
                templates[row.template] = Template(row.template, scratch)
            template = templates[row.template]
            if template.problem:
                row.problem = f"template {row.template}: {template.problem}"
                continue
            row.behind = template.behind(row.commit)
            row.release = template.release(row.commit)
        newest = {
            url: (template.head, template.release("HEAD") if template.head else "?")
            for url, template in templates.items()
        }
    return rows, newest


HEADERS = ("Project", "Template commit", "Release", "Behind", "Flow", "CI", "Deployment", "Update PR")


def cells(row: Row) -> list[str]:
    if row.problem:
        return [row.project, "—", "—", "—", "—", "—", "—", f"error: {row.problem}"]
    return [row.project, row.commit[:7], row.release, row.behind, *row.answers, row.update_pr]


def markdown(rows: list[Row], newest: dict[str, tuple[str, str]]) -> str:
    inline = terminal.markdown_inline
    lines = ["# Template fleet", ""]
    for url, (head, latest) in newest.items():
        lines.append(f"Template {inline(url)}: newest commit `{head[:7] or '?'}` ({inline(latest)}).")
    lines += ["", "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    for row in rows:
        values = cells(row)
        shown = [inline(value, code=column == 1 and value != "—") for column, value in enumerate(values)]
        lines.append("| " + " | ".join(shown) + " |")
    behind = sum(1 for row in rows if row.behind.isdigit() and int(row.behind) > 0)
    lines += ["", f"{behind} of {len(rows)} projects behind the template.", ""]
    return "\n".join(lines)


def print_table(rows: list[Row]) -> None:
    from rich.console import Console  # rich: terminal.py's own dependency
    from rich.table import Table

    table = Table(*HEADERS, title="Template fleet")
    table.columns[0].overflow = "fold"  # the whole URL or path
    for row in rows:  # a value from a list or a .cruft.json is shown as it is, never read as markup
        table.add_row(*map(terminal.text, cells(row)), style="red" if row.problem else None)
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def read_fleet(path: Path) -> list[Entry]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines())
    return [Entry(line, f"{path}:{number}") for number, line in enumerate(lines, 1) if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fleet", type=Path, help="one project a line: git URL or path")
    parser.add_argument("--output", type=Path, default=Path("fleet.md"), help="markdown report")
    parser.add_argument(
        "--template", help="the template repository to compare with (default: each .cruft.json's)"
    )
    options = parser.parse_args(argv)
    try:
        entries = read_fleet(options.fleet)
    except OSError as error:
        print(f"fleet: cannot read {options.fleet}: {error.strerror or error}", file=sys.stderr)
        return 2
    rows, newest = report(entries, options.template)
    for url, (head, latest) in newest.items():
        print(f"Template {terminal.visible(url)}: newest commit {head[:7] or '?'} ({latest})")
    print_table(rows)
    options.output.write_text(markdown(rows, newest), encoding="utf-8")
    print(f"Written: {options.output}")
    for entry, row in zip(entries, rows, strict=True):
        if row.problem:
            problem = row.problem if row.problem.startswith(entry.where) else f"{entry.where}: {row.problem}"
            print(f"fleet: {terminal.visible(problem)}", file=sys.stderr)
    return 1 if any(row.problem for row in rows) else 0


def _last_line(done: subprocess.CompletedProcess[str]) -> str:
    """git's own reason: its first `fatal:` line (the lines after it are advice), else its last line."""
    said = (done.stderr.strip() or done.stdout.strip()).splitlines()
    fatal = [line for line in said if line.startswith(("fatal:", "error:"))]
    return (fatal or said or [f"git exited {done.returncode}"])[0 if fatal else -1]


if __name__ == "__main__":
    sys.exit(main())
