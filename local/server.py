"""`make serve`: the template's API on localhost, as `sam local start-api` wires it, without Docker.

    python -m local.server --template template.yaml [--port N] [--warm-containers EAGER|LAZY] [--concurrency N]
        [--aws-port N]

The template's S3 buckets, DynamoDB tables and SQS queues are created in an embedded moto server (local/local_aws.py)
and functions with SQS events are fed from their queues (local/sqs_poller.py).

Options left unset come from samconfig.toml ([<env>.local_start_api.parameters], then [<env>.global.parameters]),
then SAM's defaults.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from local.pool import DEFAULT_CONCURRENCY

if TYPE_CHECKING:
    from local.sam_adapter import ApiRoute

LOG = logging.getLogger("local.server")

DEFAULT_PORT = 3000  # sam local start-api's
DEFAULT_HOST = "127.0.0.1"
EAGER_INIT_TIMEOUT_S = 60.0
INVALID_CONFIGURATION = 2  # exit status: a setting the layer refuses (or no template)
CONCURRENCY_ENV = "LOCAL_CONCURRENCY"
AWS_PORT_ENV = "LOCAL_AWS_PORT"
GIL_SWITCH_INTERVAL_S = 0.001


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m local.server", description="Serve the template's API locally without Docker."
    )
    parser.add_argument("--template", "-t", default="template.yaml")
    parser.add_argument("--port", "-p", type=int)
    parser.add_argument("--host")
    parser.add_argument(
        "--env-vars", "-n", help="JSON or .env file overriding function environment variables"
    )
    parser.add_argument("--parameter-overrides", help='template parameters, "Key=Value Key2=Value2"')
    parser.add_argument("--warm-containers", choices=["EAGER", "LAZY"], type=str.upper)
    parser.add_argument(
        "--concurrency",
        type=_positive_int,
        help=f"warm workers per function; requests beyond wait for one (default: ${CONCURRENCY_ENV}, "
        f"else {DEFAULT_CONCURRENCY})",
    )
    parser.add_argument(
        "--aws-port",
        type=_port,
        help=f"loopback port of the embedded S3, DynamoDB and SQS (default: ${AWS_PORT_ENV}, else a free one)",
    )
    parser.add_argument("--region")
    parser.add_argument("--profile")
    parser.add_argument("--config-file", help="samconfig.toml (default: next to the template)")
    parser.add_argument("--config-env", default="default")
    parser.add_argument("--debug", action="store_true", help="debug logging")
    return parser.parse_args(argv)


def samconfig_parameters(path: str, env: str) -> dict[str, Any]:
    """start-api parameters of samconfig.toml, over its global ones; {} without a file."""
    try:
        with open(path, "rb") as handle:
            config = tomllib.load(handle)
    except FileNotFoundError:
        return {}
    section = config.get(env, {})
    return {
        **section.get("global", {}).get("parameters", {}),
        **section.get("local_start_api", {}).get("parameters", {}),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _stop_on_signals()
    # SAM CLI's telemetry must not try the network from a local dev server.
    os.environ.setdefault("SAM_CLI_TELEMETRY", "0")
    _configure_logging(args.debug)

    template = os.path.abspath(args.template)
    if not os.path.isfile(template):
        LOG.error("Template not found: %s", template)
        return INVALID_CONFIGURATION
    config_file = args.config_file or os.path.join(os.path.dirname(template), "samconfig.toml")
    saved = samconfig_parameters(config_file, args.config_env)
    port = int(args.port or saved.get("port") or DEFAULT_PORT)
    host = str(args.host or saved.get("host") or DEFAULT_HOST)
    warm = str(args.warm_containers or saved.get("warm_containers") or "LAZY").upper()
    try:
        concurrency = args.concurrency or _positive_int(
            os.environ.get(CONCURRENCY_ENV) or str(DEFAULT_CONCURRENCY)
        )
    except argparse.ArgumentTypeError as exc:
        LOG.error("%s: %s", CONCURRENCY_ENV, exc)
        return INVALID_CONFIGURATION
    try:
        aws_port = args.aws_port if args.aws_port is not None else _port(os.environ.get(AWS_PORT_ENV) or "0")
    except argparse.ArgumentTypeError as exc:
        LOG.error("%s: %s", AWS_PORT_ENV, exc)
        return INVALID_CONFIGURATION
    env_vars = args.env_vars or saved.get("env_vars")
    overrides = args.parameter_overrides or saved.get("parameter_overrides")
    return serve(
        template=template,
        host=host,
        port=port,
        eager=warm == "EAGER",
        concurrency=concurrency,
        aws_port=aws_port,
        env_vars_file=env_vars,
        parameter_overrides=_parse_overrides(overrides),
        region=args.region or saved.get("region"),
        profile=args.profile or saved.get("profile"),
    )


def serve(
    *,
    template: str,
    host: str,
    port: int,
    eager: bool,
    concurrency: int,
    aws_port: int = 0,
    env_vars_file: str | None,
    parameter_overrides: dict[str, str] | None,
    region: str | None,
    profile: str | None,
) -> int:
    # Imported here: SAM CLI takes a second to import and --help should not wait for it.
    from local import engine_choice, sam_adapter
    from local import webhooks as local_webhooks
    from local.function_apps import FunctionApps
    from local.gateway import LocalGatewayService
    from local.local_aws import LocalAws, PortUnavailable
    from local.pool import WorkerPool
    from local.runtime import ProcessLambdaRuntime, env_values

    refused = undeclared_parameters(parameter_overrides or {}, sam_adapter.template_parameters(template))
    if refused:
        LOG.error(refused)
        return INVALID_CONFIGURATION
    # Request threads mostly wait for workers; a thread whose worker has answered must then wait for the GIL
    # while other threads build events (the "convoy effect"), leaving workers idle. A 1 ms switch interval
    # (Python's is 5 ms) raised throughput at 32 concurrent requests from 105-140 to 165-170 a second on 2 cores
    # (bench/load.py), and narrowed the spread between p50 and p95.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    user_env = dict(os.environ)
    runtime = ProcessLambdaRuntime(user_env=user_env, pool=WorkerPool(concurrency))
    context = sam_adapter.LocalInvokeContext(
        runtime,
        template_file=template,
        env_vars_file=env_vars_file,
        parameter_overrides=parameter_overrides,
        aws_region=region,
        aws_profile=profile,
    )
    local_aws = LocalAws(port=aws_port)
    function_apps = FunctionApps(runtime)
    try:
        with context:
            functions = context.zip_functions()
            choices = {}
            made_secret, configured = local_webhooks.new_secret(), dict(user_env)
            for function in functions:
                configured = {**user_env, **env_values(function.env_file_values)}
                choice = engine_choice.choose(configured, runtime.layer_paths(function))
                outbound = local_webhooks.outbound_overrides(configured, made_secret)
                runtime.env_overrides[function.full_path] = {**choice.overrides, **outbound}
                choices[function.full_path] = choice
            try:
                embedded = local_aws.configure(context, runtime, functions)
            except PortUnavailable as exc:
                LOG.error("The embedded AWS services cannot listen on %s", exc)
                return INVALID_CONFIGURATION
            worker_envs = {function.full_path: runtime.worker_env(function) for function in functions}
            invalid = engine_choice.invalid_settings(
                {f.full_path: (worker_envs[f.full_path], runtime.layer_paths(f)) for f in functions}
            )
            if invalid:
                LOG.error(engine_choice.explain(invalid))
                return INVALID_CONFIGURATION
            print(engine_choice.describe(choices, worker_envs), flush=True)
            print(local_webhooks.describe(configured, made_secret), flush=True)
            if embedded:
                print(embedded, flush=True)

            api = context.api()
            if api is None:
                LOG.error("Template does not have any APIs connected to Lambda functions")
                return 1
            service = LocalGatewayService(context, api, host=host, port=port)
            service.openapi_document = Path(template).parent / "openapi.json"  # make openapi writes it
            service.function_apps = function_apps
            service.create()
            if eager:
                streamed = service.streamed_functions()
                for function in functions:
                    if function.full_path in streamed:  # its web app, as the Lambda Web Adapter runs it
                        function_apps.start_in_background(function)
                    else:
                        runtime.pool.start_in_background(runtime.worker_spec(function), EAGER_INIT_TIMEOUT_S)
            local_aws.start_pollers()
            print(serving_block(sam_adapter.api_routes(api), host, port, concurrency), flush=True)
            try:
                service.serve_forever()
            finally:
                local_aws.stop_pollers()
    except sam_adapter.SigtermReceived:
        LOG.debug("SIGTERM: stopped")
    except KeyboardInterrupt:
        pass
    finally:
        function_apps.shutdown()
        # After the workers (the context's exit): an invocation in flight ends with its worker, then its poller.
        local_aws.close()
    return 0


# Pseudo parameters (AWS::Region, ...): sam local lets one set them, and no template declares them.
PSEUDO_PARAMETER_PREFIX = "AWS::"


def undeclared_parameters(overrides: dict[str, str], declared: list[str]) -> str | None:
    """CloudFormation's refusal of overrides the template does not declare (SAM ignores them), naming them and
    the declared ones; None when every override is declared."""
    unknown = [
        name for name in overrides if name not in declared and not name.startswith(PSEUDO_PARAMETER_PREFIX)
    ]
    if not unknown:
        return None
    return (
        f"Parameters: [{', '.join(unknown)}] do not exist in the template. It declares: {', '.join(declared)} "
        "(check PARAMS, --parameter-overrides or samconfig.toml's parameter_overrides)"
    )


# The /api door's contract writes its routes with a trailing slash (either way works); other doors as declared.
SLASHED_PREFIX = "/api/"
ALL_INTERFACES = ("0.0.0.0", "::", "")


def documented_path(path: str) -> str:
    """A route's path as the docs write it: /api/tts -> /api/tts/; one ending in a {parameter} as it is."""
    if path.startswith(SLASHED_PREFIX) and not path.endswith(("/", "}")):
        return path + "/"
    return path


