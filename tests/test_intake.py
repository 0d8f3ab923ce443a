"""Intake: nothing a provider delivers is acknowledged and lost. Text a database cannot hold is
stored cleaned with its exact payload, a number no company claims keeps its messages until it is
given to one, and a sender over the per-minute limit is stored, not answered, and told once."""

import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from conftest import make_company
from sqlmodel import select
from starlette.testclient import TestClient

import cli
from channels.inbox import store_inbound
from channels.ratelimit import RateLimiter
from db.demo import load_demo
from db.engine import company_session, create_db_engine, system_session
from db.migrate import upgrade
from db.models import Direction, Message, Store, UnroutedMessage
from db.scope import ScopeError
from messages import InboundMessage, Kind
from server import create_app
from settings import Settings, get_settings

SECRET = "intake-secret"


def delivery(phone: str, text: str, number_id: str = "PN1", message_id: str | None = None):
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{
        "field": "messages", "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550001111", "phone_number_id": number_id},
            "contacts": [{"profile": {"name": "x"}, "wa_id": phone.lstrip("+")}],
            "messages": [{"from": phone.lstrip("+"), "id": message_id or f"wamid.{uuid.uuid4()}",
                          "timestamp": str(int(time.time())), "type": "text",
                          "text": {"body": text}}],
        }}]}]}).encode()  # fmt: skip
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return body, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


@pytest.fixture
def shop(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=12, days=7, progress=False).company_id
    with company_session(company_id, engine) as session:
        phones = [s.owner_phone for s in session.exec(select(Store).order_by(Store.code))]
    engine.dispose()
    return tmp_path, company_id, phones


def app(folder, **settings) -> TestClient:
    values = {"data_dir": folder, "llm_backend": "off", "whatsapp_app_secret": SECRET,
              "whatsapp_phone_number_id": "PN1", "burst_window_s": 0.05, **settings}  # fmt: skip
    return TestClient(create_app(Settings(_env_file=None, **values)), raise_server_exceptions=False)


