"""Which agent answers a message: rules first, then a schema-constrained choice by the LLM.

Rules decide what is certain: a button names its agent, an agent waiting for an answer gets it,
commands and greetings are words we know, and a message that reads as an order (quantities of
catalogue products) is one. Keyword families decide when exactly one of them matches. The rest
goes to the LLM, which picks one intent from an enum with a confidence. With the LLM down, the
best rule guess stands, and the role's usual agent takes what no rule recognises.
"""

import re
import time
from dataclasses import dataclass
from typing import Literal

from agents.context import INTENTS, Intent
from db.models import Role
from llm.client import LLMError
from llm.service import LLMService
from prompts import render
from tools.order_parser import CONFIDENT, OrderParser

Source = Literal["button", "pending", "command", "rule", "llm", "fallback"]

# What each role may reach. An intent outside its role is answered with what the role can do.
ALLOWED: dict[Role, frozenset[str]] = {
    Role.retailer: frozenset({"order", "promo", "help", "other"}),
    Role.rep: frozenset({"tasks", "coach", "promo", "help", "other"}),
    Role.manager: frozenset({"analytics", "promo", "coach", "help", "other"}),
    Role.admin: frozenset(INTENTS),
}
# Where a message no rule recognises goes when the LLM cannot be asked.
USUAL: dict[Role, Intent] = {
    Role.retailer: "order",
    Role.rep: "tasks",
    Role.manager: "analytics",
    Role.admin: "analytics",
}
COMMANDS: dict[str, Intent] = {
    "/order": "order",
    "/promo": "promo",
    "/schemes": "promo",
    "/analytics": "analytics",
    "/report": "analytics",
    "/coach": "coach",
    "/practice": "coach",
    "/tasks": "tasks",
    "/help": "help",
    "menu": "help",
    "help": "help",
    "/start": "help",
}
# "voice on" / "voice off": spoken replies to voice notes, a setting the help agent keeps
VOICE_SWITCH = re.compile(r"^\W*/?voice(?:\s+repl(?:y|ies))?\s+(on|off)\W*$", re.IGNORECASE)
LOW_CONFIDENCE = 0.5


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(patterns) + r")\b", re.IGNORECASE)


GREETING = re.compile(
    r"^\W*(hi+|hello+|hey+|namaste|namaskar|namaskaar|ram ram|good (morning|afternoon|evening)|"
    r"thanks?|thank you|thanku|thx|ty|ok+|okay|ok thanks?|dhanyavaad|dhanyavad|shukriya|"
    r"what can you do|who are you|menu|help|start)(\s+(ji|bhai|bhaiya|sir|madam|boss|"
    r"thanks?|thank you|order done))*\W*$",
    re.IGNORECASE,
)
FAMILIES: dict[Intent, re.Pattern[str]] = {
    "order": _words(
        r"where is my order",
        r"order status",
        r"kab (tak )?aa(ye|y)ega",
        r"kab milega",
        r"maal kab",
        r"deliver(y|ed)?",
        r"not (yet )?(received|delivered)",
        r"cancel (my )?order",
        r"repeat (my )?(last )?order",
        r"same as last",
        r"pichla order",
        r"my order",
        r"nahi (pahucha|pahuncha|aaya|mila)",
        r"dispatch",
        r"bhejo",
        r"bhej do",
        r"bhijwa",
        r"chahiye",
        r"de do",
        r"dedo",
        r"send me",
    ),
    "promo": _words(
        r"schemes?",
        r"offers?",
        r"discounts?",
        r"promos?",
        r"promotions?",
        r"cashback",
        r"free goods",
        r"skim",
        r"yojana",
        r"deals?",
        r"\d\s*\+\s*\d",
    ),
    "analytics": _words(
        r"top \d*",
        r"bottom \d*",
        r"best",
        r"worst",
        r"highest",
        r"lowest",
        r"ranking",
        r"leaderboard",
        r"trend",
        r"growth",
        r"grew",
        r"decline[ds]?",
        r"compared?",
        r"vs",
        r"versus",
        r"how (much|many)",
        r"total",
        r"average",
        r"avg",
        r"share",
        r"coverage",
        r"strike rate",
        r"lines per call",
        r"not (ordered|ordering)",
        r"sales",
        r"sold",
        r"revenue",
        r"turnover",
        r"kitna (becha|bika|sale)",
        r"performance",
        r"report",
        r"order nahi (diya|kiya|aaya)",
        r"haven'?t ordered",
        r"kitne ka",
        r"kitna maal",
    ),
    "coach": _words(
        r"coach(ing)?",
        r"practi[cs]e",
        r"role ?-?play",
        r"mock",
        r"objections?",
        r"how (do|should|can) i (handle|convince|pitch|sell|respond|reply|answer|deal|"
        r"counter|tackle|close|overcome)",
        r"pitch tips?",
        r"train me",
        r"kaise (samjhaun|samjhau|convince|bolun|manaun)",
        r"kya bolun",
    ),
    "tasks": _words(
        r"my tasks?",
        r"today'?s tasks?",
        r"tasks? (for )?today",
        r"aaj ke? tasks?",
        r"today'?s beat",
        r"beat plan",
        r"route (for )?today",
        r"aaj kaun ?se",
        r"kaun ?se stores? (jaana|jana|visit)",
        r"stores? to visit",
        r"task (is )?done",
        r"mark .* done",
        r"complete (the |my )?task",
        r"pending tasks?",
    ),
    "other": _words(
        r"weather",
        r"mausam",
        r"baarish",
        r"rain",
        r"cricket",
        r"match",
        r"ipl",
        r"jokes?",
        r"funny",
        r"songs?",
        r"gaana",
        r"movie",
        r"film",
        r"news",
        r"sensex",
        r"nifty",
        r"share market",
        r"stock market",
        r"horoscope",
        r"politics",
        r"election",
        r"where do you live",
        r"kahan rehte",
        r"girlfriend",
        r"boyfriend",
        r"shaadi",
    ),
}
ABOUT_US = re.compile(
    r"\b(what (all )?can (you|this bot) do|(which|what) services|kya kya kar sakte|"
    r"how (do i|to) use (this|you)|who are you|tum kaun ho|aap kaun ho)\b",
    re.IGNORECASE,
)
THANKS = re.compile(r"\b(thanks?|thank you|thanku|shukriya|dhanyavaa?d)\b", re.IGNORECASE)
DRAFT_SCHEME = re.compile(
    r"\b(draft|design|propose|plan|create|suggest|make|banao)\b.*"
    r"\b(schemes?|offers?|promos?|promotions?)\b",
    re.IGNORECASE,
)
QUESTION = re.compile(
    r"\?|\b(what|which|who|how|why|kya|kaun|kitna|kitne|kaise|kyun)\b", re.IGNORECASE
)


