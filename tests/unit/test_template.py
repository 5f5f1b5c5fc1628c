"""template.yaml says what the code assumes (checked without AWS; `make validate` lints it too)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from speech_common.model_routing import parse_routes
from speech_common.settings import Settings

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def test_route_defaults_match_the_code_defaults(template: dict[str, Any]) -> None:
    # Given the template's parameters and the code's default settings
    params = template["Parameters"]
    settings = Settings()
    # When the template's default routes are parsed / Then they are the code's
    assert parse_routes(params["SttModelRoutes"]["Default"]) == settings.stt_model_routes
    assert parse_routes(params["TtsModelRoutes"]["Default"]) == settings.tts_model_routes
    # And they parse, naming every documented public model
    assert set(settings.stt_model_routes) == {"whisper-1", "gpt-4o-transcribe-diarize"}
    assert set(settings.tts_model_routes) == {"tts-1", "tts-1-hd"}


def test_functions_run_python313_on_arm64_with_the_layer(template: dict[str, Any]) -> None:
    # Given the template / When its function globals are read
    function_globals = template["Globals"]["Function"]
    # Then functions run Python 3.13 on arm64 with the common layer
    assert function_globals["Runtime"] == "python3.13"
    assert function_globals["Architectures"] == ["arm64"]
    assert function_globals["Layers"] == [{"Ref": "CommonLayer"}]
    # And the layer is built for the same architecture, by the Makefile's target (bytecode included)
    layer = template["Resources"]["CommonLayer"]
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64", "ContextPath": "."}


def test_the_layer_and_the_functions_are_built_by_the_makefile(template: dict[str, Any]) -> None:
    # Given the template and the Makefile beside it
    makefile = (TEMPLATE.parent / "Makefile").read_text()
    # When the resources that `sam build` builds are read
    for name in ("CommonLayer", "SttFunction", "TtsFunction", "StreamFunction"):
        metadata = template["Resources"][name]["Metadata"]
        # Then each is built by the Makefile's build-<LogicalId> target (SAM's makefile build method)
        assert metadata["BuildMethod"] == "makefile" and metadata["ContextPath"] == "."
        assert f"\nbuild-{name}:" in makefile or (
            name.endswith("Function") and "\nbuild-%Function:" in makefile
        )


def test_functions_and_the_api_are_traced_with_x_ray(template: dict[str, Any]) -> None:
    # Given the template / When its tracing settings are read
    # Then every function and the REST API send traces to X-Ray
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    assert template["Resources"]["SpeechApi"]["Properties"]["TracingEnabled"] is True
    # And the layer ships the SDK the Tracer needs, with a boto3 that matches its botocore
    layer_requirements = (TEMPLATE.parent / "layers" / "common" / "requirements.txt").read_text()
    assert "aws-xray-sdk==" in layer_requirements and "boto3==" in layer_requirements


def test_the_page_needs_no_key_nor_authorizer_and_nothing_else_does(transformed: dict[str, Any]) -> None:
    # Given the template after the SAM transform / When the page's routes are read
    paths = _rest_api_body(transformed)["paths"]
    # Then GET / and GET /page/{file} carry no security at all (no authorizer, no API key): a browser opens them
    assert set(paths["/"]) == set(paths["/page/{file}"]) == {"get", "options"}
    assert paths["/"]["get"]["security"] == paths["/page/{file}"]["get"]["security"] == []
    # And they are the only such routes
    open_routes = {
        path
        for path, operations in paths.items()
        for method, operation in operations.items()
        if method != "options" and not operation.get("security")
    }
    assert open_routes == {"/", "/page/{file}"}


def test_each_function_has_its_service_name_route_and_secret_policy(template: dict[str, Any]) -> None:
    # Given the STT and TTS functions, each with its path and service name
    for name, path, service in (
        ("SttFunction", "/api/stt", "speech-stt"),
        ("TtsFunction", "/api/tts", "speech-tts"),
    ):
        # When its properties are read
        function = template["Resources"][name]["Properties"]
        # Then it logs under its service name
        assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == service
        # And its first event is a POST on its path of the SpeechApi
        event = next(iter(function["Events"].values()))
        assert (event["Type"], event["Properties"]["Path"], event["Properties"]["Method"]) == (
            "Api",
            path,
            "post",
        )
        assert event["Properties"]["RestApiId"] == {"Ref": "SpeechApi"}
        # And it may read the OpenAI secret
        secret_policy = function["Policies"][0]["AWSSecretsManagerGetSecretValuePolicy"]
        assert secret_policy["SecretArn"]["Fn::Sub"].endswith(":secret:${OpenAISecretName}-??????")


def test_multipart_is_a_binary_media_type(template: dict[str, Any]) -> None:
    # Given the template / When its REST API is read
    api = template["Resources"]["SpeechApi"]
    # Then multipart/form-data is among its binary media types (so uploads arrive base64-encoded)
    assert api["Type"] == "AWS::Serverless::Api"
    assert "multipart~1form-data" in api["Properties"]["BinaryMediaTypes"]


def test_polly_permission_exists_only_under_its_condition(template: dict[str, Any]) -> None:
    # Given the template / When the STT function's policies are read / Then none mentions Polly
    stt_policies = template["Resources"]["SttFunction"]["Properties"]["Policies"]
    assert "polly" not in str(stt_policies).lower()
    # And the TTS function has exactly one conditional policy, under UsesPolly, allowing SynthesizeSpeech
    tts_policies = template["Resources"]["TtsFunction"]["Properties"]["Policies"]
    conditional = [p for p in tts_policies if "Fn::If" in p]
    assert len(conditional) == 1 and conditional[0]["Fn::If"][0] == "UsesPolly"
    assert "polly:SynthesizeSpeech" in str(conditional[0]["Fn::If"][1])


def _rest_api_body(transformed: dict[str, Any]) -> dict[str, Any]:
    (api,) = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    body: dict[str, Any] = api["Properties"]["Body"]
    return body


def test_the_deployed_routes_require_an_api_key_under_a_usage_plan(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    # Given the template after the SAM transform / When its REST API paths are read
    paths = _rest_api_body(transformed)["paths"]
    # Then there are the routes, each requiring an API key (but the CORS preflight, which browsers send without,
    # and the page, which asks for the key itself)
    keyless = {"/", "/page/{file}"}
    assert set(paths) - keyless == {
        "/api/stt",
        "/api/tts",
        "/api/stt/jobs",
        "/api/tts/jobs",
        "/api/uploads",
        "/api/jobs/{job_id}",
        "/api/usage",
        "/api/tts/voices",
        "/v1/audio/speech",
        "/v1/audio/transcriptions",
        "/v1/audio/translations",
        "/v1/models",
        "/v1/models/{model_id}",
        "/v1/audio/voices",
    }
    # the /v1 ones behind the Bearer authorizer (cached per Authorization header), the others behind the
    # authorizer that takes x-api-key or Bearer (not cached by API Gateway: a missing key must be denied, 403)
    for path, operations in paths.items():
        if path in keyless:
            continue
        authorizer = "BearerAuthorizer" if path.startswith("/v1/") else "ApiKeyAuthorizer"
        calls = [op for method, op in operations.items() if method != "options"]
        assert all(op["security"] == [{authorizer: []}, {"api_key": []}] for op in calls)
        assert "security" not in operations["options"]
    authorizers = _rest_api_body(transformed)["securityDefinitions"]
    bearer = authorizers["BearerAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert (bearer["identitySource"], bearer["authorizerResultTtlInSeconds"]) == (
        "method.request.header.Authorization",
        300,
    )
    either = authorizers["ApiKeyAuthorizer"]["x-amazon-apigateway-authorizer"]
    assert "identitySource" not in either and either["authorizerResultTtlInSeconds"] == 0
    # And the usage plan counts the key the authorizer names
    assert transformed["Resources"]["SpeechApi"]["Properties"]["ApiKeySourceType"] == "AUTHORIZER"
    # And one usage plan holds the quota and throttle the parameters default to
    plans = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::ApiGateway::UsagePlan"]
    assert len(plans) == 1
    # (the transform fills in the parameters' defaults)
    defaults = {name: param.get("Default") for name, param in template["Parameters"].items()}
    assert plans[0]["Properties"]["Quota"] == {"Limit": defaults["MonthlyRequestQuota"], "Period": "MONTH"}
    assert plans[0]["Properties"]["Throttle"] == {
        "RateLimit": defaults["ThrottleRateLimit"],
        "BurstLimit": defaults["ThrottleBurstLimit"],
    }
    # And the API key's id is an output
    assert transformed["Outputs"]["ApiKeyId"]["Value"] == {"Ref": "SpeechApiApiKey"}


@pytest.mark.parametrize(
    ("response_type", "status", "code"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found"),
        ("REQUEST_TOO_LARGE", None, "payload_too_large"),
        ("THROTTLED", None, "throttled"),
        ("QUOTA_EXCEEDED", None, "quota_exceeded"),
        ("INVALID_API_KEY", None, "invalid_api_key"),
        ("ACCESS_DENIED", "403", "invalid_api_key"),
        ("INTEGRATION_TIMEOUT", None, "gateway_timeout"),
        ("INTEGRATION_FAILURE", None, "integration_failure"),
        ("DEFAULT_4XX", None, "gateway_error"),
        ("DEFAULT_5XX", None, "gateway_error"),
    ],
)
def test_gateway_errors_keep_the_error_shape(
    transformed: dict[str, Any], response_type: str, status: str | None, code: str
) -> None:
    # Given the template after the SAM transform
    # When the gateway's own response of this type is read
    response = _rest_api_body(transformed)["x-amazon-apigateway-gateway-responses"][response_type]
    # Then its status is overridden only where listed (404 for a missing token)
    assert response.get("statusCode") == status
    # And its body, with the gateway's message filled in, is JSON with our code and a detail
    rendered = response["responseTemplates"]["application/json"].replace(
        "$context.error.messageString", '"Internal server error"'
    )
    assert json.loads(rendered)["code"] == code and json.loads(rendered)["detail"]
    # And a browser may read it: it carries the allowed origin
    origin = response["responseParameters"]["gatewayresponse.header.Access-Control-Allow-Origin"]
    assert origin == {"Fn::Sub": "'${AllowedOrigins}'"}


ALLOWED_ORIGIN = {"Fn::Sub": "'${AllowedOrigins}'"}


def test_browsers_on_the_allowed_origin_may_call_the_api(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    # Given the template, and the same after the SAM transform
    paths = _rest_api_body(transformed)["paths"]
    # When the preflight of every route is read
    for path, operations in paths.items():
        preflight = operations["options"]["x-amazon-apigateway-integration"]
        headers = preflight["responses"]["default"]["responseParameters"]
        # Then API Gateway answers it itself, for the parameter's origin and the key and token headers
        assert preflight["type"] == "mock", path
        assert headers["method.response.header.Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        allowed = headers["method.response.header.Access-Control-Allow-Headers"].strip("'").lower().split(",")
        assert {"x-api-key", "authorization", "content-type"} <= set(allowed)
    # And the parameter defaults to any origin, refusing a list or a path (one value goes in a header)
    parameter = template["Parameters"]["AllowedOrigins"]
    assert parameter["Default"] == "*"
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("https://app.example.com:8443") and pattern.fullmatch("*")
    assert not pattern.fullmatch("https://a.example.com,https://b.example.com")
    assert not pattern.fullmatch("https://a.example.com/app")
    # And the functions and the bucket's browser uploads follow it
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["CORS_ALLOW_ORIGIN"] == {"Ref": "AllowedOrigins"}
    (rule,) = template["Resources"]["SpeechBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert rule["AllowedOrigins"] == [{"Ref": "AllowedOrigins"}] and rule["AllowedMethods"] == ["GET", "POST"]


def test_an_unauthorized_v1_caller_gets_openai_s_401_shape(transformed: dict[str, Any]) -> None:
    # Given the template after the SAM transform
    # When the gateway's answer to the authorizer's Unauthorized (only /v1 routes raise it) is read
    response = _rest_api_body(transformed)["x-amazon-apigateway-gateway-responses"]["UNAUTHORIZED"]
    # Then it is a 401 in OpenAI's error shape, which the SDKs raise as AuthenticationError
    assert response["statusCode"] == "401"
    error = json.loads(response["responseTemplates"]["application/json"])["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == "invalid_api_key"


def test_each_function_reserves_concurrency_unless_told_not_to(template: dict[str, Any]) -> None:
    # Given the template / When its functions are read
    # Then each API function caps its concurrency by a parameter, which 0 turns off
    for name in ("SttFunction", "TtsFunction", "StreamFunction"):
        reserved = template["Resources"][name]["Properties"]["ReservedConcurrentExecutions"]
        assert reserved == {
            "Fn::If": ["ReservesConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
        }
    assert template["Parameters"]["ReservedConcurrency"]["Default"] > 0
    assert template["Conditions"]["ReservesConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]
    }


def test_api_access_logs_name_the_key_and_status_and_expire(template: dict[str, Any]) -> None:
    # Given the template / When the API's access log setting is read
    api = template["Resources"]["SpeechApi"]["Properties"]
    setting = api["AccessLogSetting"]
    # Then each line is JSON naming the API key id and the status, written to a log group with retention
    fields = json.loads(setting["Format"].replace("\n", ""))
    assert fields["apiKeyId"] == "$context.identity.apiKeyId" and fields["status"] == "$context.status"
    assert setting["DestinationArn"] == {"Fn::GetAtt": "ApiAccessLogGroup.Arn"}
    group = template["Resources"]["ApiAccessLogGroup"]["Properties"]
    assert group["RetentionInDays"] == {"Ref": "LogRetentionInDays"}
    # And the account's log role, when this stack sets it, outlives the stack
    for name in ("ApiGatewayCloudWatchRole", "ApiGatewayAccount"):
        assert template["Resources"][name]["DeletionPolicy"] == "Retain"


def test_storage_is_private_encrypted_tls_only_and_expires(template: dict[str, Any]) -> None:
    # Given the template / When the bucket, its policy and the jobs table are read
    resources = template["Resources"]
    bucket = resources["SpeechBucket"]["Properties"]
    # Then no public access, encryption at rest, and lifecycle rules per prefix from the parameters
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    rules = {
        rule["Prefix"]: rule["ExpirationInDays"]
        for rule in bucket["LifecycleConfiguration"]["Rules"]
        if "Prefix" in rule
    }
    assert rules == {
        "uploads/": {"Ref": "UploadRetentionDays"},
        "results/": {"Ref": "ResultRetentionDays"},
        "cache/": {"Ref": "SpeechCacheRetentionDays"},
        "pieces/": {"Ref": "UploadRetentionDays"},
    }
    # And the bucket policy refuses any request not made over TLS
    (statement,) = resources["SpeechBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny" and statement["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    # And the jobs table is on-demand with a TTL attribute
    table = resources["JobsTable"]["Properties"]
    assert (
        table["BillingMode"] == "PAY_PER_REQUEST"
        and table["TimeToLiveSpecification"]["AttributeName"] == "ttl"
    )


def test_the_worker_reads_the_queue_whose_failures_go_to_a_dead_letter_queue(
    template: dict[str, Any],
) -> None:
    # Given the template / When the worker, the queue and the dead-letter function are read
    resources = template["Resources"]
    worker = resources["WorkerFunction"]["Properties"]
    queue = resources["JobsQueue"]["Properties"]
    # Then the worker takes one message at a time from the queue, whose visibility outlasts it six times
    (event,) = worker["Events"].values()
    assert event["Type"] == "SQS" and event["Properties"]["Queue"] == {"Fn::GetAtt": "JobsQueue.Arn"}
    assert event["Properties"]["BatchSize"] == 1
    assert event["Properties"]["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "WorkerMaxConcurrency"}}
    assert queue["VisibilityTimeout"] >= 6 * worker["Timeout"]
    # And a message that keeps failing ends on the dead-letter queue, which marks its job failed
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": "JobsDeadLetterQueue.Arn"}
    (dead,) = resources["DeadLetterFunction"]["Properties"]["Events"].values()
    assert dead["Properties"]["Queue"] == {"Fn::GetAtt": "JobsDeadLetterQueue.Arn"}
    assert resources["DeadLetterFunction"]["Properties"]["Handler"] == "app.dead_letter_handler"


def test_a_dead_workers_job_comes_back_within_the_retry_parameter(template: dict[str, Any]) -> None:
    # Given the template / When the worker's environment, its role and the queue are read
    resources = template["Resources"]
    parameter = template["Parameters"]["JobRetrySeconds"]
    worker = resources["WorkerFunction"]["Properties"]
    # Then the worker holds its message (and its lease) JobRetrySeconds at a time, a few minutes by default
    assert worker["Environment"]["Variables"]["JOB_RETRY_SECONDS"] == {"Ref": "JobRetrySeconds"}
    assert (
        60 <= parameter["MinValue"] <= parameter["Default"] <= 300
        and parameter["MaxValue"] <= worker["Timeout"]
    )
    # And its role may change the visibility of the jobs queue's messages (the SQS rights test: of no other queue)
    statements = _statements(resources["WorkerRole"]["Properties"]["Policies"])
    holding = [s for s in statements if "sqs:ChangeMessageVisibility" in _actions(s)]
    assert [_arn_of(s["Resource"]) for s in holding] == ["JobsQueue.Arn"]
    # And a job is run more than once before the dead-letter queue fails it (a rerun resumes, so it is cheap)
    assert resources["JobsQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] >= 3
    # And the pieces a run kept expire with the uploads
    rules = resources["SpeechBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    assert {
        "Id": "ExpirePieces",
        "Status": "Enabled",
        "Prefix": "pieces/",
        "ExpirationInDays": {"Ref": "UploadRetentionDays"},
    } in rules


def _statements(policies: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement in a role's Policies, under a condition's branches too."""
    if isinstance(policies, dict):
        if "Effect" in policies and "Action" in policies:
            yield policies
        else:
            for value in policies.values():
                yield from _statements(value)
    elif isinstance(policies, list):
        for value in policies:
            yield from _statements(value)


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def _arn_of(value: Any) -> str | None:
    """ "X.Arn" for a !GetAtt X.Arn, in either of the forms the transform leaves; None for anything else."""
    target = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    return ".".join(target) if isinstance(target, list) else target


