"""speech/: codecs, resampling, voice activity, the call processors, and the bundled Whisper
and Piper models themselves (no fakes: the models ship in the packages)."""

import asyncio
import base64
import io
import wave

import numpy as np
import pytest

from settings import Settings
from speech.audio import (
    UnreadableAudio,
    decode,
    encode_ogg_opus,
    encode_wav,
    mulaw_to_pcm,
    pcm_to_mulaw,
    resample,
)
from speech.pipeline import (
    AudioIn,
    Clear,
    DtmfIn,
    MarkPlayed,
    OutAudio,
    OutMark,
    ProtocolError,
    Speaker,
    SpeechStarted,
    Start,
    Stop,
    TurnAudio,
    TurnTaking,
    TwilioDecoder,
    TwilioEncoder,
)
from speech.stt import HOTWORDS_CHARS, get_stt, model_folder, spoken_names
from speech.tts import get_tts, sentences, speakable
from speech.vad import Event, TurnDetector
from tools.hearing import listen_for_order, nearest_names, tidy
from tools.order_parser import CatalogItem, OrderParser


def tone(seconds: float, rate: int, hz: float = 440, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * hz * t) * level * 32767).astype(np.int16)


@pytest.fixture(scope="module")
def voice():
    return get_tts(Settings(_env_file=None))


@pytest.fixture(scope="module")
def stt():
    return get_stt(Settings(_env_file=None))


def test_mulaw_is_g711():
    assert pcm_to_mulaw(np.array([0, 32767, -32768, 8, -8], dtype=np.int16)) == bytes(
        [0xFF, 0x80, 0x00, 0xFE, 0x7E]
    )
    every_code = bytes(code for code in range(256) if code != 0x7F)  # 0x7F is -0, read as +0
    assert pcm_to_mulaw(mulaw_to_pcm(every_code)) == every_code  # decoding is exact
    speech = tone(0.5, 8000)
    error = np.abs(mulaw_to_pcm(pcm_to_mulaw(speech)).astype(int) - speech)
    assert error.max() < 0.035 * 32767  # about 3% of a loud signal: 8-bit companding


def test_resampling_keeps_length_and_pitch():
    narrow = resample(tone(1.0, 22050, hz=500), 22050, 8000)
    assert abs(len(narrow) - 8000) < 40
    spectrum = np.abs(np.fft.rfft(narrow))
    assert abs(np.argmax(spectrum) * 8000 / len(narrow) - 500) < 5


def test_decode_reads_containers_and_refuses_rubbish():
    wav = encode_wav(tone(2.0, 22050), 22050)
    decoded = decode(wav)
    assert (
        abs(decoded.duration_s - 2.0) < 0.05
        and len(decoded.samples) == pytest.approx(32000, abs=200)
        and decoded.samples.dtype == np.float32
    )
    ogg = encode_ogg_opus(tone(3.0, 16000), 16000)
    assert ogg[:4] == b"OggS" and abs(decode(ogg).duration_s - 3.0) < 0.1
    cut = decode(encode_wav(tone(10.0, 16000), 16000), max_seconds=2)
    assert cut.truncated and len(cut.samples) == 32000 and cut.duration_s > 9.9
    for rubbish in (b"", b"OggS" + b"\x00" * 50, b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, wav[:44]):
        with pytest.raises(UnreadableAudio):
            decode(rubbish)


def test_turn_detector_finds_speech_and_its_end():
    detector = TurnDetector(8000)
    signal = np.concatenate([np.zeros(8000, np.int16), tone(1.0, 8000), np.zeros(8000, np.int16)])
    events = []
    for index in range(0, len(signal), 160):
        events += [(index / 8000, e) for e in detector.push(signal[index : index + 160])]
    (start_at, start), (pause_at, pause), (end_at, end) = events
    assert start is Event.started and 1.0 < start_at <= 1.1  # within 100 ms of the voice
    assert pause is Event.paused and 2.15 < pause_at <= 2.25  # early transcription may start
    assert end is Event.ended and 2.35 < end_at <= 2.45  # 400 ms of quiet
    assert 1.4 <= len(detector.take_turn()) / 8000 <= 1.75  # lead-in, the voice, the quiet


def test_clicks_and_a_hissing_line_are_not_turns():
    detector = TurnDetector(8000)
    rng = np.random.default_rng(0)
    hiss = (rng.standard_normal(8000 * 3) * 300).astype(np.int16)  # about -40 dBFS
    events = []
    for index in range(0, len(hiss), 160):
        events += detector.push(hiss[index : index + 160])
    assert events == []  # the line's own noise is the floor
    click = np.concatenate([tone(0.1, 8000), hiss[:8000]])
    for index in range(0, len(click), 160):
        events += detector.push(click[index : index + 160])
    assert events == [Event.started]  # noticed (it may be a barge-in), but not a turn
    assert detector.finish() == []
    speech = np.concatenate([tone(1.0, 8000) + hiss[:8000], hiss])
    for index in range(0, len(speech), 160):
        events += detector.push(speech[index : index + 160])
    assert events[-3:] == [Event.started, Event.paused, Event.ended]  # over a hiss too


def test_a_turn_cut_by_a_hang_up_still_counts():
    turns = TurnTaking()
    out = turns.process(AudioIn(tone(0.8, 8000)))  # talking from the first moment
    assert [type(f) for f in out] == [SpeechStarted]
    [turn] = turns.flush()
    assert isinstance(turn, TurnAudio) and abs(len(turn.samples) / 16000 - 0.8) < 0.1


