"""The daily loop on a company's own (imported) data, on SQLite and PostgreSQL: slots, runs
claimed once and resumed after a crash, the nightly tasks (rules, the LLM's part and its
validation), the morning push, stock alerts and the manager digest, each sent once."""

import asyncio
import json
import re
from datetime import UTC, date, datetime, timedelta
from socket import gethostname
from zoneinfo import ZoneInfo

import pytest
from fake_llm import down_llm, fake_llm
from sqlalchemy import update
from sqlmodel import func, select
from test_own_data import OWN, load

import cli
from db.engine import company_session
from db.models import Company, JobRun, Message, Notification, Store, Task, User
from jobs.daily import JOBS, nightly_tasks
from jobs.scheduler import AlreadyRan, Job, JobContext, claim, run_job, tick
from settings import Settings

TODAY = date(2026, 12, 4)  # the tests' fixed day (conftest), a Friday


def own_company(engine, company_id):
    for kind in ("catalog", "reps", "stores", "stock", "transactions", "users", "beats"):
        assert load(engine, company_id, kind).errors == []
    load(engine, company_id, "promotions", OWN / "promotions.json")


def context(engine, company_id, job="tasks", llm=None, sent=None, **settings) -> JobContext:
    async def deliver(company, channel, phone):
        if sent is not None:
            sent.append((channel, phone))

    return JobContext(
        engine=engine,
        settings=Settings(_env_file=None, **settings),
        company_id=company_id,
        timezone="Asia/Kolkata",
        day=TODAY,
        slot=TODAY.isoformat(),
        llm=llm,
        deliver=deliver,
    )


def tasks(engine, company_id) -> list[Task]:
    with company_session(company_id, engine) as session:
        return list(session.exec(select(Task).order_by(Task.score.desc())))


