"""The metrics the deployment-wide alarms add up (template.yaml's CharactersPerDayAlarm and AudioSecondsPerDayAlarm):
each transcription counts the seconds it sends upstream, as measured by decoding, and each synthesis its characters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from speech_common.audio import AudioUpload
from speech_common.core import (
    SynthesisRequest,
    TranscriptionJob,
    stream_transcription,
    synthesize,
    transcribe,
)
from speech_common.deadline import Deadline
from speech_common.observability import metrics
from tests.fakes.openai_server import FakeOpenAI
from tests.samples import tone


@pytest.fixture
def emitted() -> Iterator[dict[str, Any]]:
    """The metrics added during the test, as Powertools would flush them (name -> {"Unit", "Value"})."""
    metrics.clear_metrics()
    yield metrics.metric_set
    metrics.clear_metrics()


def _values(emitted: dict[str, Any], name: str) -> list[float]:
    value = emitted[name]["Value"]
    return [float(v) for v in (value if isinstance(value, list) else [value])]


def test_a_transcription_counts_the_seconds_it_sent_upstream(
    fake_openai: FakeOpenAI, emitted: dict[str, Any]
) -> None:
    # Given half a second of audio whose length nobody gave (counted by decoding)
    job = TranscriptionJob(audio=AudioUpload(data=tone("mp3"), format="mp3"))
    # When the core transcribes it
    transcribe(job, Deadline(10))
    # Then AudioSecondsTranscribed holds the measured length, in seconds
    assert emitted["AudioSecondsTranscribed"]["Unit"] == "Seconds"
    assert _values(emitted, "AudioSecondsTranscribed") == [pytest.approx(0.5, abs=0.05)]


def test_a_streamed_transcription_counts_its_seconds_too(
    fake_openai: FakeOpenAI, emitted: dict[str, Any]
) -> None:
    # Given a recording already measured (as a door measures it before the call)
    job = TranscriptionJob(audio=AudioUpload(data=tone("mp3"), format="mp3", seconds=0.5))
    # When the core streams its transcript to the end
    stream, _ = stream_transcription(job, Deadline(10))
    list(stream.deltas)
    # Then the measured seconds are counted
    assert _values(emitted, "AudioSecondsTranscribed") == [0.5]


def test_a_synthesis_counts_its_characters(fake_openai: FakeOpenAI, emitted: dict[str, Any]) -> None:
    # Given a text of 12 characters
    request = SynthesisRequest(text="Hello there.")
    # When the core reads it aloud
    synthesize(request, Deadline(10))
    # Then CharactersSynthesized counts them
    assert _values(emitted, "CharactersSynthesized") == [12.0]
