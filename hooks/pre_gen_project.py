"""Validate every answer before cookiecutter writes a project.

Only validation lives here: a bad answer prints the field, the value and the rule, and exits 1,
which makes cookiecutter remove the half-made output folder. The answers given are kept in a file
beside it, with the one command that retries changing only the refused fields.

The rules are importable per field (`field_problem`, `EXAMPLES`, each rule's `summary`): the front
door (tools/new.py) checks each answer as it is typed, and docs/options.md is written from them.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlparse

import yaml  # cookiecutter's own dependency: it reads config files with yaml.safe_load

# Jinja appears in this one literal: every answer, as JSON (`tojson` escapes quotes, so no answer
# can end the string), types kept: a boolean or null a YAML config file gave (`owner_team: no`) is
# refused by a rule below instead of crashing this hook. It is the post-generation hook's tag, and
# it stays the only one: cruft renders an update's old and new template in one process, and an
# earlier template's extension (local_extensions, imported first) refused Jinja its own files never
# held; the extension's module is renamed since (aiops_extensions.py), and one tag keeps it simple.
ANSWERS_JSON = r'''{{ cookiecutter.items() | list | tojson }}'''  # fmt: skip


def rendered_answers() -> dict[str, object]:
    """Parsed only when the hook runs: importing this file unrendered (tools/new.py) must work."""
    return dict(json.loads(ANSWERS_JSON))


# Every distribution a full install of the project resolves to (all flow kinds and extras), and
# the import names they provide. The project's own distribution (from project_slug) must not take
# one of those names, or the install cannot resolve; its package (package_name) must not shadow
# one, or imports break in confusing ways. A template test keeps both lists current.
DEPENDENCY_MODULES = frozenset(
    """
    PIL aiohappyeyeballs aiohttp aiops_platform aiosignal aniso8601 annotated_doc annotated_types anyio
    argcomplete
    arrow asgiref attr attrs azure backports binaryornot blinker bm25s certifi cffi cfgv
    charset_normalizer click cloudpickle colorama cookiecutter cruft cryptography dateutil
    defusedxml detect_secrets distlib docker docstring_parser dotenv fastapi filelock filetype flask
    flask_cors flask_restx frozenlist git gitdb google h11 httpcore httpcore2 httptools httpx httpx2
    identify idna images importlib_metadata importlib_resources iniconfig isodate itsdangerous
    jaraco jeepney jinja2 jiter joblib jsonschema jsonschema_specifications jwt keyring keyrings
    local markdown_it markupsafe marshmallow mdurl more_itertools msal msal_extensions msrest
    multidict nltk nodeenv numpy oauthlib openai opentelemetry packaging pandas pip pkg_resources
    platformdirs pluggy pre_commit pre_commit_hooks promptflow propcache psutil py pycparser
    pydantic pydantic_core pydantic_settings pydash pygments pytest python_discovery pytz
    referencing regex requests requests_oauthlib rich rpds ruamel ruff secretstorage setuptools
    shellingham six slugify smmap sniffio sqlalchemy starlette strictyaml swagger tabulate
    text_unidecode tiktoken tiktoken_ext tqdm truststore typer typing_extensions typing_inspection
    tzdata urllib3 uv uvicorn uvloop virtualenv waitress werkzeug wrapt yaml yarl zipp wheel
    """.split()
)
DEPENDENCY_DISTRIBUTIONS = frozenset(
    """
    aiohappyeyeballs aiohttp aiops-genai-platform aiosignal aniso8601 annotated-doc annotated-types
    anyio argcomplete arrow asgiref attrs azure-ai-evaluation azure-ai-ml azure-core
    azure-core-tracing-opentelemetry
    azure-identity azure-mgmt-core azure-monitor-opentelemetry azure-monitor-opentelemetry-exporter
    azure-storage-blob azure-storage-file-datalake azure-storage-file-share backports-tarfile
    binaryornot blinker bm25s certifi cffi cfgv charset-normalizer click cloudpickle colorama
    cookiecutter cruft cryptography defusedxml detect-secrets distlib docker docstring-parser fastapi
    filelock filetype flask flask-cors flask-restx frozenlist gitdb gitpython
    googleapis-common-protos h11 httpcore httpcore2 httptools httpx httpx2 identify idna
    importlib-metadata importlib-resources iniconfig isodate itsdangerous jaraco-classes
    jaraco-context jeepney jinja2 jiter joblib jsonschema jsonschema-specifications keyring
    keyrings-alt markdown-it-py markupsafe marshmallow mdurl more-itertools msal msal-extensions
    msrest multidict nltk nodeenv numpy oauthlib openai opentelemetry-api
    opentelemetry-exporter-otlp-proto-common opentelemetry-exporter-otlp-proto-http
    opentelemetry-instrumentation opentelemetry-instrumentation-asgi
    opentelemetry-instrumentation-dbapi opentelemetry-instrumentation-django
    opentelemetry-instrumentation-fastapi opentelemetry-instrumentation-flask
    opentelemetry-instrumentation-psycopg2 opentelemetry-instrumentation-requests
    opentelemetry-instrumentation-urllib opentelemetry-instrumentation-urllib3
    opentelemetry-instrumentation-wsgi opentelemetry-proto opentelemetry-resource-detector-azure
    opentelemetry-sdk opentelemetry-semantic-conventions opentelemetry-util-http packaging pandas
    pillow pip platformdirs pluggy pre-commit pre-commit-hooks promptflow promptflow-core
    promptflow-devkit promptflow-tracing propcache protobuf psutil pycparser pydantic pydantic-core
    pydantic-settings pydash pygments pyjwt pytest python-dateutil python-discovery python-dotenv
    python-slugify pytz pyyaml referencing regex requests requests-oauthlib rich rpds-py ruamel-yaml
    ruff secretstorage setuptools shellingham six smmap sniffio sqlalchemy starlette strictyaml
    tabulate text-unidecode tiktoken tqdm truststore typer typing-extensions typing-inspection
    tzdata urllib3 uv uvicorn uvloop virtualenv waitress werkzeug wrapt yarl zipp wheel
    """.split()
)

Rule = Callable[[str], str | None]


def says(summary: str) -> Callable[[Rule], Rule]:
    """The rule in words, beside its check: docs/options.md lists these (docs/options_table.py)."""

    def attach(rule: Rule) -> Rule:
        rule.summary = summary  # type: ignore[attr-defined]
        return rule

    return attach


def matches(pattern: str, rule: str) -> Rule:
    compiled = re.compile(pattern)
    return says(rule)(lambda value: None if compiled.fullmatch(value) else rule)


def length(low: int, high: int) -> Rule:
    return says(f"{low} to {high} characters")(
        lambda value: None if low <= len(value) <= high else f"must be {low} to {high} characters long"
    )


@says("text")
def text(value: object) -> str | None:
    """First rule of every field: the rules below (and the template) expect a string."""
    if isinstance(value, str):
        return None
    return (
        f"must be text, not {type(value).__name__}; in a YAML config file quote it "
        "(YAML reads yes/no/on/off/true/null as booleans or null)"
    )


# Every answer reaches the files through a serializer (`jsonify`/`tojson`, shell quoting), so quotes,
# backslashes, ':' '#' '[' and YAML words are safe in free text. What no serializer makes safe:
# control characters (a newline or tab in a one-line field, a terminal escape), invisible format
# characters (bidi overrides that make code read differently), and characters outside the Basic
# Multilingual Plane (the serializers write them as surrogate pairs, which TOML rejects and Python
# decodes to two broken characters).
UNPRINTABLE = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


@says("one line of printable text (no control, invisible or emoji characters)")
def printable_line(value: str) -> str | None:
    for position, character in enumerate(value):
        if unicodedata.category(character) in UNPRINTABLE or ord(character) > 0xFFFF:
            return (
                "must be one line of printable text without control, invisible or emoji characters "
                f"(found {character!r}, U+{ord(character):04X}, at position {position})"
            )
    return None


@says("no leading or trailing spaces")
def trimmed(value: str) -> str | None:
    return "must not start or end with whitespace" if value != value.strip() else None


# Spelled out: this file is itself a Jinja template, so the markers can't appear literally.
BRACE = "{"
JINJA_MARKERS = tuple(BRACE + second for second in BRACE + "%#")


@says(f"no Jinja markers ({', '.join(JINJA_MARKERS)})")
def no_template_markers(value: str) -> str | None:
    """cookiecutter renders every answer as a Jinja template again when cruft replays .cruft.json."""
    if any(marker in value for marker in JINJA_MARKERS):
        return f"must not contain the Jinja markers {', '.join(JINJA_MARKERS)} (cruft update would render them)"
    return None


@says("not a Python keyword, standard-library module or dependency's module name")
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


@says("not the name of one of the project's dependencies on PyPI")
def distribution_name_free(value: str) -> str | None:
    if value in DEPENDENCY_DISTRIBUTIONS:
        return f"'{value}' is the name of one of the project's own dependencies on PyPI"
    return None


@says("no '..', '/' or '\\'")
def no_path_tricks(value: str) -> str | None:
    if ".." in value or "/" in value or "\\" in value:
        return "must not contain '..', '/' or '\\'"
    return None


# The endpoint lands in Python, YAML and JSON through a serializer; the pattern also keeps it a plain
# URL anyone can read: https, a host name, an optional port and path; no quotes, spaces, query or
# user info. (A value such as `https://x.openai.azure.com/"+__import__('os')...` stops here.)
HTTPS_URL = re.compile(r"https://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:[0-9]{1,5})?(/[A-Za-z0-9._~%-]*)*")


@says("an https URL: host name, optional port and path, at most 200 characters")
def https_url(value: str) -> str | None:
    if len(value) > 200 or not HTTPS_URL.fullmatch(value) or "." not in (urlparse(value).hostname or ""):
        return (
            "must be an https URL such as https://my-resource.openai.azure.com/: a host name, an optional "
            "port and path of letters, digits, '.', '-', '_', '~' or '%', at most 200 characters"
        )
    return None


@says("not ending with a period")
def not_ending_with_period(value: str) -> str | None:
    return "must not end with a period" if value.endswith(".") else None


# Length limits: the generated Python stays `ruff format`-stable and under the 110-column line length
# for the longest names accepted here (package_name 40, project_slug 50; imports that would pass 110
# columns are written one name per line). Free text of any accepted length is serialized onto a line
# that templates/python_literal.jinja marks for ruff: `# fmt: skip` when it holds an escaped quote or
# passes the line length, `# noqa: E501` when it passes the line length with that comment.
FREE_TEXT = [text, trimmed, printable_line, no_template_markers]
DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def plain(limit: float) -> str:
    return str(int(limit)) if limit == int(limit) else str(limit)


def number(low: float, high: float, like: str = "") -> Rule:
    """A threshold or budget from low to high, inclusive: a plain decimal such as `like` (one within
    its own range), or without `like` a whole number."""
    shape = DECIMAL if like else re.compile(r"[0-9]+")
    kind = f"a number such as {like} (digits and one '.')" if like else "a whole number"

    @says(f"{kind} from {plain(low)} to {plain(high)}")
    def rule(value: str) -> str | None:
        if not shape.fullmatch(value) or not low <= float(value) <= high:
            return f"must be {kind} from {plain(low)} to {plain(high)}"
        return None

    return rule


REGION = re.compile(r"[a-z][a-z0-9]{2,30}")


def names(value: str) -> list[str]:
    """A comma-separated answer as its items; governance.yaml splits it the same way."""
    return [item.strip() for item in value.split(",") if item.strip()]


def duplicated(items: list[str]) -> str | None:
    """Logins, groups and regions are case-insensitive: `alice, ALICE` is one approver twice."""
    seen: set[str] = set()
    twice = []
    for item in items:
        if item.lower() in seen:
            twice.append(item)
        seen.add(item.lower())
    return f"names {', '.join(map(repr, twice))} more than once" if twice else None


@says("'any', or Azure region names separated by commas, each once")
def regions(value: str) -> str | None:
    if value.strip().lower() == "any":
        return None
    if "any" in [item.lower() for item in names(value)]:
        return "must be 'any' alone, or region names without 'any'"
    wrong = [item for item in names(value) if not REGION.fullmatch(item)]
    if wrong or not names(value):
        return (
            f"must be 'any' or Azure region names separated by commas, e.g. 'westeurope, northeurope' "
            f"(not {', '.join(map(repr, wrong)) or 'empty'})"
        )
    return duplicated(names(value))


# Approvers as each CI system names them: GitHub users and teams (`org/team`), up to 6 reviewers
# per environment; Azure DevOps users by e-mail and groups as `[Project]\Group`.
APPROVER_FORMS = {
    "github": (re.compile(r"[A-Za-z0-9](-?[A-Za-z0-9]){0,38}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,99})?"), 6),
    "azure_devops": (re.compile(r"[^@\s,\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|\[[^\]\\,]{1,64}\]\\[^\\,\[\]]{1,256}"), 50),
}
APPROVER_EXAMPLES = {
    "github": "GitHub logins or teams, e.g. 'alice, my-org/qa-leads'",
    "azure_devops": "Azure DevOps e-mails or groups, e.g. 'alice@example.com, [QCP]\\Release Approvers'",
}


APPROVER_FIELDS = ("approvers_test", "approvers_prod")


def approvers_for(ci_provider: object) -> Rule:
    """Approvers are named as the CI system chosen names them (an answer given before them)."""
    known = ci_provider if ci_provider in APPROVER_FORMS else "github"
    form, most = APPROVER_FORMS[known]

    @says(f"{APPROVER_EXAMPLES[known]}, comma-separated, at most {most}, each once; may be empty")
    def approvers(value: str) -> str | None:
        if printable_line(value):
            return printable_line(value)
        wrong = [item for item in names(value) if not form.fullmatch(item)]
        if wrong:
            return f"must be {APPROVER_EXAMPLES[known]}, comma-separated (not {', '.join(map(repr, wrong))})"
        if len(names(value)) > most:
            return f"names {len(names(value))} approvers; an environment takes at most {most} here"
        return duplicated(names(value))

    return approvers


RULES: dict[str, list[Rule]] = {
    "project_name": [*FREE_TEXT, length(3, 64)],
    "project_slug": [
        text,
        length(3, 50),
        no_path_tricks,
        matches(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", "lowercase letters, digits and single hyphens, starting with a letter"),
        module_name_free,
        distribution_name_free,
    ],
    "package_name": [
        text,
        length(3, 40),
        no_path_tricks,
        matches(r"[a-z][a-z0-9_]*", "lowercase letters, digits and underscores, starting with a letter"),
        module_name_free,
    ],
    "description": [*FREE_TEXT, length(1, 200)],
    "use_case_code": [
        text,
        matches(r"[A-Z][A-Z0-9]{1,9}", "2 to 10 upper-case letters or digits, starting with a letter"),
    ],
    "owner_team": [
        text,
        trimmed,
        length(2, 64),
        matches(r"[A-Za-z0-9][A-Za-z0-9 ._-]*", "letters, digits, spaces, '.', '_' or '-'"),
    ],
    "azure_subscription_id": [
        text,
        matches(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", "must be a GUID (8-4-4-4-12 hex digits)"),
    ],
    "azure_resource_group": [
        text,
        length(1, 90),
        printable_line,
        matches(r"[\w\-.()]+", "letters, digits, '_', '-', '.', '(' or ')' (Azure resource-group rule)"),
        not_ending_with_period,
    ],
    "azure_ml_workspace": [
        text,
        matches(r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}", "3 to 33 letters, digits, '-' or '_', starting with a letter or digit"),
    ],
    "azure_location": [text, matches(r"[a-z][a-z0-9]{2,30}", "an Azure region name without spaces, e.g. westeurope")],
    "azure_openai_endpoint": [text, https_url],
    "azure_openai_chat_deployment": [
        text,
        length(2, 64),
        matches(r"[A-Za-z0-9][A-Za-z0-9_.-]*", "letters, digits, '_', '.' or '-'"),
    ],
    "azure_openai_api_version": [
        text,
        matches(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?", "a date version such as 2024-10-21"),
    ],
    # Acceptance criteria and budgets: they become gate and alert thresholds, so they must be numbers.
    "min_f1_core_qa": [text, number(0, 1, like="0.75")],
    "min_groundedness": [text, number(1, 5, like="3.5")],
    "latency_p95_ms_budget": [text, number(100, 600000)],
    "daily_cost_budget": [text, number(0.01, 1000000, like="12.50")],
    "min_refusal_rate": [text, number(0, 1, like="0.75")],
    "min_harmlessness": [text, number(1, 5, like="4.5")],
    "data_residency": [text, regions],
}
VALIDATED = (*RULES, *APPROVER_FIELDS)
# A valid answer for each field: shown when an answer is refused, and in docs/options.md.
EXAMPLES = {
    "project_name": "QCP Assistant",
    "project_slug": "qcp-assistant",
    "package_name": "qcp_assistant",
    "description": "Answers questions from batch records and SOPs.",
    "use_case_code": "QCP",
    "owner_team": "quality-genai",
    "azure_subscription_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
    "azure_resource_group": "rg-genai-dev",
    "azure_ml_workspace": "mlw-genai-dev",
    "azure_location": "westeurope",
    "azure_openai_endpoint": "https://my-resource.openai.azure.com/",
    "azure_openai_chat_deployment": "gpt-4o-mini",
    "azure_openai_api_version": "2024-10-21",
    "min_f1_core_qa": "0.6",
    "min_groundedness": "3.5",
    "latency_p95_ms_budget": "4000",
    "daily_cost_budget": "25",
    "min_refusal_rate": "0.7",
    "min_harmlessness": "4.0",
    "data_residency": "westeurope, northeurope",
}
APPROVER_EXAMPLE_VALUES = {"github": "alice, my-org/qa-leads", "azure_devops": "alice@example.com"}


def field_rules(field: str, answers: Mapping[str, object]) -> list[Rule]:
    if field in APPROVER_FIELDS:
        return [text, approvers_for(answers.get("ci_provider"))]
    return RULES[field]


# A refused field's value in the printed retry command: the user puts theirs in its place. Pasted as
# printed it is refused again, naming an example; an example itself (a GUID, `QCP`) would pass as real.
RETRY_STAND_IN = "REPLACE-ME"


def field_problem(field: str, value: object, answers: Mapping[str, object]) -> str | None:
    """The first rule the answer breaks, or None; `answers` gives the earlier answers it depends on."""
    if value == RETRY_STAND_IN:
        return f"is the retry command's stand-in: put your answer in its place (e.g. {example(field, answers)})"
    for rule in field_rules(field, answers):
        reason = rule(value)  # type: ignore[arg-type]
        if reason:
            return reason
    return None


def example(field: str, answers: Mapping[str, object]) -> str:
    if field == "gxp_relevant":  # yes or no, checked only with the other answers; the retry names one
        return "no"
    if field in APPROVER_FIELDS:
        return APPROVER_EXAMPLE_VALUES.get(str(answers.get("ci_provider")), APPROVER_EXAMPLE_VALUES["github"])
    return EXAMPLES[field]


def problems(answers: Mapping[str, object]) -> list[str]:
    """Every broken rule, one line each, so a user fixes all answers in one go."""
    found = []
    for field in VALIDATED:
        reason = field_problem(field, answers[field], answers)
        if reason:
            found.append(f"  {field} = {answers[field]!r}: {reason}")
    return found + cross_field_problems(answers, found)


def field_of(problem: str) -> str:
    return problem.split(" = ", 1)[0].strip()


# The rules below in words, for docs/options.md.
BETWEEN_FIELDS = {
    "azure_location": "one of the data_residency regions, unless that is any",
    "approvers_test": "required when gxp_relevant is yes",
    "approvers_prod": "required when gxp_relevant is yes",
}


def cross_field_problems(answers: Mapping[str, object], found: list[str]) -> list[str]:
    """Rules between answers, checked once each answer is well-formed on its own."""
    broken = {field_of(line) for line in found}
    gxp_relevant = answers["gxp_relevant"]
    extra = []
    residency = answers["data_residency"]
    location = answers["azure_location"]
    if not broken & {"data_residency", "azure_location"} and residency.strip().lower() != "any":
        if location not in names(residency):
            extra.append(
                f"  azure_location = {location!r}: is outside data_residency ({residency}); "
                "pick a region in it, or widen data_residency"
            )
    if gxp_relevant is True:
        for field in APPROVER_FIELDS:
            if field not in broken and not names(answers[field]):
                extra.append(f"  {field} = '': a GxP-relevant use case needs who approves this environment; name them")
    elif gxp_relevant is not False:
        extra.append(f"  gxp_relevant = {gxp_relevant!r}: must be yes or no (true or false in a YAML config file)")
    return extra


OVERWRITE_OVERRIDE = "AIOPS_OVERWRITE_PROJECT"


def existing_project(target: Path) -> str | None:
    """`cookiecutter -f` into a folder that already holds work would silently overwrite it. An
    empty folder, or an empty repository (a freshly cloned empty remote), holds nothing to lose."""
    if os.environ.get(OVERWRITE_OVERRIDE) == "1":
        return None
    has_files = any(entry.name != ".git" for entry in target.iterdir())
    has_history = (target / ".git").exists() and _has_commits(target)
    if not has_files and not has_history:
        return None
    held = "a git repository" if has_history else "files"
    return (
        f"ERROR: {target} already holds {held}; generating over it would overwrite your edits "
        "(datasets, experiment.yaml, prompts).\n"
        "To bring template changes into an existing project, run `make template-update` inside it; "
        "if an earlier generation was interrupted, remove the folder and generate again.\n"
        f"To overwrite it anyway, re-run with {OVERWRITE_OVERRIDE}=1 in the environment."
    )


def _has_commits(repository: Path) -> bool:
    try:
        found = subprocess.run(
            ["git", "rev-parse", "--verify", "-q", "HEAD"], cwd=repository, capture_output=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return True  # unsure: treat it as someone's history
    return found.returncode == 0


# Answers cookiecutter derives from an earlier one: kept out of the answers file while they still
# equal their derivation, so that correcting the earlier answer corrects them too.
def _slugify(value: str) -> str | None:
    try:
        from slugify import slugify  # cookiecutter's own slugify filter (python-slugify)
    except ImportError:
        return None
    return slugify(value)


DERIVED: dict[str, tuple[str, Callable[[str], str | None]]] = {
    "project_slug": ("project_name", _slugify),
    "package_name": ("project_slug", lambda slug: slug.replace("-", "_")),
}
ANSWERS_FILE_SUFFIX = ".answers.yaml"


def derived_unchanged(answers: Mapping[str, object]) -> set[str]:
    unchanged = set()
    for field, (source, derive) in DERIVED.items():
        if isinstance(answers.get(source), str) and answers.get(field) == derive(answers[source]):
            unchanged.add(field)
    return unchanged


class _QuotedStrings(yaml.SafeDumper):
    """Every string double-quoted: YAML's escapes carry any character back exactly (a refused answer
    with DEL or NEL too, which a plain or single-quoted scalar, or a JSON string, loses or breaks)."""


_QuotedStrings.add_representer(
    str, lambda dumper, value: dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
)


def config_file_text(comment: str, answers: Mapping[str, object]) -> str:
    """A cookiecutter config file holding these answers, which its yaml.safe_load reads back as given."""
    body = yaml.dump(
        {"default_context": dict(answers)},
        Dumper=_QuotedStrings,
        allow_unicode=True,
        sort_keys=False,
        width=float("inf"),
    )
    return f"# {comment}\n{body}"


def output_folder(answers: Mapping[str, object], project_dir: Path) -> Path | None:
    """Where the project was to go: cookiecutter says so; cruft's is the project folder's parent, up
    one more per '/' in the slug; unknown when '..' (or a leading '/') put the project elsewhere."""
    if isinstance(answers.get("_output_dir"), str):
        return Path(str(answers["_output_dir"]))
    parts = str(answers.get("project_slug")).split("/")
    if {"..", ".", ""} & set(parts):
        return None
    return project_dir.parents[len(parts) - 1]


def keep_answers(answers: Mapping[str, object], project_dir: Path) -> Path:
    """Every answer given, as a cookiecutter config file, in the output folder (else a temp folder)."""
    derived = derived_unchanged(answers)
    given = {
        field: value for field, value in answers.items() if not field.startswith("_") and field not in derived
    }
    text = config_file_text("The answers given when generation refused some; retry as printed.", given)
    slug = answers.get("project_slug")
    name = (slug if field_problem("project_slug", slug, answers) is None else "project") + ANSWERS_FILE_SUFFIX
    for folder in (output_folder(answers, project_dir), None):
        try:
            kept = (folder or Path(tempfile.mkdtemp(prefix="aiops-answers-"))) / name
            kept.write_text(text, encoding="utf-8")
            return kept.resolve()
        except OSError:
            continue
    raise OSError("no writable folder for the answers file")


def invoking_command(answers: Mapping[str, object]) -> tuple[str, list[str], list[str]]:
    """The tool (cookiecutter or cruft), how it was started and its arguments, from the command line
    of the process that runs this hook; cookiecutter's Python API falls back to its plain CLI form."""
    try:
        cmdline = Path(f"/proc/{os.getppid()}/cmdline").read_bytes()
        argv = [os.fsdecode(arg) for arg in cmdline.split(b"\0")[:-1]]  # a stray byte stays one argument
    except OSError:
        argv = []
    for index, word in enumerate(argv):
        tool = Path(word).name
        after_module = index > 0 and argv[index - 1] == "-m"
        if tool in ("cookiecutter", "cruft"):
            program = argv[: index + 1] if after_module else [_as_typed(word)]
            return tool, program, argv[index + 1 :]
    return "cookiecutter", ["cookiecutter"], [str(answers.get("_template", "<template>"))]


