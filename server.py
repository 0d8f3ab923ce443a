"""The Starlette application: the channels' routes, health, readiness, Prometheus metrics and
JSON errors with codes.

`create_app()` lists the routes and a lifespan that builds the runtime (`runtime.py`, the
composition root) and closes it; `opensales serve` runs it under uvicorn.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from sqlalchemy import Engine, text
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels import agent_api, console, field_api, sms, sync_api, voice, voice_stream, whatsapp
from errors import ApiError
from runtime import build_runtime
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
    runtime = request.app.state.runtime
    timeout = runtime.settings.readiness_timeout_s
    checks = {"database": await _check(asyncio.to_thread(_ping_database, runtime.engine), timeout)}
    if runtime.redis is not None:
        checks["redis"] = await _check(runtime.redis.ping(), timeout)
    if runtime.settings.twilio_auth_token:
        warming = runtime.voice_ready
        ready = warming is not None and warming.done() and not warming.cancelled()
        checks["voice"] = "ok" if ready else "warming up"
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


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.runtime = runtime = build_runtime(settings)
        runtime.start()
        try:
            yield
        finally:
            await runtime.close()

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
        *sync_api.routes,
        *field_api.routes,
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={ApiError: api_error, HTTPException: http_error, 500: server_error},
    )
    app.add_middleware(MetricsMiddleware)
    if settings.cors_origins:  # browsers on these origins may call the agent API
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type"],
            max_age=600,
        )
    return app
