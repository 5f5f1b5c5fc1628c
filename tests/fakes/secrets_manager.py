"""A fake AWS Secrets Manager on loopback: GetSecretValue over the real JSON 1.1 wire protocol.

A fresh interpreter reads its secret exactly as a deployed function does (speech_common.secrets ->
botocore -> HTTP), pointed here by ``AWS_ENDPOINT_URL_SECRETS_MANAGER``::

    with FakeSecretsManager({"speech-api/openai": "sk-test"}) as fake:
        env = {**fake.client_environment(), "OPENAI_SECRET_NAME": "speech-api/openai"}

Only GetSecretValue is served (the one call the layer makes); anything else answers 400. The
request's signature is not checked. Used where moto's in-process mock cannot reach: another process.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

REGION = "us-east-1"
ACCOUNT = "123456789012"


class FakeSecretsManager:
    def __init__(self, secrets: Mapping[str, str]) -> None:
        self.secrets = dict(secrets)
        self.calls = 0
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeSecretsManager:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = fake._answer(self.headers.get("X-Amz-Target", ""), body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("FakeSecretsManager is not running: use it as a context manager")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def client_environment(self) -> dict[str, str]:
        """What a process needs for boto3 to reach this fake (region, dummy credentials, endpoint)."""
        return {
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "AKIDFAKEFAKEFAKE",
            "AWS_SECRET_ACCESS_KEY": "fake-secret-access-key",
            "AWS_SESSION_TOKEN": "fake-session-token",
            "AWS_ENDPOINT_URL_SECRETS_MANAGER": self.endpoint_url,
        }

    def _answer(self, target: str, body: bytes) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        if target != "secretsmanager.GetSecretValue":
            return 400, {"__type": "InvalidRequestException", "message": f"not served here: {target}"}
        name = str(json.loads(body or b"{}").get("SecretId", ""))
        if name not in self.secrets:
            return 400, {
                "__type": "ResourceNotFoundException",
                "message": "Secrets Manager can't find the specified secret.",
            }
        return 200, {
            "ARN": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf",
            "Name": name,
            "VersionId": "00000000-0000-0000-0000-000000000001",
            "SecretString": self.secrets[name],
            "VersionStages": ["AWSCURRENT"],
            "CreatedDate": time.time(),
        }
