"""A route's query parameters read into one typed model, in one validation.

FastAPI validates each declared query parameter on its own, and inspects each one's
annotation again on every request (is it a model, a sequence, JSON, which alias): about 7 µs
a parameter on the 2-core machine, 85 µs of the library list's twelve, where one validation of
the same twelve by a Pydantic model takes 13 µs with its dependency
(bench/overheads.py). The routes that most requests take (the library, search,
recommendations) declare their parameters as a model and depend on `QueryModel(Model)`:

- the query string is validated by the model's compiled validator, once; a parameter given
  twice counts once, its last value, as FastAPI reads it;
- an invalid value is FastAPI's own RequestValidationError, each error at
  ["query", <parameter>], so the answer is the API's 422 as for any other parameter;
- OpenAPI documents the parameters as FastAPI documents a query model, one by one
  (`QueryModel.openapi`, given to the route as `openapi_extra`).

    _LIST = QueryModel(BookmarkQuery)

    @router.get("", openapi_extra=_LIST.openapi)
    async def list_bookmarks(params: Annotated[BookmarkQuery, Depends(_LIST)]): ...
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class QueryModel(Generic[M]):
    """The dependency (`Depends(QueryModel(...))`) and the OpenAPI parameters of one model."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self._validate = model.model_validate
        self.openapi = {"parameters": _documented(model)}

    async def __call__(self, request: Request) -> M:
        try:
            return self._validate(dict(request.query_params))
        except ValidationError as exc:
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in exc.errors(include_url=False)]
            ) from None


def _documented(model: type[BaseModel]) -> list[dict[str, Any]]:
    """The model's fields as FastAPI documents `Annotated[model, Query()]`: what it would say
    of them declared one by one."""

    async def endpoint(params: Any) -> None:
        pass

    # An object, not a string: this module's annotations are strings.
    endpoint.__annotations__["params"] = Annotated[model, Query()]

    spec = get_openapi(title="", version="", routes=[APIRoute("/", endpoint, methods=["GET"])])
    # Only FastAPI's own 422 schemas: a parameter's schema that referred to a component of its
    # own would point at nothing in the app's document.
    if spec.get("components", {}).get("schemas", {}).keys() - _FASTAPIS:
        raise TypeError(f"{model.__name__}: a query parameter's schema refers to a component")
    return spec["paths"]["/"]["get"]["parameters"]  # type: ignore[no-any-return]


_FASTAPIS = {"HTTPValidationError", "ValidationError"}
