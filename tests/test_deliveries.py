"""Tomorrow's deliveries as vehicle routes on imported data: capacity respected, what does not
fit and what has no location listed with the reason, defaults said; a manager asks on
WhatsApp and gets the routes with a map."""

import re
from datetime import datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select
from test_daily_jobs import TODAY, own_company
from test_visits_points import field  # noqa: F401  (a fixture)
from test_whatsapp_pipeline import replies, say

from db.engine import company_session
from db.models import Company, OrderEB2B, Store
from ml.routing import RoutingError
from tools.deliveries import plan_deliveries

TOMORROW = TODAY + timedelta(days=1)


def orders_for_tomorrow(engine, company_id, cases: dict[str, int]) -> None:
    """One confirmed order per store code, `cases` cases of Marie (60 a case) each."""
    due = datetime.combine(TOMORROW, clock(14), ZoneInfo("Asia/Kolkata"))
    with company_session(company_id, engine) as session:
        stores = {s.code: s for s in session.exec(select(Store))}
        for number, (code, n) in enumerate(cases.items(), 2001):
            session.add(
                OrderEB2B(
                    company_id=company_id,
                    order_number=number,
                    store_id=stores[code].id,
                    total_paise=n * 60 * 1800,
                    delivery_by=due,
                    items=[{"sku": "SF-MARIE-150", "name": "Marie", "quantity": n * 60}],
                )
            )
        session.commit()


def settings(engine, company_id, **values) -> None:
    with company_session(company_id, engine) as session:
        company = session.get(Company, company_id)
        company.settings = {**company.settings, **values}
        session.commit()


def test_routes_respect_capacity_and_name_what_is_left_out(engine, two_companies):
    company_id, other = two_companies
    own_company(engine, company_id)
    orders_for_tomorrow(engine, company_id, {"NGP-S001": 30, "NGP-S002": 20, "NGP-S003": 25,
                                              "NGP-S004": 40, "NGP-S005": 10})  # fmt: skip
    with company_session(company_id, engine) as session:  # one store without a location
        store = session.exec(select(Store).where(Store.code == "NGP-S005")).one()
        store.lat = store.lng = 0.0
        session.commit()
    settings(engine, company_id, warehouse={"lat": 21.15, "lng": 79.08},
             vehicles=[{"name": "Tempo", "capacity_cases": 60}])  # fmt: skip
    with company_session(company_id, engine) as session:
        plan = plan_deliveries(session, TOMORROW)
        assert plan.orders == 5 and plan.notes == []
        (route,) = plan.routes
        assert route.name == "Tempo" and route.load <= 60
        served = {d.store.code for d in route.drops}
        left = {s.code: why for s, why in plan.left_out}
        assert left["NGP-S005"] == "no location on record"
        assert served | set(left) == {"NGP-S001", "NGP-S002", "NGP-S003", "NGP-S004", "NGP-S005"}
        assert not served & set(left) and len(left) >= 2  # 115 cases do not fit in 60
        arrivals = [d.arrive for d in route.drops]
        assert arrivals == sorted(arrivals) and arrivals[0].hour >= 9
    settings(engine, company_id, vehicles=[{"name": "Broken", "capacity_cases": 0}])
    with (
        company_session(company_id, engine) as session,
        pytest.raises(RoutingError, match="capacity 0"),
    ):
        plan_deliveries(session, TOMORROW)
    with company_session(other, engine) as session:
        assert plan_deliveries(session, TOMORROW).orders == 0


def test_a_manager_asks_for_tomorrows_deliveries_on_whatsapp(field):  # noqa: F811
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    orders_for_tomorrow(engine, company_id, {"NGP-S001": 3, "NGP-S003": 2, "NGP-S004": 5})
    phone = "+919890010009"  # Anil Sharma, manager
    assert say(client, phone, "plan deliveries for tomorrow").is_success
    reply = replies(client, phone, 1, timeout=15)[0]
    assert reply.text.startswith(f"Deliveries for {TOMORROW:%a %d %b}: 3 orders to 3 stores")
    loads = re.findall(r"^Van \d \((\d+)/150 cases", reply.text, re.M)
    assert sum(int(n) for n in loads) == 10
    assert "Note: no warehouse location set" in reply.text
    assert reply.image and reply.image.startswith(b"\x89PNG")
