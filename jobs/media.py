"""A voice note or photo into the text the agents read, and what to tell the sender about it.

A voice note is decoded (at most `max_voice_note_s`), transcribed with the company's product
names as hotwords, and answered like typed text, the reply starting with what was heard. A
photo is read by OCR and answered the same way. Anything that yields no words (corrupt audio,
silence, music, a photo of a cat, a file too large) gets a clear message instead, never a
guess. The work runs in worker threads: the event loop keeps answering others.
"""

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field
from weakref import WeakKeyDictionary

from sqlalchemy import Engine, func
from sqlmodel import select

from db.models import Message, Product, TransactionItem
from db.scope import CompanySession
from messages import MediaFetcher, MediaUnavailable
from settings import Settings
from speech.audio import UnreadableAudio, decode
from speech.stt import get_stt, spoken_names
from tools.hearing import listen_for_order
from tools.order_parser import OrderParser

log = logging.getLogger("opensales.media")

TYPE_INSTEAD = 'Please send it again, or type your order, e.g. "2 cs Parle-G 250g".'


@dataclass
class MediaText:
    text: str = ""  # what the agents read
    heard: str = ""  # said back before the agents' answer
    notes: list[str] = field(default_factory=list)  # e.g. the voice note was cut
    problem: str | None = None  # said instead of an answer: nothing usable came out


# per database (two databases may hold companies with the same id: the deterministic demo)
_hotwords: "WeakKeyDictionary[Engine, dict[uuid.UUID, tuple[float, str]]]" = WeakKeyDictionary()
HOTWORDS_TTL_S = 600


def hotwords(session: CompanySession) -> str:
    """What Whisper should expect to hear: the company's product names, best sellers first,
    then its brands (read at most every 10 minutes: counting order lines is not free)."""
    known = _hotwords.setdefault(session.get_bind(), {})
    cached = known.get(session.company_id)
    if cached and time.monotonic() - cached[0] < HOTWORDS_TTL_S:
        return cached[1]
    lines = func.count(TransactionItem.id)
    products = session.exec(
        select(Product.name, Product.brand, lines)
        .join(TransactionItem, TransactionItem.product_id == Product.id, isouter=True)
        .where(Product.is_active)
        .group_by(Product.id, Product.name, Product.brand)
        .order_by(lines.desc(), Product.name)
    ).all()
    words = spoken_names([name for name, _, _ in products], [brand for _, brand, _ in products])
    known[session.company_id] = (time.monotonic(), words)
    return words


async def media_text(
    settings: Settings,
    fetcher: MediaFetcher | None,
    session: CompanySession,
    message: Message,
    parser: OrderParser,
) -> MediaText:
    if fetcher is None or not message.payload.get("message", {}).get("media_id"):
        return MediaText(problem=f"I could not open that file. {TYPE_INSTEAD}")
    try:
        media = await fetcher.fetch(
            message.payload["message"]["media_id"], settings.max_media_bytes
        )
    except MediaUnavailable as exc:
        log.warning("media of message %s unavailable: %s", message.id, exc)
        return MediaText(problem=f"I could not download that file ({exc}). {TYPE_INSTEAD}")
    if message.kind == "audio":
        return await _voice_note(settings, session, parser, media.data)
    return await _photo(settings, media.data, message.body)


async def _voice_note(
    settings: Settings, session: CompanySession, parser: OrderParser, data: bytes
) -> MediaText:
    try:
        audio = await asyncio.to_thread(decode, data, max_seconds=settings.max_voice_note_s)
    except UnreadableAudio as exc:
        return MediaText(problem=f"I could not play that voice note: {exc}. {TYPE_INSTEAD}")
    stt = await asyncio.to_thread(get_stt, settings)
    transcript = await asyncio.to_thread(
        listen_for_order, stt, audio.samples, parser, hotwords(session)
    )
    if not transcript.text:
        return MediaText(
            problem=(
                "I could not make out any words in that voice note: it sounded like silence or "
                f"background noise. Please speak close to the phone. {TYPE_INSTEAD}"
            )
        )
    notes = []
    if audio.truncated:
        notes.append(
            f"Your voice note was long: I listened to its first "
            f"{_duration(settings.max_voice_note_s)}."
        )
    return MediaText(text=transcript.text, heard=f'I heard: "{transcript.text}"', notes=notes)


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{seconds:g} seconds"


async def _photo(settings: Settings, data: bytes, caption: str) -> MediaText:
    from vision.ocr import ImageError, read_image

    try:
        result = await asyncio.to_thread(read_image, data, settings.max_media_bytes)
    except ImageError as exc:  # its message is written for the retailer
        return MediaText(problem=f'{exc} You can also type your order, e.g. "2 cs Parle-G 250g".')
    if not result.lines:
        return MediaText(
            problem=(
                "I could not find any writing in that photo. Please send a clear, well-lit photo "
                f"of your order list or of the product's pack. {TYPE_INSTEAD}"
            )
        )
    text = "\n".join(filter(None, [caption, result.text]))
    shown = "; ".join(result.lines)
    shown = shown if len(shown) <= 300 else shown[:297] + "..."
    return MediaText(text=text, heard=f'I read: "{shown}"')
