"""Projects, tasks and subtasks of one user: CRUD, ordering, embeddings of their text, the
project's intent, and Gemini's proposed breakdown. Every query filters by the user."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, delete, func, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app import cursors, llm
from app.analysis import service as analysis
from app.analysis.schemas import Breakdown
from app.config import Settings, get_settings
from app.db import enqueue_after_commit, utcnow
from app.embeddings.service import Embedder, embed_cached
from app.errors import BadRequest, NotFound, ServiceUnavailable, TooManyRequests, Unprocessable
from app.projects.models import (
    INTENT_PENDING,
    INTENT_SKIPPED,
    Project,
    Subtask,
    Task,
)
from app.projects.schemas import (
    BreakdownAccept,
    BreakdownRequest,
    ProjectCreate,
    ProjectUpdate,
    SubtaskCreate,
    SubtaskUpdate,
    TaskCreate,
    TaskUpdate,
)
from app.users.models import User

log = logging.getLogger("fuze.projects")

MAX_EMBED_CHARS = 2000  # the model reads at most 256 word pieces
# How long a breakdown waits for one of the user's Gemini slots before answering 429.
BREAKDOWN_SLOT_WAIT_SECONDS = 10.0


# --- embeddings of the text of projects, tasks and subtasks --------------------------------


def project_text(title: str, description: str | None, technologies: list[str]) -> str:
    parts = [title]
    if technologies:
        parts.append(", ".join(technologies))
    if description and description.strip():
        parts.append(description.strip())
    return "\n".join(parts)[:MAX_EMBED_CHARS]


def task_text(title: str, description: str | None) -> str:
    parts = [title] + ([description.strip()] if description and description.strip() else [])
    return "\n".join(parts)[:MAX_EMBED_CHARS]


def subtask_text(title: str) -> str:
    return title[:MAX_EMBED_CHARS]


class Vectors:
    """Embeds context texts with the API process's model (the same as the pipeline's; cached
    in Redis by text). None when the model cannot run here: then the row is saved without a
    vector and the `embed_context` job computes it in a worker."""

    def __init__(self, embedder: Embedder | None, redis: Any) -> None:
        self.embedder = embedder
        self.redis = redis

    async def of(self, texts: list[str]) -> list[list[float]] | None:
        if not texts:
            return []
        if self.embedder is None:
            return None
        try:
            if not self.embedder.loaded:
                await self.embedder.load_async()
            vectors = await asyncio.gather(
                *(embed_cached(self.embedder, self.redis, t) for t in texts)
            )
        except Exception:
            log.warning("embedding in the API failed; a worker will do it", exc_info=True)
            return None
        return [v.tolist() for v in vectors]


def _embed_later(session: AsyncSession, kind: str, row_id: uuid.UUID) -> None:
    enqueue_after_commit(
        session, "embed_context", kind, str(row_id), _job_id=f"embed_context:{kind}:{row_id}"
    )


# --- cursors ------------------------------------------------------------------------------


# --- projects -----------------------------------------------------------------------------


def _queue_intent(session: AsyncSession, project: Project) -> None:
    enqueue_after_commit(
        session,
        "analyse_project",
        str(project.id),
        project.text_version,
        _job_id=f"analyse_project:{project.id}:{project.text_version}",
    )


def _set_intent(session: AsyncSession, user: User, project: Project) -> None:
    """Keyword intent at once; Gemini's, with the user's key, in a job."""
    project.intent = analysis.rules_intent(project.title, project.description, project.technologies)
    project.intent_error = None
    if llm.has_ai(get_settings(), user):
        project.intent_status = INTENT_PENDING
        _queue_intent(session, project)
    else:
        project.intent_status = INTENT_SKIPPED


async def create_project(
    session: AsyncSession, user: User, data: ProjectCreate, vectors: Vectors
) -> Project:
    now = utcnow()
    project = Project(
        id=uuid.uuid4(),
        user_id=user.id,
        title=data.title,
        description=data.description,
        technologies=data.technologies,
        status=data.status,
        text_version=1,
        created_at=now,
        updated_at=now,
    )
    embedded = await vectors.of([project_text(data.title, data.description, data.technologies)])
    project.embedding = embedded[0] if embedded else None
    session.add(project)
    _set_intent(session, user, project)
    await session.flush()
    if embedded is None:
        _embed_later(session, "project", project.id)
    return project


async def get_project(session: AsyncSession, user: User, project_id: uuid.UUID) -> Project:
    """The user's project, or 404 exactly as for an id that does not exist."""
    project = await session.scalar(
        select(Project).where(Project.id == project_id, Project.user_id == user.id)
    )
    if project is None:
        raise NotFound("No such project.", code="project_not_found")
    return project


