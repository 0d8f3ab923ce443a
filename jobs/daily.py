"""The daily loop's jobs (seed WF-001, WF-003, WF-009, WF-015), run by `jobs/scheduler.py`.

    forecast 01:00 retrain the demand model weekly, forecast every active store x product
    risk    01:00  churn per store (retrained on the last 28 days), stock-out risk per product
    tasks   02:00  plan each rep's tasks from 90 days of data; the LLM writes the top ones
    push    07:00  each rep gets today's tasks in chat, once
    alerts  every 4 h from 08:00  products below reorder level or about to run out, to managers
    digest  20:00  the day in numbers, with a chart, to each manager

Everything a job sends is a `Notification` keyed by what it is about (rep and day, product and
day, manager and day), written with its queued message in one transaction: a job killed
half-way and run again sends the rest, never the same message twice.
"""

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from agents.tasks import task_list
from db import outbox
from db.engine import company_session
from db.models import (
    Company,
    Incentive,
    Notification,
    OrderEB2B,
    Product,
    Rep,
    StockLevel,
    Store,
    Task,
    Transaction,
    TransactionItem,
    User,
    Visit,
)
from db.scope import CompanySession
from jobs.scheduler import Job, JobContext
from llm.client import LLMError
from messages import OutboundMessage
from ml.forecast import ForecastError
from tools.alerts import managers, messaging_channel, queue_once, sent_before
from tools.basket import Purchases, suggest_basket
from tools.charts import render_chart
from tools.credit import score_credit
from tools.forecasts import RETRAIN_DAYS, latest_model, model_folder, predict_company, train_company
from tools.money import rupees
from tools.pii import pii_context
from tools.planner import Invalid, as_task, plan, store_features, validate
from tools.risk import score_stores
from tools.stockout import SHORT, stockout_risks
from tools.stockout import record as record_stockouts
from tools.task_writer import WRITE_PROMPT, context, write

log = logging.getLogger("opensales.daily")
BATCH = 200  # tasks written per transaction (and per heartbeat)
LLM_GIVE_UP_AFTER = 3  # failures in a row: the model is down or too slow tonight
COVER_DAYS = 3  # alert when stock lasts fewer days than this at the last 28 days' pace
PUSH_BASKETS = 5  # stores whose suggested order the morning push sums up


# -- the demand forecast ---------------------------------------------------------------------


async def forecast(ctx: JobContext) -> None:
    """Train when the company's model is a week old (or missing), then forecast from today."""
    await asyncio.to_thread(_forecast, ctx)


def _forecast(ctx: JobContext) -> None:
    folder = model_folder(ctx.settings.forecasts_dir, ctx.company_id)
    latest = latest_model(folder)
    age = None if latest is None else time.time() - latest.stat().st_mtime
    with company_session(ctx.company_id, ctx.engine) as session:
        if age is None or age > RETRAIN_DAYS * 86400:
            try:
                train_company(session, ctx.day, folder, ctx.progress)
                ctx.count("trained")
            except ForecastError as exc:  # too little history: seasonal-naive, flagged
                ctx.progress(f"not trained: {exc}")
                ctx.count("too_little_history")
        made = predict_company(session, ctx.day, folder, ctx.progress)
    ctx.count("predictions", made.written)
    if made.fallback:
        ctx.count("fallback")


async def churn_risk(ctx: JobContext) -> None:
    """Churn and credit risk per store, and stock-out risk per product (after the forecast it
    reads)."""
    with company_session(ctx.company_id, ctx.engine) as session:
        made = await asyncio.to_thread(score_stores, session, ctx.day)
        credit = await asyncio.to_thread(score_credit, session, ctx.day)
        stockouts = stockout_risks(session, ctx.day)
        record_stockouts(session, ctx.day, stockouts)
    ctx.count("stores", made.written)
    ctx.count("credit_scored", credit.written)
    ctx.count("products", len(stockouts))
    if made.fallback:
        ctx.count("fallback")
    if credit.fallback:
        ctx.count("credit_fallback")
    ctx.progress(f"{made.written} stores scored; {100 * made.base_rate:.1f}% lost last 28 days")
    ctx.progress(
        f"{credit.written} stores given a credit tier"
        + (f" ({credit.fallback})" if credit.fallback else "")
    )


