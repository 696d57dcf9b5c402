from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from app.deps import CurrentUser, SessionDep
from app.errors import NotFound, Unauthorized, Unprocessable, responses
from app.feedback import service
from app.feedback.schemas import (
    ContextType,
    FeedbackContext,
    FeedbackCreate,
    FeedbackList,
    FeedbackOut,
)

router = APIRouter(prefix="/feedback", tags=["recommendations"], responses=responses(Unauthorized))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FeedbackOut,
    summary="Say whether a recommended item helps (relevant, irrelevant) or that you used it",
    description="`irrelevant` removes the item from that context's recommendations at once; "
    "`relevant` lifts it and items like it. Relevant and irrelevant replace each other; "
    "the same signal again answers 200 with the existing feedback.",
    responses={200: {"model": FeedbackOut}, **responses(NotFound, Unprocessable)},
)
async def give_feedback(data: FeedbackCreate, user: CurrentUser, session: SessionDep) -> Response:
    row, created = await service.give(session, user, data)
    out = service.to_out(row)
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return JSONResponse(out.model_dump(mode="json"), status_code=code)


@router.get(
    "",
    response_model=FeedbackList,
    summary="Your feedback, for one context or one item",
    responses=responses(NotFound, Unprocessable),
)
async def list_feedback(
    user: CurrentUser,
    session: SessionDep,
    context_type: ContextType | None = None,
    context_id: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    bookmark_id: uuid.UUID | None = None,
) -> FeedbackList:
    context = None
    if context_type is not None or context_id is not None:
        if context_type is None or context_id is None:
            raise Unprocessable("Give both context_type and context_id.", code="invalid_context")
        context = FeedbackContext(type=context_type, id=context_id)
    rows = await service.list_for(session, user, context, bookmark_id)
    return FeedbackList(items=[service.to_out(r) for r in rows])


@router.delete(
    "/{feedback_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Take feedback back",
    responses=responses(NotFound),
)
async def withdraw_feedback(feedback_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> None:
    await service.withdraw(session, user, feedback_id)
