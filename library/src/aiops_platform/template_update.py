"""Template updates as one pull request: `template update-pr` (`make template-update-pr`).

The scheduled template-update pipeline only calls this; everything up to opening the pull request
runs the same on a laptop.

1. `.cruft.json` names the template and the commit this project is on; `git ls-remote` asks the
   template for its newest commit. The same commit: nothing to do. Its values reach git only as
   safe_git allows (a URL or path, a commit id, a branch name; never an option or a remote helper).
2. Behind: branch `template-update` is (re)made from the checked-out commit (the default branch in
   CI), and the template is merged three-way the way `cruft update` does it (merge() below): where
   the project and the template changed the same lines, the file gets git's conflict markers (OURS
   ... THEIRS below); where git lacks the base version it falls back to `git apply --reject`, which
   leaves `<file>.rej`; where the project no longer has a file the template changed (deleted, or
   renamed with its package), which cruft drops without a word, the change goes to `<file>.rej` too.
   All are found and named, with their lines.
3. Everything, conflicts included, is committed on the branch (`--no-verify`: the markers are meant
   to be seen), so the pull request shows them. Its checks fail while any remains: the
   `no-merge-conflicts` and `no-rejected-hunks` pre-commit hooks (`make lint`), this command's exit
   code, and, when it opens the pull request, a failed commit status (`template-update`).
4. The pull-request body (written to .aiops/template-update.md, secrets masked) lists the template's CHANGELOG
   entries between the two commits (read from the template's own history: a blob-less clone, no
   checkout), the release each commit is on, the files changed and the conflicts.
5. `--push` pushes the branch (`--force-with-lease`, so a branch someone else moved is not
   overwritten); `--open-pr` also opens the pull request, or updates the one already open, with the
   repository's own identity: GITHUB_TOKEN on GitHub Actions, SYSTEM_ACCESSTOKEN (the build
   service) on Azure Pipelines. The platform's calls reuse pr_comment's (httpx, one-line refusals).

`make template-update` is the same merge on the checked-out branch, nothing committed
(`--in-place`), with the same report and exit codes.

Only git, cruft and the standard library are needed up to the push (`python -m aiops_platform.template_update`
runs without the project's environment); httpx is imported only to open the pull request.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import difflib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from aiops_platform import ci_api, paths, safe_git
from aiops_platform.changelog import new_entries, release, sections  # noqa: F401 - the updater's API

BRANCH = "template-update"
BODY_FILE = paths.STATE / "template-update.md"
SKIPPED_DIFF = paths.STATE / "template-update-skipped.diff"  # the template's changes to skipped files
CRUFT_FILE = ".cruft.json"
CHANGELOG = "CHANGELOG.md"
STATUS_CONTEXT = "template-update"  # the commit status (GitHub) / pull-request status (Azure DevOps)
MARKER = "<!-- aiops-template-update -->"
TRAILER = "Template-Update-Commit:"  # ends the commits this makes: a branch without it has people's work
AZURE_DEVOPS_DESCRIPTION_LIMIT = 4_000  # characters Azure DevOps takes in a pull-request description
GIT_TIMEOUT_SECONDS = 300
# git's conflict markers, built, so that this file holds none (a scan for them finds real ones only)
OURS, SEPARATOR, THEIRS = "<" * 7 + " ours", "=" * 7, ">" * 7 + " theirs"
FALLBACK_IDENTITY = {"user.name": "Template update", "user.email": "template-update@noreply.invalid"}

Status = Literal["up-to-date", "updated", "conflicts"]
MISSING_FIX = (
    "changed by the template, but this project has no such file (deleted or renamed); the change is "
    "in {rejected}: apply it where the file is now and delete the .rej, or, to keep the file deleted, "
    "delete the .rej and add the path to [tool.cruft] skip in pyproject.toml"
)
REMOVED_FIX = (
    "removed by the template, but this project changed it (kept as it is): the template no longer has "
    "this file (platform code lives in the pinned platform library now); move your change into a module "
    "of your own, or propose it to the platform, then delete the file"
)


class UpdateError(Exception):
    """Why the update stopped, in one line that names the fix."""


@dataclass(frozen=True)
class Conflict:
    path: str  # the project file that needs a hand
    lines: tuple[int, ...]  # where: the lines starting OURS, or the rejected hunks' first lines
    rejected: str | None = None  # the .rej file git left, when the hunk could not be merged at all
    missing: bool = False  # the project has no such file (deleted or renamed): the change is in `rejected`
    removed: bool = False  # the template deleted the file, which this project changed: kept, named

    def __str__(self) -> str:
        where = f" (line{'s' if len(self.lines) > 1 else ''} {', '.join(map(str, self.lines))})"
        where = where if self.lines else ""
        if self.missing:
            return f"{self.path}: {MISSING_FIX.format(rejected=self.rejected)}"
        if self.removed:
            return f"{self.path}: {REMOVED_FIX}"
        if self.rejected:
            return f"{self.path}{where}: hunks rejected, in {self.rejected}"
        return f"{self.path}{where}: conflict markers {OURS} / {SEPARATOR} / {THEIRS}"


@dataclass
class Update:
    status: Status
    template: str
    old: str
    new: str
    old_release: str | None = None
    new_release: str | None = None
    behind: int | None = None
    entries: list[tuple[str, list[str]]] = field(default_factory=list)  # CHANGELOG heading -> entries
    changed: list[tuple[str, str]] = field(default_factory=list)  # (git status letter, path)
    conflicts: list[Conflict] = field(default_factory=list)
    base: str = ""
    base_commit: str = ""  # what the branch starts from
    commit: str | None = None  # the branch's commit
    body: str = ""
    skipped: dict[str, str] = field(default_factory=dict)  # files the project skips -> the template's diff

    @property
    def title(self) -> str:
        release = f" {self.new_release}" if self.new_release else ""
        return f"Template update{release}: {self.old[:7]} → {self.new[:7]}"


# --- git ---------------------------------------------------------------------------------------------


def git(cwd: Path, *args: str, check: bool = True) -> str:
    """git through safe_git (no shell, safe transports only); UpdateError when it fails and `check`."""
    try:
        done = safe_git.run(cwd, *args, timeout=GIT_TIMEOUT_SECONDS)
    except FileNotFoundError as error:
        raise UpdateError("git is not installed") from error
    except subprocess.TimeoutExpired as error:
        raise UpdateError(f"git {args[0]} took longer than {GIT_TIMEOUT_SECONDS} s") from error
    if check and done.returncode != 0:
        said = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise UpdateError(f"git {' '.join(args[:2])} failed: {said[-1] if said else done.returncode}")
    return done.stdout


def read_state(project: Path) -> dict[str, Any]:
    """`.cruft.json`, its template, commit and checkout checked before any of them reaches git."""
    path = project / CRUFT_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        safe_git.repository(state["template"], f"{CRUFT_FILE} template")
        safe_git.commit(state["commit"], f"{CRUFT_FILE} commit")
        if state.get("checkout") is not None:
            safe_git.ref(state["checkout"], f"{CRUFT_FILE} checkout")
        if not isinstance(state.get("context", {}).get("cookiecutter"), dict):
            raise TypeError("context.cookiecutter must hold the answers")
    except safe_git.Refused as error:
        raise UpdateError(str(error)) from error
    except FileNotFoundError as error:
        raise UpdateError(
            f"no {CRUFT_FILE}: this project is not linked to the template; link it once with: "
            "cruft link <template-git-url>"
        ) from error
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UpdateError(
            f"{CRUFT_FILE} is not cruft's state file ({type(error).__name__}: {error})"
        ) from error
    return state


def latest_commit(template: str, checkout: str | None = None) -> str:
    """The template's newest commit on its default branch (or the branch .cruft.json follows)."""
    ref = checkout or "HEAD"
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return ref
    listed = git(Path(tempfile.gettempdir()), "ls-remote", "--", template, ref)
    for line in listed.splitlines():
        sha, name = line.split("\t", 1)
        if name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            return sha
    raise UpdateError(f"the template {template} has no {ref} (git ls-remote found nothing)")


