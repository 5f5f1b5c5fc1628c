"""The shared HTTP kit: what every door uses, and no door's own shape.

Framework-neutral (no Powertools, usable by an ASGI door too):
headers.py     the header names the API sets and lets pages read; the "served by" headers
paths.py       which door a path belongs to (shared with the authorizer)
envelope.py    size and content type, the checks that come before any parsing
forms.py       form bodies (multipart and urlencoded) -> files and fields; an uploaded file recognised as audio
validation.py  JSON bodies and validation errors -> one clear 400
answers.py     the size rules: a recording too long for one request, audio too large for a Lambda answer

On Powertools' API Gateway REST resolver:
event.py       what an API Gateway event says: the caller, this API's URL, this invocation's deadline
errors.py      exception -> status, and the handlers that render every error in the door's shape
resolver.py    the resolver factory, and `resolve(event, context, doors)`: each door built on its first request
"""
