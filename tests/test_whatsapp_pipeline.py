"""A retailer orders on WhatsApp, end to end: signed webhook, stored once, queued, the order
agent, the reply. The provider is simulated; the database is real."""

import hashlib
import hmac
import itertools
import json
import time

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from db.demo import load_demo
from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import Message, OrderEB2B, Product, StockLevel, Store, User
from server import create_app
from settings import Settings

SECRET = "app-secret"
counter = itertools.count(1)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shop")
    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=12, days=14, progress=False).company_id
    with company_session(company_id, engine) as session:  # plenty, except what is sold out
        for level in session.exec(select(StockLevel).where(StockLevel.quantity > 0)):
            level.quantity = 5000
        session.commit()
    engine.dispose()
    settings = Settings(
        _env_file=None,
        data_dir=folder,
        whatsapp_app_secret=SECRET,
        whatsapp_verify_token="verify-me",
        llm_backend="off",
        burst_window_s=0.2,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, company_id


def retailer(client, company_id, index=0) -> tuple[str, Store]:
    with company_session(company_id, client.app.state.runtime.engine) as session:
        store = session.exec(select(Store).order_by(Store.code)).all()[index]
        return store.owner_phone, store


def signed(body: bytes) -> dict:
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def webhook(phone: str, kind: str = "text", body=None, message_id: str | None = None) -> bytes:
    message = {
        "from": phone.lstrip("+"),
        "id": message_id or f"wamid.{next(counter)}",
        "timestamp": str(int(time.time())),
        "type": kind,
        kind: body if body is not None else {},
    }
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "W",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": "PN1",
                                },
                                "contacts": [
                                    {"profile": {"name": "x"}, "wa_id": phone.lstrip("+")}
                                ],
                                "messages": [message],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def say(client, phone, text=None, button=None, message_id=None):
    if button:
        body = webhook(
            phone, "interactive", {"type": "button_reply", "button_reply": button}, message_id
        )
    else:
        body = webhook(phone, "text", {"body": text}, message_id)
    return client.post("/whatsapp/webhook", content=body, headers=signed(body))


def replies(client, phone, count, timeout=10.0) -> list:
    sent = client.app.state.runtime.senders["whatsapp"].sent[phone]
    deadline = time.monotonic() + timeout
    while len(sent) < count:
        assert time.monotonic() < deadline, f"only {len(sent)} replies: {sent}"
        time.sleep(0.05)
    return sent


def test_verification_and_signatures(shop):
    client, _ = shop
    ok = client.get(
        "/whatsapp/webhook",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": "verify-me",
            "hub.challenge": "1158201444",
        },
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = client.get("/whatsapp/webhook", params={"hub.verify_token": "nope"})
    assert wrong.status_code == 403
    assert wrong.json()["error"]["code"] == "WEBHOOK_VERIFY_TOKEN_INVALID"

    body = webhook("+919800000000", "text", {"body": "hi"})
    missing = client.post("/whatsapp/webhook", content=body)
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        401,
        "WEBHOOK_SIGNATURE_MISSING",
    )
    forged = client.post(
        "/whatsapp/webhook", content=body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
    )
    assert (forged.status_code, forged.json()["error"]["code"]) == (
        403,
        "WEBHOOK_SIGNATURE_INVALID",
    )
    bad = b"{not json"
    malformed = client.post("/whatsapp/webhook", content=bad, headers=signed(bad))
    assert (malformed.status_code, malformed.json()["error"]["code"]) == (400, "MALFORMED_JSON")


