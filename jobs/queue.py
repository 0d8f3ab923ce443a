"""Two runners for the one job: arq on Redis when configured, an in-process worker otherwise.

Both wait a burst window before answering (in-process: until the sender has been quiet for
it), so "2 cs parle g" and "aur 1 coke" sent a moment apart are answered together, and both
leave the ordering to `Turns.answer_conversation`, which runs once at a time per conversation
and re-reads what is unanswered.
"""

import asyncio
import logging
import math
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import or_, select

from db import outbox
from db.engine import system_session
from db.models import Channel, Direction, Message
from jobs.turns import Turns, conversation_key

log = logging.getLogger("opensales.queue")


class InProcessQueue:
    """asyncio tasks in this process: the embedded default."""

    def __init__(self, turns: Turns, burst_window_s: float) -> None:
        self.turns = turns
        self.window = burst_window_s
        self.tasks: dict[str, asyncio.Task] = {}
        self.again: set[str] = set()
        self.last: dict[str, float] = {}

    async def enqueue(self, company_id: uuid.UUID, channel: str, sender: str) -> None:
        key = conversation_key(company_id, channel, sender)
        self.last[key] = time.monotonic()
        task = self.tasks.get(key)
        if task is not None and not task.done():
            self.again.add(key)  # the running task goes round once more
            return
        self.tasks[key] = asyncio.create_task(self._run(key, company_id, channel, sender))

    async def _run(self, key: str, company_id: uuid.UUID, channel: str, sender: str) -> None:
        while (wait := self.last[key] + self.window - time.monotonic()) > 0:
            await asyncio.sleep(wait)  # each new message of a burst extends the wait
        while True:
            self.again.discard(key)
            try:
                await self.turns.answer_conversation(company_id, channel, sender)
            except Exception:
                log.exception("conversation %s failed; its messages stay unanswered", key)
                await asyncio.sleep(5)
                continue  # retried: the messages are still marked unanswered
            if key not in self.again:
                return

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()


class ArqQueue:
    """Jobs in Redis for `opensales worker` processes; a job id per conversation and burst
    window merges a burst into one job. With Redis down, the message is already stored: the
    sweeper queues it once Redis is back."""

    def __init__(
        self,
        redis_url: str,
        burst_window_s: float,
        queue_name: str = "opensales:queue",
        prefix: str = "opensales",
    ) -> None:
        self.redis_url = redis_url
        self.burst = burst_window_s
        self.queue_name = queue_name
        self.prefix = prefix  # job ids are global in Redis: this deployment's own
        self.pool = None

    async def enqueue(self, company_id: uuid.UUID, channel: str, sender: str) -> None:
        from arq import create_pool
        from arq.constants import in_progress_key_prefix

        window = math.floor(time.time() / self.burst)
        try:
            if self.pool is None:
                self.pool = await create_pool(
                    redis_settings(self.redis_url), default_queue_name=self.queue_name
                )
            job_id = f"{self.prefix}:conv:{conversation_key(company_id, channel, sender)}:{window}"
            job = await self.pool.enqueue_job(
                "answer_conversation",
                str(company_id),
                channel,
                sender,
                _job_id=job_id,
                _defer_until=datetime.fromtimestamp((window + 1) * self.burst, UTC),
            )
            if job is None and await self.pool.exists(in_progress_key_prefix + job_id):
                # That window's job is already answering and may have read past this message:
                # one more job makes sure it is answered (an extra run finds nothing to do).
                await self.pool.enqueue_job(
                    "answer_conversation",
                    str(company_id),
                    channel,
                    sender,
                    _job_id=f"{job_id}:{uuid.uuid4().hex}",
                    _defer_by=self.burst,
                )
        except (OSError, ConnectionError) as exc:
            log.warning(
                "could not queue %s in Redis (%s); the sweeper will",
                conversation_key(company_id, channel, sender),
                exc,
            )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.aclose()


def redis_settings(url: str):
    """arq's connection settings: patient with a busy Redis (arq's 1 s connect timeout, met
    while two cores start a worker, made the worker exit)."""
    from arq.connections import RedisSettings

    settings = RedisSettings.from_dsn(url)
    settings.conn_timeout, settings.conn_retries, settings.retry_on_timeout = 10, 10, True
    return settings


def stranded(engine: Engine, older_than_s: float = 60) -> list[tuple[uuid.UUID, str, str]]:
    """Conversations left with messages unanswered or replies undelivered (a crash between
    storing and answering, or between answering and sending)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=older_than_s)
    unanswered = (Message.direction == Direction.inbound) & Message.status.in_(outbox.UNANSWERED)
    undelivered = (Message.direction == Direction.outbound) & (Message.status == outbox.QUEUED)
    with system_session(engine) as session:
        rows = session.exec(
            select(
                Message.company_id,
                Message.channel,
                Message.direction,
                Message.sender,
                Message.recipient,
            )
            .where(
                or_(unanswered, undelivered),
                Message.channel != Channel.api,  # answered by the API run that stored it
                Message.created_at < cutoff,
                Message.deleted_at.is_(None),
            )
            .distinct()
        ).all()
    found = {
        (company_id, channel, sender if direction == Direction.inbound else recipient)
        for company_id, channel, direction, sender, recipient in rows
    }
    return sorted(found, key=str)
