"""WF-001's rules: what each store needs today, scored, from 90 days of the company's own data.

`store_features` reads the whole company in a few aggregate queries (not a query per store), so
a night's planning for thousands of stores takes seconds. `candidates` turns a store's features
into the task it most needs, with a 0-100 score and the drivers behind it; `plan` picks each
rep's top tasks within the daily cap; `validate` is the gate every task passes, whoever wrote it.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from db.models import (
    BeatPlan,
    Company,
    Prediction,
    Product,
    Promotion,
    Rep,
    Store,
    Task,
    Transaction,
    TransactionItem,
    Visit,
)
from db.scope import CompanySession
from tools.money import rupees
from tools.stockout import likely_short

WINDOW_DAYS = 90
DEFAULT_CAP = 8  # tasks per rep and day; the company setting tasks_per_rep overrides it
MUST_SELL_COUNT = 5  # the most widely bought products, when the company names no must_sell list
DECISIONS_DAYS = 14  # how far back skips and manager verdicts count
CHURN_TASK = 0.3  # a churn score from which a store gets a win-back visit
POINTS = {"reorder": 15, "win_back": 20, "activation": 25, "msl_gap": 10, "promo": 10}


@dataclass
class StoreFeatures:
    store: Store
    orders: int = 0
    value_paise: int = 0  # over the window
    value_30d_paise: int = 0
    last_order: date | None = None
    last_visit: date | None = None
    visits_30d: int = 0
    bought: set[uuid.UUID] = field(default_factory=set)  # products in the window
    on_beat_today: bool = False
    churn: float | None = None  # last night's churn score (tools/risk.py), when there is one
    needs: list[str] = field(default_factory=list)  # SKUs the forecast says it needs most


@dataclass
class Candidate:
    store: Store
    rep_id: uuid.UUID
    task_type: str
    score: float
    drivers: list[str]
    title: str
    reasoning: str
    pitch: str
    products: list[str]  # SKUs

    @property
    def priority(self) -> int:
        return 1 if self.score >= 70 else 2 if self.score >= 45 else 3


@dataclass
class Company90:
    """Everything a night's planning reads, once."""

    today: date
    stores: list[StoreFeatures]
    products: dict[uuid.UUID, Product]
    must_sell: list[Product]
    promotions: list[Promotion]
    decisions: dict[
        tuple[uuid.UUID | None, str], str
    ]  # (store, task type) -> skipped/rejected/accepted
    existing: set[tuple[uuid.UUID, uuid.UUID | None, str]]  # today's (rep, store, type)
    cap: int
    reps: dict[uuid.UUID, Rep]
    short: set[uuid.UUID] = field(default_factory=set)  # products likely to run out: not pitched


def store_features(session: CompanySession, today: date) -> Company90:
    start = today - timedelta(days=WINDOW_DAYS)
    month = today - timedelta(days=30)
    company = session.get(Company, session.company_id)
    reps = {r.id: r for r in session.exec(select(Rep).where(Rep.is_active))}
    stores = {
        s.id: StoreFeatures(s)
        for s in session.exec(
            select(Store).where(Store.is_active, col(Store.assigned_rep_id).is_not(None))
        )
        if s.assigned_rep_id in reps
    }
    live = (Transaction.transaction_date >= start, Transaction.transaction_date < today,
            Transaction.status != "cancelled")  # fmt: skip
    for store_id, orders, value, last in session.exec(
        select(
            Transaction.store_id,
            func.count(col(Transaction.id)),
            func.sum(Transaction.total_paise),
            func.max(Transaction.transaction_date),
        )
        .where(*live)
        .group_by(col(Transaction.store_id))
    ):
        if store_id in stores:
            features = stores[store_id]
            features.orders, features.value_paise, features.last_order = (
                orders,
                int(value or 0),
                last,
            )
    for store_id, value in session.exec(
        select(Transaction.store_id, func.sum(Transaction.total_paise))
        .where(*live, Transaction.transaction_date >= month)
        .group_by(col(Transaction.store_id))
    ):
        if store_id in stores:
            stores[store_id].value_30d_paise = int(value or 0)
    penetration: dict[uuid.UUID, int] = defaultdict(int)
    for store_id, product_id in session.exec(
        select(Transaction.store_id, TransactionItem.product_id)
        .join(TransactionItem, col(TransactionItem.transaction_id) == col(Transaction.id))
        .where(*live)
        .distinct()
    ):
        penetration[product_id] += 1
        if store_id in stores:
            stores[store_id].bought.add(product_id)
    for store_id, last in session.exec(
        select(Visit.store_id, func.max(Visit.visit_date))
        .where(Visit.visit_date >= start, Visit.visit_date < today)
        .group_by(col(Visit.store_id))
    ):
        if store_id in stores:
            stores[store_id].last_visit = last
    for store_id, recent in session.exec(
        select(Visit.store_id, func.count(col(Visit.id)))
        .where(Visit.visit_date >= month, Visit.visit_date < today)
        .group_by(col(Visit.store_id))
    ):
        if store_id in stores:
            stores[store_id].visits_30d = recent
    for store_id in session.exec(
        select(BeatPlan.store_id).where(BeatPlan.weekday == today.weekday())
    ):
        if store_id in stores:
            stores[store_id].on_beat_today = True
    products = {p.id: p for p in session.exec(select(Product).where(Product.is_active))}
    short = _predictions(session, stores, products)
    named = company.settings.get("must_sell") or []
    by_sku = {p.sku: p for p in products.values()}
    must_sell = [by_sku[sku] for sku in named if sku in by_sku] or [
        products[pid]
        for pid, _ in sorted(penetration.items(), key=lambda kv: -kv[1])
        if pid in products and pid not in short
    ][:MUST_SELL_COUNT]
    promotions = list(
        session.exec(
            select(Promotion).where(
                Promotion.is_active, Promotion.starts_on <= today, Promotion.ends_on >= today
            )
        )
    )
    decisions: dict[tuple[uuid.UUID | None, str], str] = {}
    for decided_store, task_type, status, review in session.exec(
        select(Task.store_id, Task.task_type, Task.status, Task.review).where(
            Task.due_date >= today - timedelta(days=DECISIONS_DAYS), Task.due_date < today
        )
    ):
        verdict = "rejected" if review == "rejected" else status if status == "skipped" else review
        if verdict:
            decisions[(decided_store, task_type)] = verdict
    existing = {
        (rep_id, store_id, task_type)
        for rep_id, store_id, task_type in session.exec(
            select(Task.rep_id, Task.store_id, Task.task_type).where(Task.due_date == today)
        )
    }
    return Company90(
        today=today,
        stores=list(stores.values()),
        products=products,
        must_sell=must_sell,
        promotions=promotions,
        decisions=decisions,
        existing=existing,
        cap=int(company.settings.get("tasks_per_rep", DEFAULT_CAP)),
        reps=reps,
        short=short,
    )


