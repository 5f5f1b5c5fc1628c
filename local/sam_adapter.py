"""The one seam between local/ and SAM CLI (aws-sam-cli==1.170.0, pinned in requirements-dev.txt).

Every import from samcli and samtranslator, every override or call of a private member of a SAM class and
every reliance on a SAM signature is in this module. The rest of local/ sees plain values (LambdaFunction,
LayerSource, ApiRoute, FunctionEvents, ServerlessApi) and the public methods of the classes below.
After a SAM upgrade, tests/unit/test_sam_adapter.py names what moved; only this module should change.

What SAM does, and where we take part:
- InvokeContext reads the template (parameters, Globals, the implicit API) and provides the functions;
  LocalInvokeContext gives it our runtime and no Docker container manager.
- LocalLambdaRunner turns a function into a FunctionConfig (code path, layers, timeout, resolved environment)
  and calls `runtime.invoke(config, event, stdout=...)`; SamLambdaRuntime hands a LambdaFunction to our
  FunctionRunner and writes its answer to that stdout.
- LocalApigwService routes with Flask, builds the proxy event and maps the proxy response;
  ApiGatewayEmulation turns its private members into hooks (configure_app, handle_request, body_not_text,
  request_handler, streams) and its function errors into local.limits.FunctionFailed, gives each event its own
  request id and time, and passes a body that is not UTF-8 on base64-encoded instead of failing with 502. For a
  route that streams (SAM always buffers), it stops once SAM has routed and built the event, and raises
  StreamedInvocation with the resolved function, the event and SAM's CORS headers for the gateway to answer.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, Response, g, request
from samcli.cli.types import CfnParameterOverridesType
from samcli.commands._utils.template import get_template_data
from samcli.commands.local.cli_common.invoke_context import InvokeContext
from samcli.commands.local.lib.local_lambda import LocalLambdaRunner
from samcli.lib.providers.api_provider import ApiProvider
from samcli.lib.providers.provider import Api, Cors, LayerVersion
from samcli.lib.utils.codeuri import resolve_code_path
from samcli.lib.utils.packagetype import ZIP
from samcli.lib.utils.stream_writer import StreamWriter
from samcli.local.apigw.exceptions import LambdaResponseParseException
from samcli.local.apigw.local_apigw_service import LocalApigwService
from samcli.local.apigw.route import Route
from samcli.local.docker.exceptions import ProcessSigTermException
from samcli.local.lambdafn.config import FunctionConfig
from samcli.local.lambdafn.runtime import LambdaRuntime
from samtranslator.model.apigateway import ApiGatewayResponse
from samtranslator.model.exceptions import InvalidResourceException
from werkzeug.datastructures import MIMEAccept
from werkzeug.serving import WSGIRequestHandler

from local import binary_media, limits

LOG = logging.getLogger(__name__)

# Raised by SAM's service loop when the process gets SIGTERM.
SigtermReceived = ProcessSigTermException


# --- Plain values: what the rest of local/ knows of SAM's objects ---------------------------------------------


@dataclass(frozen=True)
class LayerSource:
    """One layer of a function: its ARN (or logical id) and its directory here (None: not a local layer)."""

    arn: str
    local_dir: str | None


@dataclass(frozen=True)
class LambdaFunction:
    """One function as SAM resolved it for an invocation (SAM's FunctionConfig)."""

    name: str  # the function's name (AWS_LAMBDA_FUNCTION_NAME)
    full_path: str  # its logical id, after its stack's path for a nested stack
    handler: str
    runtime: str | None
    code_dir: str | None
    timeout: float
    layers: tuple[LayerSource, ...]  # in the template's order
    # AWS_* variables, then the template's variables with the shell's and --env-vars' values for them.
    env: Mapping[str, str]
    # The --env-vars file's values for this function, also for variables the template does not declare.
    env_file_values: Mapping[str, Any]


@dataclass(frozen=True)
class ApiRoute:
    """The route a request matched (SAM's Route)."""

    function_name: str  # the function's full path
    path: str  # as the template declares it
    http_api: bool  # an HttpApi event; else a REST Api event


@dataclass(frozen=True)
class FunctionEvents:
    """A function's template events (SAM's Function)."""

    full_path: str
    stack_path: str
    events: Mapping[str, Any]


@dataclass(frozen=True)
class ServerlessApi:
    """An AWS::Serverless::Api of SAM's processed stacks (parameters resolved, Globals merged, the implicit
    ServerlessRestApi created)."""

    stack_path: str
    logical_id: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class TemplateResource:
    """A resource of SAM's processed stacks (parameters resolved; a Ref or GetAtt made a placeholder: see
    resource_reference)."""

    stack_path: str
    logical_id: str
    type: str
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class ResourceReference:
    """What a `!Ref X` (attribute None) or a `!GetAtt X.Arn` (attribute "Arn") became in SAM's processed stacks."""

    logical_id: str
    attribute: str | None


# SAM's local intrinsic resolver has no physical names: `!Ref X` of a resource becomes "X", and `!GetAtt X.Arn`
# becomes a Lambda function ARN named X, whatever X is (IntrinsicsSymbolTable.arn_resolver).
_SAM_ARN_PLACEHOLDER = re.compile(r"arn:[^:]+:lambda:[^:]*:[^:]*:function:(?P<logical_id>[A-Za-z0-9]+)")


def resource_reference(value: Any, logical_ids: Iterable[str]) -> ResourceReference | None:
    """The resource among `logical_ids` that a processed template value refers to (Ref or GetAtt Arn), if any."""
    if not isinstance(value, str):
        return None
    known = frozenset(logical_ids)
    if value in known:
        return ResourceReference(value, None)
    found = _SAM_ARN_PLACEHOLDER.fullmatch(value)
    if found and found.group("logical_id") in known:
        return ResourceReference(found.group("logical_id"), "Arn")
    return None


class StreamedInvocation(Exception):
    """A request to a route whose answer streams, routed and made into its event by SAM: the gateway answers it
    from the function's web app (local.stream_proxy), since SAM would buffer the answer."""

    def __init__(self, function: LambdaFunction, event: dict[str, Any], cors_headers: dict[str, str]) -> None:
        super().__init__(function.full_path)
        self.function = function
        self.event = event
        self.cors_headers = cors_headers  # what SAM adds to every answer of the route


class InvalidGatewayResponse(ValueError):
    """A GatewayResponses entry that SAM's translator refuses."""


def lambda_function(config: FunctionConfig, base_dir: str) -> LambdaFunction:
    layers = tuple(
        LayerSource(layer.arn, resolve_code_path(base_dir, layer.codeuri))
        if isinstance(layer, LayerVersion) and layer.codeuri
        else LayerSource(str(getattr(layer, "arn", layer)), None)
        for layer in config.layers or []
    )
    return LambdaFunction(
        name=config.name,
        full_path=config.full_path,
        handler=config.handler,
        runtime=config.runtime,
        code_dir=config.code_abs_path,
        timeout=float(config.timeout),
        layers=layers,
        env=dict(config.env_vars.resolve()),
        env_file_values=dict(config.env_vars.override_values or {}),
    )


def _api_route(route: Route) -> ApiRoute:
    return ApiRoute(route.function_name, route.path, route.event_type == Route.HTTP)


def parse_parameter_overrides(value: Any) -> dict[str, str] | None:
    """--parameter-overrides as `sam` reads them: "Key=Value Key2=Value2", or samconfig.toml's list."""
    if not value:
        return None
    raw = tuple(value) if isinstance(value, list) else value
    return dict(CfnParameterOverridesType().convert(raw, None, None))


def template_parameters(template_file: str) -> list[str]:
    """The names of the template's Parameters, in its order (YAML with CloudFormation's tags, or JSON)."""
    return list(get_template_data(template_file).get("Parameters") or {})


def api_routes(api: Api) -> list[tuple[ApiRoute, tuple[str, ...]]]:
    """Each route SAM mounts, with its methods (as SAM lists them: OPTIONS too where the Api has Cors)."""
    return [(_api_route(route), tuple(route.methods)) for route in api.routes]


def gateway_response_swagger(api_id: str, declared: Mapping[str, Any]) -> Mapping[str, Any]:
    """What SAM gives API Gateway for one GatewayResponses entry: statusCode, responseTemplates and
    "gatewayresponse.header.X" responseParameters. Raises InvalidGatewayResponse."""
    try:
        swagger: Mapping[str, Any] = ApiGatewayResponse(
            api_logical_id=api_id,
            response_parameters=declared.get("ResponseParameters"),
            response_templates=declared.get("ResponseTemplates"),
            status_code=declared.get("StatusCode"),
        ).generate_swagger()
    except InvalidResourceException as exc:
        raise InvalidGatewayResponse(str(exc)) from exc
    return swagger


# --- The runtime: LocalLambdaRunner's invoke, without containers ----------------------------------------------


class FunctionRunner(Protocol):
    """Runs a function's handler (local.runtime.ProcessLambdaRuntime)."""

    def invoke(self, function: LambdaFunction, event: str) -> str:
        """The function's response, or Lambda's error object, as JSON; may raise local.limits' exceptions."""
        ...

    def shutdown(self) -> None: ...


class SamLambdaRuntime(LambdaRuntime):
    def __init__(self, runner: FunctionRunner, base_dir: str) -> None:
        # No container manager and no image builder: nothing here talks to Docker.
        super().__init__(container_manager=None, image_builder=None)
        self._function_runner = runner
        self.base_dir = base_dir  # layers' ContentUri are relative to it

    def invoke(  # LambdaRuntime.invoke's parameters: LocalLambdaRunner passes them all
        self,
        function_config: FunctionConfig,
        event: str,
        tenant_id: str | None = None,
        invocation_type: str = "RequestResponse",
        durable_execution_name: str | None = None,
        debug_context: Any = None,
        stdout: StreamWriter | None = None,
        stderr: StreamWriter | None = None,
        container_host: str | None = None,
        container_host_interface: str | None = None,
        extra_hosts: dict[str, str] | None = None,
        container_dns: Any = None,
    ) -> dict[str, str] | None:
        # Our exceptions (local.limits) pass through LocalLambdaRunner.invoke, which catches only
        # container and OS errors, up to ApiGatewayEmulation.handle_request.
        answer = self._function_runner.invoke(lambda_function(function_config, self.base_dir), event)
        if stdout is not None:
            stdout.write_str(answer)
        return None  # the headers of a durable function's invocation: none here

    def clean_runtime_containers(self) -> None:
        self._function_runner.shutdown()

    # WarmLambdaRuntime's, which InvokeContext calls on exit in warm-containers mode.
    def clean_running_containers_and_related_resources(self) -> None:
        self._function_runner.shutdown()


class CachedCredentialsRunner(LocalLambdaRunner):
    """LocalLambdaRunner resolves AWS credentials on every invoke and, when there are none, searches the whole
    chain again each time (on a laptop that includes a ~2 s instance-metadata probe). Resolve them once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._creds_lock = threading.Lock()
        self._creds: dict[str, str] | None = None

    def get_aws_creds(self) -> dict[str, str]:
        with self._creds_lock:
            if self._creds is None:
                self._creds = super().get_aws_creds()
            return dict(self._creds)


class LocalInvokeContext(InvokeContext):
    """SAM's InvokeContext (template, stacks, functions, --env-vars file) with our runtime and no Docker."""

    def __init__(
        self,
        runner: FunctionRunner,
        *,
        template_file: str,
        env_vars_file: str | None,
        parameter_overrides: dict[str, str] | None,
        aws_region: str | None,
        aws_profile: str | None,
    ) -> None:
        self._function_runner = runner
        self._process_runtime = SamLambdaRuntime(runner, os.path.dirname(os.path.abspath(template_file)))
        self._cached_runner: LocalLambdaRunner | None = None
        super().__init__(
            template_file=template_file,
            env_vars_file=env_vars_file,
            parameter_overrides=parameter_overrides,
            aws_region=aws_region,
            aws_profile=aws_profile,
        )

    def zip_functions(self) -> list[LambdaFunction]:
        """The template's functions that run from a code directory (no image, no inline code), as invoked."""
        runner = self.local_lambda_runner
        return [
            lambda_function(runner.get_invoke_config(function), self._process_runtime.base_dir)
            for function in runner.provider.get_all()
            if function.packagetype == ZIP and not function.inlinecode
        ]

    def template_resources(self, *types: str) -> list[TemplateResource]:
        """The resources of these CloudFormation types in every stack, as SAM processed them."""
        return [
            TemplateResource(stack.stack_path, logical_id, resource["Type"], resource.get("Properties") or {})
            for stack in self.stacks
            for logical_id, resource in (stack.resources or {}).items()
            if isinstance(resource, dict) and resource.get("Type") in types
        ]

    def function_events(self) -> list[FunctionEvents]:
        """Every function's template events (Api, SQS, ...), as SAM processed them."""
        return [
            FunctionEvents(function.full_path, function.stack_path, function.events or {})
            for function in self.local_lambda_runner.provider.get_all()
        ]

    def api(self) -> Api | None:
        """SAM's view of the template's APIs (routes, binary media types, CORS, stage); None without routes."""
        # No authorizer runs locally (sam local start-api --disable-authorizer): no API key is needed here.
        api = ApiProvider(self.stacks, cwd=self.get_cwd(), disable_authorizer=True).api
        return api if api.routes else None

    # SAM's members, overridden.

    @staticmethod
    def _get_container_manager(*_args: Any, **_kwargs: Any) -> Any:
        return None  # SAM's ContainerManager connects to Docker as soon as it is created

    @property
    def lambda_runtime(self) -> SamLambdaRuntime:
        return self._process_runtime

    @property
    def local_lambda_runner(self) -> LocalLambdaRunner:
        # As InvokeContext.local_lambda_runner, with the credentials cached.
        if self._cached_runner is None:
            self._cached_runner = CachedCredentialsRunner(
                local_runtime=self.lambda_runtime,
                function_provider=self._function_provider,
                cwd=self.get_cwd(),
                real_path=os.path.dirname(os.path.abspath(self._template_file)),
                aws_profile=self._aws_profile,
                aws_region=self._aws_region,
                env_vars_values=self._env_vars_value,
                debug_context=self._debug_context,
            )
        return self._cached_runner

    def __exit__(self, *args: Any) -> None:
        try:
            super().__exit__(*args)
        finally:
            self._function_runner.shutdown()


# --- API Gateway: SAM's emulation with hooks -----------------------------------------------------------------

_REQUEST_ID = "apigw_request_id"
_RECEIVED_AT = "apigw_received_at"


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _WithBodyBase64:
    """A Flask request as SAM's event builders read it, with its body base64-encoded: SAM then puts that text in
    the event (as it does for a binary media type), and the caller sets isBase64Encoded."""

    def __init__(self, flask_request: Any, body: bytes) -> None:
        self._flask_request = flask_request
        self._encoded = base64.b64encode(body)

    def get_data(self, *_args: Any, **_kwargs: Any) -> bytes:
        return self._encoded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._flask_request, name)


