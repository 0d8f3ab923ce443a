"""Phone calls (Twilio Voice): a spoken/keypad menu in TwiML, or a Media Streams call.

`OPENSALES_VOICE_MODE=gather` (default): Twilio recognises speech itself; each answer comes
back as a webhook, is stored like any message, answered by the supervisor, and the reply is
read out in the next `<Gather>`. `stream`: the call is connected to our websocket
(`channels/voice_stream.py`) and we do speech ourselves, with barge-in.

Every webhook is checked against `X-Twilio-Signature`. A call's turns are stored with the
CallSid and the turn's number as their id, so a replayed webhook is never answered twice. On
the phone an order is read back and placed only on "yes" or 1 (`agents.order`).
"""

import asyncio
import hashlib
import hmac
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import select
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.twiml.voice_response import Connect, Gather, VoiceResponse

from channels.inbox import Intake, company_for_number, option_chosen, store_inbound
from channels.twilio_signature import signed_form
from db.engine import company_session
from db.models import Conversation, Rep, Role, Store
from jobs.media import hotwords
from jobs.turns import Busy, Turns
from messages import InboundMessage, Kind, OutboundMessage
from speech.tts import speakable
from tools.identity import who

log = logging.getLogger("opensales.voice")

CHANNEL = "voice"
MAX_FORM = 64 << 10
LANGUAGE = "en-IN"
GREETING = "Namaste {name}. "
MENU = (
    "To place an order, say order or press 1. For your order status, say status or "
    "press 2. To talk to your sales rep, say rep or press 3."
)
ASK_ORDER = (
    "Please say your order after the beep, for example: two cases of Parle-G two "
    "fifty gram and one case of Coke."
)
UNKNOWN_CALLER = (
    "Namaste. This number takes orders from our registered retailers. Please ask "
    "your sales representative to add your number. Goodbye."
)
GOODBYE = "Thank you for calling. Goodbye."
MORE = "You can say another order, or hang up if you are done."


class CallEnded(Exception):
    """A reply for a call that is no longer live."""


class LiveCalls:
    """The voice channel's `Sender`: a reply goes to the caller's live call, if any."""

    channel = CHANNEL

    def __init__(self) -> None:
        self.calls: dict[str, asyncio.Queue[OutboundMessage]] = {}

    def open(self, caller: str) -> asyncio.Queue[OutboundMessage]:
        return self.calls.setdefault(caller, asyncio.Queue())

    def close(self, caller: str) -> None:
        self.calls.pop(caller, None)

    async def send(self, to: str, message: OutboundMessage) -> str:
        queue = self.calls.get(to)
        if queue is None:
            raise CallEnded(f"the call with {to} has ended")
        queue.put_nowait(message)
        return f"call.{uuid.uuid4().hex[:16]}"


@dataclass(frozen=True)
class Caller:
    company_id: uuid.UUID
    phone: str
    our_number: str
    name: str
    store_id: uuid.UUID | None


def find_caller(turns: Turns, caller: str, our_number: str) -> Caller | None:
    """The registered user calling this company's number, or None."""
    company_id = company_for_number(
        turns.engine, CHANNEL, our_number, turns.settings.twilio_phone_number
    )
    if company_id is None:
        return None
    with company_session(company_id, turns.engine) as session:
        user = who(session, caller)
        if user is None:
            return None
        return Caller(company_id, caller, our_number, user.name, user.store_id)


async def take_turn(
    turns: Turns,
    intake: Intake,
    caller: Caller,
    turn_id: str,
    text: str,
    digit: str | None = None,
    streamed: bool = False,
) -> list[OutboundMessage]:
    """Store what the caller said (once per turn id), answer it through the supervisor, and
    return the replies for this call. A replayed turn returns no replies. A webhook's turn
    holds the line open while it is answered; a streamed call holds it for the whole call,
    so a reply made after the caller hung up is logged as undelivered."""
    button = (
        option_chosen(
            turns.engine, caller.company_id, CHANNEL, caller.our_number, caller.phone, digit
        )
        if digit
        else None
    )
    now = datetime.now(UTC)
    message = InboundMessage(
        channel=CHANNEL,
        provider_message_id=turn_id,
        sender=caller.phone,
        recipient=caller.our_number,
        kind=Kind.button if button else Kind.text,
        text=button.title if button else (text or digit or ""),
        choice_id=button.id if button else None,
        sent_at=now,
        received_at=now,
    )
    message_id = store_inbound(turns.engine, caller.company_id, message, {"turn": turn_id})
    if message_id is None:
        return []
    await intake.within_limit(caller.company_id, message_id, message)  # over it: not answered
    calls: LiveCalls = turns.senders[CHANNEL]
    queue = calls.calls.get(caller.phone) if streamed else calls.open(caller.phone)
    try:
        for _ in range(50):  # another process holds the conversation: it is brief
            try:
                await turns.answer_conversation(caller.company_id, CHANNEL, caller.phone)
                break
            except Busy:
                await asyncio.sleep(0.2)
    finally:
        if not streamed:
            calls.close(caller.phone)
    replies = []
    while queue is not None and not queue.empty():
        replies.append(queue.get_nowait())
    return replies


