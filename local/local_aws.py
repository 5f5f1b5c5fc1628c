"""An embedded S3, DynamoDB and SQS for `make serve`: no AWS account needed for uploads and jobs.

moto's server mode runs in a process of its own on a loopback port (in the server's process it shared one GIL
with the gateway's emulation, and halved what both could serve under load); the template's AWS::S3::Bucket, AWS::DynamoDB::Table
and AWS::SQS::Queue resources are created there, and every function gets their physical names where its
environment refers to them, plus service-specific endpoints (AWS_ENDPOINT_URL_S3, _DYNAMODB, _SQS: not the global
AWS_ENDPOINT_URL, which would also send Polly and Secrets Manager calls to moto). Functions with SQS events are
fed by local.sqs_poller, as Lambda's event source mapping feeds them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from local import sam_adapter
from local.runtime import ProcessLambdaRuntime
from local.sam_adapter import LambdaFunction, TemplateResource
from local.sqs_poller import DEFAULT_BATCH_SIZE, QueuePoller

LOG = logging.getLogger(__name__)

BUCKET, TABLE, QUEUE = "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::SQS::Queue"
EMBEDDED_TYPES = (BUCKET, TABLE, QUEUE)
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_SQS")
# moto takes any credentials; these are for functions that were given none and for the server's own calls.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
# A failed delivery comes back after the queue's visibility timeout: seconds here, not the template's 90 min
# (the poller keeps a message invisible for as long as its invocation runs).
LOCAL_VISIBILITY_TIMEOUT_S = 5
START_TIMEOUT_S = 60.0
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "FifoQueue",
    "ContentBasedDeduplication",
)


class PortUnavailable(OSError):
    """The port asked for the embedded services is taken."""


@dataclass(frozen=True)
class PhysicalResource:
    """A template resource as created in the embedded services: what `!Ref` and `!GetAtt .Arn` give."""

    stack_path: str
    logical_id: str
    type: str
    ref: str  # bucket name, table name, queue URL
    arn: str


class EmbeddedAws:
    """moto's S3, DynamoDB and SQS (server mode, real HTTP) on a loopback port, in a child process that ends with
    this one (it exits when its standard input closes, however this process ended)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._port = port
        self._proc: subprocess.Popen[str] | None = None
        self._endpoint: str | None = None

    @property
    def endpoint(self) -> str:
        assert self._endpoint is not None, "start() first"
        return self._endpoint

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the child and wait for the port it listens on. Raises PortUnavailable."""
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "local.moto_child", self.host, str(self._port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        )
        stdout = self._proc.stdout
        assert stdout is not None
        answer: list[str] = []
        reader = threading.Thread(target=lambda: answer.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        said = answer[0].strip() if answer else ""
        if not said.startswith("listening "):
            self.stop()
            if said.startswith("unavailable "):
                raise PortUnavailable(f"{self.host}:{self._port}: {said.removeprefix('unavailable ')}")
            raise RuntimeError(f"the embedded AWS services did not start: {said or 'no answer'}")
        self._endpoint = f"http://{self.host}:{said.removeprefix('listening ')}"

    def stop(self) -> None:
        proc, self._proc, self._endpoint = self._proc, None, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

    def client(self, service: str, region: str) -> Any:
        import boto3

        session: Any = (
            boto3.session.Session()
        )  # Any: the service is a variable, not one of the stubs' literals
        return session.client(
            service,
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )


# --- The template's resources -----------------------------------------------------------------------------------


def physical_name(resource: TemplateResource) -> str:
    """The name the template gives the resource, else one made of its logical id (and its stack's path)."""
    declared = {BUCKET: "BucketName", TABLE: "TableName", QUEUE: "QueueName"}[resource.type]
    name = resource.properties.get(declared)
    if isinstance(name, str) and name:
        return name
    name = "-".join(part for part in (resource.stack_path.replace("/", "-"), resource.logical_id) if part)
    if resource.type == BUCKET:
        return name.lower()  # bucket names are lower case
    if resource.type == QUEUE and _truthy(resource.properties.get("FifoQueue")):
        return f"{name}.fifo"
    return name


def create_resources(
    aws: EmbeddedAws, resources: Iterable[TemplateResource], region: str, visibility_timeout: int
) -> dict[tuple[str, str], PhysicalResource]:
    """Create every bucket, table and queue; {(stack path, logical id): what was created}."""
    created: dict[tuple[str, str], PhysicalResource] = {}
    queues: list[TemplateResource] = []
    for resource in resources:
        if resource.type == BUCKET:
            made = _create_bucket(aws.client("s3", region), resource, region)
        elif resource.type == TABLE:
            made = _create_table(aws.client("dynamodb", region), resource)
        elif resource.type == QUEUE:
            made = _create_queue(aws.client("sqs", region), resource, visibility_timeout)
            queues.append(resource)
        else:
            continue
        created[(resource.stack_path, resource.logical_id)] = made
    # Redrive policies last: a dead-letter queue may come after the queue that names it.
    for queue in queues:
        _set_redrive_policy(aws.client("sqs", region), queue, created)
    return created


def _create_bucket(s3: Any, resource: TemplateResource, region: str) -> PhysicalResource:
    name = physical_name(resource)
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=name, **location)
    cors = _cors_rules(resource.properties.get("CorsConfiguration"))
    if cors:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": cors})
    return PhysicalResource(resource.stack_path, resource.logical_id, BUCKET, name, f"arn:aws:s3:::{name}")


