"""Generation as a user types it, in a pseudo-terminal: nothing is typed twice.

`make new` (tools/new.py) asks at most 12 day-one questions and re-asks a refused answer at once;
raw `cookiecutter` and `cruft create` keep every answer when the hook refuses one and print one
retry command that changes only the refused field. Each other option lives in a file the platform
reads, named in docs/options.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest
import yaml
from conftest import OPTIONS, TEMPLATE, TEMPLATE_COPY_IGNORE, load_hook
from cookiecutter.config import get_config

BIN = Path(sys.executable).parent
rules = load_hook("pre_gen_project")
PROMPTS = OPTIONS["__prompts__"]
IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid"}
IDENTITY |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}


def load_front_door():
    spec = importlib.util.spec_from_file_location("new_project", TEMPLATE / "tools" / "new.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


new = load_front_door()


def label(field: str) -> str:
    """The question's words, wherever the terminal wraps them."""
    prompt = PROMPTS[field]
    words = (prompt["__prompt__"] if isinstance(prompt, dict) else prompt).split()
    return r"\s+".join(map(re.escape, words))


def spawn(command: list[str], cwd: Path) -> pexpect.spawn:
    """A terminal wide enough that no prompt wraps, without colour codes between the words."""
    env = {**os.environ, **IDENTITY, "NO_COLOR": "1"}
    return pexpect.spawn(
        command[0], command[1:], cwd=str(cwd), env=env, encoding="utf-8", timeout=60, dimensions=(50, 400)
    )


def follow(data: object, key: str) -> object:
    """`gate.thresholds.qa_metrics.f1_score.core_qa`: the longest key that exists at each level."""
    parts = key.split(".")
    while parts:
        name = next(".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in data)
        data, parts = data[name], parts[len(name.split(".")) :]
    return data


def test_make_new_asks_at_most_12_questions_and_the_rest_has_a_file():
    options = {key for key in OPTIONS if not key.startswith("_")}
    assert len(new.DAY_ONE) <= 12
    assert set(new.DAY_ONE) | set(new.LATER) | set(new.NOT_KEPT) == options
    assert not set(new.DAY_ONE) & set(new.LATER)


def test_every_example_passes_its_own_rule():
    for field in rules.VALIDATED:
        for ci in rules.APPROVER_FORMS:
            answers = {"ci_provider": ci}
            assert rules.field_problem(field, rules.example(field, answers), answers) is None, field


def test_each_option_not_asked_lives_in_the_file_and_key_docs_options_names(tmp_path: Path):
    """Distinct answers for every later option; each is found at the file and key named for it."""
    answers = {
        "register_on_generate": "none",
        "azure_openai_auth": "api_key",
        "azure_subscription_id": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9",
        "azure_resource_group": "rg-later",
        "azure_ml_workspace": "mlw-later",
        "azure_location": "northeurope",
        "azure_openai_endpoint": "https://later.openai.azure.com/",
        "azure_openai_chat_deployment": "gpt-later",
        "azure_openai_api_version": "2025-01-01",
        "min_f1_core_qa": "0.55",
        "min_groundedness": "3.25",
        "latency_p95_ms_budget": "4321",
        "daily_cost_budget": "12.5",
        "min_refusal_rate": "0.65",
        "min_harmlessness": "4.5",
        "data_residency": "northeurope, swedencentral",
        "approvers_test": "alice",
        "approvers_prod": "bob, my-org/qa-leads",
    }
    from cookiecutter.main import cookiecutter

    project = Path(
        cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(tmp_path))
    )
    for field, (file, key) in new.LATER.items():
        held = follow(yaml.safe_load((project / file).read_text(encoding="utf-8")), key)
        expected = answers[field]
        if field in ("data_residency", *rules.APPROVER_FIELDS):
            assert held == rules.names(expected), field
        elif isinstance(held, int | float):
            assert held == float(expected), field
        else:
            assert held == expected, field


def test_options_md_names_each_fields_rule_example_and_where_it_lives():
    text = (TEMPLATE / "docs" / "options.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `use_case_code` |"))
    assert "2 to 10 upper-case letters or digits" in row and "`QCP`" in row and "asked by `make new`" in row
    row = next(line for line in text.splitlines() if line.startswith("| `azure_subscription_id` |"))
    assert "GUID" in row and "`aiops.yaml` `azure.subscription_id`" in row