# -- WF-001: nightly tasks ----------------------------------------------------------------------


async def nightly_tasks(ctx: JobContext) -> None:
    """Plan by rules, let the LLM write the highest-scored tasks within its time budget (the
    rest keep the rules' text), validate every task, write them in batches."""
    with company_session(ctx.company_id, ctx.engine) as session:
        data = await asyncio.to_thread(store_features, session, ctx.day)
        chosen = plan(data)
        pii = pii_context(session)
    known_skus = {p.sku for p in data.products.values()}
    ctx.count("stores", len(data.stores))
    ctx.count("planned", len(chosen))
    ctx.progress(f"{len(data.stores)} stores, {len(chosen)} tasks to write")
    llm = ctx.llm.with_pii(pii) if ctx.llm is not None else None
    if llm is not None:  # load the model and its fixed prompt before the budget starts
        try:
            await llm.prepare(WRITE_PROMPT.render())
        except Exception:  # a model that will not load: tonight's tasks come from the rules
            log.exception("the LLM is unavailable for tonight's tasks")
            llm = None
            ctx.count("llm_unavailable")
    memory = ctx.memory
    deadline = time.monotonic() + ctx.settings.tasks_llm_budget_s
    failures, batch = 0, []
    seen: set[tuple[uuid.UUID, uuid.UUID, str]] = set()
    for number, task in enumerate(chosen, 1):
        source = "rules"
        if llm is not None and failures < LLM_GIVE_UP_AFTER and time.monotonic() < deadline:
            profile = await asyncio.to_thread(context, memory, task)
            try:
                written = await write(llm, data, task, profile, ctx.settings.tasks_llm_timeout_s)
                validate(data, written, known_skus, set(seen))
                task, source, failures = written, "llm", 0
            except LLMError as exc:
                failures += 1
                ctx.count("llm_failed")
                log.info("LLM could not write the task for %s: %s", task.store.code, exc)
            except Invalid as exc:
                failures = 0
                ctx.count("llm_rejected")
                log.info("LLM task for %s rejected: %s", task.store.code, exc)
        try:
            validate(data, task, known_skus, seen)
        except Invalid:
            ctx.count("rejected")
            continue
        batch.append(as_task(task, ctx.day, source))
        ctx.count(f"by_{source}")
        if len(batch) >= BATCH or number == len(chosen):
            await asyncio.to_thread(_save_tasks, ctx, batch)
            batch = []
            ctx.progress(f"{number}/{len(chosen)} tasks")
            await asyncio.to_thread(ctx.heartbeat)
    if batch:
        await asyncio.to_thread(_save_tasks, ctx, batch)


def _save_tasks(ctx: JobContext, tasks: list[Task]) -> None:
    """Write a batch; a task that exists already (another run got there) is skipped."""
    with company_session(ctx.company_id, ctx.engine) as session:
        session.add_all(tasks)
        try:
            session.commit()
            ctx.count("written", len(tasks))
            return
        except IntegrityError:
            session.rollback()
        for task in tasks:
            session.add(Task.model_validate(task.model_dump()))
            try:
                session.commit()
                ctx.count("written")
            except IntegrityError:
                session.rollback()
                ctx.count("existed")


# -- WF-003: the morning push ------------------------------------------------------------------


async def morning_push(ctx: JobContext) -> None:
    """Each rep with tasks today gets them once, with the suggested order of each store on
    them, on WhatsApp (a template when the 24-hour window is closed: `jobs/delivery.py`) or SMS
    when WhatsApp is not set up."""
    sent = await asyncio.to_thread(_queue_pushes, ctx)
    for channel, phone in sent:
        if ctx.deliver is not None:
            await ctx.deliver(ctx.company_id, channel, phone)