_CORS_RULE_FIELDS = {
    "AllowedHeaders": "AllowedHeaders",
    "AllowedMethods": "AllowedMethods",
    "AllowedOrigins": "AllowedOrigins",
    "ExposedHeaders": "ExposeHeaders",
    "MaxAge": "MaxAgeSeconds",
}


def _cors_rules(configuration: Any) -> list[dict[str, Any]]:
    """A bucket's CorsConfiguration as CloudFormation spells it, as S3's PutBucketCors takes it."""
    rules = configuration.get("CorsRules") if isinstance(configuration, dict) else None
    return [
        {_CORS_RULE_FIELDS[key]: value for key, value in rule.items() if key in _CORS_RULE_FIELDS}
        for rule in rules or ()
        if isinstance(rule, dict)
    ]


def _create_table(dynamodb: Any, resource: TemplateResource) -> PhysicalResource:
    props = resource.properties
    name = physical_name(resource)
    kwargs: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
    }
    if props.get("BillingMode") == "PAY_PER_REQUEST":
        kwargs["BillingMode"] = "PAY_PER_REQUEST"
    else:
        kwargs["ProvisionedThroughput"] = props.get(
            "ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
        )
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(indexes):
            kwargs[indexes] = props[indexes]
    arn = dynamodb.create_table(**kwargs)["TableDescription"]["TableArn"]
    ttl = props.get("TimeToLiveSpecification")
    if isinstance(ttl, dict) and ttl.get("AttributeName"):
        dynamodb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={
                "AttributeName": ttl["AttributeName"],
                "Enabled": _truthy(ttl.get("Enabled")),
            },
        )
    return PhysicalResource(resource.stack_path, resource.logical_id, TABLE, name, arn)


def _create_queue(sqs: Any, resource: TemplateResource, visibility_timeout: int) -> PhysicalResource:
    props = resource.properties
    declared = props.get("VisibilityTimeout")
    attributes = {
        "VisibilityTimeout": str(min(int(declared), visibility_timeout) if declared else visibility_timeout)
    }
    for name in _QUEUE_ATTRIBUTES:
        value = props.get(name)
        if isinstance(value, bool):
            attributes[name] = "true" if value else "false"
        elif isinstance(value, (int, str)):
            attributes[name] = str(value)
    url = sqs.create_queue(QueueName=physical_name(resource), Attributes=attributes)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return PhysicalResource(resource.stack_path, resource.logical_id, QUEUE, url, arn)


def _set_redrive_policy(
    sqs: Any, queue: TemplateResource, created: Mapping[tuple[str, str], PhysicalResource]
) -> None:
    policy = queue.properties.get("RedrivePolicy")
    if not isinstance(policy, dict):
        return
    target = policy.get("deadLetterTargetArn")
    ids = [logical_id for stack, logical_id in created if stack == queue.stack_path]
    reference = sam_adapter.resource_reference(target, ids)
    if reference is not None:
        target = created[(queue.stack_path, reference.logical_id)].arn
    sqs.set_queue_attributes(
        QueueUrl=created[(queue.stack_path, queue.logical_id)].ref,
        Attributes={
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": target, "maxReceiveCount": int(policy.get("maxReceiveCount", 10))}
            )
        },
    )


# --- What each function is given --------------------------------------------------------------------------------


def function_overrides(
    function: LambdaFunction, created: Mapping[tuple[str, str], PhysicalResource], endpoint: str
) -> dict[str, str]:
    """Variables set on top of the function's environment: the created resources where SAM left a placeholder for
    them (a shell or --env-vars value of the variable wins, as it is no placeholder), the endpoints, credentials."""
    stack_path = function.full_path.rpartition("/")[0]
    ids = [logical_id for stack, logical_id in created if stack == stack_path]
    overrides: dict[str, str] = {}
    for variable, value in function.env.items():
        reference = sam_adapter.resource_reference(value, ids)
        if reference is not None:
            resource = created[(stack_path, reference.logical_id)]
            overrides[variable] = resource.arn if reference.attribute == "Arn" else resource.ref
    overrides.update(dict.fromkeys(ENDPOINT_VARIABLES, endpoint))
    if not function.env.get("AWS_ACCESS_KEY_ID"):
        overrides.update(DUMMY_CREDENTIALS)
    return overrides


