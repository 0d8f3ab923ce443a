import re
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


def test_every_variable_the_docs_and_deployment_files_name_is_a_setting():
    """A variable named in the README, docs/, the Dockerfile or the compose file that no
    setting reads is silently ignored in production (OPENSALES_N_GPU_LAYERS once was)."""
    root = Path(__file__).resolve().parent.parent
    files = [root / "README.md", root / "Dockerfile", root / "compose.yaml"]
    files += sorted((root / "docs").glob("**/*.md"))
    named = {
        name: path.name
        for path in files
        for name in re.findall(r"OPENSALES_[A-Z0-9_]+", path.read_text())
    }
    settings = {f"OPENSALES_{field.upper()}" for field in Settings.model_fields}
    read_by_tests = set(re.findall(r"OPENSALES_TEST_[A-Z_]+", (root / "tests" / "conftest.py")
                                   .read_text()))  # fmt: skip
    unknown = {name: where for name, where in named.items() if name not in settings | read_by_tests}
    assert unknown == {}, f"not settings: {unknown}"
    assert len(named) > 20  # the files were read
