"""The Twilio SMS adapter: webhook in (verified, stored, queued, acknowledged), replies out through
Twilio's REST API.

The webhook stores every message before it answers, and answers with empty TwiML at once: replies
go out through the REST API from the queue, so a slow turn never meets Twilio's 15 s webhook
timeout. A repeated MessageSid is dropped by the database's unique key and still answered 200.

An SMS has no buttons: a reply's options are sent as numbered lines ("Reply 1 for ..."), and a
bare number that answers our last SMS to that sender is stored as that button.

Keywords (the whole body, case-insensitive, as Twilio matches them) never reach the agents:
- STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE, OPTOUT record an opt-out; START, UNSTOP,
  and YES from an opted-out number remove it. On long codes and toll-free numbers Twilio's default
  opt-out handling blocks the number and confirms itself, so we answer nothing; a short code
  (which Twilio leaves to us unless it is in a Messaging Service) gets our confirmation.
- HELP and INFO are answered with who we are and what works by SMS. With Twilio's default
  handling the sender also gets Twilio's own HELP text; Advanced Opt-Out on a Messaging Service
  can turn that off.
An opted-out number's messages are stored and closed unanswered, and `TwilioSMSSender` refuses
to send to it (the pipeline logs the refusal as a failed message).
"""

import logging
import re
import uuid
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlmodel import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from channels.inbox import company_for_number, option_chosen, park, store_inbound
from channels.twilio_signature import signed_form
from db.engine import company_session
from db.models import Channel, Company, Message, OptOut
from db.scope import CompanySession
from errors import ApiError
from messages import InboundMessage, Kind, OutboundMessage
from settings import Settings

log = logging.getLogger("opensales.sms")
MAX_BODY = 64 << 10  # a form of at most 1600 characters of text and ten media URLs

