"""Order understanding eval: `opensales eval orders --catalog FILE.csv --cases FILE.jsonl`.

The catalog is imported (the `opensales import catalog` format) into a fresh company in a
temporary database; each case's text is read as the order agent reads it. A case line is
`{"text": ..., "items": [{"sku", "qty", "unit": "case" | "piece"}]}` or
`{"text": ..., "clarify": true}`. Items match when SKU and quantity in pieces agree; a case is
exact when the item multisets match, or when a clarification was expected and asked. Prints the
failed cases, then `exact-order accuracy: NN.N%`, item precision/recall, the clarification rate
and latency percentiles.
"""

import asyncio
import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from sqlmodel import select

from agents.order_reading import read_order
from db.engine import company_session, create_db_engine, system_session
from db.importer import import_file
from db.migrate import upgrade
from db.models import Company, Product, Tenant
from evals.bench_llm import percentile
from tools.order_parser import CatalogItem, OrderParser


def load_parser(catalog_csv: Path, folder: Path) -> OrderParser:
    """The catalog imported into a throwaway company, read back as the agent reads it."""
    engine = create_db_engine(f"sqlite:///{folder / 'eval.db'}")
    upgrade(engine)
    with system_session(engine) as session:
        tenant = Tenant(name="eval", slug="eval")
        session.add(tenant)
        session.flush()
        company = Company(tenant_id=tenant.id, name="Eval", slug="eval", city="Pune")
        session.add(company)
        session.commit()
        company_id = company.id
    with company_session(company_id, engine) as session:
        report = import_file(session, "catalog", catalog_csv.read_bytes(), strict=True)
        if not report.committed:
            error = report.errors[0]
            raise SystemExit(f"{catalog_csv}:{error.line}: {error.message}")
        products = session.exec(select(Product)).all()
    engine.dispose()
    return OrderParser([CatalogItem.of(p) for p in products])


def expected_items(case: dict, parser: OrderParser) -> Counter:
    return Counter(
        (
            item["sku"],
            item["qty"]
            * (parser.items[item["sku"]].units_per_case if item["unit"] == "case" else 1),
        )
        for item in case.get("items", [])
    )


async def run(cases: list[dict], parser: OrderParser, llm, show_failures: int | None = None) -> int:
    exact = matched = predicted_total = expected_total = asked = asked_expected = llm_used = 0
    latencies, llm_latencies = [], []
    if llm is not None:  # load the model first: its one-time start is not a reply's latency
        await llm.chat([{"role": "user", "content": "ok"}], max_tokens=1)
    for number, case in enumerate(cases, start=1):
        started = time.perf_counter()
        reading = await read_order(case["text"], parser, llm)
        latencies.append(time.perf_counter() - started)
        llm_used += reading.used_llm
        if reading.used_llm:
            llm_latencies.append(latencies[-1])
        want_clarify = bool(case.get("clarify"))
        asked += reading.clarify
        asked_expected += want_clarify
        expected = expected_items(case, parser)
        got = (
            Counter()
            if reading.clarify
            else Counter((line.sku, line.pieces) for line in reading.lines)
        )
        matched += sum((expected & got).values())
        predicted_total += sum(got.values())
        expected_total += sum(expected.values())
        ok = (want_clarify and reading.clarify) or (
            not want_clarify and not reading.clarify and got == expected
        )
        exact += ok
        shown_enough = show_failures is not None and number - exact > show_failures
        if not ok and not shown_enough:
            shown = "clarify" if reading.clarify else sorted(got.items())
            print(
                f"FAIL {number}: {case['text']!r}\n  expected "
                f"{'clarify' if want_clarify else sorted(expected.items())}, got {shown}"
                + (f" (asked about {reading.question.text!r})" if reading.question else "")
                + (f" unknown {reading.unknown}" if reading.unknown else "")
            )
    total = len(cases)
    print(f"exact-order accuracy: {100 * exact / total:.1f}%")
    print(
        f"item precision: {100 * matched / max(predicted_total, 1):.1f}%, "
        f"item recall: {100 * matched / max(expected_total, 1):.1f}%"
    )
    print(
        f"clarification rate: {100 * asked / total:.1f}% "
        f"(expected {100 * asked_expected / total:.1f}%)"
    )
    print(
        f"latency: p50 {1000 * percentile(latencies, 50):.1f} ms, "
        f"p95 {1000 * percentile(latencies, 95):.1f} ms, max {1000 * max(latencies):.0f} ms; "
        f"LLM used on {llm_used} of {total} cases"
    )
    if llm_latencies:
        print(
            f"latency where the LLM was asked: p50 {percentile(llm_latencies, 50):.2f} s, "
            f"p95 {percentile(llm_latencies, 95):.2f} s"
        )
    return 0


def catalog_eval(args, run) -> int:
    """The shared frame of the catalog evals (orders, voice, photos): the cases and the catalog
    from `args`, the LLM unless `--no-llm`, then `run(cases, parser, llm)`."""
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    llm = None
    if not args.no_llm:
        from llm.service import get_llm

        llm = get_llm()
    with tempfile.TemporaryDirectory() as folder:
        parser = load_parser(args.catalog, Path(folder))
    try:
        return asyncio.run(run(cases, parser, llm))
    finally:
        if llm is not None:
            asyncio.run(llm.close())


def main(args) -> int:
    failures = getattr(args, "show_failures", None)
    return catalog_eval(args, lambda cases, parser, llm: run(cases, parser, llm, failures))
