"""The offline stand-in is deterministic and reached through the real openai client."""

from __future__ import annotations

from aiops_platform import offline_model
from aiops_platform.llm import build_client, chat
from aiops_platform.settings import Settings

PROMPT = (
    "Context:\nBalances are calibrated every six months. Reports are archived for ten years.\n\n"
    "Question: How often are balances calibrated?"
)


def test_picks_the_context_sentence_that_overlaps_the_question_most():
    assert offline_model.answer(PROMPT) == "Balances are calibrated every six months."


def test_says_it_does_not_know_when_nothing_overlaps():
    assert offline_model.answer("Context:\nThe sky is blue.\n\nQuestion: Who signs releases?") == (
        offline_model.NO_ANSWER
    )


def test_answers_through_the_openai_client_with_token_usage():
    client = build_client(Settings(llm_provider="offline"))
    response = client.chat.completions.create(
        model="offline-extractive", messages=[{"role": "user", "content": PROMPT}]
    )
    assert response.choices[0].message.content == "Balances are calibrated every six months."
    assert response.usage.prompt_tokens == len(offline_model.words(PROMPT))
    assert response.usage.completion_tokens == 6


def test_same_request_gives_the_same_completion():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": PROMPT}]
    assert chat(messages) == chat(messages)


def test_one_shared_word_is_no_answer_but_another_form_of_a_word_counts():
    context = "Context:\nAn out-of-specification result triggers a phase I investigation.\n\n"
    assert offline_model.answer(context + "Question: What dose should I take?") == offline_model.NO_ANSWER
    calibrated = "Context:\nPipettes are calibrated every twelve months.\n\nQuestion: "
    assert offline_model.answer(calibrated + "What is the calibration interval for pipettes?") == (
        "Pipettes are calibrated every twelve months."
    )
