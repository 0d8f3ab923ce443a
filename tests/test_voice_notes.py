"""A retailer orders by WhatsApp voice note, end to end: signed webhook, stored, the audio
fetched, transcribed by the bundled Whisper, the order agent, a reply that says what was heard.
Bad audio (corrupt, silence, too long, gone) gets a clear answer and is never lost."""

import time

import numpy as np
import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from channels.media import HeldMedia
from db.engine import company_session
from db.models import Message, Store
from evals.ivr import demo_shop
from messages import Media
from server import create_app
from settings import Settings
from speech.audio import decode, encode_ogg_opus, encode_wav
from speech.tts import get_tts
from tests.test_whatsapp_pipeline import SECRET, replies, signed, webhook


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("voice-shop")
    company_id, _ = demo_shop(folder)
    settings = Settings(
        _env_file=None,
        data_dir=folder,
        whatsapp_app_secret=SECRET,
        llm_backend="off",
        burst_window_s=0.1,
        max_voice_note_s=8,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        media = HeldMedia()
        client.app.state.runtime.media["whatsapp"] = media
        yield client, company_id, media


@pytest.fixture(scope="module")
def voice():
    return get_tts(Settings(_env_file=None))


def retailer(client, company_id, index) -> str:
    with company_session(company_id, client.app.state.runtime.engine) as session:
        return session.exec(select(Store).order_by(Store.code)).all()[index].owner_phone


def send_audio(client, media, phone, data: bytes, media_id: str) -> None:
    media.items[media_id] = Media(data, "audio/ogg; codecs=opus")
    body = webhook(
        phone, "audio", {"id": media_id, "mime_type": "audio/ogg; codecs=opus", "voice": True}
    )
    assert client.post("/whatsapp/webhook", content=body, headers=signed(body)).status_code == 200


def stored(client, company_id, phone) -> list[Message]:
    with company_session(company_id, client.app.state.runtime.engine) as session:
        return session.exec(
            select(Message).where(Message.sender == phone, Message.kind == "audio")
        ).all()


def test_a_voice_note_is_heard_and_ordered(shop, voice):
    client, company_id, media = shop
    phone = retailer(client, company_id, 0)
    speech = voice.synthesize(
        "I need 2 cases of Parle-G 250 gram and 1 case of Coke 750 ml.", steady=True
    )
    send_audio(client, media, phone, encode_ogg_opus(speech, voice.sample_rate), "media.order")
    reply = replies(client, phone, 1, timeout=30)[-1].text
    heard, _, answer = reply.partition("\n")
    assert heard.startswith('I heard: "') and "Parle" in heard
    assert answer.startswith("Order #") and "2 cs Parle-G 250g, 1 cs Coca-Cola 750ml" in answer
    time.sleep(0.3)
    [message] = stored(client, company_id, phone)
    assert message.status == "processed" and "Parle" in message.payload["understood"]


def test_bad_audio_gets_a_clear_answer(shop, voice):
    client, company_id, media = shop
    cases = [
        (b"OggS\x00\x02garbage" * 40, "I could not play that voice note"),
        (
            encode_ogg_opus(np.zeros(16000 * 3, dtype=np.int16), 16000),
            "I could not make out any words",
        ),
        (b"", "I could not play that voice note"),
    ]
    for index, (data, expected) in enumerate(cases, start=1):
        phone = retailer(client, company_id, index)
        send_audio(client, media, phone, data, f"media.bad.{index}")
        reply = replies(client, phone, 1, timeout=30)[-1].text
        assert reply.startswith(expected), reply
    phone = retailer(client, company_id, 4)
    body = webhook(phone, "audio", {"id": "media.gone", "mime_type": "audio/ogg"})
    client.post("/whatsapp/webhook", content=body, headers=signed(body))
    assert replies(client, phone, 1)[-1].text.startswith("I could not download that file")
    time.sleep(0.3)
    assert stored(client, company_id, phone)[0].status == "processed"


def test_a_long_voice_note_is_cut_with_a_note(shop, voice):
    client, company_id, media = shop
    phone = retailer(client, company_id, 5)
    speech = voice.synthesize("Send 3 cases of Maggi 70 gram. " * 6, steady=True)  # longer than 8 s
    assert len(speech) / voice.sample_rate > 10
    send_audio(client, media, phone, encode_wav(speech, voice.sample_rate), "media.long")
    reply = replies(client, phone, 1, timeout=30)[-1].text
    assert "I listened to its first 8 seconds" in reply and "Maggi" in reply


def test_voice_replies_when_asked_for(shop, voice):
    client, company_id, media = shop
    phone = retailer(client, company_id, 6)
    body = webhook(phone, "text", {"body": "voice on"})
    client.post("/whatsapp/webhook", content=body, headers=signed(body))
    assert "voice note too" in replies(client, phone, 1)[-1].text
    speech = voice.synthesize("Where is my order?", steady=True)
    send_audio(client, media, phone, encode_ogg_opus(speech, voice.sample_rate), "media.st")
    answer = replies(client, phone, 2, timeout=30)[-1]
    assert answer.audio is not None and answer.text.startswith('I heard: "')
    spoken = decode(answer.audio)
    assert spoken.duration_s > 1 and np.abs(spoken.samples).max() > 0.1


def send_photo(client, media, phone, data: bytes, media_id: str, caption: str = "") -> None:
    media.items[media_id] = Media(data, "image/jpeg")
    body = webhook(phone, "image", {"id": media_id, "mime_type": "image/jpeg", "caption": caption})
    assert client.post("/whatsapp/webhook", content=body, headers=signed(body)).status_code == 200


def test_a_photo_of_an_order_list_is_read_and_ordered(shop):
    from tests.test_ocr import cat, encoded, order_list

    client, company_id, media = shop
    phone = retailer(client, company_id, 7)
    photo = encoded(order_list(["Parle G 250g - 2 cs", "Coke 750ml - 1 cs"]), "JPEG", quality=85)
    send_photo(client, media, phone, photo, "media.list")
    reply = replies(client, phone, 1, timeout=60)[-1].text
    read, _, answer = reply.partition("\n")
    assert read.startswith('I read: "') and "Parle" in read
    assert answer.startswith("Order #") and "2 cs Parle-G 250g, 1 cs Coca-Cola 750ml" in answer

    phone = retailer(client, company_id, 8)
    send_photo(client, media, phone, encoded(cat(), "JPEG"), "media.cat")
    assert replies(client, phone, 1, timeout=60)[-1].text.startswith(
        "I could not find any writing in that photo"
    )
    send_photo(client, media, phone, b"\xff\xd8" + b"\x00" * (17 << 20), "media.huge")
    assert (
        "I could not download that file (it is over the 16 MB limit)"
        in replies(client, phone, 2, timeout=60)[-1].text
    )
