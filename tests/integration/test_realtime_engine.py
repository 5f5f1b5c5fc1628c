"""The openai-realtime engine through the real SDK (WebSocket) against the fake Realtime server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import date

import pytest
from openai.types.realtime import ResponseCreateEvent, SessionUpdateEvent
from websockets.sync.client import connect

from speech_common.deadline import Deadline
from speech_common.engines.base import SpeechRequest
from speech_common.engines.openai_client import client_for
from speech_common.engines.openai_realtime.conversation import SAMPLE_RATE
from speech_common.engines.openai_realtime.engine import (
    CHUNK_GAP_SECONDS,
    MAX_CHUNK_CHARS,
    OpenAIRealtimeTextToSpeech,
)
from speech_common.engines.pcm import BYTES_PER_SAMPLE
from speech_common.errors import UpstreamFailure
from speech_common.settings import Settings
from speech_common.text_chunks import split_text as split_into_chunks
from tests.audio_helpers import decode_to_pcm, duration_seconds
from tests.fakes.realtime_server import FakeRealtimeServer

MODEL = "gpt-realtime-2.1-mini"
TEXT = "The quick brown fox jumps over the lazy dog. Then it naps!"
GAP = bytes(int(SAMPLE_RATE * CHUNK_GAP_SECONDS) * BYTES_PER_SAMPLE)


@pytest.fixture(autouse=True)
def _fresh_client() -> Iterator[None]:
    client_for.cache_clear()
    yield
    client_for.cache_clear()


@pytest.fixture
def fake() -> Iterator[FakeRealtimeServer]:
    server = FakeRealtimeServer().start()
    try:
        yield server
    finally:
        server.stop()
    # Every client event the engine sent parsed as the SDK's own event models, without extra fields.
    assert server.protocol_errors == []


def make_settings(fake: FakeRealtimeServer, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "openai_api_key": "sk-test",
        "openai_base_url": fake.http_base_url,
        "openai_realtime_base_url": fake.websocket_base_url,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def engine(fake: FakeRealtimeServer) -> OpenAIRealtimeTextToSpeech:
    return OpenAIRealtimeTextToSpeech(make_settings(fake))


def speak(
    engine: OpenAIRealtimeTextToSpeech,
    text: str = TEXT,
    *,
    voice: str = "alloy",
    fmt: str = "pcm",
    speed: float = 1.0,
    model: str = MODEL,
    seconds: float = 10.0,
) -> bytes:
    request = SpeechRequest(text=text, voice=voice, response_format=fmt, speed=speed)
    return engine.synthesize(request, upstream_model=model, deadline=Deadline(seconds))


def seconds_of(pcm: bytes) -> float:
    return len(pcm) / (SAMPLE_RATE * BYTES_PER_SAMPLE)


def failure_of(engine: OpenAIRealtimeTextToSpeech, **kwargs: object) -> UpstreamFailure:
    with pytest.raises(UpstreamFailure) as caught:
        speak(engine, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- audio ----------------------------------------------------------------------------------------


def test_text_comes_back_as_decodable_mp3_of_the_spoken_length(engine, fake):
    # Given a live realtime model
    # When a short text is synthesized as mp3
    audio = speak(engine, fmt="mp3")

    # Then the bytes decode as mp3 and last as long as the audio the model streamed
    assert audio[:3] == b"ID3" or audio[0] == 0xFF
    expected = seconds_of(fake.pcm_for(TEXT))
    assert duration_seconds(audio) == pytest.approx(expected, abs=0.08)
    assert len(decode_to_pcm(audio, sample_rate=SAMPLE_RATE)) > 0


@pytest.mark.parametrize("fmt", ["wav", "opus", "flac"])
def test_other_formats_decode_to_the_same_length(engine, fake, fmt):
    # Given a live realtime model
    # When the text is synthesized in another container
    audio = speak(engine, fmt=fmt)

    # Then it decodes to audio as long as the streamed PCM
    assert duration_seconds(audio) == pytest.approx(seconds_of(fake.pcm_for(TEXT)), abs=0.08)


def test_pcm_is_exactly_the_streamed_audio(engine, fake):
    # Given a live realtime model
    # When the text is synthesized as raw pcm
    audio = speak(engine, fmt="pcm")

    # Then the output is the model's 24 kHz PCM, byte for byte
    assert audio == fake.pcm_for(TEXT)


def test_session_asks_for_pcm_audio_only_and_verbatim_reading_out_of_band(engine, fake):
    # Given a live realtime model
    # When a text is synthesized
    speak(engine)

    # Then one session was configured for 24 kHz PCM audio output, with reading instructions
    (connection,) = fake.connections
    assert connection.model == MODEL
    (update,) = fake.events_of(SessionUpdateEvent)
    session = update.session
    assert session.type == "realtime"
    assert session.output_modalities == ["audio"]
    assert session.audio.output.format.type == "audio/pcm"
    assert session.audio.output.format.rate == 24000
    assert session.audio.input is None
    assert "exactly" in session.instructions and "word for word" in session.instructions
    # And the text went as the only input of an out-of-band response
    (create,) = fake.events_of(ResponseCreateEvent)
    response = create.response
    assert response.conversation == "none"
    assert response.output_modalities == ["audio"]
    (item,) = response.input
    assert (item.type, item.role) == ("message", "user")
    assert [(part.type, part.text) for part in item.content] == [("input_text", TEXT)]


def test_websocket_url_is_derived_from_the_http_base_url_when_not_set(fake):
    # Given settings with only the HTTP base URL
    engine = OpenAIRealtimeTextToSpeech(make_settings(fake, openai_realtime_base_url=None))

    # When a text is synthesized
    audio = speak(engine)

    # Then the SDK reached the fake over ws:// at <base>/realtime
    assert audio == fake.pcm_for(TEXT)
    assert [c.model for c in fake.connections] == [MODEL]


# --- voices and speed ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("voice", "upstream"),
    [("fable", "ballad"), ("onyx", "cedar"), ("nova", "marin"), ("alloy", "alloy"), ("shimmer", "shimmer")],
)
def test_documented_voices_map_to_realtime_voices(engine, fake, voice, upstream):
    # Given the default voice map (fable, onyx and nova do not exist in the Realtime API)
    # When a text is synthesized with a documented voice
    speak(engine, voice=voice)

    # Then the session asked for the mapped realtime voice, and the model spoke with it
    (update,) = fake.events_of(SessionUpdateEvent)
    assert update.session.audio.output.voice == upstream
    assert [spoken.voice for spoken in fake.spoken] == [upstream]


def test_voice_map_comes_from_settings(fake):
    # Given a deployment that maps alloy to coral
    engine = OpenAIRealtimeTextToSpeech(make_settings(fake, realtime_voice_map="alloy=coral;fable=ballad"))

    # When alloy is asked for
    speak(engine, voice="alloy")

    # Then coral is sent
    assert [spoken.voice for spoken in fake.spoken] == ["coral"]


def test_speed_within_the_realtime_range_is_applied_by_the_session(engine, fake):
    # Given a live realtime model
    # When the text is asked for at 1.25x
    audio = speak(engine, speed=1.25)

    # Then the session carries the speed and the model's faster audio comes back unchanged
    (update,) = fake.events_of(SessionUpdateEvent)
    assert update.session.audio.output.speed == 1.25
    assert audio == fake.pcm_for(TEXT, speed=1.25)


def test_speed_above_the_realtime_range_is_completed_locally(engine, fake):
    # Given the Realtime API's speed ceiling of 1.5
    # When the text is asked for at 3x
    audio = speak(engine, speed=3.0)

    # Then the session asks for 1.5 and the rest (2x) is applied to the audio
    (update,) = fake.events_of(SessionUpdateEvent)
    assert update.session.audio.output.speed == 1.5
    assert seconds_of(audio) == pytest.approx(seconds_of(fake.pcm_for(TEXT, speed=1.5)) / 2, abs=0.05)


def test_normal_speed_leaves_the_session_default(engine, fake):
    # Given a live realtime model
    # When the text is asked for at 1x
    speak(engine, speed=1.0)

    # Then the session update sets no speed, leaving the session's default
    (update,) = fake.events_of(SessionUpdateEvent)
    assert update.session.audio.output.speed is None


# --- verbatim check -----------------------------------------------------------------------------


def test_reworded_answer_is_retried_once_and_the_faithful_take_is_returned(engine, fake):
    # Given a model that rewords its first answer
    fake.reword_times = 1

    # When a text is synthesized
    audio = speak(engine)

    # Then it was asked twice, and only the second (verbatim) audio is returned
    assert [spoken.transcript for spoken in fake.spoken] == [fake.rewrite(TEXT), TEXT]
    assert audio == fake.pcm_for(TEXT)


def test_reworded_twice_fails_with_verbatim_mismatch(engine, fake):
    # Given a model that keeps rewording
    fake.reword = True

    # When a text is synthesized
    failure = failure_of(engine)

    # Then the request fails after exactly two attempts, with no text in the message
    assert failure.code == UpstreamFailure.VERBATIM_MISMATCH
    assert len(fake.spoken) == 2
    assert "fox" not in failure.message


def test_transcript_differing_only_in_case_and_punctuation_is_accepted(engine, fake):
    # Given a transcript that drops punctuation, case and hyphens
    fake.reword_times = 1
    fake.rewrite = lambda text: text.lower().replace(".", "").replace("!", "").replace("-", " ")

    # When a text with a hyphen is synthesized
    text = "A well-known fox. It naps!"
    speak(engine, text)

    # Then the first answer is accepted
    assert len(fake.spoken) == 1


def test_transcript_writing_numbers_as_words_is_accepted_without_a_retry(engine, fake):
    # Given a model whose transcript writes the text's digits, money, time and symbols as words
    fake.reword_times = 1_000_000
    fake.rewrite = lambda text: (
        text.replace("$5.50", "five dollars and fifty cents")
        .replace("20", "twenty")
        .replace("3:30", "three thirty")
        .replace("50%", "fifty percent")
        .replace("1st", "first")
        .replace("Dr.", "Doctor")
        .replace("&", "and")
    )
    text = "Dr. Lee & 20 guests pay $5.50 at 3:30 on the 1st, 50% off."

    # When the text is synthesized
    audio = speak(engine, text)

    # Then the first answer is accepted: one response, its audio returned
    (spoken,) = fake.spoken
    assert spoken.transcript == (
        "Doctor Lee and twenty guests pay five dollars and fifty cents at three thirty on the first, "
        "fifty percent off."
    )
    assert audio == fake.pcm_for(spoken.transcript)


def test_transcript_writing_number_words_as_digits_is_accepted_without_a_retry(engine, fake):
    # Given a model whose transcript writes the text's number words as digits
    fake.reword_times = 1
    fake.rewrite = lambda text: text.replace("twenty-four", "24").replace("nineteen ninety-nine", "1999")

    # When such a text is synthesized
    speak(engine, "It opened twenty-four hours a day in nineteen ninety-nine.")

    # Then the first answer is accepted
    assert len(fake.spoken) == 1


def test_transcript_with_another_number_is_retried(engine, fake):
    # Given a model that says another number the first time
    fake.reword_times = 1
    fake.rewrite = lambda text: text.replace("20", "thirty")

    # When a text with a number is synthesized
    text = "It costs 20 dollars."
    audio = speak(engine, text)

    # Then the wrong number was refused and the text asked for again
    assert [spoken.transcript for spoken in fake.spoken] == ["It costs thirty dollars.", text]
    assert audio == fake.pcm_for(text)


def test_number_words_do_not_hide_a_rewording(engine, fake):
    # Given a model that spells the number as words but also chats around the text, every time
    fake.reword = True
    fake.rewrite = lambda text: f"Sure! {text.replace('20', 'twenty')} Anything else?"

    # When a text with a number is synthesized
    failure = failure_of(engine, text="It costs 20 dollars.")

    # Then it still fails after two attempts
    assert failure.code == UpstreamFailure.VERBATIM_MISMATCH
    assert len(fake.spoken) == 2


# --- long text ----------------------------------------------------------------------------------


def long_text() -> str:
    sentences = [f"Sentence number {n} tells a short story about fox {n} and dog {n}." for n in range(45)]
    return " ".join(sentences)


def test_long_text_is_read_in_sentence_chunks_and_joined_in_order(engine, fake):
    # Given a text of about 2,900 characters
    text = long_text()
    assert len(text) > 2 * MAX_CHUNK_CHARS

    # When it is synthesized
    audio = speak(engine, text)

    # Then it was read in chunks of at most 1,000 characters that end at sentences
    chunks = [spoken.text for spoken in fake.spoken]
    assert len(chunks) >= 3
    assert all(len(chunk) <= MAX_CHUNK_CHARS and chunk.endswith(".") for chunk in chunks)
    assert sorted(chunks) == sorted(split_into_chunks(text, MAX_CHUNK_CHARS))
    assert " ".join(split_into_chunks(text, MAX_CHUNK_CHARS)) == text
    # And each chunk was its own out-of-band response in one session, some of them concurrent
    assert len(fake.connections) == 1
    assert all(event.response.conversation == "none" for event in fake.events_of(ResponseCreateEvent))
    assert fake.max_concurrent_responses > 1
    # And the audio is every chunk's audio in text order, whatever order they finished in
    assert audio == GAP.join(fake.pcm_for(chunk) for chunk in split_into_chunks(text, MAX_CHUNK_CHARS))


def test_only_the_reworded_chunk_of_a_long_text_is_asked_again(engine, fake):
    # Given a model that rewords only its first answer
    fake.reword_times = 1
    text = long_text()

    # When a long text is synthesized
    audio = speak(engine, text)

    # Then one chunk more than the chunk count was spoken, and the audio is all verbatim
    assert len(fake.spoken) == len(split_into_chunks(text, MAX_CHUNK_CHARS)) + 1
    assert audio == GAP.join(fake.pcm_for(chunk) for chunk in split_into_chunks(text, MAX_CHUNK_CHARS))


# --- upstream failures --------------------------------------------------------------------------


def test_retired_model_is_unavailable(engine, fake):
    # Given gpt-realtime-mini, shut down on 2027-01-20, and a clock past that date
    fake.today = date(2027, 1, 21)

    # When it is asked for
    failure = failure_of(engine, model="gpt-realtime-mini")

    # Then the engine reports the model unavailable (the route chain moves on)
    assert failure.code == UpstreamFailure.MODEL_UNAVAILABLE
    assert fake.spoken == []


def test_model_before_its_shutdown_date_still_serves(engine, fake):
    # Given the day before gpt-realtime-mini shuts down
    fake.today = date(2027, 1, 19)

    # When it is asked for / Then it still serves the text's audio
    assert speak(engine, model="gpt-realtime-mini") == fake.pcm_for(TEXT)


def test_unknown_model_is_unavailable(engine, fake):
    # Given a model the upstream does not know / When it is asked for
    failure = failure_of(engine, model="gpt-realtime-9")

    # Then the engine reports the model unavailable
    assert failure.code == UpstreamFailure.MODEL_UNAVAILABLE


def test_response_failing_with_model_not_found_is_unavailable(engine, fake):
    # Given a session that opens but whose response fails with model_not_found (seen in the wild)
    fake.response_failure = ("model_not_found", "invalid_request_error")

    # When a text is synthesized
    failure = failure_of(engine)

    # Then the engine reports the model unavailable
    assert failure.code == UpstreamFailure.MODEL_UNAVAILABLE


@pytest.mark.parametrize("how", ["event", "handshake"])
def test_bad_key_is_an_auth_failure(fake, how):
    # Given a key the upstream refuses, after the upgrade (the real API) or at the upgrade (HTTP 401)
    fake.auth_failure = how
    engine = OpenAIRealtimeTextToSpeech(make_settings(fake, openai_api_key="sk-wrong"))

    # When a text is synthesized
    failure = failure_of(engine)

    # Then the failure is an auth failure, and the key appears nowhere in it
    assert failure.code == UpstreamFailure.AUTH
    assert "sk-wrong" not in failure.message
    assert fake.spoken == []


def test_rate_limited_response_is_rate_limited(engine, fake):
    # Given a response that fails with rate_limit_exceeded
    fake.response_failure = ("rate_limit_exceeded", "tokens")

    # When a text is synthesized / Then the failure is a rate limit
    assert failure_of(engine).code == UpstreamFailure.RATE_LIMITED


def test_error_event_on_the_response_fails_the_request(engine, fake):
    # Given an upstream that answers the response with an invalid_value error event
    fake.error_code = ("invalid_value", "invalid_request_error")

    # When a text is synthesized
    failure = failure_of(engine)

    # Then the request fails as an upstream error naming the code
    assert failure.code == UpstreamFailure.ERROR
    assert "invalid_value" in failure.message


def test_lost_connection_opens_a_new_session_and_finishes(engine, fake):
    # Given a connection that drops halfway through the first response
    fake.drop_times = 1

    # When a text is synthesized
    audio = speak(engine)

    # Then a second session read it completely
    assert len(fake.connections) == 2
    assert audio == fake.pcm_for(TEXT)


# --- deadline -----------------------------------------------------------------------------------


def test_stalled_response_times_out_at_the_deadline(engine, fake):
    # Given a model that never answers a response
    fake.stall = "response"

    # When a text is synthesized with 1.5 s left
    started = time.monotonic()
    failure = failure_of(engine, seconds=1.5)

    # Then it times out at the deadline, not later
    assert failure.code == UpstreamFailure.TIMEOUT
    assert 1.3 <= time.monotonic() - started < 3.0


def test_stalled_handshake_times_out_at_the_deadline(engine, fake):
    # Given a server that accepts TCP but never completes the upgrade
    fake.stall = "handshake"

    # When a text is synthesized with 1.5 s left
    started = time.monotonic()
    failure = failure_of(engine, seconds=1.5)

    # Then it times out soon after the deadline, after one handshake attempt
    assert failure.code == UpstreamFailure.TIMEOUT
    assert time.monotonic() - started < 3.0
    assert fake.handshakes == 1


def test_no_session_is_opened_without_time_left(engine, fake):
    # Given 0.3 s left, under the second a session needs / When a text is synthesized
    failure = failure_of(engine, seconds=0.3)

    # Then it times out without a handshake
    assert failure.code == UpstreamFailure.TIMEOUT
    assert fake.handshakes == 0


# --- the fake itself ----------------------------------------------------------------------------


def test_fake_refuses_client_events_the_sdk_does_not_define(fake):
    # Given a client that sends a session.update with a field the SDK's models do not declare
    url = f"{fake.websocket_base_url}/realtime?model={MODEL}"
    with connect(url, additional_headers={"Authorization": "Bearer sk-test"}, open_timeout=5) as ws:
        assert json.loads(ws.recv(timeout=5))["type"] == "session.created"
        # When it sends that event
        ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "voices": "alloy"}}))

        # Then the fake answers with an error event and records the protocol error
        answer = json.loads(ws.recv(timeout=5))
    assert answer["type"] == "error"
    assert any("voices" in problem for problem in fake.protocol_errors)
    fake.protocol_errors.clear()


# --- the real service's ways (issue: the realtime route as the real service speaks it) ----------


def test_a_completed_response_without_audio_is_asked_again(engine, fake):
    # Given a model whose first answer has the right transcript but no audio at all
    fake.silent_times = 1
    # When a text is synthesized
    pcm = speak(engine)
    # Then the silent take was not accepted: the second one's audio is returned
    assert len(fake.spoken) == 2
    assert pcm == fake.pcm_for(TEXT)


def test_audio_far_shorter_than_the_text_fails_as_upstream_error(engine, fake):
    # Given a model that answers every time with a transcript but 0.2 s of audio for a long sentence
    fake.seconds_per_char = 0.0001
    text = "This sentence takes a person several seconds to say aloud, whatever the voice."
    # When it is synthesized / Then after one more try the request fails, and no silence is returned
    failure = failure_of(engine, text=text)
    assert failure.code == UpstreamFailure.ERROR and "too short" in failure.message
    assert len(fake.spoken) == 2


def test_beta_event_names_are_read_like_the_ga_ones(engine, fake):
    # Given a service that sends the beta names (response.audio.delta, response.audio_transcript.*)
    fake.event_names = "beta"
    # When a text is synthesized / Then its audio is returned, as with the GA names
    assert speak(engine) == fake.pcm_for(TEXT)


def test_a_spoken_preamble_is_dropped_and_the_answer_checked_alone(engine, fake):
    # Given a reasoning model that says "One moment." as a commentary item before reading the text
    fake.preamble = "One moment, let me read that for you."
    # When a text is synthesized
    pcm = speak(engine)
    # Then only the final answer's audio is returned, checked against the text (no retry)
    assert pcm == fake.pcm_for(TEXT)
    assert len(fake.spoken) == 1
    # And the session told the model to say nothing before the text
    (update,) = fake.events_of(SessionUpdateEvent)
    assert "no preamble" in update.session.instructions


def test_a_second_spoken_item_without_a_phase_is_checked_with_the_rest(engine, fake, monkeypatch):
    # Given a model that speaks an extra item not marked as commentary (so it counts as answer)
    fake.preamble = "Sure!"
    monkeypatch.setattr(fake, "_phase_of_preamble", None, raising=False)
    original = fake._speak_item

    async def unmarked(ws, response_id, output_index, transcript, pcm, *, phase, drop=False):
        return await original(ws, response_id, output_index, transcript, pcm, phase=None, drop=drop)

    monkeypatch.setattr(fake, "_speak_item", unmarked)
    # When a text is synthesized / Then "Sure!" plus the text is not the text: asked again, then refused
    assert failure_of(engine).code == UpstreamFailure.VERBATIM_MISMATCH


def test_a_refused_response_create_is_asked_again_with_fewer_at_once(engine, fake):
    # Given a service that refuses more than 2 active responses, and a text of 3 chunks
    fake.max_active_responses = 2
    text = long_text()
    # When it is synthesized
    pcm = speak(engine, text=text, seconds=20)
    # Then every chunk was read once, the refused ones asked again, and the audio is whole and in order
    chunks = split_into_chunks(text, MAX_CHUNK_CHARS)
    assert fake.refused_responses >= 1
    assert sorted(s.text for s in fake.spoken) == sorted(chunks)
    assert pcm == GAP.join(fake.pcm_for(chunk) for chunk in chunks)


def test_a_service_that_refuses_every_response_fails_within_the_budget(engine, fake):
    # Given a service that refuses every response.create (an error tied to each)
    fake.max_active_responses = 0
    # When a text is synthesized / Then it fails after a bounded number of asks
    failure = failure_of(engine)
    assert failure.code == UpstreamFailure.ERROR
    assert fake.refused_responses == 3  # the first ask and the request's 2 retries


def test_the_session_asks_for_the_least_reasoning(engine, fake):
    # Given a reasoning model / When a text is synthesized
    speak(engine)
    # Then the session asks for minimal reasoning effort (the least delay before it speaks)
    (update,) = fake.events_of(SessionUpdateEvent)
    assert update.session.reasoning.effort == "minimal"


def test_a_model_that_refuses_the_reasoning_setting_is_asked_without_it(engine, fake):
    # Given a model that refuses `reasoning` in session.update
    fake.refuse_reasoning = True
    # When two texts are synthesized
    assert speak(engine) == fake.pcm_for(TEXT)
    speak(engine)
    # Then the first session retried its update without it, and the second did not send it at all
    updates = fake.events_of(SessionUpdateEvent)
    assert [u.session.reasoning is not None for u in updates] == [True, False, False]


def test_no_reasoning_setting_is_sent_when_configured_off(fake):
    # Given REALTIME_REASONING_EFFORT="" / When a text is synthesized
    speak(OpenAIRealtimeTextToSpeech(make_settings(fake, realtime_reasoning_effort="")))
    # Then the session names no reasoning effort
    (update,) = fake.events_of(SessionUpdateEvent)
    assert update.session.reasoning is None