def _roles(transformed: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r["Properties"] for name, r in transformed["Resources"].items() if r["Type"] == "AWS::IAM::Role"
    }


def test_only_the_job_functions_may_take_messages_and_each_only_from_its_own_queue(
    transformed: dict[str, Any],
) -> None:
    # Given the template after the SAM transform, and what each SQS-triggered function reads
    resources = transformed["Resources"]
    readers = {"WorkerFunction": "JobsQueue", "DeadLetterFunction": "JobsDeadLetterQueue"}
    roles = _roles(transformed)
    # When every role's managed policies and statements are read
    for name, role in roles.items():
        # Then none carries AWS's managed SQS policy (its rights are on every queue of the account)
        assert not [arn for arn in role.get("ManagedPolicyArns", []) if "SQS" in json.dumps(arn)], name
        # And no statement grants an SQS action on anything but one queue of this stack
        for statement in _statements(role.get("Policies", [])):
            if any(action.startswith("sqs:") for action in _actions(statement)):
                assert _arn_of(statement["Resource"]) in ("JobsQueue.Arn", "JobsDeadLetterQueue.Arn"), (
                    name,
                    statement,
                )
    # And each reader's role may receive and delete messages of its own queue, and of no other
    for function, queue in readers.items():
        role_name = str(_arn_of(resources[function]["Properties"]["Role"])).removesuffix(".Arn")
        sqs = [s for s in _statements(roles[role_name]["Policies"]) if "sqs:ReceiveMessage" in _actions(s)]
        assert [_arn_of(s["Resource"]) for s in sqs] == [f"{queue}.Arn"], function
        assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= set(_actions(sqs[0]))
        # And it keeps what SAM gives the roles it makes: its logs, and X-Ray (Tracing: Active)
        managed = json.dumps(roles[role_name]["ManagedPolicyArns"])
        assert "service-role/AWSLambdaBasicExecutionRole" in managed and "AWSXrayWriteOnlyAccess" in managed
        assert roles[role_name]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
            "Service": "lambda.amazonaws.com"
        }
    # And the API's functions only send to the jobs queue
    senders = [
        s
        for role in roles.values()
        for s in _statements(role.get("Policies", []))
        if "sqs:SendMessage" in _actions(s)
    ]
    assert senders and all(_arn_of(s["Resource"]) == "JobsQueue.Arn" for s in senders)


