"""`fuze up` in a subprocess: embedded servers, migrations, API and worker; Ctrl-C stops all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from app.embedded import free_port
from tests.conftest import ROOT, Stack, service_env

FUZE = [sys.executable, "-m", "app.cli"]


def _start(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*FUZE, "up", "--data-dir", str(data_dir), "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_ready(proc: subprocess.Popen[str], port: int, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"fuze up exited early:\n{proc.stdout.read() if proc.stdout else ''}"
            )
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/api/health/ready", timeout=2)
            if r.status_code == 200:
                return r.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    proc.kill()
    raise AssertionError("fuze up did not become ready")


def _descendants(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    return proc.returncode, out


def _assert_gone(procs: list[psutil.Process], within: float = 15) -> None:
    _, alive = psutil.wait_procs(procs, timeout=within)
    assert not alive, f"left running: {[(p.pid, p.name()) for p in alive]}"


@pytest.fixture
def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUZE_")}
    env["FUZE_ENV"] = "development"
    return env


def test_fuze_up_embedded_keeps_data_and_stops_cleanly(tmp_path, clean_env):
    data_dir, port = tmp_path / "data", free_port()
    proc = _start(data_dir, port, clean_env)
    try:
        ready = _wait_ready(proc, port)
        assert ready["checks"]["worker"]["ok"] and ready["checks"]["migrations"]["ok"]
        children = _descendants(proc.pid)
        names = " ".join(" ".join(p.cmdline()) for p in children)
        assert "postgres" in names and "valkey-server" in names
        assert "uvicorn" in names and "workers" in names
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/docs").status_code == 200
        r = httpx.post(
            f"{base}/api/auth/register",
            json={"username": "keeper", "email": "k@example.com", "password": "a long password"},
        )
        assert r.status_code == 201
    finally:
        code, out = _stop(proc)
    assert code == 0, out
    assert "Fuze is ready" in out
    _assert_gone(children)
    assert (data_dir / "postgres" / "pgdata" / "PG_VERSION").exists()
    assert (data_dir / "secret_key").exists()

    # A second run on the same data folder finds the account again.
    proc = _start(data_dir, port, clean_env)
    try:
        _wait_ready(proc, port)
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/auth/login",
            json={"login": "keeper", "password": "a long password"},
        )
        assert r.status_code == 200
        children = _descendants(proc.pid)
    finally:
        code, out = _stop(proc, signal.SIGTERM)
    assert code == 0, out
    _assert_gone(children)


def test_fuze_up_killed_outright_leaves_no_servers_behind(tmp_path, clean_env):
    data_dir, port = tmp_path / "data", free_port()
    proc = _start(data_dir, port, clean_env)
    try:
        _wait_ready(proc, port)
        children = _descendants(proc.pid)
    finally:
        proc.kill()
        proc.wait(30)  # not communicate(): the children still hold the output pipe a moment
        if proc.stdout:
            proc.stdout.close()
    # Their parent-death signal stops them (the worker may first finish loading its model).
    _assert_gone(children, within=90)


def test_fuze_up_uses_configured_servers_and_starts_nothing_embedded(
    tmp_path, stack: Stack, clean_env
):
    data_dir, port = tmp_path / "data", free_port()
    env = {**clean_env, **service_env(stack)}
    env.pop("FUZE_DATA_DIR")
    proc = _start(data_dir, port, env)
    try:
        _wait_ready(proc, port)
        names = " ".join(" ".join(p.cmdline()) for p in _descendants(proc.pid))
        assert "postgres" not in names and "valkey" not in names
    finally:
        code, out = _stop(proc)
    assert code == 0, out
    assert not (data_dir / "postgres").exists()
    assert "using the database at FUZE_DATABASE_URL" in out


def test_fuze_up_refuses_a_busy_port(tmp_path, clean_env):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = subprocess.run(
            [*FUZE, "up", "--data-dir", str(tmp_path), "--port", str(port)],
            env=clean_env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert "in use" in result.stderr


def test_an_orphaned_worker_that_cannot_reach_redis_stops(tmp_path: Path, stack: Stack):
    """A worker outlives Redis outages by starting again, but not once its parent is gone:
    `fuze up` killed outright takes Valkey down with it, and arq may have taken the stop
    signal while its connection was breaking."""
    env = service_env(stack, FUZE_REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    log = tmp_path / "worker.log"
    spawn = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-m', 'workers'], stderr=open({str(log)!r}, 'w'));"
        "print(p.pid, flush=True); time.sleep(600)"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", spawn], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    worker = psutil.Process(int(parent.stdout.readline()))
    deadline = time.monotonic() + 60
    while "redis connection error" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)  # up and waiting for Redis
    parent.kill()
    parent.wait(30)
    parent.stdout.close()
    _assert_gone([worker], within=60)