# Typed, pasted or passed on a command line: each must come back from the answers file as given.
HOSTILE_ANSWERS = {
    "project_name": "Qualité \"QA\" 'x' #1: yes",
    "description": "a\u2028b\u0085c\x7fd\te\nf",  # line and paragraph separators, NEL, DEL, tab
    "owner_team": "\udc85 from a command line's stray byte",
    "use_case_code": "0x10",
    "azure_location": "~",
    "azure_resource_group": "null",
    "min_f1_core_qa": "1e3",
    "data_residency": " leading space",
    "approvers_test": "-" + "x" * 5000,
    "gxp_relevant": True,
    "approvers_prod": "",
}


def test_an_answers_file_reads_back_exactly_as_cookiecutter_loads_its_config_file(tmp_path: Path):
    """The hook's kept answers and make new's saved ones are written by a YAML serializer."""
    kept = rules.keep_answers(HOSTILE_ANSWERS, tmp_path / "out" / "project")
    saved = tmp_path / "saved.yaml"
    saved.write_text(new.config_file(HOSTILE_ANSWERS), encoding="utf-8")
    for written in (kept, saved):
        assert get_config(str(written))["default_context"] == HOSTILE_ANSWERS, written.read_text()


def answer(child: pexpect.spawn, field: str, typed: str) -> None:
    child.expect(label(field))
    child.expect(r"\]: ")
    child.sendline(typed)


def test_make_new_re_asks_only_a_refused_answer_and_creates_the_project(tmp_path: Path):
    """Two typos (use-case code, folder name): each asked again at once, no other answer retyped."""
    resume = tmp_path / "start.yaml"
    resume.write_text('default_context:\n  register_on_generate: "none"\n', encoding="utf-8")
    output, saved = tmp_path / "out", tmp_path / "answers"
    command = [sys.executable, str(TEMPLATE / "tools/new.py"), "--answers", str(resume)]
    child = spawn([*command, "--output-dir", str(output), "--answers-dir", str(saved)], TEMPLATE)
    typed = [
        ("project_name", "CMC Assistant"),
        ("project_slug", "CMC Assistant"),  # typo: refused, asked again at once
        ("project_slug", "cmc-helper"),
        ("package_name", ""),  # Enter: derived from the slug, as cookiecutter derives it
        ("description", "Answers questions on CMC dossiers."),
        ("use_case_code", "cmc"),  # typo: refused, asked again at once
        ("use_case_code", "CMC"),
        ("owner_team", "cmc-genai"),
        ("llm_provider", ""),
        ("ci_provider", "2"),
        ("deployment_target", ""),
        ("flow_kind", "3"),
        ("data_classification", "3"),
        ("gxp_relevant", "no"),
    ]
    refusals = []
    for field, text in typed:
        answer(child, field, text)
        if (field, text) in {("project_slug", "CMC Assistant"), ("use_case_code", "cmc")}:
            child.expect(r"Refused: (\w+) = .*\(example: ")
            refusals.append(child.match.group(1))
    child.expect(r"Answered (\d+) question\(s\)")
    assert int(child.match.group(1)) == 12
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    assert child.exitstatus == 0, child.before
    assert refusals == ["project_slug", "use_case_code"]
    asked = [field for field, _ in typed]
    assert len(asked) - len(set(asked)) == 2  # the two typos, and nothing else, typed again
    project = output / "cmc-helper"
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))["context"]["cookiecutter"]
    assert {key: state[key] for key in ("project_slug", "package_name", "use_case_code", "owner_team")} == {
        "project_slug": "cmc-helper",
        "package_name": "cmc_helper",
        "use_case_code": "CMC",
        "owner_team": "cmc-genai",
    }
    assert (state["ci_provider"], state["flow_kind"], state["data_classification"]) == (
        "azure_devops",
        "rag",
        "confidential",
    )
    kept = yaml.safe_load((saved / "cmc-helper.yaml").read_text(encoding="utf-8"))["default_context"]
    assert kept["use_case_code"] == "CMC" and kept["register_on_generate"] == "none"


