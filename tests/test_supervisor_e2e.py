"""The supervisor's LLM steps with the real bundled model: routing by next-token probabilities,
SQL written for the demo schema and run through the guard, and the coach's rubric."""

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import func, select

from agents.coach import Score, _llm_score, scenarios
from agents.registry import AGENTS
from agents.router import route
from db.demo import load_demo
from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import Product, Role, Transaction, TransactionItem

pytestmark = pytest.mark.e2e


def test_the_model_routes_what_no_rule_decides(bundled_llm):
    cases = [
        (Role.rep, "give me a line to convince a shop owner to keep our new biscuit", "coach"),
        (Role.manager, "kis area mein sabse zyada maal gaya is hafte", "analytics"),
        (Role.retailer, "koi kahani sunao yaar", "other"),
    ]

    async def decide():
        return [await route(text, role, None, bundled_llm, AGENTS) for role, text, _ in cases]

    decisions = asyncio.run(decide())
    assert [d.source for d in decisions] == ["llm"] * 3
    assert [d.intent for d in decisions[:2]] == ["coach", "analytics"]
    # Chit-chat must get a harmless answer (the menu or a polite "other"), never an agent's:
    # since the visits and points agents joined the prompt, the 1.5B model calls this one help.
    assert decisions[2].intent in ("other", "help")
    assert all(0 < d.confidence <= 1 for d in decisions)


def test_the_model_writes_sql_that_answers_a_managers_question(bundled_llm, tmp_path):
    from agents.analytics import ask, sql_prompt

    engine = create_db_engine(f"sqlite:///{tmp_path / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=20, days=30, progress=False).company_id

    async def warm_then_ask():
        # As the server does at start (runtime.warm_prompts): the fixed schema prompt is
        # evaluated once, so a question pays only for itself (cold, ~20 s more on 2 cores).
        await bundled_llm.prepare(sql_prompt(engine))
        return await ask(
            "Which 3 brands sold the most pieces in the last 30 days?",
            engine,
            company_id,
            bundled_llm,
            templates=False,
        )

    answer = asyncio.run(warm_then_ask())
    assert answer.source in ("llm", "repaired") and answer.result is not None, (
        answer.error,
        answer.sql,
    )
    month_ago = datetime.now(ZoneInfo("Asia/Kolkata")).date() - timedelta(days=30)
    with company_session(company_id, engine) as session:
        pieces = func.sum(TransactionItem.quantity)
        top = session.exec(
            select(Product.brand, pieces)
            .join(TransactionItem, TransactionItem.product_id == Product.id)
            .join(Transaction, Transaction.id == TransactionItem.transaction_id)
            .where(Transaction.transaction_date >= month_ago)
            .group_by(Product.brand)
            .order_by(pieces.desc())
            .limit(3)
        ).all()
    assert [row[0] for row in answer.result.rows] == [brand for brand, _ in top]
    engine.dispose()


def test_the_model_scores_a_good_answer_above_a_poor_one(bundled_llm):
    class Context:
        llm = bundled_llm

    scenario = scenarios()[0]
    good = (
        "Haan bhaiya, samajh sakta hoon godown bhara hai. Kaunse items zyada pade hain? "
        "Yeh do fast items 3 din mein nikal jaate hain, sirf 1 case each le lijiye."
    )
    poor = "ok"
    scored = [asyncio.run(_llm_score(Context, scenario, text)) for text in (good, poor)]
    assert all(isinstance(score, Score) for score in scored)
    total = [
        sum(getattr(s, part) for part in ("acknowledge", "probe", "answer", "close"))
        for s in scored
    ]
    assert total[0] > total[1]


def test_the_model_answers_a_question_about_a_database_that_is_not_ours(bundled_llm, tmp_path):
    """The generic path (`opensales eval sql --db URL`): a schema the model has never seen,
    shown as CREATE statements with example rows."""
    from sqlalchemy import text

    from agents.analytics import ask, sql_prompt

    engine = create_db_engine(f"sqlite:///{tmp_path / 'library.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT)"))
        connection.execute(text(
            "CREATE TABLE books (id INTEGER PRIMARY KEY, title TEXT, year INTEGER, "
            "author_id INTEGER REFERENCES authors(id))"))  # fmt: skip
        connection.execute(text("INSERT INTO authors VALUES (1, 'Premchand'), (2, 'Tagore'), "
                                "(3, 'Narayan')"))  # fmt: skip
        connection.execute(text(
            "INSERT INTO books VALUES (1, 'Godaan', 1936, 1), (2, 'Gaban', 1931, 1), "
            "(3, 'Nirmala', 1927, 1), (4, 'Gitanjali', 1910, 2), (5, 'Gora', 1910, 2), "
            "(6, 'Swami and Friends', 1935, 3)"))  # fmt: skip

    async def warm_then_ask():
        await bundled_llm.prepare(sql_prompt(engine))
        return await ask("Which author wrote the most books?", engine, None, bundled_llm)

    answer = asyncio.run(warm_then_ask())
    assert answer.result is not None, (answer.error, answer.sql)
    assert answer.result.rows[0][0] == "Premchand", answer.sql
    engine.dispose()
