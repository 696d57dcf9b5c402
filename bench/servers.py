"""The database and Valkey a benchmark runs against: FUZE_DATABASE_URL / FUZE_REDIS_URL when
set, else embedded servers started in a folder of the benchmark's; migrated to head."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any


async def start_servers(folder: Path) -> tuple[str, str, list[Any]]:
    """(database URL, Redis URL, the servers started here: stop them in reverse order)."""
    from app.cli import run_migrations
    from app.embedded import EmbeddedPostgres, EmbeddedValkey

    servers: list[Any] = []
    database_url = os.environ.get("FUZE_DATABASE_URL")
    redis_url = os.environ.get("FUZE_REDIS_URL")
    if not database_url:
        pg = EmbeddedPostgres(folder / "pg")
        database_url = pg.start()
        servers.append(pg)
    if not redis_url:
        vk = EmbeddedValkey(folder / "vk")
        redis_url = vk.start()
        servers.append(vk)
    await asyncio.to_thread(run_migrations, database_url)
    return database_url, redis_url, servers


async def wait_until_up(client: Any, path: str, tries: int) -> None:
    """Poll `path` (a health route) every 0.2 s until it answers 200, at most `tries` times."""
    import httpx

    for _ in range(tries):
        try:
            if (await client.get(path)).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)


def api_env(folder: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """The environment of an API (or worker) a benchmark starts on these servers: the test
    profile, no rate limit, quiet logs."""
    return {
        **os.environ, "FUZE_ENV": "test", "FUZE_DATA_DIR": str(folder), "FUZE_DATABASE_URL": database_url,
        "FUZE_REDIS_URL": redis_url, "FUZE_SECRET_KEY": "bench-" + "x" * 40, "FUZE_RATE_LIMIT_ENABLED": "false",
        "FUZE_LOG_LEVEL": "WARNING",
    }  # fmt: skip


def start_api(env: dict[str, str], port: int, workers: int = 1) -> Any:
    """`fuze api` on this port, its output dropped (subprocess.Popen)."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "app.cli", "api", "--port", str(port), "--workers", str(workers)],
        env=env, cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