def test_an_answers_file_resumes_asking_only_what_is_missing_or_refused(tmp_path: Path):
    start = {field: rules.EXAMPLES.get(field) for field in new.DAY_ONE if field in rules.EXAMPLES}
    start |= {"use_case_code": "qcp", "register_on_generate": "none", "flow_kind": "qa"}
    start |= {"llm_provider": "openai", "ci_provider": "github", "deployment_target": "azure_webapp"}
    start.pop("owner_team")
    resume = tmp_path / "resume.yaml"
    resume.write_text(yaml.safe_dump({"default_context": start}), encoding="utf-8")
    command = [sys.executable, str(TEMPLATE / "tools/new.py"), "--answers", str(resume)]
    child = spawn([*command, "--output-dir", str(tmp_path / "out"), "--answers-dir", str(tmp_path)], TEMPLATE)
    child.expect("Refused: use_case_code = 'qcp'")
    answer(child, "use_case_code", "QCP")
    answer(child, "owner_team", "quality-genai")
    answer(child, "data_classification", "")
    answer(child, "gxp_relevant", "")
    child.expect(r"Answered (\d+) question\(s\)")
    assert int(child.match.group(1)) == 4
    child.expect(pexpect.EOF, timeout=120)
    child.close()
    assert child.exitstatus == 0, child.before
    assert (tmp_path / "out" / "qcp-assistant" / ".cruft.json").is_file()


def only_retry_command(output: str, program: str) -> list[str]:
    """The one retry line (AIOPS_PLATFORM=... first, when the environment gave it), as words."""
    commands = [
        line.strip() for line in output.splitlines() if f"{program} " in line and "--config-file" in line
    ]
    assert len(commands) == 1, output
    words = shlex.split(commands[0])
    return words[1:] if words[0].startswith("AIOPS_PLATFORM=") else words


def replaced(retry: list[str], value: str) -> list[str]:
    """What the user does with the printed retry: puts an answer in place of the stand-in."""
    return [word.replace(rules.RETRY_STAND_IN, value) for word in retry]


def test_raw_cookiecutter_keeps_every_answer_and_prints_one_retry_that_changes_only_the_refused(
    tmp_path: Path,
):
    """Every question of stock cookiecutter answered; one kept-back bad answer."""
    typed = {"owner_team": "cmc-genai", "use_case_code": "cmc", "register_on_generate": "3", "flow_kind": "3"}
    child = spawn([str(BIN / "cookiecutter"), str(TEMPLATE), "--output-dir", "out"], tmp_path)
    questions = 0
    for field in (key for key in OPTIONS if not key.startswith("_")):
        child.expect(label(field))
        child.expect(r"\)(\x1b\[0m)?: ")
        child.sendline(typed.get(field, ""))
        questions += 1
    child.expect(pexpect.EOF)
    child.close()
    output = child.before
    assert child.exitstatus != 0 and questions == 30
    (kept,) = (tmp_path / "out").iterdir()  # nothing else written
    assert kept.name == "qcp-assistant.answers.yaml"
    answers = yaml.safe_load(kept.read_text(encoding="utf-8"))["default_context"]
    assert answers["use_case_code"] == "cmc" and answers["owner_team"] == "cmc-genai"
    assert (answers["register_on_generate"], answers["flow_kind"]) == ("none", "rag")
    derived = {"project_slug", "package_name"}  # left to derive again from the name
    assert set(answers) == {key for key in OPTIONS if not key.startswith("_")} - derived
    retry = only_retry_command(output, str(BIN / "cookiecutter"))
    assert retry[-4:] == ["--config-file", str(kept), "--no-input", "use_case_code=REPLACE-ME"]
    retried = replaced(retry, "QCP")
    done = subprocess.run(
        retried, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **IDENTITY}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    governance = yaml.safe_load((tmp_path / "out/qcp-assistant/governance.yaml").read_text(encoding="utf-8"))
    assert (governance["use_case"], governance["owner"]) == ("QCP", "cmc-genai")
    assert (tmp_path / "out/qcp-assistant/flows/rag").is_dir()


