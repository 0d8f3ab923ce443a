"""The analytics agent (seed section 2.4): a manager's question in plain language, the figures
back, with a short explanation, follow-up questions and a chart for trends and rankings.

question -> recognised template, or SQL from the LLM (schema-aware prompt, JSON output)
         -> guard (one read-only SELECT over allowed tables, company scoping injected)
         -> read-only run with a statement timeout and a row cap
         -> on an error, one repair attempt with the database's message
         -> figures, explanation, follow-ups, chart

Safety never depends on the model: `tools/sql_guard.py` decides what may run and scopes every
table to the asking company; `tools/sql_runner.py` runs it read-only. The explanation is made
from the result itself, so no figure in it can be invented.
"""

import asyncio
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Engine

from agents.context import AgentContext, ChatState
from agents.spec import AgentSpec
from agents.tasks import at_risk, needs
from db.engine import company_session
from db.models import Company, Role
from llm.breaker import LLMUnavailable
from llm.client import LLMError
from llm.service import LLMService
from messages import Button, OutboundMessage
from ml.routing import RoutingError
from phrases import (
    CHANGE_ASKS,
    DATA_WORDS,
    DELIVERY_ASKS,
    FIGURE_ASKS,
    NEEDS_ASKS,
    RISK_ASKS,
)
from prompts import prompt
from tools.analytics_templates import match_template, period_of
from tools.charts import render_chart, render_routes_map
from tools.deliveries import plan_deliveries
from tools.sql_guard import SqlRejected, guard, restore_names
from tools.sql_repair import add_missing_joins
from tools.sql_runner import QueryResult, SqlFailed, SqlTimeout, run_readonly
from tools.sql_schema import OURS, TablePolicy, foreign_table_info, policies_for

EXAMPLES = Path(__file__).parents[1] / "prompts" / "analytics_examples.jsonl"
EXAMPLES_SHOWN = 3
# A query is a long answer (up to 320 tokens, 15-25 s on 2 cores): the breaker's 10 s rule
# for short answers would open on a healthy model.
SQL_TIMEOUT_S = 45.0
SQL_MAX_TOKENS = 320
SHOWN_ROWS = 10
LONGEST_QUESTION = 500  # what the SQL prompt takes of a question
RATIO = re.compile(r"pct|percent|rate|ratio|share|avg|average|per_", re.IGNORECASE)
SQL_PROMPT = prompt("analytics_sql")
FOREIGN_SQL_PROMPT = prompt("analytics_sql_foreign")
STARTERS = ["Top 5 stores last week", "Sales trend this month", "Strike rate by rep last week"]


class SqlAnswer(BaseModel):
    sql: str


@dataclass
class Answer:
    """What the agent found: the figures and how it got them."""

    question: str
    sql: str = ""
    result: QueryResult | None = None
    source: str = ""  # template | llm | repaired
    error: str = ""  # why there is no result (a message for the manager)
    error_code: str = ""  # REJECTED | FAILED | TIMEOUT | NO_SQL | LLM_DOWN
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


@lru_cache
def examples() -> tuple[dict, ...]:
    return tuple(json.loads(line) for line in EXAMPLES.read_text().splitlines() if line)


@lru_cache
def _example_vectors():
    from memory.embeddings import Embedder

    embedder = Embedder()
    return embedder, np.array(embedder([e["question"] for e in examples()]))


def similar_examples(
    question: str, dialect: str, count: int = EXAMPLES_SHOWN, leave_out_same: bool = False
) -> list[dict]:
    """The worked examples whose questions mean the most nearly the same (MiniLM cosine)."""
    embedder, vectors = _example_vectors()
    scores = vectors @ np.array(embedder([question])[0])
    chosen = []
    for index in np.argsort(-scores):
        example = examples()[int(index)]
        if leave_out_same and example["question"].strip().lower() == question.strip().lower():
            continue
        chosen.append({"question": example["question"], "sql": example[dialect]})
        if len(chosen) == count:
            break
    return chosen[::-1]  # the closest last, next to the question


@lru_cache(maxsize=8)
def company_now(engine: Engine, company_id: uuid.UUID) -> datetime:
    """The time where the company is."""
    with company_session(company_id, engine) as session:
        company = session.get(Company, company_id)
        return datetime.now(ZoneInfo(company.timezone if company else "Asia/Kolkata"))


