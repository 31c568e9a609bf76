"""The use case's answers reach the platform from aiops.yaml, and the platform's behaviour that every
prompt needs (the canary) comes from the platform, not from the team's prompt files."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, answers_into, sample_project

from aiops_platform import project, prompts


def test_the_answers_are_read_from_the_projects_aiops_yaml():
    answers = project.load(sample_project("rag", project_name="CMC Assistant", use_case_code="CMC"))
    names = (answers.name, answers.slug, answers.package)
    assert names == ("CMC Assistant", "cmc-assistant", "cmc_assistant")
    assert answers.flow == Path("flows/rag")


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda text: text.replace('flow_kind: "qa"', 'flow_kind: "agentic"'), "flow_kind"),
        (lambda text: text + "colour: blue\n", "colour"),
        (lambda text: text.replace('slug: "qcp-assistant"', 'slug: "../etc"'), "slug"),
        (lambda text: "name: [unclosed\n", "aiops.yaml"),
    ],
    ids=["unknown-flow-kind", "unknown-key", "slug-with-a-path", "not-yaml"],
)
def test_a_bad_aiops_yaml_is_one_line_naming_the_field(tmp_path: Path, edit, named: str):
    answers_into(tmp_path)
    file = tmp_path / "aiops.yaml"
    file.write_text(edit(file.read_text(encoding="utf-8")), encoding="utf-8")
    with pytest.raises(project.ProjectError) as refused:
        project.load(tmp_path)
    assert named in str(refused.value) and "\n" not in str(refused.value)


def test_a_folder_without_aiops_yaml_is_named_as_not_a_project(tmp_path: Path):
    with pytest.raises(project.ProjectError, match=r"aiops\.yaml: cannot be read"):
        project.load(tmp_path)


def test_the_shipped_prompt_names_the_canary_once(tmp_path: Path):
    messages = prompts.render_chat(PROJECT_ROOT / "flows/qa/qa.jinja2", context="c", question="q")
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].count(prompts.canary()) == 1


@pytest.mark.parametrize(
    "prompt",
    ["# system:\nBe brief.\n\n# user:\n{{ question }}\n", "# user:\n{{ question }}\n"],
    ids=["system-prompt-without-the-canary", "no-system-prompt"],
)
def test_a_prompt_that_does_not_name_the_canary_gets_it_from_the_platform(tmp_path: Path, prompt: str):
    file = tmp_path / "team.jinja2"
    file.write_text(prompt, encoding="utf-8")
    messages = prompts.render_chat(file, question="q")
    assert messages[0]["role"] == "system" and prompts.canary() in messages[0]["content"]
    assert messages[-1] == {"role": "user", "content": "q"}


def test_the_canary_differs_between_use_cases_and_never_changes_for_one():
    assert prompts.canary("QCP Assistant") == prompts.canary("QCP Assistant")
    assert prompts.canary("QCP Assistant") != prompts.canary("CMC Assistant")


@pytest.mark.parametrize(
    "command", [["experiment", "validate"], ["run", "-i", "question=q", "-i", "context=c"]]
)
def test_every_command_in_a_project_with_a_bad_aiops_yaml_stops_in_one_line(project_copy: Path, command):
    from typer.testing import CliRunner

    from aiops_platform.cli import app

    file = project_copy / "aiops.yaml"
    file.write_text(file.read_text(encoding="utf-8") + "flow_kind: agentic\n", encoding="utf-8")
    project._load.cache_clear()
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 2, result.output
    assert "aiops.yaml: flow_kind:" in result.output and "Traceback" not in result.output
    assert "OK" not in result.output  # nothing ran


@pytest.mark.parametrize("command", [["run", "-i", "question=q"], ["serve", "--port", "1"]])
def test_the_flow_commands_in_a_folder_without_aiops_yaml_say_so_in_one_line(project_copy: Path, command):
    from typer.testing import CliRunner

    from aiops_platform.cli import app

    (project_copy / "aiops.yaml").unlink()
    project._load.cache_clear()
    result = CliRunner().invoke(app, command)
    assert result.exit_code != 0 and "aiops.yaml: cannot be read" in result.output
    assert "Traceback" not in result.output