def _stamp_request_context(event: Any, request_id: str | None, received_at: float | None) -> None:
    """The request's own id and time in its event. SAM's RequestContext and construct_v2_event_http take them as
    default arguments, evaluated once at import: every event would carry one id and the server's start time, so
    one correlation id for all requests, and a gateway deadline counted from when the server started."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict):
        return
    received_at = time.time() if received_at is None else received_at
    stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(received_at))
    context["requestId"] = request_id or str(uuid.uuid4())
    if "timeEpoch" in context:  # payload format 2.0 (HTTP API)
        context.update(time=stamp, timeEpoch=int(received_at * 1000))
    else:  # REST API, and HTTP API payload 1.0: milliseconds, as API Gateway sends them
        context.update(requestTime=stamp, requestTimeEpoch=int(received_at * 1000))


class _AcceptsAnyType:
    """A Flask request as SAM's decoding rule reads it, accepting any media type: SAM then decodes a base64 answer
    whenever "*/*" is among the binary types it is given."""

    accept_mimetypes = MIMEAccept([("*/*", 1)])

    def __init__(self, flask_request: Any) -> None:
        self._flask_request = flask_request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._flask_request, name)


def _marked_base64(lambda_output: str, event_type: str) -> bool:
    """Whether a proxy answer is marked base64-encoded (a second parse: only for a body SAM did not decode)."""
    return bool(LocalApigwService.get_base_64_encoded(event_type, json.loads(lambda_output)))


class ApiGatewayEmulation(LocalApigwService):
    """SAM's LocalApigwService: Flask routing, proxy events, binary media types, the proxy response mapping.

    Subclasses override configure_app, handle_request, body_not_text and request_handler and read request_id,
    current_route, function_events, serverless_apis and stage_name; only this class overrides or calls SAM's
    private members.
    """

    def __init__(self, context: LocalInvokeContext, api: Api, *, host: str, port: int) -> None:
        super().__init__(
            api=api, lambda_runner=context.local_lambda_runner, port=port, host=host, stderr=context.stderr
        )
        self.layers_base_dir = context.lambda_runtime.base_dir  # layers' ContentUri are relative to it

    def configure_app(self, app: Flask) -> None:
        """Called once SAM has built its Flask app (routes, error handlers), before serving."""

    def handle_request(self, route: ApiRoute, forward: Callable[[], Response]) -> Response:
        """Answer a request to `route`; forward() is SAM's handling (event, invocation, proxy response)."""
        return forward()

    def request_handler(self) -> type[WSGIRequestHandler] | None:
        """The werkzeug request handler class of the development server (None: werkzeug's own)."""
        return None

    def streams(self, route: ApiRoute, method: str) -> bool:
        """Whether the route's answer streams (the template's ResponseTransferMode: RESPONSE_STREAM): if so, the
        invocation raises StreamedInvocation instead of running the function through SAM."""
        return False

    def body_not_text(self) -> None:
        """Called, within forward(), when the request's body is not UTF-8 and its media type is not one of the
        API's binary media types, so that SAM cannot put it in the event as text (it would answer 502). Return
        to pass it on base64-encoded (isBase64Encoded: true); raise to refuse the request."""

    def request_id(self) -> str | None:
        """API Gateway's id of the request being handled (requestContext.requestId); None before routing."""
        return g.get(_REQUEST_ID)

    def current_route(self) -> ApiRoute | None:
        """The route of the request being handled; None for a path or method no route serves."""
        try:
            return _api_route(self._get_current_route(request))
        except KeyError:
            return None

    def function_events(self) -> Iterator[FunctionEvents]:
        for function in self.lambda_runner.provider.get_all():
            yield FunctionEvents(function.full_path, function.stack_path, function.events or {})

    def serverless_apis(self) -> Iterator[ServerlessApi]:
        for stack in self.lambda_runner.provider.stacks:
            for logical_id, resource in (stack.resources or {}).items():
                if isinstance(resource, dict) and resource.get("Type") == "AWS::Serverless::Api":
                    yield ServerlessApi(stack.stack_path, logical_id, resource.get("Properties") or {})

    @property
    def stage_name(self) -> str | None:
        return self.api.stage_name

    def serve_forever(self) -> None:
        handler = self.request_handler()
        app = self._app
        if handler is not None and app is not None:
            # SAM's run() starts the server with self._app.run(threaded=..., host=..., port=..., ssl_context=...),
            # which cannot be given a request handler: this app's run() adds it.
            app.run = functools.partial(app.run, request_handler=handler)
        self.run()

    # SAM's members, overridden.

    def create(self) -> None:
        super().create()
        app = self._app
        assert app is not None
        self.configure_app(app)

    def _request_handler(self, **kwargs: Any) -> Response:
        sam_handler = super()._request_handler
        route = self._get_current_route(request)  # Flask matched the request to one of SAM's routes
        # What API Gateway stamps on a request when it receives it (flask.g lives as long as the request).
        setattr(g, _REQUEST_ID, str(uuid.uuid4()))
        setattr(g, _RECEIVED_AT, time.time())
        return self.handle_request(_api_route(route), lambda: sam_handler(**kwargs))

    def _generate_lambda_event(self, flask_request: Any, route: Route, method: str, endpoint: str) -> Any:
        try:
            event = super()._generate_lambda_event(flask_request, route, method, endpoint)
        except UnicodeDecodeError:
            body = flask_request.get_data()
            if _is_utf8(body):
                raise  # not the body: nothing to do here
            self.body_not_text()
            as_base64 = _WithBodyBase64(flask_request, body)
            event = super()._generate_lambda_event(as_base64, route, method, endpoint)
            event["isBase64Encoded"] = True
        _stamp_request_context(event, g.get(_REQUEST_ID), g.get(_RECEIVED_AT))
        return event

    def _invoke_lambda_function(
        self, lambda_function_name: str, event: dict, tenant_id: str | None = None
    ) -> Any:
        route = self._get_current_route(request)
        if self.streams(_api_route(route), request.method):
            # SAM has routed the request and built its event; only its invocation and answer are buffered.
            runner = self.lambda_runner
            config = runner.get_invoke_config(runner.get_function(lambda_function_name, tenant_id))
            cors = route.cors if route.cors is not None else self.api.cors
            cors_headers = Cors.cors_to_headers(cors, request.headers.get("Origin"), route.event_type)
            raise StreamedInvocation(
                lambda_function(config, self.layers_base_dir),
                event,
                {name: str(value) for name, value in cors_headers.items()},
            )
        try:
            return super()._invoke_lambda_function(lambda_function_name, event, tenant_id)
        except LambdaResponseParseException as exc:
            # Raised here only for a Lambda error object (unhandled exception, timeout, crash, oversized
            # response): sam local answers 500, API Gateway answers 502.
            raise limits.FunctionFailed(lambda_function_name) from exc

    @staticmethod
    def _parse_v1_payload_format_lambda_output(
        lambda_output: str, binary_types: Any, flask_request: Any, event_type: str
    ) -> Any:
        # A REST API's answer is decoded by API Gateway's rule (binary_media) rather than SAM's, and SAM's one parse
        # of the answer does it: given "*/*" as the binary types and a request that accepts any type, SAM decodes
        # exactly the answers marked base64.
        decode = event_type == Route.API and binary_media.returns_binary(
            flask_request.headers.get("Accept"), binary_types or ()
        )
        if event_type == Route.API:
            binary_types, flask_request = (["*/*"] if decode else []), _AcceptsAnyType(flask_request)
        try:
            status, headers, body = LocalApigwService._parse_v1_payload_format_lambda_output(
                lambda_output, binary_types, flask_request, event_type
            )
        except LambdaResponseParseException as exc:
            # A malformed proxy response is a 502 too: raised, so that the GatewayResponses apply to it as well.
            LOG.error("Invalid lambda response received: %s", exc)
            raise limits.FunctionFailed("malformed response") from exc
        if decode and isinstance(body, str) and body and _marked_base64(lambda_output, event_type):
            # SAM keeps a body it cannot decode as it is: a text answer here was marked base64 but is not.
            raise limits.FunctionFailed("malformed base64 body")
        return status, headers, body
