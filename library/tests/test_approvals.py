"""governance.yaml's approvers reach the CI system once (a re-run changes nothing), a deployment
stops when they were taken away, and a release record carries this run's approvals.

Real HTTP on loopback: a stand-in for the parts of GitHub's and Azure DevOps' APIs the module uses
(users, teams and environments; identities, environments, check configurations, the build timeline
and approvals), with their state in memory and every request recorded. Every request and answer is
checked against the official API descriptions (official_api.py): a test that sends or answers
anything they do not describe fails."""

from __future__ import annotations

import base64
import itertools
import os
import re
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import official_api
import pytest
import yaml
from conftest import PROJECT_ROOT, JsonHandler, LoopbackServer
from typer.testing import CliRunner

from aiops_platform import approvals, ci_api, project
from aiops_platform.approvals import ApprovalError
from aiops_platform.cli import app
from aiops_platform.governance import EnvironmentPolicy, Governance

runner = CliRunner()
TOKEN = "ghs_not-a-real-token-0123456789"  # pragma: allowlist secret
SLUG = project.load().slug

USERS = {"bob": 11, "carol": 12, "alice": 13}
TEAMS = {("acme", "qa-leads"): 21}
IDENTITIES = {
    "alice@example.com": {"id": "a11ce000-0000-4000-8000-000000000001"},
    "[UC]\\Release Approvers": {"id": "9e0ab000-0000-4000-8000-000000000002"},
}
TIMELINE = "7a1e1000-0000-4000-8000-000000000099"  # SYSTEM_TIMELINEID: the build's timeline
GITHUB_ENVIRONMENT = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/environments/(?P<name>[^/]+)")
GITHUB_RUN_APPROVALS = re.compile(r"/repos/[^/]+/[^/]+/actions/runs/(?P<run>\d+)/approvals")
ADO_CHECK = re.compile(r"/[^/]+/[^/]+/_apis/pipelines/checks/configurations/(?P<id>\d+)")
ADO_APPROVAL = re.compile(r"/[^/]+/[^/]+/_apis/pipelines/approvals/(?P<id>[^/]+)")
ADO_TIMELINE = re.compile(r"/[^/]+/[^/]+/_apis/build/builds/(?P<build>\d+)/timeline/(?P<timeline>[^/]+)")


