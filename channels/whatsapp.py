"""The WhatsApp Cloud API adapter: webhook in (verified, stored, queued, acknowledged), replies
out through pywa.

The webhook stores every message before it answers 200, so a message is never acknowledged and
then lost; Meta's retries of it are dropped by the database's unique key. Processing happens
in the queue, after the acknowledgement.
"""

import json
import logging

from pywa.utils import HUB_CH, HUB_SIG, HUB_VT, webhook_updates_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from channels.inbox import park, record_status
from channels.whatsapp_payload import parse_webhook
from errors import ApiError
from messages import OutboundMessage

log = logging.getLogger("opensales.whatsapp")
MAX_BODY = 3 << 20  # Meta's payloads are small; a text message is at most 4096 characters


async def verify(request: Request) -> Response:
    """GET: Meta checks the webhook by echoing our verify token back with a challenge."""
    settings = request.app.state.runtime.settings
    token = request.query_params.get(HUB_VT)
    if not settings.whatsapp_verify_token or token != settings.whatsapp_verify_token:
        raise ApiError(403, "WEBHOOK_VERIFY_TOKEN_INVALID", "The verify token does not match.")
    return PlainTextResponse(request.query_params.get(HUB_CH, ""))


async def receive(request: Request) -> Response:
    """POST: check the signature over the raw body, store, queue, acknowledge."""
    runtime = request.app.state.runtime
    secret = runtime.settings.whatsapp_app_secret
    if not secret:
        raise ApiError(503, "WHATSAPP_NOT_CONFIGURED", "OPENSALES_WHATSAPP_APP_SECRET is not set.")
    body = bytearray()
    async for chunk in request.stream():  # counted as it comes: a chunked body has no length
        body += chunk
        if len(body) > MAX_BODY:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", "The webhook body is too large.")
    body = bytes(body)
    signature = request.headers.get(HUB_SIG)
    if not signature:
        raise ApiError(401, "WEBHOOK_SIGNATURE_MISSING", f"{HUB_SIG} header is missing.")
    if not webhook_updates_validator(secret, body, signature):
        raise ApiError(403, "WEBHOOK_SIGNATURE_INVALID", f"{HUB_SIG} does not match the body.")
    try:
        payload = json.loads(body)
    except ValueError:
        raise ApiError(400, "MALFORMED_JSON", "The webhook body is not JSON.") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "MALFORMED_PAYLOAD", "The webhook body is not a JSON object.")
    incoming, statuses = parse_webhook(payload)
    intake, default = runtime.intake, runtime.settings.whatsapp_phone_number_id
    stored = 0
    for item in incoming:
        company_id = intake.companies.for_number("whatsapp", item.phone_number_id, default)
        if company_id is None:
            park(runtime.engine, item.message, item.raw)  # kept and alerted: Meta may stop
            continue
        stored += await intake.accept(company_id, item.message, item.raw)
    for status in statuses:
        company_id = intake.companies.for_number("whatsapp", _number_of(payload), default)
        if company_id is not None:
            record_status(
                runtime.engine,
                company_id,
                "whatsapp",
                status.provider_message_id,
                status.status,
                status.error,
            )
    return JSONResponse({"status": "ok", "stored": stored})


def _number_of(payload: dict) -> str:
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            return (change.get("value") or {}).get("metadata", {}).get("phone_number_id", "")
    return ""


routes = [
    Route("/whatsapp/webhook", verify, methods=["GET"]),
    Route("/whatsapp/webhook", receive, methods=["POST"]),
]


class WhatsAppSender:
    """Sends through the Cloud API with pywa: text, reply buttons (up to 3), a list (more
    options), images, voice notes, and templates (outside the 24-hour customer-service
    window)."""

    channel = "whatsapp"

    def __init__(self, phone_id: str, token: str, session=None) -> None:
        """`session`: an `httpx.AsyncClient` of one's own (tests give one that plays Meta)."""
        from pywa_async import WhatsApp

        self.client = WhatsApp(phone_id=phone_id, token=token, session=session)

    async def send(self, to: str, message: OutboundMessage) -> str:
        from pywa.types import Button, Section, SectionList, SectionRow

        number = to.lstrip("+")
        if message.audio:  # a spoken reply goes first, then its text (with any buttons)
            await self.client.send_audio(to=number, audio=message.audio, mime_type="audio/ogg")
        if message.template:
            from pywa.types.templates import BodyText, TemplateLanguage

            params = (
                [BodyText.params(*message.template_params)] if message.template_params else None
            )
            sent = await self.client.send_template(
                to=number,
                name=message.template,
                language=TemplateLanguage(message.template_language),
                params=params,
            )
        elif message.image:
            sent = await self.client.send_image(
                to=number,
                image=message.image,
                caption=message.image_caption or message.text,
                mime_type="image/png",
            )
        elif message.as_list:
            rows = [SectionRow(title=b.title[:24], callback_data=b.id) for b in message.buttons]
            sent = await self.client.send_message(
                to=number,
                text=message.text,
                buttons=SectionList(
                    button_title=message.options_title[:20],
                    sections=[Section(title="Options", rows=rows[:10])],
                ),
            )
        elif message.buttons:
            sent = await self.client.send_message(
                to=number,
                text=message.text,
                buttons=[Button(title=b.title, callback_data=b.id) for b in message.buttons],
            )
        else:
            sent = await self.client.send_message(to=number, text=message.text)
        return sent.id
