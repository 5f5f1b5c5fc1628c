"""Public model -> chain of (engine, upstream model): moving on past gone models, and coming back."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

import pytest

from speech_common import model_routing
from speech_common.errors import UpstreamFailure
from speech_common.model_routing import (
    Route,
    RouteConfigError,
    RoutePolicy,
    parse_routes,
    routes_to_try,
    run_chain,
)

TTS_1 = Route("openai", "tts-1")
REALTIME = Route("openai-realtime", "gpt-realtime-2.1-mini")
CHAIN = (TTS_1, REALTIME)
NO_DATES = RoutePolicy(shutdown_dates={}, gone_skip_seconds=600)


def upstream(gone: set[Route], calls: list[Route]) -> Callable[[Route], str]:
    """An upstream that answers "model gone" for the routes in `gone` (a set the test may change)."""

    def call(route: Route) -> str:
        calls.append(route)
        if route in gone:
            raise UpstreamFailure(UpstreamFailure.MODEL_UNAVAILABLE, "gone")
        return f"audio from {route}"

    return call


def test_routes_parse_into_ordered_chains() -> None:
    # Given a spec with spaces / When parsed / Then each public model has its ordered chain
    routes = parse_routes("tts-1=openai:tts-1, polly:neural ;tts-1-hd=openai:tts-1-hd")
    assert routes == {
        "tts-1": (Route("openai", "tts-1"), Route("polly", "neural")),
        "tts-1-hd": (Route("openai", "tts-1-hd"),),
    }


@pytest.mark.parametrize(
    "spec", ["tts-1", "tts-1=", "tts-1=openai", "=openai:tts-1", "tts-1=openai:", "tts-1=a:b;tts-1=c:d"]
)
def test_malformed_routes_are_refused(spec: str) -> None:
    # Given a spec missing a part, or naming a model twice / When parsed / Then it is a configuration error
    with pytest.raises(RouteConfigError):
        parse_routes(spec)


def test_an_entry_past_its_shutdown_date_is_skipped_without_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given tts-1's known shutdown date has come
    monkeypatch.setattr(model_routing, "utc_today", lambda: date(2027, 1, 6))
    policy = RoutePolicy(shutdown_dates={"tts-1": date(2027, 1, 6)})
    calls: list[Route] = []
    # When a request runs the chain
    result = run_chain(CHAIN, upstream(set(), calls), policy)
    # Then the next entry serves and no call was paid to the retired model
    assert result == (f"audio from {REALTIME}", REALTIME)
    assert calls == [REALTIME]


def test_the_day_before_its_shutdown_an_entry_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the day before tts-1's shutdown date / When a request runs / Then tts-1 serves
    monkeypatch.setattr(model_routing, "utc_today", lambda: date(2027, 1, 5))
    policy = RoutePolicy(shutdown_dates={"tts-1": date(2027, 1, 6)})
    assert run_chain(CHAIN, upstream(set(), []), policy)[1] == TTS_1


def test_the_last_entry_is_tried_even_past_its_date(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a one-entry chain whose model is past its known date
    monkeypatch.setattr(model_routing, "utc_today", lambda: date(2028, 1, 1))
    policy = RoutePolicy(shutdown_dates={"tts-1": date(2027, 1, 6)})
    calls: list[Route] = []
    # When a request runs it / Then the upstream is still asked (it may serve it after all)
    assert run_chain((TTS_1,), upstream(set(), calls), policy) == (f"audio from {TTS_1}", TTS_1)
    assert calls == [TTS_1]


def test_a_gone_answer_before_the_date_skips_the_entry_for_a_while_then_one_request_retries() -> None:
    # Given tts-1 answers "gone" (no access, say) long before any known date
    gone, calls = {TTS_1}, []
    policy = RoutePolicy(shutdown_dates={}, gone_skip_seconds=0.3)
    call = upstream(gone, calls)
    # When requests run the chain
    first = run_chain(CHAIN, call, policy)
    second = run_chain(CHAIN, call, policy)
    # Then the first pays one failed call and the second goes straight to the next entry
    assert first[1] == REALTIME and second[1] == REALTIME
    assert calls == [TTS_1, REALTIME, REALTIME]
    # And once the skip has run out and the owner has fixed the access, tts-1 serves again
    gone.clear()
    time.sleep(0.35)
    assert run_chain(CHAIN, call, policy)[1] == TTS_1
    assert run_chain(CHAIN, call, policy)[1] == TTS_1  # and it is no longer skipped


def test_when_a_skip_runs_out_only_one_request_retries_the_entry() -> None:
    # Given an entry skipped after a "gone" answer, whose skip has just run out
    policy = RoutePolicy(shutdown_dates={}, gone_skip_seconds=0.2)
    run_chain(CHAIN, upstream({TTS_1}, []), policy)
    time.sleep(0.25)
    # When two requests look at the chain at once / Then only the first one tries the entry again
    assert routes_to_try(CHAIN, policy) == CHAIN
    assert routes_to_try(CHAIN, policy) == (REALTIME,)


def test_a_chain_whose_every_model_is_gone_still_calls_the_last_entry_every_time() -> None:
    # Given both entries answer "gone"
    calls: list[Route] = []
    call = upstream({TTS_1, REALTIME}, calls)
    # When two requests run the chain / Then both fail as model_unavailable
    for _ in range(2):
        with pytest.raises(UpstreamFailure) as failure:
            run_chain(CHAIN, call, NO_DATES)
        assert failure.value.code == UpstreamFailure.MODEL_UNAVAILABLE
    # And the second still asked the upstream (its last entry), so a recovery is seen at once
    assert calls == [TTS_1, REALTIME, REALTIME]


def test_other_failures_do_not_move_the_chain_on() -> None:
    # Given an upstream that rate-limits
    def call(route: Route) -> str:
        raise UpstreamFailure(UpstreamFailure.RATE_LIMITED, "slow down")

    # When the chain runs / Then the failure is the request's, and no entry is skipped later
    with pytest.raises(UpstreamFailure) as failure:
        run_chain(CHAIN, call, NO_DATES)
    assert failure.value.code == UpstreamFailure.RATE_LIMITED
    assert routes_to_try(CHAIN, NO_DATES) == CHAIN


def test_a_voice_one_upstream_cannot_serve_moves_on_for_that_request_only() -> None:
    # Given a first route that cannot serve one voice (a Polly engine without it, say)
    chain = (Route("polly", "generative"), Route("polly", "neural"))

    def call(route: Route) -> str:
        if route.upstream_model == "generative":
            raise UpstreamFailure(UpstreamFailure.VOICE_UNAVAILABLE, "not this voice")
        return "audio"

    # When / Then: the next route serves, and the first stays live for other voices
    assert run_chain(chain, call, NO_DATES) == ("audio", chain[1])
    assert routes_to_try(chain, NO_DATES) == chain


def test_a_voice_no_upstream_serves_fails_as_voice_unavailable() -> None:
    # Given a one-entry chain that cannot serve the voice
    chain = (Route("polly", "generative"),)

    def call(route: Route) -> str:
        raise UpstreamFailure(UpstreamFailure.VOICE_UNAVAILABLE, "not this voice")

    # When it runs / Then the request fails as voice_unavailable and the entry stays live
    with pytest.raises(UpstreamFailure) as failure:
        run_chain(chain, call, NO_DATES)
    assert failure.value.code == UpstreamFailure.VOICE_UNAVAILABLE
    assert routes_to_try(chain, NO_DATES) == chain
