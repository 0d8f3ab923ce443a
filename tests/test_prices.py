"""Price and availability questions in chat (agents/prices.py): a store hears its price, MRP,
the running scheme's price and whether the product is in stock; a rep hears the count; nothing
is ordered."""

import asyncio
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import select

from channels.simulated import SimulatedSender
from db.engine import company_session
from db.models import OrderEB2B, Product, Promotion, Role, StockLevel, Store, User
from tests.test_own_data import ORDER, OWN, load
from tests.test_turns import a_process, answer, said
from tests.test_whatsapp_pipeline import replies, retailer, say, shop  # noqa: F401


def _set_stock(session, sku: str, pieces: int) -> Product:
    product = session.exec(select(Product).where(Product.sku == sku)).one()
    levels = session.exec(select(StockLevel).where(StockLevel.product_id == product.id)).all()
    for n, level in enumerate(levels):
        level.quantity = pieces if n == 0 else 0
    if not levels:
        session.add(StockLevel(product_id=product.id, warehouse="main", quantity=pieces))
    return product


def test_a_store_asks_a_price_and_hears_the_scheme_price_and_stock(shop):  # noqa: F811
    client, company_id = shop
    engine = client.app.state.runtime.engine
    phone, _store = retailer(client, company_id, index=5)
    with company_session(company_id, engine) as session:
        surf = _set_stock(session, "SURF1KG", 10)  # fewer than a case of 24
        session.add(
            Promotion(
                code="SURF5",
                name="Surf 5% off",
                description="5% off Surf Excel 1kg from 12 pieces",
                product_id=surf.id,
                min_quantity=12,
                discount_pct=5,
                starts_on=date.today() - timedelta(days=1),
                ends_on=date.today() + timedelta(days=6),
            )
        )
        session.commit()
        orders = session.exec(select(func.count()).select_from(OrderEB2B)).one()

    say(client, phone, "is Surf Excel 1kg in stock")
    (card,) = replies(client, phone, 1)
    lines = card.text.splitlines()
    assert lines[0] == (
        "Surf Excel Easy Wash 1kg: INR 121.80 a piece (MRP INR 140), INR 2,923.20 a case of 24."
    )
    assert (  # beside any scheme the demo runs on its brand or category
        f"Scheme Surf 5% off: 5% off (INR 115.71 a piece) on 12 pieces or more, until "
        f"{date.today() + timedelta(days=6):%d %b}." in lines[1:-1]
    )
    assert lines[-1] == "In stock, only 10 pieces left."

    say(client, phone, "Maggi ka rate kya hai")
    maggi = replies(client, phone, 2)[-1].text
    assert maggi.startswith("Maggi 2-Minute Masala Noodles 70g: INR 13.20 a piece (MRP INR 15)")
    assert "Maggi 2-Minute Masala Noodles 280g: INR 49.28 a piece" in maggi  # every pack it fits
    with company_session(company_id, engine) as session:
        assert session.exec(select(func.count()).select_from(OrderEB2B)).one() == orders


def test_a_rep_hears_the_count_and_out_of_stock_is_said(shop):  # noqa: F811
    client, company_id = shop
    engine = client.app.state.runtime.engine
    with company_session(company_id, engine) as session:
        rep = session.exec(select(User).where(User.role == Role.rep)).first().phone
        _set_stock(session, "PG250", 700)
        _set_stock(session, "PG100", 0)
        session.commit()
    sent = len(client.app.state.runtime.senders["whatsapp"].sent[rep])
    say(client, rep, "price of Parle-G 250g")
    assert replies(client, rep, sent + 1)[-1].text.splitlines()[-1] == "In stock: 700 pieces."
    say(client, rep, "is parle g 100g available")
    assert replies(client, rep, sent + 2)[-1].text.splitlines()[-1] == "Out of stock right now."


def test_a_question_about_no_product_asks_which(shop):  # noqa: F811
    client, company_id = shop
    phone, _store = retailer(client, company_id, index=6)
    say(client, phone, "kya rate hai")
    (asked,) = replies(client, phone, 1)
    assert asked.text.startswith("I could not tell which product you mean.")


def test_a_store_of_a_distributor_with_its_own_data_asks_a_price(engine, two_companies, tmp_path):
    """On imported data (evals/data/own), through the turn engine: the imported catalogue, stock
    and scheme answer, not the demo's."""
    alpha, _ = two_companies
    for kind in ORDER:
        load(engine, alpha, kind)
    load(engine, alpha, "promotions", OWN / "promotions.json")
    with company_session(alpha, engine) as session:
        phone = session.exec(select(Store).where(Store.code == "NGP-S001")).one().owner_phone
    said(engine, alpha, phone, "marie ka rate kya hai")
    sender = SimulatedSender("whatsapp")
    asyncio.run(answer(a_process(engine, tmp_path, sender), alpha, phone))

    (card,) = sender.sent[phone]
    assert card.text.splitlines() == [
        "Sunfeast Marie Light 150g: INR 18 a piece (MRP INR 20), INR 1,080 a case of 60.",
        "Scheme Marie 10% off: 10% off (INR 16.20 a piece) on 120 pieces or more, until 31 Dec.",
        "In stock.",
    ]