def waiting_for_answer(turns: Turns, caller: Caller) -> bool:
    """The order agent asked something (a read-back, a size, a substitute) on this call."""
    with company_session(caller.company_id, turns.engine) as session:
        conversation = session.exec(
            select(Conversation).where(
                Conversation.channel == CHANNEL, Conversation.sender == caller.phone
            )
        ).first()
    state = conversation.state if conversation else {}
    return any(key in state for key in ("question", "substitute", "confirm"))


def spoken(replies: list[OutboundMessage]) -> str:
    """Replies as one text to read out; options are read as keys ("press 1 for ...") unless
    the reply already says what to press."""
    parts = []
    for reply in replies:
        text = speakable(reply.text)
        if reply.buttons and "press 1" not in text.lower():
            text += " " + " ".join(
                f"For {speakable(b.title)}, press {n}."
                for n, b in enumerate(reply.buttons[:9], start=1)
            )
        parts.append(text)
    return " ".join(parts)


# --- TwiML mode --------------------------------------------------------------------------


async def _signed_call(request: Request) -> tuple[dict[str, str], Caller | None]:
    """A voice webhook's signed form, and the registered user calling (None: a stranger)."""
    form = await signed_form(request, MAX_FORM)
    caller = find_caller(request.app.state.runtime.turns, form.get("From", ""), form.get("To", ""))
    return form, caller


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), media_type="text/xml")


def _stranger() -> Response:
    """A number that is not one of the company's users hears why, and the call ends."""
    response = VoiceResponse()
    response.say(UNKNOWN_CALLER, language=LANGUAGE)
    response.hangup()
    return _twiml(response)


def _url(request: Request, name: str, **query) -> str:
    """A URL Twilio can call: on the public base when one is set (behind a proxy)."""
    settings = request.app.state.runtime.turns.settings
    base = (settings.public_url or str(request.base_url)).rstrip("/")
    path = request.app.url_path_for(name)
    return str(URL(base + path).include_query_params(**query))


def _gather(action: str, hints: str = "", digits: int | None = 1) -> Gather:
    return Gather(
        input="speech dtmf",
        action=action,
        method="POST",
        timeout=6,
        speech_timeout="auto",
        num_digits=digits,
        language=LANGUAGE,
        hints=hints or None,
    )


def _hints(turns: Turns, caller: Caller) -> str:
    with company_session(caller.company_id, turns.engine) as session:
        return hotwords(session)


async def incoming(request: Request) -> Response:
    """A call starts: greet and offer the menu, or connect the stream."""
    form, caller = await _signed_call(request)
    if caller is None:
        return _stranger()
    turns = request.app.state.runtime.turns
    if turns.settings.voice_mode == "stream":
        return _twiml(_connect_stream(request, turns, caller, form.get("CallSid", "")))
    response = VoiceResponse()
    attempt = int(request.query_params.get("attempt", "1") or 1)  # menus unanswered
    visit = int(request.query_params.get("n", "0") or 0)  # menus answered: numbers the turns
    if attempt > 3:
        response.say("We did not hear a choice. " + GOODBYE, language=LANGUAGE)
        response.hangup()
        return _twiml(response)
    gather = _gather(_url(request, "voice_menu", n=visit), "order, status, rep")
    first = caller.name.split()[:1]
    greeting = GREETING.format(name=first[0] if first else "") if attempt == visit + 1 == 1 else ""
    gather.say(greeting + MENU, language=LANGUAGE)
    response.append(gather)
    response.redirect(_url(request, "voice_incoming", attempt=attempt + 1, n=visit), method="POST")
    return _twiml(response)


def _connect_stream(request: Request, turns: Turns, caller: Caller, call_sid: str) -> VoiceResponse:
    response = VoiceResponse()
    connect = Connect()
    base = turns.settings.public_url or str(request.base_url)
    url = base.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)
    stream = connect.stream(url=url + "/voice/stream")
    stream.parameter(name="from", value=caller.phone)
    stream.parameter(name="to", value=caller.our_number)
    stream.parameter(
        name="token",
        value=stream_token(
            turns.settings.twilio_auth_token or "", call_sid, caller.phone, caller.our_number
        ),
    )
    response.append(connect)
    return response