def serving_block(
    routes: list[tuple[ApiRoute, tuple[str, ...]]], host: str, port: int, concurrency: int
) -> str:
    """What a person needs once the server starts: the URL to open and who can reach it, the routes, the docs."""
    if host in ALL_INTERFACES:
        url = f"http://127.0.0.1:{port}"
        reach = f"listening on all interfaces ({host or '0.0.0.0'}): other machines can call it"
    else:
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        reach = (
            f"listening on {host} only; HOST=0.0.0.0 make serve to take requests from a LAN or a container"
        )
    listed = sorted(
        (documented_path(route.path), method)
        for route, methods in routes
        for method in methods
        if method not in ("OPTIONS", "HEAD")
    )
    lines = [f"Speech API at {url} ({reach})"]
    lines += [f"  {method:<5} {url}{path}" for path, method in listed]
    if ("/", "GET") in listed:
        lines.append(
            f"Try it in a browser: {url}/ (a page to hear text and transcribe the microphone or a file)."
        )
    lines += [
        f"Docs: docs/api.md; {url}/docs (Swagger UI) and {url}/openapi.json. No API key is needed locally.",
        f"Handlers run in local worker processes (no Docker), up to {concurrency} per function. CTRL+C to quit.",
    ]
    return "\n".join(lines)


