"""The composition root: what the server and the worker run on, built once, in order.

    settings -> database -> LLM service (and its circuit breaker) -> channels' senders and
    media -> the turn engine (agents and graph over conversation memory, opened in the
    running event loop) -> the queue -> intake (routing, limits) -> the agent API's guards

`server.py` serves HTTP over a `Runtime`, `worker.py` answers queued conversations over one;
neither builds anything itself. Background work (sweeping up unanswered conversations, warming
the model's long prompts and the speech models) starts with `start()` and stops with `close()`.
"""

import asyncio
import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from weakref import WeakValueDictionary

from redis.asyncio import Redis
from sqlalchemy import Engine

from channels import sms, whatsapp
from channels.auth import Authenticator
from channels.inbox import Intake
from channels.media import TwilioMedia, WhatsAppMedia
from channels.ratelimit import RateLimiter
from channels.simulated import SimulatedSender
from channels.voice import LiveCalls
from db.engine import create_db_engine
from db.models import Company
from jobs.daily import JOBS
from jobs.queue import ArqQueue, InProcessQueue, stranded
from jobs.scheduler import JobContext, tick
from jobs.turns import Turns
from llm.service import LLMService, build_llm
from messages import MediaFetcher, Sender
from settings import Settings

log = logging.getLogger("opensales.runtime")
SWEEP_EVERY_S = 60
SCHEDULE_EVERY_S = 60


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    redis: Redis | None
    turns: Turns
    queue: ArqQueue | InProcessQueue
    intake: Intake
    authenticator: Authenticator
    api_limiter: RateLimiter  # agent-API runs per user and minute
    run_locks: WeakValueDictionary = field(default_factory=WeakValueDictionary)
    voice_ready: asyncio.Task | None = None  # done once the speech models are loaded
    _tasks: list[asyncio.Task] = field(default_factory=list)

    @property
    def llm(self) -> LLMService | None:
        return self.turns.llm

    @property
    def senders(self) -> dict[str, Sender]:
        return self.turns.senders

    @property
    def media(self) -> dict[str, MediaFetcher]:
        return self.turns.media

    def start(self, sweep: bool = True) -> None:
        """Background work, in the running event loop: warm the model's long prompts, load
        the speech models when phone calls are on, and (`sweep`: the server) answer what was
        left and, without Redis, run the daily jobs (with Redis the worker runs them)."""
        self._tasks.append(asyncio.create_task(warm_prompts(self)))
        self.voice_ready = asyncio.create_task(warm_voice(self))
        self._tasks.append(self.voice_ready)
        if sweep:
            self._tasks.append(asyncio.create_task(sweep_forever(self)))
            if self.settings.scheduler and not self.settings.redis_url:
                self._tasks.append(asyncio.create_task(schedule_forever(self)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self.queue.close()
        await self.turns.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.engine.dispose()


def build_runtime(settings: Settings, redis: Redis | None = None) -> Runtime:
    """Everything a process needs, from settings; `redis` when the caller has a connection."""
    if redis is None and settings.redis_url:
        redis = Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=settings.readiness_timeout_s,
            socket_timeout=settings.readiness_timeout_s,
        )
    engine = create_db_engine(settings.sqlalchemy_url)
    prefix = settings.redis_prefix
    llm = build_llm(settings) if settings.llm_backend != "off" else None
    turns = Turns(settings, engine, senders(settings, engine), llm, media_fetchers(settings), redis)
    queue: ArqQueue | InProcessQueue
    if settings.redis_url:
        queue = ArqQueue(
            settings.redis_url, settings.burst_window_s, settings.queue_name, settings.redis_prefix
        )
    else:
        queue = InProcessQueue(turns, settings.burst_window_s)
    return Runtime(
        settings=settings,
        engine=engine,
        redis=redis,
        turns=turns,
        queue=queue,
        intake=Intake(
            engine, queue, RateLimiter(settings.inbound_per_minute, redis, f"{prefix}:in")
        ),
        authenticator=Authenticator(settings),
        api_limiter=RateLimiter(settings.rate_limit_ai_per_minute, redis, f"{prefix}:rate"),
    )


def senders(settings: Settings, engine: Engine) -> dict[str, Sender]:
    """Each channel's way out; a channel without credentials keeps its replies (development)."""
    out: dict[str, Sender] = {"console": SimulatedSender("console")}
    if settings.whatsapp_token and settings.whatsapp_phone_number_id:
        out["whatsapp"] = whatsapp.WhatsAppSender(
            settings.whatsapp_phone_number_id, settings.whatsapp_token
        )
    else:
        out["whatsapp"] = SimulatedSender("whatsapp")
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_phone_number:
        out["sms"] = sms.TwilioSMSSender(settings, engine)
    else:
        out["sms"] = SimulatedSender("sms")
    out["voice"] = LiveCalls()  # replies go to the caller's live call
    return out


def media_fetchers(settings: Settings) -> dict[str, MediaFetcher]:
    fetchers: dict[str, MediaFetcher] = {}
    if settings.whatsapp_token:
        fetchers["whatsapp"] = WhatsAppMedia(settings.whatsapp_token)
    if settings.twilio_account_sid and settings.twilio_auth_token:
        fetchers["sms"] = TwilioMedia(settings.twilio_account_sid, settings.twilio_auth_token)
    return fetchers


async def sweep_forever(runtime: Runtime, every_s: float = SWEEP_EVERY_S) -> None:
    """Queue again any conversation left unanswered or undelivered, e.g. by a crash."""
    while True:
        await asyncio.sleep(every_s)
        try:
            for company_id, channel, sender in await asyncio.to_thread(stranded, runtime.engine):
                await runtime.queue.enqueue(company_id, channel, sender)
        except Exception:
            log.exception("sweeping unanswered conversations failed")


def job_context(
    runtime: Runtime,
    company: Company,
    day: date,
    slot: str,
    progress: Callable[[str], None] = lambda _line: None,
) -> JobContext:
    """What a daily job of `company` runs with: this runtime's database, LLM, retrieval memory
    (when built) and queue, which delivers what the job sends."""
    memory = None
    if runtime.llm is not None and runtime.settings.chroma_dir.exists():
        from memory.store import Memory

        memory = Memory(runtime.settings.chroma_dir).for_company(company.id)
    return JobContext(
        engine=runtime.engine,
        settings=runtime.settings,
        company_id=company.id,
        timezone=company.timezone,
        day=day,
        slot=slot,
        llm=runtime.llm,
        memory=memory,
        deliver=runtime.queue.enqueue,
        progress=progress,
    )


async def schedule_forever(runtime: Runtime, every_s: float = SCHEDULE_EVERY_S) -> None:
    """The daily jobs, in this process (the embedded default): each minute, run what is due."""
    while True:
        await asyncio.sleep(every_s)
        try:
            await tick(JOBS, partial(job_context, runtime), runtime.engine)
        except Exception:
            log.exception("running the daily jobs failed")


async def warm_prompts(runtime: Runtime) -> None:
    """Load the model and evaluate the long fixed prompts (routing, analytics SQL) in the
    background, so the first manager's question does not pay for them (about 30 s on 2 cores;
    requests that come meanwhile wait their turn)."""
    llm = runtime.llm
    if llm is None or runtime.settings.llm_backend != "local":
        return
    from agents.analytics import sql_prompt
    from agents.router import routing_prompt

    try:
        await llm.prepare(routing_prompt(runtime.turns.agents))
        await llm.prepare(await asyncio.to_thread(sql_prompt, runtime.engine))
    except Exception:  # a model that will not load shows up on the first real request
        log.exception("warming the prompts failed")


def warm_speech(settings: Settings) -> None:
    """Load Whisper and Piper and run each once: a caller should not wait for a model."""
    import numpy as np

    from speech.stt import get_stt
    from speech.tts import get_tts

    try:
        get_tts(settings).synthesize("Namaste.")
        get_stt(settings).transcribe(np.zeros(16000, dtype=np.float32), vad=False)
    except Exception:  # a model that will not load shows up on the first call
        log.exception("warming the speech models failed")


async def warm_voice(runtime: Runtime) -> None:
    """Phone calls cannot wait: speech models (loaded in a worker thread, not on the event
    loop that carries every call's audio) and conversation memory, made ready."""
    if not runtime.settings.twilio_auth_token:
        return
    await asyncio.to_thread(warm_speech, runtime.settings)
    await asyncio.to_thread(importlib.import_module, "tools.hearing")
    await runtime.turns.graph()
