"""Hold a worker at a chosen epoch's commit, so a test acts mid-run on any machine's speed."""

import contextlib
import secrets
import uuid
from collections.abc import Callable, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Engine

# Test-only: makes the chosen epoch's metric inserts wait on an advisory lock the test holds.
_HOLD_FUNCTION = """
CREATE OR REPLACE FUNCTION lrlab_test_hold_epoch() RETURNS trigger AS $$
BEGIN
    IF NEW.experiment_id = ANY(string_to_array(TG_ARGV[0], ',')::uuid[])
        AND NEW.epoch = TG_ARGV[1]::int THEN
        PERFORM pg_advisory_xact_lock(TG_ARGV[2]::bigint);
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql
"""

_WAITING = text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
    "AND NOT granted AND classid = 0 AND objid = CAST(:k AS oid)"
)


@contextlib.contextmanager
def epoch_held(engine: Engine, ids: str | list[str], epoch: int) -> Iterator[Callable[[], bool]]:
    """Hold the commit of one epoch of these runs, and yield whether a worker waits on it.

    A trigger makes that epoch's metric inserts wait on an advisory lock this test holds, so
    the epochs before it are committed and this one is not until the block is left: a kill,
    a signal or a page load inside the block lands mid-run however fast the machine trains.
    Leaving releases the lock and drops the trigger.
    """
    held = ",".join(str(uuid.UUID(i)) for i in ([ids] if isinstance(ids, str) else ids))
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
                    f"EXECUTE FUNCTION lrlab_test_hold_epoch('{held}', '{int(epoch)}', '{key}')"
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
