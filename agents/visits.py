"""A rep's visit in chat: share the location to check in at the store (within 100 m), take its
order by text, voice note or photo (the order agent, for the visited store), "checkout" to end
it. The rules are `tools/visits.py`, the same as the mobile app's REST calls. Checking in offers
the store's suggested order, placed with one tap."""

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from agents.context import AgentContext, ChatState
from agents.order import offer_suggested_order
from agents.spec import AgentSpec
from db.models import Company, Role, Store, Task
from errors import ApiError
from phrases import CHECK_OUT, VISIT_ASKS
from tools.visits import MAX_DISTANCE_M, check_in, check_out, open_visit

SHARE_LOCATION = "Share your location on WhatsApp (📎 → Location) at the store to check in."


def _today(ctx: AgentContext):
    company = ctx.session.get(Company, ctx.company_id)
    return datetime.now(ZoneInfo(company.timezone)).date()


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    rep_id = ctx.sender.rep_id
    if rep_id is None:
        ctx.say("Visits are for sales reps. Ask your admin to link your number to a rep.")
        return {"active": None}
    text = state.get("text", "").strip()
    try:
        if text.startswith("/checkin"):
            lat, lng = (float(part) for part in text.removeprefix("/checkin").split(","))
            _checked_in(ctx, check_in(ctx.session, rep_id, lat, lng, _today(ctx)))
        elif match := CHECK_OUT.match(text):
            visit = open_visit(ctx.session, rep_id)
            if visit is None:
                ctx.say(f"You are not checked in anywhere. {SHARE_LOCATION}")
                return {"active": None}
            visit = check_out(ctx.session, rep_id, visit.id, match.group("notes").strip())
            store = ctx.session.get(Store, visit.store_id)
            assert visit.checked_out_at is not None  # check_out just set it
            minutes = (visit.checked_out_at - visit.checked_in_at).total_seconds() / 60
            outcome = "with an order" if visit.outcome == "order" else "without an order"
            ctx.say(f"Checked out of {store.name} after {minutes:.0f} min, {outcome}.")
        else:
            visit = open_visit(ctx.session, rep_id)
            if visit is None:
                ctx.say(SHARE_LOCATION)
            else:
                store = ctx.session.get(Store, visit.store_id)
                ctx.say(
                    f"You are at {store.name} since {visit.checked_in_at:%H:%M} UTC. Send its "
                    'order as text, voice note or photo; "checkout" when you leave.'
                )
    except ApiError as exc:
        ctx.session.rollback()
        ctx.say(exc.message)
    return {"active": None}


def _checked_in(ctx: AgentContext, visit) -> None:
    store = ctx.session.get(Store, visit.store_id)
    tasks = ctx.session.exec(
        select(Task).where(
            Task.rep_id == visit.rep_id,
            Task.store_id == store.id,
            Task.due_date == visit.visit_date,
            Task.status == "pending",
        )
    ).all()
    here = "".join(f"\n• {t.title}\n  Say: {t.pitch}" for t in tasks)
    text = (
        f"Checked in at {store.name} ({visit.distance_m:.0f} m away, within "
        f"{MAX_DISTANCE_M:.0f} m)."
        + (f" Tasks here:{here}" if here else "")
        + '\nSend the order as text, voice note or photo; "checkout" when you leave '
        "(after 5 min at least)."
    )
    offer = offer_suggested_order(
        ctx.session, ctx.parser, store, ctx.conversation, visit.visit_date
    )
    if offer is None:
        ctx.say(text)
    else:  # one tap places the store's suggested order through the order agent
        ctx.say(f"{text}\n\n{offer.text}", buttons=offer.buttons)


SPEC = AgentSpec(
    name="visits",
    answer=answer,
    roles=frozenset({Role.rep, Role.admin}),
    description="checking in at a store (a shared location) or checking out of it; not the "
    "day's plan, beat or route.",
    examples=((Role.rep, "checkout, shop was closed"),),
    keywords=VISIT_ASKS,
    sure=CHECK_OUT,
    commands=("/checkin", "/checkout", "/visit"),
    menu=("Visit", 'visits: share your location to check in, "checkout" to end'),
    denied="Visits are for sales reps.",
    tools=("visits",),
)
