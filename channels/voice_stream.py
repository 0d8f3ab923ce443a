"""A phone call over Twilio Media Streams: our own speech recognition, supervisor and voice.

Twilio connects the call (TwiML `<Connect><Stream>` from `/voice/incoming`) to this websocket
and sends the caller's audio as 20 ms μ-law frames. Voice activity detection ends the caller's
turn; the turn is transcribed, stored and answered by the supervisor like any message, and the
answer is spoken back sentence by sentence, each followed by a mark. When the caller talks over
the answer (barge-in) we send `clear`, which empties Twilio's buffer, and listen.

The upgrade request must carry a valid `X-Twilio-Signature`, and the start event the token
`/voice/incoming` gave this call. A hang-up or a dropped socket stops the speaking at once; a
turn already being answered is finished and stored (its reply is logged as undelivered).
"""

import asyncio
import contextlib
import hmac
import logging
import time
from functools import partial

from prometheus_client import Histogram
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from channels.inbox import Intake
from channels.twilio_signature import check_twilio_signature
from channels.voice import Caller, find_caller, spoken, stream_token, take_turn
from db.engine import company_session
from errors import ApiError
from jobs.media import hotwords
from jobs.turns import Turns
from speech.audio import STT_RATE
from speech.pipeline import (
    AudioIn,
    Clear,
    DtmfIn,
    MarkPlayed,
    OutMark,
    ProtocolError,
    Speaker,
    SpeechStarted,
    Start,
    Stop,
    Transcriber,
    TurnAudio,
    TurnTaking,
    TwilioDecoder,
    TwilioEncoder,
)
from speech.stt import get_stt
from speech.tts import get_tts
from tools.catalog import catalog_parser
from tools.hearing import listen_for_order

log = logging.getLogger("opensales.voice")
GREETING = "Namaste {name}. Please say your order, or ask where your order is."

TURN_SECONDS = Histogram(
    "opensales_voice_turn_seconds",
    "End of the caller's speech to our first audio frame",
    buckets=(0.5, 0.75, 1, 1.25, 1.5, 2, 2.5, 3, 5, 10),
)
NOT_HEARD = "Sorry, I did not catch that. Please say it again."
FRAME_16K = STT_RATE // 50
START_TIMEOUT_S = 10


class Call:
    """One live call: the processors, what is being said, and what is still playing."""

    def __init__(
        self,
        turns: Turns,
        intake: Intake,
        websocket: WebSocket,
        start: Start,
        caller: Caller,
        speaker: Speaker,
        transcriber: Transcriber,
    ) -> None:
        self.turns, self.intake, self.websocket, self.caller = turns, intake, websocket, caller
        self.call_sid = start.call_sid
        self.encoder = TwilioEncoder(start.stream_sid)
        self.turn_taking = TurnTaking()
        self.speaker, self.transcriber = speaker, transcriber
        self.speaking: asyncio.Task | None = None
        self.answering: set[asyncio.Task] = set()
        self.unplayed: set[str] = set()  # marks sent, not yet echoed: audio still playing
        self.turn_lock = asyncio.Lock()  # turns are answered in order
        self.count = 0
        self.ended = False
        self.early: tuple[asyncio.Task, int] | None = None  # begun at a pause, and its length

    def playing(self) -> bool:
        return bool(self.unplayed) or (self.speaking is not None and not self.speaking.done())

    async def send(self, frame) -> None:
        await self.websocket.send_json(self.encoder.encode(frame))

    def say(self, text: str, heard_at: float | None = None) -> None:
        self.stop_speaking()
        if self.ended:
            return
        self.speaking = asyncio.create_task(self._say(text, heard_at))

    async def _say(self, text: str, heard_at: float | None) -> None:
        async for frame in self.speaker.process(text):
            if heard_at is not None:
                TURN_SECONDS.observe(time.perf_counter() - heard_at)
                log.info(
                    "call %s: first audio %.2fs after the turn ended",
                    self.call_sid,
                    time.perf_counter() - heard_at,
                )
                heard_at = None
            if isinstance(frame, OutMark):
                self.unplayed.add(frame.name)
            await self.send(frame)

    def stop_speaking(self) -> None:
        if self.speaking is not None and not self.speaking.done():
            self.speaking.cancel()

    async def barge_in(self) -> None:
        """The caller talks over us: stop making audio and drop what Twilio still holds."""
        self.stop_speaking()
        self.unplayed.clear()
        await self.send(Clear())

    def listen_early(self, audio: TurnAudio) -> None:
        """The caller paused: transcribe what they said so far now. If the pause turns out to
        end the turn (nothing more is said), the answer starts that much sooner."""
        self.early = (asyncio.create_task(self.transcriber.process(audio)), len(audio.samples))

    def answer(self, audio: TurnAudio | None = None, digit: str | None = None) -> None:
        heard_at = time.perf_counter()
        early, self.early = self.early, None
        vad = self.turn_taking.detector.settings
        quiet_after_pause = STT_RATE * (vad.end_ms - vad.pause_ms) // 1000 + 2 * FRAME_16K
        if (
            audio is not None
            and early is not None
            and len(audio.samples) - early[1] <= quiet_after_pause
        ):
            hearing = early[0]  # nothing was said after the pause: the early transcript stands
        elif audio is not None:
            hearing = asyncio.create_task(self.transcriber.process(audio))
        else:
            hearing = None
        task = asyncio.create_task(self._answer(hearing, digit, heard_at))
        self.answering.add(task)
        task.add_done_callback(self.answering.discard)

    async def _answer(
        self, hearing: asyncio.Task | None, digit: str | None, heard_at: float
    ) -> None:
        try:
            await self._answer_turn(hearing, digit, heard_at)
        except Exception:  # the caller hears an apology; the stored turn is answered later
            log.exception("call %s: a turn failed", self.call_sid)
            self.say("Sorry, something went wrong. Please say that again.")

    async def _answer_turn(
        self, hearing: asyncio.Task | None, digit: str | None, heard_at: float
    ) -> None:
        async with self.turn_lock:
            text = ""
            if hearing is not None:
                text = (await hearing).text
                if not text:
                    self.say(NOT_HEARD, heard_at)
                    return
            heard = time.perf_counter()
            self.count += 1
            replies = await take_turn(
                self.turns,
                self.intake,
                self.caller,
                f"{self.call_sid}:{self.count}",
                text,
                digit,
                streamed=True,
            )
            log.info(
                "call %s turn %d: heard %r in %.2fs, answered in %.2fs",
                self.call_sid,
                self.count,
                text,
                heard - heard_at,
                time.perf_counter() - heard,
            )
            if replies:
                self.say(spoken(replies), heard_at)

    async def hang_up(self) -> None:
        """The call is over: stop speaking now; turns being answered finish and are stored."""
        self.ended = True
        self.stop_speaking()
        self.turns.senders["voice"].close(self.caller.phone)  # later replies: undelivered
        if self.answering:
            await asyncio.gather(*self.answering, return_exceptions=True)