async def list_projects(
    session: AsyncSession,
    user: User,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Project], str | None]:
    """Newest first."""
    query: Select[tuple[Project]] = select(Project).where(Project.user_id == user.id)
    if status:
        query = query.where(Project.status == status)
    if cursor:
        created, after = cursors.decode_keyset(cursor)
        if not isinstance(created, datetime):
            raise Unprocessable("This cursor is not valid here.", code="invalid_cursor")
        query = query.where(tuple_(Project.created_at, Project.id) < tuple_(created, after))
    rows = list(
        await session.scalars(
            query.order_by(Project.created_at.desc(), Project.id.desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode_keyset(rows[-1].created_at, rows[-1].id)
    return rows, next_cursor


async def task_counts(
    session: AsyncSession, project_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int]]:
    """(tasks, done tasks) per project."""
    if not project_ids:
        return {}
    rows = await session.execute(
        select(
            Task.project_id,
            func.count(),
            func.count(case((Task.status == "done", 1))),
        )
        .where(Task.project_id.in_(project_ids))
        .group_by(Task.project_id)
    )
    return {pid: (total, done) for pid, total, done in rows}


async def update_project(
    session: AsyncSession, user: User, project: Project, data: ProjectUpdate, vectors: Vectors
) -> Project:
    await _lock_fresh(session, project, NotFound("No such project.", code="project_not_found"))
    fields = data.model_fields_set
    old_text = project_text(project.title, project.description, project.technologies)
    if "title" in fields and data.title is not None:
        project.title = data.title
    if "description" in fields:
        project.description = data.description
    if "technologies" in fields:
        project.technologies = data.technologies or []
    if "status" in fields and data.status is not None:
        project.status = data.status
    new_text = project_text(project.title, project.description, project.technologies)
    if new_text != old_text:
        project.text_version += 1
        embedded = await vectors.of([new_text])
        project.embedding = embedded[0] if embedded else None
        if embedded is None:
            _embed_later(session, "project", project.id)
        _set_intent(session, user, project)
    project.updated_at = utcnow()
    await session.flush()
    return project


async def delete_project(session: AsyncSession, project: Project) -> None:
    # Tasks and subtasks go with it (ON DELETE CASCADE).
    await session.execute(delete(Project).where(Project.id == project.id))
    session.expunge(project)


# --- ordering -----------------------------------------------------------------------------


async def _lock(session: AsyncSession, model: Any, row_id: uuid.UUID) -> None:
    """Serialise changes to the order of one parent's children."""
    await session.execute(select(model.id).where(model.id == row_id).with_for_update())


async def _lock_fresh(session: AsyncSession, row: Any, not_found: NotFound) -> None:
    """Lock an edited row, with its values read again under the lock, before changing it:
    a request that deleted it after this one read it gives a 404 here, where the UPDATE
    would otherwise match no row (StaleDataError, a 500)."""
    model = type(row)
    locked = await session.scalar(
        select(model)
        .where(model.id == row.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise not_found


async def _insert_at(
    session: AsyncSession, model: Any, parent: Any, parent_id: uuid.UUID, position: int | None
) -> int:
    """Make room at `position` (clamped; None = the end) and return it."""
    count = await session.scalar(select(func.count()).where(parent == parent_id)) or 0
    if position is None or position >= count:
        return int(count)
    await session.execute(
        update(model)
        .where(parent == parent_id, model.position >= position)
        .values(position=model.position + 1)
        .execution_options(synchronize_session=False)
    )
    return position


async def _move(
    session: AsyncSession, model: Any, parent: Any, parent_id: uuid.UUID, row: Any, position: int
) -> None:
    count = await session.scalar(select(func.count()).where(parent == parent_id)) or 1
    position = min(position, int(count) - 1)
    old = row.position
    if position == old:
        return
    if position < old:
        shift = update(model).where(
            parent == parent_id, model.position >= position, model.position < old
        )
        shift = shift.values(position=model.position + 1)
    else:
        shift = update(model).where(
            parent == parent_id, model.position > old, model.position <= position
        )
        shift = shift.values(position=model.position - 1)
    await session.execute(shift.execution_options(synchronize_session=False))
    row.position = position


async def _close_gap(
    session: AsyncSession, model: Any, parent: Any, parent_id: uuid.UUID, position: int
) -> None:
    await session.execute(
        update(model)
        .where(parent == parent_id, model.position > position)
        .values(position=model.position - 1)
        .execution_options(synchronize_session=False)
    )


# --- tasks --------------------------------------------------------------------------------


async def subtasks_of(
    session: AsyncSession, task_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Subtask]]:
    out: dict[uuid.UUID, list[Subtask]] = defaultdict(list)
    if not task_ids:
        return out
    rows = await session.scalars(
        select(Subtask)
        .where(Subtask.task_id.in_(task_ids))
        .order_by(Subtask.task_id, Subtask.position, Subtask.id)
    )
    for row in rows:
        out[row.task_id].append(row)
    return out


async def _add_tasks(
    session: AsyncSession,
    user: User,
    project: Project,
    items: list[TaskCreate],
    vectors: Vectors,
    position: int | None = None,
) -> list[Task]:
    """Create tasks (with their subtasks) in order; their vectors in one batch."""
    await _lock(session, Project, project.id)
    texts = [task_text(t.title, t.description) for t in items]
    texts += [subtask_text(s.title) for t in items for s in t.subtasks]
    embedded = await vectors.of(texts)
    vec = iter(embedded) if embedded is not None else None
    now = utcnow()
    tasks: list[Task] = []
    first = await _insert_at(session, Task, Task.project_id, project.id, position)
    if len(items) > 1 and position is not None:
        # Make room for the rest of the batch after the first.
        await session.execute(
            update(Task)
            .where(Task.project_id == project.id, Task.position > first)
            .values(position=Task.position + len(items) - 1)
            .execution_options(synchronize_session=False)
        )
    for i, item in enumerate(items):
        task = Task(
            id=uuid.uuid4(),
            user_id=user.id,
            project_id=project.id,
            title=item.title,
            description=item.description,
            status=item.status,
            position=first + i,
            embedding=next(vec) if vec else None,
            created_at=now,
            updated_at=now,
        )
        session.add(task)
        tasks.append(task)
    await session.flush()
    for task, item in zip(tasks, items, strict=True):
        for j, sub in enumerate(item.subtasks):
            session.add(
                Subtask(
                    id=uuid.uuid4(),
                    user_id=user.id,
                    task_id=task.id,
                    title=sub.title,
                    done=sub.done,
                    position=j,
                    embedding=next(vec) if vec else None,
                    created_at=now,
                    updated_at=now,
                )
            )
    project.updated_at = now
    await session.flush()
    if vec is None:
        for task in tasks:
            _embed_later(session, "task", task.id)
    return tasks


async def create_task(
    session: AsyncSession, user: User, project: Project, data: TaskCreate, vectors: Vectors
) -> Task:
    (task,) = await _add_tasks(session, user, project, [data], vectors, data.position)
    return task


async def get_task(session: AsyncSession, user: User, task_id: uuid.UUID) -> Task:
    task = await session.scalar(select(Task).where(Task.id == task_id, Task.user_id == user.id))
    if task is None:
        raise NotFound("No such task.", code="task_not_found")
    return task


async def list_tasks(
    session: AsyncSession,
    user: User,
    project: Project,
    *,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> tuple[list[Task], str | None]:
    """In the project's order."""
    query = select(Task).where(Task.user_id == user.id, Task.project_id == project.id)
    if status:
        query = query.where(Task.status == status)
    if cursor:
        position, after = cursors.decode_keyset(cursor)
        if not isinstance(position, int):
            raise Unprocessable("This cursor is not valid here.", code="invalid_cursor")
        query = query.where(tuple_(Task.position, Task.id) > tuple_(position, after))
    rows = list(await session.scalars(query.order_by(Task.position, Task.id).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode_keyset(rows[-1].position, rows[-1].id)
    return rows, next_cursor


async def update_task(
    session: AsyncSession, user: User, task: Task, data: TaskUpdate, vectors: Vectors
) -> Task:
    fields = data.model_fields_set
    moving = "position" in fields and data.position is not None
    if moving:  # the project first, as everything that reorders its tasks locks it
        await _lock(session, Project, task.project_id)
    await _lock_fresh(session, task, NotFound("No such task.", code="task_not_found"))
    old_text = task_text(task.title, task.description)
    if "title" in fields and data.title is not None:
        task.title = data.title
    if "description" in fields:
        task.description = data.description
    if "status" in fields and data.status is not None:
        task.status = data.status
    if moving:
        assert data.position is not None
        await _move(session, Task, Task.project_id, task.project_id, task, data.position)
    new_text = task_text(task.title, task.description)
    if new_text != old_text:
        embedded = await vectors.of([new_text])
        task.embedding = embedded[0] if embedded else None
        if embedded is None:
            _embed_later(session, "task", task.id)
    task.updated_at = utcnow()
    await session.flush()
    return task


async def delete_task(session: AsyncSession, task: Task) -> None:
    await _lock(session, Project, task.project_id)
    await session.refresh(task, ["position"])
    await session.execute(delete(Task).where(Task.id == task.id))
    await _close_gap(session, Task, Task.project_id, task.project_id, task.position)
    session.expunge(task)


# --- subtasks -----------------------------------------------------------------------------


async def create_subtask(
    session: AsyncSession, user: User, task: Task, data: SubtaskCreate, vectors: Vectors
) -> Subtask:
    await _lock(session, Task, task.id)
    embedded = await vectors.of([subtask_text(data.title)])
    position = await _insert_at(session, Subtask, Subtask.task_id, task.id, data.position)
    now = utcnow()
    subtask = Subtask(
        id=uuid.uuid4(),
        user_id=user.id,
        task_id=task.id,
        title=data.title,
        done=data.done,
        position=position,
        embedding=embedded[0] if embedded else None,
        created_at=now,
        updated_at=now,
    )
    session.add(subtask)
    await session.flush()
    if embedded is None:
        _embed_later(session, "subtask", subtask.id)
    return subtask


async def get_subtask(session: AsyncSession, user: User, subtask_id: uuid.UUID) -> Subtask:
    subtask = await session.scalar(
        select(Subtask).where(Subtask.id == subtask_id, Subtask.user_id == user.id)
    )
    if subtask is None:
        raise NotFound("No such subtask.", code="subtask_not_found")
    return subtask


async def list_subtasks(
    session: AsyncSession, user: User, task: Task, *, cursor: str | None = None, limit: int = 100
) -> tuple[list[Subtask], str | None]:
    query = select(Subtask).where(Subtask.user_id == user.id, Subtask.task_id == task.id)
    if cursor:
        position, after = cursors.decode_keyset(cursor)
        if not isinstance(position, int):
            raise Unprocessable("This cursor is not valid here.", code="invalid_cursor")
        query = query.where(tuple_(Subtask.position, Subtask.id) > tuple_(position, after))
    rows = list(
        await session.scalars(query.order_by(Subtask.position, Subtask.id).limit(limit + 1))
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursors.encode_keyset(rows[-1].position, rows[-1].id)
    return rows, next_cursor


async def update_subtask(
    session: AsyncSession, subtask: Subtask, data: SubtaskUpdate, vectors: Vectors
) -> Subtask:
    fields = data.model_fields_set
    moving = "position" in fields and data.position is not None
    if moving:  # the task first, as everything that reorders its subtasks locks it
        await _lock(session, Task, subtask.task_id)
    await _lock_fresh(session, subtask, NotFound("No such subtask.", code="subtask_not_found"))
    if "title" in fields and data.title is not None and data.title != subtask.title:
        subtask.title = data.title
        embedded = await vectors.of([subtask_text(data.title)])
        subtask.embedding = embedded[0] if embedded else None
        if embedded is None:
            _embed_later(session, "subtask", subtask.id)
    if "done" in fields and data.done is not None:
        subtask.done = data.done
    if moving:
        assert data.position is not None
        await _move(session, Subtask, Subtask.task_id, subtask.task_id, subtask, data.position)
    subtask.updated_at = utcnow()
    await session.flush()
    return subtask


async def delete_subtask(session: AsyncSession, subtask: Subtask) -> None:
    await _lock(session, Task, subtask.task_id)
    await session.refresh(subtask, ["position"])
    await session.execute(delete(Subtask).where(Subtask.id == subtask.id))
    await _close_gap(session, Subtask, Subtask.task_id, subtask.task_id, subtask.position)
    session.expunge(subtask)


# --- breakdown ----------------------------------------------------------------------------


async def propose_breakdown(
    session: AsyncSession,
    settings: Settings,
    redis: Any,
    user: User,
    project: Project,
    data: BreakdownRequest,
) -> list[dict[str, Any]]:
    """Gemini's proposed tasks and subtasks, with the user's own key. Nothing is saved."""
    provider = llm.provider_of(settings, user)
    if provider is None:
        raise BadRequest(
            "A breakdown needs an AI: store your Gemini API key (PUT /api/users/me/gemini-key) "
            "or choose another provider in Settings.",
            code="no_gemini_key",
        )
    if not isinstance(provider, llm.Provider):
        raise BadRequest(
            "Your stored AI key can no longer be read; store it again.",
            code="gemini_key_unreadable",
        )
    existing = list(
        await session.scalars(
            select(Task.title)
            .where(Task.user_id == user.id, Task.project_id == project.id)
            .order_by(Task.position)
        )
    )
    prompt = analysis.breakdown_prompt(
        project.title,
        project.description,
        project.technologies,
        existing,
        data.instructions,
        data.max_tasks,
    )
    timeout = settings.gemini_timeout_seconds
    async with analysis.slot(
        redis, user.id, settings, wait=BREAKDOWN_SLOT_WAIT_SECONDS, lease=timeout + 5
    ) as got:
        if not got:
            raise TooManyRequests(
                5,
                "Gemini is busy with your other requests; try again in a few seconds.",
                code="gemini_busy",
            )
        try:
            answer = await analysis.generate(
                settings,
                provider,
                system=analysis.PROJECT_SYSTEM,
                prompt=prompt,
                schema=Breakdown,
                time_limit=timeout,
            )
        except analysis.GeminiError as exc:
            raise _http_error(exc) from exc
    return analysis.breakdown_result(answer, data.max_tasks, existing)


def _http_error(exc: analysis.GeminiError) -> Exception:
    if exc.code in ("gemini_key_invalid", "gemini_forbidden"):
        return BadRequest(exc.message, code=exc.code)
    if exc.code == "gemini_quota_exhausted":
        return TooManyRequests(int(exc.retry_after or 30), exc.message, code=exc.code)
    return ServiceUnavailable(exc.message, code=exc.code)


async def accept_breakdown(
    session: AsyncSession, user: User, project: Project, data: BreakdownAccept, vectors: Vectors
) -> list[Task]:
    return await _add_tasks(session, user, project, data.tasks, vectors)
