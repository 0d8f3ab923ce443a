"""The one job: answer what a sender has said since we last answered them.

It takes the conversation's stored, unanswered messages in order (a burst is answered together),
runs each turn through the supervisor graph, sends and logs the replies, and marks the messages
answered. It runs once at a time per conversation (a lock), and running it again after a crash
is safe: unanswered messages are taken again, and an order is created once per source message.
"""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from agents.context import AgentContext, Person
from channels.media import MediaFetcher
from channels.messages import OutboundMessage
from channels.outbox import Sender, log_outbound
from db.engine import company_session
from db.models import Conversation, Direction, Message, Role, Store
from jobs.media import MediaText, media_text
from llm.service import LLMService
from memory.conversations import ConversationMemory, open_memory, thread_id
from memory.profile import recall
from settings import Settings
from tools.identity import who

log = logging.getLogger("opensales.jobs")

UNKNOWN_SENDER = (
    "Namaste! This number takes orders from our registered retailers. Please ask your sales "
    "representative to add your number, and then message us again."
)
SORRY = "Sorry, something went wrong with that message. Please send your order again."
NOT_READ = {
    "location": "Thanks for the location.",
    "unsupported": "I can read text, voice notes and photos of order lists. Please type your "
    'order, e.g. "2 cs Parle-G 250g".',
}


# A turn takes seconds (an LLM call is cut at its deadline); a lock left by a run that died
# frees itself after this long.
LOCK_TTL_S = 60


class Busy(Exception):
    """Another process is answering this conversation right now."""


@dataclass
class Runtime:
    """What a job needs, made once per process (server or worker)."""

    settings: Settings
    engine: Engine
    senders: dict[str, Sender]
    llm: LLMService | None = None
    media: dict[str, MediaFetcher] = field(default_factory=dict)  # per channel
    locks: dict[str, asyncio.Lock] = field(default_factory=dict)
    redis: object | None = None  # redis.asyncio.Redis when configured: locks across processes
    memory: ConversationMemory | None = None  # opened on first use, in the running event loop
    _graph: object | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _opening: asyncio.Lock | None = None

    async def agent_graph(self):
        """The supervisor graph over this process's conversation memory. Connections belong
        to the event loop that opened them: a run in another loop (a CLI command, a test)
        opens its own."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            stale, self.memory, self._graph = self.memory, None, None
            self._loop, self._opening = loop, asyncio.Lock()
            if stale is not None:
                await stale.close()
        async with self._opening:
            if self._graph is None:
                from graph import build_graph

                self.memory = await open_memory(self.settings)
                self._graph = build_graph(self.memory.checkpointer, self.memory.store)
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
            lock = self.redis.lock(f"opensales:lock:{key}", timeout=LOCK_TTL_S)
            if not await lock.acquire(blocking=False):
                raise Busy(key)
            try:
                yield
            finally:
                await lock.release()
            return
        async with self.locks.setdefault(key, asyncio.Lock()):
            yield


def conversation_key(company_id: uuid.UUID | str, channel: str, sender: str) -> str:
    return f"{company_id}:{channel}:{sender}"


async def process_conversation(
    runtime: Runtime, company_id: uuid.UUID, channel: str, sender: str
) -> int:
    """Answer the sender's unanswered messages; returns how many were answered."""
    answered = 0
    async with runtime.lock(conversation_key(company_id, channel, sender)):
        while batch := _claim(runtime, company_id, channel, sender):
            await _answer(runtime, company_id, channel, sender, batch)
            answered += len(batch)
    return answered


def _claim(runtime: Runtime, company_id: uuid.UUID, channel: str, sender: str) -> list[uuid.UUID]:
    with company_session(company_id, runtime.engine) as session:
        rows = session.exec(
            select(Message)
            .where(
                Message.channel == channel,
                Message.sender == sender,
                Message.direction == Direction.inbound,
                Message.status.in_(("received", "processing")),
            )
            .order_by(Message.created_at)
        ).all()
        for row in rows:
            row.status = "processing"
        session.commit()
        return [row.id for row in rows]


async def _answer(
    runtime: Runtime, company_id: uuid.UUID, channel: str, sender: str, batch: list[uuid.UUID]
) -> None:
    with company_session(company_id, runtime.engine) as session:
        messages = [session.get(Message, message_id) for message_id in batch]
        replies = await _replies(runtime, session, channel, sender, messages)
        session.commit()  # the orders and the conversation state, before anything is sent
        our_number = messages[0].recipient
        if channel == "whatsapp" and not _window_open(messages[-1]):
            replies = [_as_template(runtime.settings, reply) for reply in replies]
        for reply in replies:
            try:
                provider_id = await runtime.senders[channel].send(sender, reply)
                log_outbound(session, channel, our_number, sender, reply, provider_id, "sent")
            except Exception as exc:  # logged and kept; the provider may be down
                log.exception("sending to %s failed", sender)
                log_outbound(
                    session,
                    channel,
                    our_number,
                    sender,
                    reply,
                    f"failed.{uuid.uuid4().hex}",
                    "failed",
                    str(exc)[:500],
                )
        for message in messages:
            message.status = "processed"
            message.processed_at = datetime.now(UTC)
        session.commit()