def schema_policies(engine: Engine) -> dict[str, TablePolicy]:
    """What the analytics SQL may read of this database (our schema, or a foreign one)."""
    return policies_for(engine)


def sql_prompt(engine: Engine) -> str:
    """The SQL prompt's fixed part for this database (schema and rules): the same for every
    question, so it is evaluated once and reused (`LLMService.prepare`)."""
    if schema_policies(engine) is OURS:
        return SQL_PROMPT.render(dialect=engine.dialect.name, tables=list(OURS.values()))
    return _foreign_prompt(engine)


@lru_cache(maxsize=8)
def _foreign_prompt(engine: Engine) -> str:
    """A foreign database's CREATE statements and example rows (read once per engine)."""
    schema = foreign_table_info(engine)
    return FOREIGN_SQL_PROMPT.render(dialect=engine.dialect.name, schema=schema)


def question_prompt(
    question: str, policies: dict[str, TablePolicy], dialect: str, leave_out_same: bool = False
) -> str:
    """The question, after the closest worked examples (for our schema)."""
    shown = (
        similar_examples(question, dialect, leave_out_same=leave_out_same)
        if policies is OURS
        else []
    )
    return prompt("analytics_question").render(examples=shown, question=question[:LONGEST_QUESTION])


async def ask(
    question: str,
    engine: Engine,
    company_id: uuid.UUID | None,
    llm: LLMService | None,
    *,
    timeout_s: float = 5.0,
    max_rows: int = 500,
    templates: bool = True,
    leave_out_same: bool = False,
    now: datetime | None = None,
) -> Answer:
    """Answer `question` from the database: a template when one fits, else the LLM's SQL.
    The company's local time (`now`, by default read from its time zone) stands for the
    database's clock in the SQL: "yesterday" is the company's business day."""
    started = time.perf_counter()
    dialect = engine.dialect.name
    policies = schema_policies(engine)
    if now is None and company_id is not None and policies is OURS:
        now = await asyncio.to_thread(company_now, engine, company_id)
    answer = Answer(question)
    template = match_template(question, dialect) if templates and policies is OURS else None
    if template is not None:
        answer.sql, answer.source = template.sql, "template"
        if not template.period_named:
            answer.notes.append(f"No period given: I used {template.period.label}.")
    elif llm is None:
        answer.error_code, answer.error = "LLM_DOWN", "free-form questions are off here"
    else:
        asked = await asyncio.to_thread(
            question_prompt, question, policies, dialect, leave_out_same
        )  # embeds: off the event loop
        messages = [
            {"role": "system", "content": await asyncio.to_thread(sql_prompt, engine)},
            {"role": "user", "content": asked},
        ]
        written = await _write_sql(llm, messages, answer, dialect, _prompt_id(policies))
        answer.sql, answer.source = written, "llm"
        if not answer.sql and not answer.error_code:
            answer.error_code = "NO_SQL"
            answer.error = "I could not turn that into a question about the sales data"
        if answer.sql and answer.source == "llm" and not period_of(question.lower())[1]:
            answer.notes.append("No period given: I used the last 30 days where it mattered.")
    if answer.sql:
        await _run(
            answer,
            engine,
            company_id,
            policies,
            dialect,
            llm,
            timeout_s,
            max_rows,
            messages=None if template else messages,
            now=now,
        )
    answer.seconds = time.perf_counter() - started
    return answer


def _prompt_id(policies: dict[str, TablePolicy]) -> str:
    """Which prompt the SQL was asked with, for the log."""
    return (SQL_PROMPT if policies is OURS else FOREIGN_SQL_PROMPT).id


async def _write_sql(
    llm: LLMService, messages: list[dict], answer: Answer, dialect: str, prompt_id: str
) -> str:
    try:
        reply = await llm.complete_json(
            messages,
            SqlAnswer,
            prompt=prompt_id,
            max_tokens=SQL_MAX_TOKENS,
            timeout_s=SQL_TIMEOUT_S,
            slow_s=SQL_TIMEOUT_S,
        )
    except LLMUnavailable:
        answer.error_code, answer.error = "LLM_DOWN", "my language model is down for a moment"
        return ""
    except LLMError as exc:
        answer.error_code, answer.error = "NO_SQL", f"the model gave no usable SQL ({exc})"
        return ""
    sql = reply.sql.strip().rstrip(";").strip()
    if llm.restore(sql) != sql:  # the model filtered on a redacted name: the real one runs
        sql = restore_names(sql, llm.restore, dialect)
    return sql


