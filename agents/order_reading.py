"""Understanding an order message: the fast path first, the LLM only where it is not confident.

The decision is one of: the items to order, or one clarifying question with candidates. Sizes
are never guessed: a product named without a size it needs is asked about, whoever reads it.
The LLM reads what the fast path could not place (odd phrasing, unknown words), choosing SKUs
from an enum of candidates; its answer is checked against the message (the quantity must be
written there) before it is believed. With the circuit breaker open, the fast path decides
alone.
"""

from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field, create_model
from rapidfuzz import fuzz, process

from llm.client import LLMError
from llm.service import LLMService
from prompts import prompt
from tools.order_parser import (
    CONFIDENT,
    NUMBER_WORDS,
    OrderParser,
    ParsedLine,
    ParsedOrder,
    normalise,
    quantities,
)

ORDER_PROMPT = prompt("order_read")  # the SKUs it may choose from come last


@dataclass
class Reading:
    lines: list[ParsedLine] = field(default_factory=list)  # the understood items
    question: ParsedLine | None = None  # set when we must ask before ordering
    unknown: list[str] = field(default_factory=list)
    used_llm: bool = False

    @property
    def clarify(self) -> bool:
        return self.question is not None or bool(self.unknown) or not self.lines


def order_messages(text: str, catalog: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The order prompt over these (sku, name) candidates, and the message."""
    skus = [f"{sku}: {name}" for sku, name in catalog]
    return [
        {"role": "system", "content": ORDER_PROMPT.render(skus=skus)},
        {"role": "user", "content": text},
    ]


def order_schema(skus: list[str], most: int) -> type[BaseModel]:
    """Items from the candidate SKUs only, and no more of them than the message could hold (a
    small model otherwise repeats an item until it runs out of tokens)."""
    line = create_model(
        "Line",
        sku=(Literal[tuple(skus)], ...),  # type: ignore[valid-type]
        quantity=(int, Field(ge=1, le=100000)),
        unit=(Literal["case", "piece"], ...),
    )
    return create_model("Order", items=(list[line], Field(max_length=most)), unclear=(bool, ...))


def _written_numbers(text: str) -> set[int]:
    words = normalise(text).split()
    numbers = {int(w) for w in words if w.isdigit()}
    numbers |= {NUMBER_WORDS[w] for w in words if w in NUMBER_WORDS}
    return numbers | {n * 12 for n in numbers}


def _candidates(parser: OrderParser, parsed: ParsedOrder, text: str, limit: int = 8) -> list[str]:
    skus = [sku for line in parsed.lines for sku in line.candidates]
    for phrase in parsed.unknown or [normalise(text)]:
        for alias, _score, _ in process.extract(
            phrase, parser.alias_texts, scorer=fuzz.partial_ratio, limit=limit
        ):
            skus.extend(parser.by_alias[tuple(alias.split())])
    return list(dict.fromkeys(skus))[:limit]


# What the message itself leaves open: asked about, never handed to the LLM to guess.
ASK_DIRECTLY = {"ambiguous", "size not sold", "several quantities"}


async def read_order(text: str, parser: OrderParser, llm: LLMService | None) -> Reading:
    parsed = parser.parse(text)
    if parsed.confident:
        return Reading(parsed.lines)
    open_questions = [line for line in parsed.lines if line.problem in ASK_DIRECTLY]
    if open_questions:  # a careful order-taker asks which size; so do we
        return Reading(
            [line for line in parsed.lines if line.confidence >= CONFIDENT],
            open_questions[0],
            parsed.unknown,
        )
    if llm is None:
        return _fast_path_only(parsed)
    try:
        return await _ask_llm(text, parser, parsed, llm)
    except LLMError:
        return _fast_path_only(parsed)


def _fast_path_only(parsed: ParsedOrder) -> Reading:
    unsure = [line for line in parsed.lines if line.confidence < CONFIDENT]
    return Reading(
        [line for line in parsed.lines if line.confidence >= CONFIDENT],
        unsure[0] if unsure else None,
        parsed.unknown,
    )


def _mention_score(parser: OrderParser, sku: str, written: str) -> float:
    """How closely some run of the message's words spells one of the product's names."""
    words = written.split()
    best = 0.0
    for alias in parser.alias_texts:
        if sku not in parser.by_alias[tuple(alias.split())]:
            continue
        size = len(alias.split())
        for start in range(max(1, len(words) - size + 1)):
            best = max(best, fuzz.ratio(alias, " ".join(words[start : start + size])))
    return best


def _mentioned(parser: OrderParser, sku: str, text: str) -> bool:
    """The message names this product, and clearly more than any other in the catalog: the
    LLM read it rather than chose between look-alikes (Marie Gold or Marie Light? which size
    of Lay's?)."""
    written = normalise(text)
    score = _mention_score(parser, sku, written)
    rivals = (_mention_score(parser, other, written) for other in parser.items if other != sku)
    return score >= 90 and all(score >= rival + 10 for rival in rivals)


def _written_units(text: str) -> set[str]:
    """The units the message itself uses next to its numbers (pieces when it names none)."""
    return {unit for _quantity, unit in quantities(normalise(text).split())} or {"piece"}


async def _ask_llm(text: str, parser: OrderParser, parsed: ParsedOrder, llm: LLMService) -> Reading:
    skus = _candidates(parser, parsed, text)
    most = max(1, len(parsed.lines) + len(parsed.unknown))
    answer = await llm.complete_json(
        order_messages(text, [(sku, parser.items[sku].name) for sku in skus]),
        order_schema(skus, most),
        max_tokens=40 * most + 20,
        prompt=ORDER_PROMPT.id,
    )
    written, units = _written_numbers(text), _written_units(text)
    repeated = len({item.sku for item in answer.items}) < len(answer.items)
    lines = []
    for item in answer.items:
        product = parser.items[item.sku]
        trusted = (
            item.quantity in written
            and item.unit in units
            and not answer.unclear
            and not repeated
            and _mentioned(parser, item.sku, text)
        )
        lines.append(
            ParsedLine(
                text=product.name,
                candidates=[item.sku],
                quantity=item.quantity,
                unit=item.unit,
                pieces=item.quantity * (product.units_per_case if item.unit == "case" else 1),
                confidence=0.85 if trusted else 0.5,
                problem=None if trusted else "unsure",
            )
        )
    unsure = [line for line in lines if line.confidence < CONFIDENT]
    if not lines or answer.unclear or unsure:
        question = unsure[0] if unsure else (parsed.lines[0] if parsed.lines else None)
        return Reading(
            [line for line in lines if line.confidence >= CONFIDENT],
            question,
            parsed.unknown or ([] if lines else [text]),
            used_llm=True,
        )
    return Reading(lines, used_llm=True)
