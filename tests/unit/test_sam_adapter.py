"""SAM CLI's internals that local/sam_adapter.py relies on are still where it expects them.

`make serve` reuses SAM CLI's own API Gateway emulation by overriding and calling private members of its classes.
aws-sam-cli is pinned; after an upgrade these tests name each member that moved, was renamed or changed its
parameters, and local/sam_adapter.py is the one module to update. They also keep the seam whole: no other
module of local/ imports SAM or touches a SAM member directly.
"""

from __future__ import annotations

import ast
import base64
import importlib
import importlib.metadata
import inspect
import json
import re
import textwrap
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flask import Flask, request

from local.limits import FunctionFailed

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "local"
ADAPTER = LOCAL / "sam_adapter.py"
SAM_PACKAGES = ("samcli", "samtranslator")


def _pinned_sam_cli() -> str:
    found = re.search(r"^aws-sam-cli==(\S+)", (REPO / "requirements-dev.txt").read_text(), re.MULTILINE)
    assert found, (
        "requirements-dev.txt no longer pins aws-sam-cli: the adapter is checked against one version"
    )
    return found.group(1)


PINNED = _pinned_sam_cli()


def moved(what: str) -> str:
    return f"SAM CLI moved {what}: local/sam_adapter.py must be updated (pinned aws-sam-cli=={PINNED})"


def changed(what: str, how: str) -> str:
    return (
        f"SAM CLI changed {what}: {how}; local/sam_adapter.py must be updated (pinned aws-sam-cli=={PINNED})"
    )


def sam(path: str) -> Any:
    """A SAM module, or a class or function of one, by dotted path; a failure naming it when it moved."""
    try:
        return importlib.import_module(path)
    except ImportError:
        pass
    module_name, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        pytest.fail(moved(path))


def adapter() -> ModuleType:
    try:
        return importlib.import_module("local.sam_adapter")
    except ImportError as exc:  # test_every_sam_import_of_the_adapter_still_resolves says which
        pytest.fail(f"local/sam_adapter.py no longer imports with the installed SAM CLI: {exc}")


def short(path: str) -> str:
    return path.rpartition(".")[2]


@cache
def assigned_on_self(cls: type) -> frozenset[str]:
    """Names a class's own source assigns as `self.<name> = ...` (instance attributes)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return frozenset()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            targets = [node.target]
        else:
            continue
        for target in targets:
            for element in ast.walk(target):
                if (
                    isinstance(element, ast.Attribute)
                    and isinstance(element.value, ast.Name)
                    and element.value.id == "self"
                ):
                    names.add(element.attr)
    return frozenset(names)


def is_sam(cls: type) -> bool:
    return cls.__module__.split(".")[0] in SAM_PACKAGES


def sam_members(cls: type) -> set[str]:
    """Everything SAM's classes in cls's MRO define: methods, properties, class and instance attributes."""
    names: set[str] = set()
    for klass in cls.__mro__:
        if is_sam(klass):
            names |= set(vars(klass)) | assigned_on_self(klass)
    return names


def parameters(func: Any) -> list[inspect.Parameter]:
    """The parameters a caller passes (without self)."""
    params = list(inspect.signature(func).parameters.values())
    return params[1:] if params and params[0].name in ("self", "cls") else params


def accepts(params: list[inspect.Parameter], sam_param: inspect.Parameter) -> bool:
    """Whether a function with these parameters accepts what a caller passes for SAM's `sam_param`."""
    kinds = {p.kind for p in params}
    by_name = {p.name: p for p in params}
    if sam_param.kind is inspect.Parameter.VAR_POSITIONAL:
        return inspect.Parameter.VAR_POSITIONAL in kinds
    if sam_param.kind is inspect.Parameter.VAR_KEYWORD:
        return inspect.Parameter.VAR_KEYWORD in kinds
    return sam_param.name in by_name or inspect.Parameter.VAR_KEYWORD in kinds


# --- What the adapter relies on -----------------------------------------------------------------------------

