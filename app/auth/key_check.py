"""One FUZE_SECRET_KEY for every process that shares a database.

API replicas that share no data folder each get the key from their environment; one started
with another key would sign tokens the others refuse (a user signed out at random, by
replica) and could not read the Gemini keys stored under the right one. So each API process
and worker, at start, compares a fingerprint of its key (an HMAC of a fixed string, from which
the key cannot be recovered) with the one kept in the database, writing it if there is none,
and refuses to start on a mismatch. FUZE_SECRET_KEY_ROTATE=true makes the running key the
database's (docs/deployment.md: rotating the key).
"""

from __future__ import annotations

import hashlib
import hmac
import logging

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.config import Settings
from app.db import SYSTEM_SCOPE

log = logging.getLogger("fuze.auth")

_MESSAGE = b"fuze secret key fingerprint v1"


class SecretKeyMismatch(RuntimeError):
    pass


def fingerprint(key: str) -> str:
    return hmac.new(key.encode(), _MESSAGE, hashlib.sha256).hexdigest()


async def check_secret_key(engine: AsyncEngine, settings: Settings) -> None:
    """Raise SecretKeyMismatch when the database belongs to processes with another key."""
    mine = fingerprint(settings.resolved_secret_key())
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(SYSTEM_SCOPE.sql(local=True))
            if settings.secret_key_rotate:
                await conn.execute(
                    text(
                        "INSERT INTO secret_key_fingerprint (fingerprint) VALUES (:f)"
                        " ON CONFLICT (id) DO UPDATE SET fingerprint = excluded.fingerprint,"
                        " set_at = now()"
                    ),
                    {"f": mine},
                )
                log.warning(
                    "FUZE_SECRET_KEY_ROTATE: this process's secret key is now the database's;"
                    " processes with the old key will refuse to start"
                )
                return
            # Of two first starts at once, the second waits on the first's row, then reads it.
            await conn.execute(
                text(
                    "INSERT INTO secret_key_fingerprint (fingerprint) VALUES (:f)"
                    " ON CONFLICT (id) DO NOTHING"
                ),
                {"f": mine},
            )
            stored = (
                await conn.execute(text("SELECT fingerprint FROM secret_key_fingerprint"))
            ).scalar_one()
    except (OperationalError, DBAPIError, OSError) as exc:
        # The database is down (or not migrated yet): start anyway, as without the check; the
        # process serves nothing from the database until it is back.
        log.warning("secret key not checked against the database: %s", exc.__class__.__name__)
        return
    if not hmac.compare_digest(stored, mine):
        message = (
            "FUZE_SECRET_KEY differs from the one the other Fuze processes on this database "
            "use: tokens signed here would be refused there, and stored Gemini keys could not "
            "be read. Start every API replica and worker with the same FUZE_SECRET_KEY, or, to "
            "change the key on purpose, start one process with FUZE_SECRET_KEY_ROTATE=true "
            "(docs/deployment.md)."
        )
        log.critical(message)
        raise SecretKeyMismatch(message)
