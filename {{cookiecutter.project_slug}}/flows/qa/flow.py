"""Question + context -> answer. Plain Python and a prompt file: any engine, or a test, can call it."""

from pathlib import Path
from typing import TypedDict

from {{ cookiecutter.package_name }}.llm import chat
from {{ cookiecutter.package_name }}.prompts import render_chat

PROMPT = Path(__file__).with_name("qa.jinja2")


class Answer(TypedDict):
    answer: str


def answer_question(question: str, context: str) -> Answer:
    messages = render_chat(PROMPT, question=question, context=context)
    return {"answer": chat(messages).text}