APIGW = "samcli.local.apigw.local_apigw_service.LocalApigwService"
INVOKE_CONTEXT = "samcli.commands.local.cli_common.invoke_context.InvokeContext"
RUNNER = "samcli.commands.local.lib.local_lambda.LocalLambdaRunner"
RUNTIME = "samcli.local.lambdafn.runtime.LambdaRuntime"
WARM_RUNTIME = "samcli.local.lambdafn.runtime.WarmLambdaRuntime"
FUNCTION_CONFIG = "samcli.local.lambdafn.config.FunctionConfig"
ENV_VARS = "samcli.local.lambdafn.env_vars.EnvironmentVariables"
FUNCTION_PROVIDER = "samcli.lib.providers.sam_function_provider.SamFunctionProvider"
FUNCTION = "samcli.lib.providers.provider.Function"
LAYER_VERSION = "samcli.lib.providers.provider.LayerVersion"
STACK = "samcli.lib.providers.provider.Stack"
API = "samcli.lib.providers.provider.Api"
API_PROVIDER = "samcli.lib.providers.api_provider.ApiProvider"
ROUTE = "samcli.local.apigw.route.Route"
PARAMETER_OVERRIDES = "samcli.cli.types.CfnParameterOverridesType"
TEMPLATE = "samcli.commands._utils.template"
STREAM_WRITER = "samcli.lib.utils.stream_writer.StreamWriter"
CODEURI = "samcli.lib.utils.codeuri"
GATEWAY_RESPONSE = "samtranslator.model.apigateway.ApiGatewayResponse"
EVENT_CONSTRUCTOR = "samcli.local.apigw.event_constructor"
REQUEST_CONTEXT = "samcli.local.events.api_event.RequestContext"
BASE_LOCAL_SERVICE = "samcli.local.services.base_local_service.BaseLocalService"
INTRINSICS = "samcli.lib.intrinsic_resolver.intrinsics_symbol_table.IntrinsicsSymbolTable"
REQUEST_CONTEXT_V2 = "samcli.local.events.api_event.RequestContextV2"
CORS = "samcli.lib.providers.provider.Cors"


@dataclass(frozen=True)
class Override:
    """A SAM member an adapter class overrides."""

    ours: str  # the adapter's class
    sam_class: str
    member: str
    positional: tuple[str, ...] = ()  # SAM's leading positional parameters, in order, that we pass or read
    keywords: tuple[str, ...] = ()  # parameters SAM passes to us by name and we read

    def __str__(self) -> str:
        return f"{short(self.sam_class)}.{self.member}"


OVERRIDES = (
    Override("ApiGatewayEmulation", APIGW, "create"),
    Override("ApiGatewayEmulation", APIGW, "_request_handler"),
    Override(
        "ApiGatewayEmulation",
        APIGW,
        "_invoke_lambda_function",
        positional=("lambda_function_name", "event", "tenant_id"),
    ),
    Override(
        "ApiGatewayEmulation",
        APIGW,
        "_generate_lambda_event",
        positional=("flask_request", "route", "method", "endpoint"),
    ),
    Override(
        "ApiGatewayEmulation",
        APIGW,
        "_parse_v1_payload_format_lambda_output",
        positional=("lambda_output", "binary_types", "flask_request", "event_type"),
    ),
    Override("LocalInvokeContext", INVOKE_CONTEXT, "_get_container_manager"),
    Override("LocalInvokeContext", INVOKE_CONTEXT, "lambda_runtime"),
    Override("LocalInvokeContext", INVOKE_CONTEXT, "local_lambda_runner"),
    Override("LocalInvokeContext", INVOKE_CONTEXT, "__exit__"),
    Override("CachedCredentialsRunner", RUNNER, "get_aws_creds"),
    Override(
        "SamLambdaRuntime", RUNTIME, "invoke", positional=("function_config", "event"), keywords=("stdout",)
    ),
    Override("SamLambdaRuntime", RUNTIME, "clean_runtime_containers"),
    Override("SamLambdaRuntime", WARM_RUNTIME, "clean_running_containers_and_related_resources"),
)


@dataclass(frozen=True)
class Call:
    """A SAM function, method or constructor the adapter calls."""

    owner: str  # a class or a module
    member: str
    positional: tuple[str, ...] = ()  # what we pass by position, in SAM's order
    keywords: tuple[str, ...] = ()  # what we pass by name

    def __str__(self) -> str:
        return f"{short(self.owner)}.{self.member}"


