"""Inbound messages: routed to the company that owns the number, stored before anything else
happens to them, exactly once, then queued for an answer.

The unique (channel, provider_message_id) key in the database drops a provider's retry in any
server process, across restarts. Text a database cannot hold (NUL, a lone surrogate) is stored
cleaned, the exact payload beside it, never refused. A message to a number no company claims is
kept as a dead letter (`UnroutedMessage`) and raises an alert, never acknowledged and dropped.
A sender over their per-minute limit has the excess stored, not answered, and is asked once per
minute to slow down. Statuses of our outbound messages (sent, delivered, read, failed) are
recorded on them.
"""

import json
import logging
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from weakref import WeakKeyDictionary

from prometheus_client import Counter
from redis.exceptions import RedisError
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from channels.ratelimit import RateLimiter
from db import outbox
from db.engine import company_session, system_session
from db.models import Company, Direction, Message, UnroutedMessage
from messages import Button, InboundMessage, OutboundMessage

log = logging.getLogger("opensales.inbox")

UNROUTED = Counter(
    "opensales_unrouted_messages_total",
    "Messages to a number no company claims, kept as dead letters",
    ["channel"],
)
LIMITED = Counter(
    "opensales_inbound_limited_total",
    "Messages stored but not answered: sender over the limit",
    ["channel"],
)
SLOW_DOWN = (
    "You are sending messages faster than I can read them, so I have kept your last ones "
    "without acting on them. Please wait {seconds} seconds, then send your order again."
)
NUMBER_KEYS = {"whatsapp": "whatsapp_phone_number_id", "sms": "sms_phone_number_id",
               "voice": "voice_phone_number_id"}  # fmt: skip
COMPANIES_TTL_S = 30.0
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates


def clean(value: Any) -> Any:
    """`value` with NUL removed and lone surrogates replaced (U+FFFD) in every string: what
    PostgreSQL text and JSON, and UTF-8 itself, cannot hold."""
    if isinstance(value, str):
        return UNSTORABLE.sub(lambda m: "" if m.group(0) == "\x00" else "\ufffd", value)
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


class Companies:
    """The live companies of a database, read at most every 30 s (every webhook needs them),
    and again at once when one is asked for that is not known yet."""

    _cache: "WeakKeyDictionary[Engine, tuple[float, list[Company]]]" = WeakKeyDictionary()

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def all(self, fresh: bool = False) -> list[Company]:
        cached = self._cache.get(self.engine)
        if fresh or cached is None or time.monotonic() - cached[0] > COMPANIES_TTL_S:
            with system_session(self.engine) as session:
                companies = session.exec(select(Company).where(Company.deleted_at.is_(None)))
                found = list(companies.all())
                session.expunge_all()
            cached = self._cache[self.engine] = (time.monotonic(), found)
        return cached[1]

    def get(self, company_id: uuid.UUID) -> Company | None:
        for fresh in (False, True):
            for company in self.all(fresh):
                if company.id == company_id:
                    return company
        return None

    def for_number(self, channel: str, number: str, default_number: str | None) -> uuid.UUID | None:
        """The company whose settings name this business number (`whatsapp_phone_number_id`,
        `sms_phone_number_id`, `voice_phone_number_id`); else, when there is only one company,
        that one for the configured number (or any, when none is configured); else None."""
        key = NUMBER_KEYS.get(channel, f"{channel}_phone_number_id")
        for fresh in (False, True):
            companies = self.all(fresh)
            for company in companies:
                if company.settings.get(key) == number:
                    return company.id
            if len(companies) == 1 and default_number in (None, number):
                return companies[0].id
        return None


def company_for_number(
    engine: Engine, channel: str, number: str, default_number: str | None = None
) -> uuid.UUID | None:
    return Companies(engine).for_number(channel, number, default_number)


