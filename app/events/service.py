"""Per-user events over Redis pub/sub, so a client gets them whichever replica it is on."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

log = logging.getLogger("fuze.events")


def channel(user_id: uuid.UUID | str) -> str:
    return f"fuze:events:{user_id}"


async def publish(redis: Any, user_id: uuid.UUID | str, event: str, data: dict[str, Any]) -> None:
    """Best effort: an event lost while Redis is down is repaired by the next list fetch."""
    try:
        await redis.publish(
            channel(user_id), json.dumps({"event": event, "data": data}, default=str)
        )
    except Exception as exc:
        log.warning("could not publish an event: %s", exc)
