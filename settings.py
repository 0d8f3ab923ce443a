"""One settings object for the whole server, read from `OPENSALES_*` environment variables.

With nothing set, OpenSales runs embedded: a SQLite file in the data directory and no Redis.
Setting `OPENSALES_DATABASE_URL` and `OPENSALES_REDIS_URL` switches to the real services.
"""

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPENSALES_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where embedded state lives (SQLite file).")
    database_url: str | None = Field(
        None, description="postgresql://user@host/db or sqlite:///path; default: SQLite file."
    )
    redis_url: str | None = Field(None, description="redis://host:port/db; default: no Redis.")
    host: str = Field("127.0.0.1", description="Address `opensales serve` binds to.")
    port: int = Field(8000, description="Port `opensales serve` listens on.")
    log_level: str = Field("info", description="Python logging level.")
    readiness_timeout_s: float = Field(2.0, description="Per-dependency timeout for /readyz.")

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL with the driver SQLAlchemy needs (psycopg 3 for PostgreSQL)."""
        if self.database_url is None:
            return f"sqlite:///{self.data_dir / 'opensales.db'}"
        url = self.database_url
        for prefix in ("postgres://", "postgresql://"):
            if url.startswith(prefix):
                return "postgresql+psycopg://" + url.removeprefix(prefix)
        return url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
