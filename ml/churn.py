"""Attrition: the probability that a customer (a store; a household in the public data) buys
nothing in the next weeks, from recency, frequency, monetary value, their trend and visits.

Logistic regression on standardised features, as the seed names it: its coefficients are the
reasons a rep is shown ("no order for 41 days", "orders falling"), and its probabilities are
calibrated enough to rank and to threshold. Trained on a past cut-off whose outcome is known,
applied at today's.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ml.risk_model import RiskModel, fit

FEATURES = (
    "recency_days",
    "orders_90d",
    "log_value_90d",
    "order_trend",
    "value_trend",
    "mean_gap_days",
    "overdue_ratio",
    "visits_90d",
)
REASONS = {
    "recency_days": "days since the last order",
    "orders_90d": "orders in 90 days",
    "log_value_90d": "value bought in 90 days",
    "order_trend": "orders falling or rising",
    "value_trend": "value falling or rising",
    "mean_gap_days": "usual days between orders",
    "overdue_ratio": "late against its own rhythm",
    "visits_90d": "rep visits in 90 days",
}
MIN_EXAMPLES = 30


class ChurnError(ValueError):
    """Too few customers, or only one outcome, to learn from."""


@dataclass(frozen=True)
class Activity:
    """One customer's purchases (day numbers and values) and visits before a cut-off day."""

    days: Sequence[int]
    values: Sequence[float]
    visits: Sequence[int] = ()


def features(activity: Activity, cutoff: int, window: int = 90) -> np.ndarray:
    """The features at `cutoff` from what happened in the `window` days before it."""
    days = np.asarray(activity.days, dtype=float)
    values = np.asarray(activity.values, dtype=float)
    seen = (days < cutoff) & (days >= cutoff - window)
    days, values = days[seen], values[seen]
    half = cutoff - window / 2
    recency = cutoff - days.max() if len(days) else window * 2
    distinct = np.unique(days)
    gap = float(np.diff(distinct).mean()) if len(distinct) > 1 else float(window)
    recent, earlier = (days >= half).sum(), (days < half).sum()
    value_recent, value_earlier = values[days >= half].sum(), values[days < half].sum()
    visits = np.asarray(activity.visits, dtype=float)
    return np.array(
        [
            recency,
            len(distinct),
            np.log1p(values.sum()),
            (recent - earlier) / max(recent + earlier, 1),
            (value_recent - value_earlier) / max(value_recent + value_earlier, 1.0),
            gap,
            recency / max(gap, 1.0),
            ((visits < cutoff) & (visits >= cutoff - window)).sum(),
        ]
    )


def churned(activity: Activity, cutoff: int, horizon: int) -> bool:
    """Bought nothing in the `horizon` days from `cutoff`."""
    days = np.asarray(activity.days)
    return not ((days >= cutoff) & (days < cutoff + horizon)).any()


def active(activity: Activity, cutoff: int, window: int = 90) -> bool:
    days = np.asarray(activity.days)
    return bool(((days < cutoff) & (days >= cutoff - window)).any())


def train(matrix: np.ndarray, labels: np.ndarray) -> RiskModel:
    if len(labels) < MIN_EXAMPLES or len(set(labels.tolist())) < 2:
        raise ChurnError(
            f"{len(labels)} customers with {int(labels.sum())} lost: too few to learn from "
            f"(at least {MIN_EXAMPLES}, with both outcomes)"
        )
    return fit(matrix, labels, [REASONS[name] for name in FEATURES])
