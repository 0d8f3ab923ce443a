"""Visits (check-in within 100 m, one open visit, check-out after 5 min), a rep's order for the
visited store, points once per task and the leaderboard (Redis, the database as the truth),
over the domain rules on SQLite and PostgreSQL, the field API, and WhatsApp."""

import asyncio
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import time_machine
from conftest import REDIS_URL, TEST_NOW, make_company
from redis.asyncio import Redis
from sqlalchemy.exc import IntegrityError
from sqlmodel import func, select
from starlette.testclient import TestClient
from test_daily_jobs import TODAY, own_company
from test_daily_jobs import context as job_context
from test_whatsapp_pipeline import SECRET as WHATSAPP_SECRET
from test_whatsapp_pipeline import signed, webhook

from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import Company, Incentive, OrderEB2B, Rep, Store, Task, Transaction, Visit
from errors import ApiError
from jobs.daily import nightly_tasks
from server import create_app
from settings import Settings
from tools.points import complete, record, standings
from tools.visits import check_in, check_out, distance_m

METRE = 1 / 111_320  # degrees of latitude in a metre


def rep_and_store(engine, company_id, rep_code="NGP-R1", store_code="NGP-S001"):
    with company_session(company_id, engine) as session:
        rep = session.exec(select(Rep).where(Rep.code == rep_code)).one()
        store = session.exec(select(Store).where(Store.code == store_code)).one()
        return rep.id, store


def test_distance_is_great_circle():
    assert distance_m(21.1458, 79.0882, 21.1458 + 100 * METRE, 79.0882) == pytest.approx(100, 0.01)
    assert distance_m(19.0760, 72.8777, 28.7041, 77.1025) == pytest.approx(1_153_000, 0.01)


