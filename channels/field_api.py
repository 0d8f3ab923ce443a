"""The field API for a mobile app (a rep's day, a manager's review), with the JWTs of
`channels/auth.py`:

    GET   /api/v1/tasks/today            the caller's tasks today (a manager: every rep's)
    PATCH /api/v1/tasks/{id}             a rep: {"status": "completed"} or {"status":
                                         "skipped", "reason": "..."}; a manager or admin:
                                         {"review": "accepted" | "rejected", "note"?}
    POST  /api/v1/visits                 {"lat", "lng", "store_id"?}: check in (within 100 m)
    POST  /api/v1/visits/{id}/checkout   {"notes"?}: check out (after 5 min)

The rules are the chat's own (`tools/visits.py`, `tools/points.py`): completing a task awards
its points once, whichever way it is done. Orders during a visit go through the agent API
(`POST /threads/{id}/runs/wait`), which reaches the order agent for the visited store.
"""

import asyncio
import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from channels.auth import Principal, request_principal
from db.engine import company_session
from db.models import Company, Role, Store, Task, Visit
from errors import ApiError
from tools.points import complete, record
from tools.visits import check_in, check_out

MANAGERS = (Role.manager, Role.admin)


async def _body(request: Request) -> dict:
    try:
        body = await request.json() if await request.body() else {}
    except ValueError:
        raise ApiError(400, "MALFORMED_JSON", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "MALFORMED_JSON", "The body must be a JSON object.")
    return body


def _rep(principal: Principal) -> uuid.UUID:
    if principal.rep_id is None:
        raise ApiError(403, "ROLE_FORBIDDEN", "This is for sales reps (a token with rep_id).")
    return principal.rep_id


def _today(session) -> date:
    company = session.get(Company, session.company_id)
    return datetime.now(ZoneInfo(company.timezone)).date()


def _task_view(task: Task, store: Store | None) -> dict:
    return {
        "id": str(task.id),
        "rep_id": str(task.rep_id),
        "store": {
            "id": str(store.id),
            "code": store.code,
            "name": store.name,
            "lat": store.lat,
            "lng": store.lng,
        }
        if store
        else None,  # fmt: skip
        "type": task.task_type,
        "title": task.title,
        "reasoning": task.reasoning,
        "pitch": task.pitch,
        "priority": task.priority,
        "score": task.score,
        "drivers": task.drivers,
        "products": task.products,
        "points": task.points,
        "status": task.status,
        "review": task.review,
        "note": task.note,
        "source": task.source,
        "due_date": task.due_date.isoformat(),
    }


def _visit_view(visit: Visit) -> dict:
    return {
        "id": str(visit.id),
        "store_id": str(visit.store_id),
        "checked_in_at": visit.checked_in_at.isoformat(),
        "checked_out_at": visit.checked_out_at.isoformat() if visit.checked_out_at else None,
        "distance_m": visit.distance_m,
        "outcome": visit.outcome,
    }


async def tasks_today(request: Request) -> JSONResponse:
    principal = await request_principal(request)

    def read() -> list[dict]:
        with company_session(principal.company_id, request.app.state.runtime.engine) as session:
            query = Task.due_date == _today(session)
            if principal.role not in MANAGERS:
                query = query & (Task.rep_id == _rep(principal))
            tasks = session.exec(
                select(Task)
                .where(query)
                .order_by(col(Task.rep_id), col(Task.priority), col(Task.score).desc())
            ).all()
            stores = {s.id: s for s in session.exec(select(Store))} if tasks else {}
            return [_task_view(t, stores.get(t.store_id) if t.store_id else None) for t in tasks]

    return JSONResponse({"tasks": await asyncio.to_thread(read)})


async def update_task(request: Request) -> JSONResponse:
    principal = await request_principal(request)
    body = await _body(request)
    runtime = request.app.state.runtime

    def change() -> tuple[dict, uuid.UUID | None, date]:
        with company_session(principal.company_id, runtime.engine) as session:
            try:
                task = session.get(Task, uuid.UUID(request.path_params["task_id"]))
            except ValueError:
                task = None
            mine = task is not None and task.rep_id == principal.rep_id
            if task is None or not (mine or principal.role in MANAGERS):
                raise ApiError(404, "TASK_NOT_FOUND", "No such task for this caller.")
            today, awarded = _today(session), None
            if "review" in body:
                if principal.role not in MANAGERS:
                    raise ApiError(403, "ROLE_FORBIDDEN", "Managers review tasks.")
                if body["review"] not in ("accepted", "rejected"):
                    raise ApiError(422, "INVALID_REVIEW", "review is accepted or rejected.")
                task.review, task.note = body["review"], str(body.get("note") or task.note)[:300]
                if body["review"] == "rejected" and task.status == "pending":
                    task.status = "rejected"
            elif body.get("status") == "completed":
                if not mine:
                    raise ApiError(403, "ROLE_FORBIDDEN", "Only the task's rep completes it.")
                if complete(session, task, today) is not None:
                    awarded = task.rep_id
            elif body.get("status") == "skipped":
                reason = str(body.get("reason") or "").strip()
                if not mine or task.status != "pending" or not reason:
                    raise ApiError(
                        422, "INVALID_SKIP", "The task's rep skips a pending task with a reason."
                    )
                task.status, task.note = "skipped", reason[:300]
            else:
                raise ApiError(
                    422,
                    "INVALID_TASK_UPDATE",
                    'Send {"status": "completed"}, {"status": "skipped", "reason": ...} or '
                    '{"review": "accepted" | "rejected"}.',
                )
            session.commit()
            store = session.get(Store, task.store_id) if task.store_id else None
            return _task_view(task, store), awarded, today

    view, awarded, today = await asyncio.to_thread(change)
    if awarded is not None:
        with company_session(principal.company_id, runtime.engine) as session:
            await record(session, runtime.redis, runtime.settings.redis_prefix, awarded, today)
    return JSONResponse(view)


async def start_visit(request: Request) -> JSONResponse:
    principal = await request_principal(request)
    body = await _body(request)
    rep_id = _rep(principal)
    try:
        lat, lng = float(body["lat"]), float(body["lng"])
        store_id = uuid.UUID(body["store_id"]) if body.get("store_id") else None
    except (KeyError, TypeError, ValueError):
        raise ApiError(
            422, "INVALID_LOCATION", 'Send {"lat": .., "lng": .., "store_id"?}.'
        ) from None

    def start() -> dict:
        with company_session(principal.company_id, request.app.state.runtime.engine) as session:
            return _visit_view(check_in(session, rep_id, lat, lng, _today(session), store_id))

    return JSONResponse(await asyncio.to_thread(start), status_code=201)


async def end_visit(request: Request) -> JSONResponse:
    principal = await request_principal(request)
    body = await _body(request)
    rep_id = _rep(principal)
    try:
        visit_id = uuid.UUID(request.path_params["visit_id"])
    except ValueError:
        raise ApiError(404, "VISIT_NOT_FOUND", "No such visit.") from None

    def end() -> dict:
        with company_session(principal.company_id, request.app.state.runtime.engine) as session:
            return _visit_view(check_out(session, rep_id, visit_id, str(body.get("notes") or "")))

    return JSONResponse(await asyncio.to_thread(end))


routes = [
    Route("/api/v1/tasks/today", tasks_today, methods=["GET"]),
    Route("/api/v1/tasks/{task_id}", update_task, methods=["PATCH"]),
    Route("/api/v1/visits", start_visit, methods=["POST"]),
    Route("/api/v1/visits/{visit_id}/checkout", end_visit, methods=["POST"]),
]
