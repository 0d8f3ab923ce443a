"""What happens to a placed order after the chat that placed it: cancelled (its stock put
back), or held for credit and then released or cancelled by a manager."""

from sqlmodel import col, select

from db.models import OrderEB2B, StockLevel, Transaction, TransactionItem
from db.scope import CompanySession

HELD = "on_hold"  # over the store's credit limit: waits for a manager


def cancel_order(session: CompanySession, order: OrderEB2B) -> None:
    """The order and its sale cancelled, the pieces it took back in stock."""
    order.status = "cancelled"
    if order.transaction_id is None:
        return
    sale = session.get(Transaction, order.transaction_id)
    sale.status = "cancelled"
    for item in session.exec(
        select(TransactionItem).where(TransactionItem.transaction_id == sale.id)
    ):
        level = session.exec(
            select(StockLevel).where(StockLevel.product_id == item.product_id)
        ).first()
        if level is not None:
            level.quantity += item.quantity


def release_order(session: CompanySession, order: OrderEB2B) -> None:
    """A held order confirmed: it is invoiced and goes out with the next delivery."""
    order.status = "confirmed"
    if order.transaction_id is not None:
        session.get(Transaction, order.transaction_id).status = "confirmed"


def held_orders(session: CompanySession) -> list[OrderEB2B]:
    return list(
        session.exec(
            select(OrderEB2B).where(OrderEB2B.status == HELD).order_by(col(OrderEB2B.order_number))
        ).all()
    )