def test_an_order_is_confirmed_once_even_when_meta_retries(shop):
    client, company_id = shop
    phone, store = retailer(client, company_id, 0)
    for _ in range(3):  # Meta delivers the same message again
        response = say(
            client, phone, "2 cs parle g 250 aur 1 ctn coke 750ml", message_id="wamid.order-once"
        )
        assert response.status_code == 200
    reply = replies(client, phone, 1)[-1].text
    assert (
        reply.startswith("Order #")
        and "confirmed: 2 cs Parle-G 250g, 1 cs Coca-Cola 750ml" in reply
        and "Delivery by tomorrow 2 PM" in reply
    )
    time.sleep(0.5)
    with company_session(company_id, client.app.state.runtime.engine) as session:
        orders = session.exec(
            select(OrderEB2B).where(OrderEB2B.store_id == store.id, OrderEB2B.channel == "whatsapp")
        ).all()
        new = [o for o in orders if o.source_message_id is not None]
        stored = session.exec(
            select(Message).where(Message.provider_message_id == "wamid.order-once")
        ).all()
    assert len(new) == 1 and len(stored) == 1 and stored[0].status == "processed"
    prices = {"PG250": None, "COKE750": None}
    with company_session(company_id, client.app.state.runtime.engine) as session:
        for product in session.exec(select(Product).where(Product.sku.in_(list(prices)))):
            prices[product.sku] = product.price_paise * product.units_per_case
    assert new[0].total_paise == 2 * prices["PG250"] + prices["COKE750"]
    assert f"Total: INR {new[0].total_paise / 100:,.0f}" in reply


def test_a_question_then_a_button_makes_the_order(shop):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 1)
    say(client, phone, "1 case surf excel")
    question = replies(client, phone, 1)[-1]
    assert "Did you mean Surf Excel Easy Wash 500g or Surf Excel Easy Wash 1kg?" in question.text
    assert {b.id for b in question.buttons} == {"pick:SURF500", "pick:SURF1KG"}
    say(client, phone, button={"id": "pick:SURF1KG", "title": "Surf Excel 1kg"})
    confirmation = replies(client, phone, 2)[-1].text
    assert "confirmed: 1 cs Surf Excel Easy Wash 1kg" in confirmation


def test_out_of_stock_offers_a_substitute(shop):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 2)
    with company_session(company_id, client.app.state.runtime.engine) as session:
        sold_out = session.exec(
            select(Product)
            .join(StockLevel, StockLevel.product_id == Product.id)
            .where(StockLevel.quantity == 0)
        ).first()
    say(client, phone, f"2 pcs {sold_out.name}")
    offer = replies(client, phone, 1)[-1]
    assert f"{sold_out.name} is out of stock" in offer.text
    if offer.buttons[0].id == "sub:yes":
        say(client, phone, "yes")
        assert "confirmed" in replies(client, phone, 2)[-1].text


def test_strangers_get_a_polite_reply_and_no_data(shop):
    client, company_id = shop
    stranger = "+919999900001"
    say(client, stranger, "where is my order")
    reply = replies(client, stranger, 1)[-1].text
    assert "registered retailers" in reply and "#" not in reply
    with company_session(company_id, client.app.state.runtime.engine) as session:
        assert session.exec(select(User).where(User.phone == stranger)).first() is None
        assert session.exec(select(Message).where(Message.sender == stranger)).first()


def test_a_burst_is_answered_together_and_follow_ups_work(shop):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 3)
    say(client, phone, "2 cs parle g 250")
    say(client, phone, "1 ctn coke 750ml")
    confirmation = replies(client, phone, 1)[-1].text
    time.sleep(0.5)
    assert len(client.app.state.runtime.senders["whatsapp"].sent[phone]) == 1
    assert "2 cs Parle-G 250g, 1 cs Coca-Cola 750ml" in confirmation
    number = int(confirmation.split("#")[1].split(" ")[0])

    say(client, phone, "where is my order")
    assert f"Order #{number}" in replies(client, phone, 2)[-1].text
    say(client, phone, f"cancel order {number}")
    assert replies(client, phone, 3)[-1].text == f"Order #{number} is cancelled."


def test_delivery_statuses_are_recorded(shop):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 4)
    say(client, phone, "hello")
    replies(client, phone, 1)
    time.sleep(0.3)
    with company_session(company_id, client.app.state.runtime.engine) as session:
        sent = session.exec(
            select(Message).where(Message.recipient == phone, Message.direction == "outbound")
        ).first()
    body = json.dumps(
        {
            "entry": [
                {
                    "changes": [
                        {
                            "value": {
                                "metadata": {"phone_number_id": "PN1"},
                                "statuses": [
                                    {
                                        "id": sent.provider_message_id,
                                        "status": "read",
                                        "timestamp": "1795830000",
                                        "recipient_id": phone.lstrip("+"),
                                    }
                                ],
                            }
                        }
                    ]
                }
            ]
        }
    ).encode()
    assert client.post("/whatsapp/webhook", content=body, headers=signed(body)).status_code == 200
    with company_session(company_id, client.app.state.runtime.engine) as session:
        assert session.get(Message, sent.id).status == "read"