class TemplateHistory:
    """The template's commits and trees, without its files' contents until asked for (a blob-less,
    bare clone: no checkout, only the CHANGELOG versions read are fetched)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self._folder = tempfile.TemporaryDirectory(prefix="template-history-")
        self.repo = Path(self._folder.name) / "template.git"
        local = Path(template).expanduser()
        source = local.resolve().as_uri() if local.exists() else template  # file://: the filter applies
        folder = Path(self._folder.name)
        git(folder, "clone", "-q", "--bare", "--filter=blob:none", "--", source, str(self.repo))

    def __enter__(self) -> TemplateHistory:
        return self

    def __exit__(self, *_: object) -> None:
        self._folder.cleanup()

    def show(self, commit: str, path: str) -> str | None:
        done = safe_git.run(self.repo, "show", f"{safe_git.commit(commit, 'commit')}:{path}")
        return done.stdout if done.returncode == 0 else None

    def behind(self, old: str, new: str) -> int | None:
        span = f"{safe_git.commit(old, 'commit')}..{safe_git.commit(new, 'commit')}"
        done = safe_git.run(self.repo, "rev-list", "--count", span)
        return int(done.stdout) if done.returncode == 0 else None


# --- copies of platform modules ----------------------------------------------------------------

COPY_FIX = (
    "a copy of the platform's {module} (from before the platform became a library), changed here and "
    "kept by the update: move your change into a module of your own, or propose it to the platform, "
    "then delete this file"
)


def platform_copies(files: Sequence[Path]) -> list[str]:
    """The files among `files` that are a project's old copy of a platform module: the module's name,
    and either the first line of its docstring as the platform has it or an import of another
    platform module from the file's own package (`from <package> import paths`), as every copy had.
    One line each, naming the fix."""
    import ast

    package = Path(__file__).parent
    modules = {path.stem for path in package.glob("*.py")} - {"__init__", "__main__"}
    found = []
    for file in files:
        if file.suffix != ".py" or file.stem not in modules:
            continue
        try:
            tree = ast.parse(file.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError):
            continue
        own = ast.get_docstring(ast.parse((package / file.name).read_text(encoding="utf-8"))) or ""
        copied = ast.get_docstring(tree) or ""
        same_words = bool(copied) and copied.splitlines()[0] == own.splitlines()[0]
        if same_words or _imports_siblings(tree, file.parent.name, modules):
            found.append(f"{file}: {COPY_FIX.format(module=f'aiops_platform.{file.stem}')}")
    return found


def _imports_siblings(tree: Any, package: str, modules: set[str]) -> bool:
    """Does the module import a platform module's name from its own package?"""
    import ast

    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == package and {alias.name for alias in node.names} & modules:
                return True
            if node.module.startswith(f"{package}.") and node.module.split(".")[1] in modules:
                return True
    return False