async def _start(websocket: WebSocket, decoder: TwilioDecoder) -> Start | None:
    """Twilio sends `connected`, then `start` with the call and our custom parameters."""
    async with asyncio.timeout(START_TIMEOUT_S):
        while True:
            frame = decoder.decode(await websocket.receive_json())
            if isinstance(frame, Start):
                return frame
            if isinstance(frame, Stop):
                return None


async def stream(websocket: WebSocket) -> None:
    turns: Turns = websocket.app.state.runtime.turns
    try:
        check_twilio_signature(turns.settings, websocket.url, websocket.headers, {})
    except ApiError as exc:
        log.warning("media stream refused: %s", exc.message)
        await websocket.close(code=1008, reason=exc.code)
        return
    await websocket.accept()
    decoder = TwilioDecoder()
    try:
        start = await _start(websocket, decoder)
    except (TimeoutError, ProtocolError, WebSocketDisconnect, ValueError) as exc:
        log.warning("media stream closed before its start: %r", exc)
        with contextlib.suppress(Exception):
            await websocket.close(code=1008)
        return
    caller = _caller(turns, start) if start else None
    if caller is None:
        await websocket.close(code=1008, reason="UNKNOWN_CALL")
        return
    speaker, transcriber = await asyncio.to_thread(_processors, turns, caller)
    intake = websocket.app.state.runtime.intake
    call = Call(turns, intake, websocket, start, caller, speaker, transcriber)
    turns.senders["voice"].open(caller.phone)  # the call is live: replies come to it
    first = caller.name.split()[:1]
    call.say(GREETING.format(name=first[0] if first else ""))
    try:
        while True:
            try:
                frame = decoder.decode(await websocket.receive_json())
            except ProtocolError as exc:
                log.warning("call %s: %s", call.call_sid, exc)
                continue
            if isinstance(frame, AudioIn):
                for event in call.turn_taking.process(frame):
                    if isinstance(event, SpeechStarted) and call.playing():
                        await call.barge_in()
                    elif isinstance(event, TurnAudio) and not event.final:
                        call.listen_early(event)
                    elif isinstance(event, TurnAudio):
                        call.answer(audio=event)
            elif isinstance(frame, DtmfIn):
                if call.playing():
                    await call.barge_in()
                call.answer(digit=frame.digit)
            elif isinstance(frame, MarkPlayed):
                call.unplayed.discard(frame.name)
            elif isinstance(frame, Stop):
                break
    except (WebSocketDisconnect, ValueError) as exc:  # dropped, or not JSON
        log.info("call %s: the stream ended (%r)", call.call_sid, exc)
    finally:
        for turn in call.turn_taking.flush():  # hung up right after speaking: still answered
            call.answer(audio=turn)
        await call.hang_up()
        with contextlib.suppress(Exception):
            await websocket.close()


def _processors(turns: Turns, caller: Caller) -> tuple[Speaker, Transcriber]:
    """The voice and the ears of a call: models (shared, loaded once) and the company's
    catalogue. Made in a worker thread: the event loop keeps taking every call's audio."""
    with company_session(caller.company_id, turns.engine) as session:
        words, parser = hotwords(session), catalog_parser(session)
    listen = partial(
        listen_for_order, get_stt(turns.settings), parser=parser, hotwords=words, vad=False
    )  # Whisper's own VAD drops short telephone words whole
    return (
        Speaker(get_tts(turns.settings)),
        Transcriber(listen),
    )


def _caller(turns: Turns, start: Start) -> Caller | None:
    """The caller `/voice/incoming` vouched for (its token), still a registered user."""
    params = start.parameters
    caller_phone, our_number = params.get("from", ""), params.get("to", "")
    expected = stream_token(
        turns.settings.twilio_auth_token or "", start.call_sid, caller_phone, our_number
    )
    if not hmac.compare_digest(expected, params.get("token", "")):
        log.warning("media stream %s: bad call token", start.call_sid)
        return None
    return find_caller(turns, caller_phone, our_number)


routes = [WebSocketRoute("/voice/stream", stream, name="voice_stream")]
