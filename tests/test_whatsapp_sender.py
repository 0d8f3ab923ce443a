"""Replies go out through pywa as the Cloud API expects them. Meta cannot be reached from here,
so an httpx transport plays the Graph API and keeps what pywa sent."""

import asyncio
import json

import httpx

from channels.whatsapp import WhatsAppSender
from messages import Button, OutboundMessage


def graph_api(requests: list):
    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.path.endswith("/media"):
            return httpx.Response(200, json={"id": "MEDIA1"})
        return httpx.Response(
            200,
            json={
                "messaging_product": "whatsapp",
                "contacts": [{"input": "919822011111", "wa_id": "919822011111"}],
                "messages": [{"id": f"wamid.sent{len(requests)}"}],
            },
        )

    return httpx.MockTransport(answer)


def sent(messages: list[OutboundMessage]) -> tuple[list[str], list[dict]]:
    requests: list[httpx.Request] = []

    async def scenario():
        async with httpx.AsyncClient(transport=graph_api(requests)) as session:
            sender = WhatsAppSender("PHONE_ID", "TOKEN", session=session)
            return [await sender.send("+919822011111", m) for m in messages]

    ids = asyncio.run(scenario())
    bodies = [json.loads(r.content) for r in requests if r.url.path.endswith("/messages")]
    assert all(r.headers["authorization"] == "Bearer TOKEN" for r in requests)
    return ids, bodies


def test_text_buttons_list_and_template():
    three = [Button(id=f"pick:S{i}", title=f"Size {i}") for i in range(3)]
    five = [Button(id=f"pick:S{i}", title=f"Size {i}") for i in range(5)]
    ids, bodies = sent(
        [
            OutboundMessage(text="Order #1001 confirmed"),
            OutboundMessage(text="Which size?", buttons=three),
            OutboundMessage(text="Which one?", buttons=five, options_title="Choose"),
            OutboundMessage(template="order_update", template_params=["Order #1001 is on its way"]),
        ]
    )
    assert ids[0].startswith("wamid.sent")
    text, buttons, listed, template = bodies
    assert text["to"] == "919822011111" and text["text"]["body"] == "Order #1001 confirmed"
    assert [b["reply"]["id"] for b in buttons["interactive"]["action"]["buttons"]] == [
        "pick:S0",
        "pick:S1",
        "pick:S2",
    ]
    rows = listed["interactive"]["action"]["sections"][0]["rows"]
    assert listed["interactive"]["type"] == "list" and [r["id"] for r in rows] == [
        f"pick:S{i}" for i in range(5)
    ]
    assert template["type"] == "template" and template["template"]["name"] == "order_update"
    assert template["template"]["language"]["code"] == "en"
    body = template["template"]["components"][0]
    assert body["type"].lower() == "body"
    assert body["parameters"][0]["text"] == "Order #1001 is on its way"


def test_an_image_is_uploaded_then_sent():
    _ids, bodies = sent([OutboundMessage(text="Sales this week", image=b"\x89PNG fake")])
    assert bodies[0]["type"] == "image" and bodies[0]["image"]["id"] == "MEDIA1"