def test_twilio_messages_in_and_out():
    decoder = TwilioDecoder()
    payload = base64.b64encode(pcm_to_mulaw(tone(0.02, 8000))).decode()
    start = decoder.decode(
        {
            "event": "start",
            "streamSid": "MZ1",
            "start": {"streamSid": "MZ1", "callSid": "CA1", "customParameters": {"from": "+91"}},
        }
    )
    assert start == Start("MZ1", "CA1", {"from": "+91"})
    audio = decoder.decode({"event": "media", "media": {"track": "inbound", "payload": payload}})
    assert isinstance(audio, AudioIn) and len(audio.samples) == 160
    assert decoder.decode({"event": "dtmf", "dtmf": {"digit": "1"}}) == DtmfIn("1")
    assert decoder.decode({"event": "mark", "mark": {"name": "said-1"}}) == MarkPlayed("said-1")
    assert decoder.decode({"event": "stop"}) == Stop()
    assert decoder.decode({"event": "connected"}) is None
    with pytest.raises(ProtocolError):
        decoder.decode({"event": "media", "media": {"payload": "not base64!"}})
    encoder = TwilioEncoder("MZ1")
    assert encoder.encode(Clear()) == {"event": "clear", "streamSid": "MZ1"}
    assert encoder.encode(OutMark("m"))["mark"] == {"name": "m"}
    assert (
        base64.b64decode(encoder.encode(OutAudio(b"\xff" * 160))["media"]["payload"])
        == b"\xff" * 160
    )


def test_speaking_for_the_ear(voice):
    assert (
        speakable("Order #1001 confirmed: 2 cs Parle-G 250g. Total: ₹1,440 ✅")
        == "Order number 1001 confirmed: 2 cases Parle-G 250 grams. Total: 1440 rupees"
    )
    parts = sentences("I heard 2 cs Parle-G 250g, 1 cs Good Day 200g, 3 cs Maggi 70g. Yes?")
    assert parts[0] == "I heard 2 cs Parle-G 250g," and parts[-1] == "Yes?"
    assert sentences("We do not have that pack of Surf Excel today.") == [
        "We do not have",
        "that pack of Surf Excel today.",
    ]  # the first words heard sooner

    async def speak():
        return [frame async for frame in Speaker(voice).process("Namaste. Two cases.")]

    frames = asyncio.run(speak())
    marks = [f for f in frames if isinstance(f, OutMark)]
    audio = [f for f in frames if isinstance(f, OutAudio)]
    assert len(marks) == 2 and isinstance(frames[-1], OutMark)
    assert all(len(f.mulaw) == 160 for f in audio) and len(audio) > 40  # whole 20 ms frames


def test_what_piper_says_whisper_hears(voice, stt):
    speech = voice.synthesize("Two cases of Parle-G and one case of Thums Up.", steady=True)
    samples = decode(encode_ogg_opus(speech, voice.sample_rate)).samples
    heard = stt.transcribe(samples, hotwords="Parle-G, Thums Up")
    assert "parle-g" in heard.text.lower() and "thums up" in heard.text.lower()
    assert heard.speech_s > 1.5
    quiet = stt.transcribe(np.zeros(16000 * 2, dtype=np.float32))
    assert quiet.text == "" and quiet.speech_s == 0


def test_orders_are_heard_with_catalogue_names(voice, stt):
    catalog = [
        CatalogItem("FANTA750", "Fanta Orange 750ml", "drinks", "750ml", 24, 4000, 4500),
        CatalogItem("LIMCA750", "Limca 750ml", "drinks", "750ml", 24, 4000, 4500),
        CatalogItem("PG250", "Parle-G 250g", "biscuits", "250g", 48, 2500, 2800),
    ]
    parser = OrderParser(catalog)
    assert (
        tidy("Ok, 1k Sprite, 70 grand, 2 leader, 10 rubies, tide 1k G")
        == "Ok, one case Sprite, 70 gram, 2 litre, 10 rupees, tide 1k G"
    )
    assert (
        nearest_names("one case of spanta", ["Parle-G", "Fanta Orange", "Limca"])[0]
        == "Fanta Orange"
    )
    speech = voice.synthesize("Two cases of Limca seven fifty ml.", steady=True)
    samples = decode(encode_wav(speech, voice.sample_rate)).samples
    heard = listen_for_order(stt, samples, parser, hotwords="")
    assert parser.parse(heard.text).lines[0].sku == "LIMCA750"


def test_hotwords_fit_whispers_prompt():
    labels = ["".join(chr(97 + n // 26**i % 26) for i in range(3)) for n in range(500)]
    names = [f"Brand {label} Product {n}g" for n, label in enumerate(labels)]
    words = spoken_names(names, ["Extra"])
    assert len(words) <= HOTWORDS_CHARS < len(words) + 30  # filled, within the prompt
    assert words.startswith("Brand aaa Product, Brand baa Product")  # best sellers first
    assert "g," not in words and "Extra" not in words  # pack sizes dropped; no room left


def test_the_multilingual_model_is_assembled_once(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, stt_model="base")
    folder = model_folder(settings)
    model = folder / "model.bin"
    assert model.stat().st_size > 140_000_000 and (folder / "tokenizer.json").is_file()
    stamp = model.stat().st_mtime_ns
    assert model_folder(settings) == folder and model.stat().st_mtime_ns == stamp
    with pytest.raises(RuntimeError, match="model.bin"):
        model_folder(Settings(_env_file=None, stt_model=str(tmp_path)))


def test_wav_written_is_a_wav():
    with wave.open(io.BytesIO(encode_wav(tone(0.1, 8000), 8000))) as read:
        assert (read.getframerate(), read.getnchannels(), read.getnframes()) == (8000, 1, 800)
