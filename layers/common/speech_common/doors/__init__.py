"""The doors: one package per HTTP shape of the API (/api, /v1), each over the shared kit (speech_common.http_kit)."""
