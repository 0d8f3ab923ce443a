"""Price and availability in chat: a retailer or a rep asks "Maggi ka rate kya hai" or "is Surf
1kg in stock" and gets each product's price to the store, its MRP, the running scheme's price,
and whether it is in stock, from the catalogue (`tools/catalog.py`), the schemes
(`tools/schemes.py`) and the stock (`tools/stock.py`). Nothing is ordered."""

from sqlmodel import col, select

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from agents.tasks import today
from db.models import Product, Promotion, Role
from phrases import PRICE_ASKS
from tools.catalog import catalog_parser
from tools.money import inr
from tools.schemes import covers, price_line, running
from tools.stock import on_hand, stock_tracked

SHOWN = 4  # products per answer: a name that fits many packs lists the first few
ASK_AGAIN = 'Which product? For example "Maggi 70g ka rate" or "is Surf Excel 1kg in stock".'


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    text = state.get("text", "")
    products = _asked_about(ctx, text)
    if not products:
        ctx.say(f"I could not tell which product you mean. {ASK_AGAIN}")
        return {"active": None}
    schemes = running(ctx.session, today(ctx))
    tracked = stock_tracked(ctx.session)
    staff = ctx.sender.role != Role.retailer
    lines = [_card(ctx, p, schemes, tracked, staff) for p in products[:SHOWN]]
    if len(products) > SHOWN:
        lines.append(f"…and {len(products) - SHOWN} more packs: name the size for one.")
    ctx.say("\n\n".join(lines))
    return {"active": None}


def _asked_about(ctx: AgentContext, text: str) -> list[Product]:
    """The products the message names, each pack a name fits (in catalogue order)."""
    parsed = catalog_parser(ctx.session).parse(text)
    skus = list(dict.fromkeys(sku for line in parsed.lines for sku in line.candidates))
    if not skus:
        return []
    found = ctx.session.exec(select(Product).where(col(Product.sku).in_(skus))).all()
    by_sku = {p.sku: p for p in found}
    return [by_sku[sku] for sku in skus if sku in by_sku]


def _card(
    ctx: AgentContext, product: Product, schemes: list[Promotion], tracked: bool, staff: bool
) -> str:
    case = product.price_paise * product.units_per_case
    lines = [
        f"{product.name}: {inr(product.price_paise)} a piece (MRP {inr(product.mrp_paise)}), "
        f"{inr(case)} a case of {product.units_per_case}."
    ]
    for scheme in (s for s in schemes if covers(s, product)):
        lines.append(_scheme_line(product, scheme))
    lines.append(_stock_line(on_hand(ctx.session, product.id, tracked), product, staff))
    return "\n".join(lines)


def _scheme_line(product: Product, scheme: Promotion) -> str:
    least = max(scheme.min_quantity, 1)
    priced = price_line(product, least, [scheme])
    offer = []
    if scheme.discount_pct:
        offer.append(f"{scheme.discount_pct:g}% off ({inr(priced.unit_price_paise)} a piece)")
    if scheme.free_quantity:
        offer.append(f"{scheme.free_quantity} free")
    start = f" on {least} pieces or more" if least > 1 else ""
    until = f"until {scheme.ends_on:%d %b}"
    return f"Scheme {scheme.name}: {' and '.join(offer) or 'running'}{start}, {until}."


def _stock_line(pieces: int | None, product: Product, staff: bool) -> str:
    if pieces is None:
        return "Stock: your distributor confirms availability with the order."
    if pieces <= 0:
        return "Out of stock right now."
    if staff:
        return f"In stock: {pieces} pieces."
    if pieces < product.units_per_case:
        return f"In stock, only {pieces} pieces left."
    return "In stock."


SPEC = AgentSpec(
    name="prices",
    answer=answer,
    roles=frozenset({Role.retailer, Role.rep}),
    description="the price, MRP or scheme price of a product, or whether it is in stock "
    "(a question about a product, not an order).",
    examples=(
        (Role.retailer, "Maggi ka rate kya hai"),
        (Role.retailer, "is Surf Excel 1kg in stock"),
        (Role.rep, "price of Parle-G 250g"),
    ),
    keywords=PRICE_ASKS,
    commands=("/price",),
    menu=("Prices", 'prices and stock: "Maggi ka rate", "is Surf 1kg in stock"'),
    denied="Prices and stock are answered for stores and reps; managers can ask the figures.",
    tools=("catalog", "schemes", "stock"),
)
