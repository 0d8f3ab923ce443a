"""The company's catalogue as the order parser reads it."""

from sqlmodel import select

from db.models import Product
from db.scope import CompanySession
from tools.order_parser import CatalogItem, OrderParser


def catalog_parser(session: CompanySession) -> OrderParser:
    """A parser over the company's active products (their names, sizes and aliases)."""
    products = session.exec(select(Product).where(Product.is_active)).all()
    return OrderParser([CatalogItem.of(p) for p in products])
