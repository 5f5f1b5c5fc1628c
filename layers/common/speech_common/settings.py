"""One settings model, read once per container from the environment."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# Lambda's synchronous invocation payload limit, each way.
LAMBDA_PAYLOAD_LIMIT_BYTES = 6 * 1024 * 1024


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # Upstream credentials: the environment variable wins over the secret (local use).
    openai_api_key: SecretStr | None = None
    openai_secret_name: str | None = None
    openai_secret_key_field: str = "OPENAI_API_KEY"
    secret_max_age_seconds: int = Field(default=300, ge=0)
    openai_base_url: str | None = None
    # Realtime API (WebSocket); derived from openai_base_url when unset.
    openai_realtime_base_url: str | None = None

    # Documented voice -> upstream voice, "name=voice;..."; unlisted voices pass through.
    realtime_voice_map: str = "fable=ballad;onyx=cedar;nova=marin"
    polly_voice_map: str = "alloy=Joanna;echo=Matthew;fable=Arthur;onyx=Gregory;nova=Danielle;shimmer=Ruth"

    # Public model -> ordered chain of "engine:upstream_model" (see speech_common.routes). The
    # defaults outlive OpenAI's shutdowns: tts-1/tts-1-hd on 2027-01-06, whisper-1 on 2027-02-26.
    stt_model_routes: str = "whisper-1=openai:whisper-1,openai:gpt-transcribe"
    tts_model_routes: str = (
        "tts-1=openai:tts-1,openai-realtime:gpt-realtime-2.1-mini;"
        "tts-1-hd=openai:tts-1-hd,openai-realtime:gpt-realtime-2.1-mini"
    )

    # Time: the gateway answers 504 29 s after it received the request, so nothing upstream may
    # run past that, less a reserve for encoding and returning the answer.
    upstream_budget_seconds: float = Field(default=27.0, gt=0)
    gateway_timeout_seconds: float = Field(default=29.0, gt=0)
    response_reserve_seconds: float = Field(default=2.0, ge=0)
    deadline_margin_seconds: float = Field(default=1.0, ge=0)
    upstream_max_attempts: int = Field(default=3, ge=1, le=5)

    # Size: Lambda carries 6 MB each way; API Gateway base64-encodes binary bodies.
    max_event_body_bytes: int = LAMBDA_PAYLOAD_LIMIT_BYTES
    max_response_body_bytes: int = LAMBDA_PAYLOAD_LIMIT_BYTES - 64 * 1024
    max_upload_bytes: int = 25 * 1024 * 1024


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
