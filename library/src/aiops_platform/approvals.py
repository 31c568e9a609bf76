"""Who approves each CI environment: governance.yaml applied to the CI system, and read back from it.

- `apply`: `make approvals`. Each environment's approvers in the CI system become those agreed. Run it
  again and nothing is written: what is there is compared first, and only a difference is sent.
- `verify`: before a test or prod deployment. Does the environment still require exactly the
  agreed approvers, and stop a requester approving their own run where that was agreed? Fails
  closed: when approvers are agreed and the CI system cannot be read, the deployment stops.
- `recorded`: the approvals this pipeline run received for an environment, for the release record.
  Never raises; when there is nothing to read, `note` says why.

GitHub (environment `<env>`): required reviewers on the repository's environment. Approvers are
logins (`alice`) or teams (`org/team-slug`), resolved to ids (`GET /users/{login}`,
`GET /orgs/{org}/teams/{slug}`), then `PUT /repos/{owner}/{repo}/environments/{env}` with `reviewers`
and `prevent_self_review`; the environment's wait timer and branch policy are sent back as they were,
so the PUT changes only the approvers. Only one of the reviewers has to approve (GitHub's rule).
Administrators' bypass of the protection rules is not in GitHub's REST description (the PUT refuses
undeclared fields, GitHub Enterprise Server included), so it is neither sent nor read: for GxP
environments `apply` says to turn it off by hand (Settings > Environments), and `verify` says it
cannot see it. The
repository: `--repository`, else GITHUB_REPOSITORY, else `git remote get-url origin` (https or ssh).
The token: GH_TOKEN or GITHUB_TOKEN, a repository admin's for `apply` (`GH_TOKEN=$(gh auth token)`),
any with read access for `verify` and `recorded` (the job's github.token).

Azure DevOps (environment `<slug>-<env>`, created when missing): one check of type Approval on the
environment. Identities (e-mails, `[Project]\\Group`) are resolved to ids with the identities API on
vssps.dev.azure.com for a dev.azure.com organisation; on any other host (Azure DevOps Server, the
tests' loopback stand-in) on the collection URI itself. A check's approvers are answered as ids
(names are not promised), so `verify` resolves the agreed approvers and compares ids.
`minRequiredApprovers` is 1: any one of the approvers approves, as on GitHub (0 would mean all of
them). `executionOrder` is "anyOrder", as the
API's example sends it (the Terraform provider sends its number, 1: both are read as the same). Token:
SYSTEM_ACCESSTOKEN as a bearer token (a pipeline step maps it), else AZURE_DEVOPS_EXT_PAT (the
variable `az devops` reads) as Basic auth with an empty user; `apply` needs a project administrator
or an environment administrator.

An environment with no approvers agreed: nothing is removed. Required reviewers or approval checks
someone set there by hand stay, and the output line says they are there: a gate is taken down by a
person, never by an empty answer. With approvers agreed, the check this writes (the first Approval
check on an Azure DevOps environment) is made to match; other checks are left alone.

Every request and answer is checked in tests against the official REST descriptions (trimmed copies
in tests/contracts/, with their source): method, path, query parameters and api-version, request
body, and the answer's fields. The run's approvals on Azure DevOps: the build's timeline
(SYSTEM_TIMELINEID, the job's own) lists records of type `Checkpoint.Approval` whose id is the
approval's, read with `$expand=steps`. Which of them belong to an environment is read from the
approval's instructions, which this module writes naming the environment; approvals from checks set
by hand are not attributed.

Everything is read from `environ` (the CI system's variables), base URLs included (GITHUB_API_URL,
SYSTEM_COLLECTIONURI), which is how the tests point it at a loopback server. Tokens travel in a
header and are never printed: a message an API echoes is cleaned of them.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ConfigDict

from aiops_platform import ci_api, paths, placeholders, project
from aiops_platform.governance import FILE, Governance

APPROVAL_CHECK_TYPE = "8c6f20a7-a545-4486-9777-f762fafe0d4d"
APPROVAL_TIMEOUT_MINUTES = 43_200  # 30 days, the most Azure DevOps allows
ANY_ORDER = "anyOrder"  # executionOrder: any approver, in any order
MIN_REQUIRED_APPROVERS = 1
API = "api-version=7.1"  # identities, environments, approvals, build timeline: their 7.1 descriptions
CHECKS_API = "api-version=7.1-preview.1"  # check configurations are still a preview in 7.1
TOKENS = ("GH_TOKEN", "GITHUB_TOKEN", "SYSTEM_ACCESSTOKEN", "AZURE_DEVOPS_EXT_PAT")
FIX = "run `make approvals`"
# GitHub's REST description has no field for it: said, never sent or read.
ADMIN_BYPASS_BY_HAND = (
    "administrators' bypass is set by hand: untick \"Allow administrators to bypass configured protection "
    'rules" in Settings > Environments > {name}'
)


class ApprovalError(RuntimeError):
    """One line: which environment, what is wrong, and what fixes it."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Approval(_Strict):
    approver: str
    state: str  # approved, rejected, ... as the CI system says
    comment: str | None = None
    at: str | None = None


