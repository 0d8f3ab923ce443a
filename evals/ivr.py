"""Streaming IVR benchmark: `opensales bench ivr [--calls 10] [--cases FILE.jsonl] [--no-llm]`.

Starts the server on a throwaway demo company (SQLite, `OPENSALES_VOICE_MODE=stream`) and
places simulated Twilio calls: a websocket client that does what Twilio Media Streams does, at
real time. It streams the caller's audio in 20 ms μ-law frames (order sentences spoken by Piper
through a 300-3400 Hz telephone band), plays what the server sends back at real time, echoes
marks when they are played, and empties its buffer on `clear`. Each call says an order, and
talks over the read-back with "yes" (barge-in). Prints:
- turn latency: end of the caller's speech -> first audio frame back, p50/p95;
- barge-in: caller starts talking over the reply -> `clear` received, p50/p95/max;
- orders placed and their items against the labels.
"""

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from sqlmodel import select
from tqdm import tqdm
from twilio.request_validator import RequestValidator

from evals.bench_llm import percentile
from speech.vad import VadSettings, level_db

TOKEN = "bench-twilio-token"
OUR_NUMBER = "+15550001111"
FRAME_S = 0.02
GREETING_MARKS = 2  # the greeting's two sentences, played


def telephone(samples: np.ndarray, rate: int) -> np.ndarray:
    """int16 speech as a phone line carries it: 8 kHz, 300-3400 Hz."""
    from speech.audio import PHONE_RATE, resample

    narrow = resample(samples, rate, PHONE_RATE).astype(np.float64)
    spectrum = np.fft.rfft(narrow)
    freqs = np.fft.rfftfreq(len(narrow), 1 / PHONE_RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    return np.clip(np.fft.irfft(spectrum, len(narrow)), -32768, 32767).astype(np.int16)


@dataclass
class CallResult:
    turn_latencies: list[float] = field(default_factory=list)
    barge_ins: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class SimulatedTwilio:
    """One call over Media Streams, as Twilio places it."""

    def __init__(self, base_url: str, caller: str, call_sid: str) -> None:
        self.base_url, self.caller, self.call_sid = base_url, caller, call_sid
        self.buffer: deque = deque()  # media payloads and mark names waiting to be played
        self.received_media = asyncio.Event()
        self.first_media_at: float | None = None
        self.cleared_at: float | None = None
        self.marks_played: list[str] = []

    async def open(self):
        from websockets.asyncio.client import connect

        params = {"CallSid": self.call_sid, "From": self.caller, "To": OUR_NUMBER}
        url = f"{self.base_url}/voice/incoming"
        signature = RequestValidator(TOKEN).compute_signature(url, params)
        async with httpx.AsyncClient() as client:
            twiml = (
                await client.post(url, data=params, headers={"X-Twilio-Signature": signature})
            ).text
        import xml.etree.ElementTree as ET

        stream = ET.fromstring(twiml).find("Connect/Stream")
        ws_url = stream.get("url")
        custom = {p.get("name"): p.get("value") for p in stream.iter("Parameter")}
        ws_signature = RequestValidator(TOKEN).compute_signature(ws_url, {})
        self.ws = await connect(ws_url, additional_headers={"X-Twilio-Signature": ws_signature})
        await self.ws.send(json.dumps({"event": "connected", "protocol": "Call"}))
        await self.ws.send(
            json.dumps(
                {
                    "event": "start",
                    "streamSid": "MZ" + self.call_sid,
                    "start": {
                        "streamSid": "MZ" + self.call_sid,
                        "callSid": self.call_sid,
                        "customParameters": custom,
                    },
                }
            )
        )
        self.tasks = [asyncio.create_task(self._receive()), asyncio.create_task(self._play())]

    async def _receive(self) -> None:
        async for raw in self.ws:
            event = json.loads(raw)
            if event["event"] == "media":
                if self.first_media_at is None:
                    self.first_media_at = time.perf_counter()
                self.buffer.append(("media", event["media"]["payload"]))
            elif event["event"] == "mark":
                self.buffer.append(("mark", event["mark"]["name"]))
            elif event["event"] == "clear":
                self.cleared_at = time.perf_counter()
                self.first_media_at = None  # what came before the clear was the old reply
                marks = [value for kind, value in self.buffer if kind == "mark"]
                self.buffer.clear()
                for name in marks:  # Twilio returns the marks it will no longer play
                    await self._echo(name)

    async def _echo(self, name: str) -> None:
        self.marks_played.append(name)
        await self.ws.send(
            json.dumps({"event": "mark", "streamSid": "MZ" + self.call_sid, "mark": {"name": name}})
        )

    async def _play(self) -> None:
        """Twilio plays 20 ms of what it holds every 20 ms."""
        next_at = time.perf_counter()
        while True:
            next_at += FRAME_S
            while self.buffer and self.buffer[0][0] == "mark":
                await self._echo(self.buffer.popleft()[1])
            if self.buffer:
                self.buffer.popleft()
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    def playing(self) -> bool:
        return any(kind == "media" for kind, _ in self.buffer)

    async def speak(self, samples: np.ndarray, tail_s: float = 0.0) -> tuple[float, float]:
        """Stream speech at real time, then `tail_s` of silence; when the voice in it began
        and ended (the first and last loud 20 ms, not the recording's silent edges)."""
        from speech.audio import pcm_to_mulaw

        audio = np.concatenate([samples, np.zeros(int(tail_s * 8000), dtype=np.int16)])
        mulaw = pcm_to_mulaw(audio)
        started = time.perf_counter()
        loud = [i for i in range(0, len(samples), 160) if level_db(samples[i : i + 160]) > -50]
        onset = started + (loud[0] if loud else 0) / 8000
        ended = started + ((loud[-1] + 160) if loud else len(samples)) / 8000
        for index, offset in enumerate(range(0, len(mulaw), 160)):
            await asyncio.sleep(max(0.0, started + index * FRAME_S - time.perf_counter()))
            await self.ws.send(
                json.dumps(
                    {
                        "event": "media",
                        "streamSid": "MZ" + self.call_sid,
                        "media": {
                            "track": "inbound",
                            "payload": base64.b64encode(mulaw[offset : offset + 160]).decode(),
                        },
                    }
                )
            )
        return onset, ended

    async def silence_until(self, condition, timeout: float) -> bool:
        """Keep the line open (silence, as a real line sends) until `condition()`."""
        deadline = time.perf_counter() + timeout
        quiet = np.zeros(160, dtype=np.int16)
        while not condition():
            if time.perf_counter() > deadline:
                return False
            await self.speak(quiet)
        return True

    async def hang_up(self) -> None:
        await self.ws.send(json.dumps({"event": "stop", "streamSid": "MZ" + self.call_sid}))
        await self.ws.close()
        for task in self.tasks:
            task.cancel()


async def place_call(
    base_url: str, caller: str, call_sid: str, order: np.ndarray, yes: np.ndarray
) -> CallResult:
    """Greeting; the order; barge in on the read-back with "yes"; the confirmation."""
    result = CallResult()
    call = SimulatedTwilio(base_url, caller, call_sid)
    await call.open()
    try:
        if not await call.silence_until(lambda: len(call.marks_played) >= GREETING_MARKS, 20):
            result.errors.append("no greeting")
            return result
        call.first_media_at = None
        _, ended = await call.speak(order, tail_s=0.1)
        if not await call.silence_until(lambda: call.first_media_at is not None, 30):
            result.errors.append("no answer to the order")
            return result
        result.turn_latencies.append(call.first_media_at - ended)
        await call.silence_until(lambda: len(call.buffer) > 50, 10)  # a second of read-back
        call.cleared_at = None
        call.first_media_at = None
        talk_started, ended = await call.speak(yes, tail_s=0.1)
        if call.cleared_at is None:
            result.errors.append("no barge-in")
        else:
            result.barge_ins.append(call.cleared_at - talk_started)
        if not await call.silence_until(lambda: call.first_media_at is not None, 30):
            result.errors.append("no answer to yes")
            return result
        result.turn_latencies.append(call.first_media_at - ended)
        await call.silence_until(lambda: not call.playing(), 30)
    finally:
        await call.hang_up()
    return result


@contextmanager
def served(folder: Path, **settings: str):
    """`opensales serve` as its own process (as in production: Twilio is not in our process),
    on a free port, over the SQLite database in `folder`; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OPENSALES_DATA_DIR": str(folder),
        "OPENSALES_PUBLIC_URL": base,
        "OPENSALES_TWILIO_AUTH_TOKEN": TOKEN,
        "OPENSALES_TWILIO_PHONE_NUMBER": OUR_NUMBER,
        "OPENSALES_VOICE_MODE": "stream",
        "OPENSALES_LOG_LEVEL": "warning",
        **{f"OPENSALES_{key.upper()}": value for key, value in settings.items()},
    }
    for name in ("OPENSALES_DATABASE_URL", "OPENSALES_REDIS_URL"):
        env.pop(name, None)
    cli = str(Path(sys.executable).parent / "opensales")
    process = subprocess.Popen([cli, "serve", "--port", str(port)], env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:  # models loaded
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def demo_shop(folder: Path) -> tuple[object, list[str]]:
    """A 12-store demo company with stock in `folder`; its id and its retailers' phones."""
    from db.demo import load_demo
    from db.engine import company_session, create_db_engine
    from db.migrate import upgrade
    from db.models import StockLevel, Store

    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=12, days=14, progress=False).company_id
    with company_session(company_id, engine) as session:
        for level in session.exec(select(StockLevel).where(StockLevel.quantity > 0)):
            level.quantity = 5000
        session.commit()
        phones = [s.owner_phone for s in session.exec(select(Store).order_by(Store.code))]
    engine.dispose()
    return company_id, phones


