"""Read replicas: what the read pool (app.db.ReadPool) knows of each streaming standby, and
the per-user read-after-write markers it checks before reading from one.

After a commit that changed a user's data, the primary's WAL position is kept in Redis under
that user (on every API process and worker alike). A standby serves that user's reads only
once its replay has reached the position; until then they go to the primary. Each standby's
replay position and lag are read at most every `read_replica_poll_seconds`, in the
background, so that choosing a standby costs no round trip to it (reading the user's marker
costs one to Redis).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from app.metrics import set_replica_lag

log = logging.getLogger("fuze.db")

# The standby's replay position and how far behind it is: 0 while it has replayed all it has
# received (an idle primary sends nothing; the time since the last replayed commit would grow
# without the standby being behind), else the age of the last commit it replayed (NULL, so
# unknown, before the first). A server that is not in recovery (the primary named as a
# replica, or a promoted standby) is as current as it gets.
REPLICA_STATE = (
    "SELECT (CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
    " ELSE pg_current_wal_lsn() END) - '0/0'::pg_lsn AS lsn,"
    " CASE WHEN NOT pg_is_in_recovery()"
    " OR pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0"
    " ELSE extract(epoch FROM clock_timestamp() - pg_last_xact_replay_timestamp()) END AS lag"
)
# Where the primary's WAL ends: after a commit, past its commit record.
PRIMARY_LSN = "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn"

MARK_KEY = "fuze:written:{}"
# Keep the larger of the stored and the new position (two commits of one user may record
# out of order), and renew the marker's time to live.
_MARK_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
"""


def describe(dsn: str) -> str:
    """host:port/database of a connection URL, without its credentials (logs, stats)."""
    parts = urlsplit(dsn)
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


class Replica:
    """One standby: its connections (made by the read pool) and what was last read of it."""

    def __init__(self, name: str, dsn: str) -> None:
        self.name = name
        self.dsn = dsn
        self.label = describe(dsn)
        self.pool: Any = None
        self.lock = asyncio.Lock()
        self.engine: Any = None  # the ORM's, for ReadPool.read
        self.sessions: Any = None
        self.reads = 0
        self.lsn: int | None = None  # replayed up to here
        self.lag: float | None = None  # seconds; None: unknown
        self.checked_at = -math.inf  # monotonic time of the last good poll
        self.down_until = 0.0  # skipped until then, after a failure
        self.failures = 0
        self.polling: Any = None  # the poll under way (an asyncio task)

    def due(self, now: float, poll: float) -> bool:
        """Whether to poll it now: its state is older than `poll` and it is not resting."""
        busy = self.polling is not None and not self.polling.done()
        return not busy and now - self.checked_at >= poll and now >= self.down_until

    def usable(self, now: float, max_lag: float) -> bool:
        """Up, polled within the bound, and no further behind than the bound."""
        return (
            now >= self.down_until
            and self.lsn is not None
            and self.lag is not None
            and self.lag <= max_lag
            and now - self.checked_at <= max_lag
        )

    def polled(self, lsn: Any, lag: Any) -> None:
        if self.down_until:
            log.info("read replica %s is back", self.label)
        self.lsn = int(lsn) if lsn is not None else None
        self.lag = float(lag) if lag is not None else None
        if self.lag is not None:
            set_replica_lag(self.name, self.lag)  # fuze_db_replica_lag_seconds
        self.checked_at = time.monotonic()
        self.down_until = 0.0
        self.failures = 0

    def failed(self, retry_seconds: float, exc: BaseException) -> None:
        """Skip it for a while: the reads go to the primary meanwhile."""
        if not self.down_until:
            log.warning("read replica %s skipped: %s", self.label, exc or type(exc).__name__)
        self.failures += 1
        self.down_until = time.monotonic() + retry_seconds
        self.lsn = self.lag = None

    def stats(self, now: float, max_lag: float) -> dict[str, Any]:
        return {
            "name": self.name,
            "server": self.label,
            "usable": self.usable(now, max_lag),
            "lag_seconds": self.lag,
            "replay_lsn": self.lsn,
            "reads": self.reads,
            "failures": self.failures,
        }


class WriteMarks:
    """Per-user WAL positions in Redis: a user's reads need a standby that has replayed this
    far. Kept for `ttl` seconds, longer than a standby that is still used can be behind."""

    def __init__(self, redis: Any, ttl: int) -> None:
        self.redis = redis
        self.ttl = ttl

    async def record(self, users: Iterable[uuid.UUID], lsn: int) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for user in users:
                pipe.eval(_MARK_SCRIPT, 1, MARK_KEY.format(user), lsn, self.ttl)
            await pipe.execute()

    async def get(self, user: uuid.UUID) -> int:
        """The user's position, 0 when nothing is recorded (raises when Redis is down)."""
        value = await self.redis.get(MARK_KEY.format(user))
        return int(value) if value is not None else 0
