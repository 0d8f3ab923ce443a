"""Storing inbound messages before anything else happens to them, exactly once.

The unique (channel, provider_message_id) key in the database drops a provider's retry in any
server process, across restarts. A message is tied to the company that owns the number it was
sent to; statuses of our outbound messages (sent, delivered, read, failed) are recorded on them.
"""

import logging
import re
import time
import uuid

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from db.engine import company_session, system_session
from db.models import Company, Direction, Message
from messages import Button, InboundMessage

log = logging.getLogger("opensales.inbox")


_companies: dict[int, tuple[float, list[Company]]] = {}
COMPANIES_TTL_S = 30.0


def _live_companies(engine: Engine) -> list[Company]:
    """The companies, read at most every 30 s per engine: every webhook call needs them."""
    cached = _companies.get(id(engine))
    if cached is None or time.monotonic() - cached[0] > COMPANIES_TTL_S:
        with system_session(engine) as session:
            companies = session.exec(select(Company).where(Company.deleted_at.is_(None))).all()
            session.expunge_all()
        cached = _companies[id(engine)] = (time.monotonic(), list(companies))
    return cached[1]


def company_for_number(
    engine: Engine, channel: str, number: str, default_number: str | None = None
) -> uuid.UUID | None:
    """The company whose settings name this business number (`<channel>_phone_number_id`), or the
    only company there is when the number is the configured default or none is configured."""
    key = f"{channel}_phone_number_id"
    companies = _live_companies(engine)
    for company in companies:
        if company.settings.get(key) == number:
            return company.id
    if len(companies) == 1 and default_number in (None, number):
        return companies[0].id
    return None


def store_inbound(
    engine: Engine, company_id: uuid.UUID, message: InboundMessage, raw: dict
) -> uuid.UUID | None:
    """The stored message's id, or None when this provider message id was stored before."""
    with company_session(company_id, engine) as session:
        row = Message(
            channel=message.channel,
            direction=Direction.inbound,
            provider_message_id=message.provider_message_id,
            sender=message.sender,
            recipient=message.recipient,
            kind=message.kind.value,
            body=message.text,
            payload={"message": message.model_dump(mode="json"), "raw": raw},
            status="received",
            created_at=message.received_at,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            log.info(
                "dropped a repeated delivery of %s %s", message.channel, message.provider_message_id
            )
            return None
        return row.id


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