def _secret_arns(transformed: dict[str, Any]) -> dict[str, list[str]]:
    """The OpenAI secret's ARN pattern in each role that may read it (SAM's policy template nests its Fn::Sub)."""
    found: dict[str, list[str]] = {}
    for name, role in _roles(transformed).items():
        for statement in _statements(role.get("Policies", [])):
            if "secretsmanager:GetSecretValue" in _actions(statement):
                text = json.dumps(statement["Resource"])
                found.setdefault(name, []).extend(re.findall(r"arn:[^\"]*:secret:[^\"]*", text))
    return found


def test_the_openai_secret_is_granted_by_its_exact_arn_suffix(transformed: dict[str, Any]) -> None:
    from fnmatch import fnmatchcase

    # Given the template after the SAM transform
    # When every grant of secretsmanager:GetSecretValue is read
    grants = _secret_arns(transformed)
    # Then the functions that call OpenAI may read the secret, and no other role
    assert set(grants) == {"SttFunctionRole", "TtsFunctionRole", "StreamFunctionRole", "WorkerRole"}
    for role, arns in grants.items():
        # And each names it with "-" and exactly the 6 random characters Secrets Manager appends, not "-*"
        assert arns and all(arn.endswith(":secret:${OpenAISecretName}-??????") for arn in arns), (role, arns)
    # And so (IAM's ? is one character, as fnmatch's) it matches the secret and not one named after it
    pattern = "arn:aws:secretsmanager:us-east-1:1:secret:speech-api/openai-??????"
    assert fnmatchcase("arn:aws:secretsmanager:us-east-1:1:secret:speech-api/openai-AbCdEf", pattern)
    assert not fnmatchcase("arn:aws:secretsmanager:us-east-1:1:secret:speech-api/openai-prod-AbCdEf", pattern)
    assert fnmatchcase(
        "arn:aws:secretsmanager:us-east-1:1:secret:speech-api/openai-prod-AbCdEf", pattern[:-6] + "*"
    )