# --- conflicts -------------------------------------------------------------------------------------


def find_conflicts(project: Path, candidates: Sequence[str]) -> list[Conflict]:
    """Conflict markers in `candidates` (the files the update touched) and `.rej` files among them."""
    conflicts = []
    for name in sorted(set(candidates)):
        path = project / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary: git merges none of those with markers
        if name.endswith(".rej"):
            hunks = tuple(int(m[1]) for m in re.finditer(r"^@@ -(\d+)", text, re.MULTILINE))
            conflicts.append(Conflict(name.removesuffix(".rej"), hunks, rejected=name))
            continue
        starts = tuple(
            number for number, line in enumerate(text.splitlines(), 1) if line.startswith(OURS[:7])
        )
        if starts and any(line.startswith(THEIRS[:7]) for line in text.splitlines()):
            conflicts.append(Conflict(name, starts))
    return conflicts


# --- the update --------------------------------------------------------------------------------------


def _base_branch(project: Path, env: Mapping[str, str]) -> str:
    """The branch the pull request goes into: the CI run's branch, else the checked-out one."""
    for name in ("GITHUB_REF_NAME", "BUILD_SOURCEBRANCH"):
        ref = env.get(name, "")
        if ref and not ref.startswith("refs/pull/") and "/merge" not in ref:
            return ref.removeprefix("refs/heads/")
    current = git(project, "rev-parse", "--abbrev-ref", "HEAD").strip()
    return "main" if current == "HEAD" else current


def _identity(project: Path) -> list[str]:
    """`-c user.name=... -c user.email=...` where git has none configured (CI runners)."""
    flags = []
    for key, value in FALLBACK_IDENTITY.items():
        if not git(project, "config", key, check=False).strip():
            flags += ["-c", f"{key}={value}"]
    return flags


def _behind(project: Path) -> tuple[dict[str, Any], str]:
    """The checked state and the template's newest commit; refuses a working tree with changes."""
    state = read_state(project)
    new = latest_commit(state["template"], state.get("checkout"))
    if new != state["commit"] and git(project, "status", "--porcelain", "--untracked-files=no").strip():
        raise UpdateError("the working tree has uncommitted changes: commit or stash them first")
    return state, new


def prepare(project: Path, base: str | None = None, env: Mapping[str, str] | None = None) -> Update:
    """Make branch `template-update` with the template's newest version merged in, and the pull
    request's body; the checked-out branch is left as it was."""
    env = os.environ if env is None else env
    state, new = _behind(project)
    template, old = state["template"], state["commit"]
    if new == old:
        return Update("up-to-date", template, old, new)
    base = (base or _base_branch(project, env)).removeprefix("refs/heads/")
    start = git(project, "rev-parse", "HEAD").strip()
    current = git(project, "rev-parse", "--abbrev-ref", "HEAD").strip()
    back = start if current == "HEAD" else current
    local = git(project, "rev-parse", "--verify", "-q", f"refs/heads/{BRANCH}", check=False).strip()
    if (
        local
        and TRAILER not in git(project, "log", "-1", "--format=%B", local)
        and not _is_ancestor(project, local, start)
    ):
        raise UpdateError(
            f"branch {BRANCH} has commits of yours that {current} does not have: merge them, or delete the "
            f"branch (git branch -D {BRANCH}), then run again"
        )
    git(project, "checkout", "-q", "-B", BRANCH, start)
    try:
        update = _update(project, state, start, stage=True)
    except BaseException:
        git(project, "reset", "-q", "--hard", start, check=False)  # tracked files only: untracked stay
        git(project, "checkout", "-q", back, check=False)
        raise
    update.base, update.base_commit = base, start
    update.body = ci_api.hide_tokens(body(update), env)
    _write_body(project, update.body)
    _write_skipped(project, update)
    message = ci_api.hide_tokens(f"{update.title}\n\n{_commit_summary(update)}", env)
    git(project, *_identity(project), "commit", "-q", "--no-verify", "--allow-empty", "-m", message)
    update.commit = git(project, "rev-parse", "HEAD").strip()
    git(project, "checkout", "-q", back)
    return update


def _untracked(project: Path) -> set[str]:
    return set(git(project, "ls-files", "--others", "--exclude-standard", "-z").split("\0")) - {""}


