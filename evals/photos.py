"""Photo order eval: `opensales eval photos --catalog FILE.csv --cases FILE.jsonl [--no-llm]`.

The cases are those of `opensales eval orders`. Each order is drawn as a phone photo of a
printed order list (one item a line, DejaVu fonts on paper, then tilt, perspective, blur, noise,
uneven light and JPEG compression, all seeded by the case's text so every run draws the same
photos), read back by OCR and then by the order agent's reader. Clarification cases are
skipped (a photo of them asks the same question as their text), and so are cases in a script
the OCR models do not read (Devanagari). Prints the failed cases, item and exact-order
accuracy, the OCR character error rate against the drawn text and latency percentiles.
"""

import io
import random
import re
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont
from rapidfuzz.distance import Levenshtein
from tqdm import tqdm

from agents.order_reading import read_order
from evals.bench_llm import percentile
from evals.orders import catalog_eval, expected_items
from tools.order_parser import OrderParser
from vision.ocr import read_image

FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = [
    "DejaVuSans.ttf",
    "DejaVuSans-Bold.ttf",
    "DejaVuSans-Oblique.ttf",
    "DejaVuSansCondensed.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSerif.ttf",
    "DejaVuSerif-Bold.ttf",
    "DejaVuSerif-Italic.ttf",
    "DejaVuSerifCondensed.ttf",
    "DejaVuSansMono.ttf",
    "DejaVuSansMono-Bold.ttf",
]
# Where a retailer starts a new line of the list: at commas, semicolons and slashes (not in
# "1/2"); at dashes only when there are none of those ("ghee 1l - 6 / ..." names a quantity).
ITEM_BREAK = re.compile(r"\s*(?:[,;\n]|(?<!\d)/|/(?!\d))\s*")
DASH_BREAK = re.compile(r"\s+[-–]\s+")
MAX_BYTES = 16 << 20


def list_lines(text: str) -> list[str]:
    """The order as a retailer writes it down: one item a line where the text separates them."""
    lines = [line for line in ITEM_BREAK.split(text) if line]
    return lines if len(lines) > 1 else [line for line in DASH_BREAK.split(text) if line]


