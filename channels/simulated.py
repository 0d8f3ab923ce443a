"""A provider that keeps what it is given: the web console's, and the tests'.

Channels without credentials (no WhatsApp token, no Twilio account) use it too: replies are
kept in memory and logged, not sent to anybody.
"""

import itertools
import uuid
from collections import defaultdict

from messages import OutboundMessage


class SimulatedSender:
    def __init__(self, channel: str = "console") -> None:
        self.channel = channel
        self.sent: dict[str, list[OutboundMessage]] = defaultdict(list)
        self._ids = itertools.count(1)

    async def send(self, to: str, message: OutboundMessage) -> str:
        self.sent[to].append(message)
        return f"sim.{uuid.uuid4().hex[:8]}.{next(self._ids)}"
