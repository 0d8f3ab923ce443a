"""A rep's day: today's tasks with the reason and the pitch, and marking one done for points."""

import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from db.models import Company, Incentive, Rep, Role, Store, Task
from messages import Button
from phrases import DONE, TASK_ASKS

SHOWN = 10


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
        return {"active": None}
    if match := DONE.search(state.get("text", "")):
        number = int(match.group(1) or match.group(2))
        if 1 <= number <= len(tasks):
            _complete(ctx, tasks, str(tasks[number - 1].id))
        else:
            ctx.say(f"There is no task {number} today; you have {len(tasks)}.")
        return {"active": None}
    _list(ctx, tasks)
    return {"active": None}


def _list(ctx: AgentContext, tasks: list[Task]) -> None:
    if not tasks:
        ctx.say("No tasks for you today. Visit your beat as planned and capture the orders.")
        return
    stores = {
        s.id: s
        for s in ctx.session.exec(
            select(Store).where(Store.id.in_([t.store_id for t in tasks if t.store_id]))
        ).all()
    }
    lines = []
    for number, task in enumerate(tasks[:SHOWN], 1):
        store = stores.get(task.store_id)
        mark = "✓" if task.status == "completed" else "•"
        where = f" at {store.name}" if store else ""
        pitch = f"\n   Say: {task.pitch}" if task.pitch else ""
        lines.append(
            f"{mark} {number}. {task.title}{where} ({task.points} pts)\n"
            f"   Why: {task.reasoning}{pitch}"
        )
    pending = [(n, t) for n, t in enumerate(tasks[:SHOWN], 1) if t.status == "pending"]
    more = f"\n…and {len(tasks) - SHOWN} more." if len(tasks) > SHOWN else ""
    ctx.say(
        f"Your tasks today ({len(pending)} pending):\n"
        + "\n".join(lines)
        + more
        + '\nReply "done 2" when you finish task 2.',
        buttons=[Button(id=f"tasks:done:{t.id}", title=f"Done #{n}") for n, t in pending[:3]],
    )


def _complete(ctx: AgentContext, tasks: list[Task], task_id: str) -> None:
    task = next((t for t in tasks if str(t.id) == task_id), None)
    if task is None:
        ctx.say("That task is not one of yours for today.")
        return
    if task.status == "completed":
        ctx.say(f'"{task.title}" is already done.')
        return
    task.status = "completed"
    task.completed_at = datetime.now(UTC)
    ctx.session.add(
        Incentive(
            rep_id=task.rep_id,
            task_id=task.id,
            points=task.points,
            reason=task.title,
            earned_on=today(ctx),
        )
    )
    rep = ctx.session.get(Rep, task.rep_id)
    if rep is not None:
        rep.points_balance += task.points
    left = sum(1 for t in tasks if t.status == "pending")
    ctx.say(
        f"Done: {task.title}. +{task.points} points"
        + (f" (balance {rep.points_balance})" if rep else "")
        + f". {left} left today."
    )


SPEC = AgentSpec(
    name="tasks",
    answer=answer,
    roles=frozenset({Role.rep, Role.admin}),
    description="a rep's own plan: today's tasks, beat, stores to visit, marking a task done.",
    examples=((Role.rep, "aaj kaunse stores jaana hai"),),
    keywords=TASK_ASKS,
    commands=("/tasks",),
    usual_for=frozenset({Role.rep}),
    menu=("Today's tasks", 'your day: "my tasks today", "done 2"'),
    denied="Task lists are for sales reps.",
    tools=("tasks", "incentives"),
)
