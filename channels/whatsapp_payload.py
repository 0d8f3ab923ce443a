"""Reading WhatsApp Cloud API webhook payloads into channel-neutral messages.

We read the JSON ourselves rather than through pywa's update classes: they drop a message whose
payload lacks a field they expect (pywa 4.5 wants `contacts[].user_id`), and a retailer's order
must never be dropped. Every message becomes an `InboundMessage`; a type we do not handle becomes
`Kind.unsupported`, so the sender still gets an answer.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import phonenumbers

from messages import InboundMessage, Kind, Location


@dataclass(frozen=True)
class StatusUpdate:
    provider_message_id: str
    status: str  # sent, delivered, read, failed
    recipient: str
    at: datetime
    error: str | None = None


@dataclass(frozen=True)
class Incoming:
    phone_number_id: str  # our business number that received it: tells the company
    message: InboundMessage
    raw: dict[str, Any]


def e164(wa_id: str) -> str:
    """WhatsApp ids are international numbers without the plus."""
    try:
        number = phonenumbers.parse(f"+{wa_id.lstrip('+')}")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        return f"+{wa_id.lstrip('+')}"


def _time(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError):
        return datetime.now(UTC)


def _message(raw: dict[str, Any], phone_number_id: str) -> InboundMessage:
    kind, text, choice, media, media_type, location = Kind.unsupported, "", None, None, None, None
    match raw.get("type"):
        case "text":
            kind, text = Kind.text, raw.get("text", {}).get("body", "")
        case "audio" | "voice":
            body = raw.get(raw["type"], {})
            kind, media, media_type = Kind.audio, body.get("id"), body.get("mime_type")
        case "image":
            body = raw.get("image", {})
            kind, media, media_type = Kind.image, body.get("id"), body.get("mime_type")
            text = body.get("caption", "")
        case "location":
            body = raw.get("location", {})
            kind, location = Kind.location, Location(lat=body["latitude"], lng=body["longitude"])
            text = body.get("name", "") or body.get("address", "")
        case "interactive":
            body = raw.get("interactive", {})
            reply = body.get("button_reply") or body.get("list_reply") or {}
            kind, text, choice = Kind.button, reply.get("title", ""), reply.get("id")
        case "button":  # a quick-reply button of a template
            body = raw.get("button", {})
            kind, text, choice = Kind.button, body.get("text", ""), body.get("payload")
    return InboundMessage(
        channel="whatsapp",
        provider_message_id=raw["id"],
        sender=e164(raw["from"]),
        recipient=phone_number_id,
        kind=kind,
        text=text,
        choice_id=choice,
        media_id=media,
        media_type=media_type,
        location=location,
        sent_at=_time(raw.get("timestamp")),
        received_at=datetime.now(UTC),
    )


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _unreadable(raw: dict, phone_number_id: str) -> InboundMessage:
    """A message we could not read still counts: kept, and answered as unsupported."""
    now = datetime.now(UTC)
    return InboundMessage(
        channel="whatsapp",
        provider_message_id=str(raw["id"]),
        sender=e164(str(raw["from"])),
        recipient=phone_number_id,
        kind=Kind.unsupported,
        sent_at=now,
        received_at=now,
    )


def parse_webhook(payload: dict[str, Any]) -> tuple[list[Incoming], list[StatusUpdate]]:
    """The messages and delivery statuses in one webhook call (it may batch several). One
    malformed entry never costs the others."""
    messages, statuses = [], []
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value") if isinstance(change.get("value"), dict) else {}
            metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
            phone_number_id = str(metadata.get("phone_number_id", ""))
            for raw in _dicts(value.get("messages")):
                if not (raw.get("id") and raw.get("from")):
                    continue
                try:
                    message = _message(raw, phone_number_id)
                except (KeyError, TypeError, ValueError, AttributeError):
                    message = _unreadable(raw, phone_number_id)
                messages.append(Incoming(phone_number_id, message, raw))
            for raw in _dicts(value.get("statuses")):
                errors = _dicts(raw.get("errors")) or [{}]
                statuses.append(
                    StatusUpdate(
                        provider_message_id=str(raw.get("id", "")),
                        status=str(raw.get("status", "")),
                        recipient=e164(str(raw.get("recipient_id", ""))),
                        at=_time(raw.get("timestamp")),
                        error=errors[0].get("title") or errors[0].get("message"),
                    )
                )
    return messages, statuses
