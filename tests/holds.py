"""Hold a worker at a chosen epoch's commit, so a test acts mid-run on any machine's speed."""

import contextlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence

from sqlalchemy import text
from sqlalchemy.engine import Engine

# Test-only: makes the chosen epoch's metric inserts wait on an advisory lock the test holds.
_HOLD_FUNCTION = """
CREATE OR REPLACE FUNCTION lrlab_test_hold_epoch() RETURNS trigger AS $$
BEGIN
    IF NEW.epoch = TG_ARGV[0]::int AND (
        NEW.experiment_id = ANY(string_to_array(TG_ARGV[1], ',')::uuid[])
        OR EXISTS (
            SELECT 1 FROM experiment
            WHERE id = NEW.experiment_id AND name = ANY(string_to_array(TG_ARGV[2], ','))
        )
    ) THEN
        PERFORM pg_advisory_xact_lock(TG_ARGV[3]::bigint);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""

_PLAIN = re.compile(r"[\w\- ]{1,200}")  # spliced into the trigger's arguments
_WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
    "AND NOT granted AND classid = 0 AND objid = CAST(:k AS oid)"
)


@contextlib.contextmanager
def epoch_held(
    engine: Engine, epoch: int, *, ids: Sequence[str] = (), names: Sequence[str] = ()
) -> Iterator[Callable[[], bool]]:
    """Hold the commit of one epoch of these runs, and yield whether a worker waits on it.

    A trigger makes that epoch's metric inserts wait on an advisory lock this test holds, so
    the epochs before it are committed and this one is not until the block is left: a kill,
    a signal or a page load inside the block lands mid-run however fast the machine trains.
    Runs are named by id or, for runs submitted inside the block (a worker may already be
    running), by name. Leaving releases the lock and drops the trigger.
    """
    for name in names:
        assert _PLAIN.fullmatch(name), f"hold a run by a plain name, got {name!r}"
    held_ids = ",".join(str(uuid.UUID(i)) for i in ids)
    key = secrets.randbelow(2**31 - 1) + 1
    trigger = f"hold_{uuid.uuid4().hex[:12]}"
    holder = engine.connect()
    try:
        # The lock first: the trigger never lets an insert through unheld.
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        holder.commit()
        with engine.begin() as conn:
            conn.execute(text(_HOLD_FUNCTION))
            conn.execute(
                text(
                    f"CREATE TRIGGER {trigger} BEFORE INSERT ON metric FOR EACH ROW "
                    f"EXECUTE FUNCTION lrlab_test_hold_epoch('{int(epoch)}', '{held_ids}', "
                    f"'{','.join(names)}', '{key}')"
                )
            )

        def waiting() -> bool:
            with engine.connect() as conn:
                return bool(conn.scalar(_WAITING, {"k": key}))

        yield waiting
    finally:
        # Unlock first: a killed worker's backend then finishes its statement, finds its
        # client gone and rolls back, and the trigger can be dropped.
        holder.execute(text("SELECT pg_advisory_unlock_all()"))
        holder.close()
        with engine.begin() as conn:
            conn.execute(text(f"DROP TRIGGER IF EXISTS {trigger} ON metric"))