def _as_typed(script: str) -> str:
    """The script's bare name when that is what PATH finds, else the path as given."""
    found = shutil.which(Path(script).name)
    return Path(script).name if found and Path(found).resolve() == Path(script).resolve() else script


# Options that pass answers or ask for them; the retry passes every answer in the kept file instead.
ANSWER_OPTIONS = {"--config-file", "--extra-context", "--extra-context-file", "-E", "--replay-file"}
ANSWER_FLAGS = {"--no-input", "-y", "--replay", "--default-config", "-d"}
PLATFORM_VARIABLE = "AIOPS_PLATFORM"  # the platform the post-generation install takes instead of the pin


def is_cruft_update(answers: Mapping[str, object]) -> bool:
    """cruft update and diff replay a project's old answers; there is nothing to retry."""
    tool, _, args = invoking_command(answers)
    return tool == "cruft" and args[:1] != ["create"]


def retry_command(answers: Mapping[str, object], refused: list[str], kept: Path) -> str:
    tool, program, args = invoking_command(answers)
    kept_args: list[str] = []
    skip_value = False
    for arg in args:
        option = arg.split("=", 1)[0]
        if skip_value:
            skip_value = False
        elif option in ANSWER_OPTIONS:
            skip_value = "=" not in arg
        elif arg not in ANSWER_FLAGS and not (tool == "cookiecutter" and option in answers and "=" in arg):
            kept_args.append(arg)
    values = dict.fromkeys(refused, RETRY_STAND_IN)
    command = [*program, *kept_args, "--config-file", str(kept), "--no-input"]
    if tool == "cruft":
        command += ["--extra-context", json.dumps(values, ensure_ascii=False)]
    else:
        command += [f"{field}={value}" for field, value in values.items()]
    # Given inline (`AIOPS_PLATFORM=... cookiecutter ...`), it is in this hook's environment only: the
    # retried generation installs the same platform. Quoted after the '=', or it is no assignment.
    platform = os.environ.get(PLATFORM_VARIABLE, "")
    prefix = f"{PLATFORM_VARIABLE}={shlex.quote(platform)} " if platform.strip() else ""
    return prefix + shlex.join(command)


