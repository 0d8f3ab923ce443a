"""Scheme simulation on imported history: the uplift a past scheme brought, per point of
discount, drives the variants' volume, cost and ROI; a manager drafting a scheme for an area
on WhatsApp sees the draft beside the variants."""

import json
import re
from datetime import timedelta
from pathlib import Path

from sqlmodel import col, select
from test_daily_jobs import TODAY, own_company
from test_forecast import a_year_of_sales
from test_own_data import load
from test_visits_points import field  # noqa: F401  (a fixture)
from test_whatsapp_pipeline import replies, say

from db.engine import company_session
from db.models import Product, Transaction
from tools.promo_sim import Terms, equivalent_pct, simulate, stores_in

PROMOTED_WEEKS = {13: 2.0, 12: 2.0, 11: 2.0, 10: 2.0}  # Marie sold twice as much


def a_past_scheme(engine, company_id) -> None:
    """10% off Marie in the four weeks it sold twice as much, imported like any scheme."""
    scheme = {"code": "MARIE-SEP", "name": "Marie 10% (Sep)", "description": "10% off Marie",
              "sku": "SF-MARIE-150", "min_quantity": 1, "discount_pct": 10,
              "starts_on": (TODAY - timedelta(weeks=13)).isoformat(),
              "ends_on": (TODAY - timedelta(weeks=10) + timedelta(days=2)).isoformat()}  # fmt: skip
    result = load(
        engine, company_id, "promotions", Path("past.json"), json.dumps([scheme]).encode()
    )
    assert result.errors == []


def test_free_goods_count_as_the_discount_they_amount_to():
    assert equivalent_pct(10, 24, 0) == 10
    assert round(equivalent_pct(0, 24, 2), 1) == 7.7


def test_the_variants_follow_the_uplift_the_history_shows(engine, two_companies):
    company_id, _ = two_companies
    own_company(engine, company_id)
    a_year_of_sales(engine, company_id, lift=PROMOTED_WEEKS)
    a_past_scheme(engine, company_id)
    with company_session(company_id, engine) as session:
        marie = session.exec(select(Product).where(Product.sku == "SF-MARIE-150")).one()
        everywhere = stores_in(session, "push marie")
        sitabuldi = stores_in(session, "push marie in sitabuldi")
        assert len(everywhere) == 5 and {s.locality for s in sitabuldi} == {"Sitabuldi"}
        result = simulate(session, [marie], everywhere, TODAY, Terms("own", 12, 2, 0, 14))
    assert 0.05 <= result.per_point <= 0.12, result.evidence  # +60-100% at 10% off
    assert "promoted store-weeks of Biscuits" in result.evidence
    by_label = {o.terms.label: o for o in result.outcomes}
    assert set(by_label) == {"A", "B", "C", "D", "own"}
    assert by_label["C"].uplift > by_label["B"].uplift  # deeper, more volume
    assert by_label["D"].terms.free_pieces == 6  # a tenth of a 60-piece case
    for outcome in result.outcomes:
        assert outcome.cost_paise > 0 and outcome.baseline_pieces > 0
    assert result.best.roi == max(o.roi for o in result.outcomes)


def test_a_manager_drafts_a_scheme_for_an_area_and_sees_it_simulated(field):  # noqa: F811
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    a_year_of_sales(engine, company_id, lift=PROMOTED_WEEKS)
    a_past_scheme(engine, company_id)
    phone = "+919890010009"  # Anil Sharma, manager
    assert say(client, phone, "design a scheme to push marie in sitabuldi").is_success
    text = replies(client, phone, 1, timeout=15)[0].text
    assert text.startswith("Draft scheme DRAFT-") and "saved inactive" in text
    assert re.search(r"Simulated over 2 stores \(\d+ promoted store-weeks of Biscuits", text)
    options = re.findall(r"^• (.+?): ([+-]\d+)% volume .+ ROI ([+-]\d+)%$", text, re.M)
    assert len(options) == 5, text
    assert re.search(r"^(Best return: [A-D]|At this uplift every option)", text, re.M)

    with company_session(company_id, engine) as session:  # Sitabuldi stopped buying a month ago
        area = [s.id for s in stores_in(session, "sitabuldi")]
        for sale in session.exec(select(Transaction).where(col(Transaction.store_id).in_(area))):
            if sale.transaction_date >= TODAY - timedelta(days=28):
                sale.status = "cancelled"
        session.commit()
    assert say(client, phone, "design a scheme to push marie in sitabuldi").is_success
    text = replies(client, phone, 2, timeout=15)[1].text
    assert "Simulated over 2 stores: none of them bought Sunfeast Marie Light 150g" in text
    assert "• A." not in text  # no made-up returns on a baseline of nothing
