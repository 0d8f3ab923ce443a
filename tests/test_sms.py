"""SMS through Twilio, end to end on SQLite and PostgreSQL: a signed webhook, stored once, the real
pipeline's answer as what would be posted to Twilio's API, numbered options, STOP/START/HELP, and
segment counting."""

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from conftest import make_company
from sqlmodel import select
from starlette.testclient import TestClient
from twilio.base.exceptions import TwilioRestException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from channels.inbox import store_inbound
from channels.sms import SendRefused, TwilioSMSSender, fit, render, segments
from db.demo import load_demo
from db.engine import company_session, system_session
from db.models import Message, OptOut, OrderEB2B, StockLevel, Store, UnroutedMessage
from messages import Button, InboundMessage, Kind, OutboundMessage
from server import create_app
from settings import Settings

ACCOUNT, TOKEN, OURS = "AC" + "1" * 32, "twilio-token", "+15550001111"
EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response />'


class TwilioAPI(AsyncHttpClient):
    """Plays Twilio's Messages API: keeps each POSTed form; answers with a new message SID, or
    with Twilio's error `error_code`."""

    def __init__(self, error_code: int | None = None) -> None:
        super().__init__(logging.getLogger("tests.twilio"), is_async=True)
        self.posted: list[dict] = []
        self.error_code = error_code

    async def request(
        self,
        method,
        uri,
        params=None,
        data=None,
        headers=None,
        auth=None,
        timeout=None,
        allow_redirects=False,
    ) -> Response:
        self.posted.append({"method": method, "uri": uri, "auth": auth, **(data or {})})
        if self.error_code:
            return Response(
                400,
                json.dumps(
                    {
                        "code": self.error_code,
                        "status": 400,
                        "message": "The recipient replied STOP.",
                    }
                ),
            )
        return Response(201, json.dumps({"sid": f"SM{uuid.uuid4().hex}", "status": "queued"}))

    def bodies(self, to: str) -> list[str]:
        return [post["Body"] for post in self.posted if post["To"] == to]


