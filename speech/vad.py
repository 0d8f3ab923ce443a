"""Voice activity on a live call: when the caller starts talking, and when their turn is over.

An energy detector over 20 ms frames with a noise floor that follows the line: cheap enough to
run on every frame of every call, and quick to notice speech (barge-in must stop our reply
within 200 ms). Speech is a run of `start_ms` of loud frames; the turn ends after `end_ms` of
quiet. What counts as loud follows the line's noise, so a hissing line does not talk forever.
"""

from dataclasses import dataclass
from enum import StrEnum

import numpy as np


class Event(StrEnum):
    started = "started"  # the caller began to speak
    paused = "paused"  # quiet for a while: the turn may be over (transcribe it early)
    ended = "ended"  # the caller's turn is over


@dataclass
class VadSettings:
    frame_ms: int = 20
    start_ms: int = 60  # loud this long: speech (barge-in latency is about this)
    pause_ms: int = 200  # quiet this long: transcription may start, speculatively
    end_ms: int = 400  # quiet this long after speech: the turn is over
    min_speech_ms: int = 200  # shorter bursts (a click, a cough) are not a turn
    margin_db: float = 12.0  # above the noise floor
    floor_db: float = -50.0  # never quieter than this counts as speech
    calibrate_ms: int = 200  # the first frames only measure the line's noise
    loudest_floor_db: float = -40.0  # a noisier start is taken as speech, not as the floor


def level_db(frame: np.ndarray) -> float:
    """RMS level of int16 samples in dB below full scale."""
    if not len(frame):
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float64))))) / 32768.0
    return 20.0 * np.log10(max(rms, 1e-6))


class TurnDetector:
    """Feed 20 ms frames in order; get `Event`s. Holds the samples of the current turn."""

    def __init__(self, rate: int, settings: VadSettings | None = None) -> None:
        self.rate = rate
        self.settings = settings or VadSettings()
        self.noise_db = -60.0
        self.speaking = False
        self._loud_ms = 0
        self._quiet_ms = 0
        self._speech_ms = 0
        self._turn: list[np.ndarray] = []
        self._lead: list[np.ndarray] = []  # the frames just before speech was noticed
        self._calibrating = self.settings.calibrate_ms // self.settings.frame_ms
        self._levels: list[float] = []

    def push(self, frame: np.ndarray) -> list[Event]:
        s = self.settings
        level = level_db(frame)
        if self._calibrating > 0:  # a call opens on the line's own noise: that is the floor
            self._calibrating -= 1
            self._levels.append(level)
            self._lead.append(frame)
            # a caller talking from the first moment must not become the floor
            self.noise_db = min(float(np.median(self._levels)), s.loudest_floor_db)
            return []
        loud = level > max(self.noise_db + s.margin_db, s.floor_db)
        if not loud:  # the floor follows quiet frames quickly, loud ones never
            self.noise_db += (level - self.noise_db) * (0.05 if level > self.noise_db else 0.2)
        events: list[Event] = []
        if not self.speaking:
            keep = (s.calibrate_ms + s.start_ms) // s.frame_ms + 5
            self._lead = (self._lead + [frame])[-keep:]
            self._loud_ms = self._loud_ms + s.frame_ms if loud else 0
            if self._loud_ms >= s.start_ms:
                self.speaking, self._quiet_ms = True, 0
                self._turn, self._lead = list(self._lead), []
                self._speech_ms = self._loud_ms
                events.append(Event.started)
            return events
        self._turn.append(frame)
        if loud:
            self._quiet_ms = 0
            self._speech_ms += s.frame_ms
        else:
            self._quiet_ms += s.frame_ms
            if self._quiet_ms == s.pause_ms and self._speech_ms >= s.min_speech_ms:
                events.append(Event.paused)
        if self._quiet_ms >= s.end_ms:
            self.speaking, self._loud_ms = False, 0
            if self._speech_ms >= s.min_speech_ms:
                events.append(Event.ended)
            else:
                self._turn = []
        return events

    def finish(self) -> list[Event]:
        """The line went dead: a turn being spoken is over now (a caller who hangs up right
        after their order has still said it)."""
        if not self.speaking:
            return []
        self.speaking, self._loud_ms = False, 0
        if self._speech_ms >= self.settings.min_speech_ms:
            return [Event.ended]
        self._turn = []
        return []

    def take_turn(self) -> np.ndarray:
        """The samples of the turn that just ended (and forget them)."""
        turn, self._turn = self._turn, []
        return np.concatenate(turn) if turn else np.zeros(0, dtype=np.int16)

    def turn_so_far(self) -> np.ndarray:
        """The samples of the turn being spoken (kept)."""
        return np.concatenate(self._turn) if self._turn else np.zeros(0, dtype=np.int16)

    def reset(self) -> None:
        self.speaking, self._loud_ms, self._quiet_ms, self._speech_ms = False, 0, 0, 0
        self._turn, self._lead = [], []