def _update(project: Path, state: dict[str, Any], start: str, *, stage: bool) -> Update:
    """Merge the template into the working tree and find what needs a hand. `stage`: every change
    staged for the commit (on the branch); else left as the merge leaves it (in place)."""
    untracked, old = _untracked(project), state["commit"]
    new, missing, skipped = merge(project, state)
    unmerged = git(project, "diff", "--name-only", "--diff-filter=U").split()
    made = sorted(_untracked(project) - untracked)  # new template files, .rej files; never yours
    if stage:
        git(project, "add", "-u")  # the update's changes, conflicts included
        if made:
            git(project, "add", "--", *made)
        listed = git(project, "diff", "--cached", "--name-status", start)
    else:
        listed = git(project, "diff", "--name-status", start) + "".join(f"A\t{name}\n" for name in made)
    changed = [(line.split("\t")[0][:1], line.split("\t")[-1]) for line in listed.splitlines() if line]
    kept_apart = {conflict.rejected for conflict in missing}
    found = find_conflicts(project, [*unmerged, *(name for _, name in changed if name not in kept_apart)])
    conflicts = sorted([*missing, *found], key=lambda conflict: conflict.path)
    update = Update("conflicts" if conflicts else "updated", state["template"], old, new)
    update.changed, update.conflicts, update.skipped = changed, conflicts, skipped
    with TemplateHistory(state["template"]) as history:
        old_log, new_log = history.show(update.old, CHANGELOG), history.show(new, CHANGELOG)
        update.old_release, update.new_release = release(old_log), release(new_log)
        update.entries = new_entries(old_log, new_log)
        update.behind = history.behind(update.old, new)
    return update


def merge(project: Path, state: dict[str, Any]) -> tuple[str, list[Conflict], dict[str, str]]:
    """`cruft update`'s own steps (cruft 2.16, pinned; its functions, in this process): clone the
    template, render this project's commit and the newest with the project's answers, apply the
    difference with `git apply -3` (else `--reject`), record the new commit in `state` and .cruft.json.

    One step more than cruft: cruft takes the files this project no longer has out of both renders
    (so that the patch applies), which drops the template's changes to them without a word. Here
    each such change is written to `<file>.rej` first and returned as a conflict, so the update
    fails until someone has looked. And one more: the template's changes to the files this project
    skips (`[tool.cruft] skip`), which cruft leaves out without a word, are returned as diffs, so the
    team hears of them. Returns the new commit, those conflicts and those diffs."""
    try:
        from cookiecutter.exceptions import CookiecutterException
        from cruft._commands import utils
        from cruft._commands.update import _apply_patch
        from cruft._commands.utils.iohelper import AltTemporaryDirectory
        from cruft.exceptions import CruftError
        from git.exc import GitError
        from jinja2 import TemplateError
    except ImportError as error:
        raise UpdateError("cruft is not installed: make install (it is a dev dependency)") from error
    scratch_name = str(Path("repo", state.get("directory") or ""))  # where cruft finds local extensions
    said = io.StringIO()  # cruft's and git's own words, for the one line on failure
    with (
        safe_git.safe_process_environment(),
        AltTemporaryDirectory(scratch_name) as scratch_folder,
        contextlib.redirect_stdout(said),
        contextlib.redirect_stderr(said),
    ):
        scratch = Path(scratch_folder)
        old_render, new_render = scratch / "current_template", scratch / "new_template"
        skip = utils.generate._get_skip_paths(copy.deepcopy(state), project / "pyproject.toml")
        unskipped = copy.deepcopy(state) | {"skip": []}  # whole renders: skipped files compared below
        try:
            with utils.cookiecutter.get_cookiecutter_repo(
                state["template"], scratch / "repo", state.get("checkout")
            ) as repo:
                new = repo.head.object.hexsha
                for render, commit in ((old_render, state["commit"]), (new_render, new)):
                    context = utils.generate.cookiecutter_template(
                        output_dir=render,
                        repo=repo,
                        cruft_state=copy.deepcopy(unskipped),  # cruft extends its `skip` list in place
                        project_dir=scratch,  # where cruft reads pyproject.toml's skip list: none there
                        checkout=commit,
                    )
        except (CruftError, GitError, CookiecutterException, TemplateError, OSError, ValueError) as error:
            reason = (str(error) or said.getvalue().strip() or type(error).__name__).splitlines()[-1]
            raise UpdateError(f"the template could not be rendered: {reason}") from error
        skipped = _skipped_changes(old_render, new_render, skip)
        for render in (old_render, new_render):
            utils.generate._remove_paths(render, skip)
        gone = {
            path.relative_to(old_render)
            for path in old_render.rglob("*")
            if not (project / path.relative_to(old_render)).exists()
        }
        lost = _lost(old_render, new_render, gone)
        missing = [_set_aside(project, name, old_render, new_render) for name in lost]
        missing += [
            Conflict(name, (), removed=True)
            for name in _changed_then_removed(project, old_render, new_render)
        ]
        for render in (old_render, new_render):
            _remove(render, gone)
        patch = utils.diff.get_diff(old_render, new_render)
        if patch.strip():
            _apply_patch(patch, project, True)
    state.update(commit=new, context=context)
    (project / CRUFT_FILE).write_text(utils.cruft.json_dumps(state), encoding="utf-8")
    return new, missing, skipped


def _skipped_changes(old_render: Path, new_render: Path, skip: set[Path | str]) -> dict[str, str]:
    """The template's changes to the files this project skips (a path, or a glob as cruft takes it):
    each file's unified diff, old render to new."""
    names = set()
    for render in (old_render, new_render):
        for entry in skip:
            for path in [render / entry] if isinstance(entry, Path) else render.glob(entry):
                files = path.rglob("*") if path.is_dir() else [path]
                names |= {file.relative_to(render).as_posix() for file in files if file.is_file()}
    changes = {}
    for name in sorted(names):
        old, new = (
            (render / name).read_bytes() if (render / name).is_file() else b""
            for render in (old_render, new_render)
        )
        if old != new:
            changes[name] = _unified(name, old, new)
    return changes


