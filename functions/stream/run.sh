#!/bin/bash
# The streaming function's start script (template.yaml: Handler run.sh). On Lambda, the Web Adapter layer's
# /opt/bootstrap (AWS_LAMBDA_EXEC_WRAPPER) runs it from the task root; the adapter waits for the app on
# AWS_LWA_PORT and forwards each request to it. Locally, make serve runs it the same way (cwd: this directory).
#
# uvicorn serves app:app with what it needs and nothing more (each choice saves a cold start imports): h11 and
# asyncio (httptools and uvloop are not in the layer), no lifespan (the app has nothing to start), no WebSockets,
# no access log (the handler logs each request). Its 5 s keep-alive outlasts the adapter's 4 s idle pool
# (aws-lambda-web-adapter src/lib.rs), so the adapter never reuses a connection uvicorn is closing.
set -euo pipefail
cd "$(dirname "$0")"
# The layer's packages (/opt/python) and the runtime's own (awslambdaric, boto3) after any path already set, as
# the adapter's examples do (examples/fastapi-response-streaming-zip/app/run.sh).
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}/opt/python${LAMBDA_RUNTIME_DIR:+:$LAMBDA_RUNTIME_DIR}"
exec "${PYTHON:-python3}" -m uvicorn app:app \
    --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" \
    --interface asgi3 --http h11 --loop asyncio --lifespan off --ws none --no-access-log --log-level warning