class FakeCI(LoopbackServer):
    """GitHub environments and Azure DevOps environments with their approval checks, as served."""

    def __init__(self) -> None:
        self.environments: dict[str, dict[str, Any]] = {}  # GitHub: name -> environment
        self.run_approvals: list[dict[str, Any]] = []  # GitHub: this run's review history
        self.ado_environments: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.timeline: list[dict[str, Any]] = []
        self.ado_approvals: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, Any]] = []  # method, path?query, JSON body
        self.undescribed: list[str] = []  # what the official descriptions do not allow, per exchange
        self.refuse: int | None = None
        self._ids = itertools.count(1)
        super().__init__(_handler(self))

    def writes(self) -> list[tuple[str, str, Any]]:
        return [request for request in self.requests if request[0] != "GET"]

    def answer(self, method: str, target: str, payload: Any) -> tuple[int, Any]:
        if self.refuse:  # an API that echoes what it was sent: the token must still never show
            return self.refuse, {"message": f"Resource not accessible with {TOKEN}"}
        url = urlsplit(target)
        path, query = unquote(url.path), {key: values[0] for key, values in parse_qs(url.query).items()}
        if "/_apis/" in path:
            return self._azure_devops(method, path, query, payload)
        return self._github(method, path, payload)

    def _github(self, method: str, path: str, payload: Any) -> tuple[int, Any]:
        if (found := re.fullmatch(r"/users/([^/]+)", path)) and found[1] in USERS:
            return 200, {"login": found[1], "id": USERS[found[1]], "type": "User"}
        if (found := re.fullmatch(r"/orgs/([^/]+)/teams/([^/]+)", path)) and (found[1], found[2]) in TEAMS:
            return 200, {"slug": found[2], "id": TEAMS[(found[1], found[2])], "name": found[2]}
        if found := GITHUB_ENVIRONMENT.fullmatch(path):
            name = found["name"]
            if method == "GET":
                return (
                    (200, self.environments[name])
                    if name in self.environments
                    else (404, {"message": "Not Found"})
                )
            if method == "PUT":
                self.environments[name] = self._github_environment(name, payload)
                return 200, self.environments[name]
        if (found := GITHUB_RUN_APPROVALS.fullmatch(path)) and method == "GET":
            return 200, self.run_approvals
        return 404, {"message": "Not Found"}

    def _github_environment(self, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        reviewers = []
        for item in payload.get("reviewers") or []:
            if item["type"] == "User":
                login = next(login for login, number in USERS.items() if number == item["id"])
                reviewers.append({"type": "User", "reviewer": {"id": item["id"], "login": login}})
            else:
                org, slug = next(team for team, number in TEAMS.items() if number == item["id"])
                html_url = f"https://github.example/orgs/{org}/teams/{slug}"
                reviewers.append(
                    {"type": "Team", "reviewer": {"id": item["id"], "slug": slug, "html_url": html_url}}
                )
        rules = []
        if reviewers:
            rules.append(
                {
                    "id": next(self._ids),
                    "type": "required_reviewers",
                    "prevent_self_review": bool(payload.get("prevent_self_review")),
                    "reviewers": reviewers,
                }
            )
        return {"name": name, "protection_rules": rules, "deployment_branch_policy": None}

    def _azure_devops(self, method: str, path: str, query: dict[str, str], payload: Any) -> tuple[int, Any]:
        if path.endswith("/_apis/identities"):
            identity = IDENTITIES.get(query.get("filterValue", ""))
            if query.get("searchFilter") != "General" or identity is None:
                return 200, {"count": 0, "value": []}
            return 200, {"count": 1, "value": [{**identity, "providerDisplayName": query["filterValue"]}]}
        if (found := ADO_TIMELINE.fullmatch(path)) and found["timeline"] == TIMELINE:
            return 200, {"id": TIMELINE, "records": self.timeline}
        if path.endswith("/_apis/distributedtask/environments"):
            if method == "POST":
                made = {"id": next(self._ids), "name": payload["name"]}
                self.ado_environments.append(made)
                return 200, made
            named = [item for item in self.ado_environments if item["name"] == query.get("name")]
            return 200, {"count": len(named), "value": named}
        if path.endswith("/_apis/pipelines/checks/configurations"):
            if method == "POST":
                made = {**payload, "id": next(self._ids)}
                self.checks.append(made)
                return 200, made
            assert query.get("$expand") == "settings" and query.get("resourceType") == "environment"
            shown = [
                self._shown(check) for check in self.checks if check["resource"]["id"] == query["resourceId"]
            ]
            return 200, {"count": len(shown), "value": shown}
        if (found := ADO_CHECK.fullmatch(path)) and method == "PATCH":
            for index, check in enumerate(self.checks):
                if check["id"] == int(found["id"]):
                    self.checks[index] = {**payload, "id": check["id"]}
                    return 200, self.checks[index]
        found = ADO_APPROVAL.fullmatch(path)
        if found and query.get("$expand") == "steps" and found["id"] in self.ado_approvals:
            return 200, self.ado_approvals[found["id"]]
        return 404, {"message": "not found"}

    @staticmethod
    def _shown(check: dict[str, Any]) -> dict[str, Any]:
        """As Azure DevOps' own example answers it: each approver by id, no name."""
        approvers = [
            {"displayName": None, "id": approver["id"]} for approver in check["settings"]["approvers"]
        ]
        return {**check, "settings": {**check["settings"], "approvers": approvers}}


def _handler(fake: FakeCI) -> type[JsonHandler]:
    accepted = {f"Bearer {TOKEN}", "Basic " + base64.b64encode(f":{TOKEN}".encode()).decode()}

    class Handler(JsonHandler):
        def _serve(self) -> None:
            payload = self.json_body()
            fake.requests.append((self.command, self.path, payload))
            if self.headers.get("Authorization") not in accepted:
                self.send_json(401, {"message": "Bad credentials"})
                return
            status, answer = fake.answer(self.command, self.path, payload)
            fake.undescribed += official_api.served(self.command, self.path, payload, status, answer)
            self.send_json(status, answer)

        do_GET = do_POST = do_PUT = do_PATCH = _serve

    return Handler


@pytest.fixture
def ci():
    with FakeCI() as running:
        yield running
    assert running.undescribed == [], "\n".join(running.undescribed)


@pytest.fixture(autouse=True)
def outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CI variables or tokens from the machine running the tests; a scratch folder as the project
    (the sample's aiops.yaml, no governance.yaml: each test writes its own)."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "GH_", "SYSTEM_", "BUILD_", "TF_BUILD", "AZURE_DEVOPS_")):
            monkeypatch.delenv(name)
    shutil.copy(PROJECT_ROOT / project.FILE, tmp_path / project.FILE)
    monkeypatch.chdir(tmp_path)


def agreed(
    provider: str = "github", test: list[str] | None = None, prod: list[str] | None = None
) -> Governance:
    if prod is None:
        prod = (
            ["acme/qa-leads", "bob"]
            if provider == "github"
            else ["alice@example.com", "[UC]\\Release Approvers"]
        )
    return Governance(
        use_case="UC",
        owner="genai-platform",
        ci_provider=provider,
        data_classification="internal",
        gxp_relevant=True,
        data_residency=["westeurope"],
        environments={
            "dev": EnvironmentPolicy(),
            "test": EnvironmentPolicy(approvers=test or [], prevent_self_review=True),
            "prod": EnvironmentPolicy(approvers=prod, prevent_self_review=True),
        },
    )


def github(ci: FakeCI, **more: str) -> dict[str, str]:
    return {"GITHUB_API_URL": ci.url, "GITHUB_REPOSITORY": "contoso/qc", "GH_TOKEN": TOKEN, **more}


def azure_devops(ci: FakeCI, **more: str) -> dict[str, str]:
    return {
        "SYSTEM_COLLECTIONURI": f"{ci.url}/contoso/",
        "SYSTEM_TEAMPROJECT": "Widget Audits",  # a name with a space: quoted in the URL
        "SYSTEM_ACCESSTOKEN": TOKEN,
        **more,
    }


BY_HAND = approvals.ADMIN_BYPASS_BY_HAND


def test_github_reviewers_are_set_once_and_a_rerun_changes_nothing(ci: FakeCI):
    governance = agreed(test=["carol"])
    lines = approvals.apply(governance, github(ci))
    assert lines[0] == "dev: no approvers agreed; none required"
    assert (
        lines[1] == f"test: created, requiring carol (self-review prevented); {BY_HAND.format(name='test')}"
    )
    assert lines[2] == (
        f"prod: created, requiring acme/qa-leads, bob (self-review prevented); {BY_HAND.format(name='prod')}"
    )
    assert lines[-1] == "2 environment(s) changed to match governance.yaml"
    puts = {path: body for method, path, body in ci.writes() if method == "PUT"}
    assert puts["/repos/contoso/qc/environments/prod"] == {  # only fields GitHub's description has
        "reviewers": [{"type": "Team", "id": 21}, {"type": "User", "id": 11}],
        "prevent_self_review": True,
    }
    assert [method for method, _, _ in ci.writes()] == ["PUT", "PUT"]  # dev: not written

    ci.requests.clear()
    again = approvals.apply(governance, github(ci))
    assert again[-1] == "nothing changed: every environment already matches governance.yaml"
    assert "prod: already requires acme/qa-leads, bob (self-review prevented); unchanged; " in "\n".join(
        again
    )
    assert ci.writes() == []  # the second run only reads


def test_github_a_changed_agreement_is_applied_and_keeps_the_wait_timer(ci: FakeCI):
    approvals.apply(agreed(), github(ci))
    ci.environments["prod"]["protection_rules"].append({"id": 99, "type": "wait_timer", "wait_timer": 30})
    ci.requests.clear()
    lines = approvals.apply(agreed(prod=["bob"]), github(ci))
    assert f"prod: now requires bob (self-review prevented); {BY_HAND.format(name='prod')}" in lines
    ((method, path, body),) = ci.writes()
    assert (method, path) == ("PUT", "/repos/contoso/qc/environments/prod")
    assert body["reviewers"] == [{"type": "User", "id": 11}] and body["wait_timer"] == 30


def test_an_empty_agreement_leaves_reviewers_set_by_hand(ci: FakeCI):
    approvals.apply(agreed(test=["carol"]), github(ci))
    ci.requests.clear()
    lines = approvals.apply(agreed(test=[], prod=[]), github(ci))
    assert lines[1] == "test: no approvers agreed; left its 1 required reviewer(s) as they are"
    assert ci.writes() == []


def test_azure_devops_environment_and_check_are_created_once(ci: FakeCI):
    governance = agreed("azure_devops")
    lines = approvals.apply(governance, azure_devops(ci))
    assert lines[2] == (
        "prod: created it, requiring alice@example.com, [UC]\\Release Approvers (self-review prevented)"
    )
    assert [item["name"] for item in ci.ado_environments] == [f"{SLUG}-prod"]
    (check,) = ci.checks
    assert check["type"] == {"id": approvals.APPROVAL_CHECK_TYPE, "name": "Approval"}
    assert check["resource"] == {"type": "environment", "id": "1", "name": f"{SLUG}-prod"}
    assert check["timeout"] == 43_200
    settings = check["settings"]
    assert [item["id"] for item in settings["approvers"]] == [
        IDENTITIES["alice@example.com"]["id"],
        IDENTITIES["[UC]\\Release Approvers"]["id"],
    ]
    assert settings["minRequiredApprovers"] == 1 and settings["requesterCannotBeApprover"] is True
    assert "governance.yaml" in settings["instructions"] and f"{SLUG}-prod" in settings["instructions"]
    assert all("/Widget%20Audits/" in path for _, path, _ in ci.writes())

    ci.requests.clear()
    assert approvals.apply(governance, azure_devops(ci))[-1].startswith("nothing changed")
    assert ci.writes() == []

    lines = approvals.apply(agreed("azure_devops", prod=["alice@example.com"]), azure_devops(ci))
    assert "prod: now requires alice@example.com (self-review prevented)" in lines
    ((method, path, body),) = ci.writes()
    assert method == "PATCH" and path.startswith(
        f"/contoso/Widget%20Audits/_apis/pipelines/checks/configurations/{check['id']}?"
    )
    assert body["id"] == check["id"] and len(body["settings"]["approvers"]) == 1


def test_a_personal_access_token_is_sent_as_basic_auth(ci: FakeCI):
    env = azure_devops(ci)
    env["AZURE_DEVOPS_EXT_PAT"] = env.pop("SYSTEM_ACCESSTOKEN")
    assert (
        approvals.apply(agreed("azure_devops"), env)[-1]
        == "1 environment(s) changed to match governance.yaml"
    )


def test_an_unknown_approver_is_named(ci: FakeCI):
    with pytest.raises(
        ApprovalError, match=r"^prod: no GitHub user mallory: check the logins in governance.yaml$"
    ):
        approvals.apply(agreed(prod=["mallory"]), github(ci))
    with pytest.raises(
        ApprovalError, match=r"^prod: no Azure DevOps identity eve@example.com: use an e-mail"
    ):
        approvals.apply(agreed("azure_devops", prod=["eve@example.com"]), azure_devops(ci))
    assert ci.writes() == []


def test_a_dry_run_asks_nothing(ci: FakeCI):
    lines = approvals.apply(agreed(test=["carol"]), github(ci), dry_run=True)
    assert "prod (GitHub environment prod): would require acme/qa-leads, bob (self-review prevented)" in lines
    ado = approvals.apply(agreed("azure_devops"), {}, dry_run=True)  # no token needed either
    assert f"prod (Azure DevOps environment {SLUG}-prod): would require" in ado[2]
    assert ci.requests == []


def test_an_echoed_token_is_hidden_as_sent_and_in_its_basic_form():
    token = "pat-0123456789"
    basic = base64.b64encode(f":{token}".encode()).decode()
    env = {"AZURE_DEVOPS_EXT_PAT": token}
    shown = ci_api.hide_tokens(f"bad header Basic {basic}; token {token}", env, ["AZURE_DEVOPS_EXT_PAT"])
    assert shown == "bad header Basic ***; token ***"


def test_apply_refused_names_the_admin_token(ci: FakeCI):
    ci.refuse = 403
    with pytest.raises(ApprovalError) as refused:
        approvals.apply(agreed(), github(ci))
    message = str(refused.value)
    assert "use `GH_TOKEN=$(gh auth token)` as a repository admin" in message
    assert TOKEN not in message and "***" in message and "\n" not in message


def test_verify_passes_after_apply_and_stops_when_a_reviewer_is_removed(ci: FakeCI):
    governance = agreed()
    approvals.apply(governance, github(ci))
    assert approvals.verify(governance, "prod", github(ci)) == (
        "prod: GitHub environment prod requires acme/qa-leads, bob (self-review prevented); administrators' "
        "bypass is not in GitHub's REST API: check it in Settings > Environments"
    )
    rule = ci.environments["prod"]["protection_rules"][0]
    rule["reviewers"] = [item for item in rule["reviewers"] if item["type"] == "Team"]
    with pytest.raises(
        ApprovalError, match=r"^prod \(GitHub environment prod\) differs .*bob no longer.*make approvals"
    ):
        approvals.verify(governance, "prod", github(ci))


def test_verify_stops_when_someone_not_agreed_could_approve_alone(ci: FakeCI):
    """Any one required reviewer approves: one added by hand would let them approve prod alone."""
    governance = agreed()
    approvals.apply(governance, github(ci))
    rule = ci.environments["prod"]["protection_rules"][0]
    rule["reviewers"].append({"type": "User", "reviewer": {"id": 99, "login": "mallory"}})
    with pytest.raises(
        ApprovalError, match=r"^prod .* mallory can approve but is not agreed: run `make approvals`$"
    ):
        approvals.verify(governance, "prod", github(ci))
    ci.requests.clear()
    assert "prod: now requires" in "\n".join(approvals.apply(governance, github(ci)))  # apply mends it
    assert approvals.verify(governance, "prod", github(ci)).startswith(
        "prod: GitHub environment prod requires"
    )


def test_github_verify_passes_on_an_environment_as_github_describes_it(ci: FakeCI):
    """GitHub's environment answer has no administrators' bypass field: its absence is no failure,
    and the line says the bypass is to be checked by hand."""
    governance = agreed()
    approvals.apply(governance, github(ci))
    assert "can_admins_bypass" not in ci.environments["prod"]
    assert approvals.verify(governance, "prod", github(ci)).endswith("check it in Settings > Environments")


def test_azure_devops_verify_compares_approvers_by_id_as_answered(ci: FakeCI):
    """Azure DevOps answers a check's approvers as ids (its example: displayName null): the agreed
    names are resolved to ids and compared; one added by id alone is named by its id."""
    governance = agreed("azure_devops")
    approvals.apply(governance, azure_devops(ci))
    assert all(set(item) == {"id"} for item in ci.checks[0]["settings"]["approvers"])  # sent: ids
    assert approvals.verify(governance, "prod", azure_devops(ci)).startswith(
        f"prod: Azure DevOps environment {SLUG}-prod requires alice@example.com, [UC]\\Release Approvers"
    )
    mallory = "3a11e000-0000-4000-8000-000000000666"
    ci.checks[0]["settings"]["approvers"] = [{"id": IDENTITIES["alice@example.com"]["id"]}, {"id": mallory}]
    with pytest.raises(ApprovalError) as differs:
        approvals.verify(governance, "prod", azure_devops(ci))
    assert str(differs.value) == (
        f"prod (Azure DevOps environment {SLUG}-prod) differs from governance.yaml: "
        f"[UC]\\Release Approvers no longer required to approve; {mallory} can approve but is not agreed: "
        "run `make approvals`"
    )


@pytest.mark.parametrize("environment", ["", "Prod", " prod", "staging"])
def test_verify_refuses_an_environment_governance_yaml_does_not_name(ci: FakeCI, environment: str):
    with pytest.raises(
        ApprovalError, match=r"is not an environment in governance.yaml; choose one of dev, test, prod"
    ):
        approvals.verify(agreed(), environment, github(ci))
    assert ci.requests == []


def test_verify_stops_when_self_review_prevention_is_turned_off(ci: FakeCI):
    governance = agreed("azure_devops")
    approvals.apply(governance, azure_devops(ci))
    assert approvals.verify(governance, "prod", azure_devops(ci)).startswith(
        f"prod: Azure DevOps environment {SLUG}-prod requires alice@example.com"
    )
    ci.checks[0]["settings"]["requesterCannotBeApprover"] = False
    with pytest.raises(
        ApprovalError, match=r"^prod .*self-review is no longer prevented: run `make approvals`$"
    ):
        approvals.verify(governance, "prod", azure_devops(ci))


def test_verify_fails_closed_when_it_cannot_read(ci: FakeCI):
    ci.refuse = 403
    with pytest.raises(
        ApprovalError, match=r"^prod: cannot read the approvers GitHub requires: .*403"
    ) as refused:
        approvals.verify(agreed(), "prod", github(ci))
    assert TOKEN not in str(refused.value)
    with pytest.raises(ApprovalError, match=r"^prod: cannot check its approvers: no GH_TOKEN"):
        approvals.verify(agreed(), "prod", {"GITHUB_REPOSITORY": "contoso/qc"})
    with pytest.raises(ApprovalError, match=r"^prod: no such GitHub environment prod in contoso/qc"):
        ci.refuse = None
        approvals.verify(agreed(), "prod", github(ci))


def test_verify_without_agreed_approvers_asks_nothing(ci: FakeCI):
    assert (
        approvals.verify(agreed(), "dev", github(ci))
        == "dev: no approvers agreed in governance.yaml; nothing to verify"
    )
    assert ci.requests == []


def test_recorded_keeps_this_runs_approvals_for_the_environment(ci: FakeCI):
    ci.run_approvals = [
        {"environments": [{"name": "test"}], "state": "approved", "comment": "", "user": {"login": "carol"}},
        {
            "environments": [{"name": "prod"}],
            "state": "approved",
            "comment": "change ticket 12 reviewed",
            "user": {"login": "bob"},
        },
    ]
    found = approvals.recorded("prod", github(ci, GITHUB_ACTIONS="true", GITHUB_RUN_ID="4242"))
    assert found.note is None
    assert [item.model_dump() for item in found.approvals or []] == [
        {"approver": "bob", "state": "approved", "comment": "change ticket 12 reviewed", "at": None}
    ]
    assert ci.requests[-1][1] == "/repos/contoso/qc/actions/runs/4242/approvals"

    ci.refuse = 403
    refused = approvals.recorded("prod", github(ci, GITHUB_ACTIONS="true", GITHUB_RUN_ID="4242"))
    assert refused.approvals is None and "403" in (refused.note or "") and TOKEN not in (refused.note or "")
    outside = approvals.recorded("prod", {})
    assert outside.approvals is None and outside.note and "outside CI" in outside.note


def test_recorded_reads_azure_devops_approval_steps(ci: FakeCI):
    ours = approvals._instructions(f"{SLUG}-prod")
    ci.timeline = [
        {"type": "Stage", "id": "s1"},
        {"type": "Checkpoint.Approval", "id": "ap-test"},
        {"type": "Checkpoint.Approval", "id": "ap-prod"},
    ]
    ci.ado_approvals = {
        "ap-test": {"id": "ap-test", "instructions": approvals._instructions(f"{SLUG}-test"), "steps": []},
        "ap-prod": {
            "id": "ap-prod",
            "instructions": ours,
            "steps": [
                {"assignedApprover": {"uniqueName": "alice@example.com"}, "status": "skipped"},
                {
                    "actualApprover": {"uniqueName": "alice@example.com", "displayName": "Alice"},
                    "status": "approved",
                    "comment": "released",
                    "initiatedOn": "2026-01-01T10:00:00Z",
                    "lastModifiedOn": "2026-01-01T10:05:00Z",
                },
            ],
        },
    }
    in_the_job = azure_devops(ci, TF_BUILD="True", BUILD_BUILDID="99", SYSTEM_TIMELINEID=TIMELINE)
    found = approvals.recorded("prod", in_the_job)
    assert found.note is None
    assert ci.requests[0][1] == (  # the documented path: the build's timeline, by the job's own id
        f"/contoso/Widget%20Audits/_apis/build/builds/99/timeline/{TIMELINE}?api-version=7.1"
    )
    assert [item.model_dump() for item in found.approvals or []] == [
        {
            "approver": "alice@example.com",
            "state": "approved",
            "comment": "released",
            "at": "2026-01-01T10:05:00Z",
        }
    ]
    no_token = approvals.recorded("prod", {**in_the_job, "SYSTEM_ACCESSTOKEN": ""})
    assert no_token.approvals is None and "SYSTEM_ACCESSTOKEN" in (no_token.note or "")
    no_timeline = approvals.recorded("prod", {**in_the_job, "SYSTEM_TIMELINEID": ""})
    assert no_timeline.approvals is None and "SYSTEM_TIMELINEID is not set" in (no_timeline.note or "")


@pytest.mark.parametrize(
    ("remote", "repository"),
    [
        ("https://github.com/contoso/qc.git\n", "contoso/qc"),
        ("https://github.com/contoso/qc", "contoso/qc"),
        ("git@github.com:contoso/qc.git", "contoso/qc"),
        ("ssh://git@github.example.com/contoso/qc.git", "contoso/qc"),
    ],
)
def test_the_repository_is_read_from_any_remote_form(remote: str, repository: str):
    assert approvals.repository_from_remote(remote) == repository


def write_governance(folder: Path, provider: str = "github") -> None:
    document = agreed(provider).model_dump()
    (folder / "governance.yaml").write_text(yaml.safe_dump(document), encoding="utf-8")


def test_the_cli_applies_verifies_and_never_prints_the_token(ci: FakeCI, tmp_path: Path):
    write_governance(tmp_path)
    applied = runner.invoke(app, ["governance", "approvals"], env=github(ci))
    assert applied.exit_code == 0, applied.output
    assert "prod: created, requiring acme/qa-leads, bob" in applied.output
    verified = runner.invoke(app, ["governance", "verify", "--environment", "prod"], env=github(ci))
    assert verified.exit_code == 0, verified.output
    ci.refuse = 403
    refused = runner.invoke(app, ["governance", "verify", "--environment", "prod"], env=github(ci))
    assert refused.exit_code == 1 and "cannot read the approvers" in refused.output
    failed = runner.invoke(app, ["governance", "approvals"], env=github(ci))
    assert failed.exit_code == 1 and "repository admin" in failed.output
    shown = runner.invoke(app, ["governance", "show"])
    assert shown.exit_code == 0 and "acme/qa-leads, bob" in shown.output and "prevented" in shown.output
    for result in (applied, verified, refused, failed, shown):
        assert TOKEN not in result.output


def test_the_cli_region_check_names_the_region(tmp_path: Path):
    write_governance(tmp_path)
    refused = runner.invoke(app, ["governance", "region", "eastus", "--what", "the Azure ML workspace"])
    assert refused.exit_code == 1
    assert "eastus" in refused.output and "westeurope" in refused.output
    allowed = runner.invoke(app, ["governance", "region", "West Europe", "--what", "the Azure ML workspace"])
    assert allowed.exit_code == 0, allowed.output


def test_the_cli_names_a_missing_governance_file():
    missing = runner.invoke(app, ["governance", "show"])
    assert missing.exit_code == 1 and "governance.yaml: missing" in missing.output
