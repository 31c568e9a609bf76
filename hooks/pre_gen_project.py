"""Validate every answer before cookiecutter writes a project.

Only validation lives here: a bad answer prints the field, the value and the rule, and exits 1,
which makes cookiecutter remove the half-made output folder.
"""

from __future__ import annotations

import keyword
import re
import sys
from collections.abc import Callable
from urllib.parse import urlparse

# Jinja appears only in these literals; `tojson` makes each one a safe Python string.
ANSWERS: dict[str, str] = {
    "project_name": {{ cookiecutter.project_name | tojson }},
    "project_slug": {{ cookiecutter.project_slug | tojson }},
    "package_name": {{ cookiecutter.package_name | tojson }},
    "description": {{ cookiecutter.description | tojson }},
    "use_case_code": {{ cookiecutter.use_case_code | tojson }},
    "owner_team": {{ cookiecutter.owner_team | tojson }},
    "azure_subscription_id": {{ cookiecutter.azure_subscription_id | tojson }},
    "azure_resource_group": {{ cookiecutter.azure_resource_group | tojson }},
    "azure_ml_workspace": {{ cookiecutter.azure_ml_workspace | tojson }},
    "azure_location": {{ cookiecutter.azure_location | tojson }},
    "azure_openai_endpoint": {{ cookiecutter.azure_openai_endpoint | tojson }},
    "azure_openai_chat_deployment": {{ cookiecutter.azure_openai_chat_deployment | tojson }},
    "azure_openai_api_version": {{ cookiecutter.azure_openai_api_version | tojson }},
}

# Names a generated package must not shadow: its own runtime dependencies.
DEPENDENCY_MODULES = frozenset(
    {
        "azure", "bm25s", "dotenv", "httpx", "jinja2", "numpy", "openai", "opentelemetry",
        "promptflow", "pydantic", "rich", "typer", "yaml",
    }
)

Rule = Callable[[str], str | None]


def matches(pattern: str, rule: str) -> Rule:
    compiled = re.compile(pattern)
    return lambda value: None if compiled.fullmatch(value) else rule


def length(low: int, high: int) -> Rule:
    return lambda value: None if low <= len(value) <= high else f"must be {low} to {high} characters long"


def module_name_free(value: str) -> str | None:
    """A package named like a stdlib or dependency module breaks imports in confusing ways."""
    name = value.replace("-", "_")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return f"'{name}' is a Python keyword"
    if name in sys.stdlib_module_names:
        return f"'{name}' is a Python standard-library module"
    if name in DEPENDENCY_MODULES:
        return f"'{name}' would shadow the dependency of the same name"
    return None


def no_path_tricks(value: str) -> str | None:
    if ".." in value or "/" in value or "\\" in value:
        return "must not contain '..', '/' or '\\'"
    return None


def https_url(value: str) -> str | None:
    parsed = urlparse(value)
    if parsed.scheme != "https" or not parsed.hostname or "." not in parsed.hostname:
        return "must be an https URL such as https://my-resource.openai.azure.com/"
    return None


def not_ending_with_period(value: str) -> str | None:
    return "must not end with a period" if value.endswith(".") else None


RULES: dict[str, list[Rule]] = {
    "project_name": [length(3, 64), matches(r"[^\n\r\"\\]+", "must be one line without quotes or backslashes")],
    "project_slug": [
        length(3, 50),
        no_path_tricks,
        matches(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", "lowercase letters, digits and single hyphens, starting with a letter"),
        module_name_free,
    ],
    "package_name": [
        length(3, 40),
        no_path_tricks,
        matches(r"[a-z][a-z0-9_]*", "lowercase letters, digits and underscores, starting with a letter"),
        module_name_free,
    ],
    "description": [length(1, 200), matches(r"[^\n\r\"\\]+", "must be one line without quotes or backslashes")],
    "use_case_code": [matches(r"[A-Z][A-Z0-9]{1,9}", "2 to 10 upper-case letters or digits, starting with a letter")],
    "owner_team": [length(2, 64), matches(r"[A-Za-z0-9][A-Za-z0-9 ._-]*", "letters, digits, spaces, '.', '_' or '-'")],
    "azure_subscription_id": [
        matches(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", "must be a GUID (8-4-4-4-12 hex digits)")
    ],
    "azure_resource_group": [
        length(1, 90),
        matches(r"[\w\-.()]+", "letters, digits, '_', '-', '.', '(' or ')' (Azure resource-group rule)"),
        not_ending_with_period,
    ],
    "azure_ml_workspace": [
        matches(r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}", "3 to 33 letters, digits, '-' or '_', starting with a letter or digit"),
    ],
    "azure_location": [matches(r"[a-z][a-z0-9]{2,30}", "an Azure region name without spaces, e.g. westeurope")],
    "azure_openai_endpoint": [https_url],
    "azure_openai_chat_deployment": [
        length(2, 64),
        matches(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "letters, digits, '_', '.' or '-'"),
    ],
    "azure_openai_api_version": [matches(r"\d{4}-\d{2}-\d{2}(-preview)?", "a date version such as 2024-10-21")],
}


def problems(answers: dict[str, str]) -> list[str]:
    """Every broken rule, one line each, so a user fixes all answers in one go."""
    found = []
    for field, rules in RULES.items():
        value = answers[field]
        for rule in rules:
            reason = rule(value)
            if reason:
                found.append(f"  {field} = {value!r}: {reason}")
                break
    return found


def main() -> int:
    found = problems(ANSWERS)
    if not found:
        return 0
    print("ERROR: the template answers are invalid; nothing was generated.", file=sys.stderr)
    print("\n".join(found), file=sys.stderr)
    print("Fix: re-run with corrected values, e.g. cookiecutter <template> FIELD=VALUE", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
