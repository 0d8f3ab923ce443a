"""Photo OCR with the real RapidOCR models (bundled in the wheel; nothing is downloaded)."""

import io
import random
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from vision import ocr
from vision.ocr import ImageTooLarge, UnreadableImage, read_image

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LIMIT = 16 << 20
ORDER = ["Parle-G 100g 2 case", "Good Day 1 case", "Maggi 70g 12 pcs"]


def order_list(lines: list[str], mode: str = "RGB", background=(250, 248, 240)) -> Image.Image:
    font = ImageFont.truetype(FONT, 36)
    image = Image.new(mode, (900, 120 + 70 * len(lines)), background)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((60, 60 + 70 * number), line, fill="black", font=font)
    return image


def encoded(image: Image.Image, kind: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def test_a_printed_list_reads_back_line_by_line():
    result = read_image(encoded(order_list(ORDER)), LIMIT)

    assert result.lines == ORDER
    assert result.text == "\n".join(ORDER)
    assert result.mean_score > 0.9
    assert (result.width, result.height) == (900, 330)


def test_a_tilted_noisy_photo_of_a_two_column_list_still_reads_each_item():
    font = ImageFont.truetype(FONT, 34)
    sheet = Image.new("RGB", (1200, 400), (235, 232, 220))
    draw = ImageDraw.Draw(sheet)
    for number, (product, quantity) in enumerate(
        [("Parle-G 100g", "2 case"), ("Good Day", "1 case"), ("Tata Salt 1kg", "5 pcs")]
    ):
        draw.text((50, 60 + 100 * number), product, fill=(30, 35, 90), font=font)
        draw.text((900, 60 + 100 * number), quantity, fill=(30, 35, 90), font=font)
    photo = sheet.rotate(3, Image.Resampling.BICUBIC, expand=True, fillcolor=(90, 80, 70))
    photo = photo.filter(ImageFilter.GaussianBlur(1))
    noise = np.random.default_rng(1).normal(0, 6, (photo.height, photo.width, 3))
    photo = Image.fromarray(np.clip(np.asarray(photo) + noise, 0, 255).astype(np.uint8))

    result = read_image(encoded(photo, "JPEG", quality=60), LIMIT)

    assert result.lines == ["Parle-G 100g 2 case", "Good Day 1 case", "Tata Salt 1kg 5 pcs"]


def cat() -> Image.Image:
    image = Image.new("RGB", (800, 600), (200, 220, 240))
    draw = ImageDraw.Draw(image)
    draw.ellipse((250, 250, 550, 520), fill=(120, 90, 60))  # body
    draw.ellipse((300, 120, 500, 300), fill=(120, 90, 60))  # head
    draw.polygon([(310, 170), (330, 70), (380, 140)], fill=(120, 90, 60))  # ears
    draw.polygon([(490, 170), (470, 70), (420, 140)], fill=(120, 90, 60))
    draw.ellipse((350, 180, 375, 205), fill="black")
    draw.ellipse((425, 180, 450, 205), fill="black")
    for dy in (-10, 0, 10):  # whiskers
        draw.line((400, 240, 300, 240 + 2 * dy), fill="black", width=2)
        draw.line((400, 240, 500, 240 + 2 * dy), fill="black", width=2)
    return image


@pytest.mark.parametrize(
    "picture",
    [
        pytest.param(lambda: Image.new("RGB", (640, 480), (128, 140, 150)), id="flat"),
        pytest.param(
            lambda: Image.fromarray(
                np.random.default_rng(2).integers(0, 256, (480, 640, 3), dtype=np.uint8)
            ),
            id="noise",
        ),
        pytest.param(cat, id="cat"),
    ],
)
def test_a_photo_without_text_has_no_lines(picture):
    result = read_image(encoded(picture(), "JPEG", quality=85), LIMIT)

    assert result.lines == []
    assert result.text == ""
    assert result.mean_score == 0.0


def test_a_photo_over_the_byte_limit_is_refused_before_it_is_decoded(monkeypatch):
    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded")

    monkeypatch.setattr(ocr.Image, "open", no_decoding)

    with pytest.raises(ImageTooLarge) as refused:
        read_image(b"\xff" * 1001, max_bytes=1000)

    assert refused.value.code == "IMAGE_TOO_LARGE"
    assert "limit" in str(refused.value)


def truncated_png() -> bytes:
    photo = Image.fromarray(np.random.default_rng(3).integers(0, 256, (200, 300, 3), np.uint8))
    data = encoded(photo)
    return data[: len(data) // 2]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"this is not an image at all", id="corrupt"),
        pytest.param(truncated_png(), id="truncated-png"),
        pytest.param(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", id="eps"),
    ],
)
def test_what_is_not_a_photo_is_unreadable(data):
    with pytest.raises(UnreadableImage) as refused:
        read_image(data, LIMIT)

    assert refused.value.code == "IMAGE_UNREADABLE"
    assert "photo" in str(refused.value)


def png_header(width: int, height: int) -> bytes:
    """A PNG that claims a size and holds no pixels: a decompression bomb's header."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [9000, 100_000])  # ours refuses; Pillow's bomb check refuses
def test_a_huge_pixel_count_is_refused_clearly(side):
    with pytest.raises(UnreadableImage, match="too many pixels"):
        read_image(png_header(side, side), LIMIT)


def test_the_exif_orientation_is_honoured():
    upright = order_list(ORDER)
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # as the camera saved it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"

    result = read_image(encoded(stored, "JPEG", quality=90, exif=exif), LIMIT)

    assert result.lines == ORDER
    assert (result.width, result.height) == upright.size


def test_black_text_on_a_transparent_background_is_read():
    result = read_image(encoded(order_list(ORDER[:1], "RGBA", (0, 0, 0, 0))), LIMIT)

    assert result.lines == ORDER[:1]


@pytest.mark.parametrize(
    ("read", "meant"),
    [
        ("kinley 11 2 case", "kinley 1l 2 case"),
        ("fortune sunflower 51 2 can", "fortune sunflower 5l 2 can"),
        ("harpik 1I 6 pcs", "harpik 1l 6 pcs"),
        ("tata salt lkg 5 pkt", "tata salt 1kg 5 pkt"),
        ("madhur Ikg 2 pkt", "madhur 1kg 2 pkt"),
        ("coke 2 × 6", "coke 2 x 6"),
        ("maggi 11 pcs", "maggi 11 pcs"),
    ],
)
def test_common_misreadings_are_written_as_meant(read, meant):
    assert ocr._fix_slips(read) == meant


def test_lines_are_merged_from_boxes_on_a_tilted_page():
    tilt = np.radians(4)
    rotation = np.array([[np.cos(tilt), -np.sin(tilt)], [np.sin(tilt), np.cos(tilt)]])
    words = [
        ("2 case", 700, 100),
        ("Parle-G", 100, 100),
        ("Good Day", 100, 160),
        ("1 case", 700, 160),
    ]
    random.Random(4).shuffle(words)
    boxes = np.array(
        [
            [rotation @ (x + dx, y + dy) for dx, dy in ((0, 0), (200, 0), (200, 40), (0, 40))]
            for _, x, y in words
        ]
    )

    assert ocr._merge_lines(boxes, tuple(w for w, _, _ in words)) == [
        "Parle-G 2 case",
        "Good Day 1 case",
    ]


def test_a_short_line_under_a_long_one_stays_its_own_line():
    boxes = np.array(
        [
            [(0, 85), (1200, 85), (1200, 115), (0, 115)],
            [(0, 115), (300, 115), (300, 145), (0, 145)],
        ],
        dtype=np.float32,
    )

    assert ocr._merge_lines(boxes, ("a long first line", "short")) == ["a long first line", "short"]
