"""The /v1 door's transcription form and answers, as OpenAI documents them: apart from models.py, so that the
speech route (a door of its own) does not build them on its cold start."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from speech_common.transcript_formats import TranscriptionSegment, TranscriptionWord
from speech_common.vocabulary import MAX_PROMPT_CHARS, OpenAITranscriptFormat, SttModel


class TranscriptionForm(BaseModel):
    """The fields of POST /v1/audio/transcriptions other than the file (multipart strings, coerced)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    model: SttModel = Field(
        description="whisper-1, or gpt-4o-transcribe-diarize for speakers (each served by this deployment's route "
        "chain)"
    )
    language: str | None = Field(default=None, pattern=r"^[a-z]{2}$", description="ISO-639-1 code")
    prompt: str | None = Field(
        default=None, max_length=MAX_PROMPT_CHARS, description="Text to guide style and spelling"
    )
    response_format: OpenAITranscriptFormat = Field(
        default="json",
        description="json, text, srt, vtt or verbose_json (the timed three where the route gives timings); "
        "diarized_json (segments with their speaker) from gpt-4o-transcribe-diarize, which takes json, text and "
        "diarized_json",
    )
    temperature: float | None = Field(default=None, ge=0.0, le=1.0)
    timestamp_granularities: list[Literal["word", "segment"]] = Field(
        default_factory=list,
        alias="timestamp_granularities[]",
        description="verbose_json's timings: segment (the default), word, or both",
    )
    chunking_strategy: Literal["auto"] | None = Field(
        default=None,
        description='gpt-4o-transcribe-diarize: "auto" (what is sent upstream whether given or not; server_vad '
        "objects are not taken)",
    )
    known_speaker_names: list[str] = Field(
        default_factory=list,
        alias="known_speaker_names[]",
        max_length=4,
        description="gpt-4o-transcribe-diarize: up to 4 names for the voices of known_speaker_references[]",
    )
    known_speaker_references: list[str] = Field(
        default_factory=list,
        alias="known_speaker_references[]",
        max_length=4,
        description="Data URLs of 2-10 s of each known speaker's voice, in the order of known_speaker_names[]",
    )
    stream: bool = Field(
        default=False,
        description="true: the transcript as it is heard, as server-sent events (transcript.text.delta, then "
        "transcript.text.done), for every model; with json or text",
    )


class Transcription(BaseModel):
    """response_format json: OpenAI's Transcription object."""

    text: str


class TranscriptionDiarizedSegment(BaseModel):
    """OpenAI's TranscriptionDiarizedSegment."""

    type: Literal["transcript.text.segment"] = "transcript.text.segment"
    id: str
    start: float
    end: float
    text: str
    speaker: str


class TranscriptionDiarized(BaseModel):
    """response_format diarized_json: OpenAI's TranscriptionDiarized object."""

    task: Literal["transcribe"] = "transcribe"
    duration: float
    text: str
    segments: list[TranscriptionDiarizedSegment]


class TranscriptionVerbose(BaseModel):
    """response_format verbose_json: OpenAI's TranscriptionVerbose object. `segments` unless only word
    timings were asked for, `words` when they were."""

    task: Literal["transcribe"] = "transcribe"
    language: str = Field(
        description="The language heard, as OpenAI names it (english); empty when none was named"
    )
    duration: float
    text: str
    segments: list[TranscriptionSegment] | None = None
    words: list[TranscriptionWord] | None = None
