"""A pull request gets one evaluation comment (on Azure DevOps, one thread), edited on every re-run;
when there is no pull request or the API refuses, one line says why and the pipeline goes on.

Real HTTP on loopback: a stand-in for the parts of GitHub's and Azure DevOps' APIs the command uses,
with its comments and threads in memory and every request recorded."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import official_api
import pytest
from conftest import PROJECT_ROOT, JsonHandler, LoopbackServer
from typer.testing import CliRunner

from aiops_platform import ci_api, pr_comment, project
from aiops_platform.cli import app

runner = CliRunner()
TOKEN = "ghs_not-a-real-token-0123456789"  # pragma: allowlist secret
BOT = {"login": "github-actions[bot]"}
MARKER = pr_comment.marker()  # names the sample project (the working directory at import)
REVIEWER = {"login": "reviewer"}

GITHUB_COMMENTS = re.compile(r"/repos/(?P<repo>[^/]+/[^/]+)/issues/(?P<number>\d+)/comments")
GITHUB_COMMENT = re.compile(r"/repos/[^/]+/[^/]+/issues/comments/(?P<id>\d+)")
ADO_THREADS = re.compile(r"/[^/]+/[^/]+/_apis/git/repositories/[^/]+/pullRequests/(?P<number>\d+)/threads")
ADO_THREAD = re.compile(rf"{ADO_THREADS.pattern}/(?P<thread>\d+)")
ADO_COMMENT = re.compile(rf"{ADO_THREAD.pattern}/comments/(?P<comment>\d+)")


class FakeForge(LoopbackServer):
    """GitHub issue comments and Azure DevOps pull-request threads, as their REST APIs serve them."""

    def __init__(self) -> None:
        self.comments: dict[int, list[dict[str, Any]]] = {}  # GitHub: pull request -> its comments
        self.threads: dict[int, list[dict[str, Any]]] = {}  # Azure DevOps: pull request -> its threads
        self.requests: list[tuple[str, str, Any]] = []  # method, path?query, JSON body
        self.authorizations: set[str] = set()
        self.refuse: int | None = None  # answer every request with this status
        self.pages_at: str | None = None  # where Link: rel="next" points (default: this server)
        self.redirect_to: str | None = None  # answer every request with a 307 to the same path there
        self.undescribed: list[str] = []  # what the official API descriptions do not allow
        self._ids = itertools.count(1001)
        super().__init__(_handler(self))

    def comment(self, number: int, body: str, user: dict[str, str] = REVIEWER) -> dict[str, Any]:
        made = {"id": next(self._ids), "body": body, "user": user}
        self.comments.setdefault(number, []).append(made)
        return made

    def thread(self, number: int, content: str, status: str = "active") -> dict[str, Any]:
        opening = {
            "id": 1,
            "parentCommentId": 0,
            "content": content,
            "commentType": "text",
            "isDeleted": False,
        }
        made = {"id": next(self._ids), "status": status, "isDeleted": False, "comments": [opening]}
        self.threads.setdefault(number, []).append(made)
        return made

    def methods(self) -> list[str]:
        return [method for method, _, _ in self.requests]

    def answer(self, method: str, target: str, payload: Any) -> tuple[int, Any, dict[str, str]]:
        if self.refuse:
            return self.refuse, {"message": "Resource not accessible by integration"}, {}
        if self.redirect_to:
            return 307, {}, {"Location": f"{self.redirect_to}{target}"}
        url = urlsplit(target)
        path, query = unquote(url.path), parse_qs(url.query)
        if "/_apis/" in path:
            if query.get("api-version") != ["7.1"]:
                return 400, {"message": "api-version 7.1 expected"}, {}
            return self._azure_devops(method, path, payload)
        return self._github(method, path, query, payload)

    def _github(self, method: str, path: str, query: dict, payload: Any) -> tuple[int, Any, dict[str, str]]:
        if (found := GITHUB_COMMENTS.fullmatch(path)) and method == "GET":
            comments = self.comments.get(int(found["number"]), [])
            size, page = int(query.get("per_page", ["30"])[0]), int(query.get("page", ["1"])[0])
            headers = {}
            if page * size < len(comments):
                base = self.pages_at or self.url
                headers["Link"] = f'<{base}{path}?per_page={size}&page={page + 1}>; rel="next"'
            return 200, comments[(page - 1) * size : page * size], headers
        if found and method == "POST":
            return 201, self.comment(int(found["number"]), payload["body"], BOT), {}
        if (found := GITHUB_COMMENT.fullmatch(path)) and method == "PATCH":
            for comment in itertools.chain.from_iterable(self.comments.values()):
                if comment["id"] == int(found["id"]):
                    comment["body"] = payload["body"]
                    return 200, comment, {}
        return 404, {"message": "Not Found"}, {}

    def _azure_devops(self, method: str, path: str, payload: Any) -> tuple[int, Any, dict[str, str]]:
        if (found := ADO_THREADS.fullmatch(path)) and method == "GET":
            threads = self.threads.get(int(found["number"]), [])
            return 200, {"value": threads, "count": len(threads)}, {}
        if found and method == "POST":
            (opening,) = payload["comments"]
            if (opening["parentCommentId"], opening["commentType"]) != (0, "text"):
                return 400, {"message": "an opening comment: parentCommentId 0, commentType text"}, {}
            made = self.thread(int(found["number"]), opening["content"], payload["status"])
            return 200, made, {}
        found = ADO_COMMENT.fullmatch(path) or ADO_THREAD.fullmatch(path)
        if found and method == "PATCH":
            for thread in self.threads.get(int(found["number"]), []):
                if thread["id"] != int(found["thread"]):
                    continue
                if "comment" not in found.groupdict():
                    thread["status"] = payload["status"]
                    return 200, thread, {}
                for comment in thread["comments"]:
                    if comment["id"] == int(found["comment"]):
                        comment["content"] = payload["content"]
                        return 200, comment, {}
        return 404, {"message": "TF401180: The requested pull request was not found."}, {}


def _handler(forge: FakeForge) -> type[JsonHandler]:
    class Handler(JsonHandler):
        def _serve(self) -> None:
            payload = self.json_body()
            forge.requests.append((self.command, self.path, payload))
            forge.authorizations.add(self.headers.get("Authorization", ""))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.send_json(401, {"message": "Bad credentials"})
            else:
                status, answer, headers = forge.answer(self.command, self.path, payload)
                forge.undescribed += official_api.served(self.command, self.path, payload, status, answer)
                self.send_json(status, answer, headers)

        do_GET = do_POST = do_PATCH = _serve

    return Handler


@pytest.fixture
def forge():
    with FakeForge() as running:
        yield running
    assert running.undescribed == [], "\n".join(running.undescribed)


@pytest.fixture(autouse=True)
def outside_ci(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CI variables from the machine running the tests (these tests run in the project's own
    pull-request pipeline); a scratch folder, with the sample's aiops.yaml, as the project."""
    for name in list(os.environ):
        if name.startswith(("GITHUB_", "GH_", "SYSTEM_", "BUILD_", "TF_BUILD")):
            monkeypatch.delenv(name)
    shutil.copy(PROJECT_ROOT / project.FILE, tmp_path / project.FILE)
    monkeypatch.chdir(tmp_path)


