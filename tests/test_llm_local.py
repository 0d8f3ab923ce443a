"""The local runtime with the real bundled model: structured output, concurrency, deadlines."""

import asyncio
import time
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from llm.breaker import CircuitBreaker
from llm.client import LLMError, LLMTimeout, PromptTooLong
from llm.local import LocalBackend, LocalModelConfig
from llm.service import LLMService, TruncatedOutput

pytestmark = pytest.mark.e2e

SYSTEM = (
    "You read a kirana retailer's order and list the items. SKUs: PG250 = Parle-G 250g, "
    "COKE750 = Coca-Cola 750ml, SURF1KG = Surf Excel 1kg. Unit is case or piece; cs, ctn, "
    "peti and carton mean case; pc, pcs and packet mean piece."
)


class Line(BaseModel):
    sku: Literal["PG250", "COKE750", "SURF1KG"]
    quantity: int = Field(ge=1)
    unit: Literal["case", "piece"]


class Order(BaseModel):
    items: list[Line]


@pytest.fixture
def llm(bundled_llm):
    return bundled_llm


def ask(word: str) -> list[dict]:
    return [{"role": "user", "content": f"Reply with exactly this word and nothing else: {word}"}]


def test_order_parse_with_skus_as_an_enum(llm):
    order = asyncio.run(
        llm.complete_json(
            [
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": "Please send 2 cases of Parle-G and 1 case of Coca-Cola.",
                },
            ],
            Order,
            max_tokens=120,
        )
    )
    assert {(i.sku, i.quantity, i.unit) for i in order.items} == {
        ("PG250", 2, "case"),
        ("COKE750", 1, "case"),
    }


def test_a_cut_answer_is_an_error(llm):
    with pytest.raises(TruncatedOutput):
        asyncio.run(
            llm.complete_json(
                [
                    {"role": "system", "content": SYSTEM},
                    {"role": "user", "content": "2 case parle g"},
                ],
                Order,
                max_tokens=6,
            )
        )


def test_concurrent_callers_each_get_their_own_answer_and_the_loop_stays_free(llm):
    async def scenario():
        gaps, stop = [], asyncio.Event()

        async def ticker():
            last = time.monotonic()
            while not stop.is_set():
                await asyncio.sleep(0.02)
                gaps.append(time.monotonic() - last)
                last = time.monotonic()

        tick = asyncio.create_task(ticker())
        words = [f"KX{i}Q" for i in range(6)]
        answers = await asyncio.gather(*(llm.chat(ask(w), max_tokens=8) for w in words))
        stop.set()
        await tick
        return words, answers, max(gaps)

    words, answers, worst_gap = asyncio.run(scenario())
    assert all(word in answer.text for word, answer in zip(words, answers, strict=True))
    assert worst_gap < 0.25  # the event loop was never blocked by the model


def test_deadline_and_cancellation_free_the_worker(llm):
    story = [{"role": "user", "content": "Write a 600 word story about a kirana shop."}]

    async def scenario():
        with pytest.raises(LLMTimeout):
            await llm.chat(story, max_tokens=600, timeout_s=1.0)
        task = asyncio.create_task(llm.chat(story, max_tokens=600))
        await asyncio.sleep(0.5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        started = time.monotonic()
        answer = await llm.chat(ask("DONE"), max_tokens=6)
        return answer, time.monotonic() - started

    answer, waited = asyncio.run(scenario())
    assert "DONE" in answer.text
    assert waited < 8  # the cancelled story did not keep the worker for 600 tokens


def test_too_long_prompts_are_trimmed_or_refused(llm):
    filler = "Kothrud stores ordered biscuits and soft drinks last week. " * 60
    history = []
    for i in range(8):
        history += [
            {"role": "user", "content": f"{i}: {filler}"},
            {"role": "assistant", "content": "Noted."},
        ]
    # a full 4096-token context takes ~45 s on 2 cores: what is tested is the trimming, so the
    # deadline and the breaker's slow-answer limit leave room for a busy machine
    trimmed = asyncio.run(
        llm.chat(
            [{"role": "system", "content": "Answer briefly."}, *history, *ask("OK")],
            max_tokens=4,
            timeout_s=180,
            slow_s=180,
        )
    )
    assert trimmed.trimmed_messages > 0 and "OK" in trimmed.text
    with pytest.raises(PromptTooLong):
        asyncio.run(llm.chat([{"role": "user", "content": filler * 8}], max_tokens=4))


def test_a_bad_model_file_fails_the_request_clearly(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    service = LLMService(LocalBackend(LocalModelConfig(broken)), CircuitBreaker("e2e-bad"))
    with pytest.raises((LLMError, ValueError)):
        asyncio.run(service.chat(ask("x")))


def test_a_kept_prompt_family_is_restored_after_another_family(bundled_llm):
    """Routing, then an unrelated prompt, then routing again: the routing prefix comes back
    from the kept state (small: no logits array) and gives the same probabilities."""
    from agents.registry import AGENTS
    from agents.router import intents, routing_prompt

    backend = bundled_llm.backend
    route = [
        {"role": "system", "content": routing_prompt(AGENTS)},
        {"role": "user", "content": 'manager: "kis area mein sabse zyada maal gaya"'},
    ]
    labels = intents(AGENTS)

    async def scenario():
        await bundled_llm.prepare(routing_prompt(AGENTS))
        first = await bundled_llm.classify(route, labels, answer_prefix='{"intent": "')
        await bundled_llm.chat(
            [{"role": "system", "content": SYSTEM * 3}] + ask("ok"), max_tokens=4
        )
        again = await bundled_llm.classify(route, labels, answer_prefix='{"intent": "')
        return first, again

    first, again = asyncio.run(scenario())
    assert max(first, key=first.get) == max(again, key=again.get)
    assert all(abs(first[label] - again[label]) < 1e-3 for label in labels)
    kept = list(backend._states.values())
    assert len(kept) == 1 and len(kept[0].data) < 50_000_000
