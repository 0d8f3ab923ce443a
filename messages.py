"""Channel-neutral messages, the one typed module both sides read.

Channel adapters turn provider payloads into `InboundMessage` and render `OutboundMessage` back
(buttons on WhatsApp, numbered options in an SMS, speech on a call); agents see only these
types. The two small protocols at the end are what an adapter provides to the turn engine: a
`Sender` for replies and a `MediaFetcher` for the voice notes and photos a message points to.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Kind(StrEnum):
    text = "text"
    audio = "audio"
    image = "image"
    location = "location"
    button = "button"  # a reply button or list row chosen
    unsupported = "unsupported"


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)


class InboundMessage(BaseModel):
    channel: str  # whatsapp, sms, voice, console, api
    provider_message_id: str
    sender: str  # E.164 phone
    recipient: str  # our number or account id, which tells the company
    kind: Kind
    text: str = ""  # the text, a caption, or the title of the chosen button
    choice_id: str | None = None  # the id of the chosen button or list row
    media_id: str | None = None  # provider id of audio or image, fetched when needed
    media_type: str | None = None
    location: Location | None = None
    sent_at: datetime
    received_at: datetime


class Button(BaseModel):
    id: str = Field(max_length=256)
    title: str = Field(max_length=20)  # WhatsApp's limit for reply buttons


class OutboundMessage(BaseModel):
    """One message to send. Buttons (at most 3) become reply buttons; more options become a
    list; a template is what may be sent outside the 24-hour customer-service window. Bytes
    (a chart, a voice note) are base64 in JSON, so a queued reply survives a restart whole."""

    model_config = ConfigDict(ser_json_bytes="base64", val_json_bytes="base64")

    text: str = ""
    buttons: list[Button] = Field(default_factory=list)
    options_title: str = "Choose"
    image: bytes | None = None
    image_caption: str = ""
    audio: bytes | None = None
    speak: bool = False  # also send the text as a voice note (made when it is delivered)
    template: str | None = None
    template_language: str = "en"  # a WhatsApp template language code: en, en_US, hi, mr ...
    template_params: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _has_content(self) -> "OutboundMessage":
        if not (self.text or self.image or self.audio or self.template):
            raise ValueError("an outbound message needs text, an image, audio or a template")
        return self

    @property
    def as_list(self) -> bool:
        return len(self.buttons) > 3


class Sender(Protocol):
    """What a channel adapter provides for replies."""

    channel: str

    async def send(self, to: str, message: OutboundMessage) -> str:
        """Send; return the provider's id of the sent message."""
        ...


@dataclass(frozen=True)
class Media:
    data: bytes
    mime_type: str | None


class MediaUnavailable(Exception):
    """The media cannot be fetched, now or later (expired, too large, refused)."""


class MediaFetcher(Protocol):
    """What a channel adapter provides for the media its messages point to."""

    async def fetch(self, media_id: str, max_bytes: int) -> Media: ...
