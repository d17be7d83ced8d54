"""Logging set-up for postroom's commands: plain lines for a terminal, or JSON lines
(``--log-format json``) for a log collector: one object per record, one record per line.

A JSON record holds ``time`` (RFC 3339, UTC, milliseconds), ``level``, ``logger`` and
``message``, the fields a caller passed with ``extra=`` (``method``, ``path``, ``status``,
``ms``, ``incident``...), and ``exception`` (the traceback as one string) when there is one.
A message that came from mail stays one line: JSON escapes its CR and LF, so a forged
"log line" inside a subject cannot start a record of its own.
"""

from __future__ import annotations

import enum
import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# The attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        entry: dict[str, Any] = {
            "time": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=True, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(
    log_format: LogFormat | str = LogFormat.TEXT,
    *,
    level: int | str = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send postroom's logs (and those of the libraries it runs, uvicorn's included) to
    ``stream`` (standard error) in ``log_format``; replaces a handler set up before, so it
    may be called again. Returns the handler."""
    chosen = LogFormat(log_format)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        JsonFormatter() if chosen is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)
    )
    handler.set_name("postroom")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "postroom"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # uvicorn logs through its own handlers unless told otherwise: send them to ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    return handler
