"""The API's uvicorn, as `fuze api` and `fuze up` run it:

    python -m app.serve --host 127.0.0.1 --port 8000 --workers 2

With several processes each listens on a socket of its own, all bound to the same address
with SO_REUSEPORT, and the kernel spreads new connections over them. uvicorn's own
`--workers` hands every process one shared listening socket: the process that is awake when
a burst of connections arrives (a browser's six, a balancer's keep-alive pool) accepts them
all, and a keep-alive connection stays with the process that accepted it, so one process
served while the others idled (docs/benchmarks.md, "One API process against two").

uvicorn's supervisor still starts, pings, restarts and stops the processes; only the socket
each one listens on is its own.
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from typing import Any, TypeVar

import uvicorn
from uvicorn.supervisors import Multiprocess

_Socket = TypeVar("_Socket", bound=socket.socket)


def _bound(sock: _Socket, host: str, port: int) -> _Socket:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def listening_address(family: int, host: str, port: int) -> socket.socket:
    """A socket bound to (host, port) with SO_REUSEPORT: several may be, and those that listen
    share the address's new connections."""
    return _bound(socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP), host, port)


class SharedAddress(socket.socket):
    """The supervisor's hold on the address: bound with SO_REUSEPORT, never listened on, so it
    takes no connections but keeps the port while processes come and go. Handed to a process
    (multiprocessing pickles it), it becomes a socket of that process's own on the same
    address, which the process's server listens on."""

    def __reduce__(self) -> tuple[Any, ...]:
        host, port = self.getsockname()[:2]
        return (listening_address, (self.family, host, port))


def config(host: str, port: int, workers: int) -> uvicorn.Config:
    return uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        access_log=False,  # our middleware writes one JSON line per request
        proxy_headers=True,  # the client's address from X-Forwarded-For behind a balancer
        timeout_graceful_shutdown=10,
        # httptools, with its own refusals (a request line over the limit, an unparsable
        # request) answered in the JSON error shape (app/limits.py).
        http="app.limits:JsonHttpToolsProtocol",
        # Always said: uvicorn would otherwise take WEB_CONCURRENCY from the environment.
        workers=workers,
        # uvicorn kills a process that does not answer its ping in time as hung: on a loaded
        # machine one loading its model may take longer than the 5 s default to answer.
        timeout_worker_healthcheck=30,
    )


def shared_address(host: str, port: int) -> SharedAddress:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return _bound(SharedAddress(family, socket.SOCK_STREAM, socket.IPPROTO_TCP), host, port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.serve", description=__doc__)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    cfg = config(args.host, args.port, args.workers)
    if args.workers == 1:
        server = uvicorn.Server(cfg)
        server.run()
        return 0 if server.started else 3  # uvicorn's STARTUP_FAILURE
    try:
        address = shared_address(args.host, args.port)
    except OSError as exc:
        print(f"Cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 3
    logging.getLogger("uvicorn.error").info(
        "Each of %d processes listens on http://%s:%d (SO_REUSEPORT)",
        args.workers,
        args.host,
        args.port,
    )
    Multiprocess(cfg, sockets=[address]).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