def _unified(name: str, old: bytes, new: bytes) -> str:
    """`name`'s change from `old` to `new` as a unified diff (git apply takes it)."""
    try:
        before, after = old.decode("utf-8").splitlines(True), new.decode("utf-8").splitlines(True)
    except UnicodeDecodeError:
        return f"Binary file {name} differs: take it from the template at the new commit\n"
    return "".join(
        line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
        for line in difflib.unified_diff(before, after, f"a/{name}", f"b/{name}")
    )


def _lost(old_render: Path, new_render: Path, gone: set[Path]) -> list[str]:
    """The files cruft would leave out (in a path this project no longer has) that the template
    changed or added; a file the template deleted too is not lost."""
    files = {path.relative_to(render) for render in (old_render, new_render) for path in render.rglob("*")}
    lost = []
    for name in sorted(files):
        if not (new_render / name).is_file() or not gone.intersection((name, *name.parents)):
            continue
        old = (old_render / name).read_bytes() if (old_render / name).is_file() else None
        if old != (new_render / name).read_bytes():
            lost.append(name.as_posix())
    return lost


def _changed_then_removed(project: Path, old_render: Path, new_render: Path) -> list[str]:
    """The files the template deleted that this project still has, changed: a merge would drop the
    change with the file, or (git apply) keep a stale copy without a word."""
    return [
        name.as_posix()
        for name in sorted(path.relative_to(old_render) for path in old_render.rglob("*") if path.is_file())
        if not (new_render / name).exists()
        and (project / name).is_file()
        and (project / name).read_bytes() != (old_render / name).read_bytes()
    ]


def _set_aside(project: Path, name: str, old_render: Path, new_render: Path) -> Conflict:
    """The template's change to `name` as `<name>.rej` in the project, with a line saying what it is."""
    old = (old_render / name).read_bytes() if (old_render / name).is_file() else b""
    hunks = _unified(name, old, (new_render / name).read_bytes())
    rejected = f"{name}.rej"
    path = project / rejected
    path.parent.mkdir(parents=True, exist_ok=True)
    note = f"# The template changed {name}, which this project no longer has (deleted or renamed).\n"
    path.write_text(note + hunks, encoding="utf-8")
    lines = tuple(int(match[1]) for match in re.finditer(r"^@@ -(\d+)", hunks, re.MULTILINE))
    return Conflict(name, lines, rejected=rejected, missing=True)


def _remove(root: Path, names: set[Path]) -> None:
    for name in names:
        path = root / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _write_skipped(project: Path, update: Update) -> None:
    """The template's changes to the files this project skips, as one diff to read (or git apply)."""
    path = project / SKIPPED_DIFF
    if not update.skipped:
        path.unlink(missing_ok=True)  # none from an older update left behind
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(update.skipped.values()), encoding="utf-8")


def _skipped_lines(update: Update) -> list[str]:
    """The terminal's block on the skipped files the template changed: which, and how to adopt them."""
    if not update.skipped:
        return []
    return [
        f"Not merged: the template changed {_count(len(update.skipped), 'file')} this project keeps as its "
        f"own ([tool.cruft] skip in pyproject.toml): {', '.join(update.skipped)}.",
        f"The template's change: {SKIPPED_DIFF}; adopt what you want by hand "
        f"(git apply {SKIPPED_DIFF} takes all of it).",
    ]


def _write_body(project: Path, text: str) -> None:
    path = project / BODY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _commit_summary(update: Update) -> str:
    lines = [f"Template: {update.template}", f"From {update.old} to {update.new}."]
    lines += [f"Conflict: {conflict}" for conflict in update.conflicts]
    return "\n".join([*lines, "", f"{TRAILER} {update.new}"])


def _on(commit: str, release_name: str | None) -> str:
    return f"`{commit[:7]}` ({release_name})" if release_name else f"`{commit[:7]}`"


