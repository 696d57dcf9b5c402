"""Fixed-window rate limits kept in Redis, so every API replica shares the same counters.

When Redis is unreachable the limiter keeps protecting the process with in-memory counters
(per replica, so looser) and logs the fallback; it retries Redis after a short pause instead of
paying a connection timeout on every request.
"""

from __future__ import annotations

import logging
import math
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from app.errors import TooManyRequests

log = logging.getLogger("fuze.ratelimit")

# True while the error boundary runs a request a second time (its first run lost a race): the
# first run already counted it, and a client must not be limited for the server's retry.
replaying: ContextVar[bool] = ContextVar("fuze_replaying", default=False)

_INCR_SCRIPT = """
local c = redis.call('INCR', KEYS[1])
if c == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
return {c, ttl}
"""


@dataclass
class Hit:
    count: int
    retry_after: int


class RateLimiter:
    def __init__(self, redis: Any, prefix: str = "fuze:rl", retry_redis_after: float = 5.0) -> None:
        self.redis = redis
        self.prefix = prefix
        self.retry_redis_after = retry_redis_after
        self._redis_down_until = 0.0
        self._memory: dict[str, tuple[int, float]] = {}
        self._script: Any = None

    @property
    def using_fallback(self) -> bool:
        return time.monotonic() < self._redis_down_until

    def _mark_down(self, exc: BaseException) -> None:
        if not self.using_fallback:
            log.warning("redis unavailable for rate limits, using in-process counters: %s", exc)
        self._redis_down_until = time.monotonic() + self.retry_redis_after

    def _memory_incr(self, key: str, window: int, amount: int) -> Hit:
        now = time.monotonic()
        count, reset_at = self._memory.get(key, (0, 0.0))
        if reset_at <= now:
            count, reset_at = 0, now + window
        count += amount
        self._memory[key] = (count, reset_at)
        if len(self._memory) > 50_000:
            self._memory = {k: v for k, v in self._memory.items() if v[1] > now}
        return Hit(count, max(1, math.ceil(reset_at - now)))

    async def incr(self, key: str, window: int, amount: int = 1) -> Hit:
        full = f"{self.prefix}:{key}"
        if not self.using_fallback:
            try:
                if self._script is None:
                    self._script = self.redis.register_script(_INCR_SCRIPT)
                if amount == 1:
                    count, ttl = await self._script(keys=[full], args=[window])
                else:
                    async with self.redis.pipeline(transaction=True) as pipe:
                        pipe.incrby(full, amount).expire(full, window, nx=True).ttl(full)
                        count, _, ttl = await pipe.execute()
                return Hit(int(count), max(1, int(ttl)))
            except Exception as exc:  # any Redis failure: keep serving
                self._mark_down(exc)
        return self._memory_incr(full, window, amount)

    async def peek(self, key: str, window: int) -> Hit:
        full = f"{self.prefix}:{key}"
        if not self.using_fallback:
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.get(full).ttl(full)
                    value, ttl = await pipe.execute()
                return Hit(int(value or 0), max(1, int(ttl)) if ttl and ttl > 0 else window)
            except Exception as exc:
                self._mark_down(exc)
        count, reset_at = self._memory.get(full, (0, 0.0))
        now = time.monotonic()
        if reset_at <= now:
            return Hit(0, window)
        return Hit(count, max(1, math.ceil(reset_at - now)))

    async def reset(self, key: str) -> None:
        full = f"{self.prefix}:{key}"
        self._memory.pop(full, None)
        if not self.using_fallback:
            try:
                await self.redis.delete(full)
            except Exception as exc:
                self._mark_down(exc)

    async def check(self, key: str, limit: int, window: int = 60, what: str = "requests") -> None:
        """Count one request under `key`; raise 429 with Retry-After past `limit` per window."""
        if replaying.get():
            return
        hit = await self.incr(key, window)
        if hit.count > limit:
            raise TooManyRequests(
                hit.retry_after,
                f"Too many {what}; try again in {hit.retry_after} seconds.",
                details={"retry_after": hit.retry_after, "limit": limit, "window_seconds": window},
            )
