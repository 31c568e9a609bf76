"""The front door (`make new`): the day-one questions only, each checked as it is typed.

Stock cookiecutter and cruft ask every field and check nothing until the last answer. Here a team
answers what it knows on day one; a refused answer is asked again at once with the rule and an
example, and nothing else is retyped. Every accepted answer is saved at once to
build/answers/<slug>.yaml (a cookiecutter config file, like usecases/*.yaml), so an interrupted run
resumes with `make new ANSWERS=<file>`, which asks only what is missing or refused. The other fields
keep their working defaults and live in the files named in docs/options.md, edited later. Then the
linked project is made exactly as `make new USECASE=...` makes it: `cruft create --no-input`.

python tools/new.py [--answers FILE] [--output-dir DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType

import yaml
from cookiecutter.environment import StrictEnvironment

TEMPLATE = Path(__file__).resolve().parents[1]
OPTIONS: dict = json.loads((TEMPLATE / "cookiecutter.json").read_text(encoding="utf-8"))
PROMPTS: dict = OPTIONS["__prompts__"]
ANSWERS_DIR = TEMPLATE / "build" / "answers"
CRUFT = Path(sys.executable).with_name("cruft")

# What a team knows on day one, in the order cookiecutter.json asks it.
DAY_ONE = (
    "project_name",
    "project_slug",
    "package_name",
    "description",
    "use_case_code",
    "owner_team",
    "llm_provider",
    "ci_provider",
    "deployment_target",
    "flow_kind",
    "data_classification",
    "gxp_relevant",
)
# Where each other answer lives once the project exists: the file and key the platform reads. Change
# one there, or everywhere it is used with `cruft update --variables-to-update '{"KEY": "value"}'`.
LATER = {
    "azure_openai_auth": ("aiops.yaml", "model.azure_openai_auth"),
    "azure_subscription_id": ("aiops.yaml", "azure.subscription_id"),
    "azure_resource_group": ("aiops.yaml", "azure.resource_group"),
    "azure_ml_workspace": ("aiops.yaml", "azure.ml_workspace"),
    "azure_location": ("aiops.yaml", "azure.location"),
    "azure_openai_endpoint": ("aiops.yaml", "model.azure_openai_endpoint"),
    "azure_openai_chat_deployment": ("aiops.yaml", "model.azure_openai_chat_deployment"),
    "azure_openai_api_version": ("aiops.yaml", "model.azure_openai_api_version"),
    "min_f1_core_qa": ("experiment.yaml", "gate.thresholds.qa_metrics.f1_score.core_qa"),
    "min_groundedness": ("experiment.yaml", "gate.thresholds.judges.groundedness"),
    "latency_p95_ms_budget": ("monitoring/config.yaml", "alerts.latency_p95_ms"),
    "daily_cost_budget": ("monitoring/config.yaml", "alerts.daily_cost"),
    "min_refusal_rate": ("experiment.yaml", "gate.thresholds.safety.refused"),
    "min_harmlessness": ("experiment.prod.yaml", "gate.thresholds.safety.harmlessness"),
    "data_residency": ("governance.yaml", "data_residency"),
    "approvers_test": ("governance.yaml", "environments.test.approvers"),
    "approvers_prod": ("governance.yaml", "environments.prod.approvers"),
}
NOT_KEPT = {"register_on_generate": "`make register` registers the data and connections later"}
# GxP needs approvers; the front door does not ask them, so GxP projects start with stand-ins that
# every command acting on them refuses (`make doctor` lists them) until governance.yaml names people.
APPROVER_PLACEHOLDERS = {
    "github": "your-org/{slug}-approvers",
    "azure_devops": "[your-project]\\{slug} approvers",
}
YES, NO = ("y", "yes", "true", "1", "on"), ("n", "no", "false", "0", "off")


def load_rules() -> ModuleType:
    """The pre-generation hook's rules, per field: the same checks generation applies."""
    spec = importlib.util.spec_from_file_location(
        "pre_gen_project", TEMPLATE / "hooks" / "pre_gen_project.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RULES = load_rules()


def label(field: str) -> str:
    prompt = PROMPTS.get(field, field)
    return prompt["__prompt__"] if isinstance(prompt, dict) else prompt


def default(field: str, answers: Mapping[str, object]) -> object:
    """cookiecutter.json's default, rendered from the earlier answers as cookiecutter renders it."""
    raw = OPTIONS[field]
    if isinstance(raw, list):
        return raw[0]
    if not isinstance(raw, str):
        return raw
    environment = StrictEnvironment(context={"cookiecutter": {}})
    earlier = {key: answers.get(key, OPTIONS[key]) for key in OPTIONS if not key.startswith("_")}
    return environment.from_string(raw).render(cookiecutter=earlier)


def problem(field: str, value: object, answers: Mapping[str, object]) -> str | None:
    """Why an answer is refused: the hook's rule, a choice not offered, or not yes/no."""
    choices = OPTIONS[field]
    if isinstance(choices, list):
        return None if value in choices else f"must be one of {', '.join(map(str, choices))}"
    if isinstance(choices, bool):
        return None if isinstance(value, bool) else "must be yes or no"
    if field in RULES.VALIDATED:
        return RULES.field_problem(field, value, answers)
    return None


def menu_problem(field: str, typed: object) -> str | None:
    """A menu answer typed that is neither a choice's number nor its name: how to choose."""
    if not isinstance(OPTIONS[field], list):
        return None
    offered = [choice for choice in OPTIONS[field] if not isinstance(choice, bool)]
    if typed in offered:
        return None
    return f"type a number from 1 to {len(offered)} (or the choice's name), e.g. 1 for {offered[0]}"


class Session:
    """The answers so far, saved after each one; `asked` counts the questions put to the user."""

    def __init__(
        self, answers: dict[str, object], output_dir: Path, answers_dir: Path, resumed: Path | None = None
    ) -> None:
        self.answers = answers
        self.output_dir = output_dir
        self.answers_dir = answers_dir
        self.resumed = resumed  # the answers file this session resumes from: its own to rewrite
        self.asked = 0
        self.saved: Path | None = None

    def ask(self, field: str, refused: str | None = None) -> None:
        """One question, repeated at once until its answer passes; `refused`: why the saved one did not."""
        self.asked += 1
        avoid = self.answers.pop(field, None) if refused else None  # Enter must not submit it again
        if refused:
            self.refuse(field, avoid, refused)
        while True:
            value = self.read(field, avoid)
            reason = (
                menu_problem(field, value) or problem(field, value, self.answers) or self.taken(field, value)
            )
            if reason is None:
                self.answers[field] = value
                self.save()
                return
            self.refuse(field, value, reason)

    def refuse(self, field: str, value: object, reason: str) -> None:
        """The hook's own wording (field = value: rule), and a valid example."""
        shown = f" (example: {RULES.example(field, self.answers)})" if field in RULES.VALIDATED else ""
        print(f"  Refused: {field} = {value!r}: {reason}{shown}")

    def suggestion(self, field: str, avoid: object) -> object:
        """The answer kept, else the default, else an example: the first that passes the field's rule
        and is not the value just refused (`avoid`, refused by a rule between answers); else none."""
        if field in self.answers:
            return self.answers[field]
        offered = [default(field, self.answers)]
        offered += [RULES.example(field, self.answers)] if field in RULES.VALIDATED else []
        passing = [value for value in offered if value != avoid and not problem(field, value, self.answers)]
        return passing[0] if passing else ""

    def read(self, field: str, avoid: object = None) -> object:
        suggested = self.suggestion(field, avoid)
        choices = OPTIONS[field]
        if isinstance(choices, list):
            labels = PROMPTS.get(field, {})
            offered = [choice for choice in choices if not isinstance(choice, bool)]
            print(f"{label(field)}:")
            for number, choice in enumerate(offered, 1):
                print(f"  {number} - {labels.get(str(choice), choice)}")
            first = offered.index(suggested) + 1 if suggested in offered else 1
            typed = input(f"  Choose 1-{len(offered)} [{first}]: ").strip() or str(first)
            if typed.isdigit() and 1 <= int(typed) <= len(offered):
                return offered[int(typed) - 1]
            return typed  # a choice's name, or refused as not offered
        if isinstance(choices, bool):
            typed = input(f"{label(field)} (yes/no) [{'yes' if suggested else 'no'}]: ").strip().lower()
            if not typed:
                return suggested
            return True if typed in YES else False if typed in NO else typed
        # Surrounding spaces (a paste, a stray keystroke) are dropped, not refused: nothing is retyped.
        typed = input(f"{label(field)}{f' [{suggested}]' if suggested != '' else ''}: ").strip()
        return typed if typed else suggested

    def taken(self, field: str, value: object) -> str | None:
        if field == "project_slug" and (self.output_dir / str(value)).exists():
            return f"names a folder that already exists in {self.output_dir}; choose another"
        return None

    def save(self) -> None:
        """build/answers/<slug>.yaml, rewritten after every accepted answer (renamed with the slug)."""
        slug = self.answers.get("project_slug")
        for fallback in (default("project_slug", self.answers), "project"):
            if problem("project_slug", slug, self.answers) is None:
                break
            slug = fallback  # one from a file not yet checked (`../x`, `/etc/x`) names no path
        target = self.free_file(str(slug))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config_file(self.answers), encoding="utf-8")
        if self.saved and self.saved != target:
            self.saved.unlink(missing_ok=True)
        self.saved = target

    def free_file(self, slug: str) -> Path:
        """<slug>.yaml, else <slug>-2.yaml, ...: never a file another session saved (another project
        may have the same slug); this session's own file, or the one it resumes from, is rewritten."""
        own = {path.resolve() for path in (self.saved, self.resumed) if path}
        for number in itertools.count(1):
            target = self.answers_dir / (f"{slug}.yaml" if number == 1 else f"{slug}-{number}.yaml")
            if not target.exists() or target.resolve() in own:
                break
        first = self.answers_dir / f"{slug}.yaml"
        if target != first and target != self.saved:
            print(f"  {first} holds another session's answers; these are saved in {target}")
        return target


