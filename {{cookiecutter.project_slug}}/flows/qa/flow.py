"""Question + context -> answer. Plain Python and a prompt file: any engine, or a test, can call it."""

from pathlib import Path
from typing import TypedDict

from {{ cookiecutter.package_name }}.llm import chat
from {{ cookiecutter.package_name }}.prompts import render_chat

PROMPTS = Path(__file__).parent


class Answer(TypedDict):
    answer: str


def answer_question(
    question: str, context: str, prompt: str = "qa.jinja2", temperature: float = 0.0
) -> Answer:
    """`prompt` and `temperature` are what experiment variants change."""
    messages = render_chat(PROMPTS / prompt, question=question, context=context)
    return {"answer": chat(messages, temperature=float(temperature)).text}