def _predictions(
    session: CompanySession, stores: dict[uuid.UUID, StoreFeatures], products: dict
) -> set[uuid.UUID]:
    """Last night's models into the features: each store's churn score and the products its
    demand forecast puts first (those likely to run out left out, and returned)."""
    latest = {
        model: day
        for model, day in session.exec(
            select(Prediction.model, func.max(Prediction.predicted_for)).group_by(
                col(Prediction.model)
            )
        )
    }
    short = likely_short(session)
    if "churn" in latest:
        for p in session.exec(
            select(Prediction).where(
                Prediction.model == "churn", Prediction.predicted_for == latest["churn"]
            )
        ):
            if p.store_id in stores:
                stores[p.store_id].churn = p.value
    if "demand" in latest:
        for p in session.exec(
            select(Prediction)
            .where(
                Prediction.model == "demand",
                Prediction.predicted_for == latest["demand"],
                Prediction.horizon_days == 7,
                Prediction.value >= 1,
            )
            .order_by(col(Prediction.value).desc())
        ):
            features = stores.get(p.store_id) if p.store_id else None
            product = products.get(p.product_id)
            if features and product and p.product_id not in short and len(features.needs) < 3:
                features.needs.append(product.sku)
    return short


def candidates(data: Company90, features: StoreFeatures) -> list[Candidate]:
    """Every task the store could need today, each scored with its drivers."""
    store, today = features.store, data.today
    rep_id = store.assigned_rep_id
    found: list[Candidate] = []
    if rep_id is None:
        return found

    def add(kind: str, score: float, drivers: list[str], title: str, reasoning: str, pitch: str,
            products: list[str]) -> None:  # fmt: skip
        if features.churn is not None and features.churn >= CHURN_TASK:
            score += 20 * features.churn
            risk = f"{features.churn:.0%} risk of no order in 28 days"
            drivers = [risk, *drivers] if kind != "win_back" else [*drivers, risk]
        if features.on_beat_today:
            score += 10
            drivers = [*drivers, "on today's beat"]
        verdict = data.decisions.get((store.id, kind))
        if verdict in ("skipped", "rejected"):
            score -= 30
            drivers = [*drivers, f"{verdict} recently"]
        elif verdict == "accepted":
            score += 5
        found.append(
            Candidate(
                store,
                rep_id,
                kind,
                max(0.0, min(100.0, score)),
                drivers[:3],
                title,
                reasoning,
                pitch,
                products,
            )  # fmt: skip
        )

    if features.orders == 0 or features.last_order is None:
        add("activation", 40, [f"no order in {WINDOW_DAYS} days"],
            f"Win a first order at {store.name}",
            f"{store.name} has not ordered in {WINDOW_DAYS} days.",
            "Start with a small trial of our fastest movers, delivered tomorrow.",
            [p.sku for p in data.must_sell[:3]])  # fmt: skip
    else:
        interval = WINDOW_DAYS / features.orders
        since = (today - features.last_order).days
        average = features.value_paise // features.orders
        if since >= max(7, 1.5 * interval):
            add("reorder", 40 + 15 * min(since / interval, 3) + min(average / 50_000, 15),
                [f"no order for {since} days (usually every {interval:.0f})",
                 f"{rupees(average)} an order"],
                f"Take the reorder at {store.name}",
                f"Last order {since} days ago; it usually orders every {interval:.0f} days.",
                "Your usual items may be running low: shall I book the regular order?",
                features.needs)  # fmt: skip
        expected = features.value_paise * 30 / WINDOW_DAYS
        if features.orders >= 3 and features.value_30d_paise < 0.6 * expected:
            drop = 1 - features.value_30d_paise / expected
            add("win_back", 45 + 40 * drop,
                [f"sales down {drop:.0%} in the last 30 days"],
                f"Find out why {store.name} is buying less",
                f"Last 30 days {rupees(features.value_30d_paise)} against "
                f"{rupees(int(expected))} usually.",
                "Is anything not moving, or is someone else supplying you? Let us fix it.",
                features.needs)  # fmt: skip
        if features.churn is not None and features.churn >= CHURN_TASK:
            add("win_back", 40 + 30 * features.churn, [f"last order {since} days ago"],
                f"Keep {store.name} ordering",
                f"The churn model gives {store.name} a {features.churn:.0%} risk of not ordering "
                f"in the next 28 days; its last order was {since} days ago.",
                "We have missed you: what would make it easy to order with us again?",
                features.needs)  # fmt: skip
    gaps = [p for p in data.must_sell if p.id not in features.bought and p.id not in data.short]
    if gaps:
        add("msl_gap", 25 + 6 * len(gaps), [f"{len(gaps)} must-sell product(s) missing"],
            f"Place {gaps[0].name} at {store.name}",
            f"{store.name} does not stock {', '.join(p.name for p in gaps[:3])}.",
            f"{gaps[0].name} sells in most stores around you: try one case.",
            [p.sku for p in gaps[:3]])  # fmt: skip
    bought = {data.products[pid].sku for pid in features.bought if pid in data.products}
    categories = {data.products[pid].category for pid in features.bought if pid in data.products}
    for promo in data.promotions:
        product = data.products.get(promo.product_id) if promo.product_id else None
        relevant = (
            (product is not None and (product.sku in bought or product.category in categories))
            or (promo.category is not None and promo.category in categories)
            or (promo.brand is not None and product is None)
        )
        if relevant:
            add("promo", 30, [f"scheme {promo.name} runs until {promo.ends_on:%d %b}"],
                f"Offer {promo.name} at {store.name}", promo.description, promo.description,
                [product.sku] if product else [])  # fmt: skip
            break
    return found


