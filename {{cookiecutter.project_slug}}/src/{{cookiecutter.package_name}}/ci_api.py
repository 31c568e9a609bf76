"""What the modules that call GitHub's and Azure DevOps' REST APIs share (pr_comment, approvals,
template_update): where GitHub's API is, the headers each API wants, the API's own message from a
refusal, and tokens kept out of what is printed.

Only the standard library at import (httpx is a type here): template_update imports this before it
knows it will open a pull request, and runs without the project's environment until then.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

TIMEOUT_SECONDS = 30.0
TOKENS = ("GITHUB_TOKEN", "GH_TOKEN", "SYSTEM_ACCESSTOKEN")  # the CI systems' own tokens


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


def hide_tokens(message: str, env: Mapping[str, str], names: Iterable[str] = TOKENS) -> str:
    """`message` with the value of each token variable in `names` as ***, should an API echo one,
    as sent or in the Basic form a personal access token travels in."""
    for name in names:
        token = env.get(name, "")
        if len(token) >= 8 and not token.startswith("$("):  # an unmapped macro arrives as its own text
            basic = base64.b64encode(f":{token}".encode()).decode()
            message = message.replace(token, "***").replace(basic, "***")
    return message
