"""What the modules that call GitHub's and Azure DevOps' REST APIs share (pr_comment, approvals,
template_update): where GitHub's API is, the headers each API wants, the API's own message from a
refusal, which links may be followed with the token, and the one masking policy for secrets in
whatever is printed, logged or posted (the server's log and spans use it too).

Only the standard library at import (httpx is a type here): template_update imports this before it
knows it will open a pull request, and runs without the project's environment until then.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    import httpx

TIMEOUT_SECONDS = 30.0
TOKENS = ("GITHUB_TOKEN", "GH_TOKEN", "SYSTEM_ACCESSTOKEN")  # the CI systems' own tokens
# Every variable whose value is a secret, masked wherever it shows up as it is.
SECRETS = (
    *TOKENS,
    "AZURE_DEVOPS_EXT_PAT",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_API_KEY",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
)
MASK = "***"
# What a secret looks like, wherever it came from: (pattern, replacement). Kept narrow enough that
# a summary's own text (metric names, scores, commit hashes of 40 hex) passes unchanged.
_SECRET_SHAPES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # credentials in a URL: whatever stands between `scheme://` and the host's `@` (the last one: a
    # password may hold an `@` of its own)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/?#]+@"), rf"\g<1>{MASK}@"),
    # an Authorization value: `Bearer <token>`, `Basic <base64>` (a token has digits or punctuation)
    (
        re.compile(r"\b((?i:bearer|basic))\s+(?=[\w.~+/=-]*[\d.~+/=-])[\w.~+/=-]{12,}"),
        rf"\g<1> {MASK}",
    ),
    # `name: value` or `name=value` for the names that carry secrets (headers, connection strings, SAS,
    # a query's `?token=`); a quoted value is masked to its closing quote, spaces and all; `$(...)` or
    # `${...}` names a secret, it is none
    (
        re.compile(
            r"(?i)\b(api[-_]?key|x-api-key|x-functions-key|ocp-apim-subscription-key|instrumentationkey"
            r"|accountkey|sharedaccesskey|sharedaccesssignature|sig|password|passwd|pwd"
            r"|(?:[a-z]+[-_])?(?:secret|token))"
            r"(\s*[\"']?\s*[:=]\s*)(?:([\"'])[^\"'\n]*[\"']|(?!\$)[^\s\"';,&]+)"
        ),
        lambda found: f"{found[1]}{found[2]}{found[3] or ''}{MASK}{found[3] or ''}",
    ),
    # a JSON Web Token (an Entra ID access token, Azure DevOps' System.AccessToken), Bearer or not
    (re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}(?:\.[\w-]*)?"), MASK),
    (re.compile(r"\b(gh[pousr]_|github_pat_)[\w-]{16,}"), MASK),  # GitHub tokens
    (re.compile(r"\bsk-[\w-]{16,}"), MASK),  # OpenAI keys (sk-..., sk-proj-...)
    (re.compile(r"\b[A-Za-z0-9]{52}JQQJ[A-Za-z0-9]{28}\b"), MASK),  # Azure's 84-character keys and PATs
    (re.compile(r"\b[a-z2-7]{52}\b"), MASK),  # an Azure DevOps personal access token (older form)
    (re.compile(r"\b[0-9a-fA-F]{32}\b"), MASK),  # an Azure OpenAI or Cognitive Services key
]


def github_api(env: Mapping[str, str]) -> str:
    """GITHUB_API_URL (GitHub Enterprise, the tests' loopback server) or api.github.com, no trailing slash."""
    return (env.get("GITHUB_API_URL") or "https://api.github.com").rstrip("/")


def github_headers(token: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }


def azure_devops_headers(token: str, bearer: bool = True) -> dict[str, str]:
    """A bearer token (SYSTEM_ACCESSTOKEN), else a personal access token as Basic auth, no user."""
    if bearer:
        authorization = f"Bearer {token}"
    else:
        authorization = "Basic " + base64.b64encode(f":{token}".encode()).decode()
    return {"Authorization": authorization, "Accept": "application/json"}


def api_message(response: httpx.Response) -> str:
    """The first line of the API's own `message`, short: GitHub and Azure DevOps both send one."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    if not isinstance(message, str) or not message.strip():
        return ""
    first = message.strip().splitlines()[0]
    return first if len(first) <= 160 else first[:157] + "..."


def hide_tokens(message: str, env: Mapping[str, str], names: Iterable[str] = SECRETS) -> str:
    """`message` as it may be printed, logged or posted: the value of each secret variable in `names`
    (as set, or in the Basic form a personal access token travels in) and anything shaped like a
    token, key, connection-string secret or URL credential, as ***."""
    for name in names:
        token = env.get(name, "")
        if len(token) >= 8 and not token.startswith("$("):  # an unmapped macro arrives as its own text
            basic = base64.b64encode(f":{token}".encode()).decode()
            message = message.replace(token, MASK).replace(basic, MASK)
    for shape, replacement in _SECRET_SHAPES:
        message = shape.sub(replacement, message)
    return message


def display_url(url: str) -> str:
    """`url` as it may be printed or logged: no user or password, no query or fragment (a key, a
    SAS signature)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return hide_tokens(url, {})
    return parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="").geturl()


class MaskSecrets(logging.Filter):
    """On a log handler: each record it writes, message and traceback, passes hide_tokens first."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # arguments that do not fit: the handler reports that itself
            return True
        record.msg, record.args = hide_tokens(message, os.environ), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = hide_tokens(record.exc_text, os.environ)
        return True


class ForeignLink(Exception):
    """A link or redirect the API sent points at another origin: following it would send the token
    (and what is posted) there."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or {"https": 443, "http": 80}.get(scheme)


def _on_api(url: str, api: str, what: str) -> str:
    """`url` when it is on the API's own scheme, host and port; ForeignLink naming `what` otherwise."""
    try:
        same = _origin(url) == _origin(api)
    except ValueError:  # a port that is not a number
        same = False
    if not same:
        raise ForeignLink(
            f"{what} is at {display_url(url)}, not on {display_url(api)}: "
            "not followed, so the token goes nowhere else"
        )
    return url


def next_page(response: httpx.Response, api: str) -> str | None:
    """The response's `Link: rel="next"` URL, or None on the last page; ForeignLink off the API."""
    link = response.links.get("next", {}).get("url")
    return _on_api(urljoin(str(response.url), link), api, "the next page") if link else None


def origin_guard(api: str) -> Callable[[httpx.Request], None]:
    """An httpx request hook: every request a client sends, a redirect's included, stays on the API's
    origin (ForeignLink otherwise). The one rule for where a client may take its token."""

    def guard(request: httpx.Request) -> None:
        _on_api(str(request.url), api, f"{request.method} {request.url.path}")

    return guard
