"""The arq runner on real Redis: a burst becomes one job, a worker answers it, and a stranded
message is found again."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from arq.worker import Worker
from conftest import REDIS_URL
from redis.asyncio import Redis
from sqlmodel import select

from channels.inbox import store_inbound
from db.demo import load_demo
from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import Message, Store
from jobs.queue import ArqQueue, stranded
from messages import InboundMessage, Kind
from runtime import build_runtime
from settings import Settings
from worker import answer_conversation

pytestmark = pytest.mark.redis


def inbound(phone: str, text: str) -> InboundMessage:
    now = datetime.now(UTC)
    return InboundMessage(
        channel="whatsapp",
        provider_message_id=f"wamid.{uuid.uuid4().hex}",
        sender=phone,
        recipient="PN1",
        kind=Kind.text,
        text=text,
        sent_at=now,
        received_at=now,
    )


def test_a_burst_is_one_arq_job_and_the_worker_answers_it(tmp_path):
    prefix = f"opensales-test:{uuid.uuid4().hex}"  # this test's keys, and only they are deleted
    queue_name = f"{prefix}:queue"
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        redis_url=REDIS_URL,
        queue_name=queue_name,
        redis_prefix=prefix,
        llm_backend="off",
        burst_window_s=0.5,
    )
    engine = create_db_engine(settings.sqlalchemy_url)
    upgrade(engine)
    company_id = load_demo(engine, stores=10, days=7, progress=False).company_id
    with company_session(company_id, engine) as session:
        phone = session.exec(select(Store).order_by(Store.code)).first().owner_phone

    async def scenario():
        redis = Redis.from_url(REDIS_URL)
        runtime = build_runtime(settings, redis)
        queue = ArqQueue(REDIS_URL, settings.burst_window_s, queue_name, prefix)
        try:
            # Both inside one burst window (windows are fixed slots of the clock: a burst that
            # straddles a boundary is two jobs, and the second finds nothing left to answer).
            await asyncio.sleep(settings.burst_window_s - time.time() % settings.burst_window_s)
            for text in ("hello", "where is my order"):
                store_inbound(engine, company_id, inbound(phone, text), {})
                await queue.enqueue(company_id, "whatsapp", phone)
            assert await redis.zcard(queue_name) == 1  # one job for the burst
            worker = Worker(
                functions=[answer_conversation],
                redis_pool=queue.pool,
                queue_name=queue_name,
                burst=True,
                handle_signals=False,
                poll_delay=0.05,
                ctx={"runtime": runtime},
            )
            await worker.async_run()
            await worker.close()
            return runtime.senders["whatsapp"].sent[phone], worker.jobs_complete
        finally:
            await runtime.close()
            await queue.close()
            async for key in redis.scan_iter(f"*{prefix}*"):  # locks, jobs, results
                await redis.delete(key)
            await redis.delete(queue_name)
            await redis.aclose()

    sent, completed = asyncio.run(scenario())
    assert completed == 1 and len(sent) == 1  # both messages, one turn, one reply
    with company_session(company_id, engine) as session:
        statuses = {
            m.status
            for m in session.exec(
                select(Message).where(Message.sender == phone, Message.direction == "inbound")
            )
        }
    assert statuses == {"processed"}
    engine.dispose()


def test_stranded_messages_are_found(tmp_path):
    settings = Settings(_env_file=None, data_dir=tmp_path, llm_backend="off")
    engine = create_db_engine(settings.sqlalchemy_url)
    upgrade(engine)
    company_id = load_demo(engine, stores=10, days=7, progress=False).company_id
    old = inbound("+919800000042", "2 cs parle g 250")
    old.received_at = datetime.now(UTC) - timedelta(minutes=5)
    store_inbound(engine, company_id, old, {})
    store_inbound(engine, company_id, inbound("+919800000043", "just now"), {})
    assert stranded(engine) == [(company_id, "whatsapp", "+919800000042")]
    engine.dispose()
