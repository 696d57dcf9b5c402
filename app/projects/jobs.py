"""arq jobs of projects: vectors computed in a worker (when the API could not), and the
project's intent read by Gemini with the owner's key."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from arq import Retry
from sqlalchemy import select, update

from app import llm
from app.analysis import service as analysis
from app.analysis.schemas import ProjectIntent
from app.db import bind_system, bind_user, get_for_owner
from app.embeddings.service import embed_cached
from app.events import service as events
from app.projects.models import (
    INTENT_FAILED,
    INTENT_PENDING,
    INTENT_READY,
    INTENT_SKIPPED,
    Project,
    Subtask,
    Task,
)
from app.projects.service import project_text, subtask_text, task_text
from app.users.models import User

log = logging.getLogger("fuze.projects")

MODELS: dict[str, Any] = {"project": Project, "task": Task, "subtask": Subtask}


def _text(kind: str, row: Any) -> str:
    if kind == "project":
        return project_text(row.title, row.description, row.technologies)
    if kind == "task":
        return task_text(row.title, row.description)
    return subtask_text(row.title)


async def embed_context(ctx: dict[str, Any], kind: str, row_id: str) -> str:
    """The vector of a project, task (with its subtasks) or subtask that has none yet."""
    model = MODELS[kind]
    async with ctx["sessionmaker"]() as session:
        row = await get_for_owner(session, model, uuid.UUID(row_id))
        if row is None:
            return "gone"
        rows: list[tuple[Any, Any]] = [(model, row)]
        if kind == "task":
            subtasks = await session.scalars(
                select(Subtask).where(Subtask.task_id == row.id, Subtask.embedding.is_(None))
            )
            rows += [(Subtask, s) for s in subtasks]
        texts = [_text("subtask" if m is Subtask else kind, r) for m, r in rows]
    vectors = [await embed_cached(ctx["embedder"], ctx["redis"], t) for t in texts]
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, row.user_id)
        for (m, r), text, vector in zip(rows, texts, vectors, strict=True):
            current = await session.get(m, r.id, with_for_update=True)
            # Only if the text is still the one embedded (an edit meanwhile queued its own).
            if current is not None and _text("subtask" if m is Subtask else kind, current) == text:
                await session.execute(
                    update(m).where(m.id == r.id).values(embedding=vector.tolist())
                )
        await session.commit()
    return f"embedded {len(rows)}"


async def analyse_project(ctx: dict[str, Any], project_id: str, text_version: int) -> str:
    """The project's intent from Gemini with the owner's key; keywords' intent stays if not."""
    settings = ctx["settings"]
    async with ctx["sessionmaker"]() as session:
        project = await get_for_owner(session, Project, uuid.UUID(project_id))
        if project is None or project.text_version != text_version:
            return "stale"
        if project.intent_status != INTENT_PENDING:
            return "done"
        user = await session.get_one(User, project.user_id)
        provider = llm.provider_of(settings, user)
        title, description, technologies = (
            project.title,
            project.description,
            list(project.technologies),
        )
        user_id = user.id
    if not isinstance(provider, llm.Provider):
        return await _finish(ctx, project_id, text_version, INTENT_SKIPPED, None, None)
    lease = settings.pipeline_job_timeout_seconds + 5
    token = await analysis.try_acquire_slot(
        ctx["redis"], user_id, analysis.background_limit(settings), lease
    )
    if token is None:
        from app.analysis.jobs import busy_delay

        raise Retry(defer=busy_delay(ctx.get("job_try", 1)))
    try:
        answer = await analysis.generate(
            settings,
            provider,
            system=analysis.PROJECT_SYSTEM,
            prompt=analysis.intent_prompt(title, description, technologies),
            schema=ProjectIntent,
            time_limit=max(1.0, min(settings.gemini_timeout_seconds, lease - 8)),
        )
    except analysis.GeminiError as exc:
        tries = ctx.get("job_try", 1)
        if exc.transient and tries < settings.gemini_max_tries:
            from app.analysis.jobs import backoff_seconds

            raise Retry(
                defer=backoff_seconds(tries, exc.retry_after, settings.pipeline_retry_base_seconds)
            ) from exc
        return await _finish(ctx, project_id, text_version, INTENT_FAILED, None, exc.message)
    finally:
        await analysis.release_slot(ctx["redis"], user_id, token)
    intent = analysis.intent_result(answer, technologies)
    return await _finish(ctx, project_id, text_version, INTENT_READY, intent, None)


async def _finish(
    ctx: dict[str, Any],
    project_id: str,
    text_version: int,
    status: str,
    intent: dict[str, Any] | None,
    error: str | None,
) -> str:
    async with ctx["sessionmaker"]() as session:
        project = await get_for_owner(session, Project, uuid.UUID(project_id), with_for_update=True)
        if project is None or project.text_version != text_version:
            return "stale"
        project.intent_status = status
        project.intent_error = error
        if intent is not None:
            project.intent = intent
        await session.commit()
    await events.publish(
        ctx["redis"],
        project.user_id,
        "project.intent",
        {"id": project_id, "intent_status": status, "intent_error": error},
    )
    return status


async def queue_intents(ctx: dict[str, Any], user_id: uuid.UUID) -> int:
    """After a key is stored: read the intent of projects that had none from Gemini."""
    async with ctx["sessionmaker"]() as session:
        await bind_user(session, user_id)
        projects = list(
            await session.scalars(
                select(Project)
                .where(
                    Project.user_id == user_id,
                    Project.intent_status.in_((INTENT_SKIPPED, INTENT_FAILED)),
                )
                .with_for_update()
            )
        )
        for project in projects:
            project.intent_status = INTENT_PENDING
            project.intent_error = None
        await session.commit()
    for project in projects:
        try:
            await ctx["redis"].enqueue_job(
                "analyse_project",
                str(project.id),
                project.text_version,
                _job_id=f"analyse_project:{project.id}:{project.text_version}",
            )
        except Exception:
            log.warning("could not queue a project's intent", exc_info=True)
    return len(projects)


__all__ = ["analyse_project", "embed_context"]


async def sweep_intents(ctx: dict[str, Any], limit: int = 500) -> int:
    """Queue again project intents left pending (a lost job)."""
    from datetime import timedelta

    from app.db import utcnow

    cutoff = utcnow() - timedelta(seconds=ctx["settings"].sweep_stale_seconds)
    async with ctx["sessionmaker"]() as session:
        await bind_system(session)  # every user's pending intents
        rows = (
            await session.execute(
                select(Project.id, Project.text_version)
                .where(Project.intent_status == INTENT_PENDING, Project.updated_at < cutoff)
                .limit(limit)
            )
        ).all()
    for project_id, version in rows:
        try:
            await ctx["redis"].enqueue_job(
                "analyse_project",
                str(project_id),
                version,
                _job_id=f"analyse_project:{project_id}:{version}",
            )
        except Exception:
            break
    return len(rows)
