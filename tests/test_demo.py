"""The demo distributor: believable, deterministic, idempotent, seasonal."""

from collections import Counter, defaultdict
from datetime import UTC, date, datetime

import phonenumbers
import pytest
from sqlmodel import func, select

import cli
from db.demo import DemoExistsError, load_demo
from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import (
    BeatPlan,
    OrderEB2B,
    Product,
    Promotion,
    Rep,
    Role,
    StockLevel,
    Store,
    Task,
    Transaction,
    TransactionItem,
    User,
    Visit,
)

END = date(2026, 11, 27)  # a Friday: the demo's "today" is a Saturday, a beat day
TODAY = date(2026, 11, 28)


def test_demo_company_is_believable(engine):
    result = load_demo(engine, stores=60, days=60, end=END, progress=False)
    assert result.loaded
    with company_session(result.company_id, engine) as session:
        products = session.exec(select(Product)).all()
        stores = session.exec(select(Store)).all()
        reps = session.exec(select(Rep)).all()
        assert len(products) >= 120
        aliases = {alias for p in products for alias in p.aliases}
        assert {"parle g", "coke"} <= aliases
        assert all(p.units_per_case > 0 and 0 < p.price_paise <= p.mrp_paise for p in products)

        assert len(stores) == 60 and len(reps) == 10
        assert all(18.3 < s.lat < 18.8 and 73.6 < s.lng < 74.1 for s in stores)
        assert len({s.locality for s in stores}) > 5
        phones = [s.owner_phone for s in stores]
        assert len(set(phones)) == 60
        assert all(phonenumbers.is_valid_number(phonenumbers.parse(p)) for p in phones)
        assert {s.assigned_rep_id for s in stores} <= {r.id for r in reps}
        beats = session.exec(select(BeatPlan)).all()
        assert {b.store_id for b in beats} == {s.id for s in stores}
        assert {b.weekday for b in beats} <= set(range(6))

        roles = Counter(u.role for u in session.exec(select(User)))
        assert roles[Role.retailer] == 60 and roles[Role.rep] == 10 and roles[Role.manager] == 1

        sales = session.exec(select(Transaction)).all()
        assert len(sales) > 0.5 * 60 * 60 / 7  # most weekly beat visits end in an order
        line_totals = dict(
            session.exec(
                select(
                    TransactionItem.transaction_id, func.sum(TransactionItem.line_total_paise)
                ).group_by(TransactionItem.transaction_id)
            ).all()
        )
        assert all(line_totals[s.id] == s.total_paise for s in sales)
        assert min(s.transaction_date for s in sales) >= date(2026, 9, 29)  # 60 days to END

        numbers = session.exec(select(OrderEB2B.order_number).order_by(OrderEB2B.created_at)).all()
        assert numbers == list(range(1001, 1001 + len(numbers))) and numbers
        stock = session.exec(select(StockLevel)).all()
        assert len(stock) == len(products) and any(s.quantity == 0 for s in stock)
        promotions = session.exec(select(Promotion)).all()
        assert any(p.starts_on <= TODAY <= p.ends_on for p in promotions)
        tasks = session.exec(select(Task)).all()
        assert {t.status for t in tasks if t.due_date == TODAY} == {"pending"}
        assert {t.status for t in tasks if t.due_date < TODAY} == {"completed", "missed"}
        visits = {(v.store_id, v.visit_date): v.outcome for v in session.exec(select(Visit))}
        for task in tasks:
            if task.status == "completed":
                assert visits[(task.store_id, task.due_date)] == "order"
        assert all(s.created_at < datetime.now(UTC) for s in sales)
        assert max(s.transaction_date for s in sales) == END
        items = session.exec(select(TransactionItem)).all()
        schemed = [i for i in items if i.line_total_paise < i.quantity * i.unit_price_paise]
        assert schemed, "free goods of the running schemes show in some order lines"


def test_demo_is_idempotent_and_reset_replaces_it(engine):
    first = load_demo(engine, stores=20, days=20, end=END, progress=False)
    again = load_demo(engine, stores=20, days=20, end=END, progress=False)
    assert not again.loaded and again.counts == first.counts
    with pytest.raises(DemoExistsError, match="--reset"):
        load_demo(engine, stores=30, days=20, end=END, progress=False)
    replaced = load_demo(engine, stores=30, days=20, end=END, reset=True, progress=False)
    assert replaced.loaded and replaced.counts["stores"] == 30
    unspecified = load_demo(engine, progress=False)  # `make run` on any later day
    assert not unspecified.loaded and unspecified.counts == replaced.counts


def sales_of(tmp_path, name: str, seed: int) -> list[tuple]:
    engine = create_db_engine(f"sqlite:///{tmp_path / name}")
    upgrade(engine)
    result = load_demo(engine, stores=15, days=30, seed=seed, end=END, progress=False)
    with company_session(result.company_id, engine) as session:
        query = select(Transaction.id, Transaction.total_paise).order_by(Transaction.id)
        rows = session.exec(query).all()
    engine.dispose()
    return rows


def test_demo_is_deterministic_for_a_seed(tmp_path):
    assert sales_of(tmp_path, "a.db", 7) == sales_of(tmp_path, "b.db", 7)
    assert sales_of(tmp_path, "c.db", 7) != sales_of(tmp_path, "d.db", 8)


def test_history_has_weekday_and_festival_seasonality(sqlite_engine):
    upgrade(sqlite_engine)
    result = load_demo(sqlite_engine, stores=80, days=180, end=END, progress=False)
    with company_session(result.company_id, sqlite_engine) as session:
        sales = session.exec(select(Transaction.transaction_date, Transaction.total_paise)).all()
        baskets = session.exec(
            select(Transaction.store_id, TransactionItem.product_id).join(
                TransactionItem, TransactionItem.transaction_id == Transaction.id
            )
        ).all()
    by_weekday, by_day = Counter(), defaultdict(int)
    for day, total in sales:
        by_weekday[day.weekday()] += 1
        by_day[day] += total
    assert by_weekday[6] < 0.3 * by_weekday[2]  # no beats on Sunday, only WhatsApp orders

    def daily(start: date, stop: date) -> float:
        days = [d for d in by_day if start <= d <= stop]
        return sum(by_day[d] for d in days) / len(days)

    diwali_build_up = daily(date(2026, 10, 28), date(2026, 11, 7))
    ordinary = daily(date(2026, 7, 1), date(2026, 7, 31))
    assert diwali_build_up > 1.3 * ordinary

    per_store = defaultdict(set)
    for store_id, product_id in baskets:
        per_store[store_id].add(product_id)
    assert max(len(skus) for skus in per_store.values()) < 60  # habits, not the whole catalog
    assert len({frozenset(s) for s in per_store.values()}) == len(per_store)


def test_cli_demo_twice_loads_once(app_env, capsys):
    args = ["demo", "--stores", "12", "--days", "14", "--end", "2026-11-28", "--quiet"]
    assert cli.main(args) == 0
    assert "Loaded demo company" in capsys.readouterr().out
    assert cli.main(args) == 0
    assert "Already loaded" in capsys.readouterr().out
    assert cli.main([*args, "--seed", "9"]) == 2
