"""GET /v1/models: the public models this deployment serves (whatever route chain serves each); GET /v1/audio/voices:
the voices they speak."""

from __future__ import annotations

from typing import get_args

from speech_common.doors.openai.models import ModelCard, ModelList, VoiceCard, VoiceList
from speech_common.error_codes import ErrorCode
from speech_common.errors import NotFound
from speech_common.settings import Settings
from speech_common.vocabulary import SttModel, TtsModel
from speech_common.voices import voices_offered

OWNED_BY = "speech-api"
# When OpenAI published each model (its own `created`): the names, and so the dates, are OpenAI's.
_CREATED = {"whisper-1": 1_677_532_384, "tts-1": 1_681_940_951, "tts-1-hd": 1_699_046_015}


def served_models() -> ModelList:
    names = (*get_args(TtsModel), *get_args(SttModel))
    return ModelList(
        data=[ModelCard(id=name, created=_CREATED.get(name, 0), owned_by=OWNED_BY) for name in names]
    )


def served_model(model_id: str) -> ModelCard:
    for card in served_models().data:
        if card.id == model_id:
            return card
    raise NotFound(
        f"The model '{model_id[:40]}' does not exist on this deployment (GET /v1/models lists them)",
        code=ErrorCode.MODEL_NOT_FOUND,
        param="model",
    )


def served_voices(settings: Settings) -> VoiceList:
    offers = voices_offered(settings)
    return VoiceList(voices=[VoiceCard(id=o.voice, name=o.name, models=list(o.models)) for o in offers])
