"""Fixtures over real services: a throwaway PostgreSQL database and SQLite files per test, on
a fixed day.

The suite's clock starts at TEST_NOW whatever the date (time-machine moves every Python clock but
the monotonic one, and ticks on from there), so demo data "ending yesterday" is the same data
on every run, and "today", "last week" and WhatsApp's 24-hour window mean the same: a test
once failed on some days and not others. Analytics SQL reads the company's clock, not the
database server's (`tools.sql_guard`), so the databases agree. Server processes a test starts
run on the real clock; no test compares their dates.

PostgreSQL: OPENSALES_TEST_POSTGRES_URL names a server database we may create databases from
(default postgresql://postgres@127.0.0.1:5432/postgres); each test session makes its own
database and drops it at the end. Redis: OPENSALES_TEST_REDIS_URL (default redis://127.0.0.1:6379/0).
"""

import os
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest
import time_machine
from sqlalchemy import Engine, text

from db.engine import create_db_engine, get_engine
from db.migrate import upgrade
from settings import get_settings

POSTGRES_ADMIN_URL = os.environ.get(
    "OPENSALES_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("OPENSALES_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# Servers started by tests must not run the daily jobs by the clock; scheduler tests run them.
os.environ["OPENSALES_SCHEDULER"] = "false"
TEST_NOW = datetime(2026, 12, 4, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))


@pytest.fixture(scope="session", autouse=True)
def fixed_day() -> Iterator[None]:
    with time_machine.travel(TEST_NOW, tick=True):
        yield


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    name = f"opensales_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_ADMIN_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on a schema of its own, so each test starts empty; the schema is dropped after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_db_engine(postgres_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = postgres_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_db_engine(f"{url}?options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_engine(tmp_path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'test.db'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def bare_engine(request) -> Engine:
    """An empty database on each backend: the database layer runs on both."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    """A migrated database on each backend."""
    upgrade(bare_engine)
    return bare_engine


@pytest.fixture
def app_env(tmp_path, monkeypatch) -> Iterator[None]:
    """Settings for code that reads the environment: an embedded data dir of this test's own."""
    monkeypatch.setenv("OPENSALES_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("OPENSALES_DATABASE_URL", raising=False)
    monkeypatch.delenv("OPENSALES_REDIS_URL", raising=False)
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def make_company(engine: Engine, slug: str) -> uuid.UUID:
    from db.engine import system_session
    from db.models import Company, Tenant

    with system_session(engine) as session:
        tenant = Tenant(name=slug, slug=slug)
        session.add(tenant)
        session.flush()
        company = Company(tenant_id=tenant.id, name=slug.title(), slug=slug, city="Pune")
        session.add(company)
        session.commit()
        return company.id


@pytest.fixture
def two_companies(engine: Engine) -> tuple[uuid.UUID, uuid.UUID]:
    return make_company(engine, "alpha"), make_company(engine, "beta")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """Assembled bundled models, shared by the tests of a session (OPENSALES_TEST_MODELS_DIR
    keeps them between sessions)."""
    folder = os.environ.get("OPENSALES_TEST_MODELS_DIR")
    return Path(folder) if folder else tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def small_model_path(models_dir) -> Path:
    from llm.bundled import QWEN_0_5B, assemble

    return assemble(QWEN_0_5B, models_dir)


@pytest.fixture(scope="session")
def bundled_model_path(models_dir) -> Path:
    from llm.bundled import QWEN_1_5B, assemble, verify

    path = assemble(QWEN_1_5B, models_dir)
    verify(path, QWEN_1_5B.sha256)
    return path


@pytest.fixture(scope="session")
def bundled_llm(bundled_model_path):
    """The bundled 1.5B model behind an LLMService, loaded once per test session."""
    import asyncio

    from llm.breaker import CircuitBreaker
    from llm.local import LocalBackend, LocalModelConfig
    from llm.service import LLMService

    backend = LocalBackend(LocalModelConfig(bundled_model_path, n_ctx=4096))
    service = LLMService(backend, CircuitBreaker("e2e-local", 3, 60, 30), timeout_s=60)
    yield service
    asyncio.run(service.close())


@pytest.fixture(scope="session")
def parser():
    """The order parser over the demo catalog."""
    from tools.catalog import demo_parser

    return demo_parser()