def queue_of_event(
    event: Mapping[str, Any], stack_path: str, created: Mapping[tuple[str, str], PhysicalResource]
) -> PhysicalResource | None:
    """The embedded queue an SQS event of a function reads; None for another type or a queue not here."""
    if event.get("Type") != "SQS":
        return None
    queue = (event.get("Properties") or {}).get("Queue")
    ids = [logical_id for stack, logical_id in created if stack == stack_path]
    reference = sam_adapter.resource_reference(queue, ids)
    if reference is None:
        return next((r for r in created.values() if r.type == QUEUE and queue in (r.arn, r.ref)), None)
    return created[(stack_path, reference.logical_id)]


def describe(
    endpoint: str, created: Mapping[tuple[str, str], PhysicalResource], pollers: Iterable[QueuePoller] = ()
) -> str:
    """What `make serve` prints: where the services listen, what was created, which queue feeds which function."""
    lines = [f"Embedded AWS (moto, in a child process): S3, DynamoDB and SQS at {endpoint}"]
    for resource in created.values():
        lines.append(f"  {resource.logical_id} ({resource.type}): {resource.ref}")
    for poller in pollers:
        lines.append(f"  {poller.queue_url} -> {poller.function.full_path} (SQS event)")
    return "\n".join(lines)


class LocalAws:
    """The embedded services of one `make serve`: started, filled and wired to the functions by configure(),
    feeding queues once start_pollers() is called, all stopped by close()."""

    def __init__(self, port: int = 0, visibility_timeout: int = LOCAL_VISIBILITY_TIMEOUT_S) -> None:
        self.aws = EmbeddedAws(port=port)
        self.visibility_timeout = visibility_timeout
        self.created: dict[tuple[str, str], PhysicalResource] = {}
        self.pollers: list[QueuePoller] = []
        self._started = False

    def configure(
        self,
        context: sam_adapter.LocalInvokeContext,
        runtime: ProcessLambdaRuntime,
        functions: list[LambdaFunction],
    ) -> str | None:
        """Start the services and create the template's resources; None when it declares none of them.
        Raises PortUnavailable."""
        resources = context.template_resources(*EMBEDDED_TYPES)
        if not resources or not functions:
            return None
        self.aws.start()
        self._started = True
        # The functions' region (--region, the shell, the profile): moto keeps resources per region.
        region = functions[0].env.get("AWS_REGION") or "us-east-1"
        self.created = create_resources(self.aws, resources, region, self.visibility_timeout)
        for function in functions:
            overrides = function_overrides(function, self.created, self.aws.endpoint)
            runtime.env_overrides[function.full_path] = {
                **runtime.env_overrides.get(function.full_path, {}),
                **overrides,
            }
        self.pollers = self._pollers(context, runtime, functions, region)
        return describe(self.aws.endpoint, self.created, self.pollers)

    def _pollers(
        self,
        context: sam_adapter.LocalInvokeContext,
        runtime: ProcessLambdaRuntime,
        functions: list[LambdaFunction],
        region: str,
    ) -> list[QueuePoller]:
        """One poller per SQS event of a function on an embedded queue."""
        by_path = {function.full_path: function for function in functions}
        pollers = []
        for declared in context.function_events():
            target = by_path.get(declared.full_path)
            for event in declared.events.values() if target is not None else ():
                queue = queue_of_event(event, declared.stack_path, self.created)
                if target is not None and queue is not None:
                    pollers.append(
                        self._poller(runtime, target, queue, event.get("Properties") or {}, region)
                    )
        return pollers

    def _poller(
        self,
        runtime: ProcessLambdaRuntime,
        function: LambdaFunction,
        queue: PhysicalResource,
        properties: Mapping[str, Any],
        region: str,
    ) -> QueuePoller:
        return QueuePoller(
            sqs=self.aws.client("sqs", region),
            queue_url=queue.ref,
            queue_arn=queue.arn,
            region=region,
            function=function,
            invoke=runtime.invoke_with_outcome,
            batch_size=int(properties.get("BatchSize") or DEFAULT_BATCH_SIZE),
            visibility_timeout=self.visibility_timeout,
            report_batch_item_failures="ReportBatchItemFailures"
            in (properties.get("FunctionResponseTypes") or []),
        )

    def start_pollers(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop_pollers(self) -> None:
        """Before the workers stop: no poller starts an invocation (or a worker) after them."""
        for poller in self.pollers:
            poller.request_stop()

    def close(self) -> None:
        for poller in self.pollers:
            poller.stop()
        if self._started:
            stop_quietly(self.aws)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def stop_quietly(aws: EmbeddedAws) -> None:
    with contextlib.suppress(Exception):
        aws.stop()
