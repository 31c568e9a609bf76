"""The evaluation summary as one pull-request comment, edited in place on every re-run.

A pull request's pipeline writes `results/<run>/summary.md`; reviewers should see it on the pull
request, once, current, with anything shaped like a secret masked (ci_api.hide_tokens: an answer
can hold a key). The body starts with a hidden marker line (MARKER, which names this project, so
two projects in one repository keep a comment each); a re-run finds the comment that starts with
it and edits that one. Other comments are only read.

- GitHub Actions: an issue comment (every pull request is an issue), found by listing them 100 a
  page and following `Link: rel="next"`. Every request, pages and redirects included, stays on
  the API's own scheme, host and port (ci_api.origin_guard), or nothing is posted.
  GITHUB_TOKEN (or GH_TOKEN) with `pull-requests: write`.
- Azure Pipelines (Azure Repos): a thread whose first comment carries the marker. Its status
  follows the gate: `active` when it failed, so the failure stands out (and an "all comments
  resolved" policy holds the merge), `closed` when it passed, so an informational thread never
  blocks. SYSTEM_ACCESSTOKEN, mapped in the step, for a build service allowed to "Contribute to
  pull requests".

Everything is read from the environment the CI system sets, base URLs included (GITHUB_API_URL,
SYSTEM_COLLECTIONURI), which is also how the tests point it at a loopback server. Whether the gate
passed: the caller says so, or `gate.passed` in the results.json that `experiment run` writes next
to the summary; unknown counts as failed (the thread stays active: someone looks).

Commenting informs, it never decides: outside a pull request, without a token, when the API refuses
(a fork's read-only token, a build service without the permission) or cannot be reached, the
outcome is one line saying why and what fixes it, and the command exits 0. The token is sent in a
header, never printed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

import httpx

from aiops_platform import ci_api, paths, project


def marker() -> str:
    return f"<!-- aiops-evaluation-summary: {project.load().slug} -->"


GITHUB_LIMIT = 65_536  # characters GitHub takes in a comment body
AZURE_DEVOPS_LIMIT = 150_000  # in a pull-request comment (undocumented; the API's 400 names it)
AZURE_DEVOPS_API = "api-version=7.1"
MAX_PAGES = 100  # of 100 comments: a bound, should a server keep answering rel="next"
SUMMARY = "summary.md"
RESULTS = "results.json"

Action = Literal["created", "updated", "skipped"]


@dataclass(frozen=True)
class Outcome:
    action: Action
    message: str

    @property
    def posted(self) -> bool:
        return self.action != "skipped"


class Skipped(Exception):
    """Why no comment is posted, in one line that names the fix."""


@dataclass(frozen=True)
class GitHub:
    api: str  # GITHUB_API_URL, no trailing slash
    repository: str  # owner/name
    number: int
    token: str
    run_url: str | None

    name = "GitHub"
    limit = GITHUB_LIMIT

    @property
    def where(self) -> str:
        return f"pull request #{self.number} ({self.repository})"

    def headers(self) -> dict[str, str]:
        return ci_api.github_headers(self.token)


@dataclass(frozen=True)
class AzureDevOps:
    threads: str  # .../pullRequests/{id}/threads
    number: int
    repository: str  # its name, for messages
    token: str
    run_url: str | None

    name = "Azure DevOps"
    limit = AZURE_DEVOPS_LIMIT

    @property
    def where(self) -> str:
        return f"pull request {self.number} ({self.repository})"

    def headers(self) -> dict[str, str]:
        return ci_api.azure_devops_headers(self.token)


Target = GitHub | AzureDevOps


def target(env: Mapping[str, str]) -> Target:
    """The pull request this CI run builds, from the CI system's variables; Skipped when there is none."""
    if env.get("GITHUB_ACTIONS") == "true":
        return _github(env)
    if env.get("TF_BUILD", "").lower() == "true":
        return _azure_devops(env)
    raise Skipped("not a CI pull-request build (GitHub Actions or Azure Pipelines): no comment posted")


def _github(env: Mapping[str, str]) -> GitHub:
    number = _pull_request_number(env.get("GITHUB_EVENT_PATH"))
    if number is None:
        event = env.get("GITHUB_EVENT_NAME") or "unknown event"
        raise Skipped(f"not a pull request ({event}): no comment posted")
    repository = env.get("GITHUB_REPOSITORY", "")
    if repository.count("/") != 1:
        raise Skipped("GITHUB_REPOSITORY (owner/name) is not set: no comment posted")
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN")
    if not token:
        raise Skipped(
            "no GITHUB_TOKEN (or GH_TOKEN) in the step's env: set it to the job's github.token; "
            "no comment posted"
        )
    api = ci_api.github_api(env)
    server, run = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_RUN_ID")
    run_url = f"{server.rstrip('/')}/{repository}/actions/runs/{run}" if server and run else None
    return GitHub(api, repository, number, token, run_url)


