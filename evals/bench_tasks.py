"""The nightly planning benchmark (WF-001): `opensales bench tasks [--stores 5000] [--reps 100]`.

Builds a throwaway demo distributor of that size (SQLite in a temporary folder, 90 days of
trade; the demo gives one rep per 50 stores), removes the demo's own tasks for the day, and runs
the real `tasks` job once, as the scheduler would at 02:00: features, rules, the bundled LLM for
the highest-scored tasks within `OPENSALES_TASKS_LLM_BUDGET_S`, validation, batched writes.
Prints the minutes, tasks per minute, the LLM's and the rules' shares and the rejects. The
goal is the whole night's generation within 10 minutes on 2 cores.
"""

import argparse
import asyncio
import math
import tempfile
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import text

from db.demo import STORES_PER_REP, load_demo
from db.engine import create_db_engine, system_session
from db.migrate import upgrade
from db.models import Company
from jobs.daily import JOBS
from jobs.scheduler import JobContext, run_job
from llm.service import build_llm
from settings import get_settings


def main(args: argparse.Namespace) -> int:
    reps = max(10, math.ceil(args.stores / STORES_PER_REP))
    if args.reps is not None and args.reps != reps:
        print(f"error: the demo makes {reps} reps for {args.stores} stores (one per "
              f"{STORES_PER_REP}); ask for --stores {args.reps * STORES_PER_REP}")  # fmt: skip
        return 2
    with tempfile.TemporaryDirectory() as folder:
        engine = create_db_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        upgrade(engine)
        started = time.perf_counter()
        demo = load_demo(engine, stores=args.stores, days=90, progress=True)
        print(f"demo company: {args.stores} stores, {reps} reps, 90 days "
              f"({time.perf_counter() - started:.0f}s)", flush=True)  # fmt: skip
        with system_session(engine) as session:
            company = session.get_one(Company, demo.company_id)
            zone = company.timezone
        today = datetime.now(ZoneInfo(zone)).date()  # the demo's history ends yesterday
        with engine.begin() as connection:  # the night plans the whole day
            connection.execute(text("DELETE FROM tasks WHERE due_date = :d"), {"d": today})
        settings = get_settings()
        if args.llm_budget_s is not None:
            settings = settings.model_copy(update={"tasks_llm_budget_s": args.llm_budget_s})
        llm = None if args.no_llm else build_llm(settings)
        began = time.perf_counter()
        ctx = JobContext(
            engine=engine,
            settings=settings,
            company_id=demo.company_id,
            timezone=zone,
            day=today,
            slot=today.isoformat(),
            llm=llm,
            progress=lambda line: print(
                f"[{time.perf_counter() - began:6.1f}s] {line}", flush=True
            ),
        )
        counts = asyncio.run(_run(ctx, llm))
        elapsed = time.perf_counter() - began
        engine.dispose()
    written = counts.get("written", 0)
    by_llm, by_rules = counts.get("by_llm", 0), counts.get("by_rules", 0)
    share = (lambda n: f"{100 * n / written:.1f}%") if written else (lambda _n: "-")
    print(f"night's generation: {elapsed / 60:.2f} min for {written} tasks "
          f"({written / (elapsed / 60):.0f} tasks/min) over {counts.get('stores', 0)} stores, "
          f"{reps} reps")  # fmt: skip
    print(f"LLM share {share(by_llm)} ({by_llm}), rules/fallback share {share(by_rules)} "
          f"({by_rules}); LLM failures {counts.get('llm_failed', 0)}, "
          f"LLM answers rejected {counts.get('llm_rejected', 0)}, "
          f"validation rejects {counts.get('rejected', 0)}")  # fmt: skip
    print(f"LLM budget {ctx.settings.tasks_llm_budget_s:.0f}s"
          + (" (LLM off)" if llm is None else ""))  # fmt: skip
    return 0 if elapsed <= 600 else 1


async def _run(ctx: JobContext, llm) -> dict[str, int]:
    try:
        return await run_job(JOBS["tasks"], ctx)
    finally:
        if llm is not None:
            await llm.close()
