"""The credit model, measured: `opensales eval credit`.

There is no public data set of a distributor's invoices and payments (Complete Journey has
baskets, not bills), so this runs on the demo distributor, whose payment habits and bad patches
are drawn by its generator: the labels are synthetic, and the figures say how well the model
recovers a known process, not how it does on a real ledger. Trained on three cut-offs 30 days
apart, tested on a later cut-off, each against the 60 days after it. Prints AUC, the Brier
score against the base rate's, the calibration error, the rule it replaces (days overdue alone)
and each tier's share of stores and the rate at which they then defaulted.
"""

import argparse
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np

from ml.credit import HORIZON_DAYS, TIERS, examples, rule_probability, tier, train
from ml.risk_model import evaluate


def demo_ledgers(end: date) -> list:
    from db.demo import load_demo
    from db.engine import company_session, create_db_engine
    from db.migrate import upgrade
    from tools.credit import ledgers

    folder = Path(tempfile.mkdtemp(prefix="opensales-credit-"))
    engine = create_db_engine(f"sqlite:///{folder / 'demo.db'}")
    upgrade(engine)
    company = load_demo(engine, stores=500, days=180, end=end, progress=False).company_id
    with company_session(company, engine) as session:
        found = list(ledgers(session).values())
    engine.dispose()
    return found


def main(args: argparse.Namespace) -> int:
    from tools.credit import day_number

    end = date(2026, 12, 1)
    print("credit: logistic regression on payment history, frequency, value and what is owed")
    print("demo stores (synthetic labels: the generator's payment habits), 60 days ahead")
    found = demo_ledgers(end)
    test_at = day_number(end) - HORIZON_DAYS
    train_at = [test_at - 30 * n for n in (1, 2, 3)]
    model = train(*examples(found, train_at))
    matrix, labels = examples(found, [test_at])
    predicted = model.probability(matrix)
    result = evaluate(predicted, labels, bins=5)
    rule = evaluate(np.array([rule_probability(row) for row in matrix]), labels, bins=5)
    base = result.base_rate * (1 - result.base_rate)
    print(f"\ntest cut-off {end - timedelta(days=HORIZON_DAYS)}: {len(labels)} stores, "
          f"{100 * result.base_rate:.1f}% let a bill run 30+ days late in the next 60")  # fmt: skip
    print(f"  model: AUC {result.auc:.3f}; Brier {result.brier:.4f} (base rate alone "
          f"{base:.4f}); calibration error {result.error:.3f}")  # fmt: skip
    print(f"  rule (days overdue alone): AUC {rule.auc:.3f}; Brier {rule.brier:.4f}")
    fifths = [f"predicted {100 * p:.1f}% / defaulted {100 * o:.1f}%" for p, o, _ in result.bins]
    print("  by fifths: " + ", ".join(fifths))
    tiers = np.array([tier(p) for p in predicted])
    for name, _ in TIERS:
        chosen = tiers == name
        rate = f"{100 * labels[chosen].mean():.1f}%" if chosen.any() else "-"
        print(f"  tier {name}: {100 * chosen.mean():5.1f}% of stores, defaulted {rate}")
    return 0
