"""`make smoke` against the fakes: its plan, its cost estimate, its table and its exit code."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import date

import pytest

from smoke.check import estimated_cost_usd, plan, run
from speech_common import model_routing
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.realtime_server import FakeRealtimeServer


@pytest.fixture
def realtime(fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeRealtimeServer]:
    with FakeRealtimeServer(api_key=fake_openai.api_key) as server:
        monkeypatch.setenv("OPENAI_REALTIME_BASE_URL", server.websocket_base_url)
        get_settings.cache_clear()
        yield server


def smoke() -> tuple[int, str]:
    out = io.StringIO()
    code = run(get_settings(), out)
    return code, out.getvalue()


def test_every_route_entry_and_voice_is_asked_once_and_all_answer(
    fake_openai: FakeOpenAI, realtime: FakeRealtimeServer
) -> None:
    # Given the default routes on upstreams that serve them all
    # When the smoke check runs
    code, printed = smoke()
    # Then it exits 0, after a line per entry of each model and the other five voices
    assert code == 0, printed
    assert printed.splitlines()[0].startswith("smoke: 12 requests, estimated cost ")
    for entry in (
        "tts-1 openai:tts-1 alloy",
        "tts-1 openai-realtime:gpt-realtime-2.1-mini alloy",
        "tts-1-hd openai:tts-1-hd alloy",
        "whisper-1 openai:whisper-1",
        "whisper-1 openai:gpt-transcribe",
        "gpt-4o-transcribe-diarize openai:gpt-4o-transcribe-diarize",
        "tts-1 openai:tts-1 shimmer",
    ):
        assert f"  {entry}: ok" in printed
    assert fake_openai.calls("/v1/audio/speech") == 7 and fake_openai.calls("/v1/audio/transcriptions") == 3
    # And the realtime entry's verbatim check shows in the table
    rows = [line for line in printed.splitlines() if " openai-realtime:" in line and not line.startswith(" ")]
    assert len(rows) == 2 and all(row.split()[-1] == "passed" for row in rows)
    assert "smoke: 12 of 12 entries answered or retired" in printed


def test_a_retired_entry_fails_the_check(fake_openai: FakeOpenAI, realtime: FakeRealtimeServer) -> None:
    # Given whisper-1 shut down upstream (its fallback still serves)
    fake_openai.transcription_models["whisper-1"] = date(2000, 1, 1)
    # When the smoke check runs / Then that entry shows model_unavailable and the exit code is 1
    code, printed = smoke()
    assert code == 1
    assert "  whisper-1 openai:whisper-1: model_unavailable" in printed
    assert "  whisper-1 openai:gpt-transcribe: ok" in printed


def test_a_rewording_realtime_model_shows_a_failed_verbatim_check(
    fake_openai: FakeOpenAI, realtime: FakeRealtimeServer
) -> None:
    # Given a realtime model that never reads verbatim
    realtime.reword = True
    # When the smoke check runs / Then its row says the verbatim check failed
    code, printed = smoke()
    row = next(line for line in printed.splitlines() if line.startswith("tts-1 openai-realtime:"))
    assert code == 1 and "verbatim_mismatch" in row and row.split()[-1] == "failed"


def test_without_a_key_nothing_is_asked() -> None:
    # Given no OpenAI key and the default (OpenAI) routes / When the smoke check runs
    code, printed = smoke()
    # Then it says what to set and exits 2 before any request
    assert code == 2 and "set OPENAI_API_KEY" in printed


def test_the_cost_estimate_counts_characters_and_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given routes with known prices: tts-1 ($15 per 1M characters) and whisper-1 ($0.006 a minute)
    monkeypatch.setenv("TTS_MODEL_ROUTES", "tts-1=openai:tts-1;tts-1-hd=local:local")
    monkeypatch.setenv("STT_MODEL_ROUTES", "whisper-1=openai:whisper-1")
    get_settings.cache_clear()
    probes = plan(get_settings())
    # When the cost is estimated / Then 6 tts-1 calls of 44 characters and two 3 s clips (whisper-1, and the
    # speaker model a table without it gets) are counted
    expected = 6 * 44 * 15e-6 + 2 * 3 / 60 * 0.006
    assert estimated_cost_usd(probes) == pytest.approx(expected)
    assert len(probes) == 9  # tts-1, tts-1-hd (free, local), whisper-1, the diarize model, five more voices


def test_after_a_shutdown_date_the_retired_entries_are_shown_not_asked(
    fake_openai: FakeOpenAI, realtime: FakeRealtimeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the day tts-1 and tts-1-hd are shut down
    day = date(2027, 1, 6)
    fake_openai.today = realtime.today = day
    monkeypatch.setattr(model_routing, "utc_today", lambda: day)
    # When the smoke check runs
    code, printed = smoke()
    # Then the retired entries are listed as such, the voices go to the realtime entry, and it passes
    assert code == 0, printed
    assert "  tts-1 openai:tts-1 alloy: retired 2027-01-06" in printed
    assert "  tts-1 openai-realtime:gpt-realtime-2.1-mini shimmer: ok" in printed
    assert fake_openai.calls("/v1/audio/speech") == 0
