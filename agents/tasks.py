"""A rep's day: today's tasks with the reason and the pitch, the route through them with a map,
and marking one done for points."""

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from db.models import Company, Rep, Role, Store, Task
from db.scope import CompanySession
from messages import Button, OutboundMessage
from phrases import DONE, NEEDS_ASKS, RISK_ASKS, ROUTE_ASKS, SKIP, TASK_ASKS, TASK_UPDATE
from tools.beat import plan_beat
from tools.charts import render_route_map
from tools.forecasts import named_store, store_needs
from tools.points import complete, record
from tools.risk import stores_at_risk

SHOWN = 10
AT_RISK = 0.1  # a churn score from which a store is worth a rep's worry


def today(ctx: AgentContext) -> date:
    """The company's business day, whatever the server's clock zone."""
    company = ctx.session.get(Company, ctx.company_id)
    return datetime.now(ZoneInfo(company.timezone if company else "Asia/Kolkata")).date()


def todays_tasks(ctx: AgentContext, rep_id: uuid.UUID) -> list[Task]:
    return list(
        ctx.session.exec(
            select(Task)
            .where(Task.rep_id == rep_id, Task.due_date == today(ctx))
            .order_by(Task.priority, Task.title, Task.id)
        ).all()
    )


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    if ctx.sender.rep_id is None:
        ctx.say("Tasks are planned for sales reps. Ask your admin to link your number to a rep.")
        return {"active": None}
    tasks = todays_tasks(ctx, ctx.sender.rep_id)
    choice = state.get("choice") or ""
    if choice.startswith("tasks:done:"):
        _complete(ctx, tasks, choice.removeprefix("tasks:done:"))
        await _after_award(ctx)
        return {"active": None}
    if match := SKIP.match(state.get("text", "")):
        _skip(ctx, tasks, int(match.group(1)), match.group("reason"))
        return {"active": None}
    if match := DONE.search(state.get("text", "")):
        number = int(match.group(1) or match.group(2))
        if 1 <= number <= len(tasks):
            _complete(ctx, tasks, str(tasks[number - 1].id))
            await _after_award(ctx)
        else:
            ctx.say(f"There is no task {number} today; you have {len(tasks)}.")
        return {"active": None}
    if ROUTE_ASKS.search(state.get("text", "")):
        _route(ctx, ctx.sender.rep_id)
        return {"active": None}
    if RISK_ASKS.search(state.get("text", "")):
        at_risk(ctx, ctx.sender.rep_id)
        return {"active": None}
    if NEEDS_ASKS.search(state.get("text", "")):
        needs(ctx, ctx.sender.rep_id, state.get("text", ""))
        return {"active": None}
    _list(ctx, tasks)
    return {"active": None}


def _route(ctx: AgentContext, rep_id: uuid.UUID) -> None:
    company = ctx.session.get(Company, ctx.company_id)
    now = datetime.now(ZoneInfo(company.timezone if company else "Asia/Kolkata"))
    route = plan_beat(ctx.session, rep_id, now.date(), now)
    if route is None:
        ctx.say("Nothing left to visit today: no pending tasks and no beat stores.")
        return
    lines = [
        f"{n}. {leg.arrive:%H:%M} {leg.store.name}"
        + (f" ({leg.store.locality})" if leg.store.locality else "")
        + (f": {leg.task.title}" if leg.task else ": beat visit")
        for n, leg in enumerate(route.legs, 1)
    ]
    left = "".join(f"\n• {store.name}: {why}" for store, why in route.left_out)
    text = (
        f"Your route from {route.start_label}: {len(route.legs)} stores, about "
        f"{route.km:.1f} km, done by {route.back:%H:%M}.\n"
        + "\n".join(lines)
        + (f"\nLeft out today:{left}" if left else "")
    )
    chart = render_route_map(
        route.start,
        [(leg.store.lat, leg.store.lng) for leg in route.legs],
        [(store.lat, store.lng) for store, _ in route.left_out],
        f"Route for {now:%d %b}",
    )
    ctx.reply(OutboundMessage(text=text, image=chart, image_caption=f"Route for {now:%d %b}"))


def needs(ctx: AgentContext, rep_id: uuid.UUID | None, text: str) -> None:
    """What a store of the rep's (any store, for None) will need next week, from the latest
    demand forecast."""
    query = select(Store).where(Store.is_active)
    if rep_id is not None:
        query = query.where(Store.assigned_rep_id == rep_id)
    stores = ctx.session.exec(query).all()
    store = named_store(text, stores)
    if store is None:
        ctx.say('Which store? Name it, e.g. "what will Sharma Stores need next week".')
        return
    found = store_needs(ctx.session, store, days=7)
    if found is None:
        ctx.say(f"There is no forecast for {store.name} yet; it is made every night at 01:00.")
        return
    day, version, needs = found
    if not needs:
        ctx.say(f"{store.name} has bought nothing in the last 13 weeks: no forecast to give.")
        return
    how = (
        f"too little history, so last week's sales repeated ({needs[0].fallback})"
        if needs[0].fallback
        else f"forecast of {day:%d %b}, model {version}"
    )
    lines = [
        f"• {need.product.name}: about {need.pieces:.0f} pcs"
        + (
            f" ({need.pieces / need.product.units_per_case:.1f} cases)"
            if need.product.units_per_case > 1 and need.pieces >= need.product.units_per_case
            else ""
        )  # fmt: skip
        + (f". Why: {', '.join(d['reason'] for d in need.drivers[:2])}" if need.drivers else "")
        for need in needs
    ]
    ctx.say(f"{store.name} will need in the next 7 days ({how}):\n" + "\n".join(lines))


