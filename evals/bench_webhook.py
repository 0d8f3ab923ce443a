"""WhatsApp ingest benchmark: `opensales bench webhook [--processes 2] [--seconds 10]`.

Starts a throwaway deployment on this machine: a fresh PostgreSQL database (made from
`--postgres-url`, dropped afterwards) with a 100-store demo company, Redis, N `opensales serve`
processes and one `opensales worker`. It then sends signed webhook deliveries of real order
messages from the demo's retailers, repeating 20% of them as Meta's retries do, spread over the
server processes, and prints:
- ingest: requests/s and acknowledgement latency p50/p99;
- answers: webhook received -> reply handed to the provider, p50/p95, fast path only;
- safety: messages stored once, orders per message (must be at most one).
"""

import asyncio
import hashlib
import hmac
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import text

from db.demo import load_demo
from db.engine import create_db_engine
from db.migrate import upgrade
from evals.bench_llm import percentile

SECRET = "bench-secret"
BURST_S = 1
ORDERS = [
    "2 cs parle g 250",
    "1 ctn coke 750ml",
    "3 pcs surf excel 1kg aur 2 pcs vim bar 135g",
    "maggi 70g 2 case",
    "6 pcs dairy milk 50g",
    "1 case tata salt",
    "4 pkt tata tea 250g",
    "bisleri 1l 1 case, 12 pcs kurkure 20 rs",
]


def deployment_env(database_url: str, redis_url: str, name: str) -> dict[str, str]:
    """The environment of a bench's server and worker processes: its own database, its own
    Redis keys (another deployment or the test suite may share the Redis), no LLM."""
    return {
        **os.environ,
        "OPENSALES_DATABASE_URL": database_url,
        "OPENSALES_REDIS_URL": redis_url,
        "OPENSALES_WHATSAPP_APP_SECRET": SECRET,
        "OPENSALES_LLM_BACKEND": "off",
        "OPENSALES_SCHEDULER": "false",
        "OPENSALES_QUEUE_NAME": f"opensales-bench:{name}",
        "OPENSALES_REDIS_PREFIX": f"opensales-bench:{name}",
        "OPENSALES_LOG_LEVEL": "warning",
        "OPENSALES_BURST_WINDOW_S": str(BURST_S),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def delivery(phone: str, message_id: str, body: str) -> bytes:
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "W",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": "15550001111",
                                    "phone_number_id": "PN1",
                                },
                                "contacts": [
                                    {"profile": {"name": "r"}, "wa_id": phone.lstrip("+")}
                                ],
                                "messages": [
                                    {
                                        "from": phone.lstrip("+"),
                                        "id": message_id,
                                        "timestamp": str(int(time.time())),
                                        "type": "text",
                                        "text": {"body": body},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        }
    ).encode()


def signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


async def load(
    ports: list[int], phones: list[str], seconds: float, concurrency: int, rate: float | None = None
):
    latencies: list[float] = []
    sent_ids: list[str] = []
    failures = 0
    deadline = time.monotonic() + seconds
    rng = random.Random(7)

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal failures
        while time.monotonic() < deadline:
            if sent_ids and rng.random() < 0.2:
                message_id = rng.choice(sent_ids)  # a retry of an earlier delivery
            else:
                message_id = f"wamid.bench.{uuid.uuid4().hex}"
                sent_ids.append(message_id)
            phone = phones[hash(message_id) % len(phones)]
            body = delivery(phone, message_id, ORDERS[hash(message_id) % len(ORDERS)])
            port = rng.choice(ports)
            started = time.perf_counter()
            response = await client.post(
                f"http://127.0.0.1:{port}/whatsapp/webhook",
                content=body,
                headers={
                    "X-Hub-Signature-256": signature(body),
                    "Content-Type": "application/json",
                },
            )
            latencies.append(time.perf_counter() - started)
            failures += response.status_code != 200
            if rate:  # a steady load rather than as fast as it goes
                await asyncio.sleep(max(0.0, concurrency / rate - latencies[-1]))

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        started = time.monotonic()
        await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return latencies, len(set(sent_ids)), failures, elapsed


