"""make serve's embedded AWS: the template's resources created in moto's server, what each function is given, and
the SQS poller's delivery, retries and redrive (against the embedded server itself, over loopback HTTP)."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.local_aws import (
    DUMMY_CREDENTIALS,
    ENDPOINT_VARIABLES,
    EmbeddedAws,
    PhysicalResource,
    PortUnavailable,
    create_resources,
    function_overrides,
    physical_name,
)
from local.sam_adapter import LambdaFunction, TemplateResource
from local.sqs_poller import QueuePoller, failed_items, lambda_record

REGION = "us-east-1"
# What SAM's processed template holds for `!GetAtt JobsDeadLetterQueue.Arn` (see test_sam_adapter).
DLQ_PLACEHOLDER = "arn:aws:lambda:us-east-1:123456789012:function:JobsDeadLetterQueue"
RESOURCES = (
    TemplateResource("", "SpeechBucket", "AWS::S3::Bucket", {}),
    TemplateResource(
        "",
        "JobsTable",
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "job_id", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
            "TimeToLiveSpecification": {"AttributeName": "ttl", "Enabled": True},
        },
    ),
    # The queue before its dead-letter queue: the redrive policy must not depend on the template's order.
    TemplateResource(
        "",
        "JobsQueue",
        "AWS::SQS::Queue",
        {
            "VisibilityTimeout": 5400,
            "RedrivePolicy": {"deadLetterTargetArn": DLQ_PLACEHOLDER, "maxReceiveCount": 2},
        },
    ),
    TemplateResource("", "JobsDeadLetterQueue", "AWS::SQS::Queue", {"MessageRetentionPeriod": 1209600}),
)


def function(env: dict[str, str]) -> LambdaFunction:
    return LambdaFunction(
        name="WorkerFunction",
        full_path="WorkerFunction",
        handler="app.lambda_handler",
        runtime="python3.13",
        code_dir=None,
        timeout=30.0,
        layers=(),
        env=env,
        env_file_values={},
    )


@pytest.fixture
def aws() -> Iterator[EmbeddedAws]:
    embedded = EmbeddedAws()  # a process of its own: each test starts with no resources
    embedded.start()
    yield embedded
    embedded.stop()


@pytest.fixture
def created(aws: EmbeddedAws) -> dict[tuple[str, str], PhysicalResource]:
    return create_resources(aws, RESOURCES, REGION, visibility_timeout=1)


def test_the_templates_resources_are_created_with_their_keys_and_redrive(
    aws: EmbeddedAws, created: dict[tuple[str, str], PhysicalResource]
) -> None:
    # Given the template's bucket, table and queues created in the embedded services (visibility 1 s)
    sqs, dynamodb = aws.client("sqs", REGION), aws.client("dynamodb", REGION)
    # When they are read back
    table = dynamodb.describe_table(TableName=created[("", "JobsTable")].ref)["Table"]
    queue = sqs.get_queue_attributes(QueueUrl=created[("", "JobsQueue")].ref, AttributeNames=["All"])
    # Then the table has the template's key, the queue the short local timeout and a redrive to the real DLQ ARN
    assert table["KeySchema"] == [{"AttributeName": "job_id", "KeyType": "HASH"}]
    assert queue["Attributes"]["VisibilityTimeout"] == "1"
    redrive = json.loads(queue["Attributes"]["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": created[("", "JobsDeadLetterQueue")].arn, "maxReceiveCount": 2}
    assert created[("", "JobsDeadLetterQueue")].arn.startswith("arn:aws:sqs:")
    # And the bucket takes objects under its lower-case name
    aws.client("s3", REGION).put_object(Bucket="speechbucket", Key="uploads/x", Body=b"x")
    assert physical_name(RESOURCES[0]) == "speechbucket"


def test_a_function_gets_the_physical_names_endpoints_and_credentials(
    aws: EmbeddedAws, created: dict[tuple[str, str], PhysicalResource]
) -> None:
    # Given a function whose environment SAM resolved (a Ref is the logical id; the shell set one variable)
    env = {
        "SPEECH_BUCKET": "SpeechBucket",
        "JOBS_QUEUE_URL": "JobsQueue",
        "DLQ_ARN": DLQ_PLACEHOLDER,
        "JOBS_TABLE": "my-table-from-the-shell",
        "OPENAI_SECRET_NAME": "speech-api/openai",
    }
    # When its overrides are made
    overrides = function_overrides(function(env), created, aws.endpoint)
    # Then each placeholder becomes what CloudFormation would give; a value set in the shell stays
    assert overrides["SPEECH_BUCKET"] == "speechbucket"
    assert overrides["JOBS_QUEUE_URL"] == created[("", "JobsQueue")].ref
    assert overrides["DLQ_ARN"] == created[("", "JobsDeadLetterQueue")].arn
    assert "JOBS_TABLE" not in overrides and "OPENAI_SECRET_NAME" not in overrides
    # And only S3, DynamoDB and SQS go to the embedded endpoint (not Polly or Secrets Manager)
    assert {k: overrides[k] for k in ENDPOINT_VARIABLES} == dict.fromkeys(ENDPOINT_VARIABLES, aws.endpoint)
    assert "AWS_ENDPOINT_URL" not in overrides
    # And credentials only when the function was given none
    assert DUMMY_CREDENTIALS.items() <= overrides.items()
    configured = function_overrides(
        function({**env, "AWS_ACCESS_KEY_ID": "AKIA-REAL"}), created, aws.endpoint
    )
    assert "AWS_ACCESS_KEY_ID" not in configured


def test_a_record_is_shaped_as_lambdas_sqs_event() -> None:
    # Given a message as ReceiveMessage returns it
    message = {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": '{"job_id": "j"}',
        "MD5OfBody": "abc",
        "Attributes": {"ApproximateReceiveCount": "1"},
        "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "stt"}},
    }
    # When it is put in an event
    record = lambda_record(message, "arn:aws:sqs:us-east-1:123456789012:q", REGION)
    # Then it has Lambda's keys and spelling
    assert record["messageId"] == "m-1" and record["receiptHandle"] == "rh-1"
    assert record["body"] == '{"job_id": "j"}' and record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":q") and record["awsRegion"] == REGION
    assert record["attributes"] == {"ApproximateReceiveCount": "1"}
    assert record["messageAttributes"]["kind"]["stringValue"] == "stt"


def test_batch_item_failures_name_the_failed_messages() -> None:
    # Given answers of a function with ReportBatchItemFailures
    # When they are read
    # Then the ids they name are the failures, and an answer naming none means all succeeded
    assert failed_items('{"batchItemFailures": [{"itemIdentifier": "m-2"}]}') == {"m-2"}
    assert failed_items("null") is None


class Recorder:
    """A function that fails as long as `failing` is set, and keeps the events it got."""

    def __init__(self, failing: bool) -> None:
        self.failing = failing
        self.events: list[dict[str, Any]] = []

    def __call__(self, _function: LambdaFunction, event: str) -> tuple[bool, str]:
        self.events.append(json.loads(event))
        if self.failing:
            return False, json.dumps({"errorType": "RuntimeError", "errorMessage": "boom"})
        return True, "null"


def poller(aws: EmbeddedAws, queue: PhysicalResource, invoke: Recorder) -> QueuePoller:
    return QueuePoller(
        sqs=aws.client("sqs", REGION),
        queue_url=queue.ref,
        queue_arn=queue.arn,
        region=REGION,
        function=function({}),
        invoke=invoke,
        batch_size=1,
        visibility_timeout=1,
    )


def polled_until(target: QueuePoller, deliveries: int, recorder: Recorder, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while len(recorder.events) < deliveries and time.monotonic() < deadline:
        target.poll_once()


def test_a_delivered_message_is_deleted(
    aws: EmbeddedAws, created: dict[tuple[str, str], PhysicalResource]
) -> None:
    # Given a message on the jobs queue and a function that succeeds
    queue, sqs = created[("", "JobsQueue")], aws.client("sqs", REGION)
    sqs.send_message(QueueUrl=queue.ref, MessageBody='{"job_id": "j"}')
    recorder = Recorder(failing=False)
    # When the poller delivers it
    polled_until(poller(aws, queue, recorder), 1, recorder)
    time.sleep(1.5)  # past the visibility timeout: a message not deleted would be back
    # Then the function got it once, as Lambda's event, and the queue is empty
    assert [r["body"] for e in recorder.events for r in e["Records"]] == ['{"job_id": "j"}']
    attributes = sqs.get_queue_attributes(QueueUrl=queue.ref, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_a_failing_message_is_retried_then_moved_to_the_dead_letter_queue(
    aws: EmbeddedAws, created: dict[tuple[str, str], PhysicalResource]
) -> None:
    # Given a message on the jobs queue (maxReceiveCount 2) and a function that always fails
    queue, dlq = created[("", "JobsQueue")], created[("", "JobsDeadLetterQueue")]
    aws.client("sqs", REGION).send_message(QueueUrl=queue.ref, MessageBody='{"job_id": "j"}')
    failing, dead_letters = Recorder(failing=True), Recorder(failing=False)
    # When the jobs poller runs until the message stops coming back, and the dead-letter poller after it
    polled_until(poller(aws, queue, failing), 2, failing)
    for _ in range(3):  # a receive past the count is what moves it
        poller(aws, queue, failing).poll_once()
    polled_until(poller(aws, dlq, dead_letters), 1, dead_letters)
    # Then the function got it twice, seconds apart (not after the template's 90 min), and the DLQ's once
    assert len(failing.events) == 2
    counts = [e["Records"][0]["attributes"]["ApproximateReceiveCount"] for e in failing.events]
    assert counts == ["1", "2"]
    assert [e["Records"][0]["body"] for e in dead_letters.events] == ['{"job_id": "j"}']


def test_a_browsers_get_is_answered_by_the_buckets_cors_rules_as_they_are_now(aws: EmbeddedAws) -> None:
    # Given a bucket whose CORS rules let one origin GET, and a presigned link to one of its objects
    s3 = aws.client("s3", REGION)
    s3.create_bucket(Bucket="audio")
    s3.put_object(Bucket="audio", Key="a.mp3", Body=b"ID3")
    rules = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://app.example.test"]}]
    s3.put_bucket_cors(Bucket="audio", CORSConfiguration={"CORSRules": rules})
    link = s3.generate_presigned_url("get_object", Params={"Bucket": "audio", "Key": "a.mp3"}, ExpiresIn=60)

    def allowed(origin: str) -> str | None:
        return requests.get(link, headers={"Origin": origin}, timeout=10).headers.get(
            "Access-Control-Allow-Origin"
        )

    # When that origin and another fetch it, then the rules change and the other fetches it again
    before = (allowed("https://app.example.test"), allowed("https://other.example.test"))
    rules = [{"AllowedMethods": ["GET"], "AllowedOrigins": ["https://other.example.test"]}]
    s3.put_bucket_cors(Bucket="audio", CORSConfiguration={"CORSRules": rules})
    after = allowed("https://other.example.test")
    # Then each answer follows the rules the bucket has at the time, as S3's do
    assert before == ("https://app.example.test", None)
    assert after == "https://other.example.test"


def test_a_taken_port_is_reported_as_unavailable() -> None:
    # Given a loopback port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # When the embedded services are started on it
        embedded = EmbeddedAws(port=taken.getsockname()[1])
        # Then they say the port is taken
        with pytest.raises(PortUnavailable, match=str(taken.getsockname()[1])):
            embedded.start()


def test_the_services_end_with_the_process_that_started_them_even_when_it_is_killed() -> None:
    # Given a process that started the embedded services and printed their process id
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, time; from local.local_aws import EmbeddedAws; a = EmbeddedAws(); a.start();"
            " print(a._proc.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert _running(child)
    # When that process is killed (it has no chance to stop them)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    # Then the services end too, instead of holding their port
    deadline = time.monotonic() + 10
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _running(child)


def _running(pid: int) -> bool:
    """Whether pid is a process that has not ended (a zombie, ended but not yet reaped, counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
