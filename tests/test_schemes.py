"""Live orders priced with the schemes running today: the best scheme per line, its minimum,
free goods delivered and not charged, the confirmation saying so; stock-out risk from the
forecast and the last 28 days' demand, in the stock alert; a suggested order placed with one
tap."""

import asyncio
import re
from datetime import date

import numpy as np
from sqlmodel import select
from test_daily_jobs import TODAY, own_company
from test_daily_jobs import context as job_context
from test_forecast import a_year_of_sales
from test_visits_points import field  # noqa: F401  (a fixture)
from test_whatsapp_pipeline import replies, say

from db.engine import company_session
from db.models import OrderEB2B, Product, Promotion, StockLevel, Store, TransactionItem
from jobs.daily import JOBS, low_stock
from jobs.scheduler import run_job
from tools.basket import SuggestedLine, shared_by_neighbours, suggest_basket, within_stock
from tools.schemes import price_line
from tools.stockout import stockout_risks


def test_the_scheme_that_saves_most_applies_from_its_minimum():
    product = Product(sku="X", brand="B", category="C", price_paise=1000)
    day = date(2026, 12, 4)

    def scheme(code, **terms):
        return Promotion(code=code, starts_on=day, ends_on=day, **terms)

    off = scheme("OFF10", brand="B", min_quantity=12, discount_pct=10)
    free = scheme("FREE", category="C", min_quantity=12, free_quantity=2)
    assert price_line(product, 11, [off, free]).scheme is None  # under the minimum
    twelve = price_line(product, 12, [off, free])  # 10% of 12 = 1.2 pieces < 2 free
    assert (twelve.scheme.code, twelve.pieces, twelve.charged, twelve.line_total_paise) == (
        "FREE", 14, 12, 12_000)  # fmt: skip
    other = Product(sku="Y", brand="Z", category="Q", price_paise=1000)
    assert price_line(other, 100, [off, free]).line_total_paise == 100_000


def test_a_retailer_order_on_imported_data_gets_the_running_schemes(field):  # noqa: F811
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    phone = "+919890120001"  # Manoj Kale, Shree Ganesh Kirana
    assert say(client, phone, "2 case marie, 48 bru").is_success
    text = replies(client, phone, 1, timeout=15)[0].text
    assert "confirmed" in text
    assert "Scheme MARIE-DEC on Sunfeast Marie Light 150g: 10% off" in text
    assert "Scheme BRU-FREE on Bru Instant Coffee 50g: 4 pcs free" in text
    with company_session(company_id, engine) as session:
        order = session.exec(select(OrderEB2B)).one()
        assert order.total_paise == 120 * 1620 + 48 * 10800
        lines = {
            i.unit_price_paise: (i.quantity, i.line_total_paise)
            for i in session.exec(
                select(TransactionItem).where(
                    TransactionItem.transaction_id == order.transaction_id
                )
            )
        }
        assert lines == {1620: (120, 120 * 1620), 10800: (52, 48 * 10800)}
        bru = session.exec(select(Product).where(Product.sku == "BRU-INST-50")).one()
        level = session.exec(select(StockLevel).where(StockLevel.product_id == bru.id)).one()
        assert level.quantity == 960 - 52  # the free pieces leave the warehouse too


def test_stock_out_risk_reads_the_forecast_and_reaches_the_alert(engine, two_companies, tmp_path):
    company_id, _ = two_companies
    own_company(engine, company_id)
    a_year_of_sales(engine, company_id)
    ctx = job_context(engine, company_id, job="forecast", data_dir=tmp_path)
    asyncio.run(run_job(JOBS["forecast"], ctx))
    with company_session(company_id, engine) as session:
        risks = stockout_risks(session, TODAY)
        products = {p.sku: p for p in session.exec(select(Product))}
        atta = risks[products["AASH-ATTA-5"].id]  # 120 on hand
        vim = risks[products["VIM-BAR-200"].id]  # 2160 on hand
        assert atta.source == "forecast" and atta.expected > 0
        assert vim.probability < 0.01
        for level in session.exec(select(StockLevel)):  # a lorry short: everything thin
            level.quantity = max(1, int(risks[level.product_id].expected * 0.8))
            level.reorder_level = 0
        session.commit()
        thin = stockout_risks(session, TODAY)
        assert all(r.probability > 0.5 for r in thin.values() if r.expected >= 5)
        alerts = {product.sku: why for product, _, why in low_stock(session, TODAY)}
        assert any("chance of running out" in why for why in alerts.values())


