"""Engines and sessions: the embedded SQLite default or PostgreSQL, from settings."""

import uuid
from functools import lru_cache
from pathlib import Path

from sqlalchemy import Engine, event
from sqlmodel import Session, create_engine

from db.scope import CompanySession
from settings import get_settings


def create_db_engine(url: str) -> Engine:
    """An engine tuned for its backend: WAL and foreign keys on SQLite, pre-ping on PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    engine = create_engine(
        url, pool_pre_ping=True, pool_recycle=1800, connect_args={"connect_timeout": 5}
    )
    event.listen(engine, "connect", _postgres_settings)
    return engine


def _postgres_settings(dbapi_connection, _record) -> None:
    # A statement waiting on a row lock fails after 15 s rather than hanging its worker.
    dbapi_connection.execute("SET lock_timeout = '15s'")
    dbapi_connection.commit()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    return create_db_engine(get_settings().sqlalchemy_url)


def company_session(company_id: uuid.UUID, engine: Engine | None = None) -> CompanySession:
    """A session that sees and changes only this company's live rows: the normal way in."""
    return CompanySession(engine or get_engine(), company_id=company_id)


def system_session(engine: Engine | None = None) -> Session:
    """An unscoped session, for work above companies: creating tenants, demo loads, lookups
    by phone number across companies. Every use is deliberate; grep for it."""
    return Session(engine or get_engine())
