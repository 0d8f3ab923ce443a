"""The RTM data model: the seed's 12 core tables and the ones the product needs beyond them.

Every table has a UUID primary key and a `deleted_at` soft-delete column. Every table that holds
a company's data has `company_id`; `db.scope.CompanySession` filters and guards on it, so no query
written elsewhere needs to remember to. Money is integer paise (64-bit); quantities are pieces.
"""

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Index,
    String,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

# Stable constraint names, so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator):
    """Timestamps in UTC, time-zone aware on the way in and out on every backend (SQLite would
    otherwise hand back naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, _dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value}: give a time zone")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, _dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def json_column() -> Column:
    """JSON everywhere, JSONB on PostgreSQL (indexable, compact)."""
    return Column(JSON().with_variant(JSONB(), "postgresql"), nullable=False)


class Role(StrEnum):
    admin = "admin"
    manager = "manager"
    rep = "rep"
    retailer = "retailer"


class Channel(StrEnum):
    whatsapp = "whatsapp"
    sms = "sms"
    voice = "voice"
    console = "console"
    api = "api"  # the agent API (POST /threads/{id}/runs/...)
    rep = "rep"  # captured by a sales rep during a visit


class Direction(StrEnum):
    inbound = "inbound"
    outbound = "outbound"


class Record(SQLModel):
    """Columns every table has."""

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        sa_column_kwargs={"onupdate": utcnow},
    )
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CompanyRecord(Record):
    """Columns of every row that belongs to one company (a tenant row)."""

    company_id: uuid.UUID = Field(foreign_key="companies.id", index=True)


class Tenant(Record, table=True):
    __tablename__ = "tenants"

    name: str
    slug: str = Field(sa_type=String(64), unique=True)
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


class Company(Record, table=True):
    """A distributor or brand owner; the unit of data isolation."""

    __tablename__ = "companies"

    tenant_id: uuid.UUID = Field(foreign_key="tenants.id", index=True)
    name: str
    slug: str = Field(sa_type=String(64), unique=True)
    city: str
    timezone: str = "Asia/Kolkata"
    currency: str = Field(default="INR", sa_type=String(3))
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


class Rep(CompanyRecord, table=True):
    __tablename__ = "reps"
    __table_args__ = (UniqueConstraint("company_id", "code"),)

    code: str = Field(sa_type=String(64))
    name: str
    phone: str = Field(sa_type=String(20))
    territory: str
    points_balance: int = 0
    is_active: bool = True


class Store(CompanyRecord, table=True):
    __tablename__ = "stores"
    __table_args__ = (UniqueConstraint("company_id", "code"),)

    code: str = Field(sa_type=String(64))
    name: str
    owner_name: str
    owner_phone: str = Field(sa_type=String(20))
    address: str
    locality: str
    city: str
    lat: float
    lng: float
    channel_type: str = "kirana"
    assigned_rep_id: uuid.UUID | None = Field(default=None, foreign_key="reps.id", index=True)
    credit_limit_paise: int = Field(default=0, sa_type=BigInteger)  # 0: no limit set
    credit_days: int = 14  # payment terms: an invoice is due this many days after the sale
    is_active: bool = True


class Product(CompanyRecord, table=True):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("company_id", "sku"),)

    sku: str = Field(sa_type=String(64))
    name: str
    brand: str
    category: str
    pack_size: str
    units_per_case: int
    mrp_paise: int = Field(sa_type=BigInteger)
    price_paise: int = Field(sa_type=BigInteger)  # price of one piece to the retailer
    aliases: list[str] = Field(default_factory=list, sa_column=json_column())
    is_active: bool = True


class StockLevel(CompanyRecord, table=True):
    """Pieces on hand per product and warehouse, for inventory checks before an order."""

    __tablename__ = "stock_levels"
    __table_args__ = (UniqueConstraint("company_id", "product_id", "warehouse"),)

    product_id: uuid.UUID = Field(foreign_key="products.id", index=True)
    warehouse: str = Field(default="MAIN", sa_type=String(64))
    quantity: int
    reorder_level: int = 0


class Transaction(CompanyRecord, table=True):
    """A sale to a store: an order captured by a rep or placed by the retailer."""

    __tablename__ = "transactions"
    __table_args__ = (
        Index("ix_transactions_company_date", "company_id", "transaction_date"),
        UniqueConstraint("company_id", "external_id"),  # a distributor's sale, imported once
    )

    store_id: uuid.UUID = Field(foreign_key="stores.id", index=True)
    rep_id: uuid.UUID | None = Field(default=None, foreign_key="reps.id", index=True)
    transaction_date: date  # business date in the company's time zone
    channel: Channel = Field(default=Channel.rep, sa_type=String(16))
    total_paise: int = Field(sa_type=BigInteger)
    status: str = Field(default="completed", sa_type=String(16))
    external_id: str | None = Field(default=None, sa_type=String(64))  # the distributor's id


class Payment(CompanyRecord, table=True):
    """Money a store paid the distributor, from its own books (`opensales import payments`).
    Paid against the oldest open invoices first (`ml/credit.py`)."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("company_id", "external_id"),)

    store_id: uuid.UUID = Field(foreign_key="stores.id", index=True)
    paid_on: date
    amount_paise: int = Field(sa_type=BigInteger)
    method: str = Field(default="", sa_type=String(32))  # cash, upi, cheque, ...
    external_id: str = Field(sa_type=String(64))  # the distributor's receipt number