def test_audio_links_live_ten_minutes_unless_the_parameter_says_otherwise(template: dict[str, Any]) -> None:
    # Given the template's AudioLinkSeconds and the settings that read it
    parameter = template["Parameters"]["AudioLinkSeconds"]
    bounds = {
        type(m).__name__: getattr(m, {"Ge": "ge", "Le": "le"}[type(m).__name__])
        for m in Settings.model_fields["result_url_expires_seconds"].metadata
    }
    # When its default and range are read / Then links live 10 minutes by default, 1 to 60 minutes when set
    assert parameter["Default"] == Settings().result_url_expires_seconds == 600
    assert (parameter["MinValue"], parameter["MaxValue"]) == (bounds["Ge"], bounds["Le"]) == (60, 3600)
    # And the functions that sign links (delivery "url"; a job's status) are given it, as their setting's variable
    for name in ("TtsFunction", "JobsFunction"):
        variables = template["Resources"][name]["Properties"]["Environment"]["Variables"]
        assert variables["RESULT_URL_EXPIRES_SECONDS"] == {"Ref": "AudioLinkSeconds"}, name


def test_each_functions_memory_is_a_parameter_defaulting_to_the_benchmarks_choice(
    template: dict[str, Any],
) -> None:
    # Given the template / When each function's memory is read
    for function, parameter in (
        ("SttFunction", "SttMemorySize"),
        ("TtsFunction", "TtsMemorySize"),
        ("StreamFunction", "StreamMemorySize"),
    ):
        memory = template["Resources"][function]["Properties"]["MemorySize"]
        declared = template["Parameters"][parameter]
        # Then it is its own parameter, within Lambda's range, defaulting to what make bench-cold chose
        assert memory == {"Ref": parameter}
        assert (declared["Type"], declared["MinValue"], declared["MaxValue"]) == ("Number", 128, 10240)
        assert declared["Default"] == 1024