def experiment_run(text: str, passed: bool = True, name: str = "20250101-120000") -> Path:
    """What `experiment run` leaves: results/<run>/summary.md next to results.json and its verdict."""
    folder = Path("results") / name
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"gate": {"passed": passed, "failures": []}}))
    (folder / "summary.md").write_text(text, encoding="utf-8")
    return folder / "summary.md"


def github(forge: FakeForge, tmp_path: Path, event: dict | None = None) -> dict[str, str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"pull_request": {"number": 7}} if event is None else event))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_API_URL": forge.url,
        "GITHUB_REPOSITORY": "contoso/qc",
        "GITHUB_EVENT_NAME": "pull_request" if event is None else "push",
        "GITHUB_EVENT_PATH": str(path),
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_RUN_ID": "4242",
    }


def azure_devops(forge: FakeForge, pull_request: str | None = "12") -> dict[str, str]:
    env = {
        "TF_BUILD": "True",
        "SYSTEM_COLLECTIONURI": f"{forge.url}/contoso/",
        "SYSTEM_TEAMPROJECT": "Widget Audits",  # a name with a space: quoted in the URL
        "BUILD_REPOSITORY_ID": "5e1c0a11-0000-4000-8000-000000000000",
        "BUILD_REPOSITORY_NAME": "qc",
        "BUILD_REPOSITORY_PROVIDER": "TfsGit",
        "BUILD_REASON": "PullRequest" if pull_request else "IndividualCI",
        "BUILD_BUILDID": "99",
        "SYSTEM_ACCESSTOKEN": TOKEN,
    }
    return env | ({"SYSTEM_PULLREQUEST_PULLREQUESTID": pull_request} if pull_request else {})