class TransactionItem(CompanyRecord, table=True):
    __tablename__ = "transaction_items"

    transaction_id: uuid.UUID = Field(foreign_key="transactions.id", index=True)
    product_id: uuid.UUID = Field(foreign_key="products.id", index=True)
    quantity: int  # pieces
    unit_price_paise: int = Field(sa_type=BigInteger)
    line_total_paise: int = Field(sa_type=BigInteger)


class Task(CompanyRecord, table=True):
    """A daily action for a rep at a store, with the reasoning and pitch behind it.

    Status: pending -> completed | skipped (by the rep, with a reason) | rejected (by a
    manager). `review` is a manager's verdict on a recommended task (accepted or rejected);
    the next night's planning reads both."""

    __tablename__ = "tasks"
    __table_args__ = (
        # the nightly run, resumed after a crash, does not plan the same task twice
        UniqueConstraint("company_id", "rep_id", "store_id", "task_type", "due_date"),
    )

    rep_id: uuid.UUID = Field(foreign_key="reps.id", index=True)
    store_id: uuid.UUID | None = Field(default=None, foreign_key="stores.id", index=True)
    task_type: str = Field(sa_type=String(32))  # reorder, msl_gap, new_launch, collection, ...
    title: str
    reasoning: str = ""
    pitch: str = ""
    priority: int = 3  # 1 highest
    points: int = 10
    due_date: date
    status: str = Field(default="pending", sa_type=String(16))
    source: str = Field(default="rules", sa_type=String(16))  # llm or rules
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    score: float = 0.0  # priority score, 0-100
    drivers: list[str] = Field(default_factory=list, sa_column=json_column())  # top reasons
    products: list[str] = Field(default_factory=list, sa_column=json_column())  # suggested SKUs
    review: str | None = Field(default=None, sa_type=String(16))  # accepted, rejected
    note: str = ""  # the rep's skip reason or the manager's comment


class Incentive(CompanyRecord, table=True):
    """Points a rep earned, for the leaderboard and payouts."""

    __tablename__ = "incentives"
    __table_args__ = (UniqueConstraint("company_id", "task_id"),)  # a task's points, once

    rep_id: uuid.UUID = Field(foreign_key="reps.id", index=True)
    task_id: uuid.UUID | None = Field(default=None, foreign_key="tasks.id", index=True)
    points: int
    reason: str
    earned_on: date


