"""What the generated README and docs say is what the project does.

Every `make` target, `aiops` command, relative link, dataset size and count, and next step they name
is read back from the baked project itself (its Makefile and `make help`, the platform's command
tree, its files, experiment.yaml and data), so a doc cannot drift from the project unnoticed.
Projects are baked without install or registration: only their files are read.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import LIBRARY, LIBRARY_VENV, OPTIONS, TEMPLATE

README_MAX_LINES = 100
# qa and chat with the defaults (QCP); rag as the CMC preset's use case; agent with its tools' datasets:
# together every dataset shape.
PROJECTS = {
    "qa": {},
    "chat": {"flow_kind": "chat"},
    "rag-CMC": {"flow_kind": "rag", "use_case_code": "CMC", "project_name": "CMC Assistant"},
    "agent": {"flow_kind": "agent"},
}
NUMBERS = {"one": 1, "two": 2, "both": 2, "three": 3, "four": 4, "five": 5, "six": 6}
CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.DOTALL)
MAKE = re.compile(r"(?<![\w./-])make((?: +[a-z][a-z0-9-]*)+)")
AIOPS = re.compile(r"(?<![\w.-])aiops((?: +[a-z][a-z-]*)+)")  # also .venv/bin/aiops
LINK = re.compile(r"\]\(([^)\s]+)\)")


def bake(cookies, **answers: object) -> Path:
    result = cookies.bake(extra_context={"register_on_generate": "none", **answers})
    assert result.exception is None, result.exception
    return Path(result.project_path)


@pytest.fixture(scope="module", params=list(PROJECTS), ids=list(PROJECTS))
def project(request, cookies_session) -> Path:
    return bake(cookies_session, **PROJECTS[request.param])


def docs(project: Path) -> dict[str, str]:
    """README.md and docs/*.md, by path relative to the project."""
    files = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
    return {file.relative_to(project).as_posix(): file.read_text(encoding="utf-8") for file in files}


def code(text: str) -> str:
    """Only what a reader would type: fenced blocks and code spans, not prose ("make sure")."""
    return "\n".join(block or span for block, span in CODE.findall(text))


def make_targets_named(text: str) -> set[str]:
    return {target for words in MAKE.findall(code(text)) for target in words.split()}


def makefile_targets(project: Path) -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (project / "Makefile").read_text(encoding="utf-8"), re.M))


def make_help(project: Path) -> dict[str, str]:
    """`make help`'s lines: target -> its one-line description."""
    listed = subprocess.run(["make", "-s", "help"], cwd=project, capture_output=True, text=True, check=True)
    return dict(line.strip().split(None, 1) for line in listed.stdout.splitlines() if line.strip())


def aiops_commands(project: Path) -> set[tuple[str, ...]]:
    """Every runnable command of the platform's typer app (the `aiops` command), as the project sees it:
    commands, and groups that run without a subcommand (`aiops register`)."""
    walk = """
import json, typer, typer.main
from aiops_platform.cli import app
def runnable(command, prefix):
    if not hasattr(command, "list_commands") or command.invoke_without_command:
        yield prefix
    if hasattr(command, "list_commands"):
        context = typer.Context(command)
        for name in command.list_commands(context):
            yield from runnable(command.get_command(context, name), prefix + [name])
print(json.dumps(list(runnable(typer.main.get_command(app), []))))
"""
    python = LIBRARY_VENV / "bin" / "python"
    listed = subprocess.run([python, "-c", walk], cwd=project, capture_output=True, text=True, check=True)
    return {tuple(path) for path in json.loads(listed.stdout.splitlines()[-1])}


def experiment(project: Path, overlay: str = "") -> dict:
    name = f"experiment.{overlay}.yaml" if overlay else "experiment.yaml"
    return yaml.safe_load((project / name).read_text(encoding="utf-8"))


def lines_in(path: Path) -> int:
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def day_one_commands(text: str) -> list[str]:
    """The make targets of a doc's first bash block, in order."""
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split()[1] for line in block.splitlines() if line.startswith("make ")]


@pytest.mark.parametrize(
    ("flow_kind", "ci_provider", "deployment_target"),
    list(itertools.product(OPTIONS["flow_kind"], OPTIONS["ci_provider"], OPTIONS["deployment_target"])),
    ids="-".join,
)
def test_the_readme_fits_in_a_hundred_lines(cookies, flow_kind, ci_provider, deployment_target):
    """The longest rendering: a custom use case (its note on borrowed samples), personal data."""
    answers = {"use_case_code": "ABC", "data_classification": "personal"}
    readme = bake(
        cookies, flow_kind=flow_kind, ci_provider=ci_provider, deployment_target=deployment_target, **answers
    )
    lines = (readme / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES


def test_the_day_one_commands_are_onboardings_and_doctor(project):
    """The README's first block is docs/onboarding.md's (the commands the tests run), plus make doctor."""
    readme = day_one_commands((project / "README.md").read_text(encoding="utf-8"))
    onboarding = day_one_commands((project / "docs/onboarding.md").read_text(encoding="utf-8"))
    assert [target for target in readme if target in onboarding] == onboarding
    assert "doctor" in readme


def test_every_make_target_named_is_in_the_makefile_and_make_help(project):
    named = {(name, target) for name, text in docs(project).items() for target in make_targets_named(text)}
    assert {"gate", "monitor", "template-update"} <= {target for _, target in named}, "the pattern finds them"
    targets, listed = makefile_targets(project), make_help(project)
    assert {
        (name, target) for name, target in named if target not in targets or target not in listed
    } == set()


def test_the_release_targets_are_documented(project):
    """The release records' make targets are in the README, with their make help line."""
    readme = make_targets_named((project / "README.md").read_text(encoding="utf-8"))
    assert {"release-show", "release-diff", "release-card"} <= readme


def test_every_aiops_command_named_exists(project):
    """`aiops release show`, `.venv/bin/aiops run -i ...`: the longest command a doc's words name runs."""
    commands = aiops_commands(project)
    named = {
        (name, tuple(words.split()))
        for name, text in docs(project).items()
        for words in AIOPS.findall(code(text))
    }
    assert ("README.md", ("run",)) in named, "the pattern finds the README's commands"
    longest = {
        (
            name,
            max(
                (words[:n] for n in range(1, len(words) + 1) if words[:n] in commands), key=len, default=words
            ),
        )
        for name, words in named
    }
    assert {(name, " ".join(words)) for name, words in longest if words not in commands} == set()


def test_no_doc_names_the_obsolete_python_m_prefix(project):
    """The command is `aiops`; `python -m <package>` was the layout before the platform library."""
    package = yaml.safe_load((project / "aiops.yaml").read_text(encoding="utf-8"))["package"]
    stale = {
        name
        for name, text in docs(project).items()
        if "python -m <package>" in text or f"python -m {package}" in text
    }
    assert stale == set()


def test_every_relative_link_and_named_doc_resolves(project):
    broken = set()
    for name, text in docs(project).items():
        folder = (project / name).parent
        for target in LINK.findall(text):
            if not re.match(r"[a-z]+:|#", target) and not (folder / target.split("#")[0]).is_file():
                broken.add((name, target))
        for doc in re.findall(r"`(docs/[\w-]+\.md)`", text):
            if not (project / doc).is_file():
                broken.add((name, doc))
    assert broken == set()


def test_the_dataset_sizes_quoted_are_the_data_files(project):
    """`core_qa` (24 lines): the file of that dataset in experiment.yaml has 24 lines."""
    paths = {dataset["name"]: project / dataset["path"] for dataset in experiment(project)["datasets"]}
    quoted = [
        (name, dataset, int(count))
        for name, text in docs(project).items()
        for dataset, count in re.findall(r"`(\w+)` \((\d+) lines", text)
    ]
    assert {dataset for name, dataset, _ in quoted if name == "README.md"} == set(paths), (
        "the README sizes every dataset the gate runs"
    )
    wrong = [(name, dataset, count) for name, dataset, count in quoted if count != lines_in(paths[dataset])]
    assert wrong == []


def test_the_numbers_of_datasets_and_variants_are_experiment_yamls(project):
    spec = experiment(project)
    actual = {"datasets": len(spec["datasets"]), "variants": len(spec["flows"][0]["variants"])}
    claims = [
        (name, number, noun)
        for name, text in docs(project).items()
        for number, noun in re.findall(rf"\b({'|'.join(NUMBERS)}) (datasets|variants)\b", text)
    ]
    assert any(name == "README.md" for name, _, _ in claims)
    assert [claim for claim in claims if NUMBERS[claim[1]] != actual[claim[2]]] == []


def test_the_pr_overlays_line_limits_are_experiment_pr_yamls(project):
    limits = {item["name"]: item.get("limit") for item in experiment(project, "pr").get("datasets", [])}
    limited = {name: limit for name, limit in limits.items() if limit is not None}
    text = (project / "docs/experiments.md").read_text(encoding="utf-8")
    if "The shipped `pr` overlay runs every line of every dataset" in text:  # an agent's small datasets
        assert limited == {}
        return
    count, named = re.search(
        r"The shipped `pr` overlay runs (\d+) lines of ((?:`\w+`(?: and |, )?)+)", text
    ).groups()
    assert {name: int(count) for name in re.findall(r"`(\w+)`", named)} == limited


def test_make_help_lines_up_every_description(project):
    """Long target names (experiment-validate) do not push their descriptions out of line."""
    listed = subprocess.run(["make", "-s", "help"], cwd=project, capture_output=True, text=True, check=True)
    lines = [line for line in listed.stdout.splitlines() if line.strip()]
    starts = {len(line) - len(line.split(None, 1)[1]) for line in lines}
    assert len(lines) > 20 and len(starts) == 1, listed.stdout


def test_the_serve_help_and_readme_name_every_route_of_the_server(project):
    server = (LIBRARY / "src/aiops_platform/server.py").read_text(encoding="utf-8")
    routes = [
        f"{method} {path}"
        for path, method in re.findall(r'Route\("([^"]+)", \w+, methods=\["(\w+)"\]', server)
    ]
    assert len(routes) >= 3
    readme_row = next(
        line for line in (project / "README.md").read_text().splitlines() if "`make serve`" in line
    )
    assert [route for route in routes if route not in make_help(project)["serve"]] == []
    assert [route for route in routes if f"`{route}`" not in readme_row] == []


def test_the_template_readme_and_start_doc_give_the_same_next_step(cookies_session):
    """Both say what to run first in a new project; it is one of the generated README's day-one commands,
    and the project's docs that docs/start.md sends a reader to exist."""
    texts = {doc: (TEMPLATE / doc).read_text(encoding="utf-8") for doc in ("README.md", "docs/start.md")}
    steps = {doc: re.findall(r"Then, in the project: `([^`]+)`", text) for doc, text in texts.items()}
    assert steps["README.md"] == steps["docs/start.md"] and len(steps["README.md"]) == 1
    step = steps["README.md"][0].split()
    project = bake(cookies_session)
    assert step[0] == "make" and step[1] in day_one_commands(
        (project / "README.md").read_text(encoding="utf-8")
    )
    sent_to = re.findall(r"the project's `(docs/[\w-]+\.md)`", texts["docs/start.md"])
    assert sent_to and [doc for doc in sent_to if not (project / doc).is_file()] == []


def test_the_template_readme_counts_the_demos_datasets(cookies_session):
    """`make demo` generates with the defaults: the datasets and variants the README counts are its."""
    text = (TEMPLATE / "README.md").read_text(encoding="utf-8")
    demo = experiment(bake(cookies_session))
    actual = {"datasets": len(demo["datasets"]), "variants": len(demo["flows"][0]["variants"])}
    claims = re.findall(rf"\b({'|'.join(NUMBERS)}) (datasets|variants)\b", text)
    assert claims, "the template README says what the demo runs"
    assert [(number, noun) for number, noun in claims if NUMBERS[number] != actual[noun]] == []
    quick_start = text.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    assert quick_start == "make demo\nmake test\n"
