"""Stock-out risk per product: the chance that what stores will order before the next delivery
comes in (the company's lead time, `lead_time_days`, 2 by default) is more than is on hand.

The seed names a random forest for this; it would need a history of stock levels and of the
days a product ran out, and a distributor sends us today's stock, not its past. What we do have
is the demand forecast and the daily demand of the last 28 days, so the risk is computed from
them directly: the demand over the lead time has the forecast's mean (the 28 days' pace where
there is no forecast), adjusted for the weekdays it covers, and the spread of the last 28 days'
daily demand; the probability is that of it exceeding the pieces on hand (normal approximation).
"""

import math
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import func
from sqlmodel import col, select

from db.models import Company, Prediction, StockLevel, Transaction, TransactionItem
from db.scope import CompanySession
from tools.predictions import latest_day, replace_day

MODEL = "stockout"
PACE_DAYS = 28
DEFAULT_LEAD_DAYS = 2
SHORT = 0.5  # a risk from which a product is not pitched, suggested or left off an alert


@dataclass(frozen=True)
class StockoutRisk:
    product_id: uuid.UUID
    on_hand: int
    expected: float  # pieces ordered over the lead time
    probability: float
    lead_days: int
    source: str  # "forecast" or "28-day pace"


def lead_days(session: CompanySession) -> int:
    company = session.get(Company, session.company_id)
    return int((company.settings if company else {}).get("lead_time_days", DEFAULT_LEAD_DAYS))


def stockout_risks(session: CompanySession, day: date) -> dict[uuid.UUID, StockoutRisk]:
    """Each stocked product's risk of running out before `day` + the lead time."""
    lead = lead_days(session)
    on_hand = {
        product_id: int(quantity)
        for product_id, quantity in session.exec(
            select(StockLevel.product_id, func.sum(StockLevel.quantity)).group_by(
                col(StockLevel.product_id)
            )
        )
    }
    since = day - timedelta(days=PACE_DAYS)
    daily: dict[uuid.UUID, np.ndarray] = {}
    for product_id, sold_on, pieces in session.exec(
        select(
            col(TransactionItem.product_id),
            col(Transaction.transaction_date),
            func.sum(TransactionItem.quantity),
        )
        .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
        .where(
            col(Transaction.transaction_date) >= since,
            col(Transaction.transaction_date) < day,
            col(Transaction.status) != "cancelled",
        )
        .group_by(col(TransactionItem.product_id), col(Transaction.transaction_date))
    ):
        series = daily.setdefault(product_id, np.zeros(PACE_DAYS))
        series[(sold_on - since).days] += float(pieces)
    weekday_share = _weekday_share(daily, since)
    ahead = [(day + timedelta(days=d)).weekday() for d in range(lead)]
    weekday_factor = float(np.mean([weekday_share[w] for w in ahead])) if ahead else 1.0
    forecast = _forecast_per_day(session)
    risks = {}
    for product_id, pieces in on_hand.items():
        series = daily.get(product_id, np.zeros(PACE_DAYS))
        pace = float(series.mean())
        per_day, source = (forecast[product_id], "forecast") if product_id in forecast else (
            pace, "28-day pace")  # fmt: skip
        mean = per_day * lead * weekday_factor
        spread = float(series.std()) * math.sqrt(lead) * (per_day / pace if pace > 0 else 1.0)
        risks[product_id] = StockoutRisk(
            product_id, pieces, round(mean, 1), _exceeds(mean, spread, pieces), lead, source
        )
    return risks


def _weekday_share(daily: dict[uuid.UUID, np.ndarray], since: date) -> list[float]:
    """Each weekday's demand against the average day (1.0 each when nothing sold)."""
    total = sum(daily.values(), np.zeros(PACE_DAYS))
    if total.sum() <= 0:
        return [1.0] * 7
    by_weekday = [0.0] * 7
    for offset, pieces in enumerate(total):
        by_weekday[(since + timedelta(days=offset)).weekday()] += float(pieces)
    average = total.sum() / 7
    return [w / average for w in by_weekday]


def _forecast_per_day(session: CompanySession) -> dict[uuid.UUID, float]:
    """The latest 7-day demand forecast per product, summed over stores, per day."""
    latest = latest_day(session, "demand")
    if latest is None:
        return {}
    return {
        product_id: float(total) / 7
        for product_id, total in session.exec(
            select(Prediction.product_id, func.sum(Prediction.value))
            .where(
                Prediction.model == "demand",
                Prediction.predicted_for == latest,
                Prediction.horizon_days == 7,
            )
            .group_by(col(Prediction.product_id))
        )
        if product_id is not None
    }


def _exceeds(mean: float, spread: float, on_hand: int) -> float:
    """P(demand > on_hand) for a normal demand (with a half-piece continuity correction)."""
    if spread <= 0:
        return 1.0 if mean > on_hand else 0.0
    z = (on_hand + 0.5 - mean) / spread
    return round(0.5 * math.erfc(z / math.sqrt(2)), 4)


def record(session: CompanySession, day: date, risks: dict[uuid.UUID, StockoutRisk]) -> int:
    """Replace the day's stock-out predictions with these."""
    rows = [
        Prediction(
            company_id=session.company_id,
            model=MODEL,
            model_version="normal-lead-time",
            product_id=risk.product_id,
            predicted_for=day,
            horizon_days=risk.lead_days,
            value=risk.probability,
            details={"on_hand": risk.on_hand, "expected": risk.expected, "source": risk.source},
        )
        for risk in risks.values()
    ]
    replace_day(session, MODEL, day, rows)
    return len(rows)


def likely_short(session: CompanySession) -> set[uuid.UUID]:
    """Products more likely than not to run out before the next delivery, as of the latest
    stock-out predictions: not to be pitched or suggested."""
    latest = latest_day(session, MODEL)
    if latest is None:
        return set()
    return {
        p.product_id
        for p in session.exec(
            select(Prediction).where(
                Prediction.model == MODEL,
                Prediction.predicted_for == latest,
                Prediction.value >= SHORT,
            )
        )
        if p.product_id is not None
    }