def test_add_remove_and_repeat_change_the_last_order(shop):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 5)
    say(client, phone, "2 cs parle g 250, 1 ctn coke 750ml")
    first = replies(client, phone, 1)[-1].text
    number = int(first.split("#")[1].split(" ")[0])
    say(client, phone, "add 6 pcs dairy milk 50g")
    added = replies(client, phone, 2)[-1].text
    assert "6 pcs Cadbury Dairy Milk 50g" in added and f"replaces order #{number}" in added
    say(client, phone, "remove coke")
    removed = replies(client, phone, 3)[-1].text
    assert "Coca-Cola" not in removed.split("Total")[0] and "Parle-G 250g" in removed
    say(client, phone, "repeat my last order")
    assert "confirmed" in replies(client, phone, 4)[-1].text


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("🙏🙏👍", "Send your order as product, size and quantity"),
        ("0 case parle g 250", "How many of Parle-G 250g"),
        ("10000 case parle g 250", "more than we take in one order"),
        ("2 case nutella 350g", "could not find"),
        ("2 cs parle g 250 " + "bhaiya " * 150_000, "very long"),  # about 1 MB
    ],
)
def test_odd_messages_get_a_helpful_answer(shop, text, answer):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 6)
    before = len(client.app.state.runtime.senders["whatsapp"].sent[phone])
    say(client, phone, text)
    replies(client, phone, before + 1)
    time.sleep(0.3)  # a turn may answer with two messages (a note, then the order)
    sent = client.app.state.runtime.senders["whatsapp"].sent[phone][before:]
    assert any(answer in message.text for message in sent), sent


def test_answers_outside_the_24_hour_window_go_as_a_template(shop):
    from datetime import UTC, datetime, timedelta

    from channels.inbox import store_inbound
    from messages import InboundMessage, Kind

    client, company_id = shop
    phone, _ = retailer(client, company_id, 7)
    long_ago = datetime.now(UTC) - timedelta(hours=25)  # answered late, after an outage
    message = InboundMessage(
        channel="whatsapp",
        provider_message_id="wamid.old",
        sender=phone,
        recipient="PN1",
        kind=Kind.text,
        text="where is my order",
        sent_at=long_ago,
        received_at=long_ago,
    )
    runtime = client.app.state.runtime
    store_inbound(runtime.engine, company_id, message, {})
    client.portal.call(runtime.turns.answer_conversation, company_id, "whatsapp", phone)
    reply = runtime.senders["whatsapp"].sent[phone][-1]
    assert reply.template == "order_update" and reply.template_params == [reply.text]
    assert reply.text.startswith("Order #") or reply.text.startswith("I don't")


def test_a_picked_size_without_quantity_asks_how_many_and_remove_needs_an_order(shop):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 8)
    say(client, phone, "remove coke")
    assert "no open order" in replies(client, phone, 1)[-1].text
    say(client, phone, "surf excel bhejo")
    replies(client, phone, 2)
    say(client, phone, button={"id": "pick:SURF1KG", "title": "Surf Excel Easy 1kg"})
    assert "How many of Surf Excel Easy Wash 1kg" in replies(client, phone, 3)[-1].text


def test_an_addition_beyond_stock_leaves_the_order_as_it_was(shop):
    client, company_id = shop
    phone, _ = retailer(client, company_id, 9)
    say(client, phone, "1 cs parle g 250")
    number = int(replies(client, phone, 1)[-1].text.split("#")[1].split(" ")[0])
    say(client, phone, "add 999 cs parle g 250")
    assert f"order #{number} stays as it was" in replies(client, phone, 2)[-1].text
    say(client, phone, "where is my order")
    assert f"Order #{number}" in replies(client, phone, 3)[-1].text
