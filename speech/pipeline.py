"""The small processors of a live phone call, each testable alone (after Pipecat's frames).

    Twilio JSON ─ TwilioDecoder ─> AudioIn / DtmfIn / MarkPlayed / Stop
    AudioIn ─ TurnTaking ─> SpeechStarted (barge-in) / TurnAudio (16 kHz: on a pause, early;
                            at the turn's end, final)
    TurnAudio ─ Transcriber ─> Transcript
    text ─ Speaker ─> OutAudio (20 ms μ-law frames) + OutMark, sentence by sentence
    OutAudio / OutMark / Clear ─ TwilioEncoder ─> Twilio JSON

`channels/voice_stream.py` wires them to the websocket and to the supervisor.
"""

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

from speech.audio import PHONE_RATE, STT_RATE, Resampler, mulaw_to_pcm, pcm_to_mulaw, to_float
from speech.stt import Transcript
from speech.tts import TextToSpeech, sentences
from speech.vad import Event, TurnDetector, VadSettings

FRAME_SAMPLES = PHONE_RATE // 50  # 20 ms at 8 kHz


@dataclass(frozen=True)
class Start:
    stream_sid: str
    call_sid: str
    parameters: dict[str, str]


@dataclass(frozen=True)
class AudioIn:
    samples: np.ndarray  # int16 at 8 kHz


@dataclass(frozen=True)
class DtmfIn:
    digit: str


@dataclass(frozen=True)
class MarkPlayed:
    name: str


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class SpeechStarted:
    pass


@dataclass(frozen=True)
class TurnAudio:
    samples: np.ndarray  # float32 at 16 kHz
    final: bool = True  # False: the caller paused; the turn may go on (transcribe early)


@dataclass(frozen=True)
class OutAudio:
    mulaw: bytes  # 20 ms


@dataclass(frozen=True)
class OutMark:
    name: str


@dataclass(frozen=True)
class Clear:
    pass


Incoming = Start | AudioIn | DtmfIn | MarkPlayed | Stop


class ProtocolError(ValueError):
    """A websocket message that is not Twilio's Media Streams protocol."""


class TwilioDecoder:
    """Media Streams events → frames. Unknown events (`connected`) are skipped."""

    def decode(self, event: dict) -> Incoming | None:
        try:
            match event.get("event"):
                case "media":
                    media = event["media"]
                    if media.get("track", "inbound") != "inbound":
                        return None
                    return AudioIn(mulaw_to_pcm(base64.b64decode(media["payload"])))
                case "start":
                    start = event["start"]
                    return Start(
                        stream_sid=event.get("streamSid") or start["streamSid"],
                        call_sid=start["callSid"],
                        parameters=dict(start.get("customParameters") or {}),
                    )
                case "dtmf":
                    return DtmfIn(str(event["dtmf"]["digit"]))
                case "mark":
                    return MarkPlayed(str(event["mark"]["name"]))
                case "stop":
                    return Stop()
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed {event.get('event')!r} event") from exc
        return None


class TwilioEncoder:
    """Frames → Media Streams messages for one stream."""

    def __init__(self, stream_sid: str) -> None:
        self.stream_sid = stream_sid

    def encode(self, frame: OutAudio | OutMark | Clear) -> dict:
        if isinstance(frame, OutAudio):
            return {
                "event": "media",
                "streamSid": self.stream_sid,
                "media": {"payload": base64.b64encode(frame.mulaw).decode()},
            }
        if isinstance(frame, OutMark):
            return {"event": "mark", "streamSid": self.stream_sid, "mark": {"name": frame.name}}
        return {"event": "clear", "streamSid": self.stream_sid}


class TurnTaking:
    """Caller audio → `SpeechStarted` as soon as they talk, `TurnAudio` when they stop."""

    def __init__(self, vad: VadSettings | None = None) -> None:
        self.detector = TurnDetector(PHONE_RATE, vad)
        self._pending = np.zeros(0, dtype=np.int16)

    def process(self, frame: AudioIn) -> list[SpeechStarted | TurnAudio]:
        out: list[SpeechStarted | TurnAudio] = []
        samples = np.concatenate([self._pending, frame.samples])
        whole = len(samples) - len(samples) % FRAME_SAMPLES
        self._pending = samples[whole:]
        for start in range(0, whole, FRAME_SAMPLES):
            out += self._frames(self.detector.push(samples[start : start + FRAME_SAMPLES]))
        return out

    def flush(self) -> list[TurnAudio]:
        """The call ended: the turn being spoken, if it was long enough to be one."""
        return [
            frame for frame in self._frames(self.detector.finish()) if isinstance(frame, TurnAudio)
        ]

    def _frames(self, events: list[Event]) -> list[SpeechStarted | TurnAudio]:
        out: list[SpeechStarted | TurnAudio] = []
        for event in events:
            if event is Event.started:
                out.append(SpeechStarted())
            elif event is Event.paused:
                out.append(TurnAudio(_wide(self.detector.turn_so_far()), final=False))
            else:
                out.append(TurnAudio(_wide(self.detector.take_turn())))
        return out


def _wide(turn: np.ndarray) -> np.ndarray:
    """8 kHz int16 → what Whisper takes: 16 kHz float."""
    wide = Resampler(PHONE_RATE, STT_RATE)
    return to_float(np.concatenate([wide.push(turn), wide.flush()]))


class Transcriber:
    """The caller's turn → text, by `listen` (a blocking function: the call's hearing, such as
    `tools.hearing.listen_for_order` bound to the company's catalogue), in a worker thread."""

    def __init__(self, listen: Callable[[np.ndarray], Transcript]) -> None:
        self.listen = listen

    async def process(self, frame: TurnAudio) -> Transcript:
        return await asyncio.to_thread(self.listen, frame.samples)


class Speaker:
    """Reply text → telephone audio, a sentence at a time (the first plays while the next is
    made), each sentence followed by a mark Twilio echoes once it has been played."""

    def __init__(self, tts: TextToSpeech) -> None:
        self.tts = tts
        self._marks = 0

    async def process(self, text: str) -> AsyncIterator[OutAudio | OutMark]:
        for sentence in sentences(text):
            samples = await asyncio.to_thread(self.tts.synthesize, sentence)
            narrow = Resampler(self.tts.sample_rate, PHONE_RATE)
            phone = np.concatenate([narrow.push(samples), narrow.flush()])
            whole = -len(phone) % FRAME_SAMPLES  # silence to a whole 20 ms frame
            mulaw = pcm_to_mulaw(np.concatenate([phone, np.zeros(whole, dtype=np.int16)]))
            for start in range(0, len(mulaw), FRAME_SAMPLES):
                yield OutAudio(mulaw[start : start + FRAME_SAMPLES])
            self._marks += 1
            yield OutMark(f"said-{self._marks}")
