"""GitHub's load-time rules for reusable workflows, which actionlint does not check.

When GitHub loads a workflow that calls a reusable one (`jobs.<id>.uses: ./.github/workflows/x.yml`)
it refuses the run before any job starts if:
- a job of the called workflow asks for more than its caller grants ("is requesting 'actions: read',
  but is only allowed 'actions: none'"). The caller grants its job's `permissions:`, else its
  workflow's, else the repository's default for GITHUB_TOKEN; here the restricted default
  (contents and packages read), the one GitHub gives new repositories and organisations;
- an input or secret the called workflow requires (no default) is not passed, or one is passed
  that it does not declare (`secrets: inherit` passes every secret, declared or not).

`problems(folder)` reads every workflow in a `.github/workflows` folder and returns one line per
broken rule, naming the caller, the job and the fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

LEVELS = {"none": 0, "read": 1, "write": 2}
# Every scope GITHUB_TOKEN knows (docs: "Assigning permissions to jobs").
SCOPES = (
    "actions",
    "attestations",
    "checks",
    "contents",
    "deployments",
    "discussions",
    "id-token",
    "issues",
    "models",
    "packages",
    "pages",
    "pull-requests",
    "repository-projects",
    "security-events",
    "statuses",
)
RESTRICTED_DEFAULT = {"contents": "read", "packages": "read"}


def load(path: Path) -> dict[str, Any]:
    """A workflow as GitHub reads it: YAML 1.1 turns the `on:` key into True; put it back."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if True in document:
        document["on"] = document.pop(True)
    return document


def levels(permissions: Any) -> dict[str, int]:
    """`permissions:` as a level per scope: a mapping, `read-all`, `write-all` or `{}` (none)."""
    if permissions == "read-all":
        return dict.fromkeys(SCOPES, LEVELS["read"]) | {"id-token": LEVELS["none"]}
    if permissions == "write-all":
        return dict.fromkeys(SCOPES, LEVELS["write"])
    if not isinstance(permissions, dict):
        raise ValueError(f"permissions must be a mapping, read-all or write-all, not {permissions!r}")
    found = dict.fromkeys(SCOPES, LEVELS["none"])
    for scope, level in permissions.items():
        if scope not in found or level not in LEVELS:
            raise ValueError(f"unknown permission {scope}: {level}")
        found[scope] = LEVELS[level]
    return found


def granted(caller: dict[str, Any], job: dict[str, Any]) -> dict[str, int]:
    """What a calling job's token may do: its own permissions, else its workflow's, else the default."""
    if "permissions" in job:
        return levels(job["permissions"])
    if "permissions" in caller:
        return levels(caller["permissions"])
    return levels(RESTRICTED_DEFAULT)


def _name(level: int) -> str:
    return next(name for name, value in LEVELS.items() if value == level)


def _declared(called: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    trigger = (called.get("on") or {}).get("workflow_call")
    return {name: spec or {} for name, spec in ((trigger or {}).get(kind) or {}).items()}


def call_problems(
    caller_name: str, caller: dict[str, Any], job_id: str, job: dict[str, Any], called_name: str, called: dict
) -> list[str]:
    """What GitHub refuses in one `uses:` call of a reusable workflow."""
    where = f"{caller_name} job {job_id} (calls {called_name})"
    if "workflow_call" not in (called.get("on") or {}):
        return [f"{where}: {called_name} has no `on: workflow_call`, so it cannot be called"]
    found = []
    allowed = granted(caller, job)
    for called_id, called_job in (called.get("jobs") or {}).items():
        if "permissions" in called_job:
            asked = levels(called_job["permissions"])
        elif "permissions" in called:
            asked = levels(called["permissions"])
        else:
            continue  # a job without permissions takes what its caller grants
        for scope in SCOPES:
            if asked[scope] > allowed[scope]:
                found.append(
                    f"{where}: job {called_id} is requesting '{scope}: {_name(asked[scope])}', but is only "
                    f"allowed '{scope}: {_name(allowed[scope])}': grant it in the caller's `permissions:`"
                )
    passed = job.get("with") or {}
    for name, spec in _declared(called, "inputs").items():
        if spec.get("required") and "default" not in spec and name not in passed:
            found.append(f"{where}: required input {name!r} is not passed: add it under `with:`")
    found += [
        f"{where}: input {name!r} is not declared by {called_name}: remove it or declare it"
        for name in passed
        if name not in _declared(called, "inputs")
    ]
    secrets = job.get("secrets")
    if secrets != "inherit":
        secrets = secrets or {}
        for name, spec in _declared(called, "secrets").items():
            if spec.get("required") and name not in secrets:
                found.append(f"{where}: required secret {name!r} is not passed: add it under `secrets:`")
        found += [
            f"{where}: secret {name!r} is not declared by {called_name}: remove it or declare it"
            for name in secrets
            if name not in _declared(called, "secrets")
        ]
    return found


def problems(folder: Path) -> list[str]:
    """Every broken load-time rule among the workflows in `folder` (a `.github/workflows`)."""
    workflows = {path.name: load(path) for path in sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])}
    found = []
    for caller_name, caller in workflows.items():
        for job_id, job in (caller.get("jobs") or {}).items():
            uses = str(job.get("uses") or "")
            if not uses.startswith("./.github/workflows/"):
                continue  # a step's action, or another repository's workflow: not checked here
            called_name = uses.removeprefix("./.github/workflows/")
            if called_name not in workflows:
                found.append(f"{caller_name} job {job_id}: {uses} does not exist")
                continue
            found += call_problems(caller_name, caller, job_id, job, called_name, workflows[called_name])
    return found