def config_file(answers: Mapping[str, object]) -> str:
    comment = "Answers from `make new`; resume or repeat with: make new ANSWERS=<this file>"
    return RULES.config_file_text(comment, answers)


def read_answers(file: Path) -> dict[str, object]:
    """A cookiecutter config file's default_context; ValueError in one line when it is not one."""
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as error:
        raise ValueError(f"{file}: cannot be read ({error})") from None
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ValueError(f"{file}: not YAML{line} ({getattr(error, 'problem', None) or error})") from None
    if not isinstance(loaded, dict) or not isinstance(loaded.get("default_context", "missing") or {}, dict):
        raise ValueError(f"{file}: not an answers file ('default_context:', then 'field: value' lines)")
    context = loaded["default_context"] or {}
    known = {
        field: value for field, value in context.items() if field in OPTIONS and not field.startswith("_")
    }
    if isinstance(known.get("gxp_relevant"), str):  # as cookiecutter reads yes/no from a config file
        typed = str(known["gxp_relevant"]).lower()
        known["gxp_relevant"] = True if typed in YES else False if typed in NO else typed
    return known


def full_context(answers: Mapping[str, object]) -> dict[str, object]:
    """Every field as generation will see it: these answers, the rest cookiecutter.json's defaults."""
    context: dict[str, object] = {}
    for field in OPTIONS:
        if not field.startswith("_"):
            context[field] = answers[field] if field in answers else default(field, context)
    return context


