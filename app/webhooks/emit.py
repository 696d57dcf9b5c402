"""Which of Fuze's events reach webhooks, and handing them to a worker: kept apart from the
rest of app/webhooks so that app.events can call it without importing the fetcher."""

from __future__ import annotations

import logging
import uuid
from typing import Any

log = logging.getLogger("fuze.webhooks")

USERS_KEY = "fuze:webhooks:users"  # the users who have an active endpoint


def webhook_event(event: str, data: dict[str, Any]) -> str | None:
    """The webhook event an app event is, if it is one."""
    if event == "bookmark.status" and data.get("status") in ("ready", "failed"):
        return f"bookmark.{data['status']}"
    if event == "bookmark.analysis" and data.get("analysis_status") == "ready":
        return "bookmark.analysed"
    if event == "import.progress" and data.get("status") in ("done", "failed"):
        return "import.done"
    if event == "bookmark.saved":
        return event
    return None


async def emit(redis: Any, user_id: uuid.UUID | str, event: str, data: dict[str, Any]) -> None:
    """Queue the event for the user's endpoints: one set lookup for users without any.
    Best effort, as the events stream is: never raises."""
    try:
        if not await redis.sismember(USERS_KEY, str(user_id)):
            return
        once = f"{event}:{data['id']}" if event == "import.done" else str(uuid.uuid4())
        await redis.enqueue_job(
            "webhook_event", str(user_id), event, data, _job_id=f"webhook_event:{once}"
        )
    except Exception:
        log.warning("could not queue a webhook event", exc_info=True)