class Recorded(_Strict):
    approvals: list[Approval] | None = None  # None: could not be read (note says why)
    note: str | None = None


def environment_name(ci_provider: str, environment: str) -> str:
    """The CI system's name for a governance environment."""
    return environment if ci_provider == "github" else f"{project.load().slug}-{environment}"


# --- where the API is, and who we are ----------------------------------------------------------


@dataclass(frozen=True)
class _GitHub:
    api: str
    repository: str  # owner/name
    token: str

    name = "GitHub"

    @property
    def owner(self) -> str:
        return self.repository.split("/")[0]

    def headers(self) -> dict[str, str]:
        return ci_api.github_headers(self.token)

    def environment_url(self, environment: str) -> str:
        return f"{self.api}/repos/{self.repository}/environments/{quote(environment, safe='')}"


@dataclass(frozen=True)
class _AzureDevOps:
    collection: str  # no trailing slash
    project: str
    token: str
    bearer: bool  # SYSTEM_ACCESSTOKEN; else a PAT, sent as Basic auth

    name = "Azure DevOps"

    @property
    def project_url(self) -> str:
        return f"{self.collection}/{quote(self.project, safe='')}"

    @property
    def identities_url(self) -> str:
        """vssps.dev.azure.com/{org} for a dev.azure.com organisation; the collection itself elsewhere."""
        parts = urlsplit(self.collection)
        if parts.hostname == "dev.azure.com":
            organisation = parts.path.strip("/").split("/")[0]
            return f"https://vssps.dev.azure.com/{organisation}/_apis/identities"
        return f"{self.collection}/_apis/identities"

    def headers(self) -> dict[str, str]:
        return ci_api.azure_devops_headers(self.token, self.bearer)


_Target = _GitHub | _AzureDevOps


