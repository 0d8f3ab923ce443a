"""What a scheme would do, simulated from the company's own history before a manager runs it.

Uplift: how much more the products of a category sold, store by store, in weeks when a scheme
covered them than in weeks when none did, per point of discount (a free-goods scheme counts as
the discount its free pieces amount to), by store cluster (channel type: kirana, chemist, ..),
pooled over the category where a cluster has too few promoted weeks, and a stated prior where the
category has none. Volume: the demand forecast for the stores and products in question (the last
28 days' pace without one). Cost: the discount on the volume sold in lines that reach the
scheme's minimum (their share in the last 90 days). ROI: the extra gross margin (company setting
`gross_margin_pct`, 10 by default) against that cost.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import func
from sqlmodel import col, select

from db.models import Company, Prediction, Product, Promotion, Store, Transaction, TransactionItem
from db.scope import CompanySession
from tools.forecasts import weekly_series
from tools.predictions import latest_day

HISTORY_WEEKS = 26
MIN_PROMOTED = 4  # promoted store-weeks a cluster needs for its own estimate
PRIOR_PER_POINT = 0.02  # +2% volume per point of discount where there is no history
MAX_UPLIFT = 1.0
DEFAULT_MARGIN_PCT = 10.0


@dataclass(frozen=True)
class Terms:
    label: str
    discount_pct: float
    min_cases: int
    free_pieces: int
    days: int


VARIANTS = (
    Terms("A", 3, 1, 0, 14),
    Terms("B", 5, 2, 0, 21),
    Terms("C", 8, 2, 0, 21),
    Terms("D", 0, 1, 0, 21),  # free goods: a tenth of a case free per case (set per product)
)


@dataclass(frozen=True)
class Outcome:
    terms: Terms
    depth_pct: float  # the discount the retailer gets, free goods included
    uplift: float  # extra volume, as a share of the baseline
    baseline_pieces: float
    extra_pieces: float
    cost_paise: float
    extra_margin_paise: float

    @property
    def roi(self) -> float:
        return (
            (self.extra_margin_paise - self.cost_paise) / self.cost_paise
            if self.cost_paise
            else 0.0
        )


@dataclass(frozen=True)
class Simulation:
    outcomes: list[Outcome]
    per_point: float  # volume uplift per point of discount used
    evidence: str  # where it came from, in words
    stores: int

    @property
    def best(self) -> Outcome:
        return max(self.outcomes, key=lambda o: o.roi)


def stores_in(session: CompanySession, text: str) -> list[Store]:
    """The active stores of the city or locality the text names (all of them when none)."""
    stores = list(session.exec(select(Store).where(Store.is_active)))
    words = f" {text.lower()} "
    named = [s for s in stores if f" {s.locality.lower()} " in words] or [
        s for s in stores if f" {s.city.lower()} " in words
    ]
    return named or stores


def uplift_per_point(
    session: CompanySession, products: Sequence[Product], stores: Sequence[Store], day: date
) -> tuple[float, str]:
    """Extra volume per point of discount in the products' category, for these stores' clusters."""
    series = weekly_series(session, day, HISTORY_WEEKS)
    category = products[0].category
    in_category = {p.id for p in session.exec(select(Product).where(Product.category == category))}
    clusters = {s.id: s.channel_type for s in session.exec(select(Store))}
    wanted = {s.channel_type for s in stores}
    depth = _depth(session, category, day)
    rows = [i for i, (_, p) in enumerate(series.keys) if p in in_category]
    if not rows or depth <= 0:
        return PRIOR_PER_POINT, f"no scheme on {category} in {HISTORY_WEEKS} weeks: assumed"
    q, promo = series.panel.quantity[rows], series.panel.promo[rows]
    cluster = np.array([clusters.get(series.keys[i][0]) in wanted for i in rows])
    for mask, scope in ((cluster, "these stores' kind"), (np.ones(len(rows), bool), category)):
        promoted = promo[mask] > 0
        if promoted.sum() >= MIN_PROMOTED and (~promoted).sum() >= MIN_PROMOTED:
            lift = q[mask][promoted].mean() / max(q[mask][~promoted].mean(), 1e-6) - 1
            per_point = max(0.0, lift) / depth
            return per_point, (
                f"{int(promoted.sum())} promoted store-weeks of {category} ({scope}): "
                f"{100 * lift:+.0f}% volume at {depth:.1f}% off on average"
            )
    return PRIOR_PER_POINT, f"too few promoted weeks of {category}: assumed"


def _depth(session: CompanySession, category: str, day: date) -> float:
    """The average discount of the schemes that covered the category in the history."""
    since = day - timedelta(weeks=HISTORY_WEEKS)
    products = {p.id: p for p in session.exec(select(Product))}
    depths = []
    for scheme in session.exec(
        select(Promotion).where(Promotion.ends_on >= since, Promotion.starts_on < day)
    ):
        product = products.get(scheme.product_id) if scheme.product_id else None
        if scheme.category == category or (product is not None and product.category == category):
            depths.append(equivalent_pct(scheme.discount_pct, scheme.min_quantity,
                                         scheme.free_quantity))  # fmt: skip
    return float(np.mean(depths)) if depths else 0.0


def equivalent_pct(discount_pct: float, min_pieces: int, free_pieces: int) -> float:
    """A discount, or the discount that free pieces amount to (2 free on 24 is 7.7% off)."""
    free = 100 * free_pieces / (min_pieces + free_pieces) if free_pieces else 0.0
    return discount_pct + free


def simulate(
    session: CompanySession,
    products: Sequence[Product],
    stores: Sequence[Store],
    day: date,
    extra: Terms | None = None,
) -> Simulation:
    """The variants (and `extra`, the manager's own draft) over these products and stores."""
    per_point, evidence = uplift_per_point(session, products, stores, day)
    company = session.get(Company, session.company_id)
    margin = float(
        (company.settings if company else {}).get("gross_margin_pct", DEFAULT_MARGIN_PCT)
    )
    per_day = _baseline_per_day(session, products, stores, day)
    price = float(np.mean([p.price_paise for p in products]))
    case = int(np.median([p.units_per_case for p in products]))
    outcomes = []
    for terms in (*VARIANTS, *((extra,) if extra else ())):
        free = terms.free_pieces or (max(1, round(case / 10)) if terms.label == "D" else 0)
        depth = equivalent_pct(terms.discount_pct, terms.min_cases * case, free)
        reach = _share_at_least(session, products, stores, day, terms.min_cases * case)
        uplift = min(MAX_UPLIFT, per_point * depth)
        baseline = per_day * terms.days
        extra_pieces = baseline * uplift * reach
        cost = (baseline * reach + extra_pieces) * price * depth / 100
        outcomes.append(
            Outcome(
                Terms(terms.label, terms.discount_pct, terms.min_cases, free, terms.days),
                depth,
                uplift * reach,
                baseline,
                extra_pieces,
                cost,
                extra_pieces * price * margin / 100,
            )
        )
    return Simulation(outcomes, per_point, evidence, len(stores))


def _baseline_per_day(
    session: CompanySession, products: Sequence[Product], stores: Sequence[Store], day: date
) -> float:
    ids, store_ids = [p.id for p in products], [s.id for s in stores]
    latest = latest_day(session, "demand")
    if latest is not None:
        total = session.exec(
            select(func.coalesce(func.sum(Prediction.value), 0)).where(
                Prediction.model == "demand",
                Prediction.predicted_for == latest,
                Prediction.horizon_days == 7,
                col(Prediction.product_id).in_(ids),
                col(Prediction.store_id).in_(store_ids),
            )
        ).one()
        if total:
            return float(total) / 7
    sold = session.exec(
        select(func.coalesce(func.sum(TransactionItem.quantity), 0))
        .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
        .where(
            col(TransactionItem.product_id).in_(ids),
            col(Transaction.store_id).in_(store_ids),
            Transaction.transaction_date >= day - timedelta(days=28),
            Transaction.transaction_date < day,
            Transaction.status != "cancelled",
        )
    ).one()
    return float(sold) / 28


def _share_at_least(
    session: CompanySession,
    products: Sequence[Product],
    stores: Sequence[Store],
    day: date,
    pieces: int,
) -> float:
    """The share of the volume of the last 90 days sold in lines of at least `pieces`."""
    rows: list[tuple[uuid.UUID, int]] = list(
        session.exec(
            select(TransactionItem.product_id, TransactionItem.quantity)
            .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
            .where(
                col(TransactionItem.product_id).in_([p.id for p in products]),
                col(Transaction.store_id).in_([s.id for s in stores]),
                Transaction.transaction_date >= day - timedelta(days=90),
            )
        )
    )
    total = sum(q for _, q in rows)
    return sum(q for _, q in rows if q >= pieces) / total if total else 1.0