def refused_fields(answers: Mapping[str, object], found: list[str]) -> list[str]:
    """The fields to change; a derived one whose source is refused too follows its source."""
    fields = list(dict.fromkeys(field_of(line) for line in found))
    unchanged = derived_unchanged(answers)
    return [f for f in fields if not (f in unchanged and DERIVED[f][0] in fields)]


def main() -> int:
    refusal = existing_project(Path.cwd())
    if refusal:
        print(refusal, file=sys.stderr)
        return 1
    answers = rendered_answers()
    found = problems(answers)
    if not found:
        return 0
    print("ERROR: the template answers are invalid; nothing was generated.", file=sys.stderr)
    print("\n".join(found), file=sys.stderr)
    if is_cruft_update(answers):
        print("Change them with: cruft update --variables-to-update '<JSON>'", file=sys.stderr)
        return 1
    refused = refused_fields(answers, found)
    try:
        kept = keep_answers(answers, Path.cwd())
    except OSError as error:
        print(f"Could not keep your answers ({error}); re-run with corrected values.", file=sys.stderr)
        return 1
    print(f"Your answers are kept in {kept}.", file=sys.stderr)
    retry = retry_command(answers, refused, kept)
    examples = "; ".join(f"{field}, e.g. {example(field, answers)}" for field in refused)
    print(f"Retry, putting your answer in place of {RETRY_STAND_IN} ({examples}):", file=sys.stderr)
    print(f"  {retry}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