def store_inbound(
    engine: Engine, company_id: uuid.UUID, message: InboundMessage, raw: dict
) -> uuid.UUID | None:
    """The stored message's id, or None when this provider message id was stored before."""
    fields = message.model_dump(mode="json")
    cleaned = clean(fields)
    payload = {"message": cleaned, "raw": clean(raw)}
    if cleaned != fields or payload["raw"] != raw:  # the exact text, in escapes a DB can hold
        payload["raw_json"] = json.dumps({"message": fields, "raw": raw}, ensure_ascii=True)
    with company_session(company_id, engine) as session:
        row = Message(
            channel=cleaned["channel"],
            direction=Direction.inbound,
            provider_message_id=cleaned["provider_message_id"],
            sender=cleaned["sender"],
            recipient=cleaned["recipient"],
            kind=message.kind.value,
            body=cleaned["text"],
            payload=payload,
            status="received",
            created_at=message.received_at,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            log.info(
                "dropped a repeated delivery of %s %r", message.channel, row.provider_message_id
            )
            return None
        return row.id


def park(engine: Engine, message: InboundMessage, raw: dict) -> bool:
    """Keep a message no company claims, and raise the alarm (an error log and the
    `opensales_unrouted_messages_total` counter). False when it was kept before (a retry)."""
    fields = clean(message.model_dump(mode="json"))
    with system_session(engine) as session:
        session.add(
            UnroutedMessage(
                channel=message.channel,
                provider_message_id=fields["provider_message_id"],
                sender=fields["sender"],
                recipient=fields["recipient"],
                payload={"message": fields, "raw": clean(raw)},
            )
        )
        try:
            session.commit()
        except IntegrityError:
            return False
    UNROUTED.labels(message.channel).inc()
    option = (
        "--whatsapp-number-id" if message.channel == "whatsapp" else f"--{message.channel}-number"
    )
    log.error(
        "no company owns %s number %s: message %s from %s kept as a dead letter. Give the "
        "number to a company (opensales company set SLUG %s %s), then run "
        "opensales unrouted --replay",
        message.channel, message.recipient, fields["provider_message_id"], message.sender,
        option, message.recipient,
    )  # fmt: skip
    return True


class Intake:
    """Where every channel's inbound messages come in: route, store once, limit, queue."""

    def __init__(self, engine: Engine, queue, limiter: RateLimiter) -> None:
        self.engine, self.queue, self.limiter = engine, queue, limiter
        self.companies = Companies(engine)

    async def accept(self, company_id: uuid.UUID, message: InboundMessage, raw: dict) -> bool:
        """Store the message and queue its conversation for an answer; True when it was new.
        Over the sender's limit it is stored and not answered (`limited`)."""
        message_id = store_inbound(self.engine, company_id, message, raw)
        if message_id is None:
            return False
        if await self.within_limit(company_id, message_id, message):
            await self.queue.enqueue(company_id, message.channel, message.sender)
        return True

    async def within_limit(
        self, company_id: uuid.UUID, message_id: uuid.UUID, message: InboundMessage
    ) -> bool:
        """Count the stored message against its sender's per-minute limit. Over it, the message
        is marked `limited`, and the first one over it in a minute queues one slow-down reply."""
        try:
            over = await self.limiter.over(f"{company_id}:{message.channel}:{message.sender}")
        except (OSError, RedisError) as exc:  # a limiter that is down limits nobody
            log.warning("inbound limit not checked (%s); answering", exc)
            return True
        if over is None:
            return True
        LIMITED.labels(message.channel).inc()
        with company_session(company_id, self.engine) as session:
            row = session.get(Message, message_id)
            row.status, row.processed_at = "limited", datetime.now(UTC)
            if over[0] == 1:
                reply = OutboundMessage(text=SLOW_DOWN.format(seconds=max(1, round(over[1]))))
                outbox.record(session, message.channel, row.recipient, row.sender, [reply])
            session.commit()
        if over[0] == 1:
            await self.queue.enqueue(company_id, message.channel, message.sender)  # delivers it
        return False


def record_status(
    engine: Engine,
    company_id: uuid.UUID,
    channel: str,
    provider_message_id: str,
    status: str,
    error: str | None,
) -> bool:
    """Mark one of our outbound messages sent, delivered, read or failed."""
    with company_session(company_id, engine) as session:
        row = session.exec(
            select(Message).where(
                Message.channel == channel,
                Message.provider_message_id == provider_message_id,
                Message.direction == Direction.outbound,
            )
        ).first()
        if row is None:
            return False
        row.status = status
        row.error = error
        session.commit()
        return True


OPTION = re.compile(r"\s*(\d{1,2})\s*[.)]?\s*")


def option_chosen(
    engine: Engine, company_id: uuid.UUID, channel: str, our_number: str, sender: str, text: str
) -> Button | None:
    """The option a bare number ("2", "2.") picks among those of our last message to this
    sender: SMS and phone calls have no buttons, so options are numbered there."""
    if not (match := OPTION.fullmatch(text)):
        return None
    with company_session(company_id, engine) as session:
        last = session.exec(
            select(Message)
            .where(
                Message.channel == channel,
                Message.direction == Direction.outbound,
                Message.sender == our_number,
                Message.recipient == sender,
                Message.status != "failed",  # never reached them
            )
            .order_by(Message.created_at.desc())
        ).first()
    buttons = last.payload.get("buttons", []) if last is not None else []
    number = int(match.group(1))
    return Button(**buttons[number - 1]) if 1 <= number <= len(buttons) else None
