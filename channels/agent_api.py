"""The agent API, a subset of the Agent Protocol: threads, runs (wait or stream) and history.

    POST /threads                       create a thread for the caller
    POST /threads/{id}/runs/wait        run one turn, answer when done
    POST /threads/{id}/runs/stream      the same, as server-sent events while it runs (the
                                        replies once the run's writes are committed)
    GET  /threads/{id}/history          the thread's checkpoints, newest first
    GET  /agents                        the agents the caller's role can reach

Every call carries a bearer token (`channels/auth.py`): its company and role decide what the
supervisor may reach, exactly as a phone number does on WhatsApp. Runs count against the
caller's rate limit. One run at a time per thread: a second one waits its turn (across
processes through Redis). A run goes through the same turn engine as every channel
(`jobs/turns.py`): its input is stored as a message before it is processed, and its replies are
logged with what it did.
"""

import asyncio
import base64
import itertools
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime

from redis.exceptions import LockNotOwnedError
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from channels.auth import Principal, request_principal
from channels.inbox import store_inbound
from db.engine import company_session
from db.models import AgentThread, Channel, Role
from errors import ApiError
from jobs.turns import Person, TurnEvent
from memory.conversations import thread_id as memory_thread
from messages import InboundMessage, Kind, OutboundMessage

RUN_WAIT_S = 120  # how long a run waits for the thread's previous run
RUN_HOLD_S = 600  # a run's lock frees itself after this long (a process that died holding it)
MAX_INPUT_CHARS = 4096
MAX_CHOICE_CHARS = 256  # WhatsApp's limit for a button id