def body(update: Update) -> str:
    """The pull request's description, in markdown."""
    behind = f", {update.behind} template commit{'s' if update.behind != 1 else ''}" if update.behind else ""
    out = [
        MARKER,
        f"## {update.title}",
        "",
        f"This project moves from template commit {_on(update.old, update.old_release)} to "
        f"{_on(update.new, update.new_release)}{behind}. Template: {update.template}",
        "",
    ]
    if update.conflicts:
        out += [
            f"### ❌ {_count(len(update.conflicts), 'conflict')}: resolve before merging",
            "",
            "The template and this project changed the same lines, or the template changed a file this "
            "project no longer has. The conflicts are committed on this branch, and its checks fail while "
            "any remains (`make lint`: no conflict markers, no `.rej` files):",
            "",
            *(f"- `{conflict.path}`{_where(conflict)}" for conflict in update.conflicts),
            "",
            f"Resolve: `git fetch origin && git checkout {BRANCH}`; in each file keep what you want "
            f"between `{OURS}` (this project) and `{THEIRS}` (the template) and delete the "
            "markers; apply a `.rej` file's hunks by hand (for a file deleted or renamed here: where it "
            "is now, or add its path to `[tool.cruft] skip` in pyproject.toml), then delete the `.rej`; "
            "`make lint test`, commit, push.",
            "",
        ]
    else:
        out += ["### ✅ No conflicts", "", "The template's changes merged cleanly with this project's.", ""]
    out += ["### What changed in the template (CHANGELOG)", ""]
    if update.entries:
        for heading, entries in update.entries:
            out += [f"#### {heading}", "", *entries, ""]
    else:
        out += ["The template's CHANGELOG.md has no new entry between these commits.", ""]
    out += [f"### Files changed ({len(update.changed)})", ""]
    out += [f"- {_STATUS.get(status, status)} `{name}`" for status, name in update.changed] + [""]
    if update.skipped:
        out += [
            f"### Not merged: {_count(len(update.skipped), 'file')} this project keeps as its own",
            "",
            "The template changed these files, which `[tool.cruft] skip` (pyproject.toml) leaves to this "
            "project; adopt what you want of the change by hand:",
            "",
            *(f"- `{name}`" for name in update.skipped),
            "",
            "<details><summary>The template's change</summary>",
            "",
            "````diff",
            "".join(update.skipped.values()).rstrip("\n"),
            "````",
            "",
            "</details>",
            "",
        ]
    out += [
        "---",
        f"Made by `make template-update-pr` (cruft update). While the template is ahead, the next run "
        f"replaces branch `{BRANCH}` and this description, unless someone has pushed to the branch: "
        "then it leaves both alone until this pull request is merged or closed.",
        "",
    ]
    return "\n".join(out)


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "T": "type changed", "C": "copied"}


def _where(conflict: Conflict) -> str:
    lines = ", ".join(map(str, conflict.lines))
    at = f", line{'s' if len(conflict.lines) > 1 else ''} {lines}" if lines else ""
    if conflict.missing:
        return f": not in this project (deleted or renamed); the template's change: `{conflict.rejected}`"
    if conflict.removed:
        return ": the template removed it, this project changed it; move the change into a module of your own"
    if conflict.rejected:
        return f"{at}: hunks the merge could not place are in `{conflict.rejected}`"
    return f"{at}: conflict markers `{OURS}` … `{SEPARATOR}` … `{THEIRS}`"


# --- push and pull request ---------------------------------------------------------------------------


def _is_ancestor(project: Path, commit: str, descendant: str) -> bool:
    return safe_git.run(project, "merge-base", "--is-ancestor", commit, descendant).returncode == 0


Pushed = Literal["pushed", "same", "kept"]


def push(project: Path, update: Update, remote: str = "origin") -> Pushed:
    """Push the branch: "pushed"; "same" when the remote one holds this update already (same tree,
    same base: a later run changes nothing); "kept" when someone has committed on it (a conflict being
    resolved) and it is not merged into the base yet: their work is never overwritten.
    `--force-with-lease` names the remote commit it replaces, so a push in between is not lost."""
    assert update.commit, "prepare() first"
    listed = git(project, "ls-remote", remote, f"refs/heads/{BRANCH}").split()
    expected = listed[0] if listed else ""
    if expected:
        git(project, "fetch", "-q", remote, f"refs/heads/{BRANCH}")
        made_here = TRAILER in git(project, "log", "-1", "--format=%B", "FETCH_HEAD")
        if not made_here and not _is_ancestor(project, "FETCH_HEAD", update.base_commit):
            return "kept"
        theirs = git(project, "rev-parse", "FETCH_HEAD^{tree}", "FETCH_HEAD^").split()
        ours = git(project, "rev-parse", update.commit + "^{tree}", update.commit + "^").split()
        if theirs == ours:
            return "same"
    lease = f"--force-with-lease=refs/heads/{BRANCH}:{expected}"
    git(project, "push", "-q", lease, remote, f"{update.commit}:refs/heads/{BRANCH}")
    return "pushed"


def open_pull_request(update: Update, env: Mapping[str, str] | None = None) -> str:
    """Open the pull request from BRANCH, or update the one open, and set the conflict status on it.
    The message says what was done; UpdateError when the platform refused."""
    from aiops_platform import pr_comment  # httpx: only here

    env = os.environ if env is None else env
    try:
        if env.get("GITHUB_ACTIONS") == "true":
            return _github(update, env, pr_comment)
        if env.get("TF_BUILD", "").lower() == "true":
            return _azure_devops(update, env, pr_comment)
    except pr_comment.Skipped as refused:
        message = str(refused).replace("; no comment posted", "")
        raise UpdateError(ci_api.hide_tokens(message, env)) from refused
    raise UpdateError(
        "not on GitHub Actions or Azure Pipelines: the branch is pushed; open the pull request from "
        f"{BRANCH} by hand, with {BODY_FILE} as its description"
    )


