"""The public vocabulary every door, the core and the settings share: models, voices, formats, text limits."""

from __future__ import annotations

import unicodedata
from typing import Literal, get_args

SttModel = Literal["whisper-1", "gpt-4o-transcribe-diarize"]
TtsModel = Literal["tts-1", "tts-1-hd"]
Voice = Literal["alloy", "echo", "fable", "onyx", "nova", "shimmer"]
AudioFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
# OpenAI's transcript formats; srt, vtt and verbose_json need segment timings (core.timed_routes).
TranscriptFormat = Literal["json", "text", "srt", "vtt", "verbose_json"]
# /v1 also gives OpenAI's diarized_json (segments with their speaker), from gpt-4o-transcribe-diarize only.
OpenAITranscriptFormat = Literal["json", "text", "srt", "vtt", "verbose_json", "diarized_json"]

DOCUMENTED_VOICES: tuple[str, ...] = get_args(Voice)
# What /v1/audio/speech takes in one call; longer texts are cut by the engines, not by callers.
MAX_TTS_TEXT_CHARS = 4096
# The most a speech job can be set to take (TTS_JOB_MAX_CHARS is the deployment's limit): the worker
# holds the speech and its encoding at once (bench/long_text.py --memory-chars: 150,000 characters as
# wav peak at about 1.1 GB of its 2 GB), and reads them within its 15 minutes.
MAX_TTS_JOB_TEXT_CHARS = 150_000
# A transcription prompt guides style and spelling; whisper reads only its last 224 tokens.
MAX_PROMPT_CHARS = 4096


def speakable(value: str) -> str:
    """A pydantic validator: text with something to say, in valid Unicode."""
    # Zero-width and control characters alone are as empty as spaces.
    if all(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in value):
        raise ValueError("must not be empty or blank")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode (it holds a lone surrogate)") from None
    return value