async def _replies(
    runtime: Runtime, session, channel: str, sender: str, messages: list[Message]
) -> list[OutboundMessage]:
    user = who(session, sender)
    if user is None:
        return [OutboundMessage(text=UNKNOWN_SENDER)]
    if user.role == Role.retailer and (
        user.store_id is None or session.get(Store, user.store_id) is None
    ):
        return [OutboundMessage(text=UNKNOWN_SENDER)]  # the store was removed: no orders for it
    conversation = session.exec(
        select(Conversation).where(Conversation.channel == channel, Conversation.sender == sender)
    ).first()
    if conversation is None:
        conversation = Conversation(channel=channel, sender=sender, state={})
        session.add(conversation)
    session.commit()  # nothing written may wait across the graph's awaits
    graph = await runtime.agent_graph()
    ctx = AgentContext(
        session=session,
        company_id=user.company_id,
        channel=channel,
        conversation=conversation,
        sender=Person(
            role=Role(user.role),
            name=user.name,
            key=str(user.id),
            store_id=user.store_id,
            rep_id=user.rep_id,
        ),
        settings=runtime.settings,
        engine=runtime.engine,
        llm=runtime.llm,
        store=runtime.memory.store if runtime.memory else None,
    )
    config = {"configurable": {"thread_id": thread_id(user.company_id, channel, sender)}}
    replies: list[OutboundMessage] = []
    for unit in _units(messages):
        kind = unit[0].kind
        heard = None
        if kind in ("audio", "image"):
            heard = await _understood_media(runtime, ctx, unit[0])
            if heard.problem:
                replies.append(OutboundMessage(text=heard.problem))
                continue
        elif kind not in ("text", "button"):
            replies.append(OutboundMessage(text=NOT_READ.get(kind, NOT_READ["unsupported"])))
            continue
        text = heard.text if heard else "\n".join(message.body for message in unit)
        limit = runtime.settings.max_message_chars
        if len(text) > limit:
            replies.append(
                OutboundMessage(
                    text=(f"Your message was very long; I read its first {limit} characters.")
                )
            )
            text = text[:limit]
        choice = unit[0].payload.get("message", {}).get("choice_id") if kind == "button" else None
        ctx.replies, ctx.source_message_id = [], unit[0].id
        try:
            await graph.ainvoke({"text": text, "choice": choice}, config, context=ctx)
            if heard is not None:
                ctx.replies = _said_back(heard, ctx.replies)
            if kind == "audio" and (await recall(ctx.store, user.company_id, str(user.id))).get(
                "voice_replies"
            ):
                ctx.replies = [await _spoken(runtime.settings, reply) for reply in ctx.replies]
            replies += ctx.replies
            # Commit each turn: no row lock may be held across the next turn's awaits, or
            # another conversation's job on this event loop could block on it, and the loop.
            session.commit()
        except IntegrityError:
            session.rollback()
            raise  # an order number taken meanwhile: the whole job is retried
        except Exception:  # one bad turn must not hold the conversation: say so, go on
            log.exception("turn failed for %s", sender)
            session.rollback()
            conversation.state = {}
            session.commit()
            replies.append(OutboundMessage(text=SORRY))
    return replies


async def _understood_media(runtime: Runtime, ctx: AgentContext, message: Message) -> MediaText:
    """The voice note's transcript or the photo's text, kept on the message (what we heard is
    part of the record), committed before the graph's awaits."""
    heard = await media_text(
        runtime.settings, runtime.media.get(ctx.channel), ctx.session, message, ctx.parser
    )
    message.payload = {**message.payload, "understood": heard.text, "problem": heard.problem}
    ctx.session.commit()
    return heard


def _said_back(heard: MediaText, replies: list[OutboundMessage]) -> list[OutboundMessage]:
    """The answer starts with what was heard or read, so a wrong transcript is seen at once."""
    first = "\n".join([heard.heard, *heard.notes])
    if not replies:
        return [OutboundMessage(text=first)]
    head = replies[0]
    return [head.model_copy(update={"text": f"{first}\n{head.text}".strip()}), *replies[1:]]


async def _spoken(settings: Settings, reply: OutboundMessage) -> OutboundMessage:
    """The reply with a voice note of its text (for users who asked for spoken replies)."""
    if not reply.text or reply.template:
        return reply
    from speech.audio import encode_ogg_opus
    from speech.tts import get_tts

    tts = await asyncio.to_thread(get_tts, settings)
    samples = await asyncio.to_thread(tts.synthesize, reply.text)
    audio = await asyncio.to_thread(encode_ogg_opus, samples, tts.sample_rate)
    return reply.model_copy(update={"audio": audio})


def _window_open(last: Message) -> bool:
    """WhatsApp's customer-service window: free-form replies only within 24 h of the sender's
    last message (answers delayed by an outage can fall outside it)."""
    return datetime.now(UTC) - last.created_at < timedelta(hours=24)


def _as_template(settings: Settings, reply: OutboundMessage) -> OutboundMessage:
    """Outside the window only an approved template may be sent; ours carries the text."""
    return OutboundMessage(
        template=settings.whatsapp_template,
        template_language=settings.whatsapp_template_language,
        template_params=[reply.text[:1000]],
        text=reply.text,
    )


def _units(messages: list[Message]) -> list[list[Message]]:
    """Consecutive texts are read together; a button or a media message stands alone."""
    units: list[list[Message]] = []
    for message in messages:
        if message.kind == "text" and units and units[-1][-1].kind == "text":
            units[-1].append(message)
        else:
            units.append([message])
    return units
