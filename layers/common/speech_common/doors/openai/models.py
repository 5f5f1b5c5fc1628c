"""Request and answer models of the /v1 door, as OpenAI documents them (the parameters this API honours); the
transcription ones are in transcription_models.py, which the speech route does not load."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from speech_common.vocabulary import (
    MAX_TTS_TEXT_CHARS,
    AudioFormat,
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
    clean_text: bool = Field(
        default=True,
        description="Not OpenAI's (send it with the SDKs' extra_body): read the input as a person would, Markdown, "
        "links, e-mail addresses and emoji made speakable; false reads it as written",
    )

    _input_speakable = field_validator("input")(speakable)


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class VoiceCard(BaseModel):
    """A voice as Open WebUI reads it (`id`, `name`) and speaches lists it, with the models that speak it."""

    id: str
    name: str
    models: list[str]


class VoiceList(BaseModel):
    """GET /v1/audio/voices: `voices` as Open WebUI, speaches and Kokoro-FastAPI answer it."""

    object: Literal["list"] = "list"
    voices: list[VoiceCard]


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    error: OpenAIError