CALLS = (
    Call(APIGW, "__init__", keywords=("api", "lambda_runner", "port", "host", "stderr")),
    Call(APIGW, "_get_current_route", positional=("flask_request",)),
    Call(APIGW, "run"),
    Call(
        INVOKE_CONTEXT,
        "__init__",
        keywords=("template_file", "env_vars_file", "parameter_overrides", "aws_region", "aws_profile"),
    ),
    Call(INVOKE_CONTEXT, "get_cwd"),
    Call(
        RUNNER,
        "__init__",
        keywords=(
            "local_runtime",
            "function_provider",
            "cwd",
            "real_path",
            "aws_profile",
            "aws_region",
            "env_vars_values",
            "debug_context",
        ),
    ),
    Call(RUNNER, "get_invoke_config", positional=("function",)),
    Call(RUNNER, "get_function", positional=("function_identifier", "tenant_id")),
    Call(CORS, "cors_to_headers", positional=("cors", "request_origin", "event_type")),
    Call(RUNTIME, "__init__", keywords=("container_manager", "image_builder")),
    Call(FUNCTION_PROVIDER, "get_all"),
    Call(ENV_VARS, "resolve"),
    Call(STREAM_WRITER, "write_str", positional=("output",)),
    Call(API_PROVIDER, "__init__", positional=("stacks",), keywords=("cwd",)),
    Call(PARAMETER_OVERRIDES, "convert", positional=("values", "param", "ctx")),
    Call(TEMPLATE, "get_template_data", positional=("template_file",)),
    Call(CODEURI, "resolve_code_path", positional=("cwd", "codeuri")),
    Call(
        GATEWAY_RESPONSE,
        "__init__",
        keywords=("api_logical_id", "response_parameters", "response_templates", "status_code"),
    ),
    Call(GATEWAY_RESPONSE, "generate_swagger"),
)

# Attributes and properties the adapter reads, by SAM class.
ATTRIBUTES = {
    INVOKE_CONTEXT: (
        "_function_provider",
        "_template_file",
        "_aws_profile",
        "_aws_region",
        "_env_vars_value",
        "_debug_context",
        "stacks",
        "stderr",
    ),
    APIGW: ("_app", "api", "lambda_runner"),
    RUNNER: ("provider",),
    FUNCTION_PROVIDER: ("stacks",),
    FUNCTION_CONFIG: (
        "name",
        "full_path",
        "handler",
        "runtime",
        "code_abs_path",
        "layers",
        "timeout",
        "env_vars",
    ),
    ENV_VARS: ("override_values",),
    FUNCTION: ("packagetype", "inlinecode", "events", "stack_path", "full_path"),
    LAYER_VERSION: ("arn", "codeuri"),
    STACK: ("resources", "stack_path"),
    API: ("routes", "stage_name", "cors"),
    ROUTE: ("function_name", "path", "event_type", "HTTP", "methods", "cors"),
}

# Our overrides take effect only while SAM calls these members through `self` (not through its own class).
CALLED_THROUGH_SELF = (
    (APIGW, "create", "view_func=self._request_handler"),
    (APIGW, "_request_handler", "self._get_current_route(request)"),
    (APIGW, "_request_handler", "self._invoke_lambda_function("),
    # A streamed route's StreamedInvocation passes through: SAM catches only its own exceptions around the call.
    (APIGW, "_request_handler", "lambda_response = self._invoke_lambda_function(route.function_name"),
    (APIGW, "_request_handler", "self._generate_lambda_event("),
    (APIGW, "_request_handler", "self._parse_v1_payload_format_lambda_output("),
    (INVOKE_CONTEXT, "__enter__", "self._get_container_manager("),
    (RUNNER, "invoke", "self.local_runtime.invoke("),
    (RUNNER, "_make_env_vars", "self.get_aws_creds()"),
)


