"""Transcript formats both doors take (OpenAI's response_format), and how the timed ones are written.

srt, vtt and verbose_json are made of segment timings, which only some route entries give (the local
engine, and the openai engine on whisper-1: see core.timed_routes); they are written here as OpenAI
writes them. The renderers are a few lines each, so no subtitle library is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from speech_common.core import Transcript
    from speech_common.engines.base import TimedSegment, TimedWord

TIMED_FORMATS = ("srt", "vtt", "verbose_json")
TEXT_CONTENT_TYPE = "text/plain; charset=utf-8"
# As OpenAI labels them (the SDKs read any answer that is not JSON as text).
SRT_CONTENT_TYPE = TEXT_CONTENT_TYPE
VTT_CONTENT_TYPE = "text/vtt; charset=utf-8"


class TranscriptionSegment(BaseModel):
    """One timed segment, as OpenAI's verbose_json gives it (both doors)."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: list[int]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float
    speaker: str | None = Field(
        default=None,
        description="Who spoke it (A, B, ... in order of appearance): only when speakers were asked for",
    )


class TranscriptionWord(BaseModel):
    word: str
    start: float
    end: float


def needs_timings(response_format: str) -> bool:
    """Whether a format is made of segment timings (the one place that decides which route entries may serve)."""
    return response_format in TIMED_FORMATS


def rendered_text(transcript: Transcript, response_format: str) -> tuple[str, str] | None:
    """The transcript as a text format: text, srt or vtt as (content type, body); None for json and verbose_json,
    whose object each door (and a job's result) shapes from the transcript in its own words."""
    if response_format == "text":
        return TEXT_CONTENT_TYPE, transcript.text
    if response_format in ("srt", "vtt"):
        return subtitles(response_format, transcript.segments or ())
    return None


def timestamp(seconds: float, decimal_marker: str) -> str:
    """HH:MM:SS,mmm (srt) or HH:MM:SS.mmm (vtt); hours grow past two digits rather than wrap."""
    millis = max(round(seconds * 1000), 0)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_marker}{millis:03d}"


def _cues(segments: tuple[TimedSegment, ...], decimal_marker: str) -> list[str]:
    return [
        f"{timestamp(segment.start, decimal_marker)} --> {timestamp(segment.end, decimal_marker)}\n"
        f"{_spoken(segment, decimal_marker)}\n\n"
        for segment in segments
    ]


def _spoken(segment: TimedSegment, decimal_marker: str) -> str:
    """A cue's text, with its speaker when known: WebVTT's voice tag (`<v A>`), srt's common `A: ` prefix (srt has
    no speaker syntax)."""
    text = segment.text.strip()
    if segment.speaker is None:
        return text
    return f"<v {segment.speaker}>{text}" if decimal_marker == "." else f"{segment.speaker}: {text}"


def render_srt(segments: tuple[TimedSegment, ...]) -> str:
    """Numbered cues from 1, a blank line after each; nothing at all for no speech."""
    return "".join(f"{number}\n{cue}" for number, cue in enumerate(_cues(segments, ","), start=1))


def render_vtt(segments: tuple[TimedSegment, ...]) -> str:
    """The WEBVTT header, then one cue a segment (unnumbered, as OpenAI writes them)."""
    return "WEBVTT\n\n" + "".join(_cues(segments, "."))


def segment_objects(segments: tuple[TimedSegment, ...]) -> list[dict[str, Any]]:
    """verbose_json's segments, numbered from 0 in order (pieces of a long recording are numbered anew)."""
    return [
        {
            "id": number,
            "seek": segment.seek,
            "start": segment.start,
            "end": segment.end,
            "text": segment.text,
            "tokens": list(segment.tokens),
            "temperature": segment.temperature,
            "avg_logprob": segment.avg_logprob,
            "compression_ratio": segment.compression_ratio,
            "no_speech_prob": segment.no_speech_prob,
        }
        | ({"speaker": segment.speaker} if segment.speaker is not None else {})
        for number, segment in enumerate(segments)
    ]


def word_objects(words: tuple[TimedWord, ...]) -> list[dict[str, Any]]:
    return [{"word": word.word, "start": word.start, "end": word.end} for word in words]


def subtitles(response_format: str, segments: tuple[TimedSegment, ...]) -> tuple[str, str]:
    """srt or vtt: the content type and the body."""
    if response_format == "srt":
        return SRT_CONTENT_TYPE, render_srt(segments)
    return VTT_CONTENT_TYPE, render_vtt(segments)


def recording_seconds(transcript: Transcript) -> float:
    """The recording's length: as the engine measured it, else the end of its last segment."""
    if transcript.duration is not None:
        return transcript.duration
    return max((segment.end for segment in transcript.segments or ()), default=0.0)


def api_verbose_transcript(transcript: Transcript) -> dict[str, Any]:
    """/api's verbose_json: the documented {"transcript", "model"} with the language (its ISO-639-1 code, null when
    neither the engine nor the request named one), duration and segments."""
    return {
        "transcript": transcript.text,
        "model": transcript.model,
        "language": transcript.language,
        "duration": recording_seconds(transcript),
        "segments": segment_objects(transcript.segments or ()),
    }


def api_job_result(transcript: Transcript, response_format: str) -> dict[str, Any]:
    """A transcription job's result in the response_format asked: {"transcript", "model", "language"} for json and
    text, verbose_json's fields, or srt and vtt as a string under "subtitles" (a job's result is always JSON)."""
    if response_format == "verbose_json":
        return api_verbose_transcript(transcript)
    result = {"transcript": transcript.text, "model": transcript.model, "language": transcript.language}
    if response_format in ("srt", "vtt"):
        _content_type, body = subtitles(response_format, transcript.segments or ())
        result |= {"response_format": response_format, "subtitles": body}
    return result
