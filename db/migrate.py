"""Schema migrations through Alembic, without an alembic.ini: the scripts live in db/migrations."""

from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from db.engine import get_engine

# Indexes the initial migration adds on PostgreSQL only (BRIN, GiST over an expression); the
# models cannot express them portably, so autogenerate must not propose dropping them.
POSTGRES_ONLY_INDEXES = {"ix_transactions_date_brin", "ix_stores_location_gist"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic autogenerate filter: skip the PostgreSQL-only indexes."""
    return not (type_ == "index" and name in POSTGRES_ONLY_INDEXES)


@contextmanager
def alembic_config(engine: Engine | None = None) -> Iterator[Config]:
    """An Alembic config that runs on one transaction of `engine` (default: the configured one)."""
    engine = engine or get_engine()
    config = Config()
    config.set_main_option("script_location", "db:migrations")
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # configparser escaping
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        yield config


def upgrade(engine: Engine | None = None, revision: str = "head") -> None:
    """Bring the database schema up to `revision` (default: the newest)."""
    with alembic_config(engine) as config:
        command.upgrade(config, revision)


def downgrade(engine: Engine | None = None, revision: str = "base") -> None:
    with alembic_config(engine) as config:
        command.downgrade(config, revision)


def make_revision(message: str, engine: Engine | None = None) -> None:
    """Write a new migration script from the difference between the models and the database."""
    with alembic_config(engine) as config:
        command.revision(config, message=message, autogenerate=True)
