"""Webhook signatures (jobs/webhooks.signed_headers) as Standard Webhooks specifies them, checked against the
specification's own formula and against standardwebhooks' verifier; the secret formats a receiver may hold."""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import string
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws
from standardwebhooks import Webhook, WebhookVerificationError

from speech_common.jobs.webhooks import signed_headers
from speech_common.secrets import webhook_secret
from speech_common.settings import Settings

BODY = '{"job_id":"abc","status":"succeeded"}'
SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def test_the_signature_is_the_specifications_hmac() -> None:
    # Given a body, an id and a moment
    sent_at = datetime(2026, 12, 5, 17, 0, tzinfo=UTC)
    # When it is signed
    headers = signed_headers(SECRET, "msg_abc", BODY, sent_at)
    # Then the headers are the specification's: v1,base64(HMAC-SHA256(key, "id.timestamp.body"))
    timestamp = str(int(sent_at.timestamp()))
    expected = hmac.new(b"k" * 32, f"msg_abc.{timestamp}.{BODY}".encode(), hashlib.sha256).digest()
    assert headers["webhook-id"] == "msg_abc" and headers["webhook-timestamp"] == timestamp
    assert headers["webhook-signature"] == "v1," + base64.b64encode(expected).decode()


def test_a_receiver_verifies_it_and_refuses_a_changed_body() -> None:
    # Given a delivery signed now
    headers = signed_headers(SECRET, "msg_abc", BODY, datetime.now(UTC))
    # When a receiver verifies it, and the same with one character of the body changed
    verified = Webhook(SECRET).verify(BODY, headers)
    # Then the first is the job's JSON and the second is refused
    assert verified == {"job_id": "abc", "status": "succeeded"}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace("abc", "abd"), headers)


def test_the_templates_generated_secret_is_usable_as_it_stands(template: dict[str, Any]) -> None:
    # Given a secret as the template's WebhookSecret generates it (its length, letters and digits only)
    generate = template["Resources"]["WebhookSecret"]["Properties"]["GenerateSecretString"]
    assert generate["ExcludePunctuation"] is True and not generate.get("IncludeSpace")
    alphabet = string.ascii_letters + string.digits
    secret = "".join(random.Random(22).choices(alphabet, k=generate["PasswordLength"]))
    # When the worker signs with it and a receiver verifies with it, each as the value reads
    headers = signed_headers(secret, "msg_abc", BODY, datetime.now(UTC))
    # Then it verifies (standardwebhooks reads it as base64 of at least 24 bytes)
    assert Webhook(secret).verify(BODY, headers)["status"] == "succeeded"
    assert len(base64.b64decode(secret)) >= 24


def test_the_secret_comes_from_secrets_manager_unless_the_environment_gives_one() -> None:
    # Given the webhook secret in Secrets Manager, and settings naming it, with and without WEBHOOK_SECRET
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        arn = client.create_secret(Name="speech-webhooks", SecretString=SECRET + "\n")["ARN"]
        # When the worker reads it
        from_aws = webhook_secret(Settings(webhook_secret_name=arn))
        from_env = webhook_secret(Settings(webhook_secret_name=arn, webhook_secret="whsec_local"))
    # Then it is the stored value (trimmed), and the environment's wins when set
    assert (from_aws, from_env) == (SECRET, "whsec_local")