def test_check_in_and_out_rules(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    rep_id, store = rep_and_store(engine, alpha)
    other_rep, _ = rep_and_store(engine, alpha, "NGP-R2", "NGP-S003")
    with company_session(alpha, engine) as session:
        with pytest.raises(ApiError) as far:
            check_in(session, rep_id, store.lat - 450 * METRE, store.lng, TODAY)
        assert far.value.code == "GPS_VALIDATION_FAILED"
        assert re.match(r"You are 4[45]\d m from Shree Ganesh Kirana", far.value.message)
        visit = check_in(session, rep_id, store.lat + 60 * METRE, store.lng, TODAY)
        assert visit.store_id == store.id and 55 < visit.distance_m < 65
        with pytest.raises(ApiError) as twice:
            check_in(session, rep_id, store.lat, store.lng, TODAY)
        assert twice.value.code == "VISIT_ALREADY_OPEN"
        with pytest.raises(ApiError) as soon:
            check_out(session, rep_id, visit.id)
        assert soon.value.code == "VISIT_TOO_SHORT"
        with pytest.raises(ApiError) as not_theirs:
            check_out(session, other_rep, visit.id)
        assert not_theirs.value.code == "VISIT_NOT_FOUND"
        with time_machine.travel(datetime.now(UTC) + timedelta(minutes=6), tick=False):
            done = check_out(session, rep_id, visit.id, "owner away")
        assert (done.outcome, done.notes) == ("no_order", "owner away")
        with pytest.raises(ApiError) as closed:
            check_out(session, rep_id, visit.id)
        assert closed.value.code == "VISIT_CLOSED"
    with company_session(alpha, engine) as session:  # the index holds under a race too
        for _ in range(2):
            session.add(Visit(rep_id=rep_id, store_id=store.id, visit_date=TODAY,
                              checked_in_at=TEST_NOW))  # fmt: skip
        with pytest.raises(IntegrityError):
            session.commit()


def test_points_once_and_the_leaderboard_from_redis_or_the_database(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    asyncio.run(nightly_tasks(job_context(engine, alpha)))
    prefix = f"opensales-test:{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        redis = Redis.from_url(REDIS_URL)
        try:
            with company_session(alpha, engine) as session:
                task = session.exec(select(Task).order_by(Task.score.desc())).first()
                assert complete(session, task, TODAY) == task.points
                session.commit()
                assert complete(session, task, TODAY) is None  # done again: no second award
                session.commit()
                board = await standings(session, redis, prefix, "week", TODAY)
                assert board[0] == (session.get(Rep, task.rep_id), task.points)
                assert await redis.exists(f"{prefix}:board:{alpha}:week:2026-11-30")
                # a second task, recorded after its commit: the set follows the database
                other = session.exec(
                    select(Task).where(Task.rep_id == task.rep_id, Task.id != task.id)
                ).first()
                complete(session, other, TODAY)
                session.commit()
                await record(session, redis, prefix, task.rep_id, TODAY)
                total = task.points + other.points
                assert (await standings(session, redis, prefix, "week", TODAY))[0][1] == total
                await redis.delete(f"{prefix}:board:{alpha}:week:2026-11-30")  # Redis lost it
                assert (await standings(session, redis, prefix, "week", TODAY))[0][1] == total
                assert (await standings(session, None, prefix, "month", TODAY))[0][1] == total
                count = session.exec(select(func.count()).select_from(Incentive)).one()
                assert count == 2
        finally:
            keys = [key async for key in redis.scan_iter(f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

    asyncio.run(scenario())


# -- the field API and WhatsApp ----------------------------------------------------------------

API_SECRET = "field-test-secret-for-hs256-tokens-only"


def bearer(company_id, role="rep", rep_id=None) -> dict:
    claims = {"sub": f"u-{role}", "company_id": str(company_id), "role": role,
              "exp": time.time() + 600, **({"rep_id": str(rep_id)} if rep_id else {})}  # fmt: skip
    return {"Authorization": f"Bearer {jwt.encode(claims, API_SECRET, algorithm='HS256')}"}


@pytest.fixture
def field(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'opensales.db'}")
    upgrade(engine)
    company_id, other = make_company(engine, "alpha"), make_company(engine, "beta")
    own_company(engine, company_id)
    with company_session(company_id, engine) as session:  # its WhatsApp number
        company = session.get(Company, company_id)
        company.settings = {**company.settings, "whatsapp_phone_number_id": "PN1"}
        session.commit()
    asyncio.run(nightly_tasks(job_context(engine, company_id)))
    engine.dispose()
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        llm_backend="off",
        auth_jwt_secret=API_SECRET,
        whatsapp_app_secret=WHATSAPP_SECRET,
        burst_window_s=0.2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, company_id, other


def test_field_api(field):
    client, company_id, other = field
    engine = client.app.state.runtime.engine
    rep_id, store = rep_and_store(engine, company_id)
    mine = client.get("/api/v1/tasks/today", headers=bearer(company_id, rep_id=rep_id)).json()
    assert {t["rep_id"] for t in mine["tasks"]} == {str(rep_id)} and len(mine["tasks"]) == 2
    everyone = client.get("/api/v1/tasks/today", headers=bearer(company_id, "manager")).json()
    assert len(everyone["tasks"]) == 5
    task = mine["tasks"][0]
    url = f"/api/v1/tasks/{task['id']}"
    done = client.patch(
        url, json={"status": "completed"}, headers=bearer(company_id, rep_id=rep_id)
    )
    assert done.json()["status"] == "completed"
    again = client.patch(
        url, json={"status": "completed"}, headers=bearer(company_id, rep_id=rep_id)
    )
    assert again.status_code == 200
    with company_session(company_id, engine) as session:
        assert session.exec(select(func.count()).select_from(Incentive)).one() == 1
        assert session.get(Rep, rep_id).points_balance == task["points"]
    foreign = client.patch(url, json={"status": "completed"}, headers=bearer(other, rep_id=rep_id))
    assert (foreign.status_code, foreign.json()["error"]["code"]) == (404, "TASK_NOT_FOUND")
    second = f"/api/v1/tasks/{mine['tasks'][1]['id']}"
    no_reason = client.patch(
        second, json={"status": "skipped"}, headers=bearer(company_id, rep_id=rep_id)
    )
    assert no_reason.json()["error"]["code"] == "INVALID_SKIP"
    by_rep = client.patch(
        second, json={"review": "rejected"}, headers=bearer(company_id, rep_id=rep_id)
    )
    assert by_rep.status_code == 403
    review = client.patch(second, json={"review": "rejected", "note": "not this week"},
                          headers=bearer(company_id, "manager"))  # fmt: skip
    assert (review.json()["status"], review.json()["review"]) == ("rejected", "rejected")

    far = client.post("/api/v1/visits", json={"lat": store.lat + 0.01, "lng": store.lng},
                      headers=bearer(company_id, rep_id=rep_id))  # fmt: skip
    assert (far.status_code, far.json()["error"]["code"]) == (422, "GPS_VALIDATION_FAILED")
    near = client.post("/api/v1/visits", json={"lat": store.lat, "lng": store.lng},
                       headers=bearer(company_id, rep_id=rep_id))  # fmt: skip
    assert near.status_code == 201 and near.json()["store_id"] == str(store.id)
    twice = client.post("/api/v1/visits", json={"lat": store.lat, "lng": store.lng},
                        headers=bearer(company_id, rep_id=rep_id))  # fmt: skip
    assert twice.json()["error"]["code"] == "VISIT_ALREADY_OPEN"
    checkout = f"/api/v1/visits/{near.json()['id']}/checkout"
    soon = client.post(checkout, headers=bearer(company_id, rep_id=rep_id))
    assert (soon.status_code, soon.json()["error"]["code"]) == (422, "VISIT_TOO_SHORT")
    manager = client.post(
        "/api/v1/visits", json={"lat": 1, "lng": 1}, headers=bearer(company_id, "manager")
    )
    assert manager.status_code == 403


def test_a_rep_checks_in_orders_and_sees_points_on_whatsapp(field):
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    rep_id, store = rep_and_store(engine, company_id)
    phone = "+919890010001"  # Vikas, NGP-R1
    sent = client.app.state.runtime.senders["whatsapp"].sent[phone]

    def say(kind, body):
        payload = webhook(phone, kind, body)
        assert (
            client.post("/whatsapp/webhook", content=payload, headers=signed(payload)).status_code
            == 200
        )

    def reply(count):
        deadline = time.monotonic() + 15
        while len(sent) < count:
            assert time.monotonic() < deadline, sent
            time.sleep(0.05)
        return sent[count - 1]

    say("text", {"body": "2 case marie"})
    assert "Check in at the store first" in reply(1).text
    say("location", {"latitude": store.lat + 2000 * METRE, "longitude": store.lng})
    assert "m from" in reply(2).text and "within 100 m" in reply(2).text
    say("location", {"latitude": store.lat + 30 * METRE, "longitude": store.lng})
    assert reply(3).text.startswith(f"Checked in at {store.name}")
    assert f"Suggested order for {store.name}" in reply(3).text
    assert [b.id for b in reply(3).buttons] == ["confirm:yes", "confirm:no"]
    say("text", {"body": "2 case marie"})
    assert "confirmed" in reply(4).text
    with company_session(company_id, engine) as session:
        order = session.exec(select(OrderEB2B)).one()
        sale = session.get(Transaction, order.transaction_id)
        assert (order.store_id, sale.rep_id, sale.channel) == (store.id, rep_id, "rep")
    say("text", {"body": "checkout"})
    assert "at least 5 min" in reply(5).text
    say("text", {"body": "done 1"})
    assert "+" in reply(6).text and "points" in reply(6).text
    say("text", {"body": "skip 2 shop closed for a wedding"})
    assert reply(7).text.startswith("Skipped:")
    say("text", {"body": "my points"})
    assert "This week:" in reply(8).text and "#1 of 2" in reply(8).text
    say("text", {"body": "leaderboard"})
    assert reply(9).text.startswith("Leaderboard this week") and reply(9).image
    with company_session(company_id, engine) as session:
        statuses = sorted(t.status for t in session.exec(select(Task).where(Task.rep_id == rep_id)))
    assert statuses == ["completed", "skipped"]


def test_a_rep_places_the_suggested_order_with_one_tap_after_checking_in(field):
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    rep_id, store = rep_and_store(engine, company_id)
    phone = "+919890010001"  # Vikas, NGP-R1
    sent = client.app.state.runtime.senders["whatsapp"].sent[phone]

    def say(kind, body, count):
        payload = webhook(phone, kind, body)
        assert client.post("/whatsapp/webhook", content=payload, headers=signed(payload)).is_success
        deadline = time.monotonic() + 15
        while len(sent) < count:
            assert time.monotonic() < deadline, sent
            time.sleep(0.05)
        return sent[count - 1]

    checked_in = say("location", {"latitude": store.lat, "longitude": store.lng}, 1)
    offered = re.findall(r"^• (\d+) (cs|pcs) (.+?): ", checked_in.text, re.M)
    assert offered
    tap = {"type": "button_reply", "button_reply": {"id": "confirm:yes", "title": "Order these"}}
    placed = say("interactive", tap, 2)
    assert "confirmed" in placed.text
    with company_session(company_id, engine) as session:
        order = session.exec(select(OrderEB2B)).one()
        sale = session.get(Transaction, order.transaction_id)
        assert (order.store_id, sale.rep_id) == (store.id, rep_id)
        assert {item["name"] for item in order.items} == {name for *_, name in offered}


def test_a_rep_asks_for_the_route_and_gets_the_stores_in_order_with_a_map(field):
    """On imported data: today's task stores in visiting order with times, from the middle of
    the stores, then from the last check-in with the visited store no longer on it."""
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    rep_id, store = rep_and_store(engine, company_id)
    phone = "+919890010001"  # Vikas, NGP-R1
    sent = client.app.state.runtime.senders["whatsapp"].sent[phone]
    with company_session(company_id, engine) as session:
        tasked = {
            session.get(Store, t.store_id).name
            for t in session.exec(select(Task).where(Task.rep_id == rep_id))
        }
    assert store.name in tasked

    def ask(kind, body, count):
        payload = webhook(phone, kind, body)
        assert client.post("/whatsapp/webhook", content=payload, headers=signed(payload)).is_success
        deadline = time.monotonic() + 15
        while len(sent) < count:
            assert time.monotonic() < deadline, sent
            time.sleep(0.05)
        return sent[count - 1]

    first = ask("text", {"body": "plan my beat"}, 1)
    assert first.text.startswith("Your route from the middle of your stores")
    stops = re.findall(r"^\d+\. (\d\d:\d\d) (.+?)(?: \(|:)", first.text, re.M)
    assert {name for _, name in stops} >= tasked
    times = [t for t, _ in stops]
    assert times == sorted(times) and times[0] >= "09:30"
    assert first.image and first.image.startswith(b"\x89PNG")

    ask("location", {"latitude": store.lat + 30 * METRE, "longitude": store.lng}, 2)
    again = ask("text", {"body": "aaj ka rasta batao"}, 3)
    assert again.text.startswith(f"Your route from your last check-in ({store.name})")
    assert store.name not in {name for _, name in re.findall(
        r"^\d+\. (\d\d:\d\d) (.+?)(?: \(|:)", again.text, re.M)}  # fmt: skip
