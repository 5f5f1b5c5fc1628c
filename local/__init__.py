"""Docker-free `sam local start-api`: SAM CLI's API Gateway emulation with handlers in warm worker processes.

Entry point: `python -m local.server --template template.yaml [--port N]` (what `make serve` runs).

How a request flows through `make serve` (SAM is reached only through sam_adapter.py):
1. At start-up server.py has SAM read the template, engine_choice.py pick each function's engine and check
   its settings, local_aws.py start moto's S3, DynamoDB and SQS on a loopback port, create the template's
   buckets (with their CORS rules), tables and queues there and give each function their names and endpoints,
   print the start-up block (URL, routes, docs), and Flask (werkzeug) listen on the port. SIGINT and SIGTERM
   stop it alike, whatever it inherited. sqs_poller.py feeds each function with an SQS event from its queue through the same
   runtime (step 6 on), deleting a batch once delivered and leaving a failed one to come back.
2. The HTTP request reaches Flask, which routes it to SAM's LocalApigwService (sam_adapter.ApiGatewayEmulation).
3. gateway.py (handle_request) answers 413 to a body over 10 MB and starts the integration timeout
   (the route's TimeoutInMillis, else 29 s).
4. LocalApigwService builds the API Gateway proxy event (binary media types base64-encoded); the adapter gives it
   the request's own id and receipt time, and a body that is not UTF-8 goes base64-encoded (a JSON one is
   refused with 400 by gateway.py).
5. SAM's LocalLambdaRunner resolves the function (code, layers, timeout, environment) and calls the runtime.
6. sam_adapter.SamLambdaRuntime passes it to runtime.ProcessLambdaRuntime.invoke (an event over 6 MB: 500).
7. pool.py lends a warm worker process for the function, or starts one (a code change replaces it); with
   --concurrency workers busy, the request waits for one (past the integration timeout: 504).
8. worker.py, in that process, calls the handler with the event and a Lambda context, and sends the result back.
9. The runtime returns the response, or Lambda's error object (exception, crash, response over 6 MB);
   a timeout stops the worker and becomes a 504.
10. LocalApigwService turns the proxy response into HTTP; an error object or a malformed response is a 502. A CORS
    preflight is answered there from the Api's Cors, before any function, as API Gateway's mock integration does.
   A route the template marks `ResponseTransferMode: RESPONSE_STREAM` leaves steps 5-10 once SAM has built its event
   (sam_adapter raises StreamedInvocation): function_apps.py starts the function's web app from its Handler script
   (run.sh) as the Lambda Web Adapter does, in a child process with the workers' environment (web_app_guard.py ends
   it with the server), and stream_proxy.py sends it the request as the adapter would, then the app's answer to the
   client chunk by chunk, cut short if the app's is, within the route's TimeoutInMillis (up to 15 minutes).
11. gateway_responses.py renders API Gateway's own answers (unknown route, 413, 500, 502, 504) with the
    template's GatewayResponses, as the deployed API does; so are malformed HTTP requests, which werkzeug
    refuses (400) or http.server refuses before Flask sees them (400, 414, 431: http_server.py).
"""