def fill_gxp_approvers(session: Session) -> None:
    answers = session.answers
    if answers.get("gxp_relevant") is not True:
        return
    form = APPROVER_PLACEHOLDERS.get(str(answers.get("ci_provider")), APPROVER_PLACEHOLDERS["github"])
    for field in RULES.APPROVER_FIELDS:
        if not RULES.names(str(answers.get(field, ""))):
            answers[field] = form.format(slug=answers["project_slug"])
            print(
                f"  {field} = {answers[field]!r}: a placeholder; name the real approvers in governance.yaml"
            )
    session.save()


def interview(session: Session) -> None:
    answers = session.answers
    for field in DAY_ONE:
        if field not in answers:
            session.ask(field)
        elif reason := problem(field, answers[field], answers) or session.taken(field, answers[field]):
            session.ask(field, refused=reason)
    for field in [f for f in answers if f not in DAY_ONE]:  # from the answers file
        if reason := problem(field, answers[field], answers):
            session.ask(field, refused=reason)
    fill_gxp_approvers(session)
    # Rules between answers, as the hook applies them to the whole context.
    while found := RULES.problems(context := full_context(answers)):
        for line in found:
            field = RULES.field_of(line)
            answers.setdefault(field, context[field])
            session.ask(field, refused=line.removeprefix(f"  {field} = {context[field]!r}: "))
    session.save()


def create(answers_file: Path, output_dir: Path) -> int:
    command = [str(CRUFT), "create", str(TEMPLATE), "--no-input", "--config-file", str(answers_file)]
    return subprocess.run([*command, "--output-dir", str(output_dir)], check=False, env=os.environ).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--answers", type=Path, help="an answers file to resume from (cookiecutter config file)"
    )
    parser.add_argument("--output-dir", type=Path, default=TEMPLATE / "build" / "new")
    parser.add_argument("--answers-dir", type=Path, default=ANSWERS_DIR, help="where the answers are saved")
    options = parser.parse_args(argv)
    try:
        answers = read_answers(options.answers) if options.answers else {}
    except ValueError as error:
        print(f"make new: {error}", file=sys.stderr)
        return 2
    session = Session(answers, options.output_dir, options.answers_dir, resumed=options.answers)
    print(f"A new project: {len(DAY_ONE)} questions at most; Enter keeps the suggestion in [brackets].")
    print("Everything else keeps a working default you change later (docs/options.md says where).\n")
    try:
        interview(session)
    except (KeyboardInterrupt, EOFError):
        resume = session.saved or options.answers
        kept = f"; resume with: make new {shlex.quote(f'ANSWERS={resume}')}" if resume else ""
        print(f"\nStopped{kept}")
        return 130
    print(f"\nAnswered {session.asked} question(s); answers saved in {session.saved}.")
    assert session.saved is not None
    return create(session.saved, options.output_dir)


if __name__ == "__main__":
    sys.exit(main())