def comment(env: dict[str, str], *args: str) -> str:
    """`pr comment`, which must exit 0 whatever happens; its output, one line."""
    result = runner.invoke(app, ["pr", "comment", *args], env=env)
    assert result.exit_code == 0, result.output
    assert result.exception is None
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert TOKEN not in result.output
    return lines[0]


def test_the_first_run_posts_one_comment_and_a_rerun_edits_that_one(forge: FakeForge, tmp_path: Path):
    theirs = forge.comment(7, "Looks good, but check the hard_qa scores.")
    env = github(forge, tmp_path)
    experiment_run("# Experiment `qa` (engine: inprocess)\n\n**Gate: passed**\n")
    assert "posted the evaluation summary on GitHub pull request #7 (contoso/qc)" in comment(env)
    ours = forge.comments[7][1]
    assert ours["body"] == f"{MARKER}\n# Experiment `qa` (engine: inprocess)\n\n**Gate: passed**\n"

    experiment_run("# Experiment `qa` (engine: inprocess)\n\n**Gate: FAILED (1)**\n", name="20250101-130000")
    os.utime("results/20250101-130000/summary.md", (2e9, 2e9))  # the newest run
    assert "updated the evaluation summary" in comment(env)
    assert [item["id"] for item in forge.comments[7]] == [theirs["id"], ours["id"]]
    assert ours["body"].startswith(MARKER) and "FAILED (1)" in ours["body"] and "passed" not in ours["body"]
    assert theirs["body"] == "Looks good, but check the hard_qa scores."
    assert forge.methods() == ["GET", "POST", "GET", "PATCH"]
    assert forge.requests[-1][1] == f"/repos/contoso/qc/issues/comments/{ours['id']}"
    assert forge.authorizations == {f"Bearer {TOKEN}"}


def test_the_comment_is_found_on_a_later_page(forge: FakeForge, tmp_path: Path):
    for number in range(100):
        forge.comment(7, f"review note {number}")
    ours = forge.comment(7, f"{MARKER}\nan earlier summary", BOT)
    experiment_run("the new summary")
    assert "updated" in comment(github(forge, tmp_path))
    assert [(method, target) for method, target, _ in forge.requests] == [
        ("GET", "/repos/contoso/qc/issues/7/comments?per_page=100"),
        ("GET", "/repos/contoso/qc/issues/7/comments?per_page=100&page=2"),  # followed Link: rel="next"
        ("PATCH", f"/repos/contoso/qc/issues/comments/{ours['id']}"),
    ]
    assert ours["body"] == f"{MARKER}\nthe new summary"
    assert len(forge.comments[7]) == 101


