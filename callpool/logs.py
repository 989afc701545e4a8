"""Logging for ``callpool serve``: text or one JSON object a line, a request id, masking.

``configure_logging`` is called once, by ``serve``, before anything logs. Every line
carries the id of the HTTP request it was written for (``REQUEST_ID``, set by
:mod:`callpool.web.request_id`), so the lines of one request can be found together and
matched with the ``X-Request-Id`` its client saw.

Masking happens on the finished line (message, extra fields and traceback alike),
because a number can hide anywhere: in a driver's error with its bound parameters, in a
third-party library's message. Callers' numbers (runs of 7-15 digits, or a ``+`` and a
number written with spaces or dashes) keep their last two digits; the values after
``secret``, ``password``, ``token`` or ``authorization`` and the password of a URL are
replaced by ``***``. With ``log_caller_numbers`` on, DEBUG lines (only those) keep
numbers, for tracing one call on a test PBX.

panoramisk logs every AMI action it queues, the login with its secret included, at
INFO: its logger is held at WARNING.
"""

from __future__ import annotations

import logging
import re
import sys
from contextvars import ContextVar
from typing import Any, Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

# The id of the HTTP request being handled in this task; None outside a request.
REQUEST_ID: ContextVar[str | None] = ContextVar("callpool_request_id", default=None)

_NUMBER = re.compile(
    r"(?<![\w.\-])(?:\+\d[\d \-()]{5,20}\d|\+?\d{7,15})(?![\w\-]|\.\d)",
)
_SECRET = re.compile(
    r"(?i)\b(secret|password|passwd|token|authorization)\b"
    r"([\"']?\s*[:=]\s*[\"']?)(?:bearer\s+)?[^\s\"',;&}]+"
)
_URL_PASSWORD = re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^:/@\s]+:)[^@\s/]+@")
_HANDLER_MARK = "_callpool_handler"


def mask_number(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(ch.isdigit() for ch in text)
    kept = 0
    out = []
    for ch in reversed(text):
        if ch.isdigit():
            kept += 1
            out.append(ch if kept <= 2 or digits <= 2 else "*")
        else:
            out.append(ch)
    return "".join(reversed(out))


def mask(line: str, *, numbers: bool = True) -> str:
    """``line`` without secrets, and without callers' numbers unless ``numbers`` is False."""
    line = _URL_PASSWORD.sub(r"\1***@", line)
    line = _SECRET.sub(r"\1\2***", line)
    return _NUMBER.sub(mask_number, line) if numbers else line


class _Masking:
    """Mixin: mask the finished line; numbers stay only in DEBUG lines when allowed."""

    reveal_numbers_at_debug = False

    def masked(self, record: logging.LogRecord, line: str) -> str:
        numbers = not (self.reveal_numbers_at_debug and record.levelno <= logging.DEBUG)
        return mask(line, numbers=numbers)


class TextFormatter(_Masking, logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = getattr(record, "request_id", None)
        if request_id:
            head, sep, rest = line.partition("\n")
            line = f"{head} [request {request_id}]{sep}{rest}"
        return self.masked(record, line)


class JsonLineFormatter(_Masking, JsonFormatter):
    """``{"time", "level", "logger", "message", "request_id"?, extra fields..., "exc_info"?}``."""

    def __init__(self) -> None:
        super().__init__(
            "{levelname}{name}{message}",
            style="{",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",
            json_ensure_ascii=False,
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        if log_data.get("request_id") is None:
            log_data.pop("request_id", None)

    def format(self, record: logging.LogRecord) -> str:
        return self.masked(record, super().format(record))


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on the record (unless the caller passed one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


def configure_logging(
    level: str,
    fmt: Literal["text", "json"] = "text",
    *,
    caller_numbers_at_debug: bool = False,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send every logger's lines to ``stream`` (stderr) in ``fmt``; replaces our earlier setup."""
    formatter: _Masking = JsonLineFormatter() if fmt == "json" else TextFormatter()
    formatter.reveal_numbers_at_debug = caller_numbers_at_debug
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)  # type: ignore[arg-type]
    handler.addFilter(RequestIdFilter())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("panoramisk").setLevel(logging.WARNING)
    return handler
