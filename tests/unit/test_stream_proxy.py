"""What make serve hands a streamed function's web app: the Lambda Web Adapter's request made of a REST proxy event
(local.stream_proxy), and the environment and readiness rule it starts the app with (local.function_apps)."""

from __future__ import annotations

import base64
import json
import os
import sys

from local.function_apps import app_env, healthy_statuses
from local.pool import WorkerSpec
from local.sam_adapter import LambdaFunction
from local.stream_proxy import app_request, lambda_context

EVENT = {
    "httpMethod": "POST",
    "path": "/v1/audio/speech",
    "multiValueQueryStringParameters": {"voice": ["alloy", "nova"], "note": ["a b&c"]},
    "multiValueHeaders": {
        "Content-Type": ["application/json"],
        "X-Twice": ["one", "two"],
        "Connection": ["keep-alive"],
        "Transfer-Encoding": ["chunked"],
        "Content-Length": ["999"],
        "x-amzn-lambda-context": ["forged by the client"],
    },
    "requestContext": {"stage": "Prod", "requestId": "req-1", "path": "/Prod/v1/audio/speech"},
    "body": base64.b64encode(b"\x00\xffbytes").decode(),
    "isBase64Encoded": True,
}

FUNCTION = LambdaFunction(
    name="StreamFunction",
    full_path="StreamFunction",
    handler="run.sh",
    runtime="python3.13",
    code_dir="/code",
    timeout=900.0,
    layers=(),
    env={
        "AWS_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_NAME": "StreamFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "aws/lambda/StreamFunction",
        "AWS_LAMBDA_LOG_STREAM_NAME": "$LATEST",
    },
    env_file_values={},
)


def test_the_request_is_the_events_path_query_headers_and_decoded_body() -> None:
    # Given a REST proxy event with a base64 body / When it becomes the app's request
    method, target, headers, body = app_request(EVENT, {"request_id": "lambda-1"})
    # Then the path has no stage, the query every value, and the body its bytes
    assert method == "POST"
    assert target == "/v1/audio/speech?voice=alloy&voice=nova&note=a+b%26c"
    assert body == b"\x00\xffbytes"
    # And each header value is kept, but not those of the client's connection or its length
    names = [name.lower() for name, _ in headers]
    assert ("X-Twice", "one") in headers and ("X-Twice", "two") in headers
    assert not {"connection", "transfer-encoding", "content-length"} & set(names)
    # And the contexts are the gateway's and the runtime's, once each: a client's copy is dropped
    assert names.count("x-amzn-lambda-context") == names.count("x-amzn-request-context") == 1
    sent = dict(headers)
    assert json.loads(sent["x-amzn-request-context"]) == EVENT["requestContext"]
    assert json.loads(sent["x-amzn-lambda-context"]) == {"request_id": "lambda-1"}


def test_a_text_body_is_sent_as_utf8() -> None:
    # Given an event whose body is text, not base64 / When the app's request is made / Then its body is UTF-8 bytes
    event = {**EVENT, "body": '{"input": "héllo"}', "isBase64Encoded": False}
    assert app_request(event, {})[3] == '{"input": "héllo"}'.encode()


def test_the_lambda_context_has_the_rust_runtimes_field_names() -> None:
    # Given the function as SAM resolved it / When its context is made
    context = lambda_context(FUNCTION, "lambda-1", 1_700_000_000_000)
    # Then it is lambda_runtime's Context as serde writes it
    assert context == {
        "request_id": "lambda-1",
        "deadline": 1_700_000_000_000,
        "invoked_function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:StreamFunction",
        "xray_trace_id": None,
        "client_context": None,
        "identity": None,
        "env_config": {
            "function_name": "StreamFunction",
            "memory": 1024,
            "version": "$LATEST",
            "log_stream": "$LATEST",
            "log_group": "aws/lambda/StreamFunction",
        },
    }


def test_the_app_gets_its_port_its_layers_and_this_interpreter() -> None:
    # Given a function's worker spec with two layers and a PYTHONPATH of its own
    spec = WorkerSpec(
        function="StreamFunction",
        handler="run.sh",
        code_dir="/code",
        layer_paths=("/layers/b", "/layers/a"),
        env=(("PATH", "/usr/bin"), ("PYTHONPATH", "/mine"), ("FROM_TEMPLATE", "x")),
    )
    # When the app's environment is made
    env = app_env(spec, 41234)
    # Then the port is LWA's, the layers come first on the path, and `python` is this server's
    assert env["AWS_LWA_PORT"] == env["PORT"] == "41234"
    assert env["PYTHONPATH"] == os.pathsep.join(["/layers/b", "/layers/a", "/mine"])
    assert env["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)
    assert env["PYTHON"] == sys.executable and env["FROM_TEMPLATE"] == "x"


def test_readiness_statuses_read_as_lwa_reads_them() -> None:
    # Given LWA readiness status specs, a range list and an empty one / When they are read
    # Then the ranges and single codes are the healthy set, and empty means LWA's default 100-499
    assert healthy_statuses("200-399,404") == set(range(200, 400)) | {404}
    assert healthy_statuses("") == set(range(100, 500))  # LWA's default
