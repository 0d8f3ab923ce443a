"""The Starlette application: health, readiness, Prometheus metrics and JSON errors with codes.

`create_app()` builds it from settings; `opensales serve` runs it under uvicorn.
"""

import asyncio
import importlib
import logging
import time
from contextlib import asynccontextmanager
from weakref import WeakValueDictionary

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from redis.asyncio import Redis
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels import agent_api, console, sms, voice, voice_stream, whatsapp
from channels.auth import Authenticator
from channels.media import TwilioMedia, WhatsAppMedia
from channels.outbox import SimulatedSender
from channels.ratelimit import RateLimiter
from channels.voice import LiveCalls
from db.engine import create_db_engine
from errors import ApiError
from jobs.conversation import Runtime
from jobs.queue import ArqQueue, InProcessQueue, stranded
from llm.service import build_llm
from settings import Settings, get_settings

log = logging.getLogger("opensales.server")

REQUESTS = Counter(
    "opensales_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
LATENCY = Histogram(
    "opensales_http_request_duration_seconds", "HTTP request latency", ["method", "route"]
)

KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
HTTP_ERROR_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    422: "UNPROCESSABLE_ENTITY",
    429: "RATE_LIMITED",
    503: "SERVICE_UNAVAILABLE",
}


def error_response(status_code: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status_code)


async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
    response = error_response(exc.status_code, exc.code, exc.message)
    if retry_after := getattr(exc, "retry_after", None):  # 429: when to come back
        response.headers["Retry-After"] = str(retry_after)
    return response


async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
    code = HTTP_ERROR_CODES.get(exc.status_code, f"HTTP_{exc.status_code}")
    response = error_response(exc.status_code, code, exc.detail)
    response.headers.update(exc.headers or {})  # Allow on 405, WWW-Authenticate on 401
    return response


async def server_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "INTERNAL_ERROR", "Something went wrong on our side.")


class MetricsMiddleware:
    """Counts requests and times them per route template and known method: labels stay few."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            REQUESTS.labels(method, template, str(status)).inc()
            LATENCY.labels(method, template).observe(time.perf_counter() - started)


async def index(_request: Request) -> JSONResponse:
    return JSONResponse({"service": "opensales", "health": "/healthz", "ready": "/readyz"})


async def healthz(_request: Request) -> JSONResponse:
    """Liveness: the process answers. Never touches a dependency."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> JSONResponse:
    """Readiness: the database answers, Redis when one is configured, and the speech models
    are loaded when phone calls are (a call cannot wait for them)."""
    state = request.app.state
    timeout = state.settings.readiness_timeout_s
    checks = {"database": await _check(asyncio.to_thread(_ping_database, state.engine), timeout)}
    if state.redis is not None:
        checks["redis"] = await _check(state.redis.ping(), timeout)
    if state.settings.twilio_auth_token:
        warming = state.voice_warming
        checks["voice"] = "ok" if warming.done() and not warming.cancelled() else "warming up"
    ready = all(result == "ok" for result in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
    )


