"""Audio in and out: any container decoded with PyAV, telephone μ-law, resampling, OGG/Opus.

Speech models want 16 kHz mono float samples; Twilio speaks 8 kHz μ-law; WhatsApp voice notes
are OGG/Opus. Everything here works on numpy arrays (int16 PCM or float32 in [-1, 1]); no
ffmpeg binary and no `audioop` (deprecated) are needed.
"""

import io
from dataclasses import dataclass

import av
import numpy as np

STT_RATE = 16000
PHONE_RATE = 8000


class UnreadableAudio(ValueError):
    """The bytes are not audio we can decode (corrupt, empty, or no audio stream)."""


@dataclass(frozen=True)
class Decoded:
    samples: np.ndarray  # float32 mono at the asked rate, at most `max_seconds` long
    duration_s: float  # of the whole recording, when the container says; else what was read
    truncated: bool  # cut at `max_seconds`


def decode(data: bytes, rate: int = STT_RATE, max_seconds: float | None = None) -> Decoded:
    """Decode OGG/Opus, MP3, AAC, WAV, AMR ... to mono float32 at `rate`, reading at most
    `max_seconds` (a 10-minute voice note is not decoded whole to be cut afterwards)."""
    if not data:
        raise UnreadableAudio("the audio is empty")
    limit = None if max_seconds is None else int(max_seconds * rate)
    chunks: list[np.ndarray] = []
    read = 0
    truncated = False
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise UnreadableAudio("there is no audio in it")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
            frames = container.decode(stream)
            for frame in frames:
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    read += len(chunk)
                if limit is not None and read >= limit:
                    truncated = True
                    break
            if not truncated:
                for out in resampler.resample(None):  # flush what the resampler holds
                    chunks.append(out.to_ndarray().reshape(-1))
            duration = _duration(container, stream)
    except UnreadableAudio:
        raise
    except (av.error.FFmpegError, ValueError, IndexError, EOFError) as exc:
        raise UnreadableAudio(f"the audio could not be decoded ({type(exc).__name__})") from exc
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if limit is not None:
        samples = samples[:limit]
    if not len(samples):
        raise UnreadableAudio("the audio has no samples")
    return Decoded(
        samples.astype(np.float32, copy=False), max(duration or 0.0, len(samples) / rate), truncated
    )


def _duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


# G.711 μ-law, as Twilio Media Streams send and expect it.
_BIAS = 0x84
_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


def _mulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign, exponent, mantissa = codes & 0x80, (codes >> 4) & 0x07, codes & 0x0F
    magnitude = (((mantissa << 3) + _BIAS) << exponent) - _BIAS
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


MULAW_TO_PCM = _mulaw_table()


def mulaw_to_pcm(data: bytes) -> np.ndarray:
    """8-bit μ-law bytes → int16 samples."""
    return MULAW_TO_PCM[np.frombuffer(data, dtype=np.uint8)]


def pcm_to_mulaw(samples: np.ndarray) -> bytes:
    """int16 samples → 8-bit μ-law bytes (the reference G.711 encoder, on 14-bit values)."""
    pcm = samples.astype(np.int32) >> 2
    negative = pcm < 0
    magnitude = np.minimum(np.where(negative, -pcm, pcm), 8159) + 0x21
    segment = np.searchsorted(_SEGMENT_ENDS, magnitude)
    code = np.where(segment > 7, 0x7F, (segment << 4) | ((magnitude >> (segment + 1)) & 0x0F))
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8).tobytes()


def to_int16(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.int16:
        return samples
    return (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)


def to_float(samples: np.ndarray) -> np.ndarray:
    if samples.dtype == np.float32:
        return samples
    return samples.astype(np.float32) / 32768.0


class Resampler:
    """Mono int16 from one rate to another, in chunks (libswresample keeps the filter state
    between them, so a stream resampled 20 ms at a time has no clicks at the seams)."""

    def __init__(self, from_rate: int, to_rate: int) -> None:
        self.from_rate, self.to_rate = from_rate, to_rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)

    def push(self, samples: np.ndarray) -> np.ndarray:
        if self.from_rate == self.to_rate:
            return to_int16(samples)
        return self._run(_frame(to_int16(samples), self.from_rate))

    def flush(self) -> np.ndarray:
        return self._run(None)

    def _run(self, frame) -> np.ndarray:
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def _frame(samples: np.ndarray, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    return frame


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """A whole clip, int16 in and out."""
    resampler = Resampler(from_rate, to_rate)
    out = [resampler.push(samples), resampler.flush()]
    return np.concatenate(out)


def encode_ogg_opus(samples: np.ndarray, rate: int) -> bytes:
    """int16 mono → an OGG/Opus voice note (what WhatsApp plays as a voice message)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=48000, layout="mono")
        stream.bit_rate = 32000
        resampler = av.AudioResampler(format="s16", layout="mono", rate=48000)
        frame = _frame(to_int16(samples), rate)
        for out in [*resampler.resample(frame), *resampler.resample(None)]:
            out.pts = None
            for packet in stream.encode(out):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


def encode_wav(samples: np.ndarray, rate: int) -> bytes:
    """int16 mono → WAV bytes (tests, the eval, debugging)."""
    import wave

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(to_int16(samples).tobytes())
    return buffer.getvalue()
