"""What an agent gets for one turn: the graph state (checkpointed per conversation) and the run
context (this turn's database session, sender and LLM; never checkpointed).

Replies go into the context, not the state: they may carry chart images, which have no place
in a checkpoint that is kept for every turn.
"""

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Literal, TypedDict

from langgraph.store.base import BaseStore
from sqlalchemy import Engine

from channels.messages import OutboundMessage
from db.models import Conversation, Role
from db.scope import CompanySession
from llm.service import LLMService
from settings import Settings
from tools.order_parser import OrderParser

Intent = Literal["order", "promo", "analytics", "coach", "tasks", "help", "other"]
INTENTS: tuple[Intent, ...] = ("order", "promo", "analytics", "coach", "tasks", "help", "other")
HISTORY_TURNS = 40


def keep_recent(old: list[dict], new: list[dict]) -> list[dict]:
    """The conversation history reducer: append, keep the last HISTORY_TURNS entries."""
    return (old + new)[-HISTORY_TURNS:]


class ChatState(TypedDict, total=False):
    text: str  # this turn's message
    choice: str | None  # the id of a chosen button, if the turn is one
    history: Annotated[list[dict], keep_recent]  # {"role": "user"|"assistant", "text": ...}
    route: dict  # the last routing decision: intent, source, confidence, agent
    active: str | None  # the agent waiting for this sender's answer, if any
    coach: dict  # the role-play under way
    analytics: dict  # the last question and SQL, for follow-ups


@dataclass
class Person:
    """Who is talking, as far as the agents need to know."""

    role: Role
    name: str
    key: str  # a stable id: the user's id or the token's subject
    store_id: uuid.UUID | None = None
    rep_id: uuid.UUID | None = None


@dataclass
class AgentContext:
    session: CompanySession
    company_id: uuid.UUID
    sender: Person
    channel: str
    conversation: Conversation  # the order agent's pending question lives here, with the orders
    settings: Settings
    engine: Engine
    llm: LLMService | None
    source_message_id: uuid.UUID | None = None
    store: BaseStore | None = None  # long-term facts (memory/profile.py)
    replies: list[OutboundMessage] = field(default_factory=list)
    _parser: OrderParser | None = None

    def say(self, text: str, **extra) -> None:
        self.replies.append(OutboundMessage(text=text, **extra))

    @property
    def parser(self) -> OrderParser:
        """The catalog parser, built once per context (a batch of turns)."""
        if self._parser is None:
            from agents.order import catalog_parser

            self._parser = catalog_parser(self.session)
        return self._parser