def main(args) -> int:
    admin = args.postgres_url or "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url = args.redis_url or "redis://127.0.0.1:6379/0"
    name = f"opensales_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    processes: list[subprocess.Popen] = []
    engine = create_db_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        upgrade(engine)
        load_demo(engine, stores=100, days=14, progress=False)
        with engine.begin() as connection:  # enough stock that every order can be taken
            connection.execute(text("UPDATE stock_levels SET quantity = 1000000"))
            phones = [
                row[0]
                for row in connection.execute(
                    text("SELECT phone FROM users WHERE role = 'retailer' ORDER BY phone LIMIT 60")
                )
            ]
        # 60 phones at hundreds of requests a second: far past a real sender's rate
        env = {**deployment_env(url, redis_url, name), "OPENSALES_INBOUND_PER_MINUTE": "0"}
        cli = str(Path(sys.executable).parent / "opensales")
        ports = [free_port() for _ in range(args.processes)]
        for port in ports:
            processes.append(subprocess.Popen([cli, "serve", "--port", str(port)], env=env))
        processes.append(subprocess.Popen([cli, "worker"], env=env))
        for port in ports:
            wait_ready(port)
        pace = f"{args.rate:g}/s" if args.rate else "as fast as they go"
        print(
            f"{args.processes} server processes, 1 worker, PostgreSQL, Redis; "
            f"{args.seconds:g} s of signed deliveries ({pace}, {args.concurrency} open), "
            "20% of them repeated"
        )
        latencies, unique, failures, elapsed = asyncio.run(
            load(ports, phones, args.seconds, args.concurrency, args.rate)
        )
        p50, p99 = (1000 * percentile(latencies, q) for q in (50, 99))
        print(
            f"ingest: {len(latencies)} requests in {elapsed:.1f}s = "
            f"{len(latencies) / elapsed:.0f} req/s, ack p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"non-200 {failures}"
        )
        _report(engine, unique)
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=20)
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return 0


def wait_ready(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not become ready")


def _report(engine, unique: int) -> None:
    deadline = time.monotonic() + 120
    with engine.connect() as connection:
        while time.monotonic() < deadline:
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM messages WHERE direction = 'inbound' "
                    "AND status <> 'processed'"
                )
            ).scalar()
            if not waiting:
                break
            time.sleep(0.5)
            connection.commit()
        stored = connection.execute(
            text("SELECT count(*) FROM messages WHERE direction = 'inbound'")
        ).scalar()
        per_message = connection.execute(
            text(
                "SELECT count(*) FROM orders_eb2b WHERE source_message_id IS NOT NULL "
                "GROUP BY source_message_id HAVING count(*) > 1"
            )
        ).all()
        orders = connection.execute(
            text("SELECT count(*) FROM orders_eb2b WHERE source_message_id IS NOT NULL")
        ).scalar()
        # reply latency: a burst's last message -> the reply logged as sent
        gaps = [
            row[0]
            for row in connection.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM o.created_at - i.created_at) FROM messages o "
                    "JOIN LATERAL (SELECT max(created_at) AS created_at FROM messages i "
                    "WHERE i.direction = 'inbound' AND i.sender = o.recipient "
                    "AND i.created_at <= o.created_at) i ON true "
                    "WHERE o.direction = 'outbound'"
                )
            )
        ]
    print(
        f"answers: {len(gaps)} replies; received -> reply sent p50 "
        f"{percentile(gaps, 50):.2f}s, p95 {percentile(gaps, 95):.2f}s "
        f"(includes the {BURST_S}s burst window)"
    )
    print(
        f"safety: {unique} distinct messages sent, {stored} stored, {waiting} unanswered, "
        f"{orders} orders, {len(per_message)} messages with more than one order"
    )