def _stop_on_signals() -> None:
    """Ctrl+C (SIGINT) and SIGTERM stop the server the same way (workers and embedded services closed, status 0),
    whatever the disposition it inherited: a server started with `&` from a script inherits SIGINT ignored, and
    Python then leaves it ignored. (SAM replaces the SIGTERM handler while serving with one that stops it too.)"""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return number


def _port(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError("must be a port number (0: a free one)")
    return number


def _parse_overrides(value: Any) -> dict[str, str] | None:
    if not value:
        return None
    from local import sam_adapter

    return sam_adapter.parse_parameter_overrides(value)


# Start-up lines of SAM and werkzeug that say nothing true of this server: it has no AWS session to need (the
# account id is a placeholder locally), and serving_block already says what it is and how to stop it.
QUIET_STARTUP = (
    "No current session found",
    "This is a development server",
    "Press CTRL+C to quit",
)


def _not_startup_noise(record: logging.LogRecord) -> bool:
    message = record.getMessage()
    return not any(noise in message for noise in QUIET_STARTUP)


def _configure_logging(debug: bool) -> None:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="%(message)s")
    level = logging.DEBUG if debug else logging.INFO
    for name in ("samcli", "local", "werkzeug"):
        logging.getLogger(name).setLevel(level)
    if not debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_not_startup_noise)


if __name__ == "__main__":
    sys.exit(main())
