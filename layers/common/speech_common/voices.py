"""Which documented voices each public speech model speaks now (GET /v1/audio/voices, GET /api/tts/voices/).

A model speaks a voice when an entry of its route chain that a request would try today can speak it (entries past
their shutdown date are left out; the last is always tried, as model_routing does): the chain moves on for a voice
one entry lacks, so any of them will do. What each engine speaks:

- openai, local: the six documented voices (OpenAI's speech endpoint has them all; the local engine an espeak
  voice for each);
- openai-realtime: a voice whose REALTIME_VOICE_MAP entry (or its own name, unmapped) is a Realtime API voice;
- polly: a voice POLLY_VOICE_MAP names (an unnamed one is read in the map's default voice: another person).

No HTTP and no engine imported: the jobs function answers from the settings alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from speech_common import model_routing
from speech_common.model_routing import Route, RoutePolicy, is_retired
from speech_common.settings import Settings
from speech_common.vocabulary import DOCUMENTED_VOICES, TtsModel

# The Realtime API's built-in voices (fable, onyx and nova are not among them: REALTIME_VOICE_MAP maps them).
REALTIME_VOICES = frozenset(
    {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}
)


@dataclass(frozen=True)
class VoiceOffer:
    voice: str
    models: tuple[str, ...]  # the public models that speak it, in the vocabulary's order

    @property
    def name(self) -> str:
        return self.voice.capitalize()


def engine_speaks(route: Route, voice: str, settings: Settings) -> bool:
    if route.engine == "openai-realtime":
        return settings.realtime_voice_map.get(voice, voice) in REALTIME_VOICES
    if route.engine == "polly":
        return voice in settings.polly_voice_map
    return True


def routes_today(chain: tuple[Route, ...], policy: RoutePolicy) -> tuple[Route, ...]:
    """The entries a request would try today: those not past their shutdown date, and the last."""
    today = model_routing.utc_today()
    *head, last = chain
    return (*(route for route in head if not is_retired(route, policy, today)), last)


def voices_offered(settings: Settings) -> list[VoiceOffer]:
    """Each documented voice some model speaks, with the models that speak it."""
    policy = settings.route_policy
    offers = []
    for voice in DOCUMENTED_VOICES:
        models = tuple(
            model
            for model in get_args(TtsModel)
            if any(
                engine_speaks(route, voice, settings)
                for route in routes_today(settings.tts_model_routes[model], policy)
            )
        )
        if models:
            offers.append(VoiceOffer(voice, models))
    return offers
