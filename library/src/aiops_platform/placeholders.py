"""Values a project was generated with that stand in for real ones, and the one rule that says so.

Presets and template defaults ship stand-ins a team replaces once it knows its own: approvers
`your-org/...`, the zero subscription id, the endpoint `https://your-aoai-resource...`, a platform
pin to `your-org/aiops-genai-template`. The offline loop never needs them; anything that would
send one to Azure or to the CI system refuses it here, naming the value, where it is and the fix,
and `aiops doctor` lists them all. Standard library only: every command may import this.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
# A word starting `your-` (your-org, your-aoai-resource): how the template and its presets mark a stand-in;
# `your-` inside a name (`acme/ask-your-doctor`, `my.your-app`, `x_your-y`) is not one.
_STAND_IN = re.compile(r"(?<![a-z0-9._-])your-[a-z0-9]", re.IGNORECASE)
DOCTOR = "`make doctor` lists every placeholder"
PLATFORM_PIN = "your-org/aiops-genai-template"  # the pin of a project generated from a local folder


def is_placeholder(value: str) -> bool:
    """The one rule: the zero GUID, or a value naming a `your-...` stand-in."""
    text = value.strip()
    return text == ZERO_GUID or _STAND_IN.search(text) is not None


class PlaceholderError(RuntimeError):
    """A command would act on a placeholder; nothing was sent. One line: value, where, fix."""


def change_answer(answer: str, example: str) -> str:
    """How a team changes one answer everywhere it is used (the files generated from it)."""
    return "cruft update --variables-to-update " + "'" + json.dumps({answer: example}) + "'"


@dataclass(frozen=True)
class Placeholder:
    """A value still standing in for a real one (or not set where it is needed)."""

    what: str  # "Azure subscription"
    value: str  # "" when not set
    where: str  # the file and field, or the variable, that holds it
    fix: str

    @property
    def said(self) -> str:
        return f"{self.what} ({self.where}): {f'placeholder {self.value}' if self.value else 'not set'}"

    def refusal(self, action: str) -> str:
        return f"{action}: refused, {self.said}; {self.fix} ({DOCTOR})"


def refuse(found: Placeholder | None, action: str) -> None:
    if found is not None:
        raise PlaceholderError(found.refusal(action))


def subscription(value: str, from_environment: bool) -> Placeholder | None:
    """The Azure subscription commands use: AZURE_SUBSCRIPTION_ID, else the answer in aiops.yaml."""
    if value.strip() and not is_placeholder(value):
        return None
    where = "AZURE_SUBSCRIPTION_ID" if from_environment else "aiops.yaml azure.subscription_id"
    fix = "set AZURE_SUBSCRIPTION_ID (environment or .env), or " + change_answer(
        "azure_subscription_id", "<your subscription GUID>"
    )
    return Placeholder("Azure subscription", value.strip(), where, fix)


def openai_endpoint(value: str, where: str) -> Placeholder | None:
    """An Azure OpenAI endpoint about to be used or sent (a deployment's setting, a connection)."""
    if value.strip() and not is_placeholder(value):
        return None
    fix = "set AZURE_OPENAI_ENDPOINT (environment or .env), or " + change_answer(
        "azure_openai_endpoint", "https://<resource>.openai.azure.com/"
    )
    return Placeholder("Azure OpenAI endpoint", value.strip(), where, fix)


def approvers(environment: str, names: list[str]) -> Placeholder | None:
    """The placeholders among an environment's approvers in governance.yaml, if any."""
    found = [name for name in names if is_placeholder(name)]
    if not found:
        return None
    fix = change_answer(f"approvers_{environment}", "<org/team or login, comma-separated>")
    where = f"governance.yaml environments.{environment}.approvers"
    return Placeholder(f"{environment} approvers", ", ".join(found), where, fix)


def refuse_approvers(environments: dict[str, list[str]], action: str) -> None:
    """Before approvers reach the CI system (or are trusted as checked): none may be a placeholder."""
    found = [item for environment, names in environments.items() if (item := approvers(environment, names))]
    if found:
        listed = "; ".join(item.said for item in found)
        raise PlaceholderError(f"{action}: refused, {listed}; name yours: {found[0].fix} ({DOCTOR})")
