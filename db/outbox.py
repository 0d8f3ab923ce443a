"""The message log around a turn: what it answered, and its replies, kept with what it did.

A turn commits in one transaction what it changed (an order, a completed task), the inbound
messages it answered marked `processed`, and its replies `queued`. Replies are then delivered and
marked `sent` or `failed`. So after a crash either all of a turn is there, its queued replies
waiting for the sweeper to deliver them, or none of it is and its messages are answered again:
an order is never separated from the message that asked for it.
"""

import json
import uuid
from datetime import UTC, datetime

from sqlmodel import select

from db.models import Direction, Message
from db.scope import CompanySession
from messages import OutboundMessage

QUEUED, SENT, FAILED = "queued", "sent", "failed"
UNANSWERED = ("received", "processing")


def mark_answered(session: CompanySession, message_ids: list[uuid.UUID]) -> None:
    if not message_ids:
        return
    now = datetime.now(UTC)
    for message in session.exec(
        select(Message).where(Message.id.in_(message_ids), Message.status.in_(UNANSWERED))
    ):
        message.status, message.processed_at = "processed", now


def record(
    session: CompanySession,
    channel: str,
    our_number: str,
    to: str,
    replies: list[OutboundMessage],
    status: str = QUEUED,
) -> list[Message]:
    """Replies in the log; until sent, a placeholder stands for the provider's id."""
    rows = []
    for reply in replies:
        row = Message(
            channel=channel,
            direction=Direction.outbound,
            provider_message_id=f"queued.{uuid.uuid4().hex}",
            sender=our_number,
            recipient=to,
            kind="template" if reply.template else "text",
            body=reply.text,
            status=status,
            payload=reply.model_dump(mode="json"),
        )
        session.add(row)
        rows.append(row)
    return rows


def queued(session: CompanySession, channel: str, to: str) -> list[Message]:
    """Replies to `to` still waiting for delivery, oldest first."""
    return list(
        session.exec(
            select(Message)
            .where(
                Message.channel == channel,
                Message.direction == Direction.outbound,
                Message.recipient == to,
                Message.status == QUEUED,
            )
            .order_by(Message.created_at)
        ).all()
    )


def reply_of(row: Message) -> OutboundMessage:
    return OutboundMessage.model_validate_json(json.dumps(row.payload))


def sent(row: Message, provider_message_id: str, reply: OutboundMessage) -> None:
    """Delivered as `reply` (a template outside WhatsApp's window, say); its bytes are not
    kept once sent."""
    row.status, row.provider_message_id = SENT, provider_message_id
    row.kind = "template" if reply.template else row.kind
    row.payload = reply.model_dump(mode="json", exclude={"image", "audio"})


def failed(row: Message, error: str) -> None:
    row.status, row.error = FAILED, error[:500]
    row.payload = {k: v for k, v in row.payload.items() if k not in ("image", "audio")}


def last_inbound_at(session: CompanySession, channel: str, sender: str) -> datetime | None:
    return session.exec(
        select(Message.created_at)
        .where(
            Message.channel == channel,
            Message.direction == Direction.inbound,
            Message.sender == sender,
        )
        .order_by(Message.created_at.desc())
        .limit(1)
    ).first()
