"""A suggested order for a store (the "perfect basket"): what it will sell before its next
order, from the demand forecast (its usual basket from recent orders where there is none yet),
one must-sell product it does not stock, one product that the stores buying most like it sell
and it does not (similar stores), lines brought up to a running scheme's minimum when they are
close, and nothing the warehouse is about to run out of or cannot deliver from what it holds.
"""

import math
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from sqlalchemy import func
from sqlmodel import col, select

from db.models import Company, OrderEB2B, Prediction, Product, Store, Transaction, TransactionItem
from db.scope import CompanySession
from tools.predictions import latest_day
from tools.schemes import covers, running
from tools.stock import stock_by_product
from tools.stockout import likely_short

LINES = 8
SCHEME_REACH = 0.5  # a line at half a scheme's minimum or more is brought up to it
MUST_SELL_DAYS = 90
NEIGHBOURS = 10  # the stores that buy most like this one
NEIGHBOUR_SHARE = 0.5  # a product at least half of them bought, and this store did not


@dataclass(frozen=True)
class SuggestedLine:
    product: Product
    pieces: int
    why: str


@dataclass(frozen=True)
class Basket:
    lines: list[SuggestedLine]
    source: str  # "forecast" or "recent orders"


def _rounded(product: Product, pieces: float) -> int:
    """Whole cases from half a case up (retailers buy cases), else whole pieces."""
    case = max(product.units_per_case, 1)
    if case > 1 and pieces >= case / 2:
        return math.ceil(pieces / case - 0.25) * case or case
    return max(1, math.ceil(pieces))


@dataclass(frozen=True)
class Purchases:
    """What each store bought in the last 90 days, pieces per product (log-scaled), read once
    for all the baskets of a run (the morning push makes one per store on a beat)."""

    stores: list[uuid.UUID]
    products: list[uuid.UUID]
    matrix: np.ndarray  # stores x products

    @classmethod
    def read(cls, session: CompanySession, day: date) -> "Purchases":
        rows = session.exec(
            select(
                col(Transaction.store_id),
                col(TransactionItem.product_id),
                func.sum(TransactionItem.quantity),
            )
            .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
            .where(
                Transaction.transaction_date >= day - timedelta(days=MUST_SELL_DAYS),
                Transaction.status != "cancelled",
            )
            .group_by(col(Transaction.store_id), col(TransactionItem.product_id))
        ).all()
        stores = sorted({store for store, _, _ in rows})
        products = sorted({product for _, product, _ in rows})
        at_store = {s: n for n, s in enumerate(stores)}
        at_product = {p: n for n, p in enumerate(products)}
        matrix = np.zeros((len(stores), len(products)))
        for store, product, pieces in rows:
            matrix[at_store[store], at_product[product]] = math.log1p(max(int(pieces), 0))
        return cls(stores, products, matrix)


def shared_by_neighbours(
    matrix: np.ndarray, row: int, k: int = NEIGHBOURS, share: float = NEIGHBOUR_SHARE
) -> list[tuple[int, int, int]]:
    """Columns (products) that at least `share` of the row's `k` most similar rows (cosine
    similarity of what they buy) have and the row has not: (column, rows with it, k used),
    the most widely held first."""
    norms = np.linalg.norm(matrix, axis=1)
    if norms[row] == 0:
        return []
    similarity = matrix @ matrix[row] / np.where(norms > 0, norms, 1) / norms[row]
    similarity[row] = -1
    nearest = [n for n in np.argsort(-similarity, kind="stable")[:k] if similarity[n] > 0]
    if not nearest:
        return []
    holders = (matrix[nearest] > 0).sum(axis=0)
    return [
        (int(column), int(holders[column]), len(nearest))
        for column in np.argsort(-holders, kind="stable")
        if matrix[row, column] == 0 and holders[column] >= share * len(nearest)
    ]


def suggest_basket(
    session: CompanySession, store: Store, day: date, purchases: Purchases | None = None
) -> Basket:
    products = {p.id: p for p in session.exec(select(Product).where(Product.is_active))}
    stock = stock_by_product(session)
    short = likely_short(session) | _below_a_case(products, stock)
    wanted, source = _from_forecast(session, store, products)
    if not wanted:
        wanted, source = _from_recent_orders(session, store, products), "recent orders"
    lines = [
        SuggestedLine(product, _rounded(product, pieces), why)
        for product, pieces, why in wanted
        if product.id not in short
    ][: LINES - 2]
    must = _must_sell_gap(session, store, products, day, short, {line.product.id for line in lines})
    if must is not None:
        case = max(must.units_per_case, 1)
        lines.append(SuggestedLine(must, case, "must-sell: sells in most stores, not yet here"))
    taken = {line.product.id for line in lines} | short
    similar = _similar_stores_gap(purchases or Purchases.read(session, day), store, products, taken)
    if similar is not None:
        lines.append(similar)
    return Basket(_with_schemes(session, within_stock(lines, stock), day, stock), source)


def _below_a_case(
    products: dict[uuid.UUID, Product], stock: dict[uuid.UUID, int] | None
) -> set[uuid.UUID]:
    """Products the warehouse holds less than a case (a piece where sold loose) of."""
    if stock is None:
        return set()
    return {p.id for p in products.values() if stock.get(p.id, 0) < max(p.units_per_case, 1)}