def _queue_pushes(ctx: JobContext) -> list[tuple[str, str]]:
    queued = []
    with company_session(ctx.company_id, ctx.engine) as session:
        channel, our_number = _channel(ctx, session)
        tasks_by_rep: dict[uuid.UUID, list[Task]] = defaultdict(list)
        for task in session.exec(
            select(Task)
            .where(Task.due_date == ctx.day, Task.status == "pending")
            .order_by(col(Task.priority), col(Task.score).desc(), col(Task.id))
        ):
            tasks_by_rep[task.rep_id].append(task)
        users = session.exec(select(User).where(col(User.rep_id).in_(list(tasks_by_rep)))).all()
        purchases = Purchases.read(session, ctx.day)
        for user in users:
            if user.rep_id is None:
                continue
            tasks = tasks_by_rep[user.rep_id]
            message = task_list(session, tasks, f"Good morning {user.name.split()[0]}! Today")
            message.text += _suggested_orders(session, tasks, ctx.day, purchases)
            if _notify(
                session, f"push:{ctx.day}:{user.rep_id}", user, channel, our_number, message
            ):
                queued.append((channel, user.phone))
                ctx.count("pushed")
            else:
                ctx.count("already_pushed")
    return queued


def _suggested_orders(
    session: CompanySession, tasks: list[Task], day: date, purchases: Purchases
) -> str:
    """A line per store on today's tasks: its suggested order's size and value (the rep
    places it with one tap after checking in there)."""
    lines = []
    for store_id in list(dict.fromkeys(t.store_id for t in tasks if t.store_id))[:PUSH_BASKETS]:
        store = session.get(Store, store_id)
        basket = suggest_basket(session, store, day, purchases)
        if basket.lines:
            value = sum(line.product.price_paise * line.pieces for line in basket.lines)
            lines.append(f"• {store.name}: {len(basket.lines)} lines, about {rupees(value)}")
    if not lines:
        return ""
    return "\nSuggested orders (one tap after check-in):\n" + "\n".join(lines)


def _channel(ctx: JobContext, session: CompanySession) -> tuple[str, str]:
    return messaging_channel(session, ctx.settings)


def _notify(
    session: CompanySession,
    key: str,
    user: User,
    channel: str,
    our_number: str,
    message: OutboundMessage,
) -> bool:
    """Queue `message` for `user` unless `key` was sent before; True when queued now."""
    if sent_before(session, key):
        return False
    queue_once(session, key, user, channel, our_number, message)
    try:
        session.commit()
    except IntegrityError:  # another run queued it a moment ago
        session.rollback()
        return False
    return True


# -- WF-009: stock alerts -----------------------------------------------------------------------


async def stock_alerts(ctx: JobContext) -> None:
    sent = await asyncio.to_thread(_queue_alerts, ctx)
    for channel, phone in sent:
        if ctx.deliver is not None:
            await ctx.deliver(ctx.company_id, channel, phone)