def test_azure_devops_keeps_one_thread_closed_while_the_gate_passes_and_active_when_it_fails(
    forge: FakeForge,
):
    review = forge.thread(12, "Why did relevance drop?")
    env = azure_devops(forge)
    experiment_run("**Gate: passed**\n", passed=True)
    assert comment(env).endswith("on Azure DevOps pull request 12 (qc), thread closed")
    ours = forge.threads[12][1]
    assert ours["status"] == "closed"  # informational: never holds an "all comments resolved" policy
    assert ours["comments"][0]["content"] == f"{MARKER}\n**Gate: passed**\n"
    threads = "/contoso/Widget%20Audits/_apis/git/repositories/5e1c0a11-0000-4000-8000-000000000000"
    assert forge.requests[-1][:2] == ("POST", f"{threads}/pullRequests/12/threads?api-version=7.1")

    experiment_run("**Gate: FAILED (1)**\n", passed=False, name="20250101-130000")
    os.utime("results/20250101-130000/summary.md", (2e9, 2e9))
    assert comment(env).endswith("thread active")
    assert [thread["id"] for thread in forge.threads[12]] == [review["id"], ours["id"]]
    assert ours["comments"][0]["content"] == f"{MARKER}\n**Gate: FAILED (1)**\n"
    assert ours["status"] == "active"  # a failure stands out until the next run passes
    assert review["status"] == "active" and review["comments"][0]["content"] == "Why did relevance drop?"
    assert forge.methods()[-3:] == ["GET", "PATCH", "PATCH"]  # the comment, then the status


def test_the_gate_result_can_be_given_instead_of_read(forge: FakeForge):
    experiment_run("summary", passed=True)
    assert comment(azure_devops(forge), "--gate-result", "failed").endswith("thread active")
    assert forge.threads[12][0]["status"] == "active"


@pytest.mark.parametrize(
    ("system", "fix"),
    [("github", "pull-requests: write"), ("azure_devops", '"Contribute to pull requests" on the repository')],
)
def test_a_refusal_is_one_line_naming_the_cause_and_the_pipeline_goes_on(
    forge: FakeForge, tmp_path: Path, system: str, fix: str
):
    forge.refuse = 403  # a fork's read-only token; a build service without the permission
    experiment_run("summary")
    env = github(forge, tmp_path) if system == "github" else azure_devops(forge)
    line = comment(env)
    assert "refused the comment (403 Resource not accessible by integration)" in line
    assert fix in line and line.endswith("no comment posted")
    assert forge.methods() == ["GET"]  # stopped at the first refusal
    assert forge.comments == {} and forge.threads == {}


def test_an_unreachable_api_is_one_line_too(forge: FakeForge, tmp_path: Path):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once closed
    env = github(forge, tmp_path) | {"GITHUB_API_URL": f"http://127.0.0.1:{port}"}
    experiment_run("summary")
    assert "could not reach GitHub at 127.0.0.1 (ConnectError" in comment(env)


@pytest.mark.parametrize("where", ["no CI", "github push", "azure devops CI build"])
def test_outside_a_pull_request_nothing_is_posted(forge: FakeForge, tmp_path: Path, where: str):
    experiment_run("summary")
    env = {
        "no CI": {},
        "github push": github(forge, tmp_path, event={"ref": "refs/heads/main"}),
        "azure devops CI build": azure_devops(forge, pull_request=None),
    }[where]
    line = comment(env)
    assert "not a" in line and line.endswith("no comment posted")
    assert forge.requests == []


def test_without_a_token_it_says_which_to_map(forge: FakeForge, tmp_path: Path):
    experiment_run("summary")
    github_env = {k: v for k, v in github(forge, tmp_path).items() if k != "GITHUB_TOKEN"}
    assert "no GITHUB_TOKEN (or GH_TOKEN)" in comment(github_env)
    unmapped = azure_devops(forge) | {"SYSTEM_ACCESSTOKEN": "$(System.AccessToken)"}
    assert "SYSTEM_ACCESSTOKEN: $(System.AccessToken)" in comment(unmapped)
    assert forge.requests == []


