"""LLMService logic with a scripted backend: redaction, retries, truncation, breaker."""

import asyncio

import pytest
from pydantic import BaseModel

from llm.breaker import CircuitBreaker, LLMUnavailable
from llm.client import Completion, CompletionRequest, LLMError, PromptTooLong, fit_messages
from llm.redact import PiiContext
from llm.service import LLMService, MalformedOutput, TruncatedOutput


class Scripted:
    """Answers from a list; an exception in the list is raised instead."""

    name = "scripted"

    def __init__(self, *answers) -> None:
        self.answers = list(answers)
        self.requests: list[CompletionRequest] = []

    async def complete(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        text, finish = answer if isinstance(answer, tuple) else (answer, "stop")
        return Completion(text, finish, 10, 5, 0.1)

    async def close(self) -> None:
        pass


class Item(BaseModel):
    sku: str
    quantity: int


def run(coroutine):
    return asyncio.run(coroutine)


def service(backend, breaker=None) -> LLMService:
    return LLMService(backend, breaker or CircuitBreaker("unit", 3, 10, 30))


def test_every_message_is_redacted_before_the_backend_sees_it():
    backend = Scripted("ok")
    pii = PiiContext.build(["Ramesh Patil"], {})
    run(
        service(backend).chat(
            [
                {"role": "system", "content": "Store owner Ramesh Patil, +91 98220 13210"},
                {"role": "user", "content": "call me on 9822043210"},
            ],
            pii=pii,
        )
    )
    sent = [m["content"] for m in backend.requests[0].messages]
    assert sent == ["Store owner Person A, +91****3210", "call me on +91****3210"]


def test_structured_answer_is_validated_and_a_malformed_one_retried_once():
    backend = Scripted('{"sku": "PG250"', '{"sku": "PG250", "quantity": 2}')
    item = run(service(backend).complete_json([{"role": "user", "content": "x"}], Item))
    assert item == Item(sku="PG250", quantity=2)
    assert backend.requests[0].json_schema == Item.model_json_schema()

    twice = Scripted("{}", '{"sku": 1}')
    with pytest.raises(MalformedOutput, match="did not match Item twice"):
        run(service(twice).complete_json([{"role": "user", "content": "x"}], Item))


def test_a_truncated_answer_is_an_error_not_half_an_object():
    backend = Scripted(('{"sku": "PG250", "quantity": 2', "length"))
    with pytest.raises(TruncatedOutput):
        run(service(backend).complete_json([{"role": "user", "content": "x"}], Item))


def test_failures_open_the_breaker_and_callers_get_llm_unavailable():
    backend = Scripted(LLMError("down"), LLMError("down"), LLMError("down"), "never")
    llm = service(backend)
    for _ in range(3):
        with pytest.raises(LLMError):
            run(llm.chat([{"role": "user", "content": "x"}]))
    with pytest.raises(LLMUnavailable):
        run(llm.chat([{"role": "user", "content": "x"}]))
    assert len(backend.requests) == 3


def test_a_too_long_prompt_does_not_count_against_the_model():
    backend = Scripted(PromptTooLong("big"), PromptTooLong("big"), PromptTooLong("big"), "ok")
    llm = service(backend)
    for _ in range(3):
        with pytest.raises(PromptTooLong):
            run(llm.chat([{"role": "user", "content": "x"}]))
    assert run(llm.chat([{"role": "user", "content": "x"}])).text == "ok"


def test_fit_messages_drops_the_oldest_turns_first():
    messages = [{"role": "system", "content": "s" * 10}] + [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i}" * 10} for i in range(6)
    ]
    kept, dropped, tokens = fit_messages(messages, len, budget=4 * 18)
    assert (dropped, tokens) == (3, 4 * 18)
    assert [m["content"][0] for m in kept] == ["s", "3", "4", "5"]
    with pytest.raises(PromptTooLong):
        fit_messages(messages, len, budget=20)


def test_every_failure_reaches_the_caller_as_one_error_class():
    """Callers catch `LLMError` alone: timeouts of any kind, backend bugs and an open breaker."""
    llm = service(Scripted(TimeoutError(), ValueError("bad token"), OSError("socket closed")))
    caught = []
    for _ in range(4):  # the fourth call finds the breaker open
        with pytest.raises(LLMError) as error:
            run(llm.chat([{"role": "user", "content": "hi"}]))
        caught.append(type(error.value).__name__)
    assert caught == ["LLMTimeout", "LLMError", "LLMError", "LLMUnavailable"]
    assert issubclass(LLMUnavailable, LLMError)
