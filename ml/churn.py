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
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

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


@dataclass
class ChurnModel:
    pipeline: Pipeline
    horizon: int

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(matrix)[:, 1]

    def reasons(self, row: np.ndarray, top: int = 2) -> list[dict]:
        """The features pushing this customer's risk up the most (coefficient x its value)."""
        scaler, model = self.pipeline.steps[0][1], self.pipeline.steps[-1][1]
        push = model.coef_[0] * scaler.transform(row.reshape(1, -1))[0]
        order = np.argsort(-push)[:top]
        return [
            {
                "reason": REASONS[FEATURES[i]],
                "value": round(float(row[i]), 2),
                "effect": round(float(push[i]), 3),
            }  # fmt: skip
            for i in order
            if push[i] > 0
        ]


def train(matrix: np.ndarray, labels: np.ndarray, horizon: int) -> ChurnModel:
    if len(labels) < MIN_EXAMPLES or len(set(labels.tolist())) < 2:
        raise ChurnError(
            f"{len(labels)} customers with {int(labels.sum())} lost: too few to learn from "
            f"(at least {MIN_EXAMPLES}, with both outcomes)"
        )
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    pipeline.fit(matrix, labels)
    return ChurnModel(pipeline, horizon)


@dataclass(frozen=True)
class Calibration:
    auc: float
    brier: float
    base_rate: float
    bins: list[tuple[float, float, int]]  # (mean predicted, observed rate, customers) per decile

    @property
    def error(self) -> float:
        """Expected calibration error: |predicted - observed| weighted by the bin's size."""
        total = sum(n for _, _, n in self.bins)
        return sum(abs(p - o) * n for p, o, n in self.bins) / max(total, 1)


def evaluate(probabilities: np.ndarray, labels: np.ndarray, bins: int = 10) -> Calibration:
    order = np.argsort(probabilities)
    groups = [g for g in np.array_split(order, bins) if len(g)]
    return Calibration(
        auc=float(roc_auc_score(labels, probabilities)),
        brier=float(brier_score_loss(labels, probabilities)),
        base_rate=float(labels.mean()),
        bins=[(float(probabilities[g].mean()), float(labels[g].mean()), len(g)) for g in groups],
    )
