"""A risk model as the churn and credit models use it: logistic regression on standardised
features, whose coefficients give each score its reasons, and how well its probabilities rank
and match what happened (AUC, the Brier score, calibration by bins of predicted risk)."""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler


@dataclass
class RiskModel:
    pipeline: Pipeline
    reasons_of: Sequence[str]  # what each feature means to a person, in feature order

    def probability(self, matrix: np.ndarray) -> np.ndarray:
        return self.pipeline.predict_proba(matrix)[:, 1]

    def reasons(self, row: np.ndarray, top: int = 2) -> list[dict]:
        """The features pushing this row's risk up the most (coefficient x its value)."""
        scaler, model = self.pipeline.steps[0][1], self.pipeline.steps[-1][1]
        push = model.coef_[0] * scaler.transform(row.reshape(1, -1))[0]
        order = np.argsort(-push)[:top]
        return [
            {
                "reason": self.reasons_of[i],
                "value": round(float(row[i]), 2),
                "effect": round(float(push[i]), 3),
            }  # fmt: skip
            for i in order
            if push[i] > 0
        ]


def fit(matrix: np.ndarray, labels: np.ndarray, reasons_of: Sequence[str]) -> RiskModel:
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    pipeline.fit(matrix, labels)
    return RiskModel(pipeline, reasons_of)


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
