"""Logger and Metrics for the whole layer. Never log request text, audio bytes or secrets."""

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics()