async def _json(request: Request) -> dict:
    try:
        body = await request.json() if await request.body() else {}
    except ValueError:
        raise ApiError(400, "MALFORMED_JSON", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    return body


def _thread(session, principal: Principal, raw_id: str) -> AgentThread:
    """The caller's thread; another subject's (or another company's) is not found."""
    try:
        thread = session.get(AgentThread, uuid.UUID(raw_id))
    except ValueError:
        thread = None
    if thread is None or (thread.subject != principal.subject and principal.role != Role.admin):
        raise ApiError(404, "THREAD_NOT_FOUND", f"No thread {raw_id} for this caller.")
    return thread


def _view(thread: AgentThread) -> dict:
    return {
        "thread_id": str(thread.id),
        "created_at": thread.created_at.isoformat(),
        "metadata": thread.details,
        "status": "idle",
    }


async def create_thread(request: Request) -> JSONResponse:
    principal = await request_principal(request)
    body = await _json(request)
    metadata = body.get("metadata") or {}
    if (
        not isinstance(metadata, dict)
        or len(json.dumps(metadata)) > MAX_INPUT_CHARS
        or "\\u0000" in json.dumps(metadata)
    ):
        raise ApiError(
            422,
            "INVALID_METADATA",
            "metadata must be a JSON object of at most "
            f"{MAX_INPUT_CHARS} characters, without NUL characters.",
        )
    with company_session(principal.company_id, request.app.state.runtime.engine) as session:
        thread = AgentThread(subject=principal.subject, role=principal.role, details=metadata)
        session.add(thread)
        session.commit()
        return JSONResponse(_view(thread), status_code=201)


def _turn_input(body: dict) -> tuple[str, str | None]:
    """The turn's text and button choice, from `{"input": {"messages": [...]}}` (the last
    human message) or `{"input": {"text": ..., "choice": ...}}`."""
    given = body.get("input")
    if not isinstance(given, dict):
        raise ApiError(
            422,
            "INVALID_INPUT",
            'Send {"input": {"messages": [{"role": "user", "content": "..."}]}}.',
        )
    text, choice = given.get("text", ""), given.get("choice")
    messages = given.get("messages")
    if isinstance(messages, list) and messages:
        last = messages[-1]
        if not isinstance(last, dict) or last.get("role") not in ("user", "human"):
            raise ApiError(422, "INVALID_INPUT", "The last message must be the user's.")
        text = last.get("content", "")
    if not isinstance(text, str) or (choice is not None and not isinstance(choice, str)):
        raise ApiError(422, "INVALID_INPUT", "text and choice must be strings.")
    if choice is not None and len(choice) > MAX_CHOICE_CHARS:
        raise ApiError(
            422,
            "INVALID_INPUT",
            f"A choice is a button id of at most {MAX_CHOICE_CHARS} characters.",
        )
    text = text.replace("\x00", "")  # PostgreSQL text cannot hold NUL
    if not text.strip() and not choice:
        raise ApiError(422, "INVALID_INPUT", "The input has no text.")
    if len(text) > MAX_INPUT_CHARS:
        raise ApiError(
            413, "INPUT_TOO_LONG", f"Messages are limited to {MAX_INPUT_CHARS} characters."
        )
    return text, choice


def _reply_view(reply: OutboundMessage) -> dict:
    view: dict = {"type": "ai", "content": reply.text}
    if reply.buttons:
        view["buttons"] = [{"id": b.id, "title": b.title} for b in reply.buttons]
    if reply.image:
        view["image"] = {
            "media_type": "image/png",
            "caption": reply.image_caption,
            "data": base64.b64encode(reply.image).decode(),
        }
    return view


@asynccontextmanager
async def _one_run_at_a_time(request: Request, thread: str) -> AsyncIterator[None]:
    """A second run on a thread waits for the first (queued), up to RUN_WAIT_S, then 409."""
    redis = request.app.state.runtime.redis
    if redis is not None:
        lock = redis.lock(
            f"{request.app.state.runtime.settings.redis_prefix}:run:{thread}",
            timeout=RUN_HOLD_S,
            blocking_timeout=RUN_WAIT_S,
        )
        if not await lock.acquire():
            raise _busy()
        try:
            yield
        finally:
            with suppress(LockNotOwnedError):  # held past RUN_HOLD_S: already free
                await lock.release()
        return
    lock = request.app.state.runtime.run_locks.setdefault(thread, asyncio.Lock())
    try:
        async with asyncio.timeout(RUN_WAIT_S):
            await lock.acquire()
    except TimeoutError:
        raise _busy() from None
    try:
        yield
    finally:
        lock.release()


def _busy() -> ApiError:
    return ApiError(409, "THREAD_BUSY", "The thread's previous run is still going.")


def _config(principal: Principal, thread: AgentThread) -> dict:
    """The LangGraph thread of an API thread (its checkpoints)."""
    return {
        "configurable": {
            "thread_id": memory_thread(principal.company_id, Channel.api, str(thread.id))
        }
    }


class _Run:
    """One turn on a thread: stored as a message, answered by the turn engine, its replies
    delivered in the response (and logged, as on every channel)."""

    channel = Channel.api

    def __init__(
        self, principal: Principal, thread: AgentThread, text: str, choice: str | None
    ) -> None:
        self.principal, self.thread = principal, thread
        self.text, self.choice = text, choice
        self.run_id = uuid.uuid4()
        self._sent = itertools.count(1)

    @property
    def person(self) -> Person:
        principal = self.principal
        return Person(
            role=principal.role,
            name=principal.name,
            key=principal.subject,
            store_id=principal.store_id,
            rep_id=principal.rep_id,
        )

    def store(self, engine) -> uuid.UUID:
        """The input, stored before it is processed (never retried by the sweeper, which
        leaves API messages to the run that stored them)."""
        now = datetime.now(UTC)
        message = InboundMessage(
            channel=Channel.api,
            provider_message_id=f"api.{self.run_id}",
            sender=str(self.thread.id),
            recipient="agent-api",
            kind=Kind.button if self.choice else Kind.text,
            text=self.text,
            choice_id=self.choice,
            sent_at=now,
            received_at=now,
        )
        stored = store_inbound(engine, self.principal.company_id, message, {})
        assert stored is not None  # a fresh run id
        return stored

    async def send(self, to: str, message: OutboundMessage) -> str:
        """The response is the delivery: the turn engine's sender for this run."""
        return f"api.{self.run_id}.{next(self._sent)}"

    async def events(self, runtime) -> AsyncIterator[TurnEvent]:
        message_id = self.store(runtime.engine)
        try:
            async for event in runtime.turns.stream(
                self.principal.company_id, self.person, message_id, self
            ):
                yield event
        except Exception as exc:
            raise ApiError(500, "RUN_FAILED", f"The run failed: {type(exc).__name__}.") from exc

    def result(self, route: dict, replies: list[OutboundMessage]) -> dict:
        return {
            "run_id": str(self.run_id),
            "thread_id": str(self.thread.id),
            "status": "success",
            "route": route,
            "messages": [_reply_view(reply) for reply in replies],
        }


async def _start(request: Request) -> tuple[Principal, AgentThread, str, str | None]:
    principal = await request_principal(request)
    await request.app.state.runtime.api_limiter.enforce(
        f"{principal.company_id}:{principal.subject}"
    )
    text, choice = _turn_input(await _json(request))
    with company_session(principal.company_id, request.app.state.runtime.engine) as session:
        thread = _thread(session, principal, request.path_params["thread_id"])
        session.expunge(thread)
    return principal, thread, text, choice


async def run_wait(request: Request) -> JSONResponse:
    principal, thread, text, choice = await _start(request)
    run = _Run(principal, thread, text, choice)
    route: dict = {}
    replies: list[OutboundMessage] = []
    async with _one_run_at_a_time(request, str(thread.id)):
        async for event in run.events(request.app.state.runtime):
            route = (event.update or {}).get("route", route)
            replies = event.replies if event.replies is not None else replies
    return JSONResponse(run.result(route, replies))


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


async def run_stream(request: Request) -> StreamingResponse:
    principal, thread, text, choice = await _start(request)
    run = _Run(principal, thread, text, choice)

    async def events() -> AsyncIterator[str]:
        yield _event("metadata", {"run_id": str(run.run_id), "thread_id": str(thread.id)})
        try:
            async for event in _run_events():
                yield event
        except ApiError as error:  # the headers are gone: the error is an event
            yield _event("error", {"code": error.code, "message": error.message})
        yield _event("end", {})

    async def _run_events() -> AsyncIterator[str]:
        route: dict = {}
        async with _one_run_at_a_time(request, str(thread.id)):
            async for event in run.events(request.app.state.runtime):
                if event.replies is None:
                    route = (event.update or {}).get("route", route)
                    yield _event("updates", {event.node: _public(event.update)})
                    continue
                for reply in event.replies:  # committed before any reply is shown
                    yield _event("messages", _reply_view(reply))
                yield _event("values", run.result(route, event.replies))

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


def _public(values: dict | None) -> dict:
    """A node's state update as the client sees it."""
    return {key: value for key, value in (values or {}).items() if key != "history"}


async def agents(request: Request) -> JSONResponse:
    """The agents the caller's role can reach (the registry): names, what they answer, an
    example, commands, prompts and tools."""
    principal = await request_principal(request)
    return JSONResponse(request.app.state.runtime.turns.offered(principal.role))


async def history(request: Request) -> JSONResponse:
    principal = await request_principal(request)
    runtime = request.app.state.runtime
    with company_session(principal.company_id, runtime.engine) as session:
        thread = _thread(session, principal, request.path_params["thread_id"])
    try:
        limit = min(max(int(request.query_params.get("limit", 20)), 1), 100)
    except ValueError:
        raise ApiError(422, "INVALID_LIMIT", "limit must be a number from 1 to 100.") from None
    graph = await runtime.turns.graph()
    config = _config(principal, thread)
    states = []
    async for snapshot in graph.aget_state_history(config, limit=limit):
        states.append(
            {
                "checkpoint_id": snapshot.config["configurable"]["checkpoint_id"],
                "created_at": snapshot.created_at,
                "values": {
                    key: snapshot.values.get(key)
                    for key in ("history", "route", "active")
                    if key in snapshot.values
                },
                "next": list(snapshot.next),
            }
        )
    return JSONResponse(states)


routes = [
    Route("/agents", agents, methods=["GET"]),
    Route("/threads", create_thread, methods=["POST"]),
    Route("/threads/{thread_id}/runs/wait", run_wait, methods=["POST"]),
    Route("/threads/{thread_id}/runs/stream", run_stream, methods=["POST"]),
    Route("/threads/{thread_id}/history", history, methods=["GET"]),
]