def _pull_request_number(event_path: str | None) -> int | None:
    """`pull_request.number` of the event that started the run (pull_request, pull_request_target)."""
    if not event_path:
        return None
    try:
        event = json.loads(Path(event_path).read_text(encoding="utf-8"))
        number = event["pull_request"]["number"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return number if isinstance(number, int) else None


def _azure_devops(env: Mapping[str, str]) -> AzureDevOps:
    number = env.get("SYSTEM_PULLREQUEST_PULLREQUESTID", "")
    if not number.isdigit():
        reason = env.get("BUILD_REASON") or "no SYSTEM_PULLREQUEST_PULLREQUESTID"
        raise Skipped(f"not a pull-request build ({reason}): no comment posted")
    provider = env.get("BUILD_REPOSITORY_PROVIDER", "TfsGit")
    if provider != "TfsGit":
        raise Skipped(f"pull-request threads need Azure Repos, not {provider}: no comment posted")
    collection = env.get("SYSTEM_COLLECTIONURI", "").rstrip("/")
    project = env.get("SYSTEM_TEAMPROJECTID") or env.get("SYSTEM_TEAMPROJECT", "")
    repository = env.get("BUILD_REPOSITORY_ID", "")
    if not (collection and project and repository):
        raise Skipped(
            "SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT and BUILD_REPOSITORY_ID are needed: no comment posted"
        )
    token = env.get("SYSTEM_ACCESSTOKEN", "")
    if not token or token.startswith("$("):  # an unmapped macro arrives as its own text
        raise Skipped(
            "SYSTEM_ACCESSTOKEN is not set: map it in the step "
            "(env: SYSTEM_ACCESSTOKEN: $(System.AccessToken)); no comment posted"
        )
    project_url = f"{collection}/{quote(project, safe='')}"
    repository_url = f"{project_url}/_apis/git/repositories/{quote(repository, safe='')}"
    build = env.get("BUILD_BUILDID")
    run_url = f"{project_url}/_build/results?buildId={build}&view=artifacts" if build else None
    name = env.get("BUILD_REPOSITORY_NAME") or repository
    return AzureDevOps(f"{repository_url}/pullRequests/{number}/threads", int(number), name, token, run_url)


def newest_summary(results: Path = paths.RESULTS) -> Path | None:
    """The summary.md the latest `experiment run` wrote under `results`, if any."""
    return max(results.glob(f"*/{SUMMARY}"), key=lambda path: path.stat().st_mtime, default=None)


def gate_passed(summary: Path) -> bool | None:
    """`gate.passed` from the results.json saved next to `summary`; None when there is none to read."""
    try:
        passed = json.loads((summary.parent / RESULTS).read_text(encoding="utf-8"))["gate"]["passed"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return passed if isinstance(passed, bool) else None


def body(summary: str, limit: int, run_url: str | None = None) -> str:
    """The marker line and the summary; when that is over `limit`, the summary's first lines and a
    note saying it was cut and where the whole of it is."""
    whole = f"{marker()}\n{summary}"
    if len(whole) <= limit:
        return whole
    where = f"[this run's artifacts]({run_url})" if run_url else "this run's artifacts"

    def note(shown: int) -> str:
        return (
            f"\n\n---\n**Summary truncated:** the first {shown:,} of {len(summary):,} characters "
            f"(a comment holds {limit:,}). The whole summary and report.html are in {where}."
        )

    room = limit - len(marker()) - 1 - len(note(len(summary)))  # the note's numbers only get shorter
    kept = summary[:room]
    if "\n" in kept:
        kept = kept[: kept.rindex("\n")]  # whole lines: no table row cut in half
    return f"{marker()}\n{kept}{note(len(kept))}"


def comment(
    summary: Path | None = None, passed: bool | None = None, env: Mapping[str, str] | None = None
) -> Outcome:
    """Post `summary` (default: the newest results/*/summary.md) on the pull request this CI run
    builds, or edit the comment posted before. `passed`: the gate's verdict (default: results.json)."""
    env = os.environ if env is None else env
    try:
        pull_request = target(env)
        summary = summary or newest_summary()
        if summary is None:
            raise Skipped(f"no {paths.RESULTS}/*/{SUMMARY} (did the experiment run?): no comment posted")
        try:
            text = ci_api.hide_tokens(summary.read_text(encoding="utf-8"), env)  # a key in an answer
        except OSError as error:
            raise Skipped(f"cannot read {summary}: {error.strerror or error}; no comment posted") from error
        verdict = gate_passed(summary) if passed is None else passed
        action = _post(pull_request, body(text, pull_request.limit, pull_request.run_url), verdict)
    except Skipped as skipped:
        return Outcome("skipped", ci_api.hide_tokens(str(skipped), env))
    done = "posted" if action == "created" else "updated"
    message = f"{done} the evaluation summary on {pull_request.name} {pull_request.where}"
    if isinstance(pull_request, AzureDevOps):
        message += f", thread {thread_status(verdict)}"
    return Outcome(action, message)


def thread_status(passed: bool | None) -> str:
    """An Azure DevOps thread's status for the gate's verdict: only a pass closes it."""
    return "closed" if passed else "active"


def _post(pull_request: Target, text: str, passed: bool | None) -> Action:
    api = pull_request.api if isinstance(pull_request, GitHub) else pull_request.threads
    try:
        with httpx.Client(
            headers=pull_request.headers(),
            timeout=ci_api.TIMEOUT_SECONDS,
            follow_redirects=True,
            event_hooks={"request": [ci_api.origin_guard(api)]},
        ) as client:
            if isinstance(pull_request, GitHub):
                return _post_github(client, pull_request, text)
            return _post_azure_devops(client, pull_request, text, passed)
    except httpx.InvalidURL as error:
        raise Skipped(f"not a valid {pull_request.name} API URL ({error}); no comment posted") from error
    except ci_api.ForeignLink as error:
        raise Skipped(f"{pull_request.name} pointed elsewhere: {error}; no comment posted") from error
    except httpx.HTTPError as error:
        where = error.request.url.host if _has_request(error) else pull_request.name
        problem = f"{type(error).__name__}: {error}"
        raise Skipped(
            f"could not reach {pull_request.name} at {where} ({problem}); no comment posted"
        ) from error
    except (ValueError, KeyError, TypeError, AttributeError) as error:  # not the API's JSON
        raise Skipped(
            f"{pull_request.name} answered in a shape this does not know ({type(error).__name__}: {error}); "
            "no comment posted"
        ) from error


def _has_request(error: httpx.HTTPError) -> bool:
    try:
        error.request  # noqa: B018 - raises RuntimeError when the error has none
    except RuntimeError:
        return False
    return True


def _post_github(client: httpx.Client, pull_request: GitHub, text: str) -> Action:
    repository = f"{pull_request.api}/repos/{pull_request.repository}"
    comments = f"{repository}/issues/{pull_request.number}/comments"
    url: str | None = f"{comments}?per_page=100"
    for _ in range(MAX_PAGES):
        if url is None:
            break
        page = _call(client, pull_request, "GET", url)
        for existing in page.json():
            if str(existing.get("body") or "").startswith(marker()):
                edited = f"{repository}/issues/comments/{existing['id']}"
                _call(client, pull_request, "PATCH", edited, {"body": text})
                return "updated"
        url = ci_api.next_page(page, pull_request.api)
    _call(client, pull_request, "POST", comments, {"body": text})
    return "created"


def _post_azure_devops(
    client: httpx.Client, pull_request: AzureDevOps, text: str, passed: bool | None
) -> Action:
    status, threads, version = thread_status(passed), pull_request.threads, AZURE_DEVOPS_API
    for thread in _call(client, pull_request, "GET", f"{threads}?{version}").json().get("value", []):
        first = _first_comment(thread)
        if (
            thread.get("isDeleted")
            or first is None
            or not str(first.get("content") or "").startswith(marker())
        ):
            continue
        url = f"{threads}/{thread['id']}"
        _call(client, pull_request, "PATCH", f"{url}/comments/{first['id']}?{version}", {"content": text})
        if str(thread.get("status", "")).lower() != status:
            _call(client, pull_request, "PATCH", f"{url}?{version}", {"status": status})
        return "updated"
    opening = {"parentCommentId": 0, "content": text, "commentType": "text"}  # a person's comment
    _call(client, pull_request, "POST", f"{threads}?{version}", {"comments": [opening], "status": status})
    return "created"


def _first_comment(thread: dict[str, Any]) -> dict[str, Any] | None:
    """The thread's opening comment: the earliest one not deleted."""
    comments = [item for item in thread.get("comments") or [] if not item.get("isDeleted")]
    return min(comments, key=lambda item: item.get("id", 0), default=None)


def _call(
    client: httpx.Client, pull_request: Target, method: str, url: str, payload: dict[str, Any] | None = None
) -> httpx.Response:
    """The API's answer, or Skipped naming why it refused and how to let it."""
    response = client.request(method, url, json=payload)
    if response.is_success:
        return response
    raise Skipped(_refusal(response, pull_request))


def _refusal(response: httpx.Response, pull_request: Target) -> str:
    status = response.status_code
    said = ci_api.api_message(response)
    answer = f"{status} {said}" if said else str(status)
    if isinstance(pull_request, GitHub):
        fixes = {
            401: "the token is not valid: set GITHUB_TOKEN to the job's github.token",
            403: (
                "the token cannot write to pull requests: give the job `permissions: pull-requests: write` "
                "(a pull request from a fork always gets a read-only token; the job summary still has it)"
            ),
            404: f"no {pull_request.where}, or the token cannot see it: check the job's permissions",
        }
    else:
        fixes = {
            401: "the token was refused: map SYSTEM_ACCESSTOKEN: $(System.AccessToken) in the step",
            403: (
                "the build service may not comment: allow its identity (<project> Build Service) to "
                '"Contribute to pull requests" on the repository (Project settings > Repositories > Security)'
            ),
            404: (
                f"no {pull_request.where}, or the build service cannot read it: "
                "check SYSTEM_COLLECTIONURI, SYSTEM_TEAMPROJECT and BUILD_REPOSITORY_ID"
            ),
        }
    fix = fixes.get(status, f"{response.request.method} {response.request.url.path} failed")
    return f"{pull_request.name} refused the comment ({answer}): {fix}; no comment posted"