def test_snapstart_is_opt_in_on_both_functions(template: dict[str, Any], transformed: dict[str, Any]) -> None:
    # Given the template / When its SnapStart parameter and the functions' settings are read
    parameter = template["Parameters"]["SnapStart"]
    # Then it is off unless asked for
    assert parameter["Default"] == "false" and parameter["AllowedValues"] == ["true", "false"]
    assert template["Conditions"]["UsesSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "true"]}
    for name in ("SttFunction", "TtsFunction"):
        properties = template["Resources"][name]["Properties"]
        # And both functions publish versions behind an alias, SnapStart applying to them under the condition
        assert properties["AutoPublishAlias"] == "live"
        assert properties["SnapStart"] == {
            "ApplyOn": {"Fn::If": ["UsesSnapStart", "PublishedVersions", "None"]}
        }
        # And nothing SnapStart cannot work with (provisioned concurrency, EFS, ephemeral storage over 512 MB)
        assert not {"ProvisionedConcurrencyConfig", "FileSystemConfigs", "EphemeralStorage"} & set(properties)
    # And after the SAM transform each function carries it, and the API calls the alias
    functions = {
        name: r for name, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::Function"
    }
    assert all("SnapStart" in functions[name]["Properties"] for name in ("SttFunction", "TtsFunction"))
    aliases = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::Alias"]
    assert sorted(a["Properties"]["Name"] for a in aliases) == ["live", "live"]


@pytest.mark.parametrize("snapstart", ["false", "true"])
def test_the_template_lints_clean_with_snapstart_off_and_on(snapstart: str) -> None:
    # Given the template with the SnapStart parameter defaulting to off or on
    from cfnlint.api import ManualArgs, lint

    text, replaced = re.subn(
        r'(\n  SnapStart:\n    Type: String\n    Default: )"false"', rf'\1"{snapstart}"', TEMPLATE.read_text()
    )
    assert replaced == 1
    # When cfn-lint checks it, as `sam validate --lint` does
    matches = lint(text, config=ManualArgs(regions=["us-east-1"]))
    # Then it finds nothing
    assert [str(match) for match in matches] == []


def test_env_json_example_is_in_sams_format_for_this_template(template: dict[str, Any]) -> None:
    # Given env.json.example, which `make serve ENV_VARS=env.json` reads as `sam local --env-vars` does
    example = json.loads((TEMPLATE.parent / "env.json.example").read_text())
    # When its sections are read
    functions = {
        name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"
    }
    # Then each is "Parameters" (every function) or a function of the template, holding string values
    assert set(example) - {"Parameters"} <= functions
    assert all(isinstance(v, str) for section in example.values() for v in section.values())
    # And copied as it is, it configures no key (the offline engine) and values the settings accept
    assert example["Parameters"]["OPENAI_API_KEY"] == ""
    for section in example.values():
        Settings(
            **{
                name.lower(): value
                for name, value in section.items()
                if name.lower() in Settings.model_fields
            }
        )


STREAMED_ROUTES = {"/v1/audio/speech", "/v1/audio/transcriptions", "/v1/audio/translations"}


def _api_events(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            for event in resource["Properties"].get("Events", {}).values():
                if event["Type"] == "Api":
                    yield name, event["Properties"]


def test_the_streamed_routes_stream_through_api_gateway(transformed: dict[str, Any]) -> None:
    # Given the template after the SAM transform (what `sam validate` and CloudFormation see)
    paths = _rest_api_body(transformed)["paths"]
    for path in STREAMED_ROUTES:
        # When a streamed route's integration is read
        operation = paths[path]["post"]
        integration = operation["x-amazon-apigateway-integration"]
        # Then API Gateway streams the answer from the streaming function (InvokeWithResponseStream)
        assert integration["responseTransferMode"] == "STREAM", path
        assert integration["type"] == "aws_proxy"
        uri = integration["uri"]["Fn::Sub"]
        assert uri.endswith("/functions/${StreamFunction.Arn}/response-streaming-invocations"), uri
        assert "/2021-11-15/" in uri
        # And it may run for the parameter's time, not the buffered 29 s
        assert integration["timeoutInMillis"] == {"Ref": "StreamTimeoutMillis"}
        # And the Bearer authorizer and the API key (so the usage plan) still stand in front of it
        assert operation["security"] == [{"BearerAuthorizer": []}, {"api_key": []}]
    # And every other route is buffered, as before
    for path, operations in paths.items():
        if path not in STREAMED_ROUTES:
            for method, operation in operations.items():
                integration = operation["x-amazon-apigateway-integration"]
                assert "responseTransferMode" not in integration, (path, method)
                assert "response-streaming" not in json.dumps(integration), (path, method)
    # And API Gateway may invoke the streaming function for each streamed route
    permissions = [
        r["Properties"]
        for name, r in transformed["Resources"].items()
        if r["Type"] == "AWS::Lambda::Permission" and name.startswith("StreamFunction")
    ]
    assert len(permissions) == len(STREAMED_ROUTES)
    assert all(p["Action"] == "lambda:InvokeFunction" for p in permissions)


def test_response_transfer_mode_is_exactly_response_stream_and_only_on_the_streaming_function(
    template: dict[str, Any],
) -> None:
    # Given the template as written / When every Api event's ResponseTransferMode is read
    modes = {(function, e["Path"]): e.get("ResponseTransferMode") for function, e in _api_events(template)}
    # Then each one set is exactly RESPONSE_STREAM (SAM builds a buffered integration for any other value, silently)
    assert {mode for mode in modes.values() if mode is not None} == {"RESPONSE_STREAM"}
    # And exactly the streaming function's routes have it, all of them (the adapter's invoke mode is per function)
    streamed = {key for key, mode in modes.items() if mode is not None}
    assert streamed == {("StreamFunction", path) for path in STREAMED_ROUTES}
    assert {key for key in modes if key[0] == "StreamFunction"} == streamed
    # And no other function still serves one of those routes
    assert not {path for (function, path) in modes if function != "StreamFunction"} & STREAMED_ROUTES
    # And the integration timeout is a parameter, within what a streamed response may take (15 minutes)
    timeout = template["Parameters"]["StreamTimeoutMillis"]
    assert timeout["MaxValue"] == 900_000 and 29_000 < timeout["Default"] <= timeout["MaxValue"]


def test_the_streaming_function_runs_behind_the_lambda_web_adapter(template: dict[str, Any]) -> None:
    from speech_common.http_kit import asgi

    # Given the template / When the streaming function is read
    function = template["Resources"]["StreamFunction"]["Properties"]
    variables = function["Environment"]["Variables"]
    # Then its handler is the start script, run by the adapter's bootstrap, in response-stream mode
    assert (function["CodeUri"], function["Handler"]) == ("functions/stream/", "run.sh")
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert variables["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "speech-stream"
    # And the adapter polls the path the ASGI app answers by itself
    assert variables["AWS_LWA_READINESS_CHECK_PATH"] == asgi.READINESS_PATH
    assert int(variables["AWS_LWA_PORT"]) > 0
    # And it has the adapter's public arm64 layer, at the parameter's version, beside the common layer (Globals)
    (adapter,) = function["Layers"]
    assert adapter == {
        "Fn::Sub": "arn:${AWS::Partition}:lambda:${AWS::Region}:753240598075:layer:"
        "LambdaAdapterLayerArm64:${LwaLayerVersion}"
    }
    assert template["Parameters"]["LwaLayerVersion"]["Default"] == 26
    assert template["Globals"]["Function"]["Architectures"] == ["arm64"]
    # And its timeout is a parameter up to Lambda's 15 minutes, no shorter than the routes' default timeout
    assert function["Timeout"] == {"Ref": "StreamFunctionTimeout"}
    timeout = template["Parameters"]["StreamFunctionTimeout"]
    assert timeout["MaxValue"] == 900
    assert timeout["Default"] * 1000 >= template["Parameters"]["StreamTimeoutMillis"]["Default"]
    # And it may read the OpenAI secret and has a log group with the stack's retention
    secret_policy = function["Policies"][0]["AWSSecretsManagerGetSecretValuePolicy"]
    assert secret_policy["SecretArn"]["Fn::Sub"].endswith(":secret:${OpenAISecretName}-??????")
    group = template["Resources"]["StreamLogGroup"]["Properties"]
    assert group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/${StreamFunction}"}


def test_the_start_script_is_executable_with_lf_line_endings() -> None:
    # Given functions/stream/run.sh, which the adapter's bootstrap execs (Lambda needs it executable, LF only)
    script = TEMPLATE.parent / "functions" / "stream" / "run.sh"
    text = script.read_bytes()
    # When its mode and bytes are read / Then it is executable, a bash script, without a carriage return
    assert script.stat().st_mode & 0o111 == 0o111
    assert text.startswith(b"#!/bin/bash\n") and b"\r" not in text
    # And it serves the handler module's ASGI app on the adapter's port
    assert b"uvicorn app:app" in text and b"${AWS_LWA_PORT:-8080}" in text


def _dependencies(resources: dict[str, Any]) -> dict[str, set[str]]:
    """Each resource's references to other resources (Ref, GetAtt, Sub and DependsOn), as CloudFormation orders them."""

    def found(node: Any, into: set[str]) -> set[str]:
        if isinstance(node, dict):
            for name, value in node.items():
                if name == "Ref" and isinstance(value, str):
                    into.add(value)
                elif name == "Fn::GetAtt":
                    into.add(value[0] if isinstance(value, list) else value.split(".")[0])
                elif name == "Fn::Sub":
                    text = value if isinstance(value, str) else value[0]
                    into.update(re.findall(r"\$\{([^}!.]+)", text))
                    found(value if isinstance(value, str) else value[1], into)
                else:
                    found(value, into)
        elif isinstance(node, list):
            for value in node:
                found(value, into)
        return into

    graph = {}
    for name, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        named = found(resource.get("Properties", {}), set()) | set(
            [depends_on] if isinstance(depends_on, str) else depends_on
        )
        graph[name] = {other for other in named if other in resources}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str]:
    """A dependency cycle of `graph`, or [] (cfn-lint and `sam validate` do not look through the transform)."""
    state: dict[str, int] = {}

    def visit(name: str, path: list[str]) -> list[str]:
        state[name] = 1
        for other in sorted(graph[name]):
            if state.get(other) == 1:
                return [*path[path.index(other) :], other] if other in path else [name, other]
            if other not in state and (cycle := visit(other, [*path, other])):
                return cycle
        state[name] = 2
        return []

    for name in sorted(graph):
        if name not in state and (cycle := visit(name, [name])):
            return cycle
    return []


def test_the_authorizer_reads_only_its_usage_plans_keys(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    # Given the template after the SAM transform
    resources = transformed["Resources"]
    authorizer = resources["AuthorizerFunction"]["Properties"]
    (plan,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::UsagePlan"]
    # When the authorizer's role, its keys policy and the usage plan are read
    (role_policy,) = resources["AuthorizerFunctionRole"]["Properties"]["Policies"]
    keys_policy = resources["AuthorizerKeysPolicy"]["Properties"]
    granted = [*role_policy["PolicyDocument"]["Statement"], *keys_policy["PolicyDocument"]["Statement"]]
    # Then it may GET the list of usage plans and the keys of its own plan, and nothing else (no /apikeys,
    # whose values are every key of the account; no wildcard)
    assert [(s["Effect"], s["Action"]) for s in granted] == [("Allow", "apigateway:GET")] * 2
    assert [s["Resource"]["Fn::Sub"] for s in granted] == [
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans",
        "arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/${SpeechApiUsagePlan}/keys",
    ]
    assert keys_policy["RoleName"] == {"Ref": "AuthorizerFunctionRole"}
    assert "*" not in json.dumps(granted) and "apikeys" not in json.dumps(granted)
    # And it finds that plan by the name the plan is given
    assert authorizer["Environment"]["Variables"]["USAGE_PLAN_NAME"] == plan["Properties"]["UsagePlanName"]
    assert plan["Properties"]["UsagePlanName"] == {"Fn::Sub": "${AWS::StackName}-usage-plan"}
    # And no resource waits on itself (naming the plan's id in the function would: plan -> stage -> API ->
    # authorizer function -> plan)
    assert _cycle(_dependencies(resources)) == []


def test_the_dependency_check_finds_the_cycle_a_plan_id_in_the_authorizer_would_make(
    transformed: dict[str, Any],
) -> None:
    # Given the transformed template with the plan's id in the authorizer's environment
    import copy

    resources = copy.deepcopy(transformed["Resources"])
    resources["AuthorizerFunction"]["Properties"]["Environment"]["Variables"]["USAGE_PLAN_NAME"] = {
        "Ref": "SpeechApiUsagePlan"
    }
    # When its dependencies are checked / Then the cycle is found
    cycle = _cycle(_dependencies(resources))
    assert {"AuthorizerFunction", "SpeechApiUsagePlan", "SpeechApi"} <= set(cycle)


def test_a_keyless_flood_is_bounded_by_the_stage_throttle_and_the_authorizers_concurrency(
    template: dict[str, Any], transformed: dict[str, Any]
) -> None:
    # Given the template, and after the SAM transform / When the stage and the authorizer are read
    (stage,) = [r for r in transformed["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage"]
    authorizer = template["Resources"]["AuthorizerFunction"]["Properties"]
    params = template["Parameters"]
    # Then the stage throttles every method of every route, keyed or not, by two parameters
    assert stage["Properties"]["MethodSettings"] == [
        {
            "ResourcePath": "/*",
            "HttpMethod": "*",
            "ThrottlingRateLimit": {"Ref": "StageThrottleRateLimit"},
            "ThrottlingBurstLimit": {"Ref": "StageThrottleBurstLimit"},
        }
    ]
    assert params["StageThrottleRateLimit"]["Default"] >= params["ThrottleRateLimit"]["Default"]
    assert params["StageThrottleBurstLimit"]["Default"] >= params["ThrottleBurstLimit"]["Default"]
    # And the authorizer reserves its concurrency by a parameter with a default, which 0 turns off
    assert authorizer["ReservedConcurrentExecutions"] == {
        "Fn::If": [
            "AuthorizerReservesConcurrency",
            {"Ref": "AuthorizerReservedConcurrency"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert params["AuthorizerReservedConcurrency"]["Default"] > 0
    assert template["Conditions"]["AuthorizerReservesConcurrency"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AuthorizerReservedConcurrency"}, 0]}]
    }


def test_budgets_have_their_table_and_parameters_with_the_documented_defaults(
    template: dict[str, Any],
) -> None:
    # Given the template / When its usage table, budget parameters and the functions' variables are read
    table = template["Resources"]["UsageTable"]["Properties"]
    parameters = template["Parameters"]
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    # Then an on-demand table keyed by key id and window, whose TTL expires old windows
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["key_id", "window"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    # And the four budgets at the defaults that bound a key's month to $50 (docs/operations.md), 0 allowed
    defaults = {
        "BudgetCharactersPerDay": 100_000,
        "BudgetCharactersPerMonth": 1_000_000,
        "BudgetAudioSecondsPerDay": 28_800,
        "BudgetAudioSecondsPerMonth": 200_000,
    }
    for name, default in defaults.items():
        assert (parameters[name]["Default"], parameters[name]["MinValue"]) == (default, 0)
    month_dollars = (
        defaults["BudgetCharactersPerMonth"] * 30 / 1e6 + defaults["BudgetAudioSecondsPerMonth"] / 60 * 0.006
    )
    assert round(month_dollars, 2) == 50.0
    # And every function is given the table and the budgets
    assert variables["USAGE_TABLE"] == {"Ref": "UsageTable"}
    assert variables["BUDGET_CHARACTERS_PER_DAY"] == {"Ref": "BudgetCharactersPerDay"}


def test_the_largest_upload_fits_in_the_stt_functions_tmp(template: dict[str, Any]) -> None:
    # Given the STT function, which downloads an upload to /tmp to count it at submission, and Lambda's default
    # ephemeral storage (512 MB: more is not taken with SnapStart)
    properties = template["Resources"]["SttFunction"]["Properties"]
    size_mb = properties.get("EphemeralStorage", {}).get("Size", 512)
    # When the largest upload a presigned POST lets S3 take is read
    largest = template["Parameters"]["MaxUploadBytes"]["Default"]
    # Then it fits, with room to spare (one larger than the free space is left to the worker to count)
    assert largest <= size_mb * 1024 * 1024 - 8 * 1024 * 1024
