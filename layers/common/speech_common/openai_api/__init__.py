"""The HTTP edge of the OpenAI-shaped /v1 door: the same core, settings and route chains as /api.

resolver.py        the /v1 resolver of each function, and which door an event is for
errors.py          OpenAI's error body {"error": {message, type, param, code}} and its status codes
models.py          the request and answer models of /v1/audio/* and /v1/models
speech.py          POST /v1/audio/speech: the audio itself as the answer (bytes, per-format Content-Type)
transcriptions.py  POST /v1/audio/transcriptions: OpenAI's form in, json or text out
catalog.py         GET /v1/models: the public models this deployment serves
"""
