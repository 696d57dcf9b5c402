"""Fuze as an operator scales it out, on loopback: a PostgreSQL primary with streaming
standbys, Valkey with a replica and three sentinels, several `fuze api` processes behind
Debian's nginx (deploy/nginx.conf, its upstream pointed at them) and several arq workers,
all real servers and processes. Used by tests/test_cluster.py and bench/scale.py."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.embedded import EmbeddedPostgres, EmbeddedStandby, EmbeddedValkeyHA, free_port

ROOT = Path(__file__).resolve().parents[1]
NGINX_CONF = (ROOT / "deploy" / "nginx.conf").read_text()


def nginx_binary() -> str:
    """Debian's nginx, installed when missing (as `make test` does)."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if nginx is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx"], check=True)
        nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin")
    assert nginx, "nginx is needed (apt-get install nginx)"
    return nginx


def nginx_conf(port: int, upstreams: list[int]) -> str:
    """deploy/nginx.conf listening on loopback, balancing over these API ports (no Docker DNS:
    no resolver, plain servers)."""
    servers = "\n        ".join(
        f"server 127.0.0.1:{p} max_fails=3 fail_timeout=10s;" for p in upstreams
    )
    conf = re.sub(r"server api:8000 resolve [^;]*;", servers, NGINX_CONF)
    conf = re.sub(r"\n\s*resolver [^;]+;", "\n", conf)
    conf = conf.replace("access_log /dev/stdout main;", "access_log off;")
    conf = conf.replace("error_log /dev/stderr warn;", "")
    return conf.replace("listen 80 default_server;", f"listen 127.0.0.1:{port};")


def wait_http(url: str, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


@dataclass
class Process:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                self.argv, env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no answer to what it holds."""
        if self.alive:
            assert self.proc is not None
            self.proc.kill()
            self.proc.wait(15)

    def stop(self, grace: float = 30) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    """Start with start(); everything it started stops with stop(). `env` is added to every
    API and worker process's environment (the test's pipeline settings, a fake Gemini)."""

    primary: EmbeddedPostgres
    database: str
    folder: Path
    apis: int = 2
    workers: int = 2
    standbys: int = 1
    redis_ha: bool = True
    redis_url: str | None = None  # without redis_ha: the one Valkey to use
    env: dict[str, str] = field(default_factory=dict)
    secret_key: str = "cluster-secret-" + "x" * 40

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.standby_servers: list[EmbeddedStandby] = []
        self.valkey: EmbeddedValkeyHA | None = None
        self.api_processes: list[Process] = []
        self.worker_processes: list[Process] = []
        self.api_ports: list[int] = []
        self.nginx: subprocess.Popen[bytes] | None = None
        self.port = free_port()
        self.metrics_dir = self.folder / "metrics"

    @property
    def url(self) -> str:
        """Through nginx, as clients reach it."""
        return f"http://127.0.0.1:{self.port}"

    def api_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.api_ports[i]}"

    def standby_url(self, i: int = 0) -> str:
        return self.standby_servers[i].url(self.database)

    def start(self, timeout: float = 300) -> Cluster:
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        for n in range(self.standbys):
            standby = EmbeddedStandby(
                self.primary, self.folder / f"standby-{n}", number=int(time.time() * 1000) + n
            )
            self.standby_servers.append(standby)
            standby.start(timeout=180)
        if self.redis_ha:
            # Quick to notice a dead primary (1 s without an answer); tests wait on states.
            self.valkey = EmbeddedValkeyHA(
                self.folder, down_after_ms=1000, failover_timeout_ms=5000
            )
            self.valkey.start(timeout=120)
        self.metrics_dir.mkdir(exist_ok=True)
        for path in self.metrics_dir.iterdir():
            path.unlink()
        env = dict(os.environ)
        env.update(
            {
                "FUZE_DATABASE_URL": self.primary.url(self.database),
                "FUZE_DATABASE_READ_URLS": ",".join(
                    s.url(self.database) for s in self.standby_servers
                ),
                "FUZE_SECRET_KEY": self.secret_key,
                "FUZE_DATA_DIR": str(self.folder / "data"),
                "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            }
        )
        if self.valkey is not None:
            env["FUZE_REDIS_URL"] = self.valkey.url(0)
        elif self.redis_url:
            env["FUZE_REDIS_URL"] = self.redis_url
        env.update(self.env)
        for n in range(self.apis):
            port = free_port()
            self.api_ports.append(port)
            api = Process(
                f"api-{n}",
                [sys.executable, "-m", "app.cli", "api", "--port", str(port)],
                env,
                self.folder / f"api-{n}.log",
            )
            self.api_processes.append(api)
            api.start()
        for n in range(self.workers):
            worker = Process(
                f"worker-{n}",
                [sys.executable, "-m", "workers"],
                env,
                self.folder / f"worker-{n}.log",
            )
            self.worker_processes.append(worker)
            worker.start()
        for n, api in enumerate(self.api_processes):
            wait_http(f"{self.api_url(n)}/api/health", api.proc, timeout)
        conf = self.folder / "nginx.conf"
        conf.write_text(nginx_conf(self.port, self.api_ports))
        options = f"daemon off; pid {self.folder}/nginx.pid;"
        self.nginx = subprocess.Popen(
            [
                nginx_binary(),
                "-c",
                str(conf),
                "-e",
                str(self.folder / "nginx-error.log"),
                "-g",
                options,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_http(f"{self.url}/api/health", self.nginx, 60)

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(15)
        for process in [*self.api_processes, *self.worker_processes]:
            process.stop()
        if self.valkey is not None:
            self.valkey.stop()
        for standby in self.standby_servers:
            standby.drop()

    def metric(self, name: str, **labels: str) -> float:
        """A metric summed over every process (their shared multiprocess folder), read from
        the first live API's /metrics (open on loopback)."""
        api = next(i for i, p in enumerate(self.api_processes) if p.alive)
        body = httpx.get(f"{self.api_url(api)}/metrics", timeout=30).text
        total = 0.0
        for line in body.splitlines():
            match = re.match(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
            if not match:
                continue
            found = dict(re.findall(r'(\w+)="([^"]*)"', match[1] or ""))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match[2])
        return total
