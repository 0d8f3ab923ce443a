"""Delivering a conversation's queued replies through its channel's sender.

A reply is shaped for delivery here, not when it is made: outside WhatsApp's 24-hour window it
goes as the approved template, and a reply marked `speak` gets its voice note. Each outcome is
committed as soon as it is known, so a crash mid-way resends at most the reply being sent.
"""

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from db import outbox
from db.scope import CompanySession
from messages import OutboundMessage, Sender
from settings import Settings

log = logging.getLogger("opensales.delivery")
WINDOW = timedelta(hours=24)


async def deliver(
    session: CompanySession, sender: Sender | None, channel: str, to: str, settings: Settings
) -> int:
    """Send the queued replies to `to`; returns how many were sent."""
    rows = outbox.queued(session, channel, to)
    if not rows:
        return 0
    last = outbox.last_inbound_at(session, channel, to) if channel == "whatsapp" else None
    # WhatsApp: with no message from them in 24 h (or ever: a morning push), a template only
    closed = channel == "whatsapp" and (last is None or datetime.now(UTC) - last >= WINDOW)
    delivered = 0
    for row in rows:
        reply = outbox.reply_of(row)
        try:
            if sender is None:
                raise LookupError(f"no sender for channel {channel}")
            if closed:  # an answer delayed by an outage: only a template may go now
                reply = as_template(settings, reply)
            if reply.speak and not reply.audio:
                reply = await spoken(settings, reply)
            provider_id = await sender.send(to, reply)
        except Exception as exc:  # logged and kept; the provider may be down
            log.exception("sending to %s on %s failed", to, channel)
            outbox.failed(row, str(exc) or type(exc).__name__)
        else:
            outbox.sent(row, provider_id, reply)
            delivered += 1
        session.commit()
    return delivered


def as_template(settings: Settings, reply: OutboundMessage) -> OutboundMessage:
    """Outside the window only an approved template may be sent; ours carries the text."""
    return OutboundMessage(
        template=settings.whatsapp_template,
        template_language=settings.whatsapp_template_language,
        template_params=[reply.text[:1000]],
        text=reply.text,
    )


async def spoken(settings: Settings, reply: OutboundMessage) -> OutboundMessage:
    """The reply with a voice note of its text (for users who asked for spoken replies)."""
    if not reply.text or reply.template:
        return reply
    from speech.audio import encode_ogg_opus
    from speech.tts import get_tts

    tts = await asyncio.to_thread(get_tts, settings)
    samples = await asyncio.to_thread(tts.synthesize, reply.text)
    audio = await asyncio.to_thread(encode_ogg_opus, samples, tts.sample_rate)
    return reply.model_copy(update={"audio": audio})
