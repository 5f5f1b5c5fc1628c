"""The `polly` engine: text to speech through Amazon Polly's SynthesizeSpeech (boto3).

Routes name the Polly engine as the upstream model, e.g.
    TTS_MODEL_ROUTES="tts-1=polly:neural;tts-1-hd=polly:generative,polly:neural"
or, as a fallback after OpenAI, `tts-1=openai:tts-1,polly:neural`. Upstream models: `standard`,
`neural`, `long-form`, `generative` (which voices support which engine: Polly's voice list).
An engine the voice does not support answers `voice_unavailable`: the route chain moves on for
that request only (other voices may well be served by that engine).

Voices: settings.polly_voice_map ("alloy=Joanna;echo=Matthew;...", POLLY_VOICE_MAP in the
environment) maps each documented voice to a Polly VoiceId. A voice missing from the map gets the
map's default: the entry for `alloy` (the API's default voice), else the first entry, else Joanna.

Length: SynthesizeSpeech takes at most 3,000 billed characters (6,000 in all, SSML tags counted
there but not billed). Longer text is cut at sentence ends, else between words, into chunks of at
most MAX_CHUNK_CHARS; with SSML a chunk is measured after XML escaping, so both limits hold. Each
chunk is one call (sequential, in text order). Chunks are asked for as PCM (s16le mono, 16 kHz,
valid for every Polly engine), joined and encoded once, so the answer is one valid stream in any
format. A one-chunk mp3 at normal speed is asked for as mp3 (24 kHz) and returned as is.

Speed: `<prosody rate="NN%">` around the escaped text (TextType ssml) when speed != 1.0. Polly
accepts 20%-200%; the part of a speed above 2.0 is applied locally to the PCM (tempo, same pitch).

Time: the client's connect and read timeouts come from the deadline (whole seconds, never more
than what is left), botocore does not retry (total_max_attempts=1): this module retries throttling
and service failures itself, never starting an attempt with less than MIN_ATTEMPT_SECONDS left.
One client per engine instance, rebuilt only when its timeouts no longer fit the time left.
Those timeouts are per network read, not per call (and a read of n bytes goes on while bytes
trickle in): the AudioStream is read in chunks, the deadline is checked between them, and a
watchdog shuts the socket down at the deadline, so a slow or stalled stream ends then
(`upstream_timeout`, not retried).

IAM: the function needs `polly:SynthesizeSpeech` (Resource "*"; with lexicons, their ARNs
arn:aws:polly:<region>:<account>:lexicon/<name>). Text and audio are never logged.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final
from xml.sax.saxutils import escape

from speech_common.audio import is_audio_of
from speech_common.deadline import Deadline
from speech_common.engines.base import SpeechRequest, TextToSpeechEngine
from speech_common.engines.pcm import join_pcm, split_speed
from speech_common.engines.retry import MIN_ATTEMPT_SECONDS, retry_within_deadline
from speech_common.engines.streaming import botocore_socket, read_within
from speech_common.engines.upstream_errors import UnexpectedAnswer, botocore_is_transient, from_botocore
from speech_common.errors import UpstreamFailure
from speech_common.settings import Settings
from speech_common.text_chunks import split_text
from speech_common.transcode import change_tempo, encode_pcm

if TYPE_CHECKING:
    from boto3.session import Session

POLLY_ENGINES: Final = frozenset({"standard", "neural", "long-form", "generative"})
MAX_CHUNK_CHARS: Final = 3000  # Polly's billed-character limit per SynthesizeSpeech call
PCM_SAMPLE_RATE: Final = 16_000  # the highest PCM rate Polly offers (8000 or 16000), for every engine
MP3_SAMPLE_RATE: Final = "24000"  # what OpenAI's mp3 answers use; valid for mp3 on every Polly engine
FALLBACK_VOICE: Final = "Joanna"
DEFAULT_API_VOICE: Final = "alloy"
# Polly's prosody rate range, in percent.
MIN_RATE_PERCENT: Final = 20
MAX_RATE_PERCENT: Final = 200
# An attempt with less time than this left is not worth starting.
CONNECT_TIMEOUT_SECONDS: Final = 2.0
STREAM_CHUNK_BYTES: Final = 16 * 1024  # about 0.5 s of 16 kHz PCM: the deadline is checked that often

# Characters XML 1.0 forbids: they would make the SSML invalid, and they are not speech anyway.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")

# ---------------------------------------------------------------------------------------------
# Pure helpers (voices, text, SSML, speed)


def polly_voice(voice: str, voice_map: dict[str, str]) -> str:
    """The Polly VoiceId for a documented voice; unmapped voices get the map's default."""
    if voice.lower() in voice_map:
        return voice_map[voice.lower()]
    if DEFAULT_API_VOICE in voice_map:
        return voice_map[DEFAULT_API_VOICE]
    return next(iter(voice_map.values()), FALLBACK_VOICE)


def ssml_size(text: str) -> int:
    """Characters `text` takes once escaped into SSML (additive: size(a + b) == size(a) + size(b))."""
    return len(escape(text))


def clean_for_xml(text: str) -> str:
    return _XML_ILLEGAL.sub(" ", text)


