"""`python -m workers` (or `fuze worker`): one arq worker that outlives Redis outages.

arq's worker exits when its Redis connection breaks; here it is started again (with backoff)
until Redis is back, keeping the loaded model, so a Redis restart costs no lost work: jobs are
in Redis, and bookmarks saved meanwhile are picked up by the sweeper.
"""

from __future__ import annotations

import logging
import time

from arq import run_worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from workers.main import ImportWorkerSettings, WorkerSettings

log = logging.getLogger("fuze.worker")


def main(imports_only: bool = False) -> None:
    settings = ImportWorkerSettings if imports_only else WorkerSettings
    delay = 1.0
    while True:
        started = time.monotonic()
        try:
            run_worker(settings)  # type: ignore[arg-type]
            return  # stopped by SIGINT/SIGTERM
        except (RedisConnectionError, RedisTimeoutError, ConnectionError, OSError) as exc:
            if time.monotonic() - started > 60:
                delay = 1.0
            log.warning("lost Redis (%s); starting the worker again in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30)


if __name__ == "__main__":
    import sys

    main(imports_only="--imports" in sys.argv[1:])