def test_a_summary_over_githubs_limit_is_cut_at_a_line_with_a_note(forge: FakeForge, tmp_path: Path):
    rows = [f"| qa | default | core_qa | {number} | 0 |" for number in range(3000)]
    summary = "\n".join(["## Runs", "", *rows, ""])
    assert len(summary) > pr_comment.GITHUB_LIMIT
    experiment_run(summary)
    comment(github(forge, tmp_path))
    posted = forge.comments[7][0]["body"]
    assert len(posted) <= pr_comment.GITHUB_LIMIT
    kept, note = posted.removeprefix(f"{MARKER}\n").split("\n\n---\n")
    assert summary.startswith(kept + "\n")  # the first lines, whole
    assert note.startswith(f"**Summary truncated:** the first {len(kept):,} of {len(summary):,} characters")
    assert "[this run's artifacts](https://github.example/contoso/qc/actions/runs/4242)" in note


def test_a_summary_within_the_limit_is_posted_whole():
    assert pr_comment.body("short", limit=100) == f"{MARKER}\nshort"
    assert MARKER.startswith("<!--") and MARKER.endswith("-->")  # hidden in the rendered comment
    assert project.load(PROJECT_ROOT).slug in MARKER  # one project's comment, not another's


@pytest.mark.parametrize("elsewhere", ["another port", "another host name", "another scheme"])
def test_a_next_page_on_another_origin_gets_no_token_and_nothing_is_posted(
    forge: FakeForge, tmp_path: Path, elsewhere: str
):
    for number in range(101):
        forge.comment(7, f"review note {number}")
    experiment_run("the summary")
    port = forge.url.rsplit(":", 1)[1]
    with FakeForge() as other:
        forge.pages_at = {
            "another port": other.url,
            "another host name": f"http://localhost:{port}",  # the same server under another name
            "another scheme": f"https://127.0.0.1:{port}",
        }[elsewhere]
        line = comment(github(forge, tmp_path))
    assert "GitHub pointed elsewhere: the next page is at " in line
    assert "not followed, so the token goes nowhere else; no comment posted" in line
    assert [method for method, _, _ in forge.requests] == ["GET"]  # the first page only, then stop
    assert other.requests == [] and len(forge.comments[7]) == 101


def test_a_redirect_to_another_origin_is_not_followed(forge: FakeForge, tmp_path: Path):
    experiment_run("the summary")
    with FakeForge() as other:
        forge.redirect_to = other.url  # a 307 keeps the method and the body
        line = comment(github(forge, tmp_path))
    assert "GitHub pointed elsewhere: GET /repos/contoso/qc/issues/7/comments is at http://127.0.0.1:" in line
    assert line.endswith("not followed, so the token goes nowhere else; no comment posted")
    assert other.requests == [] and forge.comments == {}


def _secrets() -> dict[str, str]:
    """One of each kind the masking knows, made up and spelled so that no scanner takes this file
    for a leak."""
    azure_devops_pat = "abcdefghijklmnopqrstuvwxyz234567" + "abcdefghijklmnopqrst"  # pragma: allowlist secret
    return {
        "GitHub classic": "ghp_" + "a1B2c3D4e5" * 3 + "f6G7h8",  # pragma: allowlist secret
        "GitHub app": "ghs_" + "Zy9Xw8Vu7T" * 3 + "s6R5q4",
        "GitHub fine-grained": "github_pat_" + "11ABCDEFG0" + "aBcD1234eF" * 7,  # pragma: allowlist secret
        "Azure DevOps PAT": azure_devops_pat,
        "Azure DevOps PAT, new form": "x7Y" * 17 + "z" + "JQQJ" + "99BAACAAAAAAAAAAAAASAZDO" + "b1cT",
        "Bearer": "eyJhbGciOiJSUzI1NiJ9." + "eyJzdWIiOiIxIn0" * 3,
        "Basic": base64.b64encode(f":{azure_devops_pat}".encode()).decode(),
        "OpenAI key": "sk-proj-" + "Qw3rTy" * 8,
        "Azure OpenAI key": "0123456789abcdef" * 2,
        "api-key header": "key-" + "value-not-hex-4242",
        "instrumentation key": "00000000-1111-2222-3333-" + "444444444444",
        "storage account key": "c3RvcmFnZS1rZXk" + "tdmFsdWU=",
        "password in a URL": "pa55-" + "word-in-url",
    }


