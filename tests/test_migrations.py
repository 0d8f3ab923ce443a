"""Alembic migrations create exactly the models' schema, on SQLite and PostgreSQL, and undo it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from db.migrate import downgrade, include_object, upgrade
from db.models import TENANT_TABLES
from db.scope import SYSTEM_TABLES

CORE_TABLES = {
    "tenants",
    "companies",
    "stores",
    "reps",
    "products",
    "transactions",
    "transaction_items",
    "tasks",
    "incentives",
    "visits",
    "predictions",
    "orders_eb2b",
}
# tables above companies: never visible in a company session
ABOVE_COMPANIES = {"tenants", "companies", *(model.__tablename__ for model in SYSTEM_TABLES)}


def test_upgrade_matches_the_models(engine):
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": include_object}
        )
        assert compare_metadata(context, SQLModel.metadata) == []
        tables = set(inspect(connection).get_table_names())
    assert tables >= CORE_TABLES
    assert {"users", "messages", "stock_levels", "beat_plans", "promotions"} <= tables


def test_every_table_has_soft_delete_and_uuid_keys(engine):
    inspector = inspect(engine)
    for table in SQLModel.metadata.sorted_tables:
        columns = {c["name"]: c for c in inspector.get_columns(table.name)}
        assert "deleted_at" in columns, table.name
        assert inspector.get_pk_constraint(table.name)["constrained_columns"] == ["id"]
        if table.name not in ABOVE_COMPANIES:
            assert columns["company_id"]["nullable"] is False, table.name


def test_every_table_is_scoped_to_a_company_or_kept_from_company_sessions():
    """A new table must be one or the other: never visible to every company by accident."""
    scoped = {model.__tablename__ for model in TENANT_TABLES}
    assert {t.name for t in SQLModel.metadata.sorted_tables} == scoped | ABOVE_COMPANIES


def test_downgrade_removes_everything_and_upgrade_again_works(engine):
    downgrade(engine)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= CORE_TABLES


def test_postgres_has_brin_and_gist_indexes(postgres_engine):
    upgrade(postgres_engine)
    with postgres_engine.connect() as connection:
        methods = dict(
            connection.execute(
                text(
                    "SELECT i.relname, am.amname FROM pg_index x "
                    "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_am am ON am.oid = i.relam "
                    "WHERE i.relname IN ('ix_transactions_date_brin', 'ix_stores_location_gist')"
                )
            ).all()
        )
        assert methods == {"ix_transactions_date_brin": "brin", "ix_stores_location_gist": "gist"}
        connection.execute(text("SET enable_seqscan = off"))
        plan = "\n".join(
            connection.execute(
                text(
                    "EXPLAIN SELECT id FROM stores "
                    "ORDER BY point(lng, lat) <-> point(73.8, 18.5) LIMIT 5"
                )
            ).scalars()
        )
        assert "ix_stores_location_gist" in plan