class Visit(CompanyRecord, table=True):
    """A rep at a store, checked in within 100 m of it; at most one open visit per rep."""

    __tablename__ = "visits"
    __table_args__ = (
        Index(
            "ix_visits_one_open_per_rep",
            "company_id",
            "rep_id",
            unique=True,
            postgresql_where=text("checked_out_at IS NULL"),
            sqlite_where=text("checked_out_at IS NULL"),
        ),
    )

    rep_id: uuid.UUID = Field(foreign_key="reps.id", index=True)
    store_id: uuid.UUID = Field(foreign_key="stores.id", index=True)
    visit_date: date
    checked_in_at: datetime = Field(sa_type=UTCDateTime)
    checked_out_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    check_in_lat: float | None = None
    check_in_lng: float | None = None
    distance_m: float | None = None  # from the store at check-in (GPS validation)
    outcome: str = Field(default="order", sa_type=String(16))  # order, no_order, closed
    notes: str = ""


class Prediction(CompanyRecord, table=True):
    """Output of an ML model (forecast, stock-out, credit, churn) for a store and/or product."""

    __tablename__ = "predictions"

    model: str = Field(sa_type=String(32))
    model_version: str = Field(default="", sa_type=String(32))
    store_id: uuid.UUID | None = Field(default=None, foreign_key="stores.id", index=True)
    product_id: uuid.UUID | None = Field(default=None, foreign_key="products.id", index=True)
    predicted_for: date
    horizon_days: int = 0
    value: float
    details: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


class OrderEB2B(CompanyRecord, table=True):
    """An order a retailer placed through a channel (WhatsApp, SMS, voice, console)."""

    __tablename__ = "orders_eb2b"
    __table_args__ = (
        UniqueConstraint("company_id", "order_number"),
        # a message retried after a crash must not order twice
        UniqueConstraint("company_id", "source_message_id"),
    )

    order_number: int  # human number per company: "Order #1234"
    store_id: uuid.UUID = Field(foreign_key="stores.id", index=True)
    transaction_id: uuid.UUID | None = Field(default=None, foreign_key="transactions.id")
    channel: Channel = Field(default=Channel.whatsapp, sa_type=String(16))
    status: str = Field(default="confirmed", sa_type=String(16))
    items: list[dict[str, Any]] = Field(default_factory=list, sa_column=json_column())
    total_paise: int = Field(sa_type=BigInteger)
    delivery_by: datetime | None = Field(default=None, sa_type=UTCDateTime)
    source_message_id: uuid.UUID | None = Field(default=None, foreign_key="messages.id")


