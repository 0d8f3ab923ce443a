"""The turn engine: every channel's messages are answered here, the same way.

WhatsApp, SMS, the web console and phone calls store what was said, then
`answer_conversation` answers what a sender has said since we last answered them: their stored,
unanswered messages in order (consecutive texts are read together), a turn each. The agent API
runs one stored message through `stream`, which yields the graph's updates as they come. Either
way a turn is built in one place (who is talking, their conversation, memory, an LLM that
redacts the company's personal data from every prompt), run through the supervisor graph, and
committed together with its messages marked answered and its replies queued
(`AgentContext.commit`); the replies are then delivered by the channel's sender.

A conversation is answered once at a time (a lock, across processes with Redis), and answering
it again after a crash is safe: a turn committed before the crash is not answered twice, and
one that was not is answered from the start.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from agents.context import AgentContext, Person
from agents.registry import AGENTS
from agents.spec import AgentSpec
from db import outbox
from db.engine import company_session
from db.models import Conversation, Direction, Message, Role, Store
from db.scope import CompanySession
from graph import build_graph
from jobs.delivery import deliver
from jobs.media import MediaText, media_text
from llm.service import LLMService
from memory.conversations import ConversationMemory, open_memory, thread_id
from memory.profile import recall
from messages import MediaFetcher, OutboundMessage, Sender
from settings import Settings
from tools.identity import who
from tools.pii import pii_context

log = logging.getLogger("opensales.turns")

UNKNOWN_SENDER = (
    "Namaste! This number takes orders from our registered retailers. Please ask your sales "
    "representative to add your number, and then message us again."
)
SORRY = "Sorry, something went wrong with that message on our side, and nothing was changed. "
ASK_AGAIN = 'Please ask again; the reports still work, e.g. "top 5 stores last week".'
SORRY_NEXT = {  # what is true to do next, by role: a manager has no order to send again
    Role.retailer: "Please send your order again.",
    Role.rep: "Please send it again.",
    Role.manager: ASK_AGAIN,
    Role.admin: ASK_AGAIN,
}
NOT_READ = {
    "unsupported": "I can read text, voice notes and photos of order lists. Please type your "
    'order, e.g. "2 cs Parle-G 250g".',
}
# A turn takes seconds (an LLM call is cut at its deadline); a lock left by a run that died
# frees itself after this long.
LOCK_TTL_S = 60


class Busy(Exception):
    """Another process is answering this conversation right now."""


@dataclass(frozen=True)
class TurnEvent:
    """What `stream` yields: a graph node's update while the turn runs, then the turn's
    replies once they are committed and delivered."""

    node: str = ""
    update: dict | None = None
    replies: list[OutboundMessage] | None = None


class Turns:
    """The turn engine of one process (server or worker), made by the composition root."""

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        senders: dict[str, Sender],
        llm: LLMService | None = None,
        media: dict[str, MediaFetcher] | None = None,
        redis=None,  # redis.asyncio.Redis when configured: locks across processes
        agents: Sequence[AgentSpec] | None = None,  # default: the registry's
    ) -> None:
        self.settings, self.engine, self.senders, self.llm = settings, engine, senders, llm
        self.media = media if media is not None else {}
        self.redis = redis
        self.agents = tuple(agents or AGENTS)
        self.locks: dict[str, asyncio.Lock] = {}
        self.memory: ConversationMemory | None = None  # opened in the running event loop
        self._graph = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Lock | None = None

    async def graph(self):
        """The supervisor graph over this process's conversation memory. Connections belong
        to the event loop that opened them: a run in another loop (a CLI command, a test)
        opens its own."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            stale, self.memory, self._graph = self.memory, None, None
            self._loop, self._opening = loop, asyncio.Lock()
            if stale is not None:
                await stale.close()
        assert self._opening is not None
        async with self._opening:
            if self._graph is None:
                self.memory = await open_memory(self.settings)
                self._graph = build_graph(self.memory.checkpointer, self.memory.store, self.agents)
        return self._graph

    async def close(self) -> None:
        if self.memory is not None:
            await self.memory.close()
            self.memory, self._graph = None, None
        if self.llm is not None:
            await self.llm.close()

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """One run at a time per conversation. Across processes (Redis) a run that finds the
        lock taken raises `Busy` at once instead of holding a worker slot while it waits."""
        if self.redis is not None:
            lock = self.redis.lock(f"{self.settings.redis_prefix}:lock:{key}", timeout=LOCK_TTL_S)
            if not await lock.acquire(blocking=False):
                raise Busy(key)
            try:
                yield
            finally:
                await lock.release()
            return
        async with self.locks.setdefault(key, asyncio.Lock()):
            yield

    def offered(self, role: Role) -> list[dict]:
        """What a role can ask for, from the registry: the console's suggestions and the
        agent API's list of agents."""
        return [
            {
                "name": spec.name,
                "title": spec.menu[0] if spec.menu else spec.name,
                "example": spec.menu[1] if spec.menu else "",
                "description": spec.description,
                "commands": list(spec.commands),
                "prompts": list(spec.prompts),
                "tools": list(spec.tools),
            }
            for spec in self.agents
            if role in spec.roles
        ]

    # -- channels: a sender's unanswered messages -------------------------------------------

    async def answer_conversation(self, company_id: uuid.UUID, channel: str, sender: str) -> int:
        """Answer the sender's unanswered messages and deliver what is queued for them;
        returns how many messages were answered."""
        answered = 0
        elsewhere: set[tuple[str, str]] = set()
        async with self.lock(conversation_key(company_id, channel, sender)):
            while batch := self._claim(company_id, channel, sender):
                elsewhere |= await self._answer(company_id, channel, sender, batch)
                answered += len(batch)
            with company_session(company_id, self.engine) as session:
                await deliver(session, self.senders.get(channel), channel, sender, self.settings)
        await self._deliver_elsewhere(company_id, elsewhere)
        return answered

    async def _deliver_elsewhere(
        self, company_id: uuid.UUID, conversations: set[tuple[str, str]]
    ) -> None:
        """Deliver what a turn queued for other people, each under their conversation's lock
        (taken after the sender's is released: two turns alerting each other cannot deadlock).
        One busy elsewhere delivers it itself when its run ends; the sweeper is the backstop."""
        for channel, to in sorted(conversations):
            try:
                async with self.lock(conversation_key(company_id, channel, to)):
                    with company_session(company_id, self.engine) as session:
                        await deliver(
                            session, self.senders.get(channel), channel, to, self.settings
                        )
            except Busy:
                continue

    def _claim(self, company_id: uuid.UUID, channel: str, sender: str) -> list[uuid.UUID]:
        with company_session(company_id, self.engine) as session:
            rows = session.exec(
                select(Message)
                .where(
                    Message.channel == channel,
                    Message.sender == sender,
                    Message.direction == Direction.inbound,
                    Message.status.in_(outbox.UNANSWERED),
                )
                .order_by(Message.created_at)
            ).all()
            for row in rows:
                row.status = "processing"
            session.commit()
            return [row.id for row in rows]

    async def _answer(
        self, company_id: uuid.UUID, channel: str, sender: str, batch: list[uuid.UUID]
    ) -> set[tuple[str, str]]:
        """Answer a batch; returns the other conversations its turns queued messages for."""
        with company_session(company_id, self.engine) as session:
            messages = [session.get(Message, message_id) for message_id in batch]
            our_number = messages[0].recipient
            person = _person(session, sender)
            if person is None:
                outbox.record(
                    session, channel, our_number, sender, [OutboundMessage(text=UNKNOWN_SENDER)]
                )
                outbox.mark_answered(session, batch)
                session.commit()
                return set()
            ctx = await self._context(session, company_id, channel, sender, our_number, person)
            for unit in _units(messages):
                async for _ in self._turn(ctx, unit):
                    pass
            return ctx.elsewhere

    # -- the agent API: one stored message, streamed -------------------------------------

    async def stream(
        self,
        company_id: uuid.UUID,
        person: Person,
        message_id: uuid.UUID,
        sender: Sender,
    ) -> AsyncIterator[TurnEvent]:
        """Answer one stored message (its channel, sender and recipient as stored), yielding
        each graph node's update, then the replies once committed and handed to `sender`.
        A failure marks the message failed and is raised."""
        with company_session(company_id, self.engine) as session:
            message = session.get(Message, message_id)
            channel, address = message.channel, message.sender
            ctx = await self._context(
                session, company_id, channel, address, message.recipient, person
            )
            async for node, update in self._turn(ctx, [message], apologise=False):
                yield TurnEvent(node=node, update=update)
            replies = list(ctx.replies)
            await deliver(session, sender, channel, address, self.settings)
        await self._deliver_elsewhere(company_id, ctx.elsewhere)
        yield TurnEvent(replies=replies)

    # -- one turn ------------------------------------------------------------------------

    async def _context(
        self,
        session: CompanySession,
        company_id: uuid.UUID,
        channel: str,
        address: str,
        our_number: str,
        person: Person,
    ) -> AgentContext:
        """The context every turn of this conversation runs in."""
        conversation = session.exec(
            select(Conversation).where(
                Conversation.channel == channel, Conversation.sender == address
            )
        ).first()
        if conversation is None:
            conversation = Conversation(channel=channel, sender=address, state={})
            session.add(conversation)
        session.commit()  # nothing written may wait across the graph's awaits
        graph = await self.graph()
        assert self.memory is not None and graph is not None
        llm = self.llm.with_pii(await asyncio.to_thread(pii_context, session)) if self.llm else None
        return AgentContext(
            session=session,
            company_id=company_id,
            channel=channel,
            conversation=conversation,
            sender=person,
            settings=self.settings,
            engine=self.engine,
            llm=llm,
            store=self.memory.store,
            address=address,
            our_number=our_number,
            agents=self.agents,
            redis=self.redis,
        )

    async def _turn(
        self, ctx: AgentContext, unit: list[Message], apologise: bool = True
    ) -> AsyncIterator[tuple[str, dict]]:
        """One turn: what the unit of messages says, through the graph, committed."""
        first = unit[0]
        ctx.begin([message.id for message in unit])
        if first.kind in ("audio", "image"):
            heard = await self._understood(ctx, first)
            if heard.problem:
                ctx.say(heard.problem)
                ctx.commit()
                return
            text = heard.text
            ctx.preface = "\n".join([heard.heard, *heard.notes])
            ctx.speak = first.kind == "audio" and bool(
                (await recall(ctx.store, ctx.company_id, ctx.sender.key)).get("voice_replies")
            )
        elif first.kind == "location" and (where := first.payload["message"].get("location")):
            text = f"/checkin {where['lat']},{where['lng']}"  # a rep checking in at a store
        elif first.kind not in ("text", "button"):
            ctx.say(NOT_READ.get(first.kind, NOT_READ["unsupported"]))
            ctx.commit()
            return
        else:
            text = "\n".join(message.body for message in unit)
        limit = self.settings.max_message_chars
        if len(text) > limit:
            ctx.say(f"Your message was very long; I read its first {limit} characters.")
            text = text[:limit]
        choice = (
            first.payload.get("message", {}).get("choice_id") if first.kind == "button" else None
        )
        graph = await self.graph()
        config = {
            "configurable": {"thread_id": thread_id(ctx.company_id, ctx.channel, ctx.address)}
        }
        try:
            async for update in graph.astream(
                {"text": text, "choice": choice}, config, context=ctx, stream_mode="updates"
            ):
                for node, values in update.items():
                    yield node, values or {}
            if ctx.preface and not ctx.replies:  # what was heard stands alone
                ctx.say(ctx.preface)
                ctx.preface = ""
            ctx.commit()
        except IntegrityError:
            ctx.session.rollback()
            raise  # an order number taken meanwhile: the whole job is retried
        except Exception as exc:
            ctx.session.rollback()
            if not apologise:
                _failed(ctx.session, ctx.answering, exc)
                raise
            # one bad turn must not hold the conversation: say so, go on
            log.exception("turn failed for %s on %s", ctx.address, ctx.channel)
            ctx.conversation.state = {}
            ctx.unsay()
            ctx.say(SORRY + SORRY_NEXT.get(ctx.sender.role, "Please send it again."))
            ctx.commit()

    async def _understood(self, ctx: AgentContext, message: Message) -> MediaText:
        """The voice note's transcript or the photo's text, kept on the message (what we heard
        is part of the record), committed before the graph's awaits."""
        heard = await media_text(
            self.settings, self.media.get(ctx.channel), ctx.session, message, ctx.parser
        )
        message.payload = {**message.payload, "understood": heard.text, "problem": heard.problem}
        ctx.session.commit()
        return heard


