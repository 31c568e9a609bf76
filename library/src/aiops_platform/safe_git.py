"""How git is called with a value read from a file or a list (`.cruft.json`, a fleet list): as data,
never as an option or a command. The template update (`make template-update`, `template update-pr`,
weekly in CI with a token that can push) and the template's fleet report use this one policy:

- a repository is `https://`, `ssh://`, `[user@]host:path`, `file://` or a local path; one that
  starts with `-` (git would read an option) or names a remote helper (`ext::`, `fd::`, any
  `<helper>::`, which run commands) is refused;
- a commit is 7 to 40 hex digits; a branch or tag name is one `git check-ref-format --branch` gives
  back unchanged (so it cannot start with `-` either);
- git runs from an argument list (no shell), with the value after `--` where git takes one, and
  with GIT_ALLOW_PROTOCOL set to file, https and ssh: a transport that runs commands stays refused by
  git itself, for cruft's clones too, should a value ever slip past the checks.

Standard library only, and no template syntax in this file: the template's tools/fleet.py loads it
from the template's copy.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

ALLOWED_PROTOCOLS = ("file", "https", "ssh")
# Last in every git environment, so nothing overrides them: only these transports (remote helpers
# such as ext:: and fd:: run commands), and a remote that wants credentials fails instead of waiting.
SAFE_ENVIRONMENT = {"GIT_ALLOW_PROTOCOL": ":".join(ALLOWED_PROTOCOLS), "GIT_TERMINAL_PROMPT": "0"}
TIMEOUT_SECONDS = 300
COMMIT = re.compile(r"[0-9a-fA-F]{7,40}")
URL = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)", re.DOTALL)
HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]*(:[0-9]+)?|\[[0-9A-Fa-f:.]+\](:[0-9]+)?")
REPOSITORY_FIX = "write an https://, ssh:// or user@host:path URL, or a local path"


class Refused(ValueError):
    """A value git must not be given; the message is one line naming where it came from and the fix."""


def shown(value: object, limit: int = 60) -> str:
    """The value quoted for a one-line message: escapes visible, long values cut."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def repository(value: object, where: str) -> str:
    """`value` when git may clone or list it (see the module's rules), else Refused."""

    def refuse(why: str) -> Refused:
        return Refused(f"{where}: {shown(value)} {why}; {REPOSITORY_FIX}")

    if not isinstance(value, str) or not value.strip():
        raise refuse("is not a repository")
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise refuse("holds control characters")
    if value.startswith("-"):
        raise refuse("starts with '-', so git would read it as an option")
    if "::" in value:
        raise refuse("names a git remote helper (<helper>::...), which runs commands")
    url = URL.fullmatch(value)
    if url:
        scheme = url["scheme"].lower()
        if scheme not in ALLOWED_PROTOCOLS:
            raise refuse(f"uses {scheme}://, which this project does not let git use")
        host = url["rest"].split("/", 1)[0].rpartition("@")[2]
        if scheme != "file" and not HOST.fullmatch(host):
            raise refuse("names no valid host")
        return value
    colon, slash = value.find(":"), value.find("/")
    if colon > 0 and (slash < 0 or colon < slash) and not HOST.fullmatch(value[:colon].rpartition("@")[2]):
        raise refuse("names no valid host before ':' (git reads [user@]host:path as ssh)")
    return value  # [user@]host:path, or a local path


def commit(value: object, where: str) -> str:
    """`value` when it is a commit id (7 to 40 hex digits), else Refused."""
    if isinstance(value, str) and COMMIT.fullmatch(value):
        return value
    raise Refused(f"{where}: {shown(value)} is not a commit id (7 to 40 hex digits)")


def ref(value: object, where: str) -> str:
    """`value` when it is a commit id or a branch or tag name git accepts as it is, else Refused."""
    if isinstance(value, str) and COMMIT.fullmatch(value):
        return value
    checked = None
    if isinstance(value, str) and value and not value.startswith("-"):
        # Outside any repository, so `@{-1}` and the like are not resolved into another name.
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            done = run(Path(os.sep), "check-ref-format", "--branch", value, timeout=30)
            checked = done.stdout.strip() if done.returncode == 0 else None
    if checked is None or checked != value:
        raise Refused(f"{where}: {shown(value)} is not a branch or tag name git accepts, nor a commit id")
    return value


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git, and for whatever calls git for us (cruft): the safe settings last."""
    return {**os.environ, **(extra or {}), **SAFE_ENVIRONMENT}


@contextlib.contextmanager
def safe_process_environment() -> Iterator[None]:
    """This process's environment with the safe settings while a library runs git in it (cruft's
    GitPython, its `git apply`), restored afterwards."""
    saved = {name: os.environ.get(name) for name in SAFE_ENVIRONMENT}
    os.environ.update(SAFE_ENVIRONMENT)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run(
    cwd: Path, *args: str, timeout: float = TIMEOUT_SECONDS, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """git with `args` as they are (no shell) in the safe environment; the caller reads the result."""
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=environment(env),
        check=False,
    )