class User(CompanyRecord, table=True):
    """Who a phone number is within a company, and what they may do."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("company_id", "phone"),)

    phone: str = Field(sa_type=String(20), index=True)  # E.164
    name: str
    role: Role = Field(sa_type=String(16))
    rep_id: uuid.UUID | None = Field(default=None, foreign_key="reps.id")
    store_id: uuid.UUID | None = Field(default=None, foreign_key="stores.id")
    preferred_language: str = Field(default="en", sa_type=String(8))


class Message(CompanyRecord, table=True):
    """Every inbound and outbound message, stored before it is processed.

    The unique (channel, provider_message_id) key drops provider retries across processes.
    Inbound: received -> processing -> processed (answered), or failed (an API run), or limited
    (over the sender's per-minute limit: kept, not answered). Outbound: queued -> sent | failed.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_message_id"),
        Index("ix_messages_company_sender_created", "company_id", "sender", "created_at"),
        Index("ix_messages_company_recipient_created", "company_id", "recipient", "created_at"),
        Index("ix_messages_status", "status"),
    )

    channel: Channel = Field(sa_type=String(16))
    direction: Direction = Field(sa_type=String(16))
    provider_message_id: str = Field(sa_type=String(255))
    sender: str = Field(sa_type=String(64))
    recipient: str = Field(sa_type=String(64))
    kind: str = Field(sa_type=String(16))  # text, audio, image, location, button, template
    body: str = ""
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    status: str = Field(default="received", sa_type=String(16))
    error: str | None = None
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Conversation(CompanyRecord, table=True):
    """One sender on one channel: what the assistant is waiting for from them (a size to pick,
    a substitute to accept), so that "yes" or a button means something next time."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("company_id", "channel", "sender"),)

    channel: Channel = Field(sa_type=String(16))
    sender: str = Field(sa_type=String(64))
    state: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


class BeatPlan(CompanyRecord, table=True):
    """Which stores a rep visits on which weekday, in which order."""

    __tablename__ = "beat_plans"
    __table_args__ = (UniqueConstraint("company_id", "rep_id", "store_id", "weekday"),)

    rep_id: uuid.UUID = Field(foreign_key="reps.id", index=True)
    store_id: uuid.UUID = Field(foreign_key="stores.id", index=True)
    weekday: int  # 0 = Monday
    sequence: int


class Promotion(CompanyRecord, table=True):
    """A trade scheme: a discount or free goods on a product, brand or category."""

    __tablename__ = "promotions"
    __table_args__ = (UniqueConstraint("company_id", "code"),)

    code: str = Field(sa_type=String(64))
    name: str
    description: str
    product_id: uuid.UUID | None = Field(default=None, foreign_key="products.id")
    brand: str | None = None
    category: str | None = None
    min_quantity: int = 1  # pieces
    discount_pct: float = 0.0
    free_quantity: int = 0  # pieces free per min_quantity bought
    starts_on: date
    ends_on: date
    is_active: bool = True


class AgentThread(CompanyRecord, table=True):
    """A conversation held through the agent API, owned by the token subject that made it;
    its state lives in the LangGraph checkpointer under the same id."""

    __tablename__ = "agent_threads"
    subject: str = Field(sa_type=String(255), index=True)
    role: Role = Field(sa_type=String(16))
    details: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())


class OptOut(CompanyRecord, table=True):
    """A number that texted STOP to a company's SMS number: nothing is sent to it until it texts
    START (which soft-deletes this row; a later STOP brings the row back)."""

    __tablename__ = "opt_outs"
    __table_args__ = (UniqueConstraint("company_id", "channel", "phone"),)

    channel: Channel = Field(sa_type=String(16))
    phone: str = Field(sa_type=String(64))  # E.164


class JobRun(CompanyRecord, table=True):
    """One run of a scheduled job for a company and a slot (its local day, or day and hour for
    jobs that run more often): the unique key makes a second run of the same slot a no-op, and
    a run left `running` by a crash is resumed by the next one."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("company_id", "job", "slot"),)

    job: str = Field(sa_type=String(32))
    slot: str = Field(sa_type=String(32))  # 2026-12-05, or 2026-12-05T08 for 4-hourly jobs
    status: str = Field(default="running", sa_type=String(16))  # running, finished, failed
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    attempts: int = 1
    owner: str = Field(default="", sa_type=String(100))  # host:pid of the process running it
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    error: str | None = None


class Notification(CompanyRecord, table=True):
    """A message a job sends by itself (morning tasks, a stock alert, the digest), keyed so it
    goes once: the key and the queued reply are written in one transaction."""

    __tablename__ = "notifications"
    __table_args__ = (UniqueConstraint("company_id", "key"),)

    key: str = Field(sa_type=String(200))  # e.g. push:2026-12-05:<rep id>
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    message_id: uuid.UUID | None = Field(default=None, foreign_key="messages.id")


class UnroutedMessage(Record, table=True):
    """A message sent to a number no company claims (a dead letter): kept, never answered, until
    the number is given to a company and `opensales unrouted --replay` stores it there. It
    belongs to no company, so company sessions cannot see it."""

    __tablename__ = "unrouted_messages"
    __table_args__ = (UniqueConstraint("channel", "provider_message_id"),)

    channel: Channel = Field(sa_type=String(16))
    provider_message_id: str = Field(sa_type=String(255))
    sender: str = Field(sa_type=String(64))
    recipient: str = Field(sa_type=String(64), index=True)  # the number nobody claims
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=json_column())
    routed_to: uuid.UUID | None = Field(default=None, foreign_key="companies.id")
    routed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


TENANT_TABLES: tuple[type[CompanyRecord], ...] = (
    Rep,
    Store,
    Product,
    StockLevel,
    Transaction,
    Payment,
    TransactionItem,
    Task,
    Incentive,
    Visit,
    Prediction,
    OrderEB2B,
    User,
    Message,
    BeatPlan,
    Promotion,
    Conversation,
    AgentThread,
    OptOut,
    JobRun,
    Notification,
)