def conversation_key(company_id: uuid.UUID | str, channel: str, sender: str) -> str:
    return f"{company_id}:{channel}:{sender}"


def _person(session: CompanySession, phone: str) -> Person | None:
    """Who a phone number is; None for a stranger, or a retailer whose store is gone."""
    user = who(session, phone)
    if user is None:
        return None
    if user.role == Role.retailer and (
        user.store_id is None or session.get(Store, user.store_id) is None
    ):
        return None
    return Person(
        role=Role(user.role),
        name=user.name,
        key=str(user.id),
        store_id=user.store_id,
        rep_id=user.rep_id,
    )


def _failed(session: CompanySession, message_ids: list[uuid.UUID], error: Exception) -> None:
    """A run that failed leaves nothing but its input, marked failed with the reason."""
    for message in session.exec(select(Message).where(Message.id.in_(message_ids))):
        message.status = "failed"
        message.error = f"{type(error).__name__}: {error}"[:500]
    session.commit()


def _units(messages: list[Message]) -> list[list[Message]]:
    """Consecutive texts are read together (an order sent in pieces); a button, a media
    message or a command stands alone ("done 1" after an order is not a product)."""
    units: list[list[Message]] = []
    for message in messages:
        if (
            message.kind == "text"
            and units
            and units[-1][-1].kind == "text"
            and not _command(message)
            and not _command(units[-1][-1])
        ):
            units[-1].append(message)
        else:
            units.append([message])
    return units


def _command(message: Message) -> bool:
    """A text an agent's command or sure rule decides alone: "/tasks", "done 1", "checkout"."""
    text = (message.body or "").strip()
    first = text.lower().split(" ", 1)[0]
    return any(
        first in spec.commands or (spec.sure is not None and spec.sure.search(text) is not None)
        for spec in AGENTS
    )
