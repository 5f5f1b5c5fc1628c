"""The offline `local` engine: espeak-ng speaks, Whisper (faster-whisper) listens, with no key and no network."""

from __future__ import annotations

import io
import itertools
import re
import statistics
import struct
import threading
import time
from typing import Any

import av
import jiwer
import pytest

from speech_common import engines
from speech_common.audio import AudioUpload, sniff_audio_format
from speech_common.deadline import Deadline
from speech_common.engines import local
from speech_common.engines.base import (
    SpeechRequest,
    SpeechToTextEngine,
    TextToSpeechEngine,
    TranscriptionRequest,
)
from speech_common.engines.local import ESPEAK_VOICES
from speech_common.errors import InvalidRequest, UpstreamFailure
from speech_common.settings import get_settings
from speech_common.transcode import (
    OUTPUT_FORMATS,
    OUTPUT_SAMPLE_RATE,
    encode_pcm,
    resample_pcm,
)
from speech_common.vocabulary import DOCUMENTED_VOICES
from tests.audio_helpers import decode_to_pcm, duration_seconds
from tests.helpers import ROOT

SENTENCE = "hello world this is a test"
PANGRAM = "the quick brown fox jumps over the lazy dog"
# The first five Harvard sentences (IEEE 1969), as bench/offline_wer.py reads them.
HARVARD = (
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. "
    "It's easy to tell the depth of a well. These days a chicken leg is a rare dish. "
    "Rice is often served in round bowls."
)
# A human reading (LibriVox, public domain; bench/held_set/README.md) and what was said.
HUMAN_RECORDING = ROOT / "bench" / "held_set" / "librivox" / "sense_and_sensibility_01_austen_64kb-0870.wav"
HUMAN_WORDS = "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them"


@pytest.fixture
def tts() -> TextToSpeechEngine:
    return engines.tts_engine("local", get_settings())


@pytest.fixture
def stt() -> SpeechToTextEngine:
    return engines.stt_engine("local", get_settings())


def speak(
    tts: TextToSpeechEngine,
    text: str = SENTENCE,
    *,
    voice: str = "alloy",
    response_format: str = "mp3",
    speed: float = 1.0,
) -> bytes:
    request = SpeechRequest(text=text, voice=voice, response_format=response_format, speed=speed)
    return tts.synthesize(request, upstream_model="tts-1", deadline=Deadline(30))


