"""The trade schemes running on a day, applied to an order line: a discount lowers the unit
price, free goods add pieces that are not charged. One scheme per line, the one that saves the
retailer the most; a scheme needs its minimum pieces on the line.
"""

from dataclasses import dataclass
from datetime import date

from sqlmodel import select

from db.models import Product, Promotion
from db.scope import CompanySession


@dataclass(frozen=True)
class Priced:
    pieces: int  # delivered: ordered plus free
    charged: int  # pieces paid for
    unit_price_paise: int
    line_total_paise: int
    scheme: Promotion | None

    @property
    def free(self) -> int:
        return self.pieces - self.charged


def running(session: CompanySession, day: date) -> list[Promotion]:
    return list(
        session.exec(
            select(Promotion).where(
                Promotion.is_active, Promotion.starts_on <= day, Promotion.ends_on >= day
            )
        )
    )


def covers(scheme: Promotion, product: Product) -> bool:
    return (
        scheme.product_id == product.id
        or (scheme.brand is not None and scheme.brand == product.brand)
        or (scheme.category is not None and scheme.category == product.category)
    )


def price_line(product: Product, pieces: int, schemes: list[Promotion]) -> Priced:
    """The line at list price, or under the running scheme that saves the most."""
    best = Priced(pieces, pieces, product.price_paise, product.price_paise * pieces, None)
    best_saving = 0
    for scheme in schemes:
        if not covers(scheme, product) or pieces < max(scheme.min_quantity, 1):
            continue
        price = round(product.price_paise * (100 - scheme.discount_pct) / 100)
        free = pieces // max(scheme.min_quantity, 1) * scheme.free_quantity
        saving = (product.price_paise - price) * pieces + free * product.price_paise
        if saving > best_saving:
            best = Priced(pieces + free, pieces, price, price * pieces, scheme)
            best_saving = saving
    return best