def main(args) -> int:
    from settings import get_settings
    from speech.tts import get_tts

    cases_file = args.cases or Path(__file__).parent / "data" / "voice_orders.jsonl"
    cases = [json.loads(line) for line in cases_file.read_text().splitlines() if line.strip()]
    cases = [case for case in cases if not case.get("clarify")][: args.calls]
    voice = get_tts(get_settings())
    yes = telephone(voice.synthesize("Yes, please."), voice.sample_rate)
    spoken = [telephone(voice.synthesize(case["text"]), voice.sample_rate) for case in cases]
    with tempfile.TemporaryDirectory() as folder:
        company_id, phones = demo_shop(Path(folder))
        overrides = {"llm_backend": "off"} if args.no_llm else {}
        with served(Path(folder), **overrides) as base:
            # the first call after a start pays for loading models: not counted
            asyncio.run(place_call(base, phones[-1], "CAWARM", spoken[0], yes))
            total = CallResult()
            calls = tqdm(list(zip(cases, spoken, strict=True)), desc="calls", unit="call")
            for number, (case, audio) in enumerate(calls):
                phone = phones[number % (len(phones) - 1)]
                result = asyncio.run(place_call(base, phone, f"CA{number:04d}", audio, yes))
                total.turn_latencies += result.turn_latencies
                total.barge_ins += result.barge_ins
                total.errors += [
                    f"call {number + 1} ({case['text']!r}): {e}" for e in result.errors
                ]
        placed = _placed(Path(folder), company_id, cases, phones[:-1])
    for error in total.errors:
        print(f"FAIL {error}")
    print(
        f"{len(cases)} calls on {'the fast path alone' if args.no_llm else 'the bundled LLM'}"
        f"; STT {get_settings().stt_model}, voice end after "
        f"{VadSettings().end_ms} ms of silence"
    )
    turns = total.turn_latencies
    if turns:
        print(
            f"IVR turn latency: p50 {percentile(turns, 50):.2f} s, "
            f"p95 {percentile(turns, 95):.2f} s, max {max(turns):.2f} s ({len(turns)} turns)"
        )
    if total.barge_ins:
        barge = [1000 * b for b in total.barge_ins]
        print(
            f"barge-in (caller talks -> clear): p50 {percentile(barge, 50):.0f} ms, "
            f"p95 {percentile(barge, 95):.0f} ms, max {max(barge):.0f} ms "
            f"({len(barge)} of {len(cases)} calls)"
        )
    print(f"orders placed with the right items: {placed} of {len(cases)} calls")
    return 0


def _placed(folder: Path, company_id, cases, phones) -> int:
    """Calls whose order was placed with exactly the labelled items."""
    from collections import Counter

    from db.engine import company_session, create_db_engine
    from db.models import OrderEB2B, Product, Store

    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    right = 0
    with company_session(company_id, engine) as session:
        per_case = {p.sku: p.units_per_case for p in session.exec(select(Product))}
        for number, case in enumerate(cases):
            store = session.exec(
                select(Store).where(Store.owner_phone == phones[number % len(phones)])
            ).one()
            orders = session.exec(
                select(OrderEB2B)
                .where(OrderEB2B.store_id == store.id, OrderEB2B.channel == "voice")
                .order_by(OrderEB2B.created_at)
            ).all()
            index = number // len(phones)
            if index >= len(orders):
                continue
            got = Counter((item["sku"], item["quantity"]) for item in orders[index].items)
            want = Counter(
                (
                    item["sku"],
                    item["qty"] * (per_case[item["sku"]] if item["unit"] == "case" else 1),
                )
                for item in case["items"]
            )
            right += got == want
    engine.dispose()
    return right
