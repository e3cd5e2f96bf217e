"""Domain errors; the API maps them to HTTP in one place."""


class DomainError(Exception):
    """Base of every error the domain raises on purpose."""


class NotFoundError(DomainError):
    """The named resource does not exist."""


class ConflictError(DomainError):
    """The request conflicts with the resource's current state."""


class UnavailableError(DomainError):
    """A backing service (database or broker) cannot be reached."""


class InvalidCursorError(DomainError):
    """A pagination cursor that no page handed out."""
