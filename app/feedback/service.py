"""Feedback on recommended items. Every id is checked against the current user first."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.bookmarks import service as bookmarks_service
from app.db import utcnow
from app.errors import NotFound, Unprocessable
from app.feedback.models import IRRELEVANT, JUDGEMENTS, RELEVANT, Feedback
from app.feedback.schemas import FeedbackContext, FeedbackCreate, FeedbackOut
from app.projects import service as projects_service
from app.users.models import User

_TEXT_KEY = re.compile(r"^[0-9a-f]{32}$")
NO_CONTEXT = ("none", "-")


async def context_key(
    session: AsyncSession, user: User, context: FeedbackContext | None
) -> tuple[str, str]:
    """(type, key) of a context the user owns; 404 for another user's (or no) project, task
    or subtask, 422 for an id that is not one."""
    if context is None:
        return NO_CONTEXT
    if context.type == "text":
        if not _TEXT_KEY.match(context.id):
            raise Unprocessable(
                "A text context's id is the `context.id` POST /api/recommendations returned.",
                code="invalid_context",
            )
        return "text", context.id
    try:
        row_id = uuid.UUID(context.id)
    except ValueError as exc:
        raise Unprocessable(f"Not a {context.type} id.", code="invalid_context") from exc
    getter = {
        "project": projects_service.get_project,
        "task": projects_service.get_task,
        "subtask": projects_service.get_subtask,
    }[context.type]
    await getter(session, user, row_id)
    return context.type, str(row_id)


def to_out(row: Feedback) -> FeedbackOut:
    context = (
        None
        if row.context_type == "none"
        else FeedbackContext(type=row.context_type, id=row.context_key)  # type: ignore[arg-type]
    )
    return FeedbackOut(
        id=row.id,
        bookmark_id=row.bookmark_id,
        context=context,
        signal=row.signal,  # type: ignore[arg-type]
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def give(session: AsyncSession, user: User, data: FeedbackCreate) -> tuple[Feedback, bool]:
    """Records the signal; (row, created). Relevant and irrelevant replace each other for the
    same item and context; giving the same signal again only refreshes its time."""
    await bookmarks_service.get_owned(session, user, data.bookmark_id)
    ctype, ckey = await context_key(session, user, data.context)
    where = (
        Feedback.user_id == user.id,
        Feedback.context_type == ctype,
        Feedback.context_key == ckey,
        Feedback.bookmark_id == data.bookmark_id,
    )
    if data.signal in JUDGEMENTS:
        other = IRRELEVANT if data.signal == RELEVANT else RELEVANT
        await session.execute(delete(Feedback).where(*where, Feedback.signal == other))
    now = utcnow()
    new_id = uuid.uuid4()
    row_id = await session.scalar(
        insert(Feedback)
        .values(
            id=new_id,
            user_id=user.id,
            bookmark_id=data.bookmark_id,
            context_type=ctype,
            context_key=ckey,
            signal=data.signal,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_update(
            index_elements=["user_id", "context_type", "context_key", "bookmark_id", "signal"],
            set_={"updated_at": now},
        )
        .returning(Feedback.id)
    )
    row = await session.scalar(
        select(Feedback).where(Feedback.id == row_id).execution_options(populate_existing=True)
    )
    assert row is not None
    return row, row_id == new_id


async def list_for(
    session: AsyncSession,
    user: User,
    context: FeedbackContext | None,
    bookmark_id: uuid.UUID | None,
) -> list[Feedback]:
    query = select(Feedback).where(Feedback.user_id == user.id)
    if context is not None:
        ctype, ckey = await context_key(session, user, context)
        query = query.where(Feedback.context_type == ctype, Feedback.context_key == ckey)
    if bookmark_id is not None:
        query = query.where(Feedback.bookmark_id == bookmark_id)
    return list(await session.scalars(query.order_by(Feedback.updated_at.desc()).limit(500)))


async def withdraw(session: AsyncSession, user: User, feedback_id: uuid.UUID) -> None:
    deleted = await session.scalar(
        delete(Feedback)
        .where(Feedback.id == feedback_id, Feedback.user_id == user.id)
        .returning(Feedback.id)
    )
    if deleted is None:
        raise NotFound("No such feedback.", code="feedback_not_found")
