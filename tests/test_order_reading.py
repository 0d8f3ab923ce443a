"""Order reading: the fast path decides when it can; the LLM is asked only about what it could
not place, and its answer is believed only when the message bears it out."""

import asyncio

from test_llm_service import Scripted

from agents.order_reading import read_order
from llm.breaker import CircuitBreaker
from llm.client import LLMError
from llm.service import LLMService


def read(text, parser, *answers):
    backend = Scripted(*answers)
    llm = LLMService(backend, CircuitBreaker("reading", failure_threshold=1))
    return asyncio.run(read_order(text, parser, llm)), backend


def test_the_fast_path_decides_without_the_llm(parser):
    reading, backend = read("2 cs parle g 250 aur 1 peti coke 750", parser)
    assert not reading.clarify and not backend.requests
    assert [(line.sku, line.pieces) for line in reading.lines] == [("PG250", 96), ("COKE750", 24)]


def test_a_missing_size_is_asked_not_guessed(parser):
    reading, backend = read("2 cs parle g 250, 3 case surf excel", parser)
    assert reading.clarify and not backend.requests
    assert set(reading.question.candidates) == {"SURF500", "SURF1KG"}
    assert [line.sku for line in reading.lines] == ["PG250"]  # the understood item is kept


def test_the_llm_reads_what_the_fast_path_could_not_place(parser):
    reading, backend = read(
        "ek peti of that orange fanta drink",
        parser,
        '{"items": [{"sku": "FANTA750", "quantity": 1, "unit": "case"}], "unclear": false}',
    )
    schema = backend.requests[0].json_schema
    assert "FANTA750" in str(schema["$defs"]["Line"]["properties"]["sku"])
    assert not reading.clarify and reading.used_llm
    assert [(line.sku, line.pieces) for line in reading.lines] == [("FANTA750", 24)]


def test_an_llm_quantity_that_is_not_in_the_message_is_not_believed(parser):
    reading, _ = read(
        "ek peti of that orange fanta drink",
        parser,
        '{"items": [{"sku": "FANTA750", "quantity": 5, "unit": "case"}], "unclear": false}',
    )
    assert reading.clarify


def test_without_the_llm_the_fast_path_asks(parser):
    reading, backend = read("ek peti of that orange fanta drink", parser, LLMError("down"))
    assert reading.clarify and len(backend.requests) == 1
