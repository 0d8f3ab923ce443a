"""Credit: what a store owes, how late it pays, and its tier A-D.

A store's ledger is its invoices (sales) and its payments. Payments settle the oldest open
invoices first, as a distributor's collection does; from that come the outstanding amount, what
is overdue and for how long, and the day each past invoice was settled.

The tier is the probability that the store lets an invoice run more than SERIOUS_DAYS past its
due date within the next HORIZON_DAYS (logistic regression on its payment history, how often and
how much it buys, and what it owes now), cut into bands: A under 5%, B under 15%, C under 35%,
D above. Trained on past cut-offs whose outcome is known, applied today. With too little
history a rule on days overdue stands in, and says so.
"""

import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from ml.risk_model import RiskModel, fit

SERIOUS_DAYS = 30  # an invoice this late past its due date is a default in the label
HORIZON_DAYS = 60
WINDOW_DAYS = 180
LATE_DAYS = 7  # paid more than a week after the due date counts as late
TIERS = (("A", 0.05), ("B", 0.15), ("C", 0.35), ("D", math.inf))
FEATURES = (
    "days_overdue",
    "overdue_share",
    "utilisation",
    "late_share",
    "mean_days_late",
    "serious_before",
    "invoices_90d",
    "log_value_90d",
    "tenure_days",
)
REASONS = {
    "days_overdue": "days its oldest unpaid bill is overdue",
    "overdue_share": "share of what it owes that is overdue",
    "utilisation": "share of its credit limit in use",
    "late_share": "share of bills paid late in 6 months",
    "mean_days_late": "average days paid after the due date",
    "serious_before": "bills more than 30 days late in 6 months",
    "invoices_90d": "bills in 90 days",
    "log_value_90d": "value bought in 90 days",
    "tenure_days": "days since its first bill",
}
MIN_EXAMPLES = 30


class CreditError(ValueError):
    """Too few stores, or only one outcome, to learn from."""


@dataclass(frozen=True)
class Ledger:
    """One store's invoices and payments as (day number, paise), each sorted by day."""

    invoices: Sequence[tuple[int, int]]
    payments: Sequence[tuple[int, int]]
    credit_days: int
    limit: int = 0  # paise; 0: no limit set


@dataclass(frozen=True)
class Standing:
    outstanding: int  # paise owed on invoices up to the day, after its payments
    overdue: int  # the part of it past the due date
    days_overdue: int  # how long the oldest unpaid invoice is past its due date; 0 when none
    advance: int  # paid beyond every invoice: credit in the store's favour


def settled_days(ledger: Ledger) -> list[float]:
    """The day each invoice was paid off in full (oldest first); math.inf while it is open."""
    paid = list(accumulate(amount for _, amount in ledger.payments))
    days = [day for day, _ in ledger.payments]
    settled = []
    for owed in accumulate(amount for _, amount in ledger.invoices):
        at = bisect_left(paid, owed)
        settled.append(days[at] if at < len(paid) else math.inf)
    return settled


def standing(ledger: Ledger, day: int) -> Standing:
    """What the store owes at the end of `day` (invoices and payments up to and including it)."""
    invoices = [(d, amount) for d, amount in ledger.invoices if d <= day]
    paid = sum(amount for d, amount in ledger.payments if d <= day)
    owed = sum(amount for _, amount in invoices)
    overdue, oldest_due = 0, None
    covered = paid
    for invoiced_on, amount in invoices:  # the oldest are paid first
        open_part = amount - min(amount, covered)
        covered -= min(amount, covered)
        due = invoiced_on + ledger.credit_days
        if open_part and due < day:
            overdue += open_part
            oldest_due = due if oldest_due is None else min(oldest_due, due)
    return Standing(
        outstanding=max(0, owed - paid),
        overdue=overdue,
        days_overdue=day - oldest_due if oldest_due is not None else 0,
        advance=max(0, paid - owed),
    )


def features(ledger: Ledger, cutoff: int, settled: list[float] | None = None) -> np.ndarray:
    """The features at the end of `cutoff`, from what was known then."""
    settled = settled if settled is not None else settled_days(ledger)
    now = standing(ledger, cutoff)
    lateness, serious = [], 0
    for (invoiced_on, _), paid_on in zip(ledger.invoices, settled, strict=True):
        due = invoiced_on + ledger.credit_days
        if not cutoff - WINDOW_DAYS < due <= cutoff:
            continue
        late = max(0.0, min(paid_on, cutoff) - due)  # still open: late until today so far
        lateness.append(late)
        serious += late > SERIOUS_DAYS
    recent = [(d, a) for d, a in ledger.invoices if cutoff - 90 < d <= cutoff]
    first = ledger.invoices[0][0] if ledger.invoices else cutoff
    return np.array(
        [
            now.days_overdue,
            now.overdue / now.outstanding if now.outstanding else 0.0,
            now.outstanding / ledger.limit if ledger.limit else 0.0,
            sum(late > LATE_DAYS for late in lateness) / len(lateness) if lateness else 0.0,
            float(np.mean(lateness)) if lateness else 0.0,
            serious,
            len(recent),
            math.log1p(sum(a for _, a in recent) / 100),
            min(cutoff - first, 365),
        ],
        dtype=float,
    )


def defaulted(ledger: Ledger, cutoff: int, settled: list[float] | None = None) -> bool:
    """An invoice became more than SERIOUS_DAYS overdue in the HORIZON_DAYS after `cutoff`."""
    settled = settled if settled is not None else settled_days(ledger)
    for (invoiced_on, _), paid_on in zip(ledger.invoices, settled, strict=True):
        serious_on = invoiced_on + ledger.credit_days + SERIOUS_DAYS
        if cutoff < serious_on <= cutoff + HORIZON_DAYS and paid_on > serious_on:
            return True
    return False


def known(ledger: Ledger, cutoff: int) -> bool:
    """The store had bought on credit before `cutoff`: there is something to score."""
    return bool(ledger.invoices) and ledger.invoices[0][0] <= cutoff


def examples(ledgers: Sequence[Ledger], cutoffs: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Features and outcomes of every store at every cut-off (outcomes must be known by then)."""
    rows, labels = [], []
    for ledger in ledgers:
        settled = settled_days(ledger)
        for cutoff in cutoffs:
            if known(ledger, cutoff):
                rows.append(features(ledger, cutoff, settled))
                labels.append(defaulted(ledger, cutoff, settled))
    return np.array(rows).reshape(-1, len(FEATURES)), np.array(labels, dtype=int)


def train(matrix: np.ndarray, labels: np.ndarray) -> RiskModel:
    if len(labels) < MIN_EXAMPLES or len(set(labels.tolist())) < 2:
        raise CreditError(
            f"{len(labels)} store histories with {int(labels.sum())} defaults: too few to learn "
            f"from (at least {MIN_EXAMPLES}, with both outcomes)"
        )
    return fit(matrix, labels, [REASONS[name] for name in FEATURES])


def tier(probability: float) -> str:
    return next(name for name, below in TIERS if probability < below)


def rule_probability(row: np.ndarray) -> float:
    """Without a model: the chance grows with the days overdue (0 days 2%, 30 days and more
    60%), the rule a credit controller applies by eye."""
    return float(0.02 + 0.58 * min(row[0], SERIOUS_DAYS) / SERIOUS_DAYS)
