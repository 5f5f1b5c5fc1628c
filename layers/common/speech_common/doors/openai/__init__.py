"""The OpenAI-shaped /v1 door: the same core, settings and route chains as /api, in OpenAI's shapes.

models.py    the request and answer models of /v1/audio/* and /v1/models
requests.py  OpenAI's speech body and transcription form in the core's terms
answers.py   speech as the audio itself (per-format Content-Type), transcripts as OpenAI shapes them
errors.py    OpenAI's error body {"error": {message, type, param, code}} and its status codes
resolver.py  the door's resolver
catalog.py   GET /v1/models: the public models this deployment serves
"""

PREFIX = "/v1"  # the paths this door answers (the authorizer reads it too)
