"""Smoke-testing a served flow (`server.py` locally, or a deployed endpoint) with the sample request.

The same smoke test runs against a local `serve`, in the PR pipeline, and after each deployment.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx

from aiops_platform import ci_api

AML_SCOPE = "https://ml.azure.com/.default"


class SmokeTestFailed(RuntimeError):
    """The endpoint did not answer the sample request with a non-empty answer."""


def smoke_test(base_url: str, request_file: Path, timeout: float, headers: dict[str, str]) -> str:
    """POST the sample request to `<base_url>/score`; the answer, or SmokeTestFailed saying why
    (the URL shown without credentials or query, the answer's text masked)."""
    payload = json.loads(request_file.read_text(encoding="utf-8"))
    url = base_url.rstrip("/") + "/score"
    shown = ci_api.display_url(url)
    try:
        response = httpx.post(url, json=payload, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise SmokeTestFailed(f"{shown}: {type(error).__name__}: {_masked(str(error))}") from error
    if response.status_code != 200:
        raise SmokeTestFailed(f"{shown}: HTTP {response.status_code}: {_masked(response.text[:300])}")
    try:
        answer = response.json().get("answer", "")
    except (ValueError, AttributeError):  # not JSON, or not an object
        answer = None
    if not isinstance(answer, str) or not answer.strip():
        raise SmokeTestFailed(f"{shown}: no answer in {_masked(response.text[:300])}")
    return answer


def _masked(text: str) -> str:
    return ci_api.hide_tokens(text, os.environ)


def entra_headers() -> dict[str, str]:
    """A bearer token for an Azure ML endpoint with `auth_mode: aad_token` (keyless)."""
    from azure.identity import DefaultAzureCredential

    return {"Authorization": f"Bearer {DefaultAzureCredential().get_token(AML_SCOPE).token}"}