def within_stock(
    lines: list[SuggestedLine], stock: dict[uuid.UUID, int] | None
) -> list[SuggestedLine]:
    """Each line cut to the whole cases on hand, so that accepting it never meets 'out of
    stock'; a line with nothing left to offer is dropped."""
    if stock is None:
        return lines
    out = []
    for line in lines:
        held = stock.get(line.product.id, 0)
        case = max(line.product.units_per_case, 1)
        pieces = min(line.pieces, held - held % case if line.pieces >= case else held)
        if pieces == line.pieces:
            out.append(line)
        elif pieces > 0:
            out.append(SuggestedLine(line.product, pieces, f"{line.why}; cut to the stock held"))
    return out


def _similar_stores_gap(
    purchases: Purchases,
    store: Store,
    products: dict[uuid.UUID, Product],
    taken: set[uuid.UUID],
) -> SuggestedLine | None:
    if store.id not in purchases.stores:
        return None
    row = purchases.stores.index(store.id)
    for column, holders, nearest in shared_by_neighbours(purchases.matrix, row):
        product = products.get(purchases.products[column])
        if product is not None and product.id not in taken:
            return SuggestedLine(
                product,
                max(product.units_per_case, 1),
                f"similar stores: {holders} of the {nearest} stores that buy most like yours "
                "sell it",
            )
    return None


def _from_forecast(
    session: CompanySession, store: Store, products: dict[uuid.UUID, Product]
) -> tuple[list[tuple[Product, float, str]], str]:
    latest = latest_day(session, "demand", store.id)
    if latest is None:
        return [], "forecast"
    rows = session.exec(
        select(Prediction)
        .where(
            Prediction.model == "demand",
            Prediction.store_id == store.id,
            Prediction.predicted_for == latest,
            Prediction.horizon_days == 7,
            Prediction.value >= 1,
        )
        .order_by(col(Prediction.value).desc())
    ).all()
    return [
        (products[p.product_id], p.value, f"forecast: about {p.value:.0f} pcs in 7 days")
        for p in rows
        if p.product_id in products and not p.details.get("fallback")
    ], "forecast"


def _from_recent_orders(
    session: CompanySession, store: Store, products: dict[uuid.UUID, Product]
) -> list[tuple[Product, float, str]]:
    """The average quantity of what its last five orders held, most frequent first."""
    by_sku = {p.sku: p for p in products.values()}
    recent = session.exec(
        select(OrderEB2B)
        .where(OrderEB2B.store_id == store.id, OrderEB2B.status != "cancelled")
        .order_by(col(OrderEB2B.created_at).desc())
        .limit(5)
    ).all()
    seen: dict[str, list[int]] = {}
    for order in recent:
        for item in order.items:
            seen.setdefault(item["sku"], []).append(int(item.get("quantity", 0)))
    ranked = sorted(seen.items(), key=lambda kv: (-len(kv[1]), -sum(kv[1])))
    return [
        (by_sku[sku], sum(q) / len(q), f"usual: in {len(q)} of your last {len(recent)} orders")
        for sku, q in ranked
        if sku in by_sku
    ]


def _must_sell_gap(
    session: CompanySession,
    store: Store,
    products: dict[uuid.UUID, Product],
    day: date,
    short: set[uuid.UUID],
    taken: set[uuid.UUID],
) -> Product | None:
    """The company's first must-sell product (its setting, else the most widely bought) that
    the store has not bought in 90 days."""
    since = day - timedelta(days=MUST_SELL_DAYS)
    bought_here = set(
        session.exec(
            select(TransactionItem.product_id)
            .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
            .where(Transaction.store_id == store.id, Transaction.transaction_date >= since)
        ).all()
    )
    company = session.get(Company, session.company_id)
    named = (company.settings if company else {}).get("must_sell") or []
    by_sku = {p.sku: p for p in products.values()}
    ranked = [by_sku[s].id for s in named if s in by_sku] or [
        product_id
        for product_id, _ in session.exec(
            select(TransactionItem.product_id, func.count(func.distinct(Transaction.store_id)))
            .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
            .where(Transaction.transaction_date >= since)
            .group_by(col(TransactionItem.product_id))
            .order_by(func.count(func.distinct(Transaction.store_id)).desc())
            .limit(5)
        )
    ]
    for product_id in ranked:
        if product_id in products and product_id not in bought_here | short | taken:
            return products[product_id]
    return None


def _with_schemes(
    session: CompanySession,
    lines: list[SuggestedLine],
    day: date,
    stock: dict[uuid.UUID, int] | None,
) -> list[SuggestedLine]:
    """A line within reach of a running scheme's minimum is brought up to it where the stock
    allows, and says so."""
    schemes = running(session, day)
    out = []
    for line in lines:
        scheme = next((s for s in schemes if covers(s, line.product)), None)
        if scheme is None:
            out.append(line)
            continue
        pieces = line.pieces
        held = None if stock is None else stock.get(line.product.id, 0)
        if SCHEME_REACH * scheme.min_quantity <= pieces < scheme.min_quantity and (
            held is None or held >= scheme.min_quantity
        ):
            pieces = scheme.min_quantity
        if pieces >= scheme.min_quantity:
            out.append(SuggestedLine(line.product, pieces, f"{line.why}; scheme {scheme.name}"))
        else:
            out.append(line)
    return out