async def _run(
    answer: Answer,
    engine: Engine,
    company_id: uuid.UUID | None,
    policies: dict[str, TablePolicy],
    dialect: str,
    llm: LLMService | None,
    timeout_s: float,
    max_rows: int,
    messages: list[dict] | None,
    now: datetime | None,
) -> None:
    """Guard and run the SQL; on a rejection or a database error, one repair by the LLM.
    A table the model forgot to join is joined first, by the schema's keys."""
    for attempt in range(2):
        if (joined := add_missing_joins(answer.sql, policies, dialect)) is not None:
            answer.sql, answer.source = joined, "repaired"
        try:
            guarded = guard(answer.sql, policies, dialect, read=dialect, now=now)
            answer.result = await asyncio.to_thread(
                run_readonly, engine, guarded.sql, company_id, timeout_s, max_rows
            )
            answer.error = answer.error_code = ""
            return
        except SqlTimeout:
            answer.error_code = "TIMEOUT"
            answer.error = (
                f"the query took longer than {timeout_s:g} s; ask for a shorter "
                "period or a narrower question"
            )
            return
        except SqlRejected as exc:
            answer.error_code, answer.error = "REJECTED", exc.message
            problem = f"{exc.code}: {exc.message}"
        except SqlFailed as exc:
            answer.error_code, answer.error = "FAILED", exc.message
            problem = exc.message
        if attempt or messages is None or llm is None:
            return
        repair = messages + [
            {"role": "assistant", "content": json.dumps({"sql": answer.sql})},
            {
                "role": "user",
                "content": f"That query failed: {problem[:300]}\nWrite a corrected "
                "query that answers the same question.",
            },
        ]
        fixed = await _write_sql(llm, repair, answer, dialect, _prompt_id(policies))
        if not fixed:
            return
        answer.sql, answer.source = fixed, "repaired"


# -- the reply -------------------------------------------------------------------------------


def _number(value) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def _text(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal | float):
        return f"{float(value):,.2f}".rstrip("0").rstrip(".")
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    return str(value)


