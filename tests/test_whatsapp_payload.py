"""WhatsApp webhook payloads become channel-neutral messages; nothing is dropped."""

from channels.whatsapp_payload import parse_webhook
from messages import Kind


def payload(*messages, statuses=()):
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550001111",
                                "phone_number_id": "PN1",
                            },
                            "contacts": [{"profile": {"name": "Ramesh"}, "wa_id": "919822011111"}],
                            "messages": list(messages),
                            "statuses": list(statuses),
                        },
                    }
                ],
            }
        ],
    }


def message(kind: str, body: dict, id_="wamid.1") -> dict:
    return {"from": "919822011111", "id": id_, "timestamp": "1795830000", "type": kind, kind: body}


def test_each_kind_becomes_an_inbound_message():
    incoming, statuses = parse_webhook(
        payload(
            message("text", {"body": "2 cs parle g"}, "w1"),
            message(
                "interactive",
                {
                    "type": "button_reply",
                    "button_reply": {"id": "sku:SURF1KG", "title": "Surf 1kg"},
                },
                "w2",
            ),
            message("image", {"id": "MEDIA9", "mime_type": "image/jpeg", "caption": "list"}, "w3"),
            message("location", {"latitude": 18.5, "longitude": 73.8, "name": "Balaji"}, "w4"),
            message("audio", {"id": "MEDIA7", "mime_type": "audio/ogg; codecs=opus"}, "w5"),
            message("sticker", {"id": "S1"}, "w6"),
        )
    )
    assert statuses == []
    kinds = [(m.message.kind, m.message.text, m.message.choice_id) for m in incoming]
    assert kinds == [
        (Kind.text, "2 cs parle g", None),
        (Kind.button, "Surf 1kg", "sku:SURF1KG"),
        (Kind.image, "list", None),
        (Kind.location, "Balaji", None),
        (Kind.audio, "", None),
        (Kind.unsupported, "", None),
    ]
    first = incoming[0]
    assert first.phone_number_id == "PN1" and first.message.sender == "+919822011111"
    assert first.message.sent_at.timestamp() == 1795830000
    assert incoming[2].message.media_id == "MEDIA9"
    assert incoming[3].message.location.lat == 18.5


def test_statuses_are_read_with_their_errors():
    _, statuses = parse_webhook(
        payload(
            statuses=[
                {
                    "id": "wamid.out1",
                    "status": "delivered",
                    "timestamp": "1795830005",
                    "recipient_id": "919822011111",
                },
                {
                    "id": "wamid.out2",
                    "status": "failed",
                    "timestamp": "1795830006",
                    "recipient_id": "919822011111",
                    "errors": [{"code": 131047, "title": "Re-engagement message"}],
                },
            ]
        )
    )
    assert [(s.provider_message_id, s.status, s.error) for s in statuses] == [
        ("wamid.out1", "delivered", None),
        ("wamid.out2", "failed", "Re-engagement message"),
    ]


def test_odd_payloads_give_what_they_can():
    assert parse_webhook({}) == ([], [])
    incoming, _ = parse_webhook(payload({"id": "w9", "from": "919822011111", "type": "text"}))
    assert incoming[0].message.text == "" and incoming[0].message.kind == Kind.text


def test_one_malformed_message_does_not_cost_the_others():
    bad_location = message("location", {"latitude": 200}, "w-bad")
    wrong_types = {"from": 919822011111, "id": 42, "timestamp": "x", "type": "text", "text": "x"}
    incoming, _ = parse_webhook(
        payload(
            bad_location, wrong_types, "junk", message("text", {"body": "2 cs parle g"}, "w-good")
        )
    )
    assert [(m.message.provider_message_id, m.message.kind) for m in incoming] == [
        ("w-bad", Kind.unsupported),
        ("42", Kind.unsupported),
        ("w-good", Kind.text),
    ]
    assert parse_webhook({"entry": ["x", {"changes": "y"}]}) == ([], [])
