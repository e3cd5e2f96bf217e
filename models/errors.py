"""Domain errors; the API maps them to HTTP in one place."""


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFoundError(DomainError):
    """The named resource does not exist."""


class ConflictError(DomainError):
    """The request conflicts with the resource's current state."""


class UnavailableError(DomainError):
    """A backing service (database or broker) cannot be reached."""


class BusyError(DomainError):
    """A bounded shared resource (the plot renderer) is full; the caller retries later."""

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class QuotaError(DomainError):
    """The request would take its project over a quota; nothing was stored."""

    def __init__(self, *, quota: str, limit: int, current: int, detail: str) -> None:
        super().__init__(detail)
        self.quota = quota
        self.limit = limit
        self.current = current


class InvalidInputError(DomainError):
    """A request parameter names something the resource does not have (a 422)."""


class InvalidCursorError(DomainError):
    """A pagination cursor that no page handed out."""


def already_finished(what: str, done: str) -> ConflictError:
    """The 409 for acting on something finished: "experiment … has already been cancelled"."""
    return ConflictError(f"{what} has already {done}")
