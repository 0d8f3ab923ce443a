"""Which agent answers a message: rules first, then a schema-constrained choice by the LLM.

Rules decide what is certain: a button names its agent, an agent waiting for an answer gets it,
commands and greetings are words we know, and a message that reads as an order (quantities of
catalogue products) is one. Keyword families decide when exactly one of them matches. The rest
goes to the LLM, which picks one intent from an enum with a confidence. With the LLM down, the
best rule guess stands, and the role's usual agent takes what no rule recognises. The intents,
commands, families and the routing prompt's examples come from the agents' specs.
"""

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from agents.spec import AgentSpec, allowed
from db.models import Role
from llm.client import LLMError
from llm.service import LLMService
from phrases import (
    ABOUT_US,
    GREETING,
    OFF_TOPIC,
    QUESTION,
    THANKS,
    VOICE_SWITCH,
    unread_script,
)
from prompts import prompt
from tools.order_parser import CONFIDENT, OrderParser

Source = Literal["button", "pending", "command", "rule", "script", "llm", "fallback"]
LOW_CONFIDENCE = 0.5
ROUTE_PROMPT = prompt("route")
# What no agent answers: anything outside the business, for every role.
OTHER = "other"
OTHER_DESCRIPTION = (
    "anything unrelated to the business: weather, cricket, jokes, stories, songs, news, personal "
    "questions, gibberish."
)
OTHER_EXAMPLES = ((Role.retailer, "ek joke sunao"), (Role.manager, "who won the match yesterday"))


def intents(agents: Sequence[AgentSpec]) -> tuple[str, ...]:
    """The router's choices: every agent, and `other`."""
    return (*(spec.name for spec in agents), OTHER)


def families(agents: Sequence[AgentSpec]) -> list[tuple[str, re.Pattern[str]]]:
    found = [(spec.name, spec.keywords) for spec in agents if spec.keywords is not None]
    return [*found, (OTHER, OFF_TOPIC)]


@dataclass
class Decision:
    intent: str
    source: Source
    confidence: float
    seconds: float = 0.0


def by_rules(
    text: str, role: Role, parser: OrderParser | None, agents: Sequence[AgentSpec]
) -> Decision | None:
    """A decision the rules are sure of, or None."""
    stripped = text.strip()
    commands = {command: spec.name for spec in agents for command in spec.commands}
    command = commands.get(stripped.lower().split(" ", 1)[0]) if stripped else None
    if command is not None:
        return Decision(command, "command", 1.0)
    if not stripped or GREETING.match(stripped) or VOICE_SWITCH.match(stripped):
        return Decision("help", "rule", 1.0)
    if unread_script(stripped):
        return Decision("help", "script", 1.0)
    if ABOUT_US.search(stripped):
        return Decision("help", "rule", 0.9)
    for spec in agents:
        if spec.sure is not None and spec.sure.search(stripped):
            return Decision(spec.name, "rule", 0.9)
    if (
        THANKS.search(stripped)
        and not QUESTION.search(stripped)
        and not (parser is not None and parser.parse(stripped).lines)
    ):
        return Decision("help", "rule", 0.9)
    matched = [name for name, pattern in families(agents) if pattern.search(stripped)]
    reachable = [name for name in matched if name in allowed(role, agents)]
    if len(matched) > 1 and len(reachable) == 1:  # "stores at risk": a rep's tasks, a
        matched = reachable  # manager's figures
    if not matched and parser is not None and _reads_as_order(stripped, parser):
        return Decision("order", "rule", 0.9)
    if len(matched) == 1:
        only = matched[0]
        if (
            only == "analytics"
            and _reads_as_order(stripped, parser)
            and not QUESTION.search(stripped)
        ):
            return None  # "2 cs maggi total" is an order more likely than a report
        if only == "prices" and parser is not None and not parser.parse(stripped).lines:
            return None  # "petrol ka rate kitna hai": a rate, but of nothing we sell
        return Decision(only, "rule", 0.9)
    return None


def _reads_as_order(text: str, parser: OrderParser | None) -> bool:
    """Quantities of catalogue products, and no question: an order."""
    if parser is None or QUESTION.search(text):
        return False
    parsed = parser.parse(text)
    return bool(parsed.lines) and all(
        line.quantity is not None and line.confidence >= CONFIDENT for line in parsed.lines
    )


def routing_prompt(agents: Sequence[AgentSpec]) -> str:
    """The routing prompt's fixed part: the same for every message."""
    examples = [(role.value, text, spec.name) for spec in agents for role, text in spec.examples]
    examples += [(role.value, text, OTHER) for role, text in OTHER_EXAMPLES]
    described = [(spec.name, spec.description) for spec in agents]
    return ROUTE_PROMPT.render(intents=[*described, (OTHER, OTHER_DESCRIPTION)], examples=examples)


async def by_llm(
    llm: LLMService, text: str, role: Role, agents: Sequence[AgentSpec]
) -> tuple[str, float]:
    """The LLM's choice among the intents, as the first value of `{"intent": "...`, and its
    probability: one prompt evaluation, no generated tokens."""
    messages = [
        {"role": "system", "content": routing_prompt(agents)},
        {"role": "user", "content": f'{role.value}: "{text[:500]}"'},
    ]
    probabilities = await llm.classify(
        messages,
        intents(agents),
        answer_prefix='{"intent": "',
        timeout_s=5.0,
        prompt=ROUTE_PROMPT.id,
    )
    intent = max(probabilities, key=probabilities.__getitem__)
    return intent, probabilities[intent]


async def route(
    text: str,
    role: Role,
    parser: OrderParser | None,
    llm: LLMService | None,
    agents: Sequence[AgentSpec],
) -> Decision:
    """The intent of a free-text message (buttons and pending answers are the graph's)."""
    started = time.perf_counter()
    decision = by_rules(text, role, parser, agents)
    if decision is None and llm is not None:
        try:
            intent, confidence = await by_llm(llm, text, role, agents)
            decision = Decision(intent, "llm", confidence)
        except LLMError:
            decision = None
    if decision is None:
        decision = Decision(_best_guess(text, role, agents), "fallback", 0.3)
    decision.seconds = time.perf_counter() - started
    return decision


def _best_guess(text: str, role: Role, agents: Sequence[AgentSpec]) -> str:
    """Without the LLM: the first keyword family that matches and the role may use, else the
    role's usual agent."""
    reachable = allowed(role, agents)
    for name, pattern in families(agents):
        if pattern.search(text) and name in reachable:
            return name
    return next((spec.name for spec in agents if role in spec.usual_for), "help")
