"""Public model -> chain of (engine, upstream model), moving on past retired models."""

import pytest

from speech_common.errors import UpstreamFailure
from speech_common.model_routing import Route, RouteConfigError, live_routes, parse_routes, run_chain


def test_routes_parse_into_ordered_chains() -> None:
    # Given a spec with two models, one with a fallback, and stray spaces / When parsed
    routes = parse_routes("tts-1=openai:tts-1, polly:neural ;tts-1-hd=openai:tts-1-hd")
    # Then each model maps to its routes in the order written
    assert routes == {
        "tts-1": (Route("openai", "tts-1"), Route("polly", "neural")),
        "tts-1-hd": (Route("openai", "tts-1-hd"),),
    }


@pytest.mark.parametrize("spec", ["tts-1", "tts-1=", "tts-1=openai", "=openai:tts-1", "tts-1=openai:"])
def test_malformed_routes_are_refused(spec: str) -> None:
    # Given a spec missing its '=', its model, its engine or its upstream model
    # When parsed / Then it is a route configuration error
    with pytest.raises(RouteConfigError):
        parse_routes(spec)


def test_a_retired_model_moves_the_chain_on_and_is_remembered() -> None:
    # Given a chain whose first upstream model is gone
    chain = (Route("openai", "tts-1"), Route("openai-realtime", "gpt-realtime-2.1-mini"))
    calls: list[Route] = []

    def call(route: Route) -> str:
        calls.append(route)
        if route.upstream_model == "tts-1":
            raise UpstreamFailure(UpstreamFailure.MODEL_UNAVAILABLE, "gone")
        return "audio"

    # When it runs twice
    first = run_chain(chain, call)
    second = run_chain(chain, call)

    # Then both are served by the second route and the retired one was tried only once
    assert first == ("audio", chain[1]) and second == ("audio", chain[1])
    assert calls == [chain[0], chain[1], chain[1]]
    assert live_routes(chain) == (chain[1],)


def test_other_failures_do_not_move_the_chain_on() -> None:
    # Given a chain whose first route is rate limited
    chain = (Route("openai", "tts-1"), Route("polly", "neural"))

    def call(route: Route) -> str:
        raise UpstreamFailure(UpstreamFailure.RATE_LIMITED, "slow down")

    # When it runs / Then the rate limit is raised, not passed to the next route
    with pytest.raises(UpstreamFailure) as failure:
        run_chain(chain, call)
    assert failure.value.code == UpstreamFailure.RATE_LIMITED
    # And no route is dropped from the chain
    assert live_routes(chain) == chain


def test_a_chain_with_every_model_gone_fails_as_model_unavailable() -> None:
    # Given a chain whose every upstream model is gone
    chain = (Route("openai", "a"), Route("openai", "b"))

    def call(route: Route) -> str:
        raise UpstreamFailure(UpstreamFailure.MODEL_UNAVAILABLE, "gone")

    # When it runs, twice / Then each run fails as model unavailable
    for _ in range(2):  # the second time nothing is left to try
        with pytest.raises(UpstreamFailure) as failure:
            run_chain(chain, call)
        assert failure.value.code == UpstreamFailure.MODEL_UNAVAILABLE


def test_a_voice_one_upstream_cannot_serve_moves_on_for_that_request_only() -> None:
    # Given a first route that cannot serve one voice (a Polly engine without it, say)
    chain = (Route("polly", "generative"), Route("polly", "neural"))

    def call(route: Route) -> str:
        if route.upstream_model == "generative":
            raise UpstreamFailure(UpstreamFailure.VOICE_UNAVAILABLE, "not this voice")
        return "audio"

    # When / Then: the next route serves, and the first stays live for other voices
    assert run_chain(chain, call) == ("audio", chain[1])
    assert live_routes(chain) == chain


def test_a_voice_no_upstream_serves_fails_as_voice_unavailable() -> None:
    # Given a one-route chain that cannot serve the voice
    chain = (Route("polly", "generative"),)

    def call(route: Route) -> str:
        raise UpstreamFailure(UpstreamFailure.VOICE_UNAVAILABLE, "not this voice")

    # When it runs / Then it fails as voice unavailable
    with pytest.raises(UpstreamFailure) as failure:
        run_chain(chain, call)
    assert failure.value.code == UpstreamFailure.VOICE_UNAVAILABLE
    # And the route stays live for other voices
    assert live_routes(chain) == chain