def test_slots_follow_the_local_clock():
    daily = Job("x", 7, 24, None, "")
    every4 = Job("y", 8, 4, None, "")
    morning = datetime(2026, 12, 4, 6, 59, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert daily.slot(morning) is None
    assert daily.slot(morning + timedelta(minutes=1)) == "2026-12-04"
    assert every4.slot(morning) is None
    assert every4.slot(morning.replace(hour=8)) == "2026-12-04T08"
    assert every4.slot(morning.replace(hour=15, minute=30)) == "2026-12-04T12"
    assert every4.slot(morning.replace(hour=23)) == "2026-12-04T20"


def test_a_slot_runs_once_and_a_dead_run_is_resumed(engine, two_companies):
    alpha, beta = two_companies
    first = claim(engine, alpha, "tasks", "2026-12-04")
    with pytest.raises(AlreadyRan, match="is running"):
        claim(engine, alpha, "tasks", "2026-12-04")
    claim(engine, beta, "tasks", "2026-12-04")  # another company's slot is its own
    with company_session(alpha, engine) as session:  # the run died an hour ago
        session.exec(
            update(JobRun)
            .where(JobRun.id == first)
            .values(updated_at=datetime.now(UTC) - timedelta(hours=1))
        )
        session.commit()
    assert claim(engine, alpha, "tasks", "2026-12-04") == first
    with company_session(alpha, engine) as session:
        run = session.get(JobRun, first)
        assert (run.attempts, run.status) == (2, "running")
        run.status = "finished"
        session.commit()
    with pytest.raises(AlreadyRan, match="finished"):
        claim(engine, alpha, "tasks", "2026-12-04")
    # killed a moment ago: its process is gone, so the next run resumes it at once
    died = claim(engine, alpha, "push", "2026-12-04")
    with company_session(alpha, engine) as session:
        session.exec(
            update(JobRun).where(JobRun.id == died).values(owner=f"{gethostname()}:999999")
        )
        session.commit()
    assert claim(engine, alpha, "push", "2026-12-04") == died


def test_nightly_tasks_by_rules_on_imported_data(engine, two_companies):
    alpha, beta = two_companies
    own_company(engine, alpha)
    counts = asyncio.run(run_job(JOBS["tasks"], context(engine, alpha)))
    planned = tasks(engine, alpha)
    assert counts["written"] == len(planned) == 5  # one per store, all five stores
    with company_session(alpha, engine) as session:
        stores = {s.id: s for s in session.exec(select(Store))}
    for task in planned:
        assert task.source == "rules" and task.due_date == TODAY
        assert task.rep_id == stores[task.store_id].assigned_rep_id  # the rep's territory
        assert task.drivers and task.pitch and 0 < task.score <= 100
    # Friday: NGP-S005 is on NGP-R2's beat, which puts it first among that rep's stores
    beat = next(t for t in planned if stores[t.store_id].code == "NGP-S005")
    assert "on today's beat" in beat.drivers
    assert tasks(engine, beta) == []
    with pytest.raises(AlreadyRan):
        asyncio.run(run_job(JOBS["tasks"], context(engine, alpha)))


def test_a_rerun_after_a_crash_adds_no_duplicates_and_the_cap_holds(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    with company_session(alpha, engine) as session:
        company = session.get(Company, alpha)
        company.settings = {**company.settings, "tasks_per_rep": 1}
        session.commit()
    asyncio.run(nightly_tasks(context(engine, alpha)))
    first = tasks(engine, alpha)
    assert len(first) == 2  # two reps, one task each
    asyncio.run(nightly_tasks(context(engine, alpha)))  # the same night again
    assert [t.id for t in tasks(engine, alpha)] == [t.id for t in first]


def test_skipped_and_rejected_tasks_weigh_on_the_next_night(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    asyncio.run(nightly_tasks(context(engine, alpha)))
    before = {t.store_id: t for t in tasks(engine, alpha)}
    with company_session(alpha, engine) as session:
        for task in session.exec(select(Task)):
            task.due_date = TODAY - timedelta(days=1)
            task.status, task.note = "skipped", "shop closed for a wedding"
        session.commit()
    asyncio.run(nightly_tasks(context(engine, alpha)))
    for task in tasks(engine, alpha):
        if task.due_date == TODAY and task.task_type == before[task.store_id].task_type:
            assert task.score < before[task.store_id].score
            assert "skipped recently" in task.drivers


def writes(reasoning: str, pitch: str, first_product: bool = True):
    """A model that writes these texts and names the first product its schema allows."""

    def answer(request) -> str:
        allowed = (request.json_schema or {}).get("$defs", {}).get("Sku", {}).get("enum", [])
        products = allowed[:1] if first_product else []
        return json.dumps({"reasoning": reasoning, "pitch": pitch, "products": products})

    return answer


def test_the_llm_writes_the_top_tasks_and_is_checked(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    llm = fake_llm(
        complete=writes(
            "This store has none of the must-sell products yet.",
            "Bhaiya, ek case Vim Bar rakh lo, fast chalta hai.",
        )
    )
    counts = asyncio.run(nightly_tasks_counts(context(engine, alpha, llm=llm)))
    written = tasks(engine, alpha)
    assert counts["by_llm"] == 5 and {t.source for t in written} == {"llm"}
    assert written[0].pitch == "Bhaiya, ek case Vim Bar rakh lo, fast chalta hai."
    assert all(len(t.products) >= 1 for t in written)
    prompt = llm.backend.completions[-1].messages[-1]["content"]
    assert "Sai Provision" not in prompt  # store names reach the model as stand-ins


def test_invented_numbers_cut_sentences_and_a_dead_llm_fall_back_to_rules(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    invented = fake_llm(
        complete=writes("Sales grew 37 percent this month here.", "Take 9 cases today.", False)
    )
    counts = asyncio.run(nightly_tasks_counts(context(engine, alpha, llm=invented)))
    assert counts["llm_rejected"] == 5 and counts["by_rules"] == 5
    with company_session(alpha, engine) as session:
        session.exec(update(Task).values(due_date=TODAY - timedelta(days=30)))
        session.commit()
    counts = asyncio.run(nightly_tasks_counts(context(engine, alpha, llm=down_llm())))
    assert counts["by_rules"] == 5 and counts.get("by_llm", 0) == 0


async def nightly_tasks_counts(ctx: JobContext) -> dict[str, int]:
    await nightly_tasks(ctx)
    return ctx.counts


def outbound(engine, company_id) -> list[Message]:
    with company_session(company_id, engine) as session:
        return list(
            session.exec(
                select(Message).where(Message.direction == "outbound").order_by(Message.recipient)
            )
        )


def test_push_alerts_and_digest_each_go_once(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    asyncio.run(nightly_tasks(context(engine, alpha)))
    sent: list = []
    asyncio.run(run_job(JOBS["push"], context(engine, alpha, sent=sent)))
    pushes = outbound(engine, alpha)
    assert sorted(m.recipient for m in pushes) == ["+919890010001", "+919890010002"]
    assert sorted(phone for _, phone in sent) == ["+919890010001", "+919890010002"]
    assert "Good morning Vikas" in pushes[0].body and "Say:" in pushes[0].body
    assert pushes[0].payload["buttons"]  # a "Done" choice per task
    offered = re.findall(r"^• (.+): (\d+) lines, about ₹[\d,]+$", pushes[0].body, re.M)
    assert "\nSuggested orders (one tap after check-in):\n" in pushes[0].body and offered

    # The push killed half-way and run again (its run resumed): nothing goes twice.
    asyncio.run(JOBS["push"].run(context(engine, alpha)))
    assert len(outbound(engine, alpha)) == 2

    ctx = context(engine, alpha, sent=sent)
    ctx.slot = "2026-12-04T08"
    asyncio.run(run_job(JOBS["alerts"], ctx))
    alerts = [m for m in outbound(engine, alpha) if m.body.startswith("Stock alert")]
    assert [m.recipient for m in alerts] == ["+919890010009"]  # the manager (admin: none here)
    assert "Clinic Plus" in alerts[0].body and "Fortune" in alerts[0].body
    assert "Sunfeast Marie" not in alerts[0].body  # 1800 pcs, reorder level 600
    ctx.slot = "2026-12-04T12"  # four hours later: the same products are not sent again
    asyncio.run(run_job(JOBS["alerts"], ctx))
    assert len([m for m in outbound(engine, alpha) if m.body.startswith("Stock alert")]) == 1

    asyncio.run(run_job(JOBS["digest"], context(engine, alpha)))
    digests = [m for m in outbound(engine, alpha) if m.body.startswith("Today,")]
    assert [m.recipient for m in digests] == ["+919890010009"]
    assert "tasks done 0 of 5" in digests[0].body and digests[0].payload["image"]
    with company_session(alpha, engine) as session:
        keys = session.exec(select(func.count()).select_from(Notification)).one()
    assert keys == 2 + 3 + 1  # pushes, alerted products, digest


def test_tick_runs_what_is_due_in_the_company_zone(engine, two_companies):
    alpha, _ = two_companies
    own_company(engine, alpha)
    ran: list[str] = []

    def make(company, day, slot):
        ctx = context(engine, company.id)
        ctx.day, ctx.slot = day, slot
        return ctx

    async def record(ctx):
        ran.append(ctx.slot)

    jobs = {"early": Job("early", 2, 24, record, ""), "late": Job("late", 20, 24, record, "")}
    at_nine = datetime(2026, 12, 4, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    assert asyncio.run(tick(jobs, make, engine, at_nine)) == 2  # alpha and beta, early only
    assert asyncio.run(tick(jobs, make, engine, at_nine)) == 0  # once per slot
    assert ran == ["2026-12-04", "2026-12-04"]


def test_cli_jobs_run_and_list(app_env, capsys, monkeypatch):
    monkeypatch.setenv("OPENSALES_LLM_BACKEND", "off")
    assert (
        cli.main(["company", "add", "Own", "--city", "Nagpur", "--admin-phone", "9890010000"]) == 0
    )
    for kind in ("catalog", "reps", "stores"):
        path = OWN / f"{kind}.csv"
        assert cli.main(["import", kind, str(path)]) == 0
    capsys.readouterr()
    assert cli.main(["jobs", "run", "tasks", "--date", "2026-12-04"]) == 0
    out = capsys.readouterr().out
    assert "own: tasks for 2026-12-04 done" in out and "written 5" in out
    assert cli.main(["jobs", "run", "tasks", "--date", "2026-12-04"]) == 0
    assert "nothing to do: tasks for 2026-12-04 finished" in capsys.readouterr().out
    assert cli.main(["jobs", "list"]) == 0
    listed = capsys.readouterr().out
    assert "tasks    daily 02:00" in listed and "2026-12-04     finished" in listed
    with company_session(_only_company()) as session:
        assert session.exec(select(func.count()).select_from(User)).one() == 8  # admin, 2+5


def _only_company():
    return cli.resolve_company(None).id
