"""A transcribed piece's key: what changes the answer, who owns it, never the audio or text itself."""

from __future__ import annotations

from dataclasses import replace

import pytest

from speech_common.audio import AudioUpload
from speech_common.engines.base import TimedSegment, TimedWord, TranscriptionRequest, TranscriptionResult
from speech_common.model_routing import Route
from speech_common.stt_pieces import PIECES_PREFIX, _result_of, piece_key

PIECE = TranscriptionRequest(audio=AudioUpload(data=b"fLaC piece one", format="flac"), language="en")
ROUTE = Route("openai", "whisper-1")


@pytest.mark.parametrize(
    ("what", "request_", "route", "owner"),
    [
        ("audio", replace(PIECE, audio=AudioUpload(data=b"fLaC piece two", format="flac")), ROUTE, "key-a"),
        ("language", replace(PIECE, language="fr"), ROUTE, "key-a"),
        ("prompt", replace(PIECE, prompt="Names: Ada"), ROUTE, "key-a"),
        ("temperature", replace(PIECE, temperature=0.4), ROUTE, "key-a"),
        ("timings", replace(PIECE, timings=True), ROUTE, "key-a"),
        ("words", replace(PIECE, timings=True, words=True), ROUTE, "key-a"),
        ("route", PIECE, Route("openai", "gpt-4o-transcribe"), "key-a"),
        ("owner", PIECE, ROUTE, "key-b"),
    ],
)
def test_whatever_changes_the_answer_changes_the_key(
    what: str, request_: TranscriptionRequest, route: Route, owner: str
) -> None:
    # Given a piece's key / When one thing that changes the answer (or its owner) differs / Then so does the key
    assert piece_key(request_, route, owner) != piece_key(PIECE, ROUTE, "key-a"), what


def test_the_same_piece_has_the_same_key_naming_nothing_it_holds() -> None:
    # Given the same piece asked the same way twice
    key = piece_key(PIECE, ROUTE, "key-a")
    # When / Then the key is the same, under pieces/, and names neither the audio nor the owner
    assert key == piece_key(replace(PIECE), ROUTE, "key-a")
    assert (
        key.startswith(PIECES_PREFIX)
        and "key-a" not in key
        and "piece" not in key.removeprefix(PIECES_PREFIX)
    )


def test_a_kept_result_reads_back_whole() -> None:
    # Given a timed result as kept (JSON: tuples become lists)
    import json
    from dataclasses import asdict

    result = TranscriptionResult(
        text="hello there",
        language="en",
        duration=3.5,
        segments=(TimedSegment(0.0, 3.5, "hello there", tokens=(1, 2)),),
        words=(TimedWord(0.0, 1.0, "hello"), TimedWord(1.2, 3.5, "there")),
    )
    # When it is read back / Then it is the same result
    assert _result_of(json.loads(json.dumps(asdict(result)))) == result


def test_a_piece_kept_with_whisper_1s_language_name_reads_back_with_its_code() -> None:
    # Given a piece kept before languages were codes: as whisper-1 named it
    kept = {"text": "bonjour", "language": "french", "duration": 1.0, "segments": None, "words": None}
    # When it is read back (a job resumed across the change)
    result = _result_of(kept)
    # Then its language is the ISO-639-1 code every piece now carries
    assert result.language == "fr"
