"""The web console: chat as a demo retailer, rep or manager, through the same pipeline as
WhatsApp (stored, queued, the same agents), with a simulated provider instead of Meta.

It shows only the demo company (or `OPENSALES_CONSOLE_COMPANY`), and is off when
`OPENSALES_CONSOLE=false`: it has no login of its own.
"""

import uuid
from datetime import UTC, datetime
from importlib import resources

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import or_, select
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from db.engine import company_session, system_session
from db.models import Company, Message, OrderEB2B, Role, Store, User
from errors import ApiError
from messages import InboundMessage, Kind

CHANNEL = "console"


class Said(BaseModel):
    phone: str = Field(min_length=4, max_length=20)
    text: str = Field(default="", max_length=20000)
    choice_id: str | None = Field(default=None, max_length=256)


def _company(request: Request) -> Company:
    settings = request.app.state.runtime.settings
    if not settings.console:
        raise ApiError(404, "CONSOLE_DISABLED", "The console is off (OPENSALES_CONSOLE=false).")
    with system_session(request.app.state.runtime.engine) as session:
        companies = session.exec(select(Company).where(Company.deleted_at.is_(None))).all()
    wanted = settings.console_company or "demo-pune"  # never "the only company": no login here
    for company in companies:
        if company.slug == wanted:
            return company
    raise ApiError(404, "CONSOLE_COMPANY_MISSING", f"No company {wanted!r}; run opensales demo.")


async def page(request: Request) -> HTMLResponse:
    _company(request)
    return HTMLResponse(resources.files("channels").joinpath("console.html").read_text())


async def people(request: Request) -> JSONResponse:
    company = _company(request)
    with company_session(company.id, request.app.state.runtime.engine) as session:
        users = session.exec(select(User).order_by(User.role, User.name)).all()
        stores = {s.id: s for s in session.exec(select(Store))}
    listed, retailers = [], 0
    for user in users:
        if user.role == Role.retailer:
            retailers += 1
            if retailers > 40:
                continue
        store = stores.get(user.store_id)
        listed.append(
            {
                "phone": user.phone,
                "name": user.name,
                "role": user.role,
                "store": store.name if store else None,
                "locality": store.locality if store else None,
            }
        )
    turns = request.app.state.runtime.turns
    offered = {role.value: turns.offered(role) for role in Role}  # from the agent registry
    return JSONResponse({"company": company.name, "people": listed, "offered": offered})


async def say(request: Request) -> JSONResponse:
    company = _company(request)
    try:
        said = Said.model_validate(await request.json())
    except (ValueError, ValidationError) as exc:
        raise ApiError(422, "INVALID_MESSAGE", str(exc).splitlines()[0]) from None
    if not said.text.strip() and not said.choice_id:
        raise ApiError(422, "EMPTY_MESSAGE", "Type something or press a button.")
    now = datetime.now(UTC)
    message = InboundMessage(
        channel=CHANNEL,
        provider_message_id=f"console.{uuid.uuid4().hex}",
        sender=said.phone,
        recipient=CHANNEL,
        kind=Kind.button if said.choice_id else Kind.text,
        text=said.text,
        choice_id=said.choice_id,
        sent_at=now,
        received_at=now,
    )
    await request.app.state.runtime.intake.accept(company.id, message, {"console": True})
    return JSONResponse({"status": "queued", "id": message.provider_message_id}, status_code=202)


async def conversation(request: Request) -> JSONResponse:
    company = _company(request)
    phone = request.query_params.get("phone", "")
    with company_session(company.id, request.app.state.runtime.engine) as session:
        rows = session.exec(
            select(Message)
            .where(
                Message.channel == CHANNEL, or_(Message.sender == phone, Message.recipient == phone)
            )
            .order_by(Message.created_at)
        ).all()
        user = session.exec(select(User).where(User.phone == phone)).first()
        orders = (
            session.exec(
                select(OrderEB2B)
                .where(OrderEB2B.store_id == user.store_id)
                .order_by(OrderEB2B.created_at.desc())
                .limit(3)
            ).all()
            if user is not None and user.store_id
            else []
        )
    return JSONResponse(
        {
            "messages": [
                {
                    "from": "them" if row.direction == "inbound" else "us",
                    "text": row.body,
                    "buttons": row.payload.get("buttons", [])
                    if row.direction == "outbound"
                    else [],
                    "status": row.status,
                }
                for row in rows
            ],
            "orders": [
                {
                    "number": o.order_number,
                    "status": o.status,
                    "total_paise": o.total_paise,
                    "items": o.items,
                }
                for o in orders
            ],
        }
    )


routes = [
    Route("/console", page),
    Route("/console/api/people", people),
    Route("/console/api/messages", say, methods=["POST"]),
    Route("/console/api/messages", conversation, methods=["GET"]),
]
