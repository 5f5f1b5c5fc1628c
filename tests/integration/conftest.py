"""Fixtures of the integration tier: the Lambda artifacts as `sam build` makes them, built once a session."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

from speech_common import budgets, storage
from speech_common.jobs.queue import sqs_client
from speech_common.jobs.store import dynamodb_client
from speech_common.settings import get_settings
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.secrets_manager import FakeSecretsManager
from tests.helpers import free_port
from tests.lambda_cold import SECRET_NAME, Artifacts, host_arch, make_artifacts


@pytest.fixture(scope="session")
def built_artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    """The layer and both functions, built for this machine's architecture by the Makefile targets SAM runs."""
    return make_artifacts(tmp_path_factory.mktemp("lambda-build"), host_arch())


@pytest.fixture(scope="session")
def fake_secrets_manager() -> Iterator[FakeSecretsManager]:
    """Secrets Manager for processes the tests start: the OpenAI key under the template's secret name."""
    with FakeSecretsManager({SECRET_NAME: "sk-test-fake"}) as fake:
        yield fake


@pytest.fixture(scope="session")
def xray_port() -> Iterator[int]:
    """A UDP port standing in for the X-Ray daemon (what it receives is not read here)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws(
    moto_server: str, monkeypatch: pytest.MonkeyPatch, fake_openai: FakeOpenAI
) -> Iterator[dict[str, str]]:
    """A bucket, a jobs table, a usage table (budgets at their defaults) and a queue, fresh for each test."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    suffix = os.urandom(4).hex()
    session = boto3.session.Session()
    bucket, table = f"speech-{suffix}", f"jobs-{suffix}"
    session.client("s3").create_bucket(Bucket=bucket)
    session.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    usage_table = f"usage-{suffix}"
    session.client("dynamodb").create_table(
        TableName=usage_table,
        KeySchema=[
            {"AttributeName": "key_id", "KeyType": "HASH"},
            {"AttributeName": "window", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "key_id", "AttributeType": "S"},
            {"AttributeName": "window", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    queue_url = session.client("sqs").create_queue(QueueName=f"jobs-{suffix}")["QueueUrl"]
    monkeypatch.setenv("SPEECH_BUCKET", bucket)
    monkeypatch.setenv("JOBS_TABLE", table)
    monkeypatch.setenv("JOBS_QUEUE_URL", queue_url)
    monkeypatch.setenv("USAGE_TABLE", usage_table)
    get_settings.cache_clear()
    for client in (storage.s3_client, dynamodb_client, sqs_client, budgets.dynamodb_client):
        client.cache_clear()
    yield {"bucket": bucket, "table": table, "queue_url": queue_url, "usage_table": usage_table}
    for client in (storage.s3_client, dynamodb_client, sqs_client, budgets.dynamodb_client):
        client.cache_clear()
