"""The schema comes only from Alembic; it must match the ORM exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from models.storage import Base, get_engine


def test_migrations_match_the_orm(database: str) -> None:
    with get_engine().connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_metric_is_unique_per_experiment_and_epoch(database: str) -> None:
    pk = inspect(get_engine()).get_pk_constraint("metric")
    assert pk["constrained_columns"] == ["experiment_id", "epoch"]
    assert pk["name"] == "pk_metric"


def test_downgrade_to_base_and_upgrade_over_existing_data(database: str) -> None:
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, select, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import Session

    from devtools.servers import drop_database, other_database
    from models.identity import ProjectCreate, create_project
    from models.storage import ROOT, prepare_database
    from models.tables import Experiment
    from tests.factories import create_queued

    url = other_database(database, make_url(database).database + "_migrations")
    prepare_database(url, recreate=True)
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["database_url"] = url
    config.attributes["configure_logger"] = False
    engine = create_engine(url)
    try:

        def store(name: str) -> None:
            with Session(engine) as session, session.begin():
                project = create_project(session, project=ProjectCreate(name=name))
                create_queued(session, project_id=project.id)

        store("tests")
        # One step down and back up again with rows in every table the domain wrote.
        command.downgrade(config, "-1")
        command.upgrade(config, "head")
        with Session(engine) as session:
            assert len(session.scalars(select(Experiment)).all()) == 1
        command.downgrade(config, "base")
        with engine.connect() as conn:
            tables = conn.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            ).all()
        assert set(tables) <= {"alembic_version"}
        command.upgrade(config, "head")
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        store("tests")
        with Session(engine) as session:
            assert len(session.scalars(select(Experiment)).all()) == 1
    finally:
        engine.dispose()
        drop_database(url)
