"""Credit standing of a company's stores, from its own books: invoices are its sales (not
cancelled, not held), payments what it imported (`opensales import payments` or the sync API).
A company that never imported a payment does not track credit: nothing is owed, no order waits.

The nightly `risk` job scores every store with the credit model (`ml/credit.py`) into
`predictions` (`model` = `credit`: the probability, the tier A-D, its reasons); an order reads
the latest tier with the live standing, and is held for a manager when it takes the store over
its credit limit.
"""

import uuid
from dataclasses import dataclass
from datetime import date

from sqlmodel import col, select

from db.models import Payment, Prediction, Store, Transaction
from db.scope import CompanySession
from ml.credit import (
    HORIZON_DAYS,
    Ledger,
    Standing,
    examples,
    features,
    known,
    rule_probability,
    standing,
    tier,
    train,
)
from ml.risk_model import RiskModel
from tools.money import rupees
from tools.predictions import latest_day, replace_day

MODEL = "credit"
EPOCH = date(2000, 1, 1)
NOT_INVOICED = ("cancelled", "on_hold")
TRAINING_CUTOFFS = 6  # past cut-offs, 30 days apart, whose outcome is known by today


def day_number(value: date) -> int:
    return (value - EPOCH).days


def tracked(session: CompanySession) -> bool:
    return session.exec(select(Payment.id).limit(1)).first() is not None


def ledgers(
    session: CompanySession, store_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, Ledger]:
    """Each store's invoices and payments (every store of the company, or those given)."""
    stores = select(Store)
    sales = select(
        col(Transaction.store_id), col(Transaction.transaction_date), col(Transaction.total_paise)
    ).where(col(Transaction.status).not_in(NOT_INVOICED))
    paid = select(col(Payment.store_id), col(Payment.paid_on), col(Payment.amount_paise))
    if store_ids is not None:
        stores = stores.where(col(Store.id).in_(store_ids))
        sales = sales.where(col(Transaction.store_id).in_(store_ids))
        paid = paid.where(col(Payment.store_id).in_(store_ids))
    invoices: dict[uuid.UUID, list[tuple[int, int]]] = {}
    for store_id, sold_on, total in session.exec(sales):
        invoices.setdefault(store_id, []).append((day_number(sold_on), int(total)))
    payments: dict[uuid.UUID, list[tuple[int, int]]] = {}
    for store_id, paid_on, amount in session.exec(paid):
        payments.setdefault(store_id, []).append((day_number(paid_on), int(amount)))
    return {
        store.id: Ledger(
            sorted(invoices.get(store.id, [])),
            sorted(payments.get(store.id, [])),
            store.credit_days,
            store.credit_limit_paise,
        )
        for store in session.exec(stores)
    }


@dataclass(frozen=True)
class CompanyCredit:
    written: int
    default_rate: float  # the share of past store histories that ran 30+ days late
    fallback: str | None  # why the scores are a rule's, not the model's


def score_credit(session: CompanySession, day: date) -> CompanyCredit:
    """Train on past cut-offs whose 60 days are over, score every store that bought on credit,
    and replace the day's credit predictions. Nothing is written when credit is not tracked."""
    if not tracked(session):
        return CompanyCredit(0, 0.0, "no payments imported: credit is not tracked")
    found = ledgers(session)
    today = day_number(day)
    cutoffs = [today - HORIZON_DAYS - 30 * n for n in range(TRAINING_CUTOFFS)]
    matrix, labels = examples(list(found.values()), cutoffs)
    model: RiskModel | None
    fallback = None
    try:
        model = train(matrix, labels)
    except ValueError as exc:
        model, fallback = None, str(exc)
    rows = []
    for store_id, ledger in found.items():
        if not known(ledger, today):
            continue
        row = features(ledger, today)
        probability = (
            float(model.probability(row.reshape(1, -1))[0])
            if model is not None
            else rule_probability(row)
        )
        now = standing(ledger, today)
        details: dict = {
            "tier": tier(probability),
            "reasons": model.reasons(row) if model is not None else [],
            "outstanding_paise": now.outstanding,
            "overdue_paise": now.overdue,
            "days_overdue": now.days_overdue,
        }
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
                value=round(probability, 4),
                details=details,
            )
        )
    replace_day(session, MODEL, day, rows)
    return CompanyCredit(len(rows), float(labels.mean()) if len(labels) else 0.0, fallback)


@dataclass(frozen=True)
class Credit:
    """A store's standing today with its latest tier (None before the first nightly score)."""

    store: Store
    standing: Standing
    tier: str | None
    probability: float | None
    reasons: list[dict]

    @property
    def available(self) -> int | None:
        limit = self.store.credit_limit_paise
        return max(0, limit - self.standing.outstanding) if limit else None

    def over_limit_with(self, amount: int) -> bool:
        limit = self.store.credit_limit_paise
        return bool(limit) and self.standing.outstanding + amount > limit

    def summary(self, adding: int = 0) -> str:
        """One line for an order reply or a manager: owed (with `adding`, an order just
        placed), the limit, what is overdue, the tier."""
        owed = f"{rupees(self.standing.outstanding + adding)} owed"
        if self.store.credit_limit_paise:
            owed += f" of a {rupees(self.store.credit_limit_paise)} limit"
        if self.standing.overdue:
            owed += f"; {rupees(self.standing.overdue)} overdue ({self.standing.days_overdue} days)"
        if self.tier:
            owed += f"; credit tier {self.tier}"
        return f"Credit: {owed}."


def store_credit(session: CompanySession, store: Store, day: date) -> Credit | None:
    """The store's credit today, or None when the company does not track credit."""
    if not tracked(session):
        return None
    ledger = ledgers(session, [store.id])[store.id]
    latest = latest_day(session, MODEL, store.id)
    prediction = (
        session.exec(
            select(Prediction).where(
                Prediction.model == MODEL,
                Prediction.store_id == store.id,
                Prediction.predicted_for == latest,
            )
        ).first()
        if latest is not None
        else None
    )
    return Credit(
        store=store,
        standing=standing(ledger, day_number(day)),
        tier=prediction.details.get("tier") if prediction else None,
        probability=prediction.value if prediction else None,
        reasons=prediction.details.get("reasons", []) if prediction else [],
    )


def riskiest(session: CompanySession, limit: int = 10) -> list[tuple[Store, Prediction]]:
    """The stores with the highest credit risk in the latest scores, riskiest first."""
    latest = latest_day(session, MODEL)
    if latest is None:
        return []
    return list(
        session.exec(
            select(Store, Prediction)
            .join(Prediction, col(Prediction.store_id) == col(Store.id))
            .where(Prediction.model == MODEL, Prediction.predicted_for == latest)
            .order_by(col(Prediction.value).desc())
            .limit(limit)
        ).all()
    )