# What SAM's own code must still do for the adapter's corrections to apply: (owner, function, code it contains).
SAM_CODE_RELIED_ON = (
    # _WithBodyBase64 hands SAM's event builders the body through get_data(); a body they cannot decode as
    # UTF-8 raises UnicodeDecodeError, which is when body_not_text is called.
    (EVENT_CONSTRUCTOR, "construct_v1_event", "flask_request.get_data()"),
    (EVENT_CONSTRUCTOR, "construct_v1_event", 'request_data.decode("utf-8")'),
    (EVENT_CONSTRUCTOR, "construct_v2_event_http", "flask_request.get_data()"),
    (EVENT_CONSTRUCTOR, "construct_v2_event_http", 'request_data.decode("utf-8")'),
    # _stamp_request_context overwrites these keys of the events' requestContext.
    (REQUEST_CONTEXT, "to_dict", '"requestId": self.request_id'),
    (REQUEST_CONTEXT, "to_dict", '"requestTimeEpoch": self.request_time_epoch'),
    (REQUEST_CONTEXT_V2, "to_dict", '"timeEpoch": self.request_time_epoch'),
    # A REST API's answer is decoded in SAM's one parse of it: given "*/*" as the binary types and a request that
    # accepts any type, SAM decodes exactly the answers marked base64.
    (APIGW, "_should_base64_decode_body", "flask_request.accept_mimetypes.best_match("),
    (APIGW, "_should_base64_decode_body", '"*/*" in binary_types'),
    (APIGW, "_parse_v1_payload_format_lambda_output", "body = base64.b64decode(body)"),
    # serve_forever gives the app's run() our request handler before SAM's run() calls it.
    (BASE_LOCAL_SERVICE, "run", "self._app.run("),
    # resource_reference recognises a `!GetAtt X.Arn` by the Lambda function ARN SAM makes of it.
    (INTRINSICS, "arn_resolver", '{account_id}:function:{resource_name}"'),
)


# --- The pin ---------------------------------------------------------------------------------------------------


def test_installed_sam_cli_is_the_pinned_one_and_the_adapter_names_it() -> None:
    # Given the version requirements-dev.txt pins
    # When the installed one is read
    installed = importlib.metadata.version("aws-sam-cli")
    # Then it is the one these tests (and the adapter) were written against
    assert installed == PINNED, (
        f"aws-sam-cli {installed} is installed, {PINNED} is pinned: run `make venv` "
        "(after an upgrade of the pin, these tests say what local/sam_adapter.py must change)"
    )
    assert f"aws-sam-cli=={PINNED}" in ADAPTER.read_text(), (
        "local/sam_adapter.py's docstring must name the pinned aws-sam-cli version"
    )


# --- SAM's side: every member the adapter relies on ----------------------------------------------------------


