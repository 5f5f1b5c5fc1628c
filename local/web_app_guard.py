"""Runs a streamed function's start script (its Handler, e.g. run.sh) and ends it with the server.

Run as a script by local.function_apps: `python local/web_app_guard.py <script>`, in the function's directory and
with its environment. It uses only the standard library, like local/worker.py. The script runs in a session of its
own, so Ctrl+C in `make serve` does not reach it; when this process's standard input closes (the server stopped,
or was killed) the script's process group gets SIGTERM, then SIGKILL. When the script ends by itself, this
process exits with its status, and the server starts it again on the next request.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

STOP_GRACE_S = 2.0


def _stop(child: subprocess.Popen[bytes]) -> None:
    for signum, wait in ((signal.SIGTERM, STOP_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signum)
        try:
            child.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str]) -> int:
    # Ctrl+C reaches the server's whole process group: the server decides when the app ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    child = subprocess.Popen([argv[1]], stdin=subprocess.DEVNULL, start_new_session=True)

    def stop_when_the_server_goes() -> None:
        sys.stdin.buffer.read()  # returns once the server closes the pipe or ends
        _stop(child)

    threading.Thread(target=stop_when_the_server_goes, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: _stop(child))
    return child.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