def _ping_database(engine: Engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


async def _check(probe, timeout: float) -> str:
    try:
        await asyncio.wait_for(probe, timeout)
    except TimeoutError:
        return f"timed out after {timeout:g}s"
    except Exception as exc:  # any failure means "not ready"; say which
        first_line = next(iter(str(exc).splitlines()), "")
        return f"error: {type(exc).__name__}: {first_line}"
    return "ok"


async def metrics(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def build_runtime(settings: Settings, redis: Redis | None = None) -> Runtime:
    """The engine, senders and LLM that jobs use; one per process."""
    senders = {"console": SimulatedSender("console")}
    if settings.whatsapp_token and settings.whatsapp_phone_number_id:
        senders["whatsapp"] = whatsapp.WhatsAppSender(
            settings.whatsapp_phone_number_id, settings.whatsapp_token
        )
    else:  # no Cloud API credentials: replies are kept, not sent (development, tests)
        senders["whatsapp"] = SimulatedSender("whatsapp")
    engine = create_db_engine(settings.sqlalchemy_url)
    if settings.twilio_account_sid and settings.twilio_auth_token and settings.twilio_phone_number:
        senders["sms"] = sms.TwilioSMSSender(settings, engine)
    else:  # no Twilio credentials: replies are kept, not sent
        senders["sms"] = SimulatedSender("sms")
    senders["voice"] = LiveCalls()  # replies go to the caller's live call
    media = {}
    if settings.whatsapp_token:
        media["whatsapp"] = WhatsAppMedia(settings.whatsapp_token)
    if settings.twilio_account_sid and settings.twilio_auth_token:
        media["sms"] = TwilioMedia(settings.twilio_account_sid, settings.twilio_auth_token)
    llm = build_llm(settings) if settings.llm_backend != "off" else None
    return Runtime(
        settings=settings, engine=engine, senders=senders, llm=llm, redis=redis, media=media
    )


def build_queue(runtime: Runtime) -> ArqQueue | InProcessQueue:
    if runtime.settings.redis_url:
        return ArqQueue(
            runtime.settings.redis_url, runtime.settings.burst_window_s, runtime.settings.queue_name
        )
    return InProcessQueue(runtime)


async def sweep_forever(runtime: Runtime, queue, every_s: float = 60) -> None:
    """Queue again any conversation left unanswered, e.g. by a crash after storing."""
    while True:
        await asyncio.sleep(every_s)
        try:
            for company_id, channel, sender in await asyncio.to_thread(stranded, runtime):
                await queue.enqueue(company_id, channel, sender)
        except Exception:
            log.exception("sweeping unanswered conversations failed")


async def warm_prompts(runtime: Runtime) -> None:
    """Load the model and evaluate the long fixed prompts (routing, analytics SQL) in the
    background, so the first manager's question does not pay for them (about 30 s on 2 cores;
    requests that come meanwhile wait their turn)."""
    if runtime.llm is None or runtime.settings.llm_backend != "local":
        return
    from agents.analytics import _policies, system_prompt
    from prompts import render

    try:
        await runtime.llm.prepare(render("route"))
        engine = runtime.engine
        await runtime.llm.prepare(system_prompt(_policies(engine), engine.dialect.name))
    except Exception:  # a model that will not load shows up on the first real request
        log.exception("warming the prompts failed")


def warm_speech(runtime: Runtime) -> None:
    """Load Whisper and Piper and run each once: a caller should not wait for a model."""
    import numpy as np

    from speech.stt import get_stt
    from speech.tts import get_tts

    try:
        get_tts(runtime.settings).synthesize("Namaste.")
        get_stt(runtime.settings).transcribe(np.zeros(16000, dtype=np.float32), vad=False)
    except Exception:  # a model that will not load shows up on the first call
        log.exception("warming the speech models failed")


async def warm_voice(runtime: Runtime) -> None:
    """Phone calls cannot wait: models, the agents' modules (imported in a worker thread, not
    on the event loop that carries every call's audio) and conversation memory, made ready."""
    if not runtime.settings.twilio_auth_token:
        return
    await asyncio.to_thread(warm_speech, runtime)
    await asyncio.to_thread(importlib.import_module, "graph")
    await runtime.agent_graph()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette):
        app.state.settings = settings
        app.state.redis = (
            Redis.from_url(
                settings.redis_url,
                socket_connect_timeout=settings.readiness_timeout_s,
                socket_timeout=settings.readiness_timeout_s,
            )
            if settings.redis_url
            else None
        )
        app.state.runtime = build_runtime(settings, app.state.redis)
        app.state.engine = app.state.runtime.engine
        app.state.queue = build_queue(app.state.runtime)
        app.state.authenticator = Authenticator(settings)
        app.state.rate_limiter = RateLimiter(settings.rate_limit_ai_per_minute, app.state.redis)
        app.state.run_locks = WeakValueDictionary()  # a thread's lock lives while in use
        sweeper = asyncio.create_task(sweep_forever(app.state.runtime, app.state.queue))
        warming = asyncio.create_task(warm_prompts(app.state.runtime))
        voice_warming = app.state.voice_warming = asyncio.create_task(warm_voice(app.state.runtime))
        try:
            yield
        finally:
            warming.cancel()
            voice_warming.cancel()
            sweeper.cancel()
            await app.state.queue.close()
            await app.state.runtime.close()
            if app.state.redis is not None:
                await app.state.redis.aclose()
            app.state.engine.dispose()

    routes = [
        Route("/", index),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *whatsapp.routes,
        *sms.routes,
        *voice.routes,
        *voice_stream.routes,
        *console.routes,
        *agent_api.routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_error, 500: server_error},
    )
    app.add_middleware(MetricsMiddleware)
    return app