def _sam_imports() -> list[str]:
    imports = []
    for node in ast.walk(ast.parse(ADAPTER.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SAM_PACKAGES:
            imports += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            imports += [a.name for a in node.names if a.name.split(".")[0] in SAM_PACKAGES]
    return imports


@pytest.mark.parametrize("path", _sam_imports())
def test_every_sam_import_of_the_adapter_still_resolves(path: str) -> None:
    # Given a name local/sam_adapter.py imports from SAM / When it is looked up / Then it is still there
    assert sam(path) is not None, moved(path)


@pytest.mark.parametrize("override", OVERRIDES, ids=str)
def test_overridden_sam_members_still_exist_with_the_parameters_we_rely_on(override: Override) -> None:
    # Given a member of a SAM class that an adapter class overrides
    sam_class = sam(override.sam_class)
    ours = getattr(adapter(), override.ours)
    # When SAM's and ours are compared
    try:
        sam_member = inspect.getattr_static(sam_class, override.member)
    except AttributeError:
        pytest.fail(moved(str(override)))
    our_member = inspect.getattr_static(ours, override.member)
    # Then SAM's is still the same kind of member (method, static method, property)
    assert type(our_member) is type(sam_member), changed(
        str(override), f"it is now a {type(sam_member).__name__}, ours a {type(our_member).__name__}"
    )
    if isinstance(sam_member, property):
        return
    # And it still takes, in the same places, the parameters we pass or read
    sam_params = parameters(getattr(sam_class, override.member))
    leading = [p.name for p in sam_params[: len(override.positional)]]
    assert leading == list(override.positional), changed(
        str(override), f"its leading parameters are {leading}, not {list(override.positional)}"
    )
    for name in override.keywords:
        assert name in {p.name for p in sam_params}, changed(str(override), f"it no longer takes {name!r}")
    # And ours accepts everything SAM's callers pass to it
    our_params = parameters(getattr(ours, override.member))
    for sam_param in sam_params:
        assert accepts(our_params, sam_param), changed(
            str(override), f"it now takes {sam_param.name!r}, which our override does not accept"
        )


@pytest.mark.parametrize("call", CALLS, ids=str)
def test_called_sam_members_still_take_the_arguments_we_pass(call: Call) -> None:
    # Given a SAM function, method or constructor the adapter calls
    owner = sam(call.owner)
    member = getattr(owner, call.member, None)
    assert callable(member), moved(str(call))
    # When its parameters are read
    sam_params = parameters(member)
    names = {p.name for p in sam_params}
    has_var_keyword = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sam_params)
    # Then what we pass by position is still in those places, and what we pass by name is still a parameter
    leading = [p.name for p in sam_params[: len(call.positional)]]
    assert leading == list(call.positional), changed(
        str(call), f"its leading parameters are {leading}, not {list(call.positional)}"
    )
    for name in call.keywords:
        assert name in names or has_var_keyword, changed(str(call), f"it no longer takes {name!r}")
    # And it requires nothing we do not pass
    passed = set(call.positional) | set(call.keywords)
    required = [
        p.name
        for p in sam_params
        if p.default is inspect.Parameter.empty
        and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        and p.name not in passed
    ]
    assert not required, changed(str(call), f"it now requires {required}")


@pytest.mark.parametrize(
    ("owner", "attribute"), [(owner, name) for owner, names in ATTRIBUTES.items() for name in names]
)
def test_sam_attributes_the_adapter_reads_are_still_defined(owner: str, attribute: str) -> None:
    # Given an attribute or property of a SAM object that the adapter reads
    # When SAM's class is searched (class body and `self.<name> = ...` in its methods)
    # Then it still defines it
    assert attribute in sam_members(sam(owner)), moved(f"{short(owner)}.{attribute}")


@pytest.mark.parametrize(("owner", "method", "call"), CALLED_THROUGH_SELF)
def test_sam_still_calls_the_overridden_members_through_self(owner: str, method: str, call: str) -> None:
    # Given a SAM method whose call of an overridden member is what makes our override run
    # When its source is read
    source = inspect.getsource(getattr(sam(owner), method))
    # Then it still makes that call through self (whitespace aside)
    assert re.sub(r"\s", "", call) in re.sub(r"\s", "", source), changed(
        f"{short(owner)}.{method}", f"it no longer calls `{call}`"
    )


@pytest.mark.parametrize(("owner", "function", "code"), SAM_CODE_RELIED_ON)
def test_sam_code_still_does_what_the_adapters_corrections_rely_on(
    owner: str, function: str, code: str
) -> None:
    # Given a SAM function whose behaviour an adapter correction builds on
    # When its source is read
    source = inspect.getsource(getattr(sam(owner), function))
    # Then it still contains that code (whitespace aside)
    assert re.sub(r"\s", "", code) in re.sub(r"\s", "", source), changed(
        f"{short(owner)}.{function}", f"it no longer contains `{code}`"
    )


# --- Our side: the seam stays whole ----------------------------------------------------------------------------


def overridable(name: str) -> bool:
    """A member that changes behaviour when redefined (not class machinery such as __module__ or __init__,
    whose signature is ours by design)."""
    return not (name.startswith("__") and name.endswith("__")) or name in (
        "__enter__",
        "__exit__",
        "__call__",
    )


def _sam_subclasses(module: ModuleType) -> list[type]:
    return [
        cls
        for cls in vars(module).values()
        if isinstance(cls, type) and cls.__module__ == module.__name__ and any(map(is_sam, cls.__mro__))
    ]


def _private_attributes_read(path: Path) -> set[str]:
    """`<anything>._name` in a module's source (not dunders)."""
    return {
        node.attr
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
    }


def test_the_tables_list_every_sam_member_the_adapter_overrides_or_touches() -> None:
    # Given the adapter's subclasses of SAM classes
    module = adapter()
    classes = _sam_subclasses(module)
    assert classes, "local/sam_adapter.py defines no subclass of a SAM class"
    listed = {o.member for o in OVERRIDES} | {c.member for c in CALLS}
    listed |= {name for names in ATTRIBUTES.values() for name in names}
    # (attributes any class of the adapter sets on itself are the adapter's own)
    own = set().union(
        *(
            assigned_on_self(cls)
            for cls in vars(module).values()
            if isinstance(cls, type) and cls.__module__ == module.__name__
        )
    )
    for cls in classes:
        sam_names = sam_members(cls)
        # When their members are compared with SAM's
        shadowing = {name for name in vars(cls) if name in sam_names and overridable(name)}
        # Then each one that replaces a SAM member is a listed override
        unlisted = shadowing - {o.member for o in OVERRIDES if o.ours == cls.__name__}
        assert not unlisted, f"{cls.__name__} overrides SAM's {sorted(unlisted)}: add them to OVERRIDES"
        # And no attribute of our own replaces one of SAM's by accident
        clashes = assigned_on_self(cls) & sam_names
        assert not clashes, f"{cls.__name__} sets {sorted(clashes)}, which SAM's classes already use"
    # And every private name the adapter reads is SAM's and listed, or the adapter's own
    unlisted_reads = _private_attributes_read(ADAPTER) - listed - own - set(vars(module))
    assert not unlisted_reads, (
        f"local/sam_adapter.py touches {sorted(unlisted_reads)}: list them in this test"
    )


@pytest.mark.parametrize("path", sorted(p for p in LOCAL.glob("*.py") if p != ADAPTER), ids=lambda p: p.name)
def test_no_other_module_of_local_imports_sam(path: Path) -> None:
    # Given a module of local/ other than the adapter / When its imports are read
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
    # Then none is SAM's: SAM is reached through local/sam_adapter.py only
    sam_imports = sorted(name for name in imported if name.split(".")[0] in SAM_PACKAGES)
    assert not sam_imports, f"local/{path.name} imports {sam_imports}: go through local/sam_adapter.py"


def _local_subclasses() -> list[type]:
    """Classes of local/, outside the adapter, that extend an adapter class."""
    return [
        cls
        for path in sorted(LOCAL.glob("*.py"))
        if path != ADAPTER and path.name != "__init__.py"
        for cls in _sam_subclasses(importlib.import_module(f"local.{path.stem}"))
    ]


def _attributes_used_on_self(cls: type) -> set[str]:
    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"
    }


