"""``--log-format json``: one JSON object per record, one line each, extras and tracebacks
kept, and a message from mail unable to forge a record of its own."""

from __future__ import annotations

import io
import json
import logging

from postroom.logs import JsonFormatter, LogFormat, configure_logging


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_with_extras_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = configure_logging(LogFormat.JSON, stream=stream)
    try:
        log = logging.getLogger("postroom.api")
        log.info("GET %s %s", "/api/events", 200, extra={"status": 200, "ms": 1.5})
        log.warning('subject "x\r\n{"level": "critical"}\u202e"')
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("failed", extra={"incident": "abc"})
    finally:
        logging.getLogger().removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and all(line.isascii() for line in lines)
    first, forged, failed = records(stream)
    assert first["message"] == "GET /api/events 200" and first["level"] == "info"
    assert first["logger"] == "postroom.api" and first["status"] == 200 and first["ms"] == 1.5
    assert str(first["time"]).endswith("Z")
    assert forged["level"] == "warning" and "\r\n" in str(forged["message"])
    assert failed["incident"] == "abc" and "ValueError: boom" in str(failed["exception"])


def test_configuring_again_replaces_the_handler_and_text_stays_text() -> None:
    stream = io.StringIO()
    configure_logging("json", stream=io.StringIO())
    handler = configure_logging("text", stream=stream)
    try:
        ours = [h for h in logging.getLogger().handlers if h.get_name() == "postroom"]
        assert ours == [handler]
        assert not isinstance(handler.formatter, JsonFormatter)
        logging.getLogger("postroom.x").info("hello")
    finally:
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue().rstrip().endswith("INFO postroom.x: hello")
