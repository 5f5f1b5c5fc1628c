"""Worker process: imports one Lambda handler once (the init phase) and serves invocations over a pipe.

Run as a script (`python local/worker.py '<json spec>'`), never imported by handler code: it uses only the
standard library so that nothing of the server leaks into the handler's interpreter.

Protocol (both directions): frames of `>II` (header length, payload length), a JSON header, raw payload.
  worker -> server, once:   {"type": "ready", "pid": N, "error": null | {...Lambda error...}}
  server -> worker:         {"type": "invoke", "request_id", "deadline_ms", "invoked_function_arn"} + event
  worker -> server:         {"type": "result", "ok": bool} + response JSON (or a Lambda error object)
The protocol uses the process's original stdin/stdout; the handler's own prints go to stderr (the log).
"""

from __future__ import annotations

import decimal
import importlib
import json
import os
import signal
import struct
import sys
import time
import traceback
from typing import IO, Any

FRAME = struct.Struct(">II")


def write_frame(stream: IO[bytes], header: dict[str, Any], payload: bytes = b"") -> None:
    head = json.dumps(header).encode()
    stream.write(FRAME.pack(len(head), len(payload)) + head)
    stream.write(payload)
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[dict[str, Any], bytes] | None:
    """The next frame, or None at end of stream (the server went away)."""
    prefix = stream.read(FRAME.size)
    if len(prefix) < FRAME.size:
        return None
    head_len, payload_len = FRAME.unpack(prefix)
    head = stream.read(head_len)
    payload = stream.read(payload_len)
    if len(head) < head_len or len(payload) < payload_len:
        return None
    return json.loads(head), payload


class LambdaContext:
    """The attributes and methods of the Python runtime's context object (awslambdaric's LambdaContext)."""

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        # A string, as in the real runtime (it comes from the environment there too).
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def log(self, msg: str) -> None:
        sys.stderr.write(msg)
        sys.stderr.flush()


def _error(error_type: str, message: str, exc: BaseException | None = None) -> dict[str, Any]:
    # Exactly these keys: SAM recognises a Lambda error object by them.
    trace = traceback.format_list(traceback.extract_tb(exc.__traceback__)) if exc is not None else []
    return {"errorMessage": message, "errorType": error_type, "stackTrace": trace}


def _log_exception(exc: BaseException) -> None:
    # The runtime logs an unhandled exception like this, then the traceback.
    sys.stderr.write(f"[ERROR] {type(exc).__name__}: {exc}\n")
    traceback.print_exception(exc, file=sys.stderr)
    sys.stderr.flush()


def _load_handler(handler: str) -> tuple[Any, dict[str, Any] | None]:
    module_name, _, attr = handler.rpartition(".")
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        _log_exception(exc)
        return None, _error(
            "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}", exc
        )
    except Exception as exc:
        _log_exception(exc)
        return None, _error(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}", exc
        )
    func = getattr(module, attr, None)
    if not callable(func):
        return None, _error("Runtime.HandlerNotFound", f"Handler '{attr}' missing on module '{module_name}'")
    return func, None


def _json_default(obj: Any) -> Any:
    # The Python runtime serialises Decimal (DynamoDB numbers) as numbers.
    if isinstance(obj, decimal.Decimal):
        return int(obj) if obj == obj.to_integral_value() else float(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


def _invoke(func: Any, header: dict[str, Any], payload: bytes) -> tuple[bool, bytes]:
    context = LambdaContext(header["request_id"], header["deadline_ms"], header["invoked_function_arn"])
    try:
        result = func(json.loads(payload), context)
    except Exception as exc:
        _log_exception(exc)
        return False, json.dumps(_error(type(exc).__name__, str(exc), exc)).encode()
    try:
        return True, json.dumps(result, default=_json_default).encode()
    except (TypeError, ValueError) as exc:
        error = _error("Runtime.MarshalError", f"Unable to marshal response: {exc}", exc)
        return False, json.dumps(error).encode()


def _take_stdio() -> tuple[IO[bytes], IO[bytes]]:
    """Keep the pipes for the protocol; point fd 0 at /dev/null and fd 1 at stderr for the handler."""
    proto_in = os.fdopen(os.dup(0), "rb")
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    return proto_in, proto_out


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    # Lambda's sys.path: the task root, then the layers; not this script's directory.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    sys.path[0:0] = [spec["code_dir"], *spec["layer_paths"]]
    os.chdir(spec["code_dir"])
    proto_in, proto_out = _take_stdio()
    # Ctrl+C in `make serve` reaches the whole process group: the server stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    func, init_error = _load_handler(spec["handler"])
    write_frame(proto_out, {"type": "ready", "pid": os.getpid(), "error": init_error})
    if init_error is not None:
        return 1
    while (frame := read_frame(proto_in)) is not None:
        header, payload = frame
        ok, body = _invoke(func, header, payload)
        write_frame(proto_out, {"type": "result", "ok": ok}, body)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