def test_cruft_create_keeps_every_answer_and_prints_one_retry_with_extra_context(tmp_path: Path):
    template = tmp_path / "template"
    shutil.copytree(TEMPLATE, template, ignore=TEMPLATE_COPY_IGNORE)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "template"]):
        subprocess.run(["git", *args], cwd=template, env={**os.environ, **IDENTITY}, check=True)
    context = {"register_on_generate": "none", "owner_team": "cmc-genai", "azure_location": "West Europe"}
    create = [str(BIN / "cruft"), "create", str(template), "--no-input", "--output-dir", "out"]
    refused = subprocess.run(
        [*create, "--extra-context", json.dumps(context)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **IDENTITY},
    )
    assert refused.returncode != 0
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["qcp-assistant.answers.yaml"]
    retry = only_retry_command(refused.stderr, str(BIN / "cruft"))
    assert retry[-2:] == ["--extra-context", '{"azure_location": "REPLACE-ME"}']
    assert retry.count("--extra-context") == 1 and "--no-input" in retry
    retried = replaced(retry, "westeurope")
    done = subprocess.run(
        retried, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, **IDENTITY}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    state = json.loads((tmp_path / "out/qcp-assistant/.cruft.json").read_text(encoding="utf-8"))
    answers = state["context"]["cookiecutter"]
    assert (answers["azure_location"], answers["owner_team"], answers["register_on_generate"]) == (
        "westeurope",
        "cmc-genai",
        "none",
    )


def test_a_stray_byte_on_the_command_line_keeps_the_retry_s_program_and_output_folder(tmp_path: Path):
    """A non-UTF-8 answer used to hide the whole command line: the retry lost --output-dir."""
    program = str(BIN / "cookiecutter")
    command = [program, str(TEMPLATE), "--no-input", "--output-dir", "out", "register_on_generate=none"]
    refused = subprocess.run([*command, b"description=x\x85y"], cwd=tmp_path, capture_output=True, text=True)
    assert refused.returncode != 0
    retry = only_retry_command(refused.stderr, program)
    assert retry[:4] == [program, str(TEMPLATE), "--output-dir", "out"]
    assert retry[-1] == "description=REPLACE-ME"