def plan(data: Company90) -> list[Candidate]:
    """Each rep's best task per store, the top `cap` per rep, highest score first; nothing that
    already exists for today."""
    per_rep: dict[uuid.UUID, list[Candidate]] = defaultdict(list)
    for features in data.stores:
        options = [
            c
            for c in candidates(data, features)
            if (c.rep_id, c.store.id, c.task_type) not in data.existing
        ]
        if options:
            best = max(options, key=lambda c: c.score)
            per_rep[best.rep_id].append(best)
    chosen = []
    for rep_id, options in per_rep.items():
        taken = sum(1 for rep, _store, _type in data.existing if rep == rep_id)
        chosen += sorted(options, key=lambda c: -c.score)[: max(0, data.cap - taken)]
    return sorted(chosen, key=lambda c: -c.score)


class Invalid(ValueError):
    """A task that must not reach a rep."""


def validate(
    data: Company90,
    task: Candidate,
    known_skus: set[str],
    seen: set[tuple[uuid.UUID, uuid.UUID, str]],
) -> None:
    """Known, active store in the rep's territory; known products; no duplicate."""
    rep = data.reps.get(task.rep_id)
    if rep is None:
        raise Invalid("unknown or inactive rep")
    if not task.store.is_active or task.store.assigned_rep_id != rep.id:
        raise Invalid(f"store {task.store.code} is not in {rep.code}'s territory")
    unknown = [sku for sku in task.products if sku not in known_skus]
    if unknown:
        raise Invalid(f"unknown product(s) {', '.join(unknown)}")
    key = (task.rep_id, task.store.id, task.task_type)
    if key in seen or key in data.existing:
        raise Invalid("duplicate task")
    if not task.reasoning.strip() or not task.pitch.strip():
        raise Invalid("empty reasoning or pitch")
    seen.add(key)


def as_task(task: Candidate, today: date, source: str) -> Task:
    return Task(
        company_id=task.store.company_id,
        rep_id=task.rep_id,
        store_id=task.store.id,
        task_type=task.task_type,
        title=task.title[:200],
        reasoning=task.reasoning[:500],
        pitch=task.pitch[:300],
        priority=task.priority,
        points=POINTS.get(task.task_type, 10),
        due_date=today,
        source=source,
        score=round(task.score, 1),
        drivers=task.drivers,
        products=task.products,
    )
