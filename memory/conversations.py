"""Conversation memory: LangGraph checkpoints (the state of each conversation, per thread) and
the long-term store (facts about each user), on PostgreSQL when the database is PostgreSQL,
else in a SQLite file beside the embedded database. Both survive a restart.

PostgreSQL connections come from a pool with what langgraph-checkpoint-postgres needs
(autocommit, dict rows, no prepared statements, so that PgBouncer works too), checked before
use and recycled, so a database restart or an idle-connection cut costs one retry, not the
process.
"""

import logging
import uuid
from dataclasses import dataclass
from typing import Any

import aiosqlite
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.store.base import BaseStore

from settings import Settings

log = logging.getLogger("opensales.memory")


def thread_id(company_id: uuid.UUID | str, channel: str, sender: str) -> str:
    """One thread per (company, channel, sender)."""
    return f"{company_id}:{channel}:{sender}"


@dataclass
class ConversationMemory:
    checkpointer: BaseCheckpointSaver
    store: BaseStore
    _closers: list[Any]

    async def close(self) -> None:
        for closer in self._closers:
            try:
                await closer.close()
            except Exception:  # closing must not fail a shutdown; say so and go on
                log.exception("closing conversation memory failed")


async def open_memory(settings: Settings) -> ConversationMemory:
    url = settings.sqlalchemy_url
    if url.startswith("postgresql"):
        return await _postgres(url.replace("postgresql+psycopg://", "postgresql://", 1))
    return await _sqlite(settings)


async def _postgres(url: str) -> ConversationMemory:
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.store.postgres.aio import AsyncPostgresStore
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    pool = AsyncConnectionPool(
        url,
        open=False,
        min_size=1,
        max_size=8,
        max_lifetime=1800,
        max_idle=300,
        check=AsyncConnectionPool.check_connection,
        kwargs={"autocommit": True, "prepare_threshold": None, "row_factory": dict_row},
    )
    await pool.open(wait=True, timeout=10)
    checkpointer = AsyncPostgresSaver(pool)
    store = AsyncPostgresStore(pool)
    await checkpointer.setup()
    await store.setup()
    return ConversationMemory(checkpointer, store, [pool])


async def _sqlite(settings: Settings) -> ConversationMemory:
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
    from langgraph.store.sqlite.aio import AsyncSqliteStore

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = str(settings.checkpoints_path)
    # Two connections: each class serialises its own work with a lock on its connection.
    saver_connection = await aiosqlite.connect(path)
    store_connection = await aiosqlite.connect(path, isolation_level=None)
    for connection in (saver_connection, store_connection):
        await connection.execute("PRAGMA journal_mode=WAL")
        await connection.execute("PRAGMA busy_timeout=5000")
    checkpointer = AsyncSqliteSaver(saver_connection)
    store = AsyncSqliteStore(store_connection)
    await checkpointer.setup()
    await store.setup()
    return ConversationMemory(checkpointer, store, [saver_connection, store_connection])
