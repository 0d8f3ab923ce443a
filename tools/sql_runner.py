"""Run one guarded query read-only, within a time limit and a row cap.

The guard already allows only reads; the database is told so as well (a READ ONLY transaction on
PostgreSQL, `query_only` on SQLite), so a gap in the guard still cannot write.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, TextClause, Uuid, bindparam, text
from sqlalchemy.exc import DBAPIError

# PostgreSQL's codes for statement_timeout and lock_timeout.
_PG_TIMEOUTS = {"57014", "55P03"}
_SQLITE_CHECK_EVERY = 1000  # virtual machine instructions between deadline checks


class SqlError(Exception):
    """The query did not give a result."""


class SqlTimeout(SqlError):
    """The query ran past its time limit."""


class SqlFailed(SqlError):
    """The database refused the query; `message` is its short error, for one repair by the
    model."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # there were more than the rows returned
    elapsed_s: float


def run_readonly(
    engine: Engine, sql: str, company_id: uuid.UUID | None, timeout_s: float, max_rows: int
) -> QueryResult:
    """Run `sql` (SQLAlchemy text; `:company_id` bound to `company_id` where it appears) and
    return at most `max_rows` rows, as the driver gives them. Nothing is ever committed."""
    statement = text(sql)
    if company_id is not None and "company_id" in statement.compile().params:
        statement = statement.bindparams(bindparam("company_id", company_id, type_=Uuid))
    run = _run_sqlite if engine.dialect.name == "sqlite" else _run_postgres
    with engine.connect() as connection:
        try:
            return run(connection, statement, timeout_s, max_rows)
        finally:
            connection.rollback()


def _run_postgres(
    connection: Connection, statement: TextClause, timeout_s: float, max_rows: int
) -> QueryResult:
    ms = max(1, round(timeout_s * 1000))
    connection.exec_driver_sql("SET TRANSACTION READ ONLY")
    connection.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
    # A cursor makes the planner favour the first 10% of rows (nested loops), which turns an
    # aggregate over a large table from milliseconds into minutes: plan for the whole result.
    connection.exec_driver_sql("SET LOCAL cursor_tuple_fraction = 1.0")
    try:
        # A server-side cursor fetching max_rows + 1 at once: a huge result is never loaded.
        return _fetch(connection.execution_options(yield_per=max_rows + 1), statement, max_rows)
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) in _PG_TIMEOUTS:
            raise SqlTimeout(f"The query ran past {timeout_s:g} s") from error
        raise SqlFailed(_first_line(error)) from error


def _run_sqlite(
    connection: Connection, statement: TextClause, timeout_s: float, max_rows: int
) -> QueryResult:
    raw = connection.connection.dbapi_connection
    deadline = time.monotonic() + timeout_s

    def past_deadline() -> bool:
        return time.monotonic() > deadline  # true interrupts the query

    connection.exec_driver_sql("PRAGMA query_only = ON")
    raw.set_progress_handler(past_deadline, _SQLITE_CHECK_EVERY)
    try:
        return _fetch(connection, statement, max_rows)
    except DBAPIError as error:
        if time.monotonic() > deadline:
            raise SqlTimeout(f"The query ran past {timeout_s:g} s") from error
        raise SqlFailed(_first_line(error)) from error
    finally:
        raw.set_progress_handler(None, 0)
        connection.exec_driver_sql("PRAGMA query_only = OFF")


def _fetch(connection: Connection, statement: TextClause, max_rows: int) -> QueryResult:
    started = time.monotonic()
    result = connection.execute(statement)
    try:
        columns = list(result.keys())
        rows = [tuple(row) for row in result.fetchmany(max_rows + 1)]
    finally:
        result.close()
    return QueryResult(columns, rows[:max_rows], len(rows) > max_rows, time.monotonic() - started)


def _first_line(error: DBAPIError) -> str:
    lines = str(error.orig).strip().splitlines()
    return lines[0] if lines else type(error.orig).__name__
