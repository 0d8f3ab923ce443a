from pathlib import Path

from settings import Settings


def test_default_is_embedded_sqlite_in_the_data_dir(monkeypatch):
    monkeypatch.delenv("OPENSALES_DATABASE_URL", raising=False)
    monkeypatch.setenv("OPENSALES_DATA_DIR", "/srv/opensales")
    settings = Settings(_env_file=None)
    assert settings.data_dir == Path("/srv/opensales")
    assert settings.sqlalchemy_url == "sqlite:////srv/opensales/opensales.db"
    assert settings.redis_url is None


def test_postgres_urls_get_the_psycopg_driver(monkeypatch):
    monkeypatch.setenv("OPENSALES_DATABASE_URL", "postgresql://app@db:5432/opensales")
    assert Settings(_env_file=None).sqlalchemy_url == "postgresql+psycopg://app@db:5432/opensales"
    monkeypatch.setenv("OPENSALES_DATABASE_URL", "postgres://app@db/opensales")
    assert Settings(_env_file=None).sqlalchemy_url == "postgresql+psycopg://app@db/opensales"
