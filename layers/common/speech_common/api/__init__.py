"""The HTTP edge of the /api door: everything that knows about API Gateway events and HTTP answers.

resolver.py        the Powertools resolver both functions use; checks the envelope once, first
envelope.py        size and content type, the checks that come before any parsing
validation.py      JSON bodies and validation errors -> one clear 400
multipart_form.py  the STT multipart form -> a TranscriptionJob
errors.py          the error table (exception -> status) and the {"detail", "code"} renderer
answers.py         what a route returns: the deadline of this invocation, served answers, inline audio
"""
