"""Logs: one JSON line per event (production, and what log collectors read), or one plain text
line per event for a person at a console (development; coloured on a terminal). Every line
written while serving a request carries its request id."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """One JSON object per line. The API writes one for every request (the access log), so
    what it does per line is kept small: the time's text up to the second once a second, and
    one encoder for every line (json.dumps with `default` builds one for each call)."""

    _encoder = json.JSONEncoder(default=str)

    def __init__(self) -> None:
        super().__init__()
        self._second: tuple[int, str] = (-1, "")

    def _ts(self, created: float, msecs: float) -> str:
        second, stamp = self._second  # one tuple: another thread sees both or neither
        if int(created) != second:
            second = int(created)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, stamp)
        return f"{stamp}.{int(msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": self._ts(record.created, record.msecs),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            out["request_id"] = rid
        uid = user_id_var.get()
        if uid:
            out["user_id"] = uid
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return self._encoder.encode(out)


_COLOURS = {"DEBUG": "2", "INFO": "32", "WARN": "33", "ERROR": "31", "CRIT": "1;31"}
# uvicorn says everything but its access lines (ours) on "uvicorn.error", "started" included.
_SHOWN_AS = {"uvicorn.error": "uvicorn"}


def _text_value(value: object) -> str:
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in '"=' for c in text) else text


class TextFormatter(logging.Formatter):
    """`12:00:03 INFO  fuze.worker  worker started  worker_id=host:42` on one line per event
    (a message's own line breaks are shown as "\\n"); an error's traceback follows on lines
    of its own, indented. `colour` wraps the time, the level and the logger in ANSI colours.

    A record may carry `_text` (extra={"_text": ...}, left out of the JSON lines): what to
    show instead of its message and fields, as the access log does."""

    def __init__(self, colour: bool = False) -> None:
        super().__init__()
        self.colour = colour

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.colour else text

    def format(self, record: logging.LogRecord) -> str:
        summary = getattr(record, "_text", None)
        if summary is None:
            fields = [
                f"{key}={_text_value(value)}"
                for key, value in record.__dict__.items()
                if key not in _RESERVED and not key.startswith("_")
            ]
            summary = "  ".join([record.getMessage(), " ".join(fields)]).rstrip()
        rid = request_id_var.get()
        if rid and record.name != "fuze.access":
            summary += f" request_id={rid}"
        level = {"WARNING": "WARN", "CRITICAL": "CRIT"}.get(record.levelname, record.levelname)
        line = " ".join(
            [
                self._paint("2", time.strftime("%H:%M:%S", time.localtime(record.created))),
                self._paint(_COLOURS.get(level, "0"), f"{level:<5}"),
                self._paint("36", f"{_SHOWN_AS.get(record.name, record.name):<15}"),
                summary.replace("\r\n", "\\n").replace("\n", "\\n"),
            ]
        )
        if record.exc_info:
            line += "\n" + "\n".join(
                "    " + row for row in self.formatException(record.exc_info).splitlines()
            )
        return line


def use_colour(stream: object) -> bool:
    """ANSI colours only for a terminal, and not when NO_COLOR is set (no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def formatter(as_json: bool | None, stream: object = None) -> logging.Formatter:
    if as_json is None or as_json:
        return JsonFormatter()
    return TextFormatter(colour=use_colour(stream if stream is not None else sys.stderr))


def setup_logging(level: str = "INFO", as_json: bool | None = True) -> None:
    """Every logger to stderr: JSON lines, or text lines (as_json false: FUZE_LOG_FORMAT)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter(as_json, sys.stderr))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Neither format writes where a line was logged from, nor the thread's or the process's
    # name: skip finding them for every record (the logging HOWTO's "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    # uvicorn's own access log is replaced by ours (one JSON line per request, with its id).
    logging.getLogger("uvicorn.access").disabled = True
    quiet = ("httpx", "httpcore", "alembic.runtime.plugins", "alembic.runtime.migration")
    # sentence-transformers says where it loads the model from; ours says that it loads it.
    for name in (*quiet, "sentence_transformers"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "arq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
