"""The official API descriptions the stand-ins are checked against: where each comes from, and the
check catching what the real services refuse or never answer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import official_api
import pytest

APPROVAL_CHECK = {
    "type": {"id": "8c6f20a7-a545-4486-9777-f762fafe0d4d", "name": "Approval"},
    "settings": {
        "approvers": [{"id": "a11ce000-0000-4000-8000-000000000001"}],
        "executionOrder": "anyOrder",
        "minRequiredApprovers": 1,
        "requesterCannotBeApprover": True,
        "instructions": "Deployment to qc-prod",
        "blockedApprovers": [],
    },
    "resource": {"type": "environment", "id": "1", "name": "qc-prod"},
    "timeout": 43200,
}
ADO = "http://127.0.0.1/contoso/Widget%20Audits/_apis"


def test_each_description_says_where_it_comes_from():
    for path in sorted(official_api.CONTRACTS.glob("*/*.json")):
        source = json.loads(path.read_text(encoding="utf-8"))["x-trimmed-from"]
        assert source["source"] and source["file"] and source["trimmed"], path.name
        if path.parent.name == "azure_devops":
            assert len(source["commit"]) == 40, path.name
    assert len(official_api.operations()) > 20


def test_described_exchanges_pass():
    assert (
        official_api.problems(
            "POST",
            f"{ADO}/pipelines/checks/configurations?api-version=7.1-preview.1",
            APPROVAL_CHECK,
            200,
            {**APPROVAL_CHECK, "id": 3},
        )
        == []
    )
    reviewers = {"reviewers": [{"type": "User", "id": 11}], "prevent_self_review": True}
    answer = {"name": "prod", "protection_rules": [], "deployment_branch_policy": None}
    assert official_api.problems("PUT", "/repos/o/r/environments/prod", reviewers, 200, answer) == []


@pytest.mark.parametrize(
    ("method", "url", "body", "answer", "expected"),
    [
        (  # GitHub's environment update has no administrators' bypass (and refuses what it lacks)
            "PUT",
            "/repos/o/r/environments/prod",
            {"reviewers": [], "prevent_self_review": True, "can_admins_bypass": False},
            None,
            "'can_admins_bypass' was unexpected",
        ),
        (  # nor does its answer: a stand-in may not give it
            "GET",
            "/repos/o/r/environments/prod",
            None,
            {"name": "prod", "can_admins_bypass": False},
            "answer (top): Unevaluated properties are not allowed ('can_admins_bypass' was unexpected)",
        ),
        (
            "GET",
            f"{ADO}/distributedtask/environments?name=qc-prod&api-version=7.1-preview.1",
            None,
            {"count": 0, "value": []},
            "api-version='7.1-preview.1', described: '7.1'",
        ),
        (
            "GET",
            f"{ADO}/pipelines/approvals/1?$expand=steps&api-version=7.1-preview.1",
            None,
            {"id": "1"},
            "api-version='7.1-preview.1', described: '7.1'",
        ),
        (  # the build timeline is read by its id
            "GET",
            f"{ADO}/build/builds/99/timeline?api-version=7.1",
            None,
            {"records": []},
            "no such operation in the official descriptions",
        ),
        (
            "GET",
            "http://127.0.0.1/contoso/_apis/identities?searchFilter=General&filterValue=a&queryMembership=None"
            "&api-version=7.1",
            None,
            {"count": 1, "value": [{"id": "a", "uniqueName": "a"}]},
            "queryMembership='None' is not one of",
        ),
        (  # an identity has no uniqueName
            "GET",
            "http://127.0.0.1/contoso/_apis/identities?searchFilter=General&filterValue=a&api-version=7.1",
            None,
            {"count": 1, "value": [{"id": "a", "uniqueName": "a"}]},
            "'uniqueName' was unexpected",
        ),
        (
            "POST",
            f"{ADO}/pipelines/checks/configurations?api-version=7.1-preview.1",
            {
                **APPROVAL_CHECK,
                "settings": {**APPROVAL_CHECK["settings"], "approvers": [{"uniqueName": "a"}]},
            },
            None,
            "'uniqueName' was unexpected",
        ),
        (
            "POST",
            f"{ADO}/git/repositories/r/pullRequests/3/threads?api-version=7.1",
            {"comments": [{"parentCommentId": 0, "content": "x", "commentType": 1}], "status": "active"},
            None,
            "commentType: 1 is not one of ['unknown', 'text', 'codeChange', 'system']",
        ),
        (  # an Azure DevOps list travels as count and value
            "GET",
            f"{ADO}/distributedtask/environments?name=qc-prod&api-version=7.1",
            None,
            {"value": []},
            "a list answers an object of count and value",
        ),
    ],
)
def test_the_check_names_what_the_descriptions_do_not_allow(method, url, body, answer, expected):
    found = official_api.problems(method, url, body, 200, answer)
    assert any(expected in problem for problem in found), found


def test_every_kept_operation_is_sent_by_a_stand_in_test(request: pytest.FixtureRequest, tmp_path: Path):
    """A kept operation no test sends is a call the platform no longer makes, or one no test covers.
    Runs after every other test (conftest) and counts what their stand-ins served; the stand-in tests
    this session did not run (a partial run), it runs them on their own."""
    here = Path(__file__).resolve()
    tests = here.parent
    stand_ins = [
        path
        for path in sorted(tests.glob("test_*.py"))
        if path != here and "official_api.served(" in path.read_text(encoding="utf-8")
    ]
    assert len(stand_ins) >= 3, stand_ins  # approvals, PR comment, template update
    before = request.session.items[: request.session.items.index(request.node)]
    ran = [item.nodeid for item in before if Path(item.path).resolve() in stand_ins]
    record = tmp_path / "exercised.txt"
    record.touch()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "", *map(str, stand_ins)]
        + [f"--deselect={nodeid}" for nodeid in ran],
        cwd=tests.parent,
        env={**os.environ, official_api.EXERCISED_FILE: str(record)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED), done.stdout[-3000:]
    exercised = official_api.EXERCISED | set(record.read_text(encoding="utf-8").splitlines())
    unsent = [
        official_api.named(op) for op in official_api.operations() if official_api.named(op) not in exercised
    ]
    assert unsent == [], "kept in tests/contracts/ but sent by no stand-in test:\n" + "\n".join(unsent)


test_every_kept_operation_is_sent_by_a_stand_in_test.runs_last = True
