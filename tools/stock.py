"""Stock on hand, and whether a company tracks it at all.

A distributor that has never sent us stock is *untracked*: orders go through and the reply says
the distributor confirms availability. Once it imports or syncs stock (any stock row exists), a
product without a row has none. The company setting `stock` ("tracked" or "untracked", set with
`opensales company set --stock`) overrides either way.
"""

import uuid

from sqlalchemy import func
from sqlmodel import col, select

from db.models import Company, StockLevel
from db.scope import CompanySession


def stock_tracked(session: CompanySession) -> bool:
    mode = session.get(Company, session.company_id).settings.get("stock")
    if mode in ("tracked", "untracked"):
        return mode == "tracked"
    return session.exec(select(StockLevel.id).limit(1)).first() is not None


def on_hand(session: CompanySession, product_id: uuid.UUID, tracked: bool) -> int | None:
    """Pieces on hand over all warehouses; None when the product's stock is not tracked."""
    count, total = session.exec(
        select(
            func.count(col(StockLevel.id)), func.coalesce(func.sum(StockLevel.quantity), 0)
        ).where(StockLevel.product_id == product_id)
    ).one()
    if count == 0 and not tracked:
        return None
    return int(total)


def stock_by_product(session: CompanySession) -> dict[uuid.UUID, int] | None:
    """Pieces on hand per product over all warehouses (a product not in it has none); None
    when the company does not track stock."""
    if not stock_tracked(session):
        return None
    return {
        product_id: int(total)
        for product_id, total in session.exec(
            select(StockLevel.product_id, func.sum(StockLevel.quantity)).group_by(
                col(StockLevel.product_id)
            )
        )
    }
