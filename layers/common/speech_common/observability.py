"""Logger and Metrics for the whole layer. Never log request text, audio bytes or secrets."""

import logging

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()

# At DEBUG these libraries log request bodies and headers (the text, the API key): never below INFO.
for _library in (
    "aws_lambda_powertools.event_handler",
    "openai",
    "httpx2",
    "httpcore2",
    "botocore",
    "websockets",
):
    logging.getLogger(_library).setLevel(logging.INFO)