def stream_token(secret: str, call_sid: str, caller: str, our_number: str) -> str:
    """Binds a stream's caller to the call Twilio asked us about (the start event's custom
    parameters are otherwise only as good as the websocket's own signature)."""
    text = f"{call_sid}|{caller}|{our_number}".encode()
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


async def menu(request: Request) -> Response:
    form, caller = await _signed_call(request)
    if caller is None:
        return _stranger()
    turns = request.app.state.runtime.turns
    response = VoiceResponse()
    visit = int(request.query_params.get("n", "0") or 0)
    said = (form.get("Digits") or form.get("SpeechResult") or "").strip().lower()
    if said.startswith("1") or ("order" in said and "status" not in said):
        gather = _gather(_url(request, "voice_turn", n=1), _hints(turns, caller), digits=None)
        gather.say(ASK_ORDER, language=LANGUAGE)
        response.append(gather)
        response.redirect(_url(request, "voice_turn", n=1, again=1), method="POST")
    elif said.startswith("2") or any(w in said for w in ("status", "where", "deliver")):
        replies = await take_turn(
            turns,
            request.app.state.runtime.intake,
            caller,
            f"{form.get('CallSid')}:menu:{visit}",
            "where is my order",
        )
        response.say(spoken(replies) or "Sorry, please ask again.", language=LANGUAGE)
        response.redirect(_url(request, "voice_incoming", n=visit + 1), method="POST")
    elif said.startswith("3") or any(w in said for w in ("rep", "person", "talk", "human")):
        number = _rep_number(turns, caller)
        if number:
            response.say("Connecting you to your sales rep.", language=LANGUAGE)
            response.dial(number, timeout=25)
            response.say(
                "Your rep did not answer. Please try again later. " + GOODBYE, language=LANGUAGE
            )
        else:
            response.say("Sorry, I have no number for your rep. " + GOODBYE, language=LANGUAGE)
        response.hangup()
    else:
        response.say("Sorry, I did not get that.", language=LANGUAGE)
        response.redirect(_url(request, "voice_incoming", n=visit + 1), method="POST")
    return _twiml(response)


def _rep_number(turns: Turns, caller: Caller) -> str | None:
    """The store's rep, else the configured fallback (a person at the distributor)."""
    with company_session(caller.company_id, turns.engine) as session:
        store = session.get(Store, caller.store_id) if caller.store_id else None
        rep = session.get(Rep, store.assigned_rep_id) if store and store.assigned_rep_id else None
        if rep is None and (user := who(session, caller.phone)) and user.role == Role.rep:
            rep = session.get(Rep, user.rep_id) if user.rep_id else None
        return (rep.phone if rep and rep.phone else None) or turns.settings.voice_fallback_number


async def turn(request: Request) -> Response:
    """The caller said their order (or answered a question about it)."""
    form, caller = await _signed_call(request)
    if caller is None:
        return _stranger()
    turns = request.app.state.runtime.turns
    response = VoiceResponse()
    step = int(request.query_params.get("n", "1") or 1)
    speech, digit = form.get("SpeechResult", "").strip(), form.get("Digits", "").strip()
    hints = _hints(turns, caller)
    if not speech and not digit:  # silence: ask once more, then say goodbye
        if request.query_params.get("again") == "1" and not request.query_params.get("last"):
            gather = _gather(_url(request, "voice_turn", n=step), hints, digits=None)
            gather.say("Sorry, I did not hear anything. " + ASK_ORDER, language=LANGUAGE)
            response.append(gather)
            response.redirect(_url(request, "voice_turn", n=step, again=1, last=1), method="POST")
            return _twiml(response)
        response.say(GOODBYE, language=LANGUAGE)
        response.hangup()
        return _twiml(response)
    intake = request.app.state.runtime.intake
    turn_id = f"{form.get('CallSid')}:{step}"
    replies = await take_turn(turns, intake, caller, turn_id, speech, digit or None)
    waiting = waiting_for_answer(turns, caller)
    gather = _gather(_url(request, "voice_turn", n=step + 1), hints, digits=1 if waiting else None)
    text = spoken(replies) if replies else "Sorry, please say that again."
    gather.say(text if waiting else f"{text} {MORE}", language=LANGUAGE)
    response.append(gather)
    response.redirect(_url(request, "voice_turn", n=step + 1, again=1), method="POST")
    return _twiml(response)


routes = [
    Route("/voice/incoming", incoming, methods=["POST"], name="voice_incoming"),
    Route("/voice/menu", menu, methods=["POST"], name="voice_menu"),
    Route("/voice/turn", turn, methods=["POST"], name="voice_turn"),
]