def test_a_store_is_offered_what_the_stores_buying_like_it_sell_and_it_does_not():
    # products: 0 biscuits, 1 tea, 2 soap, 3 premium chocolate; row 0 buys like rows 1-3
    matrix = np.array(
        [
            [3.0, 2.0, 0.0, 0.0],
            [3.0, 2.0, 1.0, 0.0],
            [2.5, 2.0, 1.0, 0.0],
            [3.0, 1.5, 1.0, 0.0],
            [0.0, 0.0, 0.0, 4.0],  # a store unlike it: its chocolate is not a signal
            [0.0, 0.1, 0.0, 4.0],
        ]
    )
    assert shared_by_neighbours(matrix, 0, k=3) == [(2, 3, 3)]  # soap: 3 of its 3 neighbours
    # row 4 buys nothing it buys: no neighbour at all; row 5 barely one (a little tea)
    assert shared_by_neighbours(matrix, 0, k=5, share=0.75) == [(2, 3, 4)]
    assert shared_by_neighbours(matrix, 0, k=5, share=0.8) == []
    assert shared_by_neighbours(np.zeros((2, 3)), 0) == []  # bought nothing: no neighbours


def test_a_retailer_gets_a_suggested_order_and_places_it_with_one_tap(field, tmp_path):  # noqa: F811
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    a_year_of_sales(engine, company_id)
    for job in ("forecast", "risk"):
        ctx = job_context(engine, company_id, job=job, data_dir=tmp_path)
        asyncio.run(run_job(JOBS[job], ctx))
    phone = "+919890120001"  # Manoj Kale, Shree Ganesh Kirana

    def ask(count, text=None, button=None):
        assert say(client, phone, text, button).is_success
        return replies(client, phone, count, timeout=15)[count - 1]

    offer = ask(1, "suggest my order")
    assert offer.text.startswith("Suggested order for Shree Ganesh Kirana (from your forecast):")
    suggested = re.findall(r"^• (\d+) (cs|pcs) (.+?): (.+)$", offer.text, re.M)
    assert len(suggested) >= 3 and all(why.startswith(("forecast", "must-sell", "similar stores"))
                                       for *_, why in suggested)  # fmt: skip
    assert [b.id for b in offer.buttons] == ["confirm:yes", "confirm:no"]
    button = {"id": "confirm:yes", "title": "Order these"}
    placed = ask(2, button=button)
    assert placed.text.startswith("Order #") and "confirmed" in placed.text
    with company_session(company_id, engine) as session:
        order = session.exec(select(OrderEB2B)).one()
        names = {item["name"] for item in order.items}
        units = {p.name: p.units_per_case for p in session.exec(select(Product))}
    assert names == {name for _, _, name, _ in suggested}
    for count, unit, name, _ in suggested:
        ordered = next(i["quantity"] for i in order.items if i["name"] == name)
        assert ordered == int(count) * (units[name] if unit == "cs" else 1)


def test_a_suggested_order_offers_only_what_the_warehouse_holds(field):  # noqa: F811
    """Accepting a suggestion never meets 'out of stock': a product with less than a case on
    hand is not suggested at all, and a line is cut to the whole cases held."""
    client, company_id, _ = field
    engine = client.app.state.runtime.engine

    def stock_and_suggest(product, pieces):
        levels = session.exec(select(StockLevel).where(StockLevel.product_id == product.id)).all()
        for level in levels:
            level.quantity = 0
        levels[0].quantity = pieces
        session.commit()
        return {line.product.id: line for line in suggest_basket(session, store, TODAY).lines}

    with company_session(company_id, engine) as session:
        store = session.exec(select(Store).where(Store.code == "NGP-S001")).one()
        first = suggest_basket(session, store, TODAY).lines[0]
        case = first.product.units_per_case
        assert first.pieces == case > 1
        assert stock_and_suggest(first.product, case)[first.product.id].pieces == case
        assert first.product.id not in stock_and_suggest(first.product, case - 1)
    tea = Product(sku="T1", name="Tea 250g", units_per_case=12, price_paise=100)
    soap = Product(sku="S1", name="Soap", units_per_case=1, price_paise=100)
    lines = [SuggestedLine(tea, 36, "forecast"), SuggestedLine(tea, 5, "forecast"),
             SuggestedLine(soap, 4, "usual")]  # fmt: skip
    kept = within_stock(lines, {tea.id: 30, soap.id: 2})
    assert [(line.pieces, line.why) for line in kept] == [
        (24, "forecast; cut to the stock held"), (5, "forecast"),
        (2, "usual; cut to the stock held")]  # fmt: skip
    assert within_stock(lines, None) == lines  # stock not tracked: nothing to cut
