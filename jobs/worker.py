"""`opensales worker`: arq workers that answer conversations queued in Redis, and sweep up any
left unanswered (a crash between storing a message and queueing it)."""

import asyncio
import uuid
from contextlib import suppress

from arq import Retry, cron
from arq.connections import RedisSettings
from sqlalchemy.exc import IntegrityError

from jobs.conversation import Busy, Runtime, process_conversation
from jobs.queue import stranded


async def answer_conversation(ctx: dict, company_id: str, channel: str, sender: str) -> int:
    runtime: Runtime = ctx["runtime"]
    try:
        return await process_conversation(runtime, uuid.UUID(company_id), channel, sender)
    except Busy:  # another run holds the conversation: come back once it is likely done
        raise Retry(defer=runtime.settings.burst_window_s) from None
    except IntegrityError:  # another conversation took the same order number: try again
        raise Retry(defer=0.2) from None


async def sweep(ctx: dict) -> int:
    runtime: Runtime = ctx["runtime"]
    answered = 0
    for company_id, channel, sender in stranded(runtime, older_than_s=30):
        with suppress(Busy):  # being answered right now
            answered += await process_conversation(runtime, company_id, channel, sender)
    return answered


async def startup(ctx: dict) -> None:
    from server import build_runtime, warm_prompts

    ctx["runtime"] = build_runtime(ctx["settings"], redis=ctx["redis"])
    ctx["warming"] = asyncio.create_task(warm_prompts(ctx["runtime"]))


async def shutdown(ctx: dict) -> None:
    ctx["warming"].cancel()
    await ctx["runtime"].close()


def worker_settings(settings) -> dict:
    return {
        "functions": [answer_conversation],
        "cron_jobs": [cron(sweep, second={0, 30}, run_at_startup=True)],
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        "ctx": {"settings": settings},
        "keep_result": 0,
        "max_tries": 50,
        "job_timeout": 300,
    }
