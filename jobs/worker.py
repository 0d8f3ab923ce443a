"""`opensales worker`: arq workers that answer conversations queued in Redis, and sweep up any
left unanswered (a crash between storing a message and queueing it)."""

import uuid

from arq import cron
from arq.connections import RedisSettings

from jobs.conversation import Runtime, process_conversation
from jobs.queue import stranded


async def answer_conversation(ctx: dict, company_id: str, channel: str, sender: str) -> int:
    return await process_conversation(ctx["runtime"], uuid.UUID(company_id), channel, sender)


async def sweep(ctx: dict) -> int:
    runtime: Runtime = ctx["runtime"]
    conversations = stranded(runtime)
    for company_id, channel, sender in conversations:
        await process_conversation(runtime, company_id, channel, sender)
    return len(conversations)


async def startup(ctx: dict) -> None:
    from server import build_runtime

    ctx["runtime"] = build_runtime(ctx["settings"], redis=ctx["redis"])


def worker_settings(settings) -> dict:
    return {
        "functions": [answer_conversation],
        "cron_jobs": [cron(sweep, second={0}, run_at_startup=True)],
        "on_startup": startup,
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "queue_name": settings.queue_name,
        "ctx": {"settings": settings},
        "keep_result": 0,
        "max_tries": 5,
        "job_timeout": 300,
    }
