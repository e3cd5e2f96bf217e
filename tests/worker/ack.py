"""A database whose COMMIT succeeds and whose acknowledgement is then lost, once."""

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from models.storage import session_scope


class AckLost:
    """`session_scope` whose COMMIT succeeds once and then reports a lost connection."""

    def __init__(self) -> None:
        self.fired = False

    @contextmanager
    def __call__(self) -> Iterator[Session]:
        with session_scope() as session:
            yield session
        if not self.fired:
            self.fired = True
            raise OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))
