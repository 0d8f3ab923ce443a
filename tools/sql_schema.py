"""What the analytics agent may see of a database: tables, columns, and whether rows are scoped.

Our own schema is exposed through a fixed list (`OURS`) that leaves out people's contact details
and every table that is not sales data; a foreign database is shown as it is (`introspect`), and
to the model as its CREATE statements with three example rows (`foreign_table_info`).
"""

import warnings
from dataclasses import dataclass, field

from sqlalchemy import Engine, inspect

from llm.redact import redact


@dataclass(frozen=True)
class TablePolicy:
    """One table the model may read. `scoped`: rows are limited to the asking company's live rows
    (`company_id = :company_id AND deleted_at IS NULL`), and only `columns` are visible."""

    name: str
    columns: tuple[str, ...]
    scoped: bool
    description: str = ""
    column_notes: dict[str, str] = field(default_factory=dict)


_MONEY = "integer paise; / 100.0 for rupees"


def _ours(name: str, columns: str, description: str, **notes: str) -> TablePolicy:
    return TablePolicy(name, tuple(columns.split()), True, description, notes)


OURS: dict[str, TablePolicy] = {
    p.name: p
    for p in (
        _ours(
            "stores",
            "id code name locality city lat lng channel_type assigned_rep_id "
            "credit_limit_paise is_active created_at",
            "Retail outlets the company sells to.",
            channel_type="kirana/supermarket/chemist/paan/bakery",
            assigned_rep_id="reps.id of the usual rep",
            credit_limit_paise=_MONEY,
            created_at="when the store was added (UTC)",
        ),
        _ours(
            "reps",
            "id code name territory points_balance is_active",
            "Field sales representatives.",
            points_balance="incentive points not yet paid out",
        ),
        _ours(
            "products",
            "id sku name brand category pack_size units_per_case mrp_paise price_paise is_active",
            "The company's catalog.",
            pack_size="size of one piece, e.g. 500g",
            units_per_case="pieces per case",
            mrp_paise=_MONEY + "; printed retail price of one piece",
            price_paise=_MONEY + "; price of one piece to the store",
        ),
        _ours(
            "stock_levels",
            "id product_id warehouse quantity reorder_level",
            "Pieces on hand per product and warehouse.",
            quantity="pieces",
            reorder_level="pieces; reorder at or below this",
        ),
        _ours(
            "transactions",
            "id store_id rep_id transaction_date channel total_paise status",
            "Sales to stores (one row per order).",
            transaction_date="business date of the sale",
            channel="rep/whatsapp/sms/voice/console",
            total_paise=_MONEY,
            status="completed or cancelled",
            rep_id="null if no rep took it",
        ),
        _ours(
            "transaction_items",
            "id transaction_id product_id quantity unit_price_paise line_total_paise",
            "Lines of a sale: one product each.",
            quantity="pieces",
            unit_price_paise=_MONEY,
            line_total_paise=_MONEY,
        ),
        _ours(
            "tasks",
            "id rep_id store_id task_type title priority points due_date status source "
            "completed_at",
            "Daily actions suggested to reps.",
            task_type="reorder, msl_gap, new_launch, collection, ...",
            priority="1 is highest",
            points="incentive points on completion",
            status="pending/completed/missed",
            source="ai or rules",
            completed_at="UTC timestamp, null while open",
        ),
        _ours(
            "incentives",
            "id rep_id task_id points reason earned_on",
            "Incentive points reps earned.",
            earned_on="business date",
        ),
        _ours(
            "visits",
            "id rep_id store_id visit_date checked_in_at checked_out_at distance_m outcome",
            "Rep visits to stores.",
            visit_date="business date",
            checked_in_at="UTC timestamp",
            distance_m="metres from the store at check-in",
            outcome="order/no_order/closed",
        ),
        _ours(
            "orders_eb2b",
            "id order_number store_id transaction_id channel status total_paise "
            "delivery_by created_at",
            "Orders stores placed themselves (WhatsApp, SMS, voice, console).",
            order_number="the number shown to the store",
            transaction_id="the sale it became",
            channel="whatsapp/sms/voice/console",
            status="confirmed/delivered/cancelled",
            total_paise=_MONEY,
            delivery_by="UTC timestamp",
            created_at="UTC timestamp",
        ),
        _ours(
            "beat_plans",
            "id rep_id store_id weekday sequence",
            "Which stores a rep visits on which weekday.",
            weekday="0 = Monday ... 6 = Sunday",
            sequence="order of the visit in the day",
        ),
        _ours(
            "promotions",
            "id code name description product_id brand category min_quantity "
            "discount_pct free_quantity starts_on ends_on is_active",
            "Trade schemes: a discount or free goods on a product, brand or category.",
            min_quantity="pieces to buy",
            discount_pct="percent, e.g. 5.0",
            free_quantity="pieces free per min_quantity",
            starts_on="date",
            ends_on="date",
        ),
        _ours(
            "predictions",
            "id model store_id product_id predicted_for horizon_days value",
            "Model outputs (forecast, stock-out, credit, churn) per store and/or product.",
            model="which model",
            predicted_for="date the value is for",
            horizon_days="days ahead of the prediction date",
        ),
    )
}

_SKIPPED = {"alembic_version"}


def introspect(engine: Engine) -> dict[str, TablePolicy]:
    """Every table and column of the default schema, unscoped: a database that is not ours has
    no company column to scope by, so all of it is the user's."""
    inspector = inspect(engine)
    policies = {}
    for name in inspector.get_table_names():
        if name in _SKIPPED or name.startswith("sqlite_"):
            continue
        columns = tuple(column["name"] for column in inspector.get_columns(name))
        comment = ""
        if inspector.dialect.supports_comments:
            comment = inspector.get_table_comment(name).get("text") or ""
        policies[name] = TablePolicy(name, columns, False, comment)
    return policies


def policies_for(engine: Engine) -> dict[str, TablePolicy]:
    """`OURS` on our own database, else everything `introspect` finds."""
    names = set(inspect(engine).get_table_names())
    if "companies" in names and names >= OURS.keys():
        return OURS
    return introspect(engine)


def foreign_table_info(engine: Engine) -> str:
    """A foreign database as the plain text-to-SQL prompt shows it: each table's CREATE
    statement (types, keys) and three of its rows, from langchain-community's `SQLDatabase`.
    On unfamiliar schemas this layout beat our column lists by about 20 points (issue 15).
    Phone numbers in the rows are masked here, as the LLM service masks them in every prompt
    (so the prompt evaluated ahead is the one asked with)."""
    with warnings.catch_warnings():  # "being sunset": known, and why we keep to one use
        warnings.simplefilter("ignore", DeprecationWarning)
        from langchain_community.utilities import SQLDatabase  # a second to import: only here

    tables = sorted(introspect(engine))
    database = SQLDatabase(engine, include_tables=tables, sample_rows_in_table_info=3)
    return redact(database.get_table_info())