def test_subclasses_outside_the_adapter_use_only_its_hooks() -> None:
    # Given the classes of local/ that extend an adapter class (and so, through it, a SAM class)
    adapter_module = adapter()
    subclasses = _local_subclasses()
    assert subclasses, "no class of local/ extends the adapter: this test checks nothing"
    for cls in subclasses:
        adapter_names = set().union(
            *(vars(k) for k in cls.__mro__ if k.__module__ == adapter_module.__name__)
        )
        own = set(vars(cls)) | assigned_on_self(cls)
        sam_names = sam_members(cls)
        # When the members it defines and the attributes it uses are compared with SAM's
        used = _attributes_used_on_self(cls)
        # Then it overrides only the adapter's hooks, and reads SAM only through the adapter
        shadowing = {n for n in own if n in sam_names and n not in adapter_names and overridable(n)}
        assert not shadowing, (
            f"{cls.__name__} overrides SAM's {sorted(shadowing)}: do it in local/sam_adapter.py"
        )
        direct = {n for n in used - own if n in sam_names and n not in adapter_names}
        assert not direct, (
            f"{cls.__name__} uses SAM's {sorted(direct)} directly: go through local/sam_adapter.py"
        )


# --- What SAM makes of references to resources (local/local_aws.py replaces them) -----------------------------


