"""The daily loop's clock: which job is due for which company, run once per slot.

A job runs at its hour in each company's own time zone (or every few hours), and at most once
per (company, job, slot) through the `job_runs` table: a second run of a finished slot does
nothing, a slot running elsewhere is left alone, and a slot whose run failed or died (its
process gone, or no progress for `STALE`) is resumed by the next tick, the job's own keys (one
task per rep, store and type; one notification per key) keeping the resumed run from doing
anything twice. A server or worker that was down at the hour catches up the same day.

The same `tick` runs in-process on the embedded default (`runtime.schedule_forever`) and as an
arq cron job in `opensales worker` with Redis.
"""

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from db.engine import company_session, system_session
from db.models import Company, JobRun
from llm.service import LLMService
from settings import Settings

log = logging.getLogger("opensales.scheduler")
STALE = timedelta(minutes=30)  # a run with no heartbeat this long is dead
RETRY_AFTER = timedelta(minutes=10)  # a failed run is tried again by the scheduler after this


@dataclass
class JobContext:
    """What a job runs with: one company, one local day, the deployment's parts."""

    engine: Engine
    settings: Settings
    company_id: uuid.UUID
    timezone: str
    day: date
    slot: str
    llm: LLMService | None = None
    memory: Any = None  # the company's retrieval memory (memory.store.CompanyMemory), if built
    deliver: Callable[[uuid.UUID, str, str], Awaitable[None]] | None = None  # queue a delivery
    progress: Callable[[str], None] = lambda _line: None
    run_id: uuid.UUID | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def heartbeat(self) -> None:
        """Record progress, so that a long run is not taken for a dead one."""
        if self.run_id is None:
            return
        with system_session(self.engine) as session:
            session.exec(
                update(JobRun)
                .where(col(JobRun.id) == self.run_id)
                .values(updated_at=datetime.now(UTC), counts=dict(self.counts))
            )
            session.commit()


@dataclass(frozen=True)
class Job:
    name: str
    hour: int  # local hour of the daily run; for repeating jobs, the first of the day
    every_hours: int  # 24: daily
    run: Callable[[JobContext], Awaitable[None]]
    description: str

    def slot(self, local: datetime) -> str | None:
        """The slot due at local time `local`, or None before the day's first run."""
        if local.hour < self.hour:
            return None
        if self.every_hours >= 24:
            return local.date().isoformat()
        start = self.hour + (local.hour - self.hour) // self.every_hours * self.every_hours
        return f"{local.date().isoformat()}T{start:02d}"


OWNER = f"{socket.gethostname()}:{os.getpid()}"


def alive(owner: str) -> bool:
    """Whether the process that owns a run may still be running it: a process of this host
    that is gone is not (a run it left is resumed at once); another host's is, until STALE."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AlreadyRan(Exception):
    """The slot has been run (or is running now); nothing to do."""


def claim(
    engine: Engine, company_id: uuid.UUID, job: str, slot: str, retry_now: bool = False
) -> uuid.UUID:
    """This process's run of the slot: new, or resuming one that failed (after RETRY_AFTER,
    or at once with `retry_now`) or died."""
    with company_session(company_id, engine) as session:
        run = JobRun(company_id=company_id, job=job, slot=slot, owner=OWNER)
        session.add(run)
        try:
            session.commit()
            return run.id
        except IntegrityError:
            session.rollback()
        found = session.exec(select(JobRun).where(JobRun.job == job, JobRun.slot == slot)).one()
        now = datetime.now(UTC)
        if found.status == "finished":
            ended = found.finished_at or found.updated_at
            raise AlreadyRan(
                f"{job} for {slot} finished at {ended:%Y-%m-%d %H:%M} UTC: "
                + ", ".join(f"{k} {v}" for k, v in found.counts.items())
            )
        if found.status == "running" and now - found.updated_at < STALE and alive(found.owner):
            raise AlreadyRan(f"{job} for {slot} is running (started {found.started_at:%H:%M} UTC)")
        if found.status == "failed" and not retry_now and now - found.updated_at < RETRY_AFTER:
            raise AlreadyRan(f"{job} for {slot} failed ({found.error}); retried later")
        attempt = found.attempts + 1
        taken = session.exec(  # only one resumer wins
            update(JobRun)
            .where(col(JobRun.id) == found.id, col(JobRun.attempts) == found.attempts)
            .values(
                status="running",
                attempts=attempt,
                owner=OWNER,
                started_at=now,
                updated_at=now,
                error=None,
            )
        )
        session.commit()
        if taken.rowcount != 1:
            raise AlreadyRan(f"{job} for {slot} was resumed by another process")
        log.warning("resuming %s for %s (attempt %d)", job, slot, attempt)
        return found.id


def finish(ctx: JobContext, error: str | None = None) -> None:
    with system_session(ctx.engine) as session:
        session.exec(
            update(JobRun)
            .where(col(JobRun.id) == ctx.run_id)
            .values(
                status="failed" if error else "finished",
                finished_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
                counts=dict(ctx.counts),
                error=error and error[:1000],
            )
        )
        session.commit()


async def run_job(job: Job, ctx: JobContext, retry_now: bool = False) -> dict[str, int]:
    """Claim the slot, run the job, record the outcome; AlreadyRan when there is nothing to do."""
    ctx.run_id = await asyncio.to_thread(
        claim, ctx.engine, ctx.company_id, job.name, ctx.slot, retry_now
    )
    try:
        await job.run(ctx)
    except BaseException as exc:
        await asyncio.to_thread(finish, ctx, f"{type(exc).__name__}: {exc}")
        raise
    await asyncio.to_thread(finish, ctx)
    return ctx.counts


def companies(engine: Engine) -> list[Company]:
    with system_session(engine) as session:
        return list(session.exec(select(Company).where(col(Company.deleted_at).is_(None))))


def finished_slots(engine: Engine, company_id: uuid.UUID, since: date) -> set[tuple[str, str]]:
    with company_session(company_id, engine) as session:
        rows = session.exec(
            select(JobRun.job, JobRun.slot).where(
                JobRun.slot >= since.isoformat(), JobRun.status == "finished"
            )
        )
        return {(job, slot) for job, slot in rows}


async def tick(
    jobs: dict[str, Job],
    make_context: Callable[[Company, date, str], JobContext],
    engine: Engine,
    now: datetime | None = None,
) -> int:
    """Run every job due now for every company; returns how many ran."""
    now = now or datetime.now(UTC)
    ran = 0
    for company in await asyncio.to_thread(companies, engine):
        local = now.astimezone(ZoneInfo(company.timezone))
        done = await asyncio.to_thread(finished_slots, engine, company.id, local.date())
        for job in jobs.values():
            slot = job.slot(local)
            if slot is None or (job.name, slot) in done:
                continue
            try:
                counts = await run_job(job, make_context(company, local.date(), slot))
            except AlreadyRan:
                continue
            except Exception:
                log.exception(
                    "%s for %s %s failed; the next tick retries", job.name, company.slug, slot
                )
                continue
            ran += 1
            log.info("%s for %s %s: %s", job.name, company.slug, slot, counts)
    return ran
