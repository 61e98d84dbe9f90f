"""`{count, next, previous, results}` pages, with `page` and `page_size` query parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field

T = TypeVar("T")


class Paginated(BaseModel, Generic[T]):
    count: int
    count_exact: bool = Field(default=True, description=(
        "false: `count` is an estimate, because more than 10,000 match (broad product "
        "listings); pages still follow `next` to the end"))
    next: str | None
    previous: str | None
    results: list[T]


@dataclass(frozen=True)
class PageRequest:
    page: int
    size: int
    request: Request

    def envelope(self, count: int, results: list[Any], *, exact: bool = True) -> dict[str, Any]:
        last = max(1, -(-count // self.size))
        return {
            "count": count,
            "count_exact": exact,
            "next": self._link(self.page + 1) if self.page < last else None,
            "previous": self._link(min(self.page - 1, last)) if self.page > 1 else None,
            "results": results,
        }

    def _link(self, page: int) -> str:
        # On PUBLIC_BASE_URL, not the request's Host header: a client's `Host: evil.example`
        # came back as links to evil.example in the answer (and in any cache keyed on the path).
        base = self.request.app.state.runtime.settings.public_base_url.rstrip("/")
        url = self.request.url.include_query_params(page=page)
        return f"{base}{url.path}?{url.query}"


async def page_request(  # no I/O: in the event loop, not the thread pool
    request: Request,
    page: Annotated[int, Query(ge=1, le=100_000, description="1-based page number")] = 1,
    page_size: Annotated[int, Query(ge=1, le=100, description="items per page")] = 20,
) -> PageRequest:
    return PageRequest(page, page_size, request)


PageDep = Annotated[PageRequest, Depends(page_request)]