def voice_traits(pcm_24k: bytes) -> tuple[float, float]:
    """(median pitch in Hz, brightness in zero crossings per second) over the loud 40 ms frames.

    Pitch is found by autocorrelation in 60-400 Hz; brightness follows the formants a variant moves.
    """
    rate = 8_000
    pcm = resample_pcm(pcm_24k, from_rate=OUTPUT_SAMPLE_RATE, to_rate=rate)
    samples = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    size = rate // 25
    pitches: list[float] = []
    crossings: list[float] = []
    for start in range(0, len(samples) - size, size):
        frame = samples[start : start + size]
        if sum(value * value for value in frame) < size * 1000**2:
            continue  # a pause or a soft consonant
        scores = {
            lag: sum(a * b for a, b in zip(frame[0 : size - lag : 2], frame[lag:size:2], strict=True))
            for lag in range(rate // 400, rate // 60)
        }
        pitches.append(rate / max(scores, key=scores.__getitem__))
        crossings.append(sum(1 for a, b in itertools.pairwise(frame) if (a < 0) != (b < 0)) * 25)
    return statistics.median(pitches), statistics.mean(crossings)


def transcribe(
    stt: SpeechToTextEngine, data: bytes, deadline: Deadline | None = None, language: str | None = None
) -> str:
    upload = AudioUpload(data=data, format=sniff_audio_format(data) or "mp3")
    return stt.transcribe(
        TranscriptionRequest(upload, language=language),
        upstream_model="whisper-1",
        deadline=deadline or Deadline(30),
    ).text


def words(text: str) -> list[str]:
    """Lower-case words, punctuation gone ("Mr." is "mister"), to compare a transcript with what was said."""
    spelled = re.sub(r"[^a-z' ]", " ", text.lower().replace("-", " ")).split()
    return ["mister" if word == "mr" else word for word in spelled]


def espeak_wav(text: str, espeak_voice: str) -> bytes:
    """`text` read by any espeak-ng voice (the API's six are English), as wav."""
    with local._ESPEAK_LOCK:
        espeak = local._espeak_instance()
        pcm = espeak.synthesize(text, local.EspeakVoice(espeak_voice, 50, 50), 150, Deadline(10))
        return encode_pcm(pcm, sample_rate=espeak.sample_rate, fmt="wav")


def test_the_local_engine_is_registered_under_its_name(
    tts: TextToSpeechEngine, stt: SpeechToTextEngine
) -> None:
    # Given the registry's local engines / When their names are read / Then both are "local"
    assert (tts.name, stt.name) == ("local", "local")
    # And espeak-ng has a voice for each documented voice, and no other
    assert set(ESPEAK_VOICES) == set(DOCUMENTED_VOICES)


@pytest.mark.parametrize("voice", DOCUMENTED_VOICES)
def test_each_voice_speaks_a_decodable_mp3(tts: TextToSpeechEngine, voice: str) -> None:
    # Given a documented voice / When it reads a sentence as mp3
    data = speak(tts, voice=voice)

    # Then the bytes are an mp3 a client can play: about two seconds of speech, not silence
    assert sniff_audio_format(data) == "mp3"
    assert 1.0 < duration_seconds(data) < 4.0
    pcm = decode_to_pcm(data, sample_rate=16_000)
    assert max(map(abs, struct.unpack(f"<{len(pcm) // 2}h", pcm))) > 3000


def test_the_six_voices_sound_different(tts: TextToSpeechEngine) -> None:
    # Given the same sentence / When each voice reads it as raw PCM
    traits = {
        voice: voice_traits(speak(tts, voice=voice, response_format="pcm")) for voice in DOCUMENTED_VOICES
    }

    # Then every two voices differ by over 8% in pitch or in brightness (a voice varies ~3% a run)
    def apart(a: float, b: float) -> bool:
        return max(a, b) / min(a, b) > 1.08

    for first, second in itertools.combinations(DOCUMENTED_VOICES, 2):
        (pitch_1, bright_1), (pitch_2, bright_2) = traits[first], traits[second]
        assert apart(pitch_1, pitch_2) or apart(bright_1, bright_2), (first, second, traits)
    # And the deep voice is the lowest, the two women's voices above every man's
    pitches = {voice: pitch for voice, (pitch, _) in traits.items()}
    assert min(pitches, key=pitches.__getitem__) == "onyx"
    assert (
        min(pitches["nova"], pitches["shimmer"])
        > 150
        > max(pitches[voice] for voice in ("alloy", "echo", "fable", "onyx"))
    )


@pytest.mark.parametrize("fmt", OUTPUT_FORMATS)
def test_every_response_format_is_produced(tts: TextToSpeechEngine, fmt: str) -> None:
    # Given a response_format / When the sentence is spoken in it
    data = speak(tts, response_format=fmt)

    # Then it decodes (pcm: raw 24 kHz samples) to about the same two seconds as the wav answer
    wav_seconds = duration_seconds(speak(tts, response_format="wav"))
    if fmt == "pcm":
        assert len(data) % 2 == 0
        seconds = len(data) / 2 / OUTPUT_SAMPLE_RATE
    else:
        with av.open(io.BytesIO(data)) as container:
            assert container.streams.audio
        seconds = duration_seconds(data)
    assert seconds == pytest.approx(wav_seconds, abs=0.1)


def test_speed_changes_the_duration(tts: TextToSpeechEngine) -> None:
    # Given the documented range of speeds / When the same sentence is spoken at each
    seconds = {
        speed: len(speak(tts, speed=speed, response_format="pcm")) / 2 / OUTPUT_SAMPLE_RATE
        for speed in (0.25, 0.5, 1.0, 2.0, 4.0)
    }

    # Then faster is shorter, and the ends of the range are several times slower / faster
    assert seconds[0.25] > seconds[0.5] > seconds[1.0] > seconds[2.0] > seconds[4.0]
    assert seconds[0.25] / seconds[1.0] > 3  # below espeak-ng's 80 wpm, slowed on the audio
    assert seconds[1.0] / seconds[4.0] > 3


# pocketsphinx, the engine before Whisper, heard none of the pangram's words. Whisper base heard 6-8
# of the 9 from alloy in 32 runs (espeak-ng's audio varies a little from call to call), most often
# "the quick round fox jumps over the lazy dog".
@pytest.mark.parametrize("fmt", ["mp3", "flac"])
def test_round_trip_speech_is_recognised(tts: TextToSpeechEngine, stt: SpeechToTextEngine, fmt: str) -> None:
    # Given the default voice reading the pangram
    data = speak(tts, PANGRAM, voice="alloy", response_format=fmt)

    # When the local recogniser transcribes it
    transcript = transcribe(stt, data)

    # Then most of its 9 words come back
    heard = words(transcript)
    assert sum(1 for word in PANGRAM.split() if word in heard) >= 5, transcript


def test_a_spoken_paragraph_comes_back_with_few_words_wrong(
    tts: TextToSpeechEngine, stt: SpeechToTextEngine
) -> None:
    # Given the default voice reading a paragraph of 37 words (pocketsphinx got 78% of them wrong;
    # Whisper 12-20% in 24 runs)
    data = speak(tts, HARVARD, voice="alloy")

    # When the local recogniser transcribes it
    transcript = transcribe(stt, data)

    # Then under 30% of the words are wrong (substituted, left out or added)
    assert jiwer.wer(" ".join(words(HARVARD)), " ".join(words(transcript)) or "-") < 0.3, transcript


def test_a_human_recording_is_transcribed_word_for_word(stt: SpeechToTextEngine) -> None:
    # Given a sentence a person read (not made by this project; pocketsphinx got 41% of its words wrong)
    data = HUMAN_RECORDING.read_bytes()

    # When the local recogniser transcribes it
    transcript = transcribe(stt, data)

    # Then every word comes back, in order ("Mr." for "mister", punctuation aside)
    assert words(transcript) == HUMAN_WORDS.split(), transcript


def test_the_language_asked_for_reaches_whisper_and_german_is_heard_as_german(
    stt: SpeechToTextEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given German speech (espeak-ng's German voice), and the model's calls watched
    data = espeak_wav("Guten Morgen. Wie geht es dir heute?", "de")
    with local._RECOGNISER_LOCK:
        model = local._recogniser_instance()._model
    asked_for: list[str | None] = []
    real_transcribe = model.transcribe

    def watched(*args: Any, **kwargs: Any) -> Any:
        asked_for.append(kwargs.get("language"))
        return real_transcribe(*args, **kwargs)

    monkeypatch.setattr(model, "transcribe", watched)

    # When transcribed with language "de", then with none
    asked, detected = transcribe(stt, data, language="de"), transcribe(stt, data)

    # Then Whisper was told "de", then left to detect it, and both transcripts are German
    assert asked_for == ["de", None]
    for transcript in (asked, detected):
        heard = words(transcript)
        assert (
            sum(1 for word in ("guten", "morgen", "wie", "geht", "es", "dir", "heute") if word in heard) >= 6
        ), transcript


def test_a_language_whisper_does_not_know_is_the_clients_error(
    tts: TextToSpeechEngine, stt: SpeechToTextEngine
) -> None:
    # Given speech and a well-formed ISO-639-1 code that Whisper has no model for (Zulu)
    data = speak(tts, "one two three")

    # When transcribed in that language
    with pytest.raises(InvalidRequest) as caught:
        transcribe(stt, data, language="zu")

    # Then the client is told (400), naming the language
    assert caught.value.code == "unsupported_language"
    assert "'zu'" in caught.value.detail


def test_the_model_is_loaded_once_per_process_and_kept(
    tts: TextToSpeechEngine, stt: SpeechToTextEngine
) -> None:
    # Given a recording / When two requests are transcribed, by two engine instances
    data = speak(tts, "one two three")
    transcribe(stt, data)
    first = local._recogniser
    transcribe(engines.stt_engine("local", get_settings()), data)

    # Then both used the one model the first loaded
    assert first is not None and local._recogniser is first


def test_a_damaged_model_is_reported_as_not_configured(
    tts: TextToSpeechEngine, stt: SpeechToTextEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given no model loaded yet, and model parts that do not join to the expected model.bin
    monkeypatch.setattr(local, "_recogniser", None)
    monkeypatch.setattr(local, "_MODEL_BIN_SHA256", "0" * 64)

    # When a recording is transcribed
    with pytest.raises(UpstreamFailure) as caught:
        transcribe(stt, speak(tts, "one two three"))

    # Then the operator is told the engine is not set up, and no model was kept
    assert caught.value.code == UpstreamFailure.NOT_CONFIGURED
    assert local._recogniser is None


def test_a_transcript_does_not_depend_on_earlier_requests(
    tts: TextToSpeechEngine, stt: SpeechToTextEngine
) -> None:
    # Given two recordings
    first = speak(tts, SENTENCE, voice="alloy")
    other = speak(tts, "please call me tomorrow morning", voice="nova")

    # When the first is transcribed before and after the other
    before = transcribe(stt, first)
    transcribe(stt, other)
    after = transcribe(stt, first)

    # Then the recogniser gave the same answer (it does not carry adaptation across requests)
    assert before == after


def test_an_unknown_voice_is_refused(tts: TextToSpeechEngine) -> None:
    # Given a voice outside the documented six (a Realtime one) / When asked
    with pytest.raises(InvalidRequest) as caught:
        speak(tts, voice="ballad")
    # Then the client is told which voices there are
    assert caught.value.code == "unsupported_voice"
    assert "alloy, echo, fable, onyx, nova, shimmer" in caught.value.detail


def test_silence_transcribes_to_an_empty_string(stt: SpeechToTextEngine) -> None:
    # Given a second of silence as wav / When transcribed / Then nothing is recognised
    silence = encode_pcm(bytes(32_000), sample_rate=16_000, fmt="wav")
    assert transcribe(stt, silence) == ""


@pytest.mark.parametrize("data", [b"OggS" + b"\x00" * 400, b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 64])
def test_undecodable_audio_is_the_clients_error(stt: SpeechToTextEngine, data: bytes) -> None:
    # Given bytes that look like audio but do not decode / When transcribed
    with pytest.raises(InvalidRequest) as caught:
        transcribe(stt, data)
    # Then the client is told (400), not the operator (500)
    assert caught.value.code == "unsupported_audio"
    assert caught.value.detail == "The audio could not be decoded"


def test_a_spent_deadline_stops_both_directions(tts: TextToSpeechEngine, stt: SpeechToTextEngine) -> None:
    # Given an invocation with no time left / When either direction is asked
    # Then neither starts the work: both answer with the upstream timeout
    audio = speak(tts, "one two three")
    for run in (
        lambda: tts.synthesize(
            SpeechRequest(text="hi", voice="alloy", response_format="mp3"),
            upstream_model="tts-1",
            deadline=Deadline(0),
        ),
        lambda: transcribe(stt, audio, deadline=Deadline(0)),
    ):
        with pytest.raises(UpstreamFailure) as caught:
            run()
        assert caught.value.code == UpstreamFailure.TIMEOUT


def test_a_deadline_passing_mid_synthesis_stops_it_early(tts: TextToSpeechEngine) -> None:
    # Given the longest input (4096 characters, about four minutes of speech) and 50 ms to do it
    text = ("This sentence is repeated until the input is as long as it may be. " * 70)[:4096]
    request = SpeechRequest(text=text, voice="alloy", response_format="mp3")
    started = time.monotonic()

    # When it is synthesised
    with pytest.raises(UpstreamFailure) as caught:
        tts.synthesize(request, upstream_model="tts-1", deadline=Deadline(0.05))

    # Then espeak-ng was told to stop: a timeout, long before the whole text could be spoken and encoded
    assert caught.value.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 1.0


def test_two_threads_synthesising_at_once_both_get_their_own_audio(tts: TextToSpeechEngine) -> None:
    # Given two different requests (voice, text and speed) and what each gives when asked alone
    asks = {
        "nova": ("one two three", 2.0),
        "onyx": ("please call me tomorrow morning about the meeting", 0.5),
    }
    alone = {
        voice: speak(tts, text, voice=voice, speed=speed, response_format="pcm")
        for voice, (text, speed) in asks.items()
    }
    results: dict[str, list[bytes]] = {voice: [] for voice in asks}
    failures: list[BaseException] = []
    barrier = threading.Barrier(len(asks))

    def worker(voice: str) -> None:
        text, speed = asks[voice]
        try:
            for _ in range(3):
                barrier.wait(timeout=10)
                results[voice].append(speak(tts, text, voice=voice, speed=speed, response_format="pcm"))
        except BaseException as error:  # reported by the main thread
            failures.append(error)

    # When both are asked at the same moment from two threads, three times
    threads = [threading.Thread(target=worker, args=(voice,)) for voice in asks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # Then every call succeeded with its own request's audio: its length and its voice's pitch
    # (espeak-ng's global voice, rate and buffer were not shared between the two)
    assert not failures
    for voice, outputs in results.items():
        assert len(outputs) == 3
        for output in outputs:
            assert len(output) == pytest.approx(len(alone[voice]), rel=0.03)
            assert voice_traits(output)[0] == pytest.approx(voice_traits(alone[voice])[0], rel=0.1)


def test_segment_and_word_timings_fall_where_the_speech_is(
    tts: TextToSpeechEngine, stt: SpeechToTextEngine
) -> None:
    # Given 2 s of silence, a sentence, 3 s of silence, another sentence and 1 s of silence
    first = speak(tts, "The river is calm today.", response_format="pcm")
    second = speak(tts, "Seven green apples fell.", response_format="pcm")
    gap = bytes(OUTPUT_SAMPLE_RATE * 2)  # a second of silence
    pcm = gap * 2 + first + gap * 3 + second + gap
    seconds_of = lambda part: len(part) / 2 / OUTPUT_SAMPLE_RATE  # noqa: E731
    second_starts = 2 + seconds_of(first) + 3
    total = seconds_of(pcm)
    audio = AudioUpload(encode_pcm(pcm, sample_rate=OUTPUT_SAMPLE_RATE, fmt="wav"), "wav")
    # When it is transcribed with segment and word timings
    result = stt.transcribe(
        TranscriptionRequest(audio, language="en", timings=True, words=True),
        upstream_model="whisper-1",
        deadline=Deadline(60),
    )
    # Then segments come in order within the recording, the first starting near 2 s
    segments = result.segments or ()
    assert segments and result.words
    assert all(0 <= s.start < s.end <= total + 0.3 for s in segments)
    assert [s.start for s in segments] == sorted(s.start for s in segments)
    assert segments[0].start == pytest.approx(2.0, abs=0.7)
    # And the words "river" and "seven" start near where each sentence was spoken
    starts = {re.sub(r"\W", "", w.word.lower()): w.start for w in result.words}
    assert starts["river"] == pytest.approx(2.0 + 0.3, abs=0.8)
    assert starts["seven"] == pytest.approx(second_starts, abs=0.7)
    # And the duration is the recording's, the language the one asked for
    assert result.duration == pytest.approx(total, abs=0.1) and result.language == "en"


def test_without_timings_the_local_engine_gives_the_text_alone(
    stt: SpeechToTextEngine, tts: TextToSpeechEngine
) -> None:
    # Given speech / When transcribed without timings / Then no segments nor words, only the text
    result = stt.transcribe(
        TranscriptionRequest(AudioUpload(speak(tts, "one two three"), "mp3")),
        upstream_model="whisper-1",
        deadline=Deadline(30),
    )
    assert result.segments is None and result.words is None and result.text
