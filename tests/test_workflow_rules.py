"""GitHub's load-time rules for reusable workflows (permissions within the caller's, inputs and
secrets passed as declared) over every kind of GitHub project, and the checker catching each break."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from conftest import OPTIONS
from workflow_rules import problems

GITHUB_BAKES = [
    {
        "ci_provider": "github",
        "flow_kind": flow_kind,
        "deployment_target": target,
        "gxp_relevant": gxp,
        **({"approvers_test": "alice", "approvers_prod": "acme/qa-leads"} if gxp else {}),
    }
    for flow_kind, target, gxp in itertools.product(
        OPTIONS["flow_kind"], OPTIONS["deployment_target"], [False, True]
    )
]


def bake_id(answers: dict) -> str:
    return f"{answers['flow_kind']}-{answers['deployment_target']}-gxp{answers['gxp_relevant']}"


@pytest.mark.parametrize("answers", GITHUB_BAKES, ids=bake_id)
def test_every_github_workflow_call_loads(bake, answers):
    folder = bake(**answers) / ".github" / "workflows"
    assert folder.is_dir(), "a github project has workflows"
    assert problems(folder) == []


def write(folder: Path, name: str, document: dict) -> None:
    (folder / name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


CALLED = {
    "on": {
        "workflow_call": {
            "inputs": {"environment": {"required": True, "type": "string"}, "dry": {"type": "boolean"}},
            "secrets": {"TOKEN": {"required": True}},
        }
    },
    "permissions": {"contents": "read", "actions": "read"},
    "jobs": {"deploy": {"runs-on": "ubuntu-latest", "steps": [{"run": "true"}]}},
}


def caller(job: dict, permissions: dict | None = None) -> dict:
    calling = {"uses": "./.github/workflows/called.yml", **job}
    document: dict = {"on": {"push": None}, "jobs": {"dev": calling}}
    if permissions is not None:
        document["permissions"] = permissions
    return document


@pytest.mark.parametrize(
    ("job", "workflow_permissions", "expected"),
    [
        (  # the deploy workflow's break: the job grants less than the called workflow asks for
            {"permissions": {"contents": "read"}, "with": {"environment": "dev"}, "secrets": "inherit"},
            {"contents": "read", "actions": "read"},
            "job deploy is requesting 'actions: read', but is only allowed 'actions: none'",
        ),
        (  # no job permissions: the workflow's apply
            {"with": {"environment": "dev"}, "secrets": "inherit"},
            {"contents": "read"},
            "is only allowed 'actions: none'",
        ),
        (  # neither: GitHub's restricted default
            {"with": {"environment": "dev"}, "secrets": "inherit"},
            None,
            "is only allowed 'actions: none'",
        ),
        (
            {"permissions": {"contents": "read", "actions": "read"}, "secrets": "inherit"},
            None,
            "required input 'environment' is not passed",
        ),
        (
            {"permissions": "read-all", "with": {"environment": "dev", "env": "x"}, "secrets": "inherit"},
            None,
            "input 'env' is not declared by called.yml",
        ),
        (
            {"permissions": "read-all", "with": {"environment": "dev"}},
            None,
            "required secret 'TOKEN' is not passed",
        ),
        (
            {"permissions": "read-all", "with": {"environment": "dev"}, "secrets": {"TOKEN": "x", "K": "y"}},
            None,
            "secret 'K' is not declared by called.yml",
        ),
    ],
)
def test_the_checker_catches_what_github_refuses_at_load_time(
    tmp_path: Path, job: dict, workflow_permissions: dict | None, expected: str
):
    write(tmp_path, "called.yml", CALLED)
    write(tmp_path, "deploy.yml", caller(job, workflow_permissions))
    (found,) = problems(tmp_path)
    assert found.startswith("deploy.yml job dev (calls called.yml): ") and expected in found


def test_the_checker_accepts_a_call_within_the_rules(tmp_path: Path):
    write(tmp_path, "called.yml", CALLED)
    job = {"permissions": {"contents": "write", "actions": "read"}, "with": {"environment": "dev"}}
    write(tmp_path, "deploy.yml", caller({**job, "secrets": {"TOKEN": "x"}}))
    assert problems(tmp_path) == []
    write(tmp_path, "deploy.yml", caller({"uses": "./.github/workflows/missing.yml"}))
    assert problems(tmp_path) == ["deploy.yml job dev: ./.github/workflows/missing.yml does not exist"]