def _summary_with_secrets(secrets: dict[str, str]) -> str:
    return "\n".join(
        [
            "# Experiment `qa`",
            f"| qa | default | core_qa | answer: {secrets['GitHub classic']} and {secrets['GitHub app']} |",
            f"worst line: the token is {secrets['GitHub fine-grained']}",
            f"the PAT {secrets['Azure DevOps PAT']}",
            f"new PAT {secrets['Azure DevOps PAT, new form']}",
            f"Authorization: Bearer {secrets['Bearer']}",
            f"Authorization: Basic {secrets['Basic']}",
            f"OPENAI_API_KEY={secrets['OpenAI key']} and the AOAI key {secrets['Azure OpenAI key']}",
            f"api-key: {secrets['api-key header']}",
            f"InstrumentationKey={secrets['instrumentation key']};IngestionEndpoint=https://in.example/",
            f"DefaultEndpointsProtocol=https;AccountName=st;AccountKey={secrets['storage account key']}",
            f"see https://bob:{secrets['password in a URL']}@models.example/v1",
            "",
        ]
    )


@pytest.mark.parametrize("system", ["github", "azure_devops"])
def test_a_summary_holding_secrets_is_posted_with_each_masked(forge: FakeForge, tmp_path: Path, system: str):
    secrets = _secrets()
    experiment_run(_summary_with_secrets(secrets))
    comment(github(forge, tmp_path) if system == "github" else azure_devops(forge))
    if system == "github":
        posted = forge.comments[7][0]["body"]
    else:
        posted = forge.threads[12][0]["comments"][0]["content"]
    leaked = [kind for kind, secret in secrets.items() if secret in posted]
    assert leaked == [], posted
    assert "# Experiment `qa`" in posted and "IngestionEndpoint=https://in.example/" in posted
    assert "https://***@models.example/v1" in posted and "Authorization: Bearer ***" in posted


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("see https://carol:x@SECRET@models.example/v2", "pa55-word-after-an-at"),  # pragma: allowlist secret
        ("GET https://models.example/v1/chat?token=SECRET&x=1", "q7R" * 6),
        ("refresh_token: SECRET", "r3fr3sh-" + "t0k3n-value"),
        ('{"password": "SECRET"}', "correct horse battery staple"),  # pragma: allowlist secret
        ("client_secret='SECRET'", "my s3cr3t value here"),  # pragma: allowlist secret
        ("an id token SECRET in a line", "eyJhbGciOiJSUzI1NiJ9." + "eyJzdWIiOiIyIn0" * 3 + ".c2lnbmF0dXJl"),
    ],
)
def test_masking_hides_each_spelling_of_a_secret_whole(text: str, secret: str):
    """No part of it is left: a password with an `@` or a space, a token in a query or a JWT alone."""
    masked = ci_api.hide_tokens(text.replace("SECRET", secret), {})
    parts = [part for part in re.split(r"[\s@.]", secret) if len(part) > 3]
    assert "***" in masked and not any(part in masked for part in parts), masked


def test_masking_leaves_a_summary_without_secrets_as_it_is():
    summary = "\n".join(
        [
            "# Experiment `qa` (engine: inprocess), commit 3f786850e387550fdab836ed7e6dc881de23001b",
            "**Gate: passed** · run 20250101-120000 · results/20250101-120000/report.html",
            "| evaluator | flow/variant | dataset | f1_score | groundedness |",
            "| qa_metrics | qa/baseline | core_qa | 0.8123 | 4.25 |",
            "Basic checks passed; the Bearer of the request is logged. See https://github.com/contoso/qc/pull/7",
            "api-version=7.1; top_k: 3; skipped: no Azure AI project (set AZURE_AI_PROJECT)",
        ]
    )
    assert ci_api.hide_tokens(summary, {}) == summary