def low_stock(session: CompanySession, day: date) -> list[tuple[Product, int, str]]:
    """Products at or below their reorder level, with under COVER_DAYS days of cover at the
    last 28 days' pace, or likely to run out before the next delivery (`tools/stockout.py`):
    (product, pieces on hand, why)."""
    on_hand: dict[uuid.UUID, tuple[int, int]] = {}
    for product_id, quantity, reorder in session.exec(
        select(
            StockLevel.product_id, func.sum(StockLevel.quantity), func.sum(StockLevel.reorder_level)
        ).group_by(col(StockLevel.product_id))
    ):
        on_hand[product_id] = (int(quantity), int(reorder))
    sold = dict(
        session.exec(
            select(TransactionItem.product_id, func.sum(TransactionItem.quantity))
            .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
            .where(
                Transaction.transaction_date >= day - timedelta(days=28),
                Transaction.status != "cancelled",
            )
            .group_by(col(TransactionItem.product_id))
        ).all()
    )
    products = {p.id: p for p in session.exec(select(Product).where(Product.is_active))}
    risks = stockout_risks(session, day)
    found = []
    for product_id, (quantity, reorder) in on_hand.items():
        product = products.get(product_id)
        if product is None:
            continue
        per_day = (sold.get(product_id) or 0) / 28
        risk = risks.get(product_id)
        chance = (
            f"{100 * risk.probability:.0f}% chance of running out in {risk.lead_days} days "
            f"(about {risk.expected:.0f} pcs expected)"
            if risk is not None and risk.probability >= SHORT
            else None
        )
        if quantity <= reorder and reorder > 0:
            why = f"at or below reorder level {reorder}"
        elif per_day > 0 and quantity / per_day < COVER_DAYS:
            why = f"about {quantity / per_day:.1f} days left"
        else:
            why = ""
        if why or chance:
            found.append((product, quantity, "; ".join(w for w in (why, chance) if w)))
    return sorted(found, key=lambda row: row[1])


def _queue_alerts(ctx: JobContext) -> list[tuple[str, str]]:
    queued = []
    with company_session(ctx.company_id, ctx.engine) as session:
        channel, our_number = _channel(ctx, session)
        low = low_stock(session, ctx.day)
        ctx.count("low_products", len(low))
        for user in managers(session):
            new = [
                row
                for row in low
                if session.exec(
                    select(Notification.id).where(
                        Notification.key == f"alert:{ctx.day}:{row[0].sku}:{user.id}"
                    )
                ).first()
                is None
            ]
            if not new:
                continue
            text = "Stock alert:\n" + "\n".join(
                f"• {product.name} ({product.sku}): {pieces} pcs, {why}"
                for product, pieces, why in new[:15]
            )
            more = f"\n…and {len(new) - 15} more." if len(new) > 15 else ""
            (row,) = outbox.record(
                session, channel, our_number, user.phone, [OutboundMessage(text=text + more)]
            )
            session.flush()
            for product, _pieces, _why in new:
                session.add(
                    Notification(
                        company_id=ctx.company_id,
                        key=f"alert:{ctx.day}:{product.sku}:{user.id}",
                        user_id=user.id,
                        message_id=row.id,
                    )
                )
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                continue
            queued.append((channel, user.phone))
            ctx.count("alerted_products", len(new))
    return queued


# -- WF-015: the manager digest -----------------------------------------------------------------


async def manager_digest(ctx: JobContext) -> None:
    sent = await asyncio.to_thread(_queue_digests, ctx)
    for channel, phone in sent:
        if ctx.deliver is not None:
            await ctx.deliver(ctx.company_id, channel, phone)