def draw_photo(lines: list[str], seed: int) -> bytes:
    """A JPEG phone photo (4:3, as WhatsApp sends it, sometimes full size) of the lines printed
    on a sheet lying on a table."""
    rng = random.Random(seed)
    size = rng.randint(26, 44)
    font = ImageFont.truetype(str(FONTS / rng.choice(FACES)), size)
    ink = rng.choice([(20, 20, 20), (30, 35, 90), (45, 45, 50)])
    spacing = round(size * rng.uniform(1.5, 1.9))
    margin = round(size * rng.uniform(1.0, 2.0))
    text_width = max(round(font.getlength(line)) for line in lines)
    sheet = Image.new(
        "RGB",
        (text_width + 2 * margin, spacing * len(lines) + 2 * margin),
        tuple(rng.randint(232, 252) for _ in range(3)),
    )
    draw = ImageDraw.Draw(sheet)
    for number, line in enumerate(lines):
        draw.text((margin, margin + number * spacing), line, fill=ink, font=font)

    table = tuple(rng.randint(60, 140) for _ in range(3))
    width = max(sheet.width, round(sheet.height * 4 / 3)) * rng.uniform(1.1, 1.4)
    frame = (round(width), round(width * 3 / 4))
    photo = Image.new("RGB", frame, table)
    photo.paste(sheet, ((frame[0] - sheet.width) // 2, (frame[1] - sheet.height) // 2))
    photo = photo.rotate(rng.uniform(-3, 3), Image.Resampling.BICUBIC, fillcolor=table)
    photo = photo.transform(
        photo.size,
        Image.Transform.PERSPECTIVE,
        _perspective(photo.size, rng, 0.03),
        Image.Resampling.BICUBIC,
        fillcolor=table,
    )
    longer = rng.choice([1280, 1600, 1600, 2048, 4000])
    photo = photo.resize((longer, longer * 3 // 4), Image.Resampling.LANCZOS)
    photo = photo.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.2) * longer / 1600))

    pixels = np.asarray(photo, dtype=np.float32)
    height, width = pixels.shape[:2]
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = np.cos(angle) * xs / width + np.sin(angle) * ys / height
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = 1.0 - rng.uniform(0.15, 0.4) * ramp  # one side of the sheet in shadow
    noise = np.random.default_rng(seed).normal(0, rng.uniform(2, 8), pixels.shape)
    pixels = np.clip(pixels * light[..., None] + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=rng.randint(50, 85))
    return out.getvalue()


def _perspective(size: tuple[int, int], rng: random.Random, amount: float) -> list[float]:
    """Pillow's perspective coefficients for moving each corner by up to `amount` of the size
    (Pillow maps output points back to input points, so solve for that direction)."""
    width, height = size
    corners = [(0, 0), (width, 0), (width, height), (0, height)]
    moved = [
        (x + rng.uniform(-amount, amount) * width, y + rng.uniform(-amount, amount) * height)
        for x, y in corners
    ]
    rows = []
    for (x, y), (u, v) in zip(moved, corners, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    target = [value for corner in corners for value in corner]
    return np.linalg.solve(np.array(rows, dtype=float), np.array(target, dtype=float)).tolist()


def readable(text: str) -> bool:
    """Latin script only: the bundled OCR models (and DejaVu) do not cover Devanagari."""
    return all(ord(char) < 0x250 or not char.isalpha() for char in text)


async def run(cases: list[dict], parser: OrderParser, llm) -> int:
    order_cases = [case for case in cases if not case.get("clarify")]
    photo_cases = [case for case in order_cases if readable(case["text"])]
    print(
        f"{len(photo_cases)} photos: {len(cases) - len(order_cases)} clarification cases and "
        f"{len(order_cases) - len(photo_cases)} in Devanagari skipped"
    )
    if not photo_cases:
        return 1
    if llm is not None:  # load the model first: its one-time start is not a reply's latency
        await llm.chat([{"role": "user", "content": "ok"}], max_tokens=1)
    started = time.perf_counter()
    read_image(draw_photo(["warm up"], 0), MAX_BYTES)
    print(f"OCR cold start (models loaded, one photo read): {time.perf_counter() - started:.2f} s")

    exact = matched = expected_total = errors = written_chars = llm_used = 0
    ocr_latencies, latencies = [], []
    for case in tqdm(photo_cases, desc="photos", unit="photo"):
        lines = list_lines(case["text"])
        photo = draw_photo(lines, zlib.crc32(case["text"].encode()))
        started = time.perf_counter()
        ocr = read_image(photo, MAX_BYTES)
        ocr_latencies.append(time.perf_counter() - started)
        reading = await read_order(ocr.text, parser, llm)
        latencies.append(time.perf_counter() - started)
        llm_used += reading.used_llm

        written = "\n".join(lines)
        errors += Levenshtein.distance(ocr.text, written)
        written_chars += len(written)
        expected = expected_items(case, parser)
        got = (
            Counter()
            if reading.clarify
            else Counter((line.sku, line.pieces) for line in reading.lines)
        )
        matched += sum((expected & got).values())
        expected_total += sum(expected.values())
        exact += got == expected
        if got != expected:
            shown = "clarify" if reading.clarify else sorted(got.items())
            tqdm.write(
                f"FAIL {case['text']!r}\n  OCR read {ocr.text!r}\n  expected "
                f"{sorted(expected.items())}, got {shown}"
                + (f" (asked about {reading.question.text!r})" if reading.question else "")
                + (f" unknown {reading.unknown}" if reading.unknown else "")
            )
    total = len(photo_cases)
    print(
        f"photo item accuracy: {100 * matched / max(expected_total, 1):.1f}% "
        f"({matched}/{expected_total} items)"
    )
    print(f"photo exact-order accuracy: {100 * exact / total:.1f}%")
    print(f"OCR CER: {100 * errors / max(written_chars, 1):.1f}%")
    print(
        f"latency, OCR: p50 {percentile(ocr_latencies, 50):.2f} s, "
        f"p95 {percentile(ocr_latencies, 95):.2f} s, max {max(ocr_latencies):.2f} s; "
        f"OCR + reading: p50 {percentile(latencies, 50):.2f} s, "
        f"p95 {percentile(latencies, 95):.2f} s, max {max(latencies):.2f} s; "
        f"LLM used on {llm_used} of {total} photos"
    )
    return 0


def main(args) -> int:
    return catalog_eval(args, run)
