"""Lambda's SQS event source mapping, for `make serve`: one poller per queue a function's SQS event reads.

A poller receives up to the event's BatchSize messages, invokes the function with them through the local runtime
(the event Lambda would send), deletes them when the invocation succeeds and otherwise leaves them: they come back
after the queue's visibility timeout and, past the redrive policy's maxReceiveCount, SQS moves them to the
dead-letter queue. While an invocation runs its messages are kept invisible, so a long job is not delivered twice.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from local import limits
from local.sam_adapter import LambdaFunction

LOG = logging.getLogger(__name__)

RECEIVE_WAIT_S = 1  # long polling: at most this long between a message's arrival and its delivery
ERROR_BACKOFF_S = 1.0
DEFAULT_BATCH_SIZE = 10  # Lambda's for a standard queue

# (function, event JSON) -> (succeeded, answer): local.runtime.ProcessLambdaRuntime.invoke_with_outcome
Invoke = Callable[[LambdaFunction, str], tuple[bool, str]]


def lambda_record(message: Mapping[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One SQS message as Lambda's event source mapping puts it in an event's Records."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _message_attribute(value)
            for name, value in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    attribute: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value.get("DataType", "String"),
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        import base64

        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
    return attribute


def failed_items(answer: str) -> set[str] | None:
    """The message ids a ReportBatchItemFailures answer names; None when it names none (all succeeded)."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return None
    failures = parsed.get("batchItemFailures") if isinstance(parsed, dict) else None
    if not isinstance(failures, list):
        return None
    return {str(item.get("itemIdentifier")) for item in failures if isinstance(item, dict)}


class QueuePoller:
    """Feeds one queue to one function, one batch at a time, in a thread."""

    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        function: LambdaFunction,
        invoke: Invoke,
        batch_size: int = DEFAULT_BATCH_SIZE,
        visibility_timeout: int,
        report_batch_item_failures: bool = False,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self.function = function
        self._invoke = invoke
        self._batch_size = max(1, min(int(batch_size), 10))  # ReceiveMessage takes at most 10
        self._visibility_timeout = max(1, visibility_timeout)
        self._partial = report_batch_item_failures
        self._stopping = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"sqs-poller-{function.full_path}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """No batch is received after this; a running invocation ends when its worker is stopped."""
        self._stopping.set()

    def stop(self, timeout: float = 2.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # the embedded SQS going away at exit, or a bug: keep polling
                if self._stopping.is_set():
                    return
                LOG.warning("SQS poller of %s: %s", self.function.full_path, type(exc).__name__)
                self._stopping.wait(ERROR_BACKOFF_S)

    def poll_once(self) -> int:
        """Receive a batch and deliver it; how many messages were received."""
        messages = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self._batch_size,
            WaitTimeSeconds=RECEIVE_WAIT_S,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {"Records": [lambda_record(m, self._queue_arn, self._region) for m in messages]}
        LOG.info("SQS: %d message(s) from %s to %s", len(messages), self._queue_arn, self.function.full_path)
        with _KeptInvisible(self._sqs, self.queue_url, messages, self._visibility_timeout):
            succeeded, answer = self._deliver(json.dumps(event))
        if self._stopping.is_set():
            return len(messages)  # stopped mid-invocation: the messages stay for the next start
        self._settle(messages, succeeded, answer)
        return len(messages)

    def _deliver(self, event: str) -> tuple[bool, str]:
        try:
            return self._invoke(self.function, event)
        except (limits.IntegrationTimeout, limits.InvocationRejected) as exc:
            return False, json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)})

    def _settle(self, messages: Sequence[Mapping[str, Any]], succeeded: bool, answer: str) -> None:
        failed = failed_items(answer) if succeeded and self._partial else None
        done = [m for m in messages if succeeded and (failed is None or m["MessageId"] not in failed)]
        for message in done:
            self._sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        if len(done) < len(messages):
            LOG.info(
                "%s failed %d of %d messages: they come back in %d s (then, past the redrive count, "
                "go to the dead-letter queue)",
                self.function.full_path,
                len(messages) - len(done),
                len(messages),
                self._visibility_timeout,
            )


class _KeptInvisible:
    """Extends the messages' visibility while the invocation runs (Lambda asks for a queue visibility timeout
    longer than the function's timeout instead; locally the timeout is short so that failures retry soon)."""

    def __init__(self, sqs: Any, queue_url: str, messages: Sequence[Mapping[str, Any]], timeout: int) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handles = [m["ReceiptHandle"] for m in messages]
        self._timeout = timeout
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._extend, name="sqs-visibility", daemon=True)

    def __enter__(self) -> None:
        self._thread.start()

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _extend(self) -> None:
        while not self._done.wait(self._timeout / 2):
            for handle in self._handles:
                try:
                    self._sqs.change_message_visibility(
                        QueueUrl=self._queue_url, ReceiptHandle=handle, VisibilityTimeout=self._timeout
                    )
                except Exception as exc:  # the embedded SQS stopping at exit
                    LOG.debug("Keeping a message invisible failed: %s", type(exc).__name__)