def _github(update: Update, env: Mapping[str, str], pr_comment: Any) -> str:
    import httpx

    repository = env.get("GITHUB_REPOSITORY", "")
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    if repository.count("/") != 1 or not token:
        raise UpdateError("GITHUB_REPOSITORY and GITHUB_TOKEN (the job's github.token) are needed")
    api, system = ci_api.github_api(env), "GitHub"
    repo = f"{api}/repos/{repository}"
    text = update.body[: pr_comment.GITHUB_LIMIT]
    owner = repository.split("/")[0]
    with httpx.Client(headers=ci_api.github_headers(token), timeout=ci_api.TIMEOUT_SECONDS) as client:
        try:
            listed = _call(
                client, "GET", f"{repo}/pulls?head={owner}:{BRANCH}&state=open", system, pr_comment
            )
            found = listed.json()
            if found:
                number = found[0]["number"]
                payload = {"title": update.title, "body": text}
                _call(client, "PATCH", f"{repo}/pulls/{number}", system, pr_comment, payload)
                action = "updated"
            else:
                payload = {"title": update.title, "body": text, "head": BRANCH, "base": update.base}
                number = _call(client, "POST", f"{repo}/pulls", system, pr_comment, payload).json()["number"]
                action = "opened"
            state = "failure" if update.conflicts else "success"
            status = {"state": state, "context": STATUS_CONTEXT, "description": _status_text(update)}
            _call(client, "POST", f"{repo}/statuses/{update.commit}", system, pr_comment, status)
        except httpx.HTTPError as error:
            raise UpdateError(f"could not reach GitHub ({type(error).__name__}: {error})") from error
    return f"{action} pull request #{number} ({repository}), status {STATUS_CONTEXT}: {state}"


def _azure_devops(update: Update, env: Mapping[str, str], pr_comment: Any) -> str:
    import httpx

    collection = env.get("SYSTEM_COLLECTIONURI", "").rstrip("/")
    project = env.get("SYSTEM_TEAMPROJECTID") or env.get("SYSTEM_TEAMPROJECT", "")
    repository = env.get("BUILD_REPOSITORY_ID", "")
    token = env.get("SYSTEM_ACCESSTOKEN", "")
    if not (collection and project and repository) or not token or token.startswith("$("):
        raise UpdateError(
            "SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT, BUILD_REPOSITORY_ID and SYSTEM_ACCESSTOKEN are needed "
            "(map it in the step: SYSTEM_ACCESSTOKEN: $(System.AccessToken))"
        )
    repo = f"{collection}/{quote(project, safe='')}/_apis/git/repositories/{quote(repository, safe='')}"
    name = env.get("BUILD_REPOSITORY_NAME") or repository
    system, version = "Azure DevOps", pr_comment.AZURE_DEVOPS_API
    text = _shortened(update.body, AZURE_DEVOPS_DESCRIPTION_LIMIT)
    source = f"refs/heads/{BRANCH}"
    with httpx.Client(headers=ci_api.azure_devops_headers(token), timeout=ci_api.TIMEOUT_SECONDS) as client:
        try:
            query = f"searchCriteria.sourceRefName={source}&searchCriteria.status=active&{version}"
            found = _call(client, "GET", f"{repo}/pullrequests?{query}", system, pr_comment).json()["value"]
            if found:
                number = found[0]["pullRequestId"]
                payload = {"title": update.title, "description": text}
                _call(client, "PATCH", f"{repo}/pullrequests/{number}?{version}", system, pr_comment, payload)
                action = "updated"
            else:
                payload = {
                    "sourceRefName": source,
                    "targetRefName": f"refs/heads/{update.base}",
                    "title": update.title,
                    "description": text,
                }
                made = _call(client, "POST", f"{repo}/pullrequests?{version}", system, pr_comment, payload)
                number = made.json()["pullRequestId"]
                action = "opened"
            iterations = f"{repo}/pullRequests/{number}/iterations?{version}"
            latest = max(
                (item["id"] for item in _call(client, "GET", iterations, system, pr_comment).json()["value"]),
                default=None,
            )
            state = "failed" if update.conflicts else "succeeded"
            status: dict[str, Any] = {
                "state": state,
                "description": _status_text(update),
                "context": {"name": "conflicts", "genre": STATUS_CONTEXT},
            }
            if latest is not None:
                status["iterationId"] = latest
            _call(
                client, "POST", f"{repo}/pullRequests/{number}/statuses?{version}", system, pr_comment, status
            )
        except httpx.HTTPError as error:
            raise UpdateError(f"could not reach Azure DevOps ({type(error).__name__}: {error})") from error
    return f"{action} pull request {number} ({name}), status {STATUS_CONTEXT}/conflicts: {state}"


def _call(client: Any, method: str, url: str, system: str, pr_comment: Any, payload: Any = None) -> Any:
    response = client.request(method, url, json=payload)
    if response.is_success:
        return response
    said = ci_api.api_message(response)
    answer = f"{response.status_code} {said}".strip()
    if system == "GitHub":
        fix = {
            401: "the token is not valid: set GITHUB_TOKEN to the job's github.token",
            403: "give the job `permissions: contents: write, pull-requests: write, statuses: write`, "
            "and allow GitHub Actions to create pull requests "
            "(Settings > Actions > General > Workflow permissions)",
            422: "GitHub refused the pull request: is the branch pushed, and the base branch right?",
        }
    else:
        fix = {
            401: "the token was refused: map SYSTEM_ACCESSTOKEN: $(System.AccessToken) in the step",
            403: 'allow "<project> Build Service" to "Contribute" and "Contribute to pull requests" '
            "(Project settings > Repositories > Security)",
        }
    reason = fix.get(response.status_code, f"{method} {response.request.url.path} failed")
    raise pr_comment.Skipped(f"{system} refused the pull request ({answer}): {reason}")


