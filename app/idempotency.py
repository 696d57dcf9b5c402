"""`Idempotency-Key` for saves: a repeat of a request with the same key gets the same answer.

A save is already idempotent by its normalised URL (a second one answers 200 with the same
bookmark), but its *answer* differs (201, then 200). With a key, the first answer is kept in
Redis, per user, and a repeat with the same key and the same body gets it back byte for byte,
so a client that retries (or nginx retrying on another API replica when one dies mid-request,
deploy/nginx.conf) cannot tell the repeat from the original. The same key with another body
is refused (422): the client reused a key it should not have.

The answer is stored after the transaction commits and before it is sent
(`app.db.after_commit`), so any answer a client may have seen is the one replayed. A request
whose first attempt died before it committed runs again as new; one that committed but died
before storing its answer runs again and answers 200 (already saved), the client having seen
neither. Redis down: the key is ignored and the save behaves as without one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from typing import Any

from fastapi import Header
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import after_commit
from app.errors import Unprocessable

log = logging.getLogger("fuze.idempotency")

HEADER = "Idempotency-Key"
# A day: longer than any client's retries, short enough that the keys cost little.
TTL_SECONDS = 24 * 3600
KEY = "fuze:idem:{{{user}}}:{scope}:{key}"
_VALID = re.compile(r"^[\x21-\x7e]{1,255}$")

IdempotencyKeyHeader = Header(
    alias=HEADER,
    description=(
        "Optional. A unique value per user action (a random UUID), sent again unchanged when "
        "the request is retried: a repeat with the same key and body gets the first answer "
        "again (same status and body) for 24 hours; the same key with another body is "
        "refused (422 `idempotency_key_reused`)."
    ),
)


class Idempotency:
    """One request's key: `replay()` the stored answer, or `remember()` this one."""

    def __init__(self, redis: Any, user_id: uuid.UUID, scope: str, key: str | None) -> None:
        if key is not None and not _VALID.match(key):
            raise Unprocessable(
                f"{HEADER} must be 1 to 255 visible ASCII characters.",
                code="invalid_idempotency_key",
            )
        self.redis = redis
        self.key = (
            KEY.format(user=user_id, scope=scope, key=hashlib.sha256(key.encode()).hexdigest())
            if key
            else None
        )
        self.fingerprint = ""

    async def replay(self, body: Any) -> JSONResponse | None:
        """The answer stored for this key, if any; 422 when it was for another body."""
        if self.key is None:
            return None
        self.fingerprint = hashlib.sha256(
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        try:
            raw = await self.redis.get(self.key)
        except Exception:  # Redis down: behave as without a key
            log.warning("idempotency key not read", exc_info=True)
            return None
        if raw is None:
            return None
        stored = json.loads(raw)
        if stored["fingerprint"] != self.fingerprint:
            raise Unprocessable(
                f"This {HEADER} was already used for a different request; send a new key for "
                "a new action.",
                code="idempotency_key_reused",
            )
        return JSONResponse(stored["body"], status_code=stored["status"])

    def remember(self, session: AsyncSession, status: int, body: Any) -> None:
        """Keep this answer for repeats, once the transaction has committed."""
        if self.key is None:
            return
        key = self.key
        value = json.dumps({"fingerprint": self.fingerprint, "status": status, "body": body})

        async def store() -> None:
            try:
                # NX: of two attempts that raced, the first answer stored is the one replayed.
                await self.redis.set(key, value, ex=TTL_SECONDS, nx=True)
            except Exception:
                log.warning("idempotency key not stored", exc_info=True)

        after_commit(session, store)
