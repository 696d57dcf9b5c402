"""`fuze`: run everything (`fuze up`) or one part (`api`, `worker`, `migrate`, `services`), and
use any Fuze server from a terminal (`save`, `search`, `recommend`, `import`, `export`: see
app/remote.py).

`fuze up` with no FUZE_DATABASE_URL / FUZE_REDIS_URL starts embedded PostgreSQL + pgvector and
Valkey with their data in the data folder, migrates to head, then runs the API (one uvicorn
process per core by default, each listening on the port: FUZE_API_WORKERS, app/serve.py) and
one arq worker, restarting any of them that dies (the servers on the same port and data).
Ctrl-C stops them all, in order, leaving nothing behind.
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from app import remote
from app.config import Settings, get_settings

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("fuze.up")


def alembic_config(database_url: str) -> Any:
    """Alembic's configuration for this database (the repository's migrations, our logging)."""
    from alembic.config import Config

    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "alembic"))
    config.attributes["url"] = database_url
    config.attributes["configure_logger"] = False
    return config


def run_migrations(database_url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


def _api_argv(host: str, port: int, workers: int = 1) -> list[str]:
    # uvicorn with the API's options, each process on a socket of its own (app/serve.py).
    return [
        sys.executable, "-m", "app.serve", "--host", host, "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip


def _api_processes(flag: str | None, settings: Settings) -> tuple[int, str]:
    """How many API processes `fuze up` starts, and why (for the log)."""
    from app.config import AUTO_API_WORKERS_CAP, api_workers_value, usable_cores

    chosen = api_workers_value(flag) if flag is not None else settings.api_workers
    if chosen != "auto":
        why = f"--api-workers {chosen}" if flag is not None else f"FUZE_API_WORKERS={chosen}"
        return int(chosen), why
    cores = usable_cores()
    count = settings.model_copy(update={"api_workers": "auto"}).api_processes()
    why = f"{cores} core{'s' if cores > 1 else ''}"
    if count < cores:
        why += f", at most {AUTO_API_WORKERS_CAP} by default"
    return count, why


def _api_env(env: dict[str, str], processes: int) -> dict[str, str]:
    """The API's environment: its process count (each sizes its query-encoding threads by it,
    app.config.Settings.api_embed_threads) and numeric libraries' threads at its share of the
    cores, so that N processes do not run N times the cores' threads."""
    from app.config import usable_cores

    share = str(max(1, usable_cores() // processes))
    api = {**env, "FUZE_API_WORKERS": str(processes)}
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        api.setdefault(name, share)
    return api


def _worker_argv() -> list[str]:
    return [sys.executable, "-m", "workers"]


def _metrics_dir(env: MutableMapping[str, str], default: Path) -> None:
    """Give the processes started from here one multiprocess metrics folder (emptied now), so
    that any API process's /metrics adds up all of them (app/metrics.py); an operator's own
    PROMETHEUS_MULTIPROC_DIR is kept, and emptied too."""
    from app.metrics import MULTIPROC_ENV, clear_multiproc_dir

    path = env.get(MULTIPROC_ENV) or str(default)
    clear_multiproc_dir(path)
    env[MULTIPROC_ENV] = path


def cmd_api(args: argparse.Namespace) -> int:
    settings = get_settings()
    host = args.host or settings.host
    port = args.port or settings.port
    if args.workers > 1:
        _metrics_dir(os.environ, settings.data_dir.resolve() / "metrics" / f"api-{port}")
    os.environ.update(_api_env(dict(os.environ), args.workers))
    os.execv(sys.executable, _api_argv(host, port, args.workers))
    return 0  # not reached


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.__main__ import main

    main(imports_only=args.imports)
    return 0


def cmd_migrate(_: argparse.Namespace) -> int:
    settings = get_settings()
    if not settings.database_url:
        print("FUZE_DATABASE_URL is not set", file=sys.stderr)
        return 2
    run_migrations(settings.database_url)
    return 0


class _Stop:
    def __init__(self) -> None:
        self.requested = False

    def __call__(self, signum: int, _frame: object) -> None:
        if self.requested:  # a second Ctrl-C: stop waiting politely
            raise KeyboardInterrupt
        self.requested = True
        log.info("stopping (signal %s)...", signal.Signals(signum).name)


def _wait_ready(
    url: str,
    deadline: float,
    alive: Callable[[], bool],
    stop: _Stop,
    servers: Callable[[], list[int]] | None = None,
    count: int = 1,
    report_every: float = 20.0,
) -> bool:
    """Poll `url` until it answers 200 (from `count` distinct processes of `servers()`, when
    several share the port); every `report_every` s say what is still missing (the API logs
    no access line for these polls: see app.middleware)."""
    report_at = time.monotonic() + report_every
    waiting_for = "the API to answer"
    ready: set[int] = set()
    unknown = 0
    while time.monotonic() < deadline and not stop.requested:
        if not alive():
            return False
        try:
            status, body, pid = _ask(url, servers if count > 1 else None)
            if status != 200:
                waiting_for = _not_ready(status, body)
            elif count == 1:
                return True
            elif pid is None:
                unknown += 1
                if unknown >= 20:  # the connections cannot be told apart here: one will do
                    return True
            else:
                ready = (ready | {pid}) & set(servers() if servers else ())
                if len(ready) >= count:
                    return True
                waiting_for = f"{count - len(ready)} of {count} API processes"
        except (OSError, http.client.HTTPException):
            pass
        if time.monotonic() >= report_at:
            log.info("still starting: waiting for %s", waiting_for)
            report_at = time.monotonic() + report_every
        time.sleep(0.25 if len(ready) == 0 else 0.05)
    return False


def _ask(url: str, servers: Callable[[], list[int]] | None) -> tuple[int, bytes, int | None]:
    """GET `url` on a new connection: the status, the body, and which process of `servers()`
    answered (the one holding the connection's other end; None when not asked or not found)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=2)
    try:
        conn.request("GET", parts.path)
        response = conn.getresponse()
        body = response.read()
        pid = None
        if servers is not None and conn.sock is not None:
            pid = _holder(conn.sock.getsockname()[:2], servers())
        return response.status, body, pid
    finally:
        conn.close()


def _holder(client: tuple[str, int], pids: list[int]) -> int | None:
    """Which of `pids` holds the server end of the TCP connection from `client`."""
    import psutil

    for pid in pids:
        try:
            connections = psutil.Process(pid).net_connections(kind="tcp")
        except psutil.Error:
            continue
        # A dual-stack socket sees an IPv4 client as ::ffff:a.b.c.d.
        if any(
            c.raddr and c.raddr[1] == client[1] and c.raddr[0] in (client[0], f"::ffff:{client[0]}")
            for c in connections
        ):
            return pid
    return None


def _children(pid: int | None) -> list[int]:
    import psutil

    try:
        return [c.pid for c in psutil.Process(pid).children()] if pid else []
    except psutil.Error:
        return []


def _not_ready(status: int, body: bytes) -> str:
    """What a 503 from /api/health/ready says is missing, e.g. `model (loading)`."""
    try:
        checks = json.loads(body)["error"]["details"]["checks"]
        return ", ".join(f"{k} ({c['detail']})" for k, c in checks.items() if not c["ok"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"the API (it answers {status})"


def _url_to_open(host: str, port: int) -> str:
    """The address a browser on this machine opens: a server on every interface is also on
    127.0.0.1."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


class _ServerWatch:
    """Starts an embedded server again when it dies, on the same port and data folder: after
    1 s, then twice as long after each failed or short-lived start, up to `cap`; never gives
    up (the API and worker ride out the gap and reconnect by themselves). Nonblocking: the
    supervisor loop calls tend() every tick."""

    def __init__(self, name: str, server: Any, cap: float = 30.0, settled: float = 60.0) -> None:
        self.name = name
        self.server = server
        self.cap = cap
        self.settled = settled  # up this long: the next exit starts the delays over
        self.delay = 0.0
        self.started = time.monotonic()
        self.restart_at: float | None = None

    def _schedule(self, now: float) -> float:
        short_lived = now - self.started < self.settled
        self.delay = min(self.delay * 2, self.cap) if self.delay and short_lived else 1.0
        self.restart_at = now + self.delay
        return self.delay

    def tend(self) -> None:
        now = time.monotonic()
        child = self.server.child
        if self.restart_at is None:
            if child is None or child.alive():
                return
            code = child.proc.returncode if child.proc else None
            delay = self._schedule(now)
            log.warning(
                "embedded %s exited (code %s); restarting in %.0f s (its log: %s)",
                self.name, code, delay, self.server.log_path,
            )  # fmt: skip
            return
        if now < self.restart_at:
            return
        self.started = now
        try:
            self.server.stop()  # closes the dead child's log file
            self.server.start()
        except Exception as exc:
            delay = self._schedule(time.monotonic())
            # The last line: the server's own last word when it exited at start.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[-1].strip()
            log.warning(
                "embedded %s did not start again (%s); retrying in %.0f s (its log: %s)",
                self.name, reason, delay, self.server.log_path,
            )  # fmt: skip
            return
        self.restart_at = None
        log.info("embedded %s is back on 127.0.0.1:%s", self.name, self.server.port)


def _quiet_libraries() -> None:
    for name in ("httpx", "httpcore", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _log_as(name: str, settings: Settings) -> None:
    """This process's own lines: as the API's and the worker's in text (development), else
    `fuze up | message` beside their JSON."""
    if settings.log_json:
        logging.basicConfig(level=logging.INFO, format=f"{name} | %(message)s", stream=sys.stderr)
    else:
        from app.logs import setup_logging

        setup_logging("INFO", as_json=False)
    _quiet_libraries()


def _start_standbys(primary: Any, data_dir: Path, count: int, logs: Path) -> list[Any]:
    """`count` embedded streaming standbys of `primary` (read replicas), each in its own data
    folder beside the primary's; the folders and replication slots of standbys beyond
    `count` from an earlier run are dropped, so the primary keeps no WAL for them."""
    from app.embedded import EmbeddedStandby

    standbys = []
    for number in range(1, count + 1):
        standby = EmbeddedStandby(
            primary, data_dir / f"postgres-standby-{number}", number, log_dir=logs
        )
        standby.start()
        log.info("embedded read replica %s on 127.0.0.1:%s", number, standby.port)
        standbys.append(standby)
    number = count + 1
    while (data_dir / f"postgres-standby-{number}").exists():
        log.info("dropping read replica %s of an earlier run", number)
        EmbeddedStandby(primary, data_dir / f"postgres-standby-{number}", number).drop()
        number += 1
    return standbys


def cmd_up(args: argparse.Namespace) -> int:
    from app.embedded import (
        Child,
        EmbeddedPostgres,
        EmbeddedValkey,
        EmbeddedValkeyHA,
        port_open,
        reserve_port,
    )

    started = time.monotonic()
    settings: Settings = get_settings()
    _log_as("fuze up", settings)
    data_dir = Path(args.data_dir or settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    host = args.host or settings.host
    port = args.port or settings.port
    if port_open(host, port):
        log.error("port %s on %s is in use: stop what uses it or pass --port", port, host)
        return 2
    reserve_port(port)  # the embedded servers, started first, must not take it

    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    env = dict(os.environ)
    env["FUZE_DATA_DIR"] = str(data_dir)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    settings = Settings(data_dir=data_dir)
    env["FUZE_SECRET_KEY"] = settings.resolved_secret_key()
    _metrics_dir(env, data_dir / "metrics")

    servers: list[EmbeddedPostgres | EmbeddedValkey | EmbeddedValkeyHA] = []
    watches: list[_ServerWatch] = []
    procs: dict[str, Child] = {}
    code = 0
    try:
        logs = data_dir / "logs"
        if settings.database_url:
            log.info("using the database at FUZE_DATABASE_URL")
            database_url = settings.database_url
            if args.read_replicas:
                log.error("--read-replicas starts standbys of the embedded database only")
                return 2
        else:
            pg = EmbeddedPostgres(data_dir / "postgres", log_dir=logs)
            servers.append(pg)
            database_url = pg.start()
            watches.append(_ServerWatch("postgres", pg))
            log.info(
                "embedded PostgreSQL 18 + pgvector on 127.0.0.1:%s (data: %s)", pg.port, pg.pgdata
            )
            standbys = _start_standbys(pg, data_dir, args.read_replicas, logs)
            servers.extend(standbys)
            watches.extend(_ServerWatch(s.name, s) for s in standbys)
            if standbys:
                env["FUZE_DATABASE_READ_URLS"] = ",".join(s.url() for s in standbys)
        if settings.redis_url or settings.redis_sentinels:
            log.info("using the Redis at FUZE_REDIS_URL / FUZE_REDIS_SENTINELS")
            redis_url = settings.redis_url or ""
        elif args.redis_ha:
            ha = EmbeddedValkeyHA(data_dir, log_dir=logs)
            servers.append(ha)
            redis_url = ha.start()
            watches += [_ServerWatch(f"valkey {node.name}", node) for node in ha.nodes]
            log.info("embedded Valkey primary, replica and 3 sentinels (data: %s)", ha.root)
        else:
            vk = EmbeddedValkey(data_dir, log_dir=logs)
            servers.append(vk)
            redis_url = vk.start()
            watches.append(_ServerWatch("valkey", vk))
            log.info("embedded Valkey on 127.0.0.1:%s (data: %s)", vk.port, vk.dir)
        env["FUZE_DATABASE_URL"] = database_url
        if redis_url:
            env["FUZE_REDIS_URL"] = redis_url

        run_migrations(database_url)
        log.info("database migrated to head")

        processes, why = _api_processes(args.api_workers, settings)
        log.info("API: %s process%s (%s)", processes, "es" if processes > 1 else "", why)
        procs["worker"] = Child("worker", _worker_argv(), env=env, cwd=ROOT)
        procs["api"] = Child(
            "api", _api_argv(host, port, processes), env=_api_env(env, processes), cwd=ROOT
        )
        if args.no_worker:
            del procs["worker"]
        for child in procs.values():
            child.start()

        def alive() -> bool:
            for watch in watches:  # a server that dies while the API starts comes back too
                watch.tend()
            return all(c.alive() for c in procs.values())

        base = _url_to_open(host, port)
        ready = _wait_ready(
            f"{base}/api/health/ready" if not args.no_worker else f"{base}/api/health",
            time.monotonic() + args.ready_timeout,
            alive,
            stop,
            # Several processes: ready when every one is (each loads its own model).
            servers=lambda: _children(procs["api"].pid),
            count=processes,
        )
        if stop.requested:
            return 0
        if not ready:
            log.error("Fuze did not become ready; see the logs above and in %s", logs)
            code = 1
            return code
        # The last line of the start: what to open.
        log.info("Fuze is ready in %.1f s: open %s", time.monotonic() - started, base)

        restarts: list[float] = []
        while not stop.requested:
            time.sleep(0.25)
            for watch in watches:
                if not stop.requested:
                    watch.tend()
            for name, child in procs.items():
                if not stop.requested and not child.alive():
                    now = time.monotonic()
                    restarts = [t for t in restarts if now - t < 60] + [now]
                    if len(restarts) > 5:
                        log.error("%s keeps crashing; giving up", name)
                        code = 1
                        stop.requested = True
                        break
                    log.warning(
                        "%s exited with %s; restarting", name, child.proc and child.proc.returncode
                    )
                    time.sleep(min(2 ** len(restarts) * 0.25, 5))
                    child.start()
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        log.error("fuze up failed: %s", exc)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for name in ("api", "worker"):
            if name in procs:
                procs[name].stop(timeout=20)
        for server in reversed(servers):
            server.stop()
        log.info("stopped")


def cmd_services(args: argparse.Namespace) -> int:
    """Only the embedded servers, for development against a reloading API or a debugger."""
    from app.embedded import EmbeddedPostgres, EmbeddedValkey, EmbeddedValkeyHA

    logging.basicConfig(level=logging.INFO, format="fuze services | %(message)s")
    _quiet_libraries()
    data_dir = Path(args.data_dir or get_settings().data_dir).resolve()
    pg = EmbeddedPostgres(data_dir / "postgres", log_dir=data_dir / "logs")
    vk: EmbeddedValkey | EmbeddedValkeyHA = (
        EmbeddedValkeyHA(data_dir, log_dir=data_dir / "logs")
        if args.redis_ha
        else EmbeddedValkey(data_dir, log_dir=data_dir / "logs")
    )
    stop = _Stop()
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    standbys: list[Any] = []
    try:
        database_url = pg.start()
        run_migrations(database_url)
        standbys = _start_standbys(pg, data_dir, args.read_replicas, data_dir / "logs")
        print(f"export FUZE_DATABASE_URL='{database_url}'", flush=True)
        if standbys:
            urls = ",".join(s.url() for s in standbys)
            print(f"export FUZE_DATABASE_READ_URLS='{urls}'", flush=True)
        print(f"export FUZE_REDIS_URL='{vk.start()}'", flush=True)
        # As under `fuze up`: a server that dies comes back on its port, with its data (and
        # each server keeps its port across runs: the URLs above stay good).
        watches = [_ServerWatch("postgres", pg)]
        if isinstance(vk, EmbeddedValkeyHA):
            watches += [_ServerWatch(f"valkey {node.name}", node) for node in vk.nodes]
        else:
            watches.append(_ServerWatch("valkey", vk))
        watches.extend(_ServerWatch(s.name, s) for s in standbys)
        while not stop.requested:
            for watch in watches:
                watch.tend()
            time.sleep(0.25)
    finally:
        vk.stop()
        for standby in reversed(standbys):
            standby.stop()
        pg.stop()
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from app import backup

    return _run_backup(
        "backup",
        lambda settings: backup.backup(
            settings,
            Path(args.data_dir or settings.data_dir),
            Path(args.output) if args.output else None,
        ),
    )


def cmd_restore(args: argparse.Namespace) -> int:
    from app import backup

    return _run_backup(
        "restore",
        lambda settings: backup.restore(
            settings, Path(args.file), Path(args.data_dir or settings.data_dir), force=args.force
        ),
    )


def _run_backup(name: str, work: Callable[[Settings], object]) -> int:
    from app.backup import BackupError

    logging.basicConfig(level=logging.INFO, format=f"fuze {name} | %(message)s", stream=sys.stderr)
    _quiet_libraries()
    try:
        work(get_settings())
    except BackupError as exc:
        log.error("%s failed: %s", name, exc)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # as `fuze up` does: one line, not a traceback
        log.error("%s failed: %s", name, exc)
        return 1
    return 0


def cmd_mcp(_: argparse.Namespace) -> int:
    """An MCP server over stdio for a desktop assistant, against the Fuze server FUZE_SERVER
    with the personal API token FUZE_TOKEN (app/assistant/mcp.py). Nothing but the protocol
    may go to stdout."""
    import anyio

    from app.assistant.mcp import stdio_server

    server = stdio_server()
    anyio.run(server.run_stdio_async)
    return 0


def _api_workers_arg(value: str) -> str:
    from app.config import api_workers_value

    try:
        return str(api_workers_value(value))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


_REPLICAS_HELP = "also start N streaming standbys of the embedded PostgreSQL as read replicas"
_REDIS_HA_HELP = (
    "embedded Valkey as a primary, a replica and 3 sentinels that fail over (docs/deployment.md)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fuze", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="run everything: embedded servers, migrations, API, worker")
    up.add_argument("--host")
    up.add_argument("--port", type=int)
    up.add_argument("--data-dir")
    up.add_argument("--no-worker", action="store_true", help="do not start the arq worker")
    up.add_argument("--ready-timeout", type=float, default=180.0)
    up.add_argument("--read-replicas", type=int, default=0, metavar="N", help=_REPLICAS_HELP)
    up.add_argument("--redis-ha", action="store_true", help=_REDIS_HA_HELP)
    up.add_argument(
        "--api-workers",
        type=_api_workers_arg,
        metavar="N",
        help="API processes sharing the port: a number or auto (FUZE_API_WORKERS; default "
        "auto: the cores, at most 4)",
    )
    up.set_defaults(func=cmd_up)

    api = sub.add_parser("api", help="run the API (uvicorn) against FUZE_DATABASE_URL/REDIS_URL")
    api.add_argument("--host")
    api.add_argument("--port", type=int)
    api.add_argument("--workers", type=int, default=1)
    api.set_defaults(func=cmd_api)

    worker = sub.add_parser("worker", help="run one arq worker")
    worker.add_argument(
        "--imports",
        action="store_true",
        help="serve only the import queue (see FUZE_IMPORT_WORKER_INLINE)",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="migrate the database to head")
    migrate.set_defaults(func=cmd_migrate)

    services = sub.add_parser("services", help="run only the embedded PostgreSQL and Valkey")
    services.add_argument("--data-dir")
    services.add_argument("--read-replicas", type=int, default=0, metavar="N", help=_REPLICAS_HELP)
    services.add_argument("--redis-ha", action="store_true", help=_REDIS_HA_HELP)
    services.set_defaults(func=cmd_services)

    backup = sub.add_parser(
        "backup", help="write the database and the data folder's secrets to one archive"
    )
    backup.add_argument("--output", help="the archive to write (default: fuze-backup-DATE.tar)")
    backup.add_argument("--data-dir")
    backup.set_defaults(func=cmd_backup)

    restore = sub.add_parser("restore", help="restore a `fuze backup` archive into a data folder")
    restore.add_argument("file")
    restore.add_argument("--data-dir")
    restore.add_argument("--force", action="store_true", help="replace a database that has data")
    restore.set_defaults(func=cmd_restore)

    mcp = sub.add_parser(
        "mcp", help="an MCP server over stdio for assistants (FUZE_SERVER, FUZE_TOKEN)"
    )
    mcp.set_defaults(func=cmd_mcp)

    remote.add_commands(sub)

    args = parser.parse_args(argv)
    if getattr(args.func, "__module__", "") == remote.__name__:
        return remote.run(args.func, args)
    try:
        return int(args.func(args) or 0)
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        for error in exc.errors():  # one line per setting, not a traceback
            name = "FUZE_" + "_".join(str(part) for part in error["loc"][:1]).upper()
            message = error["msg"].removeprefix("Value error, ")
            print(f"fuze: {name}: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
