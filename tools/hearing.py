"""Hearing an order: Whisper's transcript made fit for the order parser (a tool over `speech`).

Two things a small Whisper gets wrong in orders, fixed here:
- Unit and number words it hears as other words ("70 grand", "1 leader", "1k Sprite",
  "10 rubies", "free cases"): `tidy` rewrites the confusions that cannot be meant literally
  next to a number.
- Product names outside its vocabulary ("Spanta" for Fanta): the prompt holds only ~200 tokens
  of hotwords, not a whole catalogue. When the first transcript reads as an order with words
  it cannot place, the catalogue names nearest to it become the hotwords of a second pass
  (not for "yes", "where is my order": nothing there to place).
"""

import re

import numpy as np
from rapidfuzz import fuzz, process

from phrases import SPOKEN_NUMBERS
from speech.stt import SpeechToText, Transcript, spoken_names
from tools.order_parser import OrderParser

NUMBER = r"(\d+(?:\.\d+)?|" + "|".join(sorted(SPOKEN_NUMBERS, key=len, reverse=True)) + ")"
CONFUSIONS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            NUMBER + r"[\s-]*(?:grand|graham|grants?|gramps|grounds|grams?|gramme|gm)\b", re.I
        ),
        r"\1 gram",
    ),
    (re.compile(NUMBER + r"[\s-]*(?:leader|liter|litter|later)s?\b", re.I), r"\1 litre"),
    (re.compile(NUMBER + r"[\s-]*(?:rubies|rupee|rupies|ruby)\b", re.I), r"\1 rupees"),
    (re.compile(r"\b(one|1)[\s-]?k\b(?![\s-]?g)", re.I), r"one case"),
    (re.compile(r"\b(?:petty|petti|pethi|paiti|paddy)\b", re.I), "peti"),
    (re.compile(r"\b(do|du|ek|ak|char|teen)-?(?:petty|petti|peti)\b", re.I), r"\1 peti"),
    (re.compile(r"\b(one|two|three|four|five|six|\d+) cart(?: and)?\b", re.I), r"\1 carton"),
    (re.compile(r"\bhundry\b", re.I), "hundred"),
    (re.compile(r"\bfree (cases?|cartons?|pieces|packets|dozen|peti)\b", re.I), r"three \1"),
    (re.compile(r"\bto (cases?|cartons?|pieces|packets|dozen|peti)\b", re.I), r"two \1"),
    (
        re.compile(
            r"\b(?:in|an) (?=(?:one|two|three|four|five|six|a|\d+) (?:cases?|cartons?|"
            r"pieces|packets|dozen|peti|bottles?)\b)",
            re.I,
        ),
        "and ",
    ),
]
CANDIDATES = 12


def tidy(text: str) -> str:
    """The transcript with unit and number mishearings put right."""
    for pattern, replacement in CONFUSIONS:
        text = pattern.sub(replacement, text)
    return text


def short_names(parser: OrderParser) -> list[str]:
    """The catalogue's names without pack sizes: what a retailer says."""
    names: list[str] = []
    for item in parser.items.values():
        base = " ".join(w for w in item.name.split() if not any(c.isdigit() for c in w))
        if base and base not in names:
            names.append(base)
    return names


def nearest_names(text: str, names: list[str], limit: int = CANDIDATES) -> list[str]:
    """Catalogue names that sound most like something in the transcript."""
    found = process.extract(
        text.lower(), names, scorer=fuzz.partial_ratio, processor=str.lower, limit=limit
    )
    return [name for name, _, _ in found]


def listen_for_order(
    stt: SpeechToText, samples: np.ndarray, parser: OrderParser, hotwords: str, vad: bool = True
) -> Transcript:
    """Transcribe an order; a second pass, primed with the names nearest to the first
    transcript, when the first does not read as a clean order. Blocking (a worker thread)."""
    first = _tidied(stt.transcribe(samples, hotwords, vad=vad))
    parsed = parser.parse(first.text)
    if parsed.confident or not (parsed.unknown or parsed.lines):  # an order, or not one at all
        return first
    primed = spoken_names(nearest_names(first.text, short_names(parser)), [])
    second = _tidied(stt.transcribe(samples, primed, vad=vad))
    return max(first, second, key=lambda heard: _reads(parser, heard.text))


def _tidied(heard: Transcript) -> Transcript:
    return Transcript(tidy(heard.text), heard.language, heard.duration_s, heard.speech_s)


def _reads(parser: OrderParser, text: str) -> tuple[bool, int, int]:
    """How well a transcript reads as an order: clean first, then fewer unknown words."""
    parsed = parser.parse(text)
    return parsed.confident, -len(parsed.unknown), len(parsed.lines)
