"""Request and answer models of the /api door (the documented contract plus optional extras)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from speech_common.transcript_formats import TranscriptionSegment
from speech_common.vocabulary import (
    MAX_PROMPT_CHARS,
    MAX_TTS_JOB_TEXT_CHARS,
    MAX_TTS_TEXT_CHARS,
    AudioFormat,
    SttModel,
    TranscriptFormat,
    TtsModel,
    Voice,
    speakable,
)

WEBHOOK_URL_DESCRIPTION = (
    "An https URL POSTed the job's JSON (as GET /api/jobs/{job_id} answers it) when the job ends, signed as Standard "
    "Webhooks says; a public address only (400 url_not_allowed otherwise)"
)


class TtsRequest(BaseModel):
    """Body of POST /api/tts/. Unknown fields are refused so that a typo ("voise") is not ignored."""

    model_config = ConfigDict(extra="forbid", strict=True)

    text: str = Field(max_length=MAX_TTS_TEXT_CHARS, description="Text to convert to speech")
    model: TtsModel = Field(default="tts-1", description="tts-1 (default) or tts-1-hd")
    voice: Voice = Field(default="alloy", description="One of the six documented voices")
    response_format: AudioFormat = Field(default="mp3", description="Audio format of audio_base64")
    speed: float = Field(default=1.0, ge=0.25, le=4.0, description="Speaking speed, 0.25 to 4.0")
    delivery: Literal["inline", "url"] = Field(
        default="inline",
        description="inline: audio_base64 in the answer (documented); url: a link to the audio in the bucket",
    )
    clean_text: bool = Field(
        default=True,
        description="Read the text as a person would: Markdown, links, e-mail addresses and emoji made speakable; "
        "false reads it as written",
    )

    _text_speakable = field_validator("text")(speakable)


class TtsJobRequest(TtsRequest):
    """Body of POST /api/tts/jobs/: the JSON of /api/tts/, with text up to the job limit (a setting,
    checked by the route: 100,000 characters by default). The result is always a link."""

    text: str = Field(max_length=MAX_TTS_JOB_TEXT_CHARS, description="Text to convert to speech")
    delivery: Literal["url"] = Field(default="url", description="A job's audio is always a link")
    webhook_url: str | None = Field(default=None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)


class TtsResponse(BaseModel):
    audio_base64: str
    model: str
    voice: str


class TtsUrlResponse(BaseModel):
    """The answer of POST /api/tts/ with "delivery": "url": a presigned GET of the audio."""

    audio_url: str
    expires_in: int
    model: str
    voice: str


class SttForm(BaseModel):
    """Form fields of POST /api/stt/ other than the audio file."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: SttModel = "whisper-1"
    language: str | None = Field(
        default=None, pattern=r"^[a-z]{2}$", description="ISO-639-1 language of the audio"
    )
    upload_id: str | None = Field(
        default=None, max_length=64, description="A completed upload (POST /api/uploads/) instead of the file"
    )
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Text to guide style and spelling (extra)"
    )
    response_format: TranscriptFormat = Field(
        default="json",
        description='json: {"transcript", "model"} (documented); text: the transcript alone; srt, vtt: '
        'subtitles; verbose_json: {"transcript", "model", "language", "duration", "segments"}. A job\'s result is '
        'always JSON: srt and vtt add "response_format" and "subtitles" (a string) to {"transcript", "model"}',
    )
    # A form sends strings: "true" or "false" (pydantic's lax booleans) in a strict model.
    diarize: bool = Field(
        default=False,
        strict=False,
        description="true: each segment names its speaker (A, B, ... in order of appearance, one label per voice "
        "across the recording), served by gpt-4o-transcribe-diarize's route; with verbose_json, srt or vtt",
    )


class SttJobForm(SttForm):
    """Form fields of POST /api/stt/jobs/: those of /api/stt/, a link to the audio instead of the file, a webhook."""

    audio_url: str | None = Field(
        default=None,
        max_length=2048,
        description="An https URL of the recording, fetched by the worker, instead of the file or upload_id",
    )
    webhook_url: str | None = Field(default=None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)


class SttVerboseResponse(BaseModel):
    """POST /api/stt/ with response_format verbose_json: the documented answer and the timings."""

    transcript: str
    model: str
    language: str | None = Field(
        description="ISO-639-1 code of the language heard (en); null when neither the engine nor the request named one"
    )
    duration: float
    segments: list[TranscriptionSegment]


class UploadRequest(BaseModel):
    """Body of POST /api/uploads/ (both optional)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    filename: str | None = Field(default=None, max_length=255)
    content_type: str | None = Field(default=None, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")


class UploadResponse(BaseModel):
    upload_id: str
    url: str
    fields: dict[str, str]
    expires_in: int
    max_bytes: int


class JobAccepted(BaseModel):
    job_id: str
    status: str
    status_url: str


class SttResponse(BaseModel):
    transcript: str
    model: str


class Spent(BaseModel):
    used: int = Field(description="Counted so far in this window (reserved work included)")
    limit: int | None = Field(description="The key's limit for this window; null: no limit")


class UsageWindow(BaseModel):
    window: str = Field(description="The UTC day (2025-01-31) or calendar month (2025-01)")
    resets_at: str = Field(description="When the next window begins (UTC, ISO 8601)")
    characters: Spent = Field(description="Characters of speech")
    audio_seconds: Spent = Field(description="Seconds of audio transcribed (whole seconds, rounded up)")


class UsageResponse(BaseModel):
    """GET /api/usage: what the calling API key has spent of its budgets."""

    day: UsageWindow
    month: UsageWindow


class VoiceEntry(BaseModel):
    id: str = Field(examples=["alloy"])
    name: str = Field(examples=["Alloy"])
    models: list[str] = Field(
        description="the speech models that speak it now", examples=[["tts-1", "tts-1-hd"]]
    )


class VoicesResponse(BaseModel):
    voices: list[VoiceEntry]


class ErrorBody(BaseModel):
    detail: str
    code: str