@dataclass
class Shop:
    client: TestClient
    company_id: uuid.UUID
    api: TwilioAPI

    def retailer(self, index: int = 0) -> str:
        with company_session(self.company_id, self.client.app.state.runtime.engine) as session:
            return session.exec(select(Store).order_by(Store.code)).all()[index].owner_phone

    def messages(self, **where) -> list[Message]:
        with company_session(self.company_id, self.client.app.state.runtime.engine) as session:
            query = select(Message).order_by(Message.created_at)
            for name, value in where.items():
                query = query.where(getattr(Message, name) == value)
            return list(session.exec(query).all())

    def opt_outs(self, phone: str) -> list[OptOut]:
        with company_session(self.company_id, self.client.app.state.runtime.engine) as session:
            return list(
                session.exec(
                    select(OptOut)
                    .where(OptOut.phone == phone)
                    .execution_options(include_deleted=True)
                ).all()
            )

    def replies(self, phone: str, count: int, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(bodies := self.api.bodies(phone)) < count:
            assert time.monotonic() < deadline, f"only {len(bodies)} replies: {bodies}"
            time.sleep(0.05)
        return bodies


@pytest.fixture
def demo(engine) -> uuid.UUID:
    company_id = load_demo(engine, stores=3, days=2, progress=False).company_id
    with company_session(company_id, engine) as session:  # plenty, except what is sold out
        for level in session.exec(select(StockLevel).where(StockLevel.quantity > 0)):
            level.quantity = 5000
        session.commit()
    return company_id


@contextmanager
def open_shop(engine, company_id, tmp_path, **overrides) -> Iterator[Shop]:
    values = {
        "twilio_account_sid": ACCOUNT,
        "twilio_auth_token": TOKEN,
        "twilio_phone_number": OURS,
        **overrides,
    }
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        llm_backend="off",
        burst_window_s=0.1,
        database_url=engine.url.render_as_string(hide_password=False),
        **values,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        runtime = client.app.state.runtime
        api = TwilioAPI()
        runtime.senders["sms"] = TwilioSMSSender(settings, runtime.engine, http_client=api)
        yield Shop(client, company_id, api)


@pytest.fixture
def shop(engine, demo, tmp_path) -> Iterator[Shop]:
    with open_shop(engine, demo, tmp_path) as shop:
        yield shop


def form(phone: str, body: str, sid: str | None = None, to: str = OURS, **extra) -> dict:
    return {
        "MessageSid": sid or f"SM{uuid.uuid4().hex}",
        "AccountSid": ACCOUNT,
        "From": phone,
        "To": to,
        "Body": body,
        "NumMedia": "0",
        **extra,
    }


def post(
    client: TestClient,
    fields: dict,
    url: str = "http://testserver/sms/webhook",
    signature: str | None = None,
):
    signature = signature or RequestValidator(TOKEN).compute_signature(url, fields)
    return client.post("/sms/webhook", data=fields, headers={"X-Twilio-Signature": signature})


def text(shop: Shop, phone: str, body: str, sid: str | None = None):
    response = post(shop.client, form(phone, body, sid))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    return response


def test_an_order_by_sms_is_stored_once_and_confirmed_once(shop):
    phone = shop.retailer(0)
    for _ in range(3):  # Twilio delivers the same message again
        assert text(shop, phone, "2 cs parle g 250 aur 1 ctn coke 750ml", "SMorder1").text == EMPTY
    reply = shop.replies(phone, 1)[-1]
    assert (
        reply.startswith("Order #")
        and "confirmed: 2 cs Parle-G 250g, 1 cs Coca-Cola 750ml" in reply
    )
    time.sleep(0.5)
    assert len(shop.api.bodies(phone)) == 1
    posted = shop.api.posted[0]
    assert posted["From"] == OURS and posted["auth"] == (ACCOUNT, TOKEN)
    assert posted["uri"].endswith(f"/Accounts/{ACCOUNT}/Messages.json")
    [stored] = shop.messages(provider_message_id="SMorder1")
    assert (stored.channel, stored.kind, stored.status) == ("sms", "text", "processed")
    [sent] = shop.messages(direction="outbound", recipient=phone)
    assert sent.status == "sent" and sent.provider_message_id.startswith("SM")
    with company_session(shop.company_id, shop.client.app.state.runtime.engine) as session:
        orders = session.exec(
            select(OrderEB2B).where(OrderEB2B.source_message_id == stored.id)
        ).all()
    assert [order.channel for order in orders] == ["sms"]


def test_signatures_are_checked_before_anything_is_stored(shop):
    fields = form("+919800000000", "2 cs parle g")
    missing = shop.client.post("/sms/webhook", data=fields)
    assert (missing.status_code, missing.json()["error"]["code"]) == (
        401,
        "WEBHOOK_SIGNATURE_MISSING",
    )
    forged = post(shop.client, fields, signature="bm90IGEgc2lnbmF0dXJl")
    assert (forged.status_code, forged.json()["error"]["code"]) == (
        403,
        "WEBHOOK_SIGNATURE_INVALID",
    )
    signature = RequestValidator(TOKEN).compute_signature("http://testserver/sms/webhook", fields)
    tampered = post(shop.client, {**fields, "Body": "20 cs parle g"}, signature=signature)
    assert tampered.status_code == 403
    assert shop.messages() == []


def test_twilio_unconfigured_is_503(engine, demo, tmp_path):
    with open_shop(engine, demo, tmp_path, twilio_auth_token=None) as shop:
        response = post(shop.client, form("+919800000000", "hi"))
        assert (response.status_code, response.json()["error"]["code"]) == (
            503,
            "TWILIO_NOT_CONFIGURED",
        )


def test_behind_a_proxy_the_public_url_is_what_twilio_signed(engine, demo, tmp_path):
    with open_shop(engine, demo, tmp_path, public_url="https://sms.example.com/") as shop:
        fields = form(shop.retailer(0), "hello", "SMproxy1")
        assert post(shop.client, fields, url="http://testserver/sms/webhook").status_code == 403
        assert (
            post(shop.client, fields, url="https://sms.example.com/sms/webhook").status_code == 200
        )
        assert len(shop.messages(provider_message_id="SMproxy1")) == 1


def test_a_message_to_a_number_no_company_owns_is_kept_as_a_dead_letter(shop):
    response = post(shop.client, form("+919800000000", "hi", to="+15559999999"))
    assert (response.status_code, response.text) == (200, EMPTY)
    assert shop.messages() == []
    with system_session(shop.client.app.state.runtime.engine) as session:
        kept = session.exec(select(UnroutedMessage)).all()
    assert [(row.channel, row.recipient, row.sender) for row in kept] == [
        ("sms", "+15559999999", "+919800000000")
    ]


def test_a_numbered_reply_picks_the_option_of_our_last_sms(shop):
    phone = shop.retailer(1)
    text(shop, phone, "1 case surf excel")
    question = shop.replies(phone, 1)[-1]
    assert "Did you mean Surf Excel Easy Wash 500g or Surf Excel Easy Wash 1kg?" in question
    options = dict(
        line.removeprefix("Reply ").split(" for ", 1)
        for line in question.splitlines()
        if line.startswith("Reply ")
    )
    assert len(options) == 2
    [number] = [n for n, title in options.items() if "1kg" in title.lower().replace(" ", "")]
    text(shop, phone, f" {number}. ", "SMpick1")
    [picked] = shop.messages(provider_message_id="SMpick1")
    assert (picked.kind, picked.payload["message"]["choice_id"]) == ("button", "pick:SURF1KG")
    assert picked.body == options[number]
    assert "confirmed: 1 cs Surf Excel Easy Wash 1kg" in shop.replies(phone, 2)[-1]

    other = shop.retailer(2)  # nothing was offered to this one: a number is just text
    text(shop, other, "2", "SMplain1")
    assert shop.messages(provider_message_id="SMplain1")[0].kind == "text"


def test_stop_opts_out_and_start_opts_back_in(shop):
    phone = shop.retailer(0)
    assert text(shop, phone, " Stop ", "SMstop1").text == EMPTY  # Twilio confirms a long code's
    [row] = shop.opt_outs(phone)
    assert row.deleted_at is None and row.channel == "sms"
    assert shop.messages(provider_message_id="SMstop1")[0].status == "processed"

    text(shop, phone, "2 cs parle g 250", "SMafter1")  # kept, closed, not answered
    assert shop.messages(provider_message_id="SMafter1")[0].status == "processed"

    # a message stored meanwhile is answered by the pipeline: the sender refuses to send
    now = datetime.now(UTC)
    message = InboundMessage(
        channel="sms",
        provider_message_id="SMlate1",
        sender=phone,
        recipient=OURS,
        kind=Kind.text,
        text="where is my order",
        sent_at=now,
        received_at=now,
    )
    store_inbound(shop.client.app.state.runtime.engine, shop.company_id, message, {})
    shop.client.portal.call(
        shop.client.app.state.runtime.queue.enqueue, shop.company_id, "sms", phone
    )
    deadline = time.monotonic() + 15
    while not (
        failed := [
            m for m in shop.messages(direction="outbound", recipient=phone) if m.status != "queued"
        ]
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert failed[0].status == "failed" and "opted out" in failed[0].error
    assert shop.api.bodies(phone) == []

    assert text(shop, phone, "START").text == EMPTY
    [row] = shop.opt_outs(phone)
    assert row.deleted_at is not None
    text(shop, phone, "2 cs parle g 250")
    assert "confirmed: 2 cs Parle-G 250g" in shop.replies(phone, 1)[-1]

    text(shop, phone, "quit")  # a second STOP brings the row back; YES then opts in
    assert [r.deleted_at for r in shop.opt_outs(phone)] == [None]
    text(shop, phone, "yes", "SMyes1")
    assert shop.opt_outs(phone)[0].deleted_at is not None
    assert shop.messages(provider_message_id="SMyes1")[0].status == "processed"
    assert len(shop.api.bodies(phone)) == 1


def test_a_short_code_confirms_stop_and_start_itself(engine, demo, tmp_path):
    with open_shop(engine, demo, tmp_path, twilio_phone_number="54321") as shop:
        phone = shop.retailer(0)
        stop = post(shop.client, form(phone, "STOP", to="54321"))
        assert "You are unsubscribed from Shree Sai Distributors" in stop.text
        start = post(shop.client, form(phone, "unstop", to="54321"))
        assert "You will get Shree Sai Distributors messages again" in start.text


def test_help_says_who_we_are_and_what_works_by_sms(shop):
    phone = shop.retailer(0)
    response = text(shop, phone, "HELP", "SMhelp1")
    assert "<Message>Shree Sai Distributors: order by SMS" in response.text
    assert "Reply STOP to unsubscribe." in response.text
    assert shop.messages(provider_message_id="SMhelp1")[0].status == "processed"
    time.sleep(0.5)
    assert shop.api.bodies(phone) == []


def test_mms_media_is_stored_as_image_or_audio(shop):
    stranger = "+919999900001"  # answered without fetching the media
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages/MM1/Media/ME1"
    for sid, media_type in (("MMimage1", "image/jpeg"), ("MMaudio1", "audio/ogg")):
        text_fields = form(
            stranger,
            "my order list",
            sid,
            NumMedia="1",
            MediaUrl0=url,
            MediaContentType0=media_type,
        )
        assert post(shop.client, text_fields).status_code == 200
    image, audio = (shop.messages(provider_message_id=sid)[0] for sid in ("MMimage1", "MMaudio1"))
    assert (image.kind, audio.kind) == ("image", "audio")
    stored = image.payload["message"]
    assert (stored["media_id"], stored["media_type"], stored["text"]) == (
        url,
        "image/jpeg",
        "my order list",
    )


@pytest.mark.parametrize(
    ("text", "count"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 159 + "[", 2),  # an extension character takes two septets
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("a" * 152 + "€" + "a" * 152, 3),  # the escape pair is not split across parts
        ("नमस्ते " * 10, 1),  # 70 UCS-2 characters
        ("नमस्ते " * 10 + "!", 2),
        ("a" * 133 + "ç", 2),  # one character outside GSM-7 makes it all UCS-2
        ("a" * 134 + "ç", 3),
        ("😀" * 35, 1),  # outside the BMP: two UCS-2 units each
        ("😀" * 36, 2),
        ("a" * 69 + "😀", 2),
    ],
)
def test_segments(text, count):
    assert segments(text) == count


def test_long_replies_are_cut_after_a_word_to_fit():
    long = "Parle-G biscuits are in stock today " * 40
    cut = fit(long, 2)
    assert segments(cut) <= 2 and cut.endswith("...") and len(cut) > 250
    assert long.startswith(cut[:-3]) and long[len(cut) - 3] == " "
    hindi = fit("पारले जी बिस्कुट आज स्टॉक में है " * 20, 3)
    assert segments(hindi) <= 3 and hindi.endswith("…")

    options = OutboundMessage(
        text=long,
        buttons=[
            Button(id="pick:A", title="Surf Excel 500g"),
            Button(id="pick:B", title="Surf Excel 1kg"),
        ],
    )
    sms = render(options, 3)
    assert segments(sms) <= 3
    assert sms.endswith("...\nReply 1 for Surf Excel 500g\nReply 2 for Surf Excel 1kg")


def test_rendering_charts_audio_and_typography():
    chart = OutboundMessage(image=b"png", image_caption="Sales by week", text="")
    assert render(chart, 4) == "Sales by week\n(Charts show on WhatsApp.)"
    spoken = OutboundMessage(text="Order #12 confirmed.", audio=b"ogg")
    assert render(spoken, 4) == "Order #12 confirmed."
    menu = OutboundMessage(text="I can help with:\n• order…\n• schemes — “any?”")
    assert render(menu, 4) == 'I can help with:\n- order...\n- schemes - "any?"'
    assert segments(render(menu, 4)) == 1


def test_the_sender_posts_capped_text_and_refuses_opted_out_numbers(engine, tmp_path):
    company_id = make_company(engine, "alpha")
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        twilio_account_sid=ACCOUNT,
        twilio_auth_token=TOKEN,
        twilio_phone_number=OURS,
        sms_max_segments=2,
    )
    api = TwilioAPI()
    sender = TwilioSMSSender(settings, engine, http_client=api)
    sid = asyncio.run(sender.send("+919800000001", OutboundMessage(text="word " * 400)))
    assert sid.startswith("SM") and segments(api.posted[0]["Body"]) == 2
    assert api.posted[0]["Body"].endswith("word...")

    with pytest.raises(SendRefused, match="nothing an SMS can carry"):
        asyncio.run(sender.send("+919800000001", OutboundMessage(audio=b"ogg")))

    stopped = TwilioSMSSender(settings, engine, http_client=TwilioAPI(error_code=21610))
    with pytest.raises(TwilioRestException):  # Twilio knew of a STOP we had not seen
        asyncio.run(stopped.send("+919800000002", OutboundMessage(text="hi")))
    with company_session(company_id, engine) as session:
        assert session.exec(select(OptOut.phone)).all() == ["+919800000002"]
    with pytest.raises(SendRefused, match="opted out"):
        asyncio.run(sender.send("+919800000002", OutboundMessage(text="hi")))
    assert len(api.posted) == 1