def test_sam_still_leaves_placeholders_for_refs_and_arns_that_resource_reference_recognises() -> None:
    # Given template.yaml as SAM processes it (no runtime is started)
    from local.runtime import ProcessLambdaRuntime

    module = adapter()
    context = module.LocalInvokeContext(
        ProcessLambdaRuntime(user_env={}),
        template_file=str(REPO / "template.yaml"),
        env_vars_file=None,
        parameter_overrides=None,
        aws_region="us-east-1",
        aws_profile=None,
    )
    with context:
        # When its functions' environment, the worker's SQS event and the jobs queue's redrive policy are read
        resources = {
            r.logical_id: r for r in context.template_resources("AWS::SQS::Queue", "AWS::S3::Bucket")
        }
        ids = ["SpeechBucket", "JobsQueue", "JobsDeadLetterQueue"]
        env = next(f for f in context.zip_functions() if f.full_path == "SttFunction").env
        worker = next(e for e in context.function_events() if e.full_path == "WorkerFunction")
        queue_arn = worker.events["Jobs"]["Properties"]["Queue"]
        redrive = resources["JobsQueue"].properties["RedrivePolicy"]["deadLetterTargetArn"]
    Ref = module.ResourceReference
    # Then `!Ref X` is still "X" and `!GetAtt X.Arn` a placeholder ARN, and resource_reference names them
    assert module.resource_reference(env["SPEECH_BUCKET"], ids) == Ref("SpeechBucket", None), changed(
        "what a !Ref of a resource resolves to", f"SPEECH_BUCKET is {env['SPEECH_BUCKET']!r}"
    )
    assert module.resource_reference(env["JOBS_QUEUE_URL"], ids) == Ref("JobsQueue", None)
    assert module.resource_reference(queue_arn, ids) == Ref("JobsQueue", "Arn"), changed(
        "what a !GetAtt X.Arn resolves to", f"the SQS event's Queue is {queue_arn!r}"
    )
    assert module.resource_reference(redrive, ids) == Ref("JobsDeadLetterQueue", "Arn")
    # And a value that names no resource of the template is none of them
    assert module.resource_reference("speech-api/openai", ids) is None


# --- A REST API's answer, decoded by API Gateway's rule in SAM's one parse ------------------------------------


def _proxy_answer(body: str, *, base64_encoded: bool) -> str:
    headers = {"Content-Type": "audio/mpeg"}
    return json.dumps(
        {"statusCode": 200, "headers": headers, "body": body, "isBase64Encoded": base64_encoded}
    )


@pytest.mark.parametrize(
    ("accept", "decoded"),
    [("application/octet-stream", True), ("audio/*", True), ("application/json", False), ("*/*", False)],
)
def test_a_rest_apis_base64_answer_is_decoded_when_the_first_accept_type_is_binary(
    accept: str, decoded: bool
) -> None:
    # Given a REST API with binary media types, and an answer marked base64 to a request with this Accept
    flask_app = Flask("rest_api")
    audio = b"\x00\x01 audio"
    answer = _proxy_answer(base64.b64encode(audio).decode(), base64_encoded=True)
    binary_types = ["audio~1*", "application~1octet-stream"]
    # When the emulation maps the answer
    with flask_app.test_request_context(headers={"Accept": accept}):
        _, _, body = adapter().ApiGatewayEmulation._parse_v1_payload_format_lambda_output(
            answer, binary_types, request, sam(ROUTE).API
        )
    # Then the client gets bytes when its first Accept type is binary, the base64 text otherwise
    assert body == (audio if decoded else base64.b64encode(audio).decode())


def test_an_answer_marked_base64_that_is_not_is_a_failed_function() -> None:
    # Given an answer marked base64 whose body cannot be decoded, to a request accepting audio
    flask_app = Flask("rest_api")
    answer = _proxy_answer("abc", base64_encoded=True)
    # When the emulation maps it / Then it fails as a malformed answer (API Gateway's 502), not as text
    with flask_app.test_request_context(headers={"Accept": "audio/mpeg"}), pytest.raises(FunctionFailed):
        adapter().ApiGatewayEmulation._parse_v1_payload_format_lambda_output(
            answer, ["audio~1*"], request, sam(ROUTE).API
        )
