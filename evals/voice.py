"""Voice order eval: `opensales eval voice --catalog FILE.csv --cases FILE.jsonl [--no-llm]`.

The same files as `opensales eval orders`. Each case's text is spoken by Piper and sent down
both voice paths, then read as the order agent reads it:
- a WhatsApp voice note: 16 kHz OGG/Opus, decoded with PyAV, Whisper with Silero VAD;
- a phone call: 8 kHz μ-law through a 300-3400 Hz telephone band, as Twilio streams it.
Whisper hears them as in production (`tools.hearing.listen_for_order`: the catalog's names as
hotwords, mishearings of units tidied, a second pass primed with the nearest names when the
first does not read as a clean order). Prints per path
`voice exact-order accuracy: NN.N%`, item precision/recall, word error rate against the
spoken text, and latency percentiles (audio in -> order read; for voice notes this is the
time to the order reply, less the reply's own database work).
"""

import asyncio
import re
import time
from collections import Counter

import numpy as np
from tqdm import tqdm

from agents.order_reading import read_order
from evals.bench_llm import percentile
from evals.ivr import telephone
from evals.orders import catalog_eval, expected_items
from settings import get_settings
from speech.audio import (
    PHONE_RATE,
    STT_RATE,
    decode,
    encode_ogg_opus,
    mulaw_to_pcm,
    pcm_to_mulaw,
    resample,
    to_float,
)
from speech.stt import get_stt, spoken_names
from speech.tts import get_tts
from tools.hearing import listen_for_order, short_names
from tools.order_parser import normalise


def words(text: str) -> list[str]:
    """Words compared for WER: the parser's normal form (spoken numbers as digits, units and
    brand spellings folded), so "two fifty gram" and "250 grams" are the same words."""
    return re.findall(r"[a-z0-9]+", normalise(text))


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """Edit distance in words, and the reference's length."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1], len(ref)


class Tally:
    """One voice path's tally."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.exact = self.matched = self.predicted = self.expected = 0
        self.errors = self.reference_words = 0
        self.latencies: list[float] = []
        self.failures: list[str] = []

    def add(self, case: dict, transcript: str, got: Counter, want: Counter, seconds: float):
        errors, length = word_errors(case["text"], transcript)
        self.errors += errors
        self.reference_words += length
        self.matched += sum((want & got).values())
        self.predicted += sum(got.values())
        self.expected += sum(want.values())
        self.exact += got == want
        self.latencies.append(seconds)
        if got != want:
            self.failures.append(
                f"FAIL {self.name}: {case['text']!r}\n  heard {transcript!r}\n"
                f"  expected {sorted(want.items())}, got {sorted(got.items())}"
            )

    def report(self, total: int) -> None:
        print(f"{self.name}: voice exact-order accuracy: {100 * self.exact / total:.1f}%")
        print(
            f"{self.name}: item precision {100 * self.matched / max(self.predicted, 1):.1f}%, "
            f"item recall {100 * self.matched / max(self.expected, 1):.1f}%, "
            f"WER {100 * self.errors / max(self.reference_words, 1):.1f}%"
        )
        print(
            f"{self.name}: latency p50 {percentile(self.latencies, 50):.2f} s, "
            f"p95 {percentile(self.latencies, 95):.2f} s, max {max(self.latencies):.2f} s"
        )


async def run(cases: list[dict], parser, llm) -> int:
    cases = [case for case in cases if not case.get("clarify")]  # nothing to hear wrong
    settings = get_settings()
    tts, stt = get_tts(settings), get_stt(settings)
    hints = spoken_names(short_names(parser), [])
    note, phone = Tally("voice note"), Tally("phone call")
    if llm is not None:  # load the model first: its one-time start is not a reply's latency
        await llm.chat([{"role": "user", "content": "ok"}], max_tokens=1)
    durations = []
    for case in tqdm(cases, desc="voice", unit="case"):
        speech = tts.synthesize(case["text"])
        durations.append(len(speech) / tts.sample_rate)
        want = expected_items(case, parser)
        voice_note = encode_ogg_opus(speech, tts.sample_rate)
        line = pcm_to_mulaw(telephone(speech, tts.sample_rate))

        started = time.perf_counter()
        audio = decode(voice_note)
        transcript = await asyncio.to_thread(listen_for_order, stt, audio.samples, parser, hints)
        reading = await read_order(transcript.text, parser, llm)
        note.add(case, transcript.text, _got(reading), want, time.perf_counter() - started)

        started = time.perf_counter()
        wide = to_float(resample(mulaw_to_pcm(line), PHONE_RATE, STT_RATE))
        transcript = await asyncio.to_thread(listen_for_order, stt, wide, parser, hints, False)
        reading = await read_order(transcript.text, parser, llm)
        phone.add(case, transcript.text, _got(reading), want, time.perf_counter() - started)
    for failure in note.failures + phone.failures:
        print(failure)
    print(
        f"{len(cases)} spoken orders, {np.mean(durations):.1f} s on average "
        f"(max {max(durations):.1f} s); STT model {settings.stt_model}"
    )
    note.report(len(cases))
    phone.report(len(cases))
    return 0


def _got(reading) -> Counter:
    return (
        Counter() if reading.clarify else Counter((line.sku, line.pieces) for line in reading.lines)
    )


def main(args) -> int:
    return catalog_eval(args, run)
