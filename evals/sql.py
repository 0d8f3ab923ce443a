"""NL->SQL eval: `opensales eval sql --cases FILE.jsonl [--db URL] [--company SLUG]`.

Each case line is `{"question": ..., "sql": gold}`, the gold written for PostgreSQL (sqlglot
transpiles it for SQLite). Every question goes through the analytics agent exactly as a
manager's would (names of the company's stores and people redacted to stand-ins, template or
LLM, guard, read-only run, one repair, all on the company's clock); the gold runs through the
same guard. Results are compared as sets of rows, or in order when the gold orders its top
level: every numeric gold column and one of its label columns must appear among the answer's
columns with the same values (names, extra columns and extra descriptive gold columns do not
matter), numbers rounded to 2 decimals. Prints the failures, then a summary whose first line is
`execution accuracy: NN.N%`, the share of invalid SQL, how questions were answered, and latency.
A worked example with the very question asked is left out of the prompt (the example bank was
written from the dev questions). The circuit breaker is off: each question counts on its own.
"""

import asyncio
import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlglot
from sqlmodel import select
from tqdm import tqdm

from agents.analytics import ask, schema_policies, sql_prompt
from db.engine import company_session, create_db_engine, system_session
from db.models import Company
from evals.bench_llm import percentile
from llm.breaker import CircuitBreaker
from settings import get_settings
from tools.pii import pii_context
from tools.sql_guard import guard
from tools.sql_runner import QueryResult, run_readonly
from tools.sql_schema import OURS


def _normal(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float | Decimal):
        return round(float(value), 2)
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if isinstance(value, uuid.UUID):
        return value.hex
    return value


def _columns(result: QueryResult) -> list[tuple]:
    return [tuple(_normal(row[i]) for row in result.rows) for i in range(len(result.columns))]


def _key(values: tuple) -> list:
    return sorted(values, key=lambda v: (v is None, str(type(v)), v if v is not None else 0))


def same_result(gold: QueryResult, got: QueryResult, ordered: bool) -> bool:
    """The answer carries the gold's figures for the same things: every numeric gold column,
    and at least one of its other columns (when it has any), are found among the answer's
    columns with the same values, row for row (as sets, or in order when the gold orders)."""
    if len(gold.rows) != len(got.rows):
        return False
    if not gold.rows:
        return True
    gold_columns, got_columns = _columns(gold), _columns(got)

    def find(column: tuple, taken: list[int]) -> int | None:
        for i, candidate in enumerate(got_columns):
            if i not in taken and (
                candidate == column if ordered else _key(candidate) == _key(column)
            ):
                return i
        return None

    numeric = [c for c in gold_columns if all(isinstance(v, float) or v is None for v in c)]
    labels = [c for c in gold_columns if c not in numeric]
    pairs: list[tuple[tuple, int]] = []
    for column in numeric:
        found = find(column, [i for _, i in pairs])
        if found is None:
            return False
        pairs.append((column, found))
    label = next(
        (found for column in labels if (found := find(column, [i for _, i in pairs])) is not None),
        None,
    )
    if labels and label is None:
        return False
    if label is not None:
        pairs.append((next(c for c in labels if find(c, [i for _, i in pairs]) == label), label))
    if ordered:
        return True
    gold_rows = sorted(map(repr, zip(*(column for column, _ in pairs), strict=True)))
    got_rows = sorted(map(repr, zip(*(got_columns[i] for _, i in pairs), strict=True)))
    return gold_rows == got_rows


def is_ordered(sql: str) -> bool:
    tree = sqlglot.parse_one(sql, read="postgres")
    return tree.args.get("order") is not None


def _company(engine, slug: str | None) -> uuid.UUID | None:
    if schema_policies(engine) is not OURS:
        return None
    with system_session(engine) as session:
        query = select(Company)
        if slug:
            query = query.where(Company.slug == slug)
        companies = session.exec(query).all()
    if len(companies) != 1:
        raise SystemExit(f"error: name the company with --company ({len(companies)} found)")
    return companies[0].id


def _zone(engine, company_id: uuid.UUID | None) -> ZoneInfo | None:
    """The company's time zone; none for a foreign database (its own clock stands)."""
    if company_id is None:
        return None
    with system_session(engine) as session:
        return ZoneInfo(session.get(Company, company_id).timezone)


async def run(cases: list[dict], engine, company_id, llm, templates: bool) -> int:
    settings = get_settings()
    dialect = engine.dialect.name
    policies = schema_policies(engine)
    if llm is not None:  # as the server does at start: the model and the prompt's prefix
        await llm.prepare(sql_prompt(engine))
    zone = _zone(engine, company_id)
    right = invalid = 0
    sources: dict[str, int] = {}
    seconds: list[float] = []
    for number, case in enumerate(tqdm(cases, desc="Questions", unit="q"), start=1):
        now = datetime.now(zone) if zone else None  # the company's day, for gold and agent
        gold_sql = guard(case["sql"], policies, dialect, read="postgresql", now=now)
        gold = run_readonly(engine, gold_sql.sql, company_id, 60, 100_000)
        answer = await ask(
            case["question"],
            engine,
            company_id,
            llm,
            timeout_s=settings.analytics_timeout_s,
            max_rows=settings.analytics_max_rows,
            templates=templates,
            leave_out_same=True,
            now=now,
        )
        seconds.append(answer.seconds)
        sources[answer.source or "none"] = sources.get(answer.source or "none", 0) + 1
        if answer.result is None:
            invalid += answer.error_code in ("REJECTED", "FAILED", "NO_SQL", "TIMEOUT")
            tqdm.write(
                f"FAIL {number}: {case['question']!r}: {answer.error_code} "
                f"{answer.error}\n  sql: {answer.sql}"
            )
            continue
        if same_result(gold, answer.result, is_ordered(case["sql"])):
            right += 1
        else:
            tqdm.write(
                f"FAIL {number}: {case['question']!r}: different result "
                f"({len(answer.result.rows)} rows vs {len(gold.rows)})\n"
                f"  sql: {answer.sql}"
            )
    total = len(cases)
    print(f"execution accuracy: {100 * right / total:.1f}% ({right}/{total}, {dialect})")
    print(
        f"invalid SQL: {100 * invalid / total:.1f}% (rejected, failed after one repair, "
        "timed out or none written)"
    )
    print("answered by: " + ", ".join(f"{k} {v}" for k, v in sorted(sources.items())))
    print(
        f"latency: p50 {percentile(seconds, 50):.2f} s, p95 {percentile(seconds, 95):.2f} s, "
        f"max {max(seconds):.2f} s"
    )
    return 0


def main(args) -> int:
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    url = args.db or get_settings().sqlalchemy_url
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    engine = create_db_engine(url)
    company_id = _company(engine, args.company)
    llm = None
    if not args.no_llm:
        from llm.service import get_llm

        llm = get_llm()
        # Each question is measured on its own: a slow answer must not open the breaker and
        # fail the questions after it (the server keeps its breaker).
        llm.breaker = CircuitBreaker("eval-sql", failure_threshold=10**6, slow_call_s=10**6)
        if company_id is not None:  # as in production: names the model sees are stand-ins
            with company_session(company_id, engine) as session:
                llm = llm.with_pii(pii_context(session))

    async def evaluate() -> int:
        try:
            return await run(cases, engine, company_id, llm, not args.no_templates)
        finally:
            if llm is not None:
                await llm.close()

    try:
        return asyncio.run(evaluate())
    finally:
        engine.dispose()
