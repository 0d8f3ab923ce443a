"""`opensales worker`: arq workers that answer conversations queued in Redis, and sweep up any
left unanswered or undelivered (a crash between storing a message and answering it, or between
answering and sending). Built on the same runtime as the server (`runtime.py`)."""

import uuid
from contextlib import suppress
from functools import partial

from arq import Retry, cron
from sqlalchemy.exc import IntegrityError

from jobs.daily import JOBS
from jobs.queue import redis_settings, stranded
from jobs.scheduler import tick
from jobs.turns import Busy
from runtime import Runtime, build_runtime, job_context
from settings import Settings


async def answer_conversation(ctx: dict, company_id: str, channel: str, sender: str) -> int:
    runtime: Runtime = ctx["runtime"]
    try:
        return await runtime.turns.answer_conversation(uuid.UUID(company_id), channel, sender)
    except Busy:  # another run holds the conversation: come back once it is likely done
        raise Retry(defer=runtime.settings.burst_window_s) from None
    except IntegrityError:  # another conversation took the same order number: try again
        raise Retry(defer=0.2) from None


async def sweep(ctx: dict) -> int:
    runtime: Runtime = ctx["runtime"]
    answered = 0
    for company_id, channel, sender in stranded(runtime.engine, older_than_s=30):
        with suppress(Busy):  # being answered right now
            answered += await runtime.turns.answer_conversation(company_id, channel, sender)
    return answered


async def schedule(ctx: dict) -> int:
    """The daily jobs that are due, for every company (each slot runs once: `job_runs`)."""
    runtime: Runtime = ctx["runtime"]
    return await tick(JOBS, partial(job_context, runtime), runtime.engine)


async def startup(ctx: dict) -> None:
    ctx["runtime"] = runtime = build_runtime(ctx["settings"], redis=ctx["redis"])
    runtime.start(sweep=False)  # the sweep is a cron job here


async def shutdown(ctx: dict) -> None:
    runtime: Runtime = ctx["runtime"]
    runtime.redis = None  # arq's connection: arq closes it
    await runtime.close()


def worker_settings(settings: Settings) -> dict:
    return {
        "functions": [answer_conversation],
        "cron_jobs": [
            cron(sweep, second={0, 30}, run_at_startup=True),
            *([cron(schedule, second=15, timeout=3600)] if settings.scheduler else []),
        ],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": redis_settings(settings.redis_url),
        "queue_name": settings.queue_name,
        "ctx": {"settings": settings},
        "keep_result": 0,
        "max_tries": 50,
        "job_timeout": 300,
    }
