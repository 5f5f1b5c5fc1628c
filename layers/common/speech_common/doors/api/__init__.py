"""The /api door: the documented contract (POST /api/stt/, /api/tts/), uploads and jobs."""