def _token(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = environ.get(name, "")
        if value and not value.startswith("$("):  # an unmapped Azure Pipelines macro arrives as its text
            return name, value
    return None


def _github(environ: Mapping[str, str], repository: str | None = None, admin: bool = False) -> _GitHub:
    chosen = repository or environ.get("GITHUB_REPOSITORY") or _origin_repository()
    if not chosen or chosen.count("/") != 1:
        raise ApprovalError(
            "which GitHub repository is unknown: pass --repository owner/name, or set GITHUB_REPOSITORY"
        )
    found = _token(environ, "GH_TOKEN", "GITHUB_TOKEN")
    if found is None:
        fix = "as a repository admin" if admin else "or the job's github.token"
        raise ApprovalError(f"no GH_TOKEN or GITHUB_TOKEN: use `GH_TOKEN=$(gh auth token)` {fix}")
    return _GitHub(ci_api.github_api(environ), chosen, found[1])


def _azure_devops(environ: Mapping[str, str]) -> _AzureDevOps:
    collection = environ.get("SYSTEM_COLLECTIONURI", "").rstrip("/")
    project = environ.get("SYSTEM_TEAMPROJECT", "")
    if not (collection and project):
        raise ApprovalError(
            "SYSTEM_COLLECTIONURI (https://dev.azure.com/<org>/) and SYSTEM_TEAMPROJECT are needed: "
            "set them to the organisation and project"
        )
    found = _token(environ, "SYSTEM_ACCESSTOKEN", "AZURE_DEVOPS_EXT_PAT")
    if found is None:
        raise ApprovalError(
            "no SYSTEM_ACCESSTOKEN or AZURE_DEVOPS_EXT_PAT: map SYSTEM_ACCESSTOKEN: $(System.AccessToken) "
            "in the step, or set AZURE_DEVOPS_EXT_PAT to a personal access token"
        )
    name, token = found
    return _AzureDevOps(collection, project, token, bearer=name == "SYSTEM_ACCESSTOKEN")


_REMOTE = re.compile(r"[:/](?P<repository>[^/:]+/[^/]+?)(?:\.git)?/?$")


def repository_from_remote(url: str) -> str | None:
    """owner/name from a GitHub remote: https://host/owner/name(.git), git@host:owner/name(.git),
    ssh://git@host/owner/name."""
    found = _REMOTE.search(url.strip())
    return found["repository"] if found else None


def _origin_repository() -> str | None:
    try:
        done = subprocess.run(
            ["git", "remote", "get-url", "origin"],
            cwd=paths.root(),
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return repository_from_remote(done.stdout) if done.returncode == 0 else None


# --- HTTP: one client, refusals as one line ----------------------------------------------------


class _Refused(Exception):
    def __init__(self, status: int, said: str) -> None:
        super().__init__(f"{status} {said}".strip())
        self.status = status


def _client(target: _Target) -> httpx.Client:
    return httpx.Client(headers=target.headers(), timeout=ci_api.TIMEOUT_SECONDS, follow_redirects=True)


def _call(client: httpx.Client, method: str, url: str, payload: Any = None, missing_ok: bool = False) -> Any:
    """The JSON answer; None for a 404 when `missing_ok`; _Refused otherwise."""
    response = client.request(method, url, json=payload)
    if missing_ok and response.status_code == 404:
        return None
    if not response.is_success:
        raise _Refused(response.status_code, ci_api.api_message(response))
    if not response.content:
        return {}
    return response.json()


def _why(error: Exception, target: _Target, admin: bool) -> str:
    """Why the API could not be used, and the fix, in a few words."""
    if isinstance(error, _Refused):
        if isinstance(target, _GitHub) and error.status in (401, 403, 404):
            fix = (
                "use `GH_TOKEN=$(gh auth token)` as a repository admin"
                if admin
                else "give the job a token that can read the repository (`permissions: actions: read`)"
            )
            return f"GitHub refused ({error}): {fix}"
        if isinstance(target, _AzureDevOps) and error.status in (401, 403):
            fix = (
                "use a project administrator's AZURE_DEVOPS_EXT_PAT (or make the build service an "
                "administrator of the environment)"
                if admin
                else "allow the build service to read the environment (Pipelines > Environments > Security)"
            )
            return f"Azure DevOps refused ({error}): {fix}"
        return f"{target.name} refused ({error})"
    if isinstance(error, httpx.HTTPError):
        return f"could not reach {target.name} ({type(error).__name__}: {error})"
    return f"{target.name} answered in a shape this does not know ({type(error).__name__}: {error})"


_FAILURES = (_Refused, httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError, IndexError)


def _clean(message: str, environ: Mapping[str, str]) -> str:
    return ci_api.hide_tokens(message, environ, TOKENS)


def _describe(policy_approvers: list[str], prevent_self_review: bool) -> str:
    rule = "self-review prevented" if prevent_self_review else "self-review allowed"
    return f"{', '.join(policy_approvers)} ({rule})"


# --- apply --------------------------------------------------------------------------------------


def apply(
    governance: Governance,
    environ: Mapping[str, str] | None = None,
    dry_run: bool = False,
    repository: str | None = None,
) -> list[str]:
    """Make each environment's approvers in the CI system those in governance.yaml; one line each,
    and a last line saying whether anything changed. `dry_run`: no call at all, the lines say what
    would be set. ApprovalError (one line) when the CI system cannot be read or written."""
    environ = os.environ if environ is None else environ
    provider = governance.ci_provider
    _refuse_placeholders(governance, "approvals")
    if dry_run:
        lines = []
        for environment, policy in governance.environments.items():
            where = (
                f"{environment} ({_system(provider)} environment {environment_name(provider, environment)})"
            )
            if policy.approvers:
                lines.append(
                    f"{where}: would require {_describe(policy.approvers, policy.prevent_self_review)}"
                )
            else:
                lines.append(f"{where}: no approvers agreed; would leave it as it is")
        return [*lines, "dry run: nothing was read or changed"]
    target = _github(environ, repository, admin=True) if provider == "github" else _azure_devops(environ)
    lines, changed = [], 0
    with _client(target) as client:
        for environment, policy in governance.environments.items():
            name = environment_name(provider, environment)
            try:
                if isinstance(target, _GitHub):
                    line, did = _apply_github(
                        client, target, name, policy.approvers, policy.prevent_self_review
                    )
                else:
                    line, did = _apply_azure_devops(
                        client, target, name, policy.approvers, policy.prevent_self_review
                    )
            except ApprovalError as error:
                raise ApprovalError(f"{environment}: {error}") from error
            except _FAILURES as error:
                done = f" ({changed} changed before it)" if changed else ""
                message = f"{environment}: {_why(error, target, admin=True)}{done}"
                raise ApprovalError(_clean(message, environ)) from error
            lines.append(f"{environment}: {line}")
            changed += did
    if changed:
        lines.append(f"{changed} environment(s) changed to match {FILE}")
    else:
        lines.append(f"nothing changed: every environment already matches {FILE}")
    return lines


def _system(provider: str) -> str:
    return "GitHub" if provider == "github" else "Azure DevOps"


def _github_rule(environment: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    rules = (environment or {}).get("protection_rules") or []
    return next((rule for rule in rules if rule.get("type") == kind), None)


def _apply_github(
    client: httpx.Client, target: _GitHub, name: str, approvers: list[str], prevent_self_review: bool
) -> tuple[str, bool]:
    url = target.environment_url(name)
    current = _call(client, "GET", url, missing_ok=True)
    rule = _github_rule(current, "required_reviewers")
    present = {(item["type"], item["reviewer"]["id"]) for item in (rule or {}).get("reviewers") or []}
    if not approvers:
        if present:
            return f"no approvers agreed; left its {len(present)} required reviewer(s) as they are", False
        return "no approvers agreed; none required", False
    wanted = [_github_reviewer(client, target, approver) for approver in approvers]
    described = _describe(approvers, prevent_self_review)
    same_reviewers = present == {(item["type"], item["id"]) for item in wanted}
    same_rule = rule is not None and bool(rule.get("prevent_self_review")) == prevent_self_review
    by_hand = f"; {ADMIN_BYPASS_BY_HAND.format(name=name)}" if prevent_self_review else ""
    if same_reviewers and same_rule:
        return f"already requires {described}; unchanged{by_hand}", False
    payload: dict[str, Any] = {"reviewers": wanted, "prevent_self_review": prevent_self_review}
    timer = _github_rule(current, "wait_timer")
    if timer is not None:
        payload["wait_timer"] = timer.get("wait_timer", 0)
    if current is not None and "deployment_branch_policy" in current:
        payload["deployment_branch_policy"] = current["deployment_branch_policy"]
    _call(client, "PUT", url, payload)
    verb = "created, requiring" if current is None else "now requires"
    return f"{verb} {described}{by_hand}", True


def _github_reviewer(client: httpx.Client, target: _GitHub, approver: str) -> dict[str, Any]:
    if "/" in approver:
        organisation, slug = approver.split("/", 1)
        team = _call(
            client, "GET", f"{target.api}/orgs/{quote(organisation)}/teams/{quote(slug)}", missing_ok=True
        )
        if team is None:
            raise ApprovalError(f"no GitHub team {approver} (or the token cannot see it): check {FILE}")
        return {"type": "Team", "id": team["id"]}
    user = _call(client, "GET", f"{target.api}/users/{quote(approver)}", missing_ok=True)
    if user is None or user.get("type", "User") != "User":
        raise ApprovalError(f"no GitHub user {approver}: check the logins in {FILE}")
    return {"type": "User", "id": user["id"]}


def _find_environment(client: httpx.Client, target: _AzureDevOps, name: str) -> dict[str, Any] | None:
    url = f"{target.project_url}/_apis/distributedtask/environments?name={quote(name)}&{API}"
    found = _call(client, "GET", url).get("value") or []
    return next((item for item in found if str(item.get("name", "")).lower() == name.lower()), None)


def _approval_checks(client: httpx.Client, target: _AzureDevOps, environment_id: Any) -> list[dict[str, Any]]:
    url = (
        f"{target.project_url}/_apis/pipelines/checks/configurations?resourceType=environment"
        f"&resourceId={environment_id}&$expand=settings&{CHECKS_API}"
    )
    checks = _call(client, "GET", url).get("value") or []
    return [
        check
        for check in checks
        if str((check.get("type") or {}).get("id", "")).lower() == APPROVAL_CHECK_TYPE
        or (check.get("type") or {}).get("name") == "Approval"
    ]


def _instructions(name: str) -> str:
    return (
        f"Deployment to {name}: approvers agreed in {FILE} (`make approvals` sets them; "
        "change them there, not here)."
    )


def _same_order(value: Any) -> bool:
    return value in (ANY_ORDER, "anyOrder")


def _apply_azure_devops(
    client: httpx.Client, target: _AzureDevOps, name: str, approvers: list[str], prevent_self_review: bool
) -> tuple[str, bool]:
    if not approvers:
        environment = _find_environment(client, target, name)
        checks = _approval_checks(client, target, environment["id"]) if environment else []
        if checks:
            return f"no approvers agreed; left its {len(checks)} Approval check(s) as they are", False
        return "no approvers agreed; none required", False
    ids = [_identity(client, target, approver)["id"] for approver in approvers]
    environment = _find_environment(client, target, name)
    created = environment is None
    if environment is None:
        url = f"{target.project_url}/_apis/distributedtask/environments?{API}"
        environment = _call(client, "POST", url, {"name": name, "description": f"Approvers: {FILE}"})
    checks = [] if created else _approval_checks(client, target, environment["id"])
    settings = {
        "approvers": [{"id": identity} for identity in ids],
        "minRequiredApprovers": MIN_REQUIRED_APPROVERS,
        "requesterCannotBeApprover": prevent_self_review,
        "instructions": _instructions(name),
        "executionOrder": ANY_ORDER,
        "blockedApprovers": [],
    }
    body: dict[str, Any] = {
        "type": {"id": APPROVAL_CHECK_TYPE, "name": "Approval"},
        "settings": settings,
        "resource": {"type": "environment", "id": str(environment["id"]), "name": name},
        "timeout": APPROVAL_TIMEOUT_MINUTES,
    }
    described = _describe(approvers, prevent_self_review)
    configurations = f"{target.project_url}/_apis/pipelines/checks/configurations"
    if not checks:
        _call(client, "POST", f"{configurations}?{CHECKS_API}", body)
        where = "created it, requiring" if created else "now requires"
        return f"{where} {described}", True
    check = checks[0]
    if _matches(check, settings):
        return f"already requires {described}; unchanged", False
    _call(client, "PATCH", f"{configurations}/{check['id']}?{CHECKS_API}", {**body, "id": check["id"]})
    return f"now requires {described}", True


def _matches(check: dict[str, Any], settings: dict[str, Any]) -> bool:
    present = check.get("settings") or {}
    ids = {str(item.get("id", "")).lower() for item in present.get("approvers") or []}
    return (
        ids == {str(item["id"]).lower() for item in settings["approvers"]}
        and present.get("minRequiredApprovers") == settings["minRequiredApprovers"]
        and bool(present.get("requesterCannotBeApprover")) == settings["requesterCannotBeApprover"]
        and present.get("instructions") == settings["instructions"]
        and _same_order(present.get("executionOrder"))
        and check.get("timeout") == APPROVAL_TIMEOUT_MINUTES
    )


def _identity(client: httpx.Client, target: _AzureDevOps, approver: str) -> dict[str, Any]:
    url = (
        f"{target.identities_url}?searchFilter=General&filterValue={quote(approver, safe='')}"
        f"&queryMembership=none&{API}"
    )
    found = _call(client, "GET", url).get("value") or []
    if len(found) != 1:
        problem = "no Azure DevOps identity" if not found else f"{len(found)} Azure DevOps identities match"
        raise ApprovalError(f"{problem} {approver}: use an e-mail or [Project]\\Group in {FILE}")
    return found[0]


def _refuse_placeholders(governance: Governance, action: str, only: str | None = None) -> None:
    """A preset's stand-in approvers (your-org/...) never reach the CI system, nor pass as checked."""
    agreed = {
        environment: policy.approvers
        for environment, policy in governance.environments.items()
        if only in (None, environment)
    }
    try:
        placeholders.refuse_approvers(agreed, action)
    except placeholders.PlaceholderError as error:
        raise ApprovalError(str(error)) from None


# --- verify -------------------------------------------------------------------------------------


def verify(governance: Governance, environment: str, environ: Mapping[str, str] | None = None) -> str:
    """One line when the CI environment requires exactly the agreed approvers (any one of them
    approves, so one more would let someone nobody agreed approve alone) and prevents self-review
    where agreed; ApprovalError naming the difference otherwise, or when it cannot be read (fail
    closed). No approvers agreed: nothing to verify, nothing asked."""
    environ = os.environ if environ is None else environ
    if environment not in governance.environments:
        known = ", ".join(governance.environments)
        raise ApprovalError(f"{environment!r} is not an environment in {FILE}; choose one of {known}")
    policy = governance.policy(environment)
    _refuse_placeholders(governance, f"{environment} approvers check", only=environment)
    if not policy.approvers and governance.gxp_relevant and environment != "dev":
        raise ApprovalError(
            f"{environment}: no approvers agreed in {FILE}, and the use case is GxP-relevant: not deploying "
            f"without them; {placeholders.change_answer(f'approvers_{environment}', '<org/team or login>')}"
        )
    if not policy.approvers:
        return f"{environment}: no approvers agreed in {FILE}; nothing to verify"
    provider = governance.ci_provider
    name = environment_name(provider, environment)
    try:
        target = _github(environ) if provider == "github" else _azure_devops(environ)
    except ApprovalError as error:
        raise ApprovalError(f"{environment}: cannot check its approvers: {error}") from error
    try:
        with _client(target) as client:
            if isinstance(target, _GitHub):
                present, prevented = _present_github(client, target, name)
                agreed = {approver: approver.lower() for approver in policy.approvers}
            else:
                present, prevented = _present_azure_devops(client, target, name)
                agreed = {
                    approver: str(_identity(client, target, approver)["id"]).lower()
                    for approver in policy.approvers
                }
    except ApprovalError as error:
        raise ApprovalError(f"{environment}: {error}") from error
    except _FAILURES as error:
        message = (
            f"{environment}: cannot read the approvers {target.name} requires: {_why(error, target, False)}"
        )
        raise ApprovalError(_clean(f"{message}; not deploying without them", environ)) from error
    keys = set(agreed.values())
    missing = [approver for approver, key in agreed.items() if key not in present]
    extra = sorted(shown for key, shown in present.items() if key not in keys)
    problems = []
    if missing:
        problems.append(f"{', '.join(missing)} no longer required to approve")
    if extra:
        problems.append(f"{', '.join(extra)} can approve but {'is' if len(extra) == 1 else 'are'} not agreed")
    if policy.prevent_self_review and not prevented:
        problems.append("self-review is no longer prevented")
    if problems:
        raise ApprovalError(
            f"{environment} ({target.name} environment {name}) differs from {FILE}: "
            f"{'; '.join(problems)}: {FIX}"
        )
    required = _describe(policy.approvers, policy.prevent_self_review)
    unseen = (
        "; administrators' bypass is not in GitHub's REST API: check it in Settings > Environments"
        if isinstance(target, _GitHub) and policy.prevent_self_review
        else ""
    )
    return f"{environment}: {target.name} environment {name} requires {required}{unseen}"


def _present_github(client: httpx.Client, target: _GitHub, name: str) -> tuple[dict[str, str], bool]:
    """Each required reviewer as login or org/team (lower case; also how it is shown), and whether
    self-review is prevented."""
    current = _call(client, "GET", target.environment_url(name), missing_ok=True)
    if current is None:
        raise ApprovalError(f"no such GitHub environment {name} in {target.repository}: {FIX}")
    rule = _github_rule(current, "required_reviewers") or {}
    present = {}
    for item in rule.get("reviewers") or []:
        reviewer = item.get("reviewer") or {}
        if item.get("type") == "Team":  # its organisation: html_url's, else the repository owner's
            found = re.search(r"/orgs/([^/]+)/teams/", str(reviewer.get("html_url", "")))
            key = f"{found[1] if found else target.owner}/{reviewer.get('slug', '')}".lower()
        else:
            key = str(reviewer.get("login", "")).lower()
        present[key] = key
    return present, bool(rule.get("prevent_self_review"))


def _present_azure_devops(
    client: httpx.Client, target: _AzureDevOps, name: str
) -> tuple[dict[str, str], bool]:
    """Each approver's id (lower case) over the environment's Approval checks, with the name to show
    it by (its display name when answered, else the id), and whether every check bars the requester."""
    environment = _find_environment(client, target, name)
    if environment is None:
        raise ApprovalError(f"no such Azure DevOps environment {name} in {target.project}: {FIX}")
    checks = _approval_checks(client, target, environment["id"])
    present: dict[str, str] = {}
    prevented = bool(checks)
    for check in checks:
        settings = check.get("settings") or {}
        for approver in settings.get("approvers") or []:
            key = str(approver.get("id", "")).lower()
            present[key] = str(approver.get("displayName") or approver.get("uniqueName") or key)
        prevented = prevented and bool(settings.get("requesterCannotBeApprover"))
    return present, prevented


# --- recorded -----------------------------------------------------------------------------------


def recorded(environment: str, environ: Mapping[str, str] | None = None) -> Recorded:
    """The approvals this pipeline run received for `environment`, for the release record; never
    raises: `approvals` is None and `note` says why when they cannot be read."""
    environ = os.environ if environ is None else environ
    target: _Target | None = None
    try:
        if environ.get("GITHUB_ACTIONS") == "true":
            run = environ.get("GITHUB_RUN_ID", "")
            if not run.isdigit():
                return Recorded(note="GITHUB_RUN_ID is not set: no run to read approvals from")
            target = _github(environ)
            with _client(target) as client:
                return Recorded(approvals=_recorded_github(client, target, run, environment))
        if environ.get("TF_BUILD", "").lower() == "true":
            build, timeline = environ.get("BUILD_BUILDID", ""), environ.get("SYSTEM_TIMELINEID", "")
            if not build.isdigit() or not timeline:
                return Recorded(
                    note="BUILD_BUILDID or SYSTEM_TIMELINEID is not set: no run to read approvals from"
                )
            target = _azure_devops(environ)
            name = environment_name("azure_devops", environment)
            with _client(target) as client:
                return Recorded(approvals=_recorded_azure_devops(client, target, build, timeline, name))
    except ApprovalError as error:
        return Recorded(note=_clean(str(error), environ))
    except _FAILURES as error:
        reason = _why(error, target, admin=False) if target else f"{type(error).__name__}: {error}"
        return Recorded(note=_clean(f"approvals not read: {reason}", environ))
    return Recorded(note="outside CI (GitHub Actions or Azure Pipelines): no approvals to record")


def _recorded_github(client: httpx.Client, target: _GitHub, run: str, environment: str) -> list[Approval]:
    reviews = _call(client, "GET", f"{target.api}/repos/{target.repository}/actions/runs/{run}/approvals")
    return [
        Approval(
            approver=str((review.get("user") or {}).get("login", "")),
            state=str(review.get("state", "")),
            comment=review.get("comment") or None,
            at=None,  # GitHub's review history carries no time
        )
        for review in reviews
        if environment in {item.get("name") for item in review.get("environments") or []}
    ]


def _recorded_azure_devops(
    client: httpx.Client, target: _AzureDevOps, build: str, timeline_id: str, name: str
) -> list[Approval]:
    where = f"{target.project_url}/_apis/build/builds/{build}/timeline/{quote(timeline_id, safe='')}?{API}"
    timeline = _call(client, "GET", where)
    found = []
    for record in (timeline or {}).get("records") or []:
        if record.get("type") != "Checkpoint.Approval":
            continue
        url = f"{target.project_url}/_apis/pipelines/approvals/{record['id']}?$expand=steps&{API}"
        approval = _call(client, "GET", url)
        if name not in str(approval.get("instructions") or ""):
            continue  # another environment's approval (or a check set by hand)
        for step in approval.get("steps") or []:
            actual = step.get("actualApprover") or {}
            if not actual:
                continue  # assigned, not acted on
            found.append(
                Approval(
                    approver=str(actual.get("uniqueName") or actual.get("displayName") or actual.get("id")),
                    state=str(step.get("status", "")),
                    comment=step.get("comment") or None,
                    at=step.get("lastModifiedOn") or step.get("initiatedOn"),
                )
            )
    return found