def _looks_like_time(value) -> bool:
    if isinstance(value, date | datetime):
        return True
    return isinstance(value, str) and bool(re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", value))


def shape(result: QueryResult) -> str:
    """trend, ranking, figure(s), table or empty: what the result is, for the reply."""
    if not result.rows:
        return "empty"
    numeric = [i for i in range(len(result.columns)) if _number(result.rows[0][i]) is not None]
    if len(result.rows) == 1:
        return "figures"
    if len(result.rows) >= 3 and _looks_like_time(result.rows[0][0]) and numeric:
        return "trend"
    if numeric and _number(result.rows[0][0]) is None:
        values = [_number(row[numeric[-1]]) or 0.0 for row in result.rows]
        if values == sorted(values) or values == sorted(values, reverse=True):
            return "ranking"  # labels in the order of their figures
    return "table"


def _value_column(result: QueryResult) -> int:
    """The figure to chart and talk about: the last numeric column (sales after counts)."""
    numeric = [i for i in range(len(result.columns)) if _number(result.rows[0][i]) is not None]
    return numeric[-1]


def explain(answer: Answer) -> str:
    result = answer.result
    assert result is not None, "only an answer with a result is explained"
    kind = shape(result)
    if kind == "empty":
        return "No rows match that question."
    if kind == "figures":
        return "; ".join(
            f"{column.replace('_', ' ')}: {_text(value)}"
            for column, value in zip(result.columns, result.rows[0], strict=True)
        )
    if kind == "table":  # a list (stores not ordering) or figures in no order worth telling
        return f"{len(result.rows)} rows{' (the first ones read)' if result.truncated else ''}."
    value = _value_column(result)
    name = result.columns[value].replace("_", " ")
    numbers = [_number(row[value]) or 0.0 for row in result.rows]
    if kind == "trend":
        first, last = numbers[0], numbers[-1]
        peak = max(range(len(numbers)), key=numbers.__getitem__)
        change = f" ({(last - first) / first * 100:+.0f}%)" if first else ""
        return (
            f"{name} went from {_text(result.rows[0][value])} on {_text(result.rows[0][0])}"
            f" to {_text(result.rows[-1][value])} on {_text(result.rows[-1][0])}{change}; "
            f"the highest was {_text(result.rows[peak][value])} on "
            f"{_text(result.rows[peak][0])}."
        )
    total = sum(numbers)  # a ranking
    additive = not RATIO.search(result.columns[value])  # shares of rates mean nothing
    share = (
        f", {numbers[0] / total * 100:.0f}% of the {len(numbers)} shown"
        if total and additive
        else ""
    )
    return (
        f"{_text(result.rows[0][0])} is first with {name} {_text(result.rows[0][value])}"
        f"{share}; {_text(result.rows[-1][0])} is last of these with "
        f"{_text(result.rows[-1][value])}."
    )


def table_text(result: QueryResult) -> str:
    header = " | ".join(column.replace("_", " ") for column in result.columns)
    rows = [" | ".join(_text(value) for value in row) for row in result.rows[:SHOWN_ROWS]]
    more = len(result.rows) - SHOWN_ROWS
    tail = (
        [f"…and {more} more rows" + (" (capped)" if result.truncated else "")] if more > 0 else []
    )
    return "\n".join([header, *rows, *tail])


def follow_ups(answer: Answer) -> list[tuple[str, str]]:
    """Two or three (button title, question) to ask next, from the shape of the answer."""
    question = answer.question.rstrip("?. ")
    kind = shape(answer.result) if answer.result else "empty"
    if kind == "ranking":
        return [
            ("Same, week before", f"{question}, for the 7 days before last week"),
            ("Bottom 5 instead", f"{question}, but the bottom 5"),
            ("Weekly trend", "Weekly sales trend for the last 8 weeks"),
        ]
    if kind == "trend":
        return [
            ("Top stores", "Top 10 stores by sales last 30 days"),
            ("By category", "Sales by category last 30 days"),
            ("Compare last month", "Sales by category last month"),
        ]
    return [
        ("Top stores", "Top 10 stores by sales last week"),
        ("Sales trend", "Daily sales trend for the last 14 days"),
        ("Stores not ordering", "Stores that have not ordered in 14 days"),
    ]


def replies(answer: Answer) -> list[OutboundMessage]:
    """The figures, the explanation, the follow-ups, and a chart for a trend or a ranking."""
    if answer.result is None:
        return [
            OutboundMessage(
                text=_failure_text(answer),
                buttons=[Button(id=f"analytics:{q}", title=t) for t, q in follow_ups(answer)],
            )
        ]
    result = answer.result
    notes = "\n".join(answer.notes)
    capped = f"\n(Only the first {len(result.rows)} rows were read.)" if result.truncated else ""
    text = f"{explain(answer)}{capped}\n\n{table_text(result)}" + (f"\n\n{notes}" if notes else "")
    buttons = [Button(id=f"analytics:{q[:240]}", title=t) for t, q in follow_ups(answer)]
    messages = [OutboundMessage(text=text, buttons=buttons, options_title="Ask next")]
    kind = shape(result)
    if kind in ("trend", "ranking") and len(result.rows) >= 2:
        value = _value_column(result)
        chart = render_chart(
            kind,
            [_text(row[0]) for row in result.rows],
            [_number(row[value]) or 0.0 for row in result.rows],
            answer.question,
            result.columns[value].replace("_", " "),
        )
        messages.insert(0, OutboundMessage(image=chart, image_caption=answer.question[:1000]))
    return messages


def _failure_text(answer: Answer) -> str:
    if answer.error_code == "LLM_DOWN":
        return (
            f"I can't answer free-form questions right now ({answer.error}). These work "
            'without it: "top 5 stores last week", "sales yesterday", "sales this week '
            'by rep", "sales trend this month", "strike rate by rep last week", "stores '
            'not ordering for 14 days".'
        )
    if answer.error_code == "TIMEOUT":
        return f"That took too long: {answer.error}."
    if answer.error_code == "NO_SQL":
        return (
            "I couldn't answer that from the sales data. I can answer questions about "
            "sales, stores, products, reps, visits, stock, schemes and tasks."
        )
    return f"I couldn't answer that: {answer.error}. Try asking it another way."


# -- the graph node --------------------------------------------------------------------------


async def answer(ctx: AgentContext, state: ChatState) -> dict:
    choice = state.get("choice") or ""
    if choice.startswith("menu:"):
        ctx.say(
            "Ask me about your sales, e.g.:\n" + "\n".join(f"• {q}" for q in STARTERS),
            buttons=[Button(id=f"analytics:{q}", title=q[:20]) for q in STARTERS],
        )
        return {"active": None}
    question = (
        choice.removeprefix("analytics:")
        if choice.startswith("analytics:")
        else state.get("text", "")
    )
    if len(question) > LONGEST_QUESTION:
        ctx.say(
            "That message is too long for one question: please ask it in a sentence or two "
            f"(up to {LONGEST_QUESTION} characters)."
        )
        return {"active": None}
    if CHANGE_ASKS.search(question):
        ctx.say(
            "I only read the data for reports: I can't change or delete anything. Orders are "
            "changed in the retailer's or rep's chat; the catalogue, stock, prices and schemes "
            "by an admin (import or the admin API)."
        )
        return {"active": None}
    if DELIVERY_ASKS.search(question):
        await asyncio.to_thread(_deliveries, ctx)
        return {"active": None}
    if RISK_ASKS.search(question):
        at_risk(ctx, None)
        return {"active": None}
    if NEEDS_ASKS.search(question):
        needs(ctx, None, question)
        return {"active": None}
    if not DATA_WORDS.search(question):
        ctx.say(
            "Which figures do you need, and for which period? For example:",
            buttons=[Button(id=f"analytics:{q}", title=q[:20]) for q in STARTERS],
        )
        return {"active": None}
    found = await ask(
        question,
        ctx.engine,
        ctx.company_id,
        ctx.llm,
        timeout_s=ctx.settings.analytics_timeout_s,
        max_rows=ctx.settings.analytics_max_rows,
    )
    ctx.replies.extend(await asyncio.to_thread(replies, found))  # the chart is drawn off the loop
    return {
        "active": None,
        "analytics": {
            "question": question,
            "sql": found.sql,
            "source": found.source,
            "error": found.error_code,
        },
    }


def _deliveries(ctx: AgentContext) -> None:
    """Tomorrow's confirmed orders as vehicle routes, with a map."""
    company = ctx.session.get(Company, ctx.company_id)
    zone = ZoneInfo(company.timezone if company else "Asia/Kolkata")
    day = datetime.now(zone).date() + timedelta(days=1)
    try:
        plan = plan_deliveries(ctx.session, day)
    except RoutingError as exc:
        ctx.say(f"I could not plan the deliveries for {day:%a %d %b}: {exc}.")
        return
    if not plan.orders:
        ctx.say(f"No confirmed orders are due for delivery on {day:%a %d %b}.")
        return
    stores = sum(len(r.drops) for r in plan.routes)
    lines = [
        f"Deliveries for {day:%a %d %b}: {plan.orders} orders to {stores} stores, "
        f"{len(plan.routes)} vehicle(s), about {plan.km:.1f} km."
    ]
    for route in plan.routes:
        stops = "; ".join(
            f"{drop.arrive:%H:%M} {drop.store.name} "
            f"({', '.join(f'#{n}' for n in drop.orders)}, {drop.cases} cs)"
            for drop in route.drops
        )
        lines.append(
            f"{route.name} ({route.load}/{route.capacity} cases, back {route.back:%H:%M}): {stops}"
        )
    lines += [f"Not on a route: {store.name}: {why}" for store, why in plan.left_out]
    lines += [f"Note: {note}" for note in plan.notes]
    chart = None
    if plan.routes:
        chart = render_routes_map(
            plan.depot,
            [[(d.store.lat, d.store.lng) for d in route.drops] for route in plan.routes],
            [(s.lat, s.lng) for s, _ in plan.left_out if s.lat or s.lng],
            f"Deliveries {day:%d %b}",
        )
    ctx.reply(
        OutboundMessage(text="\n".join(lines), image=chart, image_caption=f"Deliveries {day:%d %b}")
    )


SPEC = AgentSpec(
    name="analytics",
    answer=answer,
    roles=frozenset({Role.manager, Role.admin}),
    description="questions about sales figures: totals, top or bottom stores/products/reps, "
    "growth, trends, coverage, stock levels, who did not order.",
    examples=((Role.manager, "which 5 stores bought the most last week"),),
    keywords=FIGURE_ASKS,
    commands=("/analytics", "/report"),
    usual_for=frozenset({Role.manager, Role.admin}),
    menu=("Sales report", 'sales questions: "top 5 stores last week"'),
    denied="Company sales reports are for your distributor's managers.",
    prompts=("analytics_sql", "analytics_question"),
    tools=(
        "analytics_templates",
        "sql_guard",
        "sql_runner",
        "charts",
        "deliveries",
        "risk",
        "forecasts",
    ),
)
