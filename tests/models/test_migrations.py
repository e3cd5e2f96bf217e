"""The schema comes only from Alembic; it must match the ORM exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from models.db import Base, get_engine


def test_migrations_match_the_orm(database: str) -> None:
    with get_engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_metric_is_unique_per_experiment_and_epoch(database: str) -> None:
    pk = inspect(get_engine()).get_pk_constraint("metric")
    assert pk["constrained_columns"] == ["experiment_id", "epoch"]
    assert pk["name"] == "pk_metric"
