"""What an agent gets for one turn: the graph state (checkpointed per conversation) and the run
context (this turn's database session, sender and LLM; never checkpointed).

Replies go into the context, not the state: they may carry chart images, which have no place
in a checkpoint that is kept for every turn.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, TypedDict

from langgraph.store.base import BaseStore
from sqlalchemy import Engine

from db import outbox
from db.models import Conversation, Role
from db.scope import CompanySession
from llm.service import LLMService
from messages import OutboundMessage
from settings import Settings
from tools.catalog import catalog_parser
from tools.order_parser import OrderParser

if TYPE_CHECKING:
    from agents.spec import AgentSpec

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
    llm: LLMService | None  # redacts the company's personal data from every prompt
    store: BaseStore | None = None  # long-term facts (memory/profile.py)
    address: str = ""  # where replies go: the sender's phone, the API thread
    our_number: str = ""  # where they come from: our number or account
    source_message_id: uuid.UUID | None = None  # the turn's first message: one order per message
    answering: list[uuid.UUID] = field(default_factory=list)  # the stored messages it answers
    preface: str = ""  # said before the first reply: what a voice note or photo was heard as
    speak: bool = False  # replies go as voice notes too
    replies: list[OutboundMessage] = field(default_factory=list)
    # (channel, address) of other people this turn queued messages for (a manager told of an
    # order held for credit): the turn engine delivers them once the turn is committed
    elsewhere: set[tuple[str, str]] = field(default_factory=set)
    agents: Sequence["AgentSpec"] = ()  # the registry in use: for menus and hand-offs
    redis: Any = None  # redis.asyncio.Redis when configured (the leaderboard's sorted sets)
    _recorded: int = 0
    _parser: OrderParser | None = None

    def begin(self, answering: list[uuid.UUID]) -> None:
        """A new turn, answering these stored messages (the first is an order's source)."""
        self.answering, self.source_message_id = answering, answering[0] if answering else None
        self.replies, self._recorded, self.preface, self.speak = [], 0, "", False

    def say(self, text: str, **extra) -> None:
        self.replies.append(OutboundMessage(text=text, **extra))

    def reply(self, message: OutboundMessage) -> None:
        self.replies.append(message)

    def unsay(self) -> None:
        """Drop the replies not committed yet (the turn failed part-way)."""
        del self.replies[self._recorded :]

    def commit(self) -> None:
        """Commit what the turn wrote together with its bookkeeping: the messages it answers
        marked answered and its replies so far queued for delivery, in one transaction, so a
        crash never leaves an order apart from the message that asked for it. Agents commit
        through here, never `session.commit()`."""
        new = self.replies[self._recorded :]
        if self.preface and new:  # a wrong transcript is seen at once
            new[0] = new[0].model_copy(update={"text": f"{self.preface}\n{new[0].text}".strip()})
            self.preface = ""
        if self.speak:
            new = [r.model_copy(update={"speak": True}) if r.text else r for r in new]
        self.replies[self._recorded :] = new
        outbox.record(self.session, self.channel, self.our_number, self.address, new)
        outbox.mark_answered(self.session, self.answering)
        self._recorded = len(self.replies)
        self.session.commit()

    @property
    def parser(self) -> OrderParser:
        """The catalog parser, built once per context (a batch of turns)."""
        if self._parser is None:
            self._parser = catalog_parser(self.session)
        return self._parser