@dataclass
class Decision:
    intent: Intent
    source: Source
    confidence: float
    seconds: float = 0.0


def by_rules(text: str, role: Role, parser: OrderParser | None) -> Decision | None:
    """A decision the rules are sure of, or None."""
    stripped = text.strip()
    command = COMMANDS.get(stripped.lower().split(" ", 1)[0]) if stripped else None
    if command is not None:
        return Decision(command, "command", 1.0)
    if not stripped or GREETING.match(stripped) or VOICE_SWITCH.match(stripped):
        return Decision("help", "rule", 1.0)
    if ABOUT_US.search(stripped):
        return Decision("help", "rule", 0.9)
    if DRAFT_SCHEME.search(stripped):
        return Decision("promo", "rule", 0.9)
    if (
        THANKS.search(stripped)
        and not QUESTION.search(stripped)
        and not (parser is not None and parser.parse(stripped).lines)
    ):
        return Decision("help", "rule", 0.9)
    matched = [intent for intent, pattern in FAMILIES.items() if pattern.search(stripped)]
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


def routing_prompt() -> str:
    """The routing prompt's fixed part: the same for every message."""
    return render("route")


async def by_llm(llm: LLMService, text: str, role: Role) -> tuple[Intent, float]:
    """The LLM's choice among the intents, as the first value of `{"intent": "...`, and its
    probability: one prompt evaluation, no generated tokens."""
    messages = [
        {"role": "system", "content": routing_prompt()},
        {"role": "user", "content": f'{role.value}: "{text[:500]}"'},
    ]
    probabilities = await llm.classify(
        messages, INTENTS, answer_prefix='{"intent": "', timeout_s=5.0
    )
    intent = max(probabilities, key=probabilities.__getitem__)
    return intent, probabilities[intent]


async def route(
    text: str, role: Role, parser: OrderParser | None, llm: LLMService | None
) -> Decision:
    """The intent of a free-text message (buttons and pending answers are the graph's)."""
    started = time.perf_counter()
    decision = by_rules(text, role, parser)
    if decision is None and llm is not None:
        try:
            intent, confidence = await by_llm(llm, text, role)
            decision = Decision(intent, "llm", confidence)
        except LLMError:
            decision = None
    if decision is None:
        decision = Decision(_best_guess(text, role), "fallback", 0.3)
    decision.seconds = time.perf_counter() - started
    return decision


def _best_guess(text: str, role: Role) -> Intent:
    """Without the LLM: the first keyword family that matches and the role may use, else the
    role's usual agent."""
    for intent, pattern in FAMILIES.items():
        if pattern.search(text) and intent in ALLOWED[role]:
            return intent
    return USUAL[role]
