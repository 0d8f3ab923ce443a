"""The coach: a short objection-handling role-play from the playbooks, scored with a rubric.

The coach plays a retailer raising one objection from `memory/playbooks/retailer-objections.md`;
the rep answers; the answer is scored on the playbook's four steps (acknowledge, probe, answer
with a fact or offer, close with a small specific order), 0-2 each, with one tip and the
playbook's own line as an example. The LLM scores under a JSON schema; without it, a keyword
rubric scores the same four steps.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pydantic import BaseModel, Field

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from db.models import Role
from llm.client import LLMError
from memory.indexer import PLAYBOOKS_DIR, playbook_documents
from messages import Button
from phrases import COACHING_ASKS, RUBRIC_WORDS, STOP_PLAYING
from prompts import prompt

PLAYBOOK = "retailer-objections"
SCORE_PROMPT = prompt("coach_score")
ANSWER_WITHIN = timedelta(minutes=30)
RUBRIC = ("acknowledge", "probe", "answer", "close")


@dataclass(frozen=True)
class Scenario:
    title: str
    retailer_says: str
    example: str  # the playbook's own line for the rep


class Score(BaseModel):
    acknowledge: int = Field(ge=0, le=2)
    probe: int = Field(ge=0, le=2)
    answer: int = Field(ge=0, le=2)
    close: int = Field(ge=0, le=2)
    tip: str = Field(max_length=200)


@lru_cache
def scenarios() -> tuple[Scenario, ...]:
    found = []
    for document in playbook_documents([PLAYBOOKS_DIR]):
        if document.metadata["playbook"] != PLAYBOOK:
            continue
        said = re.search(r'^Retailer: "(.+)"$', document.text, re.MULTILINE)
        example = re.search(r'Say: "(.+?)"', document.text)
        section = document.metadata["section"]
        found.append(
            Scenario(
                section, said.group(1) if said else section, example.group(1) if example else ""
            )
        )
    return tuple(found)


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    choice = state.get("choice") or ""
    text = state.get("text", "")
    played = state.get("coach", {})
    if choice == "coach:stop" or (played.get("scenario") and STOP_PLAYING.match(text)):
        ctx.say(f'Good practice. {_summary(played)} Say "coach me" any time for another round.')
        return {"active": None, "coach": {**played, "scenario": None}}
    if played.get("scenario") and not choice and state.get("route", {}).get("source") == "pending":
        return await _score(ctx, played, text)
    return _start(ctx, played)


def _start(ctx: AgentContext, played: dict) -> dict:
    all_scenarios = scenarios()
    number = played.get("rounds", 0) % len(all_scenarios)
    scenario = all_scenarios[number]
    ctx.say(
        f"Role-play: {scenario.title}. I am the retailer; answer as you would in the "
        f'store (say "stop" to end).\n\nRetailer: "{scenario.retailer_says}"'
    )
    return {
        "active": "coach",
        "coach": {**played, "scenario": scenario.title, "asked_at": datetime.now(UTC).isoformat()},
    }


def still_playing(played: dict) -> bool:
    """A role-play waits for its answer for ANSWER_WITHIN; after that the rep has moved on."""
    asked = played.get("asked_at")
    return (
        bool(played.get("scenario"))
        and asked is not None
        and datetime.now(UTC) - datetime.fromisoformat(asked) < ANSWER_WITHIN
    )


async def _score(ctx: AgentContext, played: dict, reply: str) -> dict:
    scenario = next((s for s in scenarios() if s.title == played["scenario"]), None)
    if scenario is None:  # the playbook changed under us
        return _start(ctx, {**played, "scenario": None})
    score = await _llm_score(ctx, scenario, reply) or keyword_score(reply)
    total = sum(getattr(score, part) for part in RUBRIC)
    parts = ", ".join(f"{part} {getattr(score, part)}/2" for part in RUBRIC)
    example = f'\nThe playbook says: "{scenario.example}"' if scenario.example else ""
    rounds, points = played.get("rounds", 0) + 1, played.get("points", 0) + total
    ctx.say(
        f"Score {total}/8 ({parts}).\nTip: {score.tip}{example}",
        buttons=[
            Button(id="coach:next", title="Next objection"),
            Button(id="coach:stop", title="Stop"),
        ],
    )
    return {
        "active": None,
        "coach": {"scenario": None, "rounds": rounds, "points": points, "last": total},
    }


async def _llm_score(ctx: AgentContext, scenario: Scenario, reply: str) -> Score | None:
    if ctx.llm is None:
        return None
    messages = [
        {"role": "system", "content": SCORE_PROMPT.render()},
        {
            "role": "user",
            "content": (
                f'Objection: {scenario.title}. Retailer said: "{scenario.retailer_says}"\n'
                f'Rep answered: "{reply[:600]}"'
            ),
        },
    ]
    try:
        score = await ctx.llm.complete_json(messages, Score, max_tokens=120, prompt=SCORE_PROMPT.id)
        return score.model_copy(update={"tip": ctx.llm.restore(score.tip)})
    except LLMError:
        return None


def keyword_score(reply: str) -> Score:
    """The rubric by keywords: each step found once scores 1, twice or more 2."""
    counts = {
        part: len(re.findall(pattern, reply, re.IGNORECASE))
        for part, pattern in RUBRIC_WORDS.items()
    }
    scores = {part: min(2, count) for part, count in counts.items()}
    weakest = min(RUBRIC, key=lambda part: scores[part])
    tips = {
        "acknowledge": "Start by agreeing the concern is real before you answer it.",
        "probe": "Ask one question to find the real reason behind the objection.",
        "answer": "Answer with a fact, a number or an approved offer.",
        "close": "End by asking for a specific small order, e.g. 1 case.",
    }
    return Score(**scores, tip=tips[weakest])


def _summary(played: dict) -> str:
    rounds = played.get("rounds", 0)
    if not rounds:
        return ""
    return f"{rounds} round(s), average {played.get('points', 0) / rounds:.1f}/8."


def _waiting_for_answer(ctx: AgentContext, state: ChatState) -> bool:
    """A role-play waits for the rep's answer, for a while (then the rep has moved on)."""
    return state.get("active") == "coach" and still_playing(state.get("coach", {}))


SPEC = AgentSpec(
    name="coach",
    answer=answer,
    roles=frozenset({Role.rep, Role.manager, Role.admin}),
    description="practising a sales conversation, role-play, how to answer a retailer's "
    "objection, pitch tips.",
    examples=((Role.rep, "retailer bolta hai margin kam hai, kya bolun?"),),
    keywords=COACHING_ASKS,
    commands=("/coach", "/practice"),
    menu=("Practise a pitch", 'coaching: "coach me" for an objection role-play'),
    denied="Coaching is for the sales team.",
    waiting=_waiting_for_answer,
    takes_everything=True,  # "ok" or "thanks" can be the rep's line in the role-play
    prompts=("coach_score",),
    tools=("playbooks",),
)
