"""Sending replies, and keeping every one of them in the message log.

`Sender` is what each channel adapter provides; `SimulatedSender` is the provider of the web
console and the tests: it keeps what was sent instead of calling anybody.
"""

import itertools
import uuid
from collections import defaultdict
from typing import Protocol

from channels.messages import OutboundMessage
from db.models import Direction, Message
from db.scope import CompanySession


class Sender(Protocol):
    channel: str

    async def send(self, to: str, message: OutboundMessage) -> str:
        """Send; return the provider's id of the sent message."""


class SimulatedSender:
    def __init__(self, channel: str = "console") -> None:
        self.channel = channel
        self.sent: dict[str, list[OutboundMessage]] = defaultdict(list)
        self._ids = itertools.count(1)

    async def send(self, to: str, message: OutboundMessage) -> str:
        self.sent[to].append(message)
        return f"sim.{uuid.uuid4().hex[:8]}.{next(self._ids)}"


def log_outbound(
    session: CompanySession,
    channel: str,
    sender: str,
    recipient: str,
    message: OutboundMessage,
    provider_message_id: str,
    status: str,
    error: str | None = None,
) -> None:
    session.add(
        Message(
            channel=channel,
            direction=Direction.outbound,
            provider_message_id=provider_message_id,
            sender=sender,
            recipient=recipient,
            kind="template" if message.template else "text",
            body=message.text,
            status=status,
            error=error,
            payload=message.model_dump(mode="json", exclude={"image", "audio"}),
        )
    )
