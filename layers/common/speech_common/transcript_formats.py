"""Transcript formats both doors take (OpenAI's response_format), and which of them this deployment can give."""

from __future__ import annotations

from speech_common.errors import InvalidRequest

# Formats made of segment timings: no engine here returns timings (each gives the text alone), so they are
# refused rather than faked. The openai engine asks every upstream model for json, the only format
# gpt-transcribe (whisper-1's replacement from 2027-02-26) answers.
TIMED_FORMATS = ("srt", "vtt", "verbose_json")
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"


def refuse_timed_format(response_format: str) -> None:
    """400 for a format that needs segment timings, naming the ones that work."""
    if response_format in TIMED_FORMATS:
        raise InvalidRequest(
            f"response_format {response_format} needs segment timings, which the engines of this deployment "
            "do not give (they return the text alone; whisper-1's replacement gpt-transcribe gives json only); "
            "use json or text",
            code="unsupported_response_format",
            param="response_format",
        )
