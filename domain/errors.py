"""Domain errors. The API maps each family to one HTTP status in api/errors.py."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a business rule; nothing was changed, unless `saved` says otherwise:
    a command may save and still refuse (a re-priced cart at checkout). `saved` is then
    (application name, log position) of that save, so that the API records it for the
    caller's read-your-writes like any other write."""

    title = "Business rule violated"

    def __init_subclass__(cls, *, title: str | None = None) -> None:
        # An error is declared in one line, its title (the problem's `title`) as an argument.
        super().__init_subclass__()
        if title is not None:
            cls.title = title

    def __init__(self, detail: str, *, field: str | None = None,
                 saved: tuple[str, int | None] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.saved = saved


class NotFoundError(DomainError, title="Not found"): ...


class ConflictError(DomainError, title="Conflict"): ...


class StalePriceError(ConflictError, title="Stale price"): ...


class ConcurrencyError(ConflictError, title="Concurrent update"): ...


class InvalidQuantityError(DomainError, title="Invalid quantity"): ...


class AuthenticationError(DomainError, title="Not authenticated"): ...


class PermissionDeniedError(DomainError, title="Forbidden"): ...


class RateLimitedError(DomainError):
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = max(1, retry_after)


class UpstreamError(DomainError):
    """A service we depend on (a payment provider) failed; nothing changed, retry is safe."""

    title = "Upstream service failed"