def wait_for(predicate, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while not (found := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return found


def test_text_a_database_cannot_hold_is_stored_cleaned_with_its_exact_payload(engine):
    company_id = make_company(engine, "alpha")
    at = datetime.now(UTC)
    message = InboundMessage(
        channel="whatsapp",
        provider_message_id="wamid.nul\x00",
        kind=Kind.text,
        sender="+919800000001",
        recipient="PN1",
        text="2 cs parle\x00g \ud800",
        sent_at=at,
        received_at=at,
    )
    stored = store_inbound(engine, company_id, message, {"text": {"body": "parle\x00g \ud800"}})
    assert stored is not None
    assert store_inbound(engine, company_id, message, {}) is None  # the retry is still dropped
    with company_session(company_id, engine) as session:
        row = session.get(Message, stored)
        assert row.body == "2 cs parleg \ufffd" and row.provider_message_id == "wamid.nul"
        exact = json.loads(row.payload["raw_json"])
    assert exact["message"]["text"] == "2 cs parle\x00g \ud800"
    assert exact["raw"]["text"]["body"] == "parle\x00g \ud800"


def test_a_webhook_with_nul_and_a_lone_surrogate_is_stored_and_answered(shop):
    folder, company_id, phones = shop
    with app(folder) as client:
        body, headers = delivery(phones[0], "where is my order\x00 \ud83d")
        response = client.post("/whatsapp/webhook", content=body, headers=headers)
        assert response.status_code == 200 and response.json()["stored"] == 1
        sent = client.app.state.runtime.senders["whatsapp"].sent
        wait_for(lambda: sent[phones[0]])
        with company_session(company_id, client.app.state.runtime.engine) as session:
            row = session.exec(select(Message).where(Message.sender == phones[0])).one()
    assert row.body == "where is my order \ufffd" and row.status == "processed"


def test_a_number_no_company_claims_keeps_its_messages_until_one_does(shop, monkeypatch, capsys):
    folder, company_id, phones = shop
    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    make_company(engine, "beta")  # a second company: PN1 is nobody's by default any more
    with app(folder) as client:
        body, headers = delivery(phones[0], "2 cs parle g 250", message_id="wamid.lost")
        for _ in range(2):  # Meta retries: kept once
            response = client.post("/whatsapp/webhook", content=body, headers=headers)
            assert response.status_code == 200 and response.json()["stored"] == 0
        metrics = client.get("/metrics").text
    assert 'opensales_unrouted_messages_total{channel="whatsapp"}' in metrics
    with system_session(engine) as session:
        [kept] = session.exec(select(UnroutedMessage)).all()
        assert (kept.recipient, kept.sender, kept.routed_at) == ("PN1", phones[0], None)
    with company_session(company_id, engine) as session, pytest.raises(ScopeError):
        session.exec(select(UnroutedMessage)).all()  # no company can read dead letters

    monkeypatch.setenv("OPENSALES_DATA_DIR", str(folder))
    get_settings.cache_clear()
    cli.get_engine.cache_clear()
    try:
        assert cli.main(["unrouted"]) == 0
        slug = "demo-pune"
        assert cli.main(["company", "set", slug, "--whatsapp-number-id", "PN1"]) == 0
        assert cli.main(["company", "set", "beta", "--whatsapp-number-id", "PN1"]) == 2  # taken
        assert cli.main(["unrouted", "--replay"]) == 0
    finally:
        cli.get_engine().dispose()
        get_settings.cache_clear()
        cli.get_engine.cache_clear()
    out = capsys.readouterr().out
    assert "1 unrouted message(s)" in out and "1 stored with their company" in out
    with company_session(company_id, engine) as session:
        replayed = session.exec(
            select(Message).where(Message.provider_message_id == "wamid.lost")
        ).one()
        assert replayed.body == "2 cs parle g 250" and replayed.status == "received"
    with app(folder) as client:  # now routed by its number; the sweeper answers the replay
        body, headers = delivery(phones[1], "where is my order")
        assert client.post("/whatsapp/webhook", content=body, headers=headers).json()["stored"]
        wait_for(lambda: client.app.state.runtime.senders["whatsapp"].sent[phones[1]])
    engine.dispose()


def test_a_sender_over_the_limit_is_stored_not_answered_and_told_once(shop):
    folder, company_id, phones = shop
    with app(folder, inbound_per_minute=3, burst_window_s=0.01) as client:
        at = time.time()  # one fixed window, whatever the clock says meanwhile
        client.app.state.runtime.intake.limiter = RateLimiter(3, None, clock=lambda: at)
        sent = client.app.state.runtime.senders["whatsapp"].sent[phones[2]]
        for number in range(6):
            body, headers = delivery(phones[2], f"where is my order {number}")
            assert (
                client.post("/whatsapp/webhook", content=body, headers=headers).status_code == 200
            )
            time.sleep(0.15)
        wait_for(lambda: any("faster than I can read" in m.text for m in sent))
        time.sleep(0.3)
        with company_session(company_id, client.app.state.runtime.engine) as session:
            rows = session.exec(
                select(Message)
                .where(Message.sender == phones[2], Message.direction == Direction.inbound)
                .order_by(Message.created_at)
            ).all()
    assert [row.status for row in rows] == ["processed"] * 3 + ["limited"] * 3
    assert sum("faster than I can read" in m.text for m in sent) == 1


def test_a_limiter_that_is_down_limits_nobody(shop):
    folder, company_id, phones = shop

    class Down:
        async def over(self, key):
            raise ConnectionError("Redis is down")

    with app(folder) as client:
        client.app.state.runtime.intake.limiter = Down()
        body, headers = delivery(phones[3], "where is my order")
        assert client.post("/whatsapp/webhook", content=body, headers=headers).status_code == 200
        wait_for(lambda: client.app.state.runtime.senders["whatsapp"].sent[phones[3]])
