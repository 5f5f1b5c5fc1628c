"""What `make serve` prints once it starts (local.server.serving_block)."""

from __future__ import annotations

import logging

from local import server
from local.sam_adapter import ApiRoute

ROUTES = [
    (ApiRoute("TtsFunction", "/api/tts", False), ("POST", "OPTIONS")),
    (ApiRoute("JobsFunction", "/api/jobs/{job_id}", False), ("GET", "OPTIONS")),
    (ApiRoute("OtherFunction", "/v1/audio/speech", False), ("POST",)),
]


def test_loopback_only_says_so_and_how_to_open_it_up() -> None:
    # Given the default host
    # When the block is made
    block = server.serving_block(ROUTES, "127.0.0.1", 8000, 4).splitlines()
    # Then it starts with the URL, says who can reach it and how to change that
    assert block[0].startswith(
        "Speech API at http://127.0.0.1:8000 (listening on 127.0.0.1 only; HOST=0.0.0.0"
    )
    # And lists the routes as documented (the /api door with its trailing slash), not the preflights
    assert "  POST  http://127.0.0.1:8000/api/tts/" in block
    assert "  GET   http://127.0.0.1:8000/api/jobs/{job_id}" in block
    assert "  POST  http://127.0.0.1:8000/v1/audio/speech" in block
    assert not [line for line in block if "OPTIONS" in line]
    # And says where the docs are and how to stop it
    assert any(
        line.startswith("Docs: docs/api.md") and "http://127.0.0.1:8000/docs" in line for line in block
    )
    assert block[-1].endswith("CTRL+C to quit.")


def test_the_page_is_named_when_the_template_serves_one() -> None:
    # Given the routes with and without the page at /
    with_page = [*ROUTES, (ApiRoute("PageFunction", "/", False), ("GET", "OPTIONS"))]
    # When the blocks are made
    block = server.serving_block(with_page, "127.0.0.1", 8000, 4).splitlines()
    without = server.serving_block(ROUTES, "127.0.0.1", 8000, 4)
    # Then the one with it says to open it in a browser, the other does not
    assert "Try it in a browser: http://127.0.0.1:8000/ " in "\n".join(block)
    assert "Try it in a browser" not in without


def test_all_interfaces_gives_a_url_that_opens_here() -> None:
    # Given HOST=0.0.0.0 (a LAN or a container)
    # When the block is made
    first = server.serving_block(ROUTES, "0.0.0.0", 9000, 2).splitlines()[0]
    # Then the URL to open is the loopback one, and it warns that other machines can call it
    assert first.startswith("Speech API at http://127.0.0.1:9000 (listening on all interfaces (0.0.0.0)")


def test_start_up_noise_is_dropped_and_other_lines_kept() -> None:
    # Given the lines SAM and werkzeug log as the server starts, and a request line
    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("x", logging.WARNING, __file__, 1, message, None, None)

    # When they pass the filter
    kept = [
        message
        for message in (
            "No current session found, using default AWS::AccountId",
            "WARNING: This is a development server. Do not use it in a production deployment.",
            "Press CTRL+C to quit",
            '127.0.0.1 - - "POST /api/tts/ HTTP/1.1" 200 -',
        )
        if server._not_startup_noise(record(message))
    ]
    # Then only the request line is left
    assert kept == ['127.0.0.1 - - "POST /api/tts/ HTTP/1.1" 200 -']
