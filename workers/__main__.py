"""`python -m workers` (or `fuze worker`): one arq worker that outlives Redis outages.

arq's worker exits when its Redis connection breaks; here it is started again (with backoff)
until Redis is back, keeping the loaded model, so a Redis restart costs no lost work: jobs are
in Redis, and bookmarks saved meanwhile are picked up by the sweeper.
"""

from __future__ import annotations

import os

# Before the slow imports below: the process that started this worker (see main()).
_PARENT = os.getppid()

import logging  # noqa: E402
import signal  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from arq.worker import get_kwargs  # noqa: E402
from redis.exceptions import ConnectionError as RedisConnectionError  # noqa: E402
from redis.exceptions import TimeoutError as RedisTimeoutError  # noqa: E402

from app.config import get_settings  # noqa: E402
from app.metrics import serve_worker_metrics  # noqa: E402
from workers.main import (  # noqa: E402
    ImportWorkerSettings,
    PromptWorker,
    WorkerSettings,
    redis_pool_for,
)

log = logging.getLogger("fuze.worker")


def _stop_when_orphaned(parent: int) -> None:
    """Stop once the process that started this worker is gone. `fuze up` gives its children
    a parent-death signal, but killed outright it also takes Valkey down, and the one SIGTERM
    can land in an arq worker that is losing its connection, which then starts again here and
    waits for a Redis that will not return. So: SIGTERM again, and exit if that is not enough.
    A worker whose parent is init (a container's supervisor) is never orphaned."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        try:  # its output may have gone with the parent
            log.warning("the process that started this worker is gone: stopping")
        finally:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)
            os._exit(1)

    if parent != 1:
        threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def main(imports_only: bool = False) -> None:
    settings = ImportWorkerSettings if imports_only else WorkerSettings
    parent = _PARENT
    _stop_when_orphaned(parent)
    config = get_settings()
    if config.worker_metrics_port:
        # Once per process: it outlives the arq worker's restarts below. A port in use costs
        # the metrics, not the worker.
        try:
            serve_worker_metrics(
                config.worker_metrics_host,
                config.worker_metrics_port,
                config.metrics_token,
                config.metrics_allow_loopback,
            )
        except OSError as exc:
            log.warning("worker metrics not served: %s", exc)
    delay = 1.0
    while True:
        started = time.monotonic()
        try:
            pool = redis_pool_for(getattr(settings, "queue_name", None))
            PromptWorker(**{**get_kwargs(settings), **pool}).run()  # type: ignore[arg-type]
            return  # stopped by SIGINT/SIGTERM
        except (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError) as exc:
            # Orphaned (`fuze up` or a supervisor died; its stop signal may have been taken
            # by arq while Redis was going away with it): waiting for Redis would be forever.
            if os.getppid() != parent:
                log.warning("lost Redis (%s) and my parent process: stopping", exc)
                return
            if time.monotonic() - started > 60:
                delay = 1.0
            log.warning("lost Redis (%s); starting the worker again in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30)


if __name__ == "__main__":
    import sys

    main(imports_only="--imports" in sys.argv[1:])
