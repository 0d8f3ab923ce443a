"""Which stores a company is about to lose: the churn model (`ml/churn.py`) trained on the
company's own past (features 28 days ago, and whether each store then ordered in the 28 days
since) and applied today, written to `predictions` (`model` = `churn`) with its reasons.
"""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import func
from sqlmodel import col, select

from db.models import Prediction, Store, Transaction, Visit
from db.scope import CompanySession
from ml.churn import Activity, active, churned, features, train
from ml.risk_model import RiskModel
from tools.predictions import latest_day, replace_day

MODEL = "churn"
HORIZON_DAYS = 28
WINDOW_DAYS = 90
EPOCH = date(2000, 1, 1)


def _day(value: date) -> int:
    return (value - EPOCH).days


def activities(session: CompanySession, day: date) -> dict[uuid.UUID, Activity]:
    """Each active store's orders (day, value) and visits in the 90 + 28 days before `day`."""
    since = day - timedelta(days=WINDOW_DAYS + HORIZON_DAYS)
    orders: dict[uuid.UUID, tuple[list[int], list[float]]] = {}
    for store_id, sold_on, total in session.exec(
        select(
            col(Transaction.store_id),
            col(Transaction.transaction_date),
            func.sum(Transaction.total_paise),
        )
        .where(
            Transaction.transaction_date >= since,
            Transaction.transaction_date < day,
            Transaction.status != "cancelled",
        )
        .group_by(col(Transaction.store_id), col(Transaction.transaction_date))
    ):
        days, values = orders.setdefault(store_id, ([], []))
        days.append(_day(sold_on))
        values.append(float(total) / 100)
    visits: dict[uuid.UUID, list[int]] = {}
    for store_id, visited in session.exec(
        select(col(Visit.store_id), col(Visit.visit_date)).where(Visit.visit_date >= since)
    ):
        visits.setdefault(store_id, []).append(_day(visited))
    stores = session.exec(select(Store.id).where(Store.is_active)).all()
    return {
        s: Activity(orders.get(s, ([], []))[0], orders.get(s, ([], []))[1], visits.get(s, []))
        for s in stores
    }


@dataclass(frozen=True)
class CompanyRisk:
    written: int
    base_rate: float  # the share of stores lost over the training horizon
    fallback: str | None  # why the scores are a rule's, not the model's


def score_stores(session: CompanySession, day: date) -> CompanyRisk:
    """Train on the cut-off 28 days ago, score the stores active in the last 90 days today,
    and replace today's churn predictions."""
    found = activities(session, day)
    past = _day(day) - HORIZON_DAYS
    known = [(s, a) for s, a in found.items() if active(a, past, WINDOW_DAYS)]
    matrix = np.array([features(a, past, WINDOW_DAYS) for _, a in known]).reshape(-1, 8)
    labels = np.array([churned(a, past, HORIZON_DAYS) for _, a in known], dtype=int)
    model: RiskModel | None
    fallback = None
    try:
        model = train(matrix, labels)
    except ValueError as exc:
        model, fallback = None, str(exc)
    now = [(s, a) for s, a in found.items() if active(a, _day(day), WINDOW_DAYS)]
    current = np.array([features(a, _day(day), WINDOW_DAYS) for _, a in now]).reshape(-1, 8)
    if model is not None and len(now):
        probabilities = model.probability(current)
    else:  # late against its own rhythm: the rule a rep would use
        probabilities = np.clip((current[:, 6] - 1) / 3, 0, 1) if len(now) else np.zeros(0)
    rows = []
    for row, (store_id, _) in enumerate(now):
        reasons = model.reasons(current[row]) if model is not None else []
        details: dict = {"reasons": reasons, "recency_days": int(current[row, 0])}
        if fallback:
            details["fallback"] = fallback
        rows.append(
            Prediction(
                company_id=session.company_id,
                model=MODEL,
                model_version="logreg" if model is not None else "rule",
                store_id=store_id,
                predicted_for=day,
                horizon_days=HORIZON_DAYS,
                value=round(float(probabilities[row]), 4),
                details=details,
            )
        )
    replace_day(session, MODEL, day, rows)
    return CompanyRisk(len(now), float(labels.mean()) if len(labels) else 0.0, fallback)


def stores_at_risk(
    session: CompanySession, rep_id: uuid.UUID | None, limit: int = 5
) -> list[tuple[Store, Prediction]]:
    """The latest churn scores of a rep's stores (every store for None), highest first."""
    latest = latest_day(session, MODEL)
    if latest is None:
        return []
    query = (
        select(Store, Prediction)
        .join(Prediction, col(Prediction.store_id) == col(Store.id))
        .where(Prediction.model == MODEL, Prediction.predicted_for == latest)
        .order_by(col(Prediction.value).desc())
        .limit(limit)
    )
    if rep_id is not None:
        query = query.where(Store.assigned_rep_id == rep_id)
    return [(store, prediction) for store, prediction in session.exec(query)]