def at_risk(ctx: AgentContext, rep_id: uuid.UUID | None) -> None:
    """The rep's stores (every store, for None) most likely to stop ordering, from last
    night's churn scores."""
    found = stores_at_risk(ctx.session, rep_id)
    if not found:
        ctx.say("There are no risk scores for your stores yet; they are made every night.")
        return
    risky = [(store, scored) for store, scored in found if scored.value >= AT_RISK]
    if not risky:
        store, scored = found[0]
        ctx.say(
            f"None of your stores looks likely to stop ordering: the highest risk is "
            f"{100 * scored.value:.0f}% ({store.name}, last order "
            f"{scored.details.get('recency_days')} days ago)."
        )
        return
    lines = []
    for store, scored in risky:
        reasons = scored.details.get("reasons") or []
        why = "; ".join(r["reason"] for r in reasons) or "late against its usual rhythm"
        lines.append(
            f"• {store.name}: {100 * scored.value:.0f}% risk of no order in "
            f"{scored.horizon_days} days (last order {scored.details.get('recency_days')} days "
            f"ago). Why: {why}"
        )
    ctx.say("Your stores most at risk:\n" + "\n".join(lines))


async def _after_award(ctx: AgentContext) -> None:
    """The award committed with its reply, then the leaderboard's sets brought up to date."""
    ctx.commit()
    rep_id = ctx.sender.rep_id
    if rep_id is not None:  # only a rep's own tasks earn points
        await record(ctx.session, ctx.redis, ctx.settings.redis_prefix, rep_id, today(ctx))


def _list(ctx: AgentContext, tasks: list[Task]) -> None:
    if not tasks:
        ctx.say("No tasks for you today. Visit your beat as planned and capture the orders.")
        return
    ctx.reply(task_list(ctx.session, tasks, "Your tasks today"))


def task_list(session: CompanySession, tasks: list[Task], heading: str) -> OutboundMessage:
    """Tasks as one message: why, what to say, and a "Done" choice per pending task (a
    WhatsApp list beyond three); the morning push sends the same message."""
    stores = {
        s.id: s
        for s in session.exec(
            select(Store).where(Store.id.in_([t.store_id for t in tasks if t.store_id]))
        ).all()
    }
    lines = []
    for number, task in enumerate(tasks[:SHOWN], 1):
        store = stores.get(task.store_id)
        mark = "✓" if task.status == "completed" else "•"
        where = f" at {store.name}" if store and store.name not in task.title else ""
        pitch = f"\n   Say: {task.pitch}" if task.pitch else ""
        lines.append(
            f"{mark} {number}. {task.title}{where} ({task.points} pts)\n"
            f"   Why: {task.reasoning}{pitch}"
        )
    pending = [(n, t) for n, t in enumerate(tasks[:SHOWN], 1) if t.status == "pending"]
    more = f"\n…and {len(tasks) - SHOWN} more." if len(tasks) > SHOWN else ""
    return OutboundMessage(
        text=f"{heading} ({len(pending)} pending):\n"
        + "\n".join(lines)
        + more
        + '\nReply "done 2" when you finish task 2.',
        buttons=[Button(id=f"tasks:done:{t.id}", title=f"Done #{n}") for n, t in pending],
        options_title="Mark done",
    )


def _complete(ctx: AgentContext, tasks: list[Task], task_id: str) -> None:
    task = next((t for t in tasks if str(t.id) == task_id), None)
    if task is None:
        ctx.say("That task is not one of yours for today.")
        return
    points = complete(ctx.session, task, today(ctx))
    if points is None:
        ctx.say(f'"{task.title}" is already done.')
        return
    rep = ctx.session.get(Rep, task.rep_id)
    left = sum(1 for t in tasks if t.status == "pending")
    ctx.say(
        f"Done: {task.title}. +{points} points"
        + (f" (balance {rep.points_balance})" if rep else "")
        + f". {left} left today."
    )


def _skip(ctx: AgentContext, tasks: list[Task], number: int, reason: str) -> None:
    if not 1 <= number <= len(tasks):
        ctx.say(f"There is no task {number} today; you have {len(tasks)}.")
        return
    task = tasks[number - 1]
    if task.status != "pending":
        ctx.say(f'"{task.title}" is already {task.status}.')
        return
    if not reason.strip():
        ctx.say(f'Why skip it? Reply "skip {number} <reason>", e.g. "skip {number} shop closed".')
        return
    task.status, task.note = "skipped", reason.strip()[:300]
    ctx.say(f"Skipped: {task.title} ({task.note}). Tomorrow's plan takes it into account.")


SPEC = AgentSpec(
    name="tasks",
    answer=answer,
    roles=frozenset({Role.rep, Role.admin}),
    description="a rep's own plan: today's tasks, beat, stores to visit, marking a task done.",
    examples=((Role.rep, "aaj kaunse stores jaana hai"),),
    keywords=TASK_ASKS,
    sure=TASK_UPDATE,
    commands=("/tasks",),
    usual_for=frozenset({Role.rep}),
    menu=("Today's tasks", 'your day: "my tasks today", "done 2", "skip 3 shop closed"'),
    denied="Task lists are for sales reps.",
    tools=("tasks", "incentives", "beat", "forecasts", "risk"),
)
