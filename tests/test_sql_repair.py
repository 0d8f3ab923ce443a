"""The schema-keyed repair of a forgotten join (tools/sql_repair.py)."""

import sqlglot

from tools.sql_repair import add_missing_joins
from tools.sql_schema import OURS

FORGOT_TRANSACTIONS = (
    "SELECT p.brand, SUM(ti.quantity) AS pieces FROM transaction_items ti "
    "JOIN products p ON p.id = ti.product_id "
    "WHERE t.transaction_date >= date('now', '-30 day') GROUP BY p.brand"
)


def _joins(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="sqlite")
    return {join.sql(dialect="sqlite") for join in tree.args.get("joins", [])}


def test_a_forgotten_table_is_joined_by_its_key():
    fixed = add_missing_joins(FORGOT_TRANSACTIONS, OURS, "sqlite")
    assert fixed is not None
    assert "JOIN transactions AS t ON t.id = ti.transaction_id" in _joins(fixed)
    assert "JOIN products AS p ON p.id = ti.product_id" in _joins(fixed)


def test_the_join_can_run_from_the_other_side():
    sql = "SELECT s.name FROM stores s WHERE t.transaction_date >= '2026-01-01' GROUP BY s.name"
    fixed = add_missing_joins(sql, OURS, "sqlite")
    assert fixed is not None and "JOIN transactions AS t ON t.store_id = s.id" in _joins(fixed)


def test_nothing_is_guessed_when_the_reading_is_not_certain():
    # `name` is a column of many tables: which one `s` meant is not certain.
    assert add_missing_joins("SELECT s.name FROM transactions t", OURS, "sqlite") is None
    # A column no table has is the model's to fix, not ours.
    assert add_missing_joins("SELECT x.nothing FROM stores s", OURS, "sqlite") is None


def test_postgres_reads_the_same():
    fixed = add_missing_joins(
        FORGOT_TRANSACTIONS.replace("date('now', '-30 day')", "CURRENT_DATE - 30"),
        OURS,
        "postgresql",
    )
    assert fixed is not None and "JOIN transactions AS t ON t.id = ti.transaction_id" in fixed


def test_a_sound_query_is_left_alone():
    sql = "SELECT t.id FROM transactions t JOIN stores s ON s.id = t.store_id"
    assert add_missing_joins(sql, OURS, "sqlite") is None
    assert add_missing_joins("not sql at all (", OURS, "sqlite") is None
