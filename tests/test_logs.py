"""Logs: JSON lines by default outside development, plain text lines (coloured only on a
terminal) in development; health polls are not access-logged."""

from __future__ import annotations

import json
import logging
import os
import pty
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from app.config import Settings
from app.logs import JsonFormatter
from tests.conftest import ROOT

# A process that logs as the API and the worker do: its settings from the environment.
EMIT = """
import logging
from app.config import Settings
from app.logs import setup_logging
settings = Settings()
setup_logging(settings.log_level, settings.log_json)
log = logging.getLogger("fuze.worker")
log.info("worker started", extra={"worker_id": "host:42", "note": "two words"})
log.warning("a message\\nof two lines")
try:
    1 / 0
except ZeroDivisionError:
    log.exception("job failed")
logging.getLogger("fuze.embeddings").info("embedding model loaded in %.1f s", 4.21)
"""


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUZE_") and k != "NO_COLOR"}
    env.update(values)
    return env


def _emit(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", EMIT], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


def _emit_on_a_terminal(env: dict[str, str]) -> str:
    """What the process writes when its stderr is a terminal (a pseudo-terminal here)."""
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", EMIT], env=env, cwd=ROOT, stderr=follower, stdout=follower
        )
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            out += chunk
        assert proc.wait(60) == 0, out
    finally:
        os.close(leader)
    return out.decode()


def test_development_logs_one_plain_line_per_event_without_colours_in_a_pipe():
    out = _emit(_env(FUZE_ENV="development"))
    assert "\x1b[" not in out
    lines = out.splitlines()
    # Four events; the error's traceback follows its line, indented.
    events = [line for line in lines if not line.startswith("    ")]
    assert len(events) == 4, out
    started, two_lines, failed, loaded = events
    assert " INFO  fuze.worker " in started
    assert started.endswith('worker started  worker_id=host:42 note="two words"')
    assert " WARN  fuze.worker " in two_lines and two_lines.endswith("a message\\nof two lines")
    assert " ERROR " in failed and failed.endswith("job failed")
    assert lines[-1] == loaded and loaded.endswith("embedding model loaded in 4.2 s")
    traceback = lines[lines.index(failed) + 1 : lines.index(loaded)]
    assert traceback and traceback[-1].strip() == "ZeroDivisionError: division by zero"
    for line in events:
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)


def test_development_logs_have_colours_on_a_terminal_unless_no_color():
    out = _emit_on_a_terminal(_env(FUZE_ENV="development"))
    assert "\x1b[32mINFO " in out and "worker started" in out
    out = _emit_on_a_terminal(_env(FUZE_ENV="development", NO_COLOR="1"))
    assert "worker started" in out and "\x1b[" not in out


@pytest.mark.parametrize(
    ("env", "as_json"),
    [
        ({"FUZE_ENV": "production", "FUZE_SECRET_KEY": "k" * 48}, True),
        ({"FUZE_ENV": "test"}, True),
        ({"FUZE_ENV": "development", "FUZE_LOG_FORMAT": "json"}, True),
        ({"FUZE_ENV": "production", "FUZE_SECRET_KEY": "k" * 48, "FUZE_LOG_FORMAT": "text"}, False),
        ({"FUZE_ENV": "development", "FUZE_LOG_JSON": "true"}, True),
        ({"FUZE_ENV": "test", "FUZE_LOG_FORMAT": "json", "FUZE_LOG_JSON": "false"}, False),
    ],
)
def test_the_log_format_follows_the_environment_unless_set(env, as_json, monkeypatch, tmp_path):
    for key in [k for k in os.environ if k.startswith("FUZE_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert Settings(data_dir=tmp_path, _env_file=None).log_json is as_json  # type: ignore[call-arg]


def test_production_logs_json_lines():
    out = _emit(_env(FUZE_ENV="production", FUZE_SECRET_KEY="k" * 48))
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["msg"] for r in records] == [
        "worker started",
        "a message\nof two lines",
        "job failed",
        "embedding model loaded in 4.2 s",
    ]
    assert records[0]["worker_id"] == "host:42"
    assert "ZeroDivisionError" in records[2]["exc"]
    assert list(records[0]) == ["ts", "level", "logger", "msg", "worker_id", "note"]
    assert (records[0]["level"], records[0]["logger"]) == ("info", "fuze.worker")
    stamp = datetime.strptime(records[0]["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 600


def test_a_json_line_says_when_its_record_was_made_to_the_millisecond():
    formatter = JsonFormatter()
    midnight = datetime(2026, 12, 6, tzinfo=UTC).timestamp()
    stamps = []
    # Fractions a float holds exactly: the milliseconds are what LogRecord makes of them.
    for created in (-0.25, -0.125, 0.5, 1.75, -0.25):
        record = logging.LogRecord("fuze.test", logging.INFO, __file__, 1, "hello", None, None)
        record.created = midnight + created
        record.msecs = (created % 1) * 1000
        line = json.loads(formatter.format(record))
        assert line["msg"] == "hello"
        stamps.append(line["ts"])
    assert stamps == [
        "2026-12-05T23:59:59.750Z",
        "2026-12-05T23:59:59.875Z",
        "2026-12-06T00:00:00.500Z",
        "2026-12-06T00:00:01.750Z",
        "2026-12-05T23:59:59.750Z",  # a line made earlier, written late
    ]


async def test_health_polls_are_not_access_logged(client, caplog):
    caplog.set_level(logging.INFO, logger="fuze.access")
    for _ in range(3):
        await client.get("/api/health")
        await client.get("/api/health/ready")  # 503 here: no worker
    await client.get("/api/nothing-here")
    logged = [r for r in caplog.records if r.name == "fuze.access"]
    assert [(r.path, r.status) for r in logged] == [("/api/nothing-here", 404)]  # type: ignore[attr-defined]
    assert logged[0]._text.startswith("GET /api/nothing-here 404 ")  # type: ignore[attr-defined]