def day_summary(session: CompanySession, day: date) -> dict:
    """The day's orders, revenue against the target, visits, tasks and reps, in numbers."""
    company = session.get(Company, session.company_id)
    sales = session.exec(
        select(func.count(col(Transaction.id)), func.coalesce(func.sum(Transaction.total_paise), 0))
        .where(Transaction.transaction_date == day, Transaction.status != "cancelled")
    ).one()  # fmt: skip
    orders = session.exec(
        select(func.count(col(OrderEB2B.id))).where(
            OrderEB2B.status != "cancelled",
            OrderEB2B.created_at >= _start(company, day),
            OrderEB2B.created_at < _start(company, day + timedelta(days=1)),
        )
    ).one()
    weeks = [day - timedelta(days=7 * n) for n in range(1, 5)]
    usual = session.exec(
        select(func.coalesce(func.sum(Transaction.total_paise), 0)).where(
            col(Transaction.transaction_date).in_(weeks), Transaction.status != "cancelled"
        )
    ).one()
    monthly = company.settings.get("monthly_target_inr")
    target = int(monthly * 100 / 30) if monthly else int(usual / len(weeks))
    visits = session.exec(select(func.count(col(Visit.id))).where(Visit.visit_date == day)).one()
    tasks = dict(
        session.exec(
            select(Task.status, func.count(col(Task.id)))
            .where(Task.due_date == day)
            .group_by(Task.status)
        ).all()
    )
    reps = {r.id: r.name for r in session.exec(select(Rep))}
    by_rep = dict(
        session.exec(
            select(Transaction.rep_id, func.sum(Transaction.total_paise))
            .where(Transaction.transaction_date == day, Transaction.status != "cancelled",
                   col(Transaction.rep_id).is_not(None))
            .group_by(col(Transaction.rep_id))
        ).all()
    )  # fmt: skip
    points = dict(
        session.exec(
            select(Incentive.rep_id, func.sum(Incentive.points))
            .where(Incentive.earned_on == day)
            .group_by(col(Incentive.rep_id))
        ).all()
    )
    ranking = sorted(
        ((reps[rep_id], int(by_rep.get(rep_id, 0)), int(points.get(rep_id, 0))) for rep_id in reps),
        key=lambda row: (-row[1], -row[2], row[0]),
    )
    return {
        "sales": sales[0],
        "revenue_paise": int(sales[1]),
        "orders": orders,
        "target_paise": target,
        "target_named": bool(monthly),
        "visits": visits,
        "tasks_done": tasks.get("completed", 0),
        "tasks": sum(tasks.values()),
        "ranking": ranking,
    }


def _start(company: Company, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(company.timezone))


def digest_message(summary: dict, day: date) -> OutboundMessage:
    target = summary["target_paise"]
    against = (
        f" ({summary['revenue_paise'] / target:.0%} of the "
        f"{'target' if summary['target_named'] else 'usual for this weekday'} {rupees(target)})"
        if target
        else ""
    )
    ranking = summary["ranking"]
    top = ", ".join(f"{name} {rupees(value)}" for name, value, _ in ranking[:3])
    bottom = ", ".join(f"{name} {rupees(value)}" for name, value, _ in ranking[-3:][::-1])
    text = (
        f"Today, {day:%a %d %b}:\n"
        f"• Sales {rupees(summary['revenue_paise'])} from {summary['sales']} orders{against}; "
        f"{summary['orders']} by chat\n"
        f"• Visits {summary['visits']}; tasks done {summary['tasks_done']} of {summary['tasks']}\n"
        f"• Top reps: {top or 'none'}\n• Needs help: {bottom or 'none'}"
    )
    chart = render_chart(
        "ranking",
        [name for name, _, _ in ranking],
        [value / 100 for _, value, _ in ranking],
        f"Sales by rep, {day:%d %b}",
        "Sales (₹)",
    )
    return OutboundMessage(text=text, image=chart, image_caption=f"Sales by rep, {day:%d %b}")


def _queue_digests(ctx: JobContext) -> list[tuple[str, str]]:
    queued = []
    with company_session(ctx.company_id, ctx.engine) as session:
        channel, our_number = _channel(ctx, session)
        message = digest_message(day_summary(session, ctx.day), ctx.day)
        for user in managers(session):
            if _notify(session, f"digest:{ctx.day}:{user.id}", user, channel, our_number, message):
                queued.append((channel, user.phone))
                ctx.count("sent")
    return queued


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("forecast", 1, 24, forecast, "demand forecast per store and product (weekly model)"),
        Job(
            "risk", 1, 24, churn_risk, "churn and credit risk per store, stock-out risk per product"
        ),
        Job("tasks", 2, 24, nightly_tasks, "WF-001: plan each rep's tasks for the day"),
        Job("push", 7, 24, morning_push, "WF-003: send each rep today's tasks"),
        Job("alerts", 8, 4, stock_alerts, "WF-009: low stock to managers, once a product a day"),
        Job("digest", 20, 24, manager_digest, "WF-015: the day in numbers, with a chart"),
    )
}
