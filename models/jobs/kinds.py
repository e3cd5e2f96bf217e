"""The contract between the shared job lifecycle and one kind of job.

Every kind of job a worker runs (experiments, range tests, and any kind added later) is a
`JobKind`: the table that holds its lifecycle columns, the Celery task that runs one by id,
and what the kind adds when a job ends, goes back to the queue or gives up. The lifecycle in
`models.jobs.lifecycle` calls these hooks and knows no kind by name; each kind's package
defines its own instance next to its attempts (`models.experiments.EXPERIMENT_JOBS`,
`models.range_tests.RANGE_TEST_JOBS`).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func
from sqlalchemy.orm import Session

from models.tables import Job, JobStatus, JobTable


def end_job(job: Job, *, status: JobStatus, error: str | None = None) -> None:
    """Stamp a locked job's end: its status, error, no lease, the finish time."""
    job.status = status
    if error is not None:
        job.error = error[:4000]
    job.lease_expires_at = None
    job.finished_at = func.now()


@dataclass(frozen=True)
class JobKind:
    """A kind of job: its table, its task, and what it adds at the lifecycle's turns.

    The defaults suit a job that keeps nothing beyond the lifecycle columns; a kind that
    keeps more (a summary, checkpoints, live subscribers) overrides the hooks.
    """

    name: str
    table: JobTable
    task: str

    def close(
        self, session: Session, jobs: Sequence[Job], *, status: JobStatus, error: str | None
    ) -> None:
        """End locked jobs of this kind with `status` (and `error`)."""
        for job in jobs:
            end_job(job, status=status, error=error)

    def requeued(self, session: Session, job: Job) -> None:
        """A locked job of this kind went back to the queue."""

    def last_note(self, job: Job) -> str | None:
        """The running attempt's own account of why it stopped, if it left one."""
        return None
