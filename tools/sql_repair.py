"""Repair the model's most common SQL slip without asking it again: a column qualified by a
table it forgot to join (`t.transaction_date` with no `transactions t`). A 1.5B model told
"no such column" tends to write the same query again; the schema says which join it meant.

Joins follow the schema's key naming: `transaction_items.transaction_id` is `transactions.id`.
Only a join that is the one possible reading is added; anything else is left to the model.
"""

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from tools.sql_guard import DIALECTS
from tools.sql_schema import TablePolicy


def unjoined(tree: exp.Expr) -> dict[str, set[str]]:
    """Each qualifier no FROM, JOIN, CTE or subquery declares, with the columns read through it."""
    declared = {table.alias_or_name for table in tree.find_all(exp.Table)}
    declared |= {cte.alias for cte in tree.find_all(exp.CTE)}
    declared |= {query.alias for query in tree.find_all(exp.Subquery) if query.alias}
    missing: dict[str, set[str]] = {}
    for column in tree.find_all(exp.Column):
        if column.table and column.table not in declared:
            missing.setdefault(column.table, set()).add(column.name)
    return missing


def add_missing_joins(sql: str, policies: dict[str, TablePolicy], dialect: str) -> str | None:
    """The query with each forgotten table joined, or None when any join is not certain."""
    try:
        tree = sqlglot.parse_one(sql, read=DIALECTS[dialect])
    except SqlglotError:
        return None
    if not isinstance(tree, exp.Select) or tree.args.get("with"):
        return None
    missing = unjoined(tree)
    if not missing:
        return None
    present = {table.alias_or_name: table.name for table in tree.find_all(exp.Table)}
    for alias, columns in missing.items():
        owners = [p for p in policies.values() if columns <= set(p.columns)]
        if len(owners) != 1:
            return None
        condition = _key_join(owners[0], alias, present, policies)
        if condition is None:
            return None
        tree = tree.join(exp.to_table(owners[0].name).as_(alias), on=condition)
        present[alias] = owners[0].name
    return tree.sql(dialect=DIALECTS[dialect])


def _key_join(
    table: TablePolicy, alias: str, present: dict[str, str], policies: dict[str, TablePolicy]
) -> str | None:
    """`alias.id = other.<table>_id` or `alias.<other>_id = other.id`, when exactly one fits."""
    found = []
    for other_alias, other_name in present.items():
        other = policies.get(other_name)
        if other is None:
            continue
        if f"{_singular(table.name)}_id" in other.columns and "id" in table.columns:
            found.append(f"{alias}.id = {other_alias}.{_singular(table.name)}_id")
        if f"{_singular(other.name)}_id" in table.columns and "id" in other.columns:
            found.append(f"{alias}.{_singular(other.name)}_id = {other_alias}.id")
    return found[0] if len(found) == 1 else None


def _singular(name: str) -> str:
    return name[:-1] if name.endswith("s") else name
