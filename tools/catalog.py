"""The company's catalogue as the order parser reads it."""

from sqlmodel import select

from db.models import Product
from db.scope import CompanySession
from tools.order_parser import CatalogItem, OrderParser


def catalog_parser(session: CompanySession) -> OrderParser:
    """A parser over the company's active products (their names, sizes and aliases)."""
    products = session.exec(select(Product).where(Product.is_active)).all()
    return OrderParser([CatalogItem.of(p) for p in products])


def demo_parser() -> OrderParser:
    """A parser over the demo catalogue file, without a database (evals, benchmarks, tests)."""
    from db.demo import load_catalog

    return OrderParser([
        CatalogItem(p["sku"], p["name"], p["category"], p["pack_size"], p["units_per_case"],
                    p["price_paise"], p["mrp_paise"], tuple(p["aliases"]))
        for p in load_catalog()
    ])  # fmt: skip
