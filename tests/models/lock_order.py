"""A shared check for the one lock order: multi-row locks are taken in id order."""

import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from models.experiments import ExperimentCreate, create_experiment
from models.storage import get_sessionmaker, session_scope
from models.tables import Experiment
from tests.factories import experiment_payload, home_project_id


def assert_locks_in_id_order(
    prepare: Callable[[Session, list[uuid.UUID]], None],
    act: Callable[[Session, list[uuid.UUID]], object],
) -> None:
    """`act` waiting for the smallest id's lock holds no other row's lock meanwhile."""
    # Created in the reverse of their id order: a scan in heap order locks the largest first.
    ids = sorted((uuid.uuid4() for _ in range(3)), reverse=True)
    spec = ExperimentCreate.model_validate(experiment_payload())
    with session_scope() as session:
        project_id = home_project_id(session)
        for experiment_id in ids:
            create_experiment(
                session, project_id=project_id, spec=spec, queue="q", experiment_id=experiment_id
            )
        prepare(session, ids)
    holder = get_sessionmaker()()
    try:
        holder.execute(select(Experiment).where(Experiment.id == min(ids)).with_for_update())
        done = threading.Event()

        def run() -> None:
            with session_scope() as session:
                act(session, ids)
            done.set()

        actor = threading.Thread(target=run)
        actor.start()
        with session_scope() as probe:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not probe.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            ):
                time.sleep(0.05)
        assert not done.is_set()
        with session_scope() as probe:
            others = probe.scalars(
                select(Experiment.id)
                .where(Experiment.id.in_(ids[:-1]))
                .with_for_update(skip_locked=True)
            ).all()
            assert sorted(others) == sorted(ids[:-1])
        holder.rollback()
        actor.join(30)
        assert done.is_set()
    finally:
        holder.close()
        with session_scope() as session:
            session.execute(delete(Experiment).where(Experiment.id.in_(ids)))
