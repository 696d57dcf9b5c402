from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import CurrentUser, ReadsDep, RedisDep, SessionDep, SettingsDep
from app.errors import (
    BadRequest,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    responses,
)
from app.projects import service
from app.projects.models import Project, Subtask, Task
from app.projects.schemas import (
    BreakdownAccept,
    BreakdownProposal,
    BreakdownRequest,
    CreatedTasks,
    ProjectCreate,
    ProjectOut,
    ProjectPage,
    ProjectStatus,
    ProjectUpdate,
    SubtaskCreate,
    SubtaskOut,
    SubtaskPage,
    SubtaskUpdate,
    TaskCreate,
    TaskOut,
    TaskPage,
    TaskStatus,
    TaskUpdate,
    intent_or_none,
)

router = APIRouter(tags=["projects"], responses=responses(Unauthorized))


async def valid_project(project_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Project:
    return await service.get_project(session, user, project_id)


async def valid_task(task_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Task:
    return await service.get_task(session, user, task_id)


async def valid_subtask(subtask_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Subtask:
    return await service.get_subtask(session, user, subtask_id)


async def get_vectors(request: Request) -> service.Vectors:
    return service.Vectors(getattr(request.app.state, "embedder", None), request.app.state.redis)


ValidProject = Annotated[Project, Depends(valid_project)]
ValidTask = Annotated[Task, Depends(valid_task)]
ValidSubtask = Annotated[Subtask, Depends(valid_subtask)]
VectorsDep = Annotated[service.Vectors, Depends(get_vectors)]


async def _projects_out(session: AsyncSession, projects: list[Project]) -> list[ProjectOut]:
    counts = await service.task_counts(session, [p.id for p in projects])
    out = []
    for p in projects:
        total, done = counts.get(p.id, (0, 0))
        out.append(
            ProjectOut(
                id=p.id,
                title=p.title,
                description=p.description,
                technologies=list(p.technologies),
                status=p.status,  # type: ignore[arg-type]
                intent=intent_or_none(p.intent),
                intent_status=p.intent_status,  # type: ignore[arg-type]
                intent_error=p.intent_error,
                task_count=total,
                done_task_count=done,
                created_at=p.created_at,
                updated_at=p.updated_at,
            )
        )
    return out


async def _tasks_out(session: SessionDep, tasks: list[Task]) -> list[TaskOut]:
    subtasks = await service.subtasks_of(session, [t.id for t in tasks])
    return [
        TaskOut(
            id=t.id,
            project_id=t.project_id,
            title=t.title,
            description=t.description,
            status=t.status,  # type: ignore[arg-type]
            position=t.position,
            subtasks=[SubtaskOut.model_validate(s) for s in subtasks[t.id]],
            created_at=t.created_at,
            updated_at=t.updated_at,
        )
        for t in tasks
    ]


# --- projects -----------------------------------------------------------------------------


@router.post(
    "/projects",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectOut,
    summary="Create a project",
    description="Its text is embedded at once (for recommendations). Its intent (learn, "
    "build, debug or research) is guessed from keywords at once and, if you stored a Gemini "
    "key, read by Gemini in the background (`intent_status` goes `pending` -> `ready`).",
    responses=responses(Unprocessable),
)
async def create_project(
    data: ProjectCreate, user: CurrentUser, session: SessionDep, vectors: VectorsDep
) -> ProjectOut:
    project = await service.create_project(session, user, data, vectors)
    return (await _projects_out(session, [project]))[0]


@router.get(
    "/projects",
    response_model=ProjectPage,
    summary="Your projects, newest first",
    responses=responses(Unprocessable),
)
async def list_projects(
    user: CurrentUser,
    session: SessionDep,
    reads: ReadsDep,
    status_: Annotated[ProjectStatus | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ProjectPage:
    async def page(session: AsyncSession) -> ProjectPage:
        rows, next_cursor = await service.list_projects(
            session, user, status=status_, cursor=cursor, limit=limit
        )
        return ProjectPage(items=await _projects_out(session, rows), next_cursor=next_cursor)

    return await reads.read(user.id, page, session)


@router.get(
    "/projects/{project_id}",
    response_model=ProjectOut,
    summary="One project with its intent and task counts",
    responses=responses(NotFound),
)
async def get_project(
    project_id: uuid.UUID, user: CurrentUser, session: SessionDep, reads: ReadsDep
) -> ProjectOut:
    async def one(session: AsyncSession) -> ProjectOut:
        project = await service.get_project(session, user, project_id)
        return (await _projects_out(session, [project]))[0]

    return await reads.read(user.id, one, session)


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectOut,
    summary="Edit a project (a changed text is embedded and its intent read again)",
    responses=responses(NotFound, Unprocessable),
)
async def update_project(
    data: ProjectUpdate,
    project: ValidProject,
    user: CurrentUser,
    session: SessionDep,
    vectors: VectorsDep,
) -> ProjectOut:
    await service.update_project(session, user, project, data, vectors)
    return (await _projects_out(session, [project]))[0]


@router.delete(
    "/projects/{project_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a project with its tasks and subtasks",
    responses=responses(NotFound),
)
async def delete_project(project: ValidProject, session: SessionDep) -> Response:
    await service.delete_project(session, project)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- breakdown ----------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/breakdown",
    response_model=BreakdownProposal,
    summary="Ask Gemini to propose tasks and subtasks (needs your Gemini key; saves nothing)",
    description="Gemini reads the project (title, description, technologies, the tasks it "
    "already has, and your `instructions`) with **your own key** and proposes tasks, each "
    "with subtasks. Nothing is saved: keep the ones you want, edit them as you like, and "
    "send them to `POST /api/projects/{id}/breakdown/accept` (or create tasks one by one with "
    "`POST /api/projects/{id}/tasks`). Without a stored key the answer is 400 `no_gemini_key`; "
    "a key Gemini refuses is 400 `gemini_key_invalid`; an exhausted quota is 429; Gemini "
    "down, slow or answering nonsense is 503.",
    responses=responses(NotFound, BadRequest, TooManyRequests, ServiceUnavailable, Unprocessable),
)
async def propose_breakdown(
    project: ValidProject,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    redis: RedisDep,
    data: BreakdownRequest | None = None,
) -> BreakdownProposal:
    tasks = await service.propose_breakdown(
        session, settings, redis, user, project, data or BreakdownRequest()
    )
    return BreakdownProposal.model_validate(
        {"project_id": project.id, "tasks": tasks, "model": settings.gemini_model}
    )


@router.post(
    "/projects/{project_id}/breakdown/accept",
    status_code=status.HTTP_201_CREATED,
    response_model=CreatedTasks,
    summary="Add the proposed tasks you keep (with their subtasks) to the project",
    description="Send the tasks of a proposal from `POST /api/projects/{id}/breakdown` that "
    "you keep, edited or not, in order. They are created after the project's existing tasks, "
    "each with its subtasks, and embedded like any task.",
    responses=responses(NotFound, Unprocessable),
)
async def accept_breakdown(
    data: BreakdownAccept,
    project: ValidProject,
    user: CurrentUser,
    session: SessionDep,
    vectors: VectorsDep,
) -> CreatedTasks:
    tasks = await service.accept_breakdown(session, user, project, data, vectors)
    return CreatedTasks(items=await _tasks_out(session, tasks))


# --- tasks --------------------------------------------------------------------------------


@router.post(
    "/projects/{project_id}/tasks",
    status_code=status.HTTP_201_CREATED,
    response_model=TaskOut,
    summary="Add a task (at the end, or at `position`), optionally with subtasks",
    responses=responses(NotFound, Unprocessable),
)
async def create_task(
    data: TaskCreate,
    project: ValidProject,
    user: CurrentUser,
    session: SessionDep,
    vectors: VectorsDep,
) -> TaskOut:
    task = await service.create_task(session, user, project, data, vectors)
    return (await _tasks_out(session, [task]))[0]


@router.get(
    "/projects/{project_id}/tasks",
    response_model=TaskPage,
    summary="The project's tasks in order, each with its subtasks",
    responses=responses(NotFound, Unprocessable),
)
async def list_tasks(
    project_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    reads: ReadsDep,
    status_: Annotated[TaskStatus | None, Query(alias="status")] = None,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> TaskPage:
    async def page(session: AsyncSession) -> TaskPage:
        project = await service.get_project(session, user, project_id)
        rows, next_cursor = await service.list_tasks(
            session, user, project, status=status_, cursor=cursor, limit=limit
        )
        return TaskPage(items=await _tasks_out(session, rows), next_cursor=next_cursor)

    return await reads.read(user.id, page, session)


@router.get(
    "/tasks/{task_id}",
    response_model=TaskOut,
    summary="One task with its subtasks",
    responses=responses(NotFound),
)
async def get_task(
    task_id: uuid.UUID, user: CurrentUser, session: SessionDep, reads: ReadsDep
) -> TaskOut:
    async def one(session: AsyncSession) -> TaskOut:
        task = await service.get_task(session, user, task_id)
        return (await _tasks_out(session, [task]))[0]

    return await reads.read(user.id, one, session)


@router.patch(
    "/tasks/{task_id}",
    response_model=TaskOut,
    summary="Edit a task, or move it (`position`) within its project",
    responses=responses(NotFound, Unprocessable),
)
async def update_task(
    data: TaskUpdate, task: ValidTask, user: CurrentUser, session: SessionDep, vectors: VectorsDep
) -> TaskOut:
    await service.update_task(session, user, task, data, vectors)
    return (await _tasks_out(session, [task]))[0]


@router.delete(
    "/tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a task with its subtasks",
    responses=responses(NotFound),
)
async def delete_task(task: ValidTask, session: SessionDep) -> Response:
    await service.delete_task(session, task)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- subtasks -----------------------------------------------------------------------------


@router.post(
    "/tasks/{task_id}/subtasks",
    status_code=status.HTTP_201_CREATED,
    response_model=SubtaskOut,
    summary="Add a subtask (at the end, or at `position`)",
    responses=responses(NotFound, Unprocessable),
)
async def create_subtask(
    data: SubtaskCreate,
    task: ValidTask,
    user: CurrentUser,
    session: SessionDep,
    vectors: VectorsDep,
) -> SubtaskOut:
    return SubtaskOut.model_validate(
        await service.create_subtask(session, user, task, data, vectors)
    )


@router.get(
    "/tasks/{task_id}/subtasks",
    response_model=SubtaskPage,
    summary="The task's subtasks in order",
    responses=responses(NotFound, Unprocessable),
)
async def list_subtasks(
    task_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    reads: ReadsDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> SubtaskPage:
    async def page(session: AsyncSession) -> SubtaskPage:
        task = await service.get_task(session, user, task_id)
        rows, next_cursor = await service.list_subtasks(
            session, user, task, cursor=cursor, limit=limit
        )
        return SubtaskPage(
            items=[SubtaskOut.model_validate(s) for s in rows], next_cursor=next_cursor
        )

    return await reads.read(user.id, page, session)


@router.get(
    "/subtasks/{subtask_id}",
    response_model=SubtaskOut,
    summary="One subtask",
    responses=responses(NotFound),
)
async def get_subtask(
    subtask_id: uuid.UUID, user: CurrentUser, session: SessionDep, reads: ReadsDep
) -> SubtaskOut:
    async def one(session: AsyncSession) -> SubtaskOut:
        return SubtaskOut.model_validate(await service.get_subtask(session, user, subtask_id))

    return await reads.read(user.id, one, session)


@router.patch(
    "/subtasks/{subtask_id}",
    response_model=SubtaskOut,
    summary="Edit a subtask, tick it off (`done`), or move it (`position`)",
    responses=responses(NotFound, Unprocessable),
)
async def update_subtask(
    data: SubtaskUpdate, subtask: ValidSubtask, session: SessionDep, vectors: VectorsDep
) -> SubtaskOut:
    return SubtaskOut.model_validate(await service.update_subtask(session, subtask, data, vectors))


@router.delete(
    "/subtasks/{subtask_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete a subtask",
    responses=responses(NotFound),
)
async def delete_subtask(subtask: ValidSubtask, session: SessionDep) -> Response:
    await service.delete_subtask(session, subtask)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