def polly_rate(speed: float) -> tuple[int, float]:
    """(prosody rate in whole percent, tempo factor still to apply locally); together they make `speed`."""
    upstream, _ = split_speed(speed, lowest=MIN_RATE_PERCENT / 100, highest=MAX_RATE_PERCENT / 100)
    percent = round(upstream * 100)
    return percent, speed / (percent / 100)


def to_ssml(text: str, rate_percent: int) -> str:
    return f'<speak><prosody rate="{rate_percent}%">{escape(text)}</prosody></speak>'


# ---------------------------------------------------------------------------------------------
# The engine


@dataclass(frozen=True)
class _TimedClient:
    client: Any  # a botocore Polly client
    read_timeout: float


class PollyTextToSpeech(TextToSpeechEngine):
    name = "polly"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self._voice_map = settings.polly_voice_map
        self._lock = threading.Lock()
        self._session: Session | None = None
        self._timed: _TimedClient | None = None

    def client(self, deadline: Deadline) -> Any:
        """The engine's Polly client, with timeouts that fit in what is left of `deadline`.

        The cached client is reused while its read timeout is within the time left and at least
        half of it; otherwise it is replaced (connection pool and all) by one built for now.
        """
        remaining = deadline.remaining()
        if remaining < MIN_ATTEMPT_SECONDS:
            raise UpstreamFailure(UpstreamFailure.TIMEOUT, "no time left for the Amazon Polly call")
        with self._lock:
            timed = self._timed
            if timed is not None and remaining / 2 <= timed.read_timeout <= remaining:
                return timed.client
            read_timeout = float(math.floor(remaining))
            try:
                client = self._build_client(read_timeout)
            except Exception as exc:
                raise from_botocore(exc) from None
            self._timed = _TimedClient(client, read_timeout)
            return client

    def _build_client(self, read_timeout: float) -> Any:
        import boto3
        from botocore.config import Config

        if self._session is None:
            self._session = boto3.session.Session()  # own session: the default one is not thread-safe
        config = Config(
            connect_timeout=min(CONNECT_TIMEOUT_SECONDS, read_timeout),
            read_timeout=read_timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},  # retried here, within the deadline
        )
        return self._session.client("polly", config=config)

    def synthesize(self, request: SpeechRequest, *, upstream_model: str, deadline: Deadline) -> bytes:
        if upstream_model not in POLLY_ENGINES:
            raise UpstreamFailure(
                UpstreamFailure.MODEL_UNAVAILABLE,
                f"{upstream_model!r} is not an Amazon Polly engine ({', '.join(sorted(POLLY_ENGINES))})",
            )
        rate_percent, local_tempo = polly_rate(request.speed)
        use_ssml = rate_percent != 100
        text = clean_for_xml(request.text) if use_ssml else request.text
        chunks = split_text(text, MAX_CHUNK_CHARS, size=ssml_size if use_ssml else len) or [text]
        base = {
            "Engine": upstream_model,
            "VoiceId": polly_voice(request.voice, self._voice_map),
            "TextType": "ssml" if use_ssml else "text",
        }

        def text_of(chunk: str) -> str:
            return to_ssml(chunk, rate_percent) if use_ssml else chunk

        needs_local_tempo = not math.isclose(local_tempo, 1.0, abs_tol=0.005)
        if request.response_format == "mp3" and len(chunks) == 1 and not needs_local_tempo:
            mp3 = {"OutputFormat": "mp3", "SampleRate": MP3_SAMPLE_RATE}
            return self._call({**base, **mp3, "Text": text_of(chunks[0])}, deadline)

        pcm_params = {"OutputFormat": "pcm", "SampleRate": str(PCM_SAMPLE_RATE)}
        pcm = join_pcm(
            self._call({**base, **pcm_params, "Text": text_of(chunk)}, deadline) for chunk in chunks
        )
        if needs_local_tempo:
            pcm = change_tempo(pcm, sample_rate=PCM_SAMPLE_RATE, factor=local_tempo)
        return encode_pcm(pcm, sample_rate=PCM_SAMPLE_RATE, fmt=request.response_format)

    def _call(self, params: dict[str, str], deadline: Deadline) -> bytes:
        """One SynthesizeSpeech call and its audio, retried on transient failures within the deadline."""
        from botocore.exceptions import BotoCoreError, ClientError

        def attempt(_seconds_left: float) -> bytes:
            response = self.client(deadline).synthesize_speech(**params)
            stream = response["AudioStream"]
            try:
                audio = _read_within(stream, deadline)
            finally:
                stream.close()
            if not is_audio_of(params["OutputFormat"], audio):
                raise UnexpectedAnswer(f"{params['OutputFormat']} audio")
            return audio

        try:
            return retry_within_deadline(
                attempt,
                deadline=deadline,
                max_attempts=self.settings.upstream_max_attempts,
                is_transient=botocore_is_transient,
            )
        except (ClientError, BotoCoreError, UnexpectedAnswer) as exc:
            raise from_botocore(exc) from None


def _read_within(stream: Any, deadline: Deadline) -> bytes:
    """An AudioStream (botocore StreamingBody) read in chunks, never past the deadline."""
    return read_within(
        stream.iter_chunks(STREAM_CHUNK_BYTES),
        find_socket=lambda: botocore_socket(stream),
        deadline=deadline,
        upstream="Amazon Polly",
    )