STOP_WORDS = {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"}
START_WORDS = {"START", "UNSTOP"}  # and YES, from an opted-out number only
HELP_WORDS = {"HELP", "INFO"}
HELP = (
    '{company}: order by SMS, e.g. "2 cs Parle-G 250g". Ask "where is my order" for '
    'status, "schemes" for offers. Reply STOP to unsubscribe.'
)
STOPPED = "You are unsubscribed from {company}: no more messages. Reply START to subscribe again."
STARTED = "You will get {company} messages again. Reply STOP to unsubscribe."
CHART_NOTE = "(Charts show on WhatsApp.)"
TWILIO_STOPPED = 21610  # Twilio's error: the recipient replied STOP to this number

# GSM 03.38: the basic set costs one septet per character, the extension table two (escape + code).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("\f^{}\\[~]|€")
# Typographic marks our replies use, as their GSM-7 look-alikes: one of them alone would turn an
# English reply into UCS-2, at 70 characters a segment instead of 160.
GSM_LOOKALIKES = str.maketrans(
    {
        "•": "-",
        "…": "...",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
        "–": "-",
        "—": "-",
        "✓": "*",
        "\u00a0": " ",
    }
)


def is_gsm7(text: str) -> bool:
    return all(char in GSM_BASIC or char in GSM_EXTENSION for char in text)


def segments(text: str) -> int:
    """How many SMS segments `text` is sent as: GSM-7 (160 septets alone, 153 a part; extension
    characters take two) when every character has a GSM-7 code, else UCS-2 (70 alone, 67 a part;
    a character outside the BMP takes two). A two-unit character is never split across parts."""
    if is_gsm7(text):
        units, single, part = [2 if c in GSM_EXTENSION else 1 for c in text], 160, 153
    else:
        units, single, part = [2 if ord(c) > 0xFFFF else 1 for c in text], 70, 67
    if sum(units) <= single:
        return 1
    count, used = 1, 0
    for size in units:
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count


def fit(text: str, max_segments: int, suffix: str = "") -> str:
    """`text + suffix` in at most `max_segments` segments (one at least): `text` is cut after a
    word and marked with an ellipsis ("..." in GSM-7, where "…" would make the whole SMS UCS-2).
    Options too long to fit even alone are cut with the text."""
    max_segments = max(max_segments, 1)
    if segments(text + suffix) <= max_segments:
        return text + suffix
    if segments("..." + suffix) > max_segments:
        text, suffix = text + suffix, ""
    text = text[: max_segments * 160]  # nothing longer fits; keeps the search short
    words = [match.start() for match in re.finditer(r"\s+", text)]
    for end in [*reversed(words), *range(len(text) - 1, -1, -1)]:  # after a word if one fits
        cut = text[:end].rstrip()
        candidate = cut + ("..." if is_gsm7(cut + suffix) else "…") + suffix
        if segments(candidate) <= max_segments:
            break
    return candidate


def render(message: OutboundMessage, max_segments: int) -> str:
    """One SMS text for a channel-neutral message: its text, its options as numbered lines, a
    chart as its caption and a note; audio is left out."""
    text = message.text
    if message.image:
        text = "\n".join(
            part for part in (message.image_caption or message.text, CHART_NOTE) if part
        )
    options = "".join(
        f"\nReply {n} for {button.title}" for n, button in enumerate(message.buttons, 1)
    )
    return fit(text.translate(GSM_LOOKALIKES), max_segments, options.translate(GSM_LOOKALIKES))


class SendRefused(Exception):
    """An SMS that must not or cannot be sent; the pipeline logs it as a failed message."""


class TwilioSMSSender:
    """Sends through Twilio's Messages API, from our number, to numbers that have not opted out.

    `http_client` is any `twilio.http.AsyncHttpClient` (tests give one that plays Twilio); the
    default opens an HTTP session per message, since the sender is made before the event loop
    that sends, and CLI runs bring loops of their own."""

    channel = "sms"

    def __init__(
        self, settings: Settings, engine: Engine, http_client: AsyncHttpClient | None = None
    ) -> None:
        self.number = settings.twilio_phone_number
        self.max_segments = settings.sms_max_segments
        self.engine = engine
        self.client = Client(
            settings.twilio_account_sid,
            settings.twilio_auth_token,
            http_client=http_client or AsyncTwilioHttpClient(pool_connections=False, timeout=15),
        )

    async def send(self, to: str, message: OutboundMessage) -> str:
        # Opt-outs belong to the company whose number received the STOP: the one we send from.
        company_id = company_for_number(self.engine, "sms", self.number, self.number)
        if company_id is not None:
            with company_session(company_id, self.engine) as session:
                if opted_out(session, to):
                    raise SendRefused(
                        f"{to} has opted out of SMS (STOP); nothing is sent to "
                        "them until they text START"
                    )
        body = render(message, self.max_segments)
        if not body:
            raise SendRefused("the message has nothing an SMS can carry (audio only)")
        try:
            sent = await self.client.messages.create_async(to=to, from_=self.number, body=body)
        except TwilioRestException as exc:
            if exc.code == TWILIO_STOPPED and company_id is not None:  # a STOP we never saw
                with company_session(company_id, self.engine) as session:
                    opt_out(session, to)
                    session.commit()
            raise
        return sent.sid


def opted_out(session: CompanySession, phone: str) -> bool:
    return _opt_out_row(session, phone) is not None


def opt_out(session: CompanySession, phone: str) -> None:
    """Record that `phone` texted STOP; a row left by an earlier START is brought back."""
    row = _opt_out_row(session, phone, include_deleted=True)
    if row is None:
        session.add(OptOut(channel=Channel.sms, phone=phone))
    else:
        row.deleted_at = None


def opt_in(session: CompanySession, phone: str) -> None:
    if (row := _opt_out_row(session, phone)) is not None:
        session.delete(row)  # soft: the row keeps when they opted out and back in


def _opt_out_row(
    session: CompanySession, phone: str, include_deleted: bool = False
) -> OptOut | None:
    return session.exec(
        select(OptOut)
        .where(OptOut.channel == Channel.sms, OptOut.phone == phone)
        .execution_options(include_deleted=include_deleted)
    ).first()


async def receive(request: Request) -> Response:
    """POST: check Twilio's signature, store, then settle a keyword here or queue the message."""
    runtime = request.app.state.runtime
    form = await signed_form(request, MAX_BODY)
    if not (form.get("MessageSid") and form.get("From") and form.get("To")):
        raise ApiError(400, "MALFORMED_PAYLOAD", "MessageSid, From and To are required.")
    intake = runtime.intake
    company_id = intake.companies.for_number(
        "sms", form["To"], runtime.settings.twilio_phone_number
    )
    message = _inbound(runtime.engine, company_id, form)
    if company_id is None:
        park(runtime.engine, message, form)  # kept and alerted
        return _twiml()
    message_id = store_inbound(runtime.engine, company_id, message, form)
    if message_id is None:  # Twilio sent it again
        return _twiml()
    settled, reply = _settle(runtime.engine, company_id, message_id, form)  # STOP always works
    if not settled and await intake.within_limit(company_id, message_id, message):
        await runtime.queue.enqueue(company_id, "sms", message.sender)
    return _twiml(reply)


def _inbound(engine: Engine, company_id: uuid.UUID | None, form: dict[str, str]) -> InboundMessage:
    """Text, a numbered option chosen, or an MMS (its first media; the body is the caption)."""
    kind, text, choice, media, media_type = Kind.text, form.get("Body", ""), None, None, None
    if form.get("MediaUrl0"):
        media, media_type = form["MediaUrl0"], form.get("MediaContentType0", "")
        kind = (
            Kind.image
            if media_type.startswith("image/")
            else Kind.audio
            if media_type.startswith("audio/")
            else Kind.unsupported
        )
    elif (
        company_id is not None
        and (button := option_chosen(engine, company_id, "sms", form["To"], form["From"], text))
        is not None
    ):
        kind, text, choice = Kind.button, button.title, button.id
    now = datetime.now(UTC)  # Twilio's webhook carries no time of sending
    return InboundMessage(
        channel="sms",
        provider_message_id=form["MessageSid"],
        sender=form["From"],
        recipient=form["To"],
        kind=kind,
        text=text,
        choice_id=choice,
        media_id=media,
        media_type=media_type,
        sent_at=now,
        received_at=now,
    )


def _settle(
    engine: Engine, company_id: uuid.UUID, message_id: uuid.UUID, form: dict[str, str]
) -> tuple[bool, str]:
    """Keywords, and anything from an opted-out number, are closed here without the agents.
    Returns whether the message was settled, and the TwiML reply ("" for none)."""
    word, phone = form.get("Body", "").strip().upper(), form["From"]
    twilio_confirms = form["To"].startswith("+")  # long code or toll-free, not a short code
    with company_session(company_id, engine) as session:
        stopped = opted_out(session, phone)
        if word in STOP_WORDS:
            opt_out(session, phone)
            reply = "" if twilio_confirms else STOPPED
        elif word in START_WORDS or (word == "YES" and stopped):
            opt_in(session, phone)
            reply = "" if twilio_confirms else STARTED
        elif word in HELP_WORDS:
            reply = HELP
        elif stopped:
            reply = ""
        else:
            return False, ""
        reply = reply.format(company=session.get(Company, company_id).name) if reply else ""
        message = session.get(Message, message_id)
        message.status, message.processed_at = "processed", datetime.now(UTC)
        session.commit()
    return True, reply


def _twiml(reply: str = "") -> Response:
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return Response(str(response), media_type="text/xml")


routes = [Route("/sms/webhook", receive, methods=["POST"])]