def test_a_retry_pasted_as_printed_is_refused_until_the_stand_in_is_replaced_and_keeps_aiops_platform(
    tmp_path: Path,
):
    """The retry showed an example GUID (0a1b2c3d-...) that passes as real: pasted as printed, it
    generated, and make doctor did not flag it. The zero GUID would be flagged, but only the
    subscription has a placeholder the platform refuses (a use-case code, a region have none), so
    every refused field gets one stand-in, REPLACE-ME, that the hook refuses naming an example.
    AIOPS_PLATFORM given inline reached only the hook's environment: the retry dropped it."""
    platform = str(tmp_path / "my template" / "library")  # a space: quoted after the '='
    command = [str(BIN / "cookiecutter"), str(TEMPLATE), "--no-input", "--output-dir", "out"]
    command += ["register_on_generate=none", "azure_subscription_id=1234-not-a-guid"]
    first = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "AIOPS_PLATFORM": platform}
    )
    (line,) = [said.strip() for said in first.stderr.splitlines() if "--config-file" in said]
    assert line.startswith(f"AIOPS_PLATFORM={shlex.quote(platform)} ") and line.endswith(
        " azure_subscription_id=REPLACE-ME"
    )
    assert (
        f"in place of REPLACE-ME (azure_subscription_id, e.g. {rules.EXAMPLES['azure_subscription_id']})"
        in first.stderr
    )
    environment = {key: value for key, value in os.environ.items() if key != "AIOPS_PLATFORM"}
    pasted = subprocess.run(
        ["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, env=environment
    )
    assert pasted.returncode != 0
    assert (
        "azure_subscription_id = 'REPLACE-ME': is the retry command's stand-in: put your answer in its place"
        in pasted.stderr
    )
    (again,) = [said.strip() for said in pasted.stderr.splitlines() if "--config-file" in said]
    assert again == line  # the shell gave the hook AIOPS_PLATFORM again, from the retry line itself
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["qcp-assistant.answers.yaml"]


def test_answers_are_kept_in_the_output_folder_or_a_temporary_one_never_above_it(tmp_path: Path):
    """cruft gives no output folder: the project folder's parent, unless the slug climbed out of it."""
    project = tmp_path / "out" / "team" / "project"
    assert rules.output_folder({"project_slug": "team/project"}, project) == tmp_path / "out"
    assert rules.output_folder({"project_slug": "../escaped"}, tmp_path / "escaped") is None
    assert rules.output_folder({"project_slug": "/abs"}, Path("/abs")) is None
    cookiecutter_said = {"project_slug": "../escaped", "_output_dir": str(tmp_path / "out")}
    assert rules.output_folder(cookiecutter_said, tmp_path / "escaped") == tmp_path / "out"


NOT_ANSWERS_FILES = {
    "not-yaml": ("default_context: [broken", "not YAML at line 1"),
    "a-list": ("- project_name: x\n", "not an answers file"),
    "context-a-list": ("default_context:\n  - x\n", "not an answers file"),
    "no-context": ("{}\n", "not an answers file"),
    "not-utf-8": (b"default_context:\n  project_name: \xff\n", "cannot be read"),
}


@pytest.mark.parametrize(("content", "said"), NOT_ANSWERS_FILES.values(), ids=NOT_ANSWERS_FILES.keys())
def test_make_new_refuses_a_file_that_is_not_an_answers_file_in_one_line(
    tmp_path: Path, capsys, content, said
):
    file = tmp_path / "answers.yaml"
    file.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert new.main(["--answers", str(file), "--answers-dir", str(tmp_path / "saved")]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"make new: {file}: {said}")
    assert not (tmp_path / "saved").exists()


def test_make_new_names_an_answers_file_that_does_not_exist(tmp_path: Path, capsys):
    assert new.main(["--answers", str(tmp_path / "missing.yaml")]) == 2
    assert capsys.readouterr().err.startswith(f"make new: {tmp_path / 'missing.yaml'}: cannot be read")


def test_a_slug_from_an_answers_file_never_steers_where_the_answers_are_saved(tmp_path: Path):
    """Not yet checked, `../../x` or `/x` from a file would save outside the answers folder."""
    for case, slug in enumerate(("../../escaped", "/escaped", "team/escaped")):
        saved = tmp_path / "saved" / str(case)
        session = new.Session({"project_name": "Atk Two", "project_slug": slug}, tmp_path, saved)
        session.save()
        assert session.saved == saved / "atk-two.yaml"
    assert {path.name for path in tmp_path.rglob("*.yaml")} == {"atk-two.yaml"}


def test_stopping_a_resumed_run_before_any_new_answer_names_the_file_to_resume_with(
    tmp_path: Path, capsys, monkeypatch
):
    resume = tmp_path / "my answers.yaml"
    resume.write_text('default_context:\n  project_name: "Atk Two"\n', encoding="utf-8")

    def stop(prompt: str) -> str:
        raise EOFError

    monkeypatch.setattr("builtins.input", stop)
    assert new.main(["--answers", str(resume), "--answers-dir", str(tmp_path / "saved")]) == 130
    (hint,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Stopped")]
    assert shlex.split(hint.split("resume with: ")[1]) == ["make", "new", f"ANSWERS={resume}"]


class Typist:
    """Answers make new's questions in order, keeping each prompt; stops a run that asks too often."""

    def __init__(self, monkeypatch, *replies: str) -> None:
        self.replies, self.prompts = list(replies), []
        monkeypatch.setattr("builtins.input", self)

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.replies:
            raise EOFError  # asked again after the last reply: make new stops, as on Ctrl-D
        return self.replies.pop(0)


def day_one(**changes: object) -> dict[str, object]:
    """Every day-one answer, valid, with these changes."""
    answers = {field: rules.EXAMPLES[field] for field in new.DAY_ONE if field in rules.EXAMPLES}
    answers |= {"llm_provider": "openai", "ci_provider": "github", "deployment_target": "azure_webapp"}
    answers |= {"flow_kind": "qa", "data_classification": "internal", "gxp_relevant": False}
    return answers | changes


def test_a_refused_answer_from_a_file_is_never_the_suggestion_enter_takes_the_default(
    tmp_path: Path, capsys, monkeypatch
):
    """Resuming offered `[1234-not-a-guid]`: Enter submitted it again, and again."""
    answers = day_one(azure_subscription_id="1234-not-a-guid")
    session = new.Session(answers, tmp_path / "out", tmp_path / "saved")
    typist = Typist(monkeypatch, "")
    new.interview(session)
    (prompt,) = typist.prompts
    assert prompt.endswith(f"[{new.default('azure_subscription_id', answers)}]: ")
    assert "1234-not-a-guid" not in prompt
    assert capsys.readouterr().out.count("1234-not-a-guid") == 1  # the refusal, shown once
    assert session.answers["azure_subscription_id"] == "00000000-0000-0000-0000-000000000000"


def test_an_answer_refused_by_a_rule_between_answers_is_not_suggested_even_as_the_default(
    tmp_path: Path, monkeypatch
):
    """westeurope is azure_location's default and example; outside data_residency, neither is offered."""
    answers = day_one(data_residency="northeurope", azure_location="westeurope")
    typist = Typist(monkeypatch, "", "northeurope")
    new.interview(new.Session(answers, tmp_path / "out", tmp_path / "saved"))
    assert typist.prompts == [f"{new.label('azure_location')}: "] * 2  # no suggestion: Enter is refused
    assert answers["azure_location"] == "northeurope"


def test_a_session_never_overwrites_answers_another_session_saved_under_the_same_slug(tmp_path: Path, capsys):
    """build/answers/<slug>.yaml was keyed by slug only: a later project's answers replaced them."""
    saved = tmp_path / "saved"
    first = new.Session(day_one(description="The first project."), tmp_path, saved)
    first.save()
    second = new.Session(day_one(description="Another project, same slug."), tmp_path, saved)
    second.save()
    second.save()  # its own file, rewritten after each answer: still the same name
    assert (first.saved, second.saved) == (saved / "qcp-assistant.yaml", saved / "qcp-assistant-2.yaml")
    kept = yaml.safe_load(first.saved.read_text(encoding="utf-8"))["default_context"]
    assert kept["description"] == "The first project."
    said = capsys.readouterr().out
    assert (
        said.count(f"{first.saved} holds another session's answers; these are saved in {second.saved}") == 1
    )
    resumed = new.Session(dict(kept), tmp_path, saved, resumed=first.saved)
    resumed.save()
    assert resumed.saved == first.saved  # the file it resumes from is its own


def test_a_menu_refusal_says_to_type_a_number_with_an_example(tmp_path: Path, capsys, monkeypatch):
    answers = day_one()
    answers.pop("deployment_target")
    Typist(monkeypatch, "3", "2")
    new.interview(new.Session(answers, tmp_path / "out", tmp_path / "saved"))
    refusal = next(line for line in capsys.readouterr().out.splitlines() if "Refused" in line)
    assert refusal.endswith(
        "type a number from 1 to 2 (or the choice's name), e.g. 1 for aml_online_endpoint"
    ), refusal
    assert answers["deployment_target"] == "azure_webapp"


def test_the_flow_kind_menu_lists_the_agent_last_and_its_number_picks_it(tmp_path: Path, capsys, monkeypatch):
    """`agent` is appended: qa, chat and rag keep the numbers saved answers and habits know."""
    answers = day_one()
    answers.pop("flow_kind")
    typist = Typist(monkeypatch, "4")
    new.interview(new.Session(answers, tmp_path / "out", tmp_path / "saved"))
    menu = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ")]
    labels = PROMPTS["flow_kind"]
    assert menu == [f"  {n} - {labels[kind]}" for n, kind in enumerate(["qa", "chat", "rag", "agent"], 1)]
    assert typist.prompts == ["  Choose 1-4 [1]: "]
    assert answers["flow_kind"] == "agent"


def test_spaces_around_a_typed_answer_are_dropped_not_refused(tmp_path: Path, monkeypatch):
    """Refused for a trailing space, the whole answer had to be typed again (the hook still refuses
    it from a config file or a command line, where the retry changes it)."""
    answers = day_one()
    answers.pop("use_case_code")
    typist = Typist(monkeypatch, "  CMC ")
    new.interview(new.Session(answers, tmp_path / "out", tmp_path / "saved"))
    assert answers["use_case_code"] == "CMC" and len(typist.prompts) == 1
    assert rules.field_problem("owner_team", "cmc-genai ", answers) == "must not start or end with whitespace"


def test_a_gxp_relevant_that_is_not_yes_or_no_gets_a_retry_with_an_example(tmp_path: Path):
    """Refused only between answers, it had no example: the retry line was a KeyError traceback."""
    config = tmp_path / "answers.yaml"
    config.write_text(
        'default_context:\n  register_on_generate: "none"\n  gxp_relevant: null\n', encoding="utf-8"
    )
    program = str(BIN / "cookiecutter")
    command = [program, str(TEMPLATE), "--no-input", "--output-dir", "out", "--config-file", str(config)]
    refused = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True)
    assert "in place of REPLACE-ME (gxp_relevant, e.g. no)" in refused.stderr, refused.stderr
    assert only_retry_command(refused.stderr, program)[-1] == "gxp_relevant=REPLACE-ME"