def _status_text(update: Update) -> str:
    if update.conflicts:
        names = ", ".join(conflict.path for conflict in update.conflicts)
        return f"Resolve the template-update conflicts in: {names}"[:140]
    return "The template update merged without conflicts"


def _shortened(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    note = f"\n\n… cut at {limit:,} characters: the whole description is {BODY_FILE} in the pipeline's run."
    kept = text[: limit - len(note)]
    return kept[: kept.rindex("\n")] + note if "\n" in kept else kept + note


# --- one call for the CLI and `python -m` -------------------------------------------------------------


def run(
    project: Path,
    *,
    base: str | None = None,
    push_branch: bool = False,
    open_pr: bool = False,
    env: Mapping[str, str] | None = None,
    say: Any = print,
) -> int:
    """Prepare, then push and open the pull request when asked. 0: up to date or merged cleanly; 1: the
    update has conflicts (committed on the branch for the pull request); 2: it could not be done."""
    try:
        update = prepare(project, base, env)
        if update.status == "up-to-date":
            (project / BODY_FILE).unlink(missing_ok=True)  # no description of an older update left behind
            say(f"Up to date: the template's newest commit is {update.new[:7]}, the one this project is on.")
            return 0
        commit = (update.commit or "")[:7]
        if update.conflicts:
            say(
                f"Template update stopped on {_count(len(update.conflicts), 'conflict')}: {_resolve(update)} "
                f"on branch {BRANCH} (the pull request's checks fail until then)."
            )
        changed = _count(len(update.changed), "file")
        say(f"{update.title}: {changed} changed on branch {BRANCH} ({commit}).")
        for conflict in update.conflicts:
            say(f"Conflict: {conflict}")
        for line in _skipped_lines(update):
            say(line)
        say(f"Pull-request description: {BODY_FILE}")
        pushed = push(project, update) if push_branch or open_pr else None
        if pushed == "kept":
            say(
                f"Not pushed: {BRANCH} on the remote has commits made since (a resolution?) that are not "
                "merged yet; once its pull request is merged (or closed and the branch deleted), the next "
                "run starts afresh."
            )
            return 0
        if pushed:
            say(
                f"Pushed {BRANCH}."
                if pushed == "pushed"
                else f"{BRANCH} on the remote already holds this update."
            )
        if open_pr:
            say(open_pull_request(update, env))
    except UpdateError as error:
        say(f"Template update failed: {ci_api.hide_tokens(str(error), os.environ if env is None else env)}")
        return 2
    return 1 if update.conflicts else 0


def update_in_place(project: Path, say: Any = print) -> int:
    """`make template-update`: the same merge on the checked-out branch, nothing committed. 0: up to
    date or merged cleanly; 1: something needs a hand (each named); 2: it could not be done."""
    try:
        state, new = _behind(project)
        if new == state["commit"]:
            say(f"Up to date: the template's newest commit is {new[:7]}, the one this project is on.")
            return 0
        start = git(project, "rev-parse", "HEAD").strip()
        update = _update(project, state, start, stage=False)
        _write_skipped(project, update)
    except UpdateError as error:
        say(f"Template update failed: {ci_api.hide_tokens(str(error), os.environ)}")
        return 2
    if update.conflicts:
        say(
            f"Template update stopped on {_count(len(update.conflicts), 'conflict')}: {_resolve(update)} "
            "before you commit (make lint fails until then)."
        )
    say(f"{update.title}: {_count(len(update.changed), 'file')} changed, not committed (git status).")
    for heading, entries in update.entries:
        titles = "; ".join(_entry_title(entry) for entry in entries)
        say(f"Template CHANGELOG, {heading} ({_count(len(entries), 'change')}, in CHANGELOG.md): {titles}")
    for conflict in update.conflicts:
        say(f"Conflict: {conflict}")
    for line in _skipped_lines(update):
        say(line)
    return 1 if update.conflicts else 0


def _entry_title(entry: str) -> str:
    """An entry's bold lead (`- **Title.** text`), else its first words: the terminal gets the list,
    the PR description and CHANGELOG.md the text."""
    text = " ".join(entry.split()).removeprefix("- ")
    if text.startswith("**") and "**" in text[2:]:
        return text[2:].split("**", 1)[0].rstrip(".")
    return text if len(text) <= 60 else text[:57].rstrip() + "..."


def _resolve(update: Update) -> str:
    return "resolve it" if len(update.conflicts) == 1 else "resolve them"


def _print(line: str) -> None:
    """A line on the terminal; text from the template or .cruft.json shows its control characters."""
    from aiops_platform import terminal  # rich: installed wherever cruft is

    print(terminal.visible(line))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="template_update", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="merge into the checked-out branch, nothing committed (make template-update)",
    )
    parser.add_argument(
        "--base", help="the branch the pull request goes into (default: the CI run's, else HEAD's)"
    )
    parser.add_argument("--push", action="store_true", help=f"push branch {BRANCH} to origin")
    parser.add_argument(
        "--open-pr", action="store_true", help="push and open or update the pull request (CI)"
    )
    options = parser.parse_args(argv)
    if options.in_place:
        return update_in_place(paths.root(), say=_print)
    return run(paths.root(), base=options.base, push_branch=options.push, open_pr=options.open_pr, say=_print)


if __name__ == "__main__":
    sys.exit(main())
