"""Request and answer models of the /v1 door, as OpenAI documents them (the parameters this API honours)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from speech_common.transcript_formats import TranscriptionSegment, TranscriptionWord
from speech_common.vocabulary import (
    MAX_PROMPT_CHARS,
    MAX_TTS_TEXT_CHARS,
    AudioFormat,
    SttModel,
    TranscriptFormat,
    TtsModel,
    Voice,
    speakable,
)


class SpeechBody(BaseModel):
    """Body of POST /v1/audio/speech. Unknown parameters are refused, as OpenAI refuses them."""

    model_config = ConfigDict(extra="forbid")

    model: TtsModel = Field(description="tts-1 or tts-1-hd (served by this deployment's route chains)")
    input: str = Field(max_length=MAX_TTS_TEXT_CHARS, description="The text to speak")
    voice: Voice = Field(description="One of the six voices tts-1 and tts-1-hd have")
    response_format: AudioFormat = Field(default="mp3", description="The audio format of the answer")
    speed: float = Field(default=1.0, ge=0.25, le=4.0, description="Speaking speed, 0.25 to 4.0")
    instructions: str | None = Field(
        default=None, description="Not taken by tts-1 or tts-1-hd: only an empty value is accepted"
    )
    stream_format: Literal["audio", "sse"] = Field(
        default="audio", description="audio: the bytes as they are made; sse: speech.audio.delta events"
    )

    _input_speakable = field_validator("input")(speakable)


class TranscriptionForm(BaseModel):
    """The fields of POST /v1/audio/transcriptions other than the file (multipart strings, coerced)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: SttModel = Field(description="whisper-1 (served by this deployment's route chain)")
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$", description="ISO-639-1 code")
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Text to guide style and spelling"
    )
    response_format: TranscriptFormat = Field(
        default="json",
        description="json, text, srt, vtt or verbose_json (the timed three where the route gives timings)",
    )
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    timestamp_granularities: list[Literal["word", "segment"]] = Field(
        default_factory=list,
        alias="timestamp_granularities[]",
        description="verbose_json's timings: segment (the default), word, or both",
    )
    stream: bool = Field(
        default=False,
        description="true: the transcript as it is heard, as server-sent events (transcript.text.delta, then "
        "transcript.text.done), for every model; with json or text",
    )


class Transcription(BaseModel):
    """response_format json: OpenAI's Transcription object."""

    text: str


class TranscriptionVerbose(BaseModel):
    """response_format verbose_json: OpenAI's TranscriptionVerbose object. `segments` unless only word
    timings were asked for, `words` when they were."""

    task: Literal["transcribe"] = "transcribe"
    language: str
    duration: float
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    error: OpenAIError
