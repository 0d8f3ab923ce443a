"""The text of a photo of an order list, read offline by RapidOCR (its models ship in the wheel).

RapidOCR finds text boxes, not lines, and a retailer's list is read line by line, so the boxes
are merged into lines here: top to bottom, left to right, allowing for a photo taken askew.
Only the default models are used: asking RapidOCR for another language or model size makes it
download one at run time.
"""

import io
import math
import re
import threading
from dataclasses import dataclass
from statistics import median

import numpy as np
from PIL import ExifTags, Image, ImageOps
from rapidocr import RapidOCR

# Longer side the photo is reduced to before OCR (RapidOCR itself stops at 2000). Measured on
# lists photographed from afar (small text): 0.06% character error at 2000, 0.1% at 1280,
# 3% when text detection is capped at 960.
MAX_SIDE = 2000
# A phone camera photo has 12-50 megapixels; more than this is refused before it is decoded.
MAX_PIXELS = 60_000_000
# Photo formats only (Pillow would hand an EPS file to Ghostscript); JPEG covers MPO.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
# Lower thresholds than RapidOCR's defaults keep faint and handwriting-like text (9.5% -> 3.7%
# character error there; printed lists read the same either way). No angle classifier: it
# turned long, slightly tilted lines upside down (3.5% -> 0.2% character error on printed
# lists), and a photo is upright once its EXIF orientation is applied.
PARAMS = {
    "Global.use_cls": False,
    "Global.text_score": 0.3,
    "Det.thresh": 0.2,
    "Det.box_thresh": 0.3,
    "Global.log_level": "warning",
}


class ImageError(Exception):
    """A photo we cannot read; `code` is stable, the message is for the retailer."""

    code = "IMAGE_ERROR"


class ImageTooLarge(ImageError):
    code = "IMAGE_TOO_LARGE"


class UnreadableImage(ImageError):
    code = "IMAGE_UNREADABLE"


@dataclass(frozen=True)
class OcrResult:
    lines: list[str]  # top to bottom
    mean_score: float  # RapidOCR's confidence over the text read, 0 when there is none
    width: int  # of the photo as sent, upright
    height: int

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


# One engine per process. One call at a time: onnxruntime already uses every core for one image.
_engine: RapidOCR | None = None
_lock = threading.Lock()


def read_image(data: bytes, max_bytes: int) -> OcrResult:
    """The lines of text in a photo (JPEG, PNG, WebP, ...), top to bottom."""
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"The photo is too large ({_megabytes(len(data))}; the limit is "
            f"{_megabytes(max_bytes)}). Please send a smaller photo."
        )
    image, width, height = _decode(data)
    global _engine
    with _lock:
        if _engine is None:
            _engine = RapidOCR(params=PARAMS)
        output = _engine(image)
    if output.txts is None:
        return OcrResult([], 0.0, width, height)
    lines = [_fix_slips(line) for line in _merge_lines(output.boxes, output.txts)]
    return OcrResult(lines, float(np.mean(output.scores)), width, height)


def _decode(data: bytes) -> tuple[Image.Image, int, int]:
    """The photo upright, in RGB, its longer side at most MAX_SIDE; and its size as sent."""
    if not data:
        raise UnreadableImage("The photo is empty. Please send it again.")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        if image.width * image.height > MAX_PIXELS:
            raise _too_many_pixels(image.width * image.height)
        width, height = image.size
        if image.getexif().get(ExifTags.Base.Orientation) in (5, 6, 7, 8):
            width, height = height, width
        image.thumbnail((MAX_SIDE, MAX_SIDE))  # a JPEG is decoded at 1/2, 1/4 or 1/8 scale
        image = ImageOps.exif_transpose(image)
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            # Transparent pixels are often black underneath: on white, black text stays legible.
            image = Image.alpha_composite(
                Image.new("RGBA", image.size, "white"), image.convert("RGBA")
            )
        return image.convert("RGB"), width, height
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels(None) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise UnreadableImage(
            "We could not open this photo. Please send it again as a JPEG or PNG photo."
        ) from exc


def _too_many_pixels(pixels: int | None) -> UnreadableImage:
    size = f" ({pixels / 1e6:.0f} megapixels)" if pixels else ""
    return UnreadableImage(
        f"The photo has too many pixels{size}. Please send an ordinary camera photo."
    )


def _megabytes(size: int) -> str:
    return f"{size / (1 << 20):.1f} MB"


def _merge_lines(boxes: np.ndarray, txts: tuple[str, ...]) -> list[str]:
    """Boxes side by side whose vertical centres overlap on the page, turned upright, form one
    line. The boxes' own slopes are rough for short words (1.5 degrees on a page tilted by 3),
    so tilts around them are tried and the one that gathers the boxes into the fewest lines is
    kept."""
    slope = median(math.atan2(box[1][1] - box[0][1], box[1][0] - box[0][0]) for box in boxes)
    tilts = sorted(
        (slope + math.radians(step / 2) for step in range(-6, 7)),
        key=lambda tilt: abs(tilt - slope),
    )  # on a tie, the closest to the slope
    lines = min((_rows(boxes, tilt) for tilt in tilts), key=len)
    return [" ".join(txts[i] for i in line) for line in lines]


def _rows(boxes: np.ndarray, tilt: float) -> list[list[int]]:
    """Box numbers in lines, top to bottom and left to right on the page turned by -tilt."""
    x, y = boxes.mean(axis=1).T
    cos, sin = math.cos(tilt), math.sin(tilt)
    across, down = cos * x + sin * y, cos * y - sin * x
    widths = (
        np.linalg.norm(boxes[:, 1] - boxes[:, 0], axis=1)
        + np.linalg.norm(boxes[:, 2] - boxes[:, 3], axis=1)
    ) / 2
    heights = (
        np.linalg.norm(boxes[:, 3] - boxes[:, 0], axis=1)
        + np.linalg.norm(boxes[:, 2] - boxes[:, 1], axis=1)
    ) / 2
    lines: list[list[int]] = []
    for box in np.argsort(down, kind="stable").tolist():
        line = lines[-1] if lines else None
        if line is not None and (
            abs(down[box] - down[line].mean()) < min(heights[box], *heights[line]) / 2
            and all(
                abs(across[box] - across[other]) > max(widths[box], widths[other]) / 2
                for other in line
            )  # a box above or below another is on another line
        ):
            line.append(box)
        else:
            lines.append([box])
    return [sorted(line, key=lambda box: across[box]) for line in lines]


def _fix_slips(line: str) -> str:
    """What the recogniser misreads in order lists, written as the retailer meant. "1l 12 pcs"
    is read "11 12 pcs" in most fonts (a size is never a bare number followed by the quantity),
    sometimes "1I 12 pcs"; on handwriting-like fonts "1kg" is read "lkg" or "Ikg" and "x" "×"."""
    line = re.sub(r"\b(\d+)1(?= \d)", r"\1l", line)
    line = re.sub(r"(?<=\d)I\b", "l", line)
    line = re.sub(r"(?<![A-Za-z])[lI](?=kg\b)", "1", line)
    return line.replace("×", "x")
