"""A simulated day of the daily loop: `opensales simulate day [--stores 400] [--seed 1]`.

On a throwaway PostgreSQL database with a demo distributor, Redis, one `opensales serve` and one
`opensales worker` (the LLM off: tasks by the rules, orders by the fast path), it plays a day:

    02:00  `jobs run tasks`                     the night's plan
    07:00  `jobs run push`, killed with SIGKILL once it has sent some, then run again
    day    every rep with tasks, on WhatsApp: shares the location at the first task's store
           (check-in), sends an order, marks task 1 done; about 10% of deliveries twice, as
           Meta retries; the worker killed with SIGKILL half-way and restarted
    12:00  `jobs run alerts`;  20:00  `jobs run digest`
    then   every job once more: a finished day does nothing

and counts what must exist once: tasks, pushes, check-ins, orders, points, replies, alerts,
digests. Exit status 0 when nothing is duplicated and every message is answered.
"""

import argparse
import json
import random
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import psycopg
from sqlalchemy import Engine, text

from db.demo import load_demo
from db.engine import create_db_engine
from db.migrate import upgrade
from evals.bench_faults import Deployment
from evals.bench_webhook import delivery, deployment_env, free_port, signature, wait_ready

ANSWER_WAIT_S = 240
DUPLICATES = 0.1
ORDER_TEXT = "2 cs parle g 250"


def location(phone: str, message_id: str, lat: float, lng: float) -> bytes:
    body = json.loads(delivery(phone, message_id, ""))
    message = body["entry"][0]["changes"][0]["value"]["messages"][0]
    message.pop("text")
    message.update(type="location", location={"latitude": lat, "longitude": lng})
    return json.dumps(body).encode()


def count(engine: Engine, sql: str, **params) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar() or 0)


def main(args: argparse.Namespace) -> int:
    admin = args.postgres_url or "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url = args.redis_url or "redis://127.0.0.1:6379/0"
    name = f"opensales_day_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    engine = create_db_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    env = deployment_env(url, redis_url, name)
    port = free_port()
    deployment = Deployment(env, [port])
    cli = str(Path(sys.executable).parent / "opensales")
    rng = random.Random(args.seed)
    try:
        upgrade(engine)
        demo = load_demo(engine, stores=args.stores, days=30, progress=False)
        today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
        with engine.begin() as connection:  # the night plans the whole day; stock for orders
            connection.execute(text("DELETE FROM tasks WHERE due_date = :d"), {"d": today})
            connection.execute(text("UPDATE stock_levels SET quantity = 1000000"))
        print(f"demo company {demo.company_id}: {args.stores} stores; PostgreSQL {name}, Redis; "
              f"LLM off; day {today}", flush=True)  # fmt: skip
        for process in deployment.commands:
            deployment.start(process)
        wait_ready(port)
        deployment.since = time.monotonic()

        def job(job_name: str) -> None:
            done = subprocess.run([cli, "jobs", "run", job_name, "--date", today.isoformat()],
                                  env=env, capture_output=True, text=True)  # fmt: skip
            for line in done.stdout.splitlines():
                if not line.startswith("["):
                    deployment._say(line)

        deployment._say("02:00 tasks")
        job("tasks")

        deployment._say("07:00 push, killed once it has sent some")
        pushing = subprocess.Popen([cli, "jobs", "run", "push", "--date", today.isoformat()],
                                   env=env, stdout=subprocess.DEVNULL)  # fmt: skip
        while (
            pushing.poll() is None
            and count(engine, "SELECT count(*) FROM notifications WHERE key LIKE 'push:%'") < 2
        ):
            time.sleep(0.02)
        sent_before = count(engine, "SELECT count(*) FROM notifications WHERE key LIKE 'push:%'")
        if pushing.poll() is None:
            pushing.kill()
            pushing.wait()
            deployment._say(f"SIGKILL jobs run push after {sent_before} pushes")
        else:
            deployment._say(f"push finished before the kill ({sent_before} pushes)")
        job("push")

        deployment._say("the day: check-ins, orders, tasks done")
        visits = _rep_day(engine, port, deployment, rng, today)

        deployment._say("12:00 alerts")
        job("alerts")
        deployment._say("20:00 digest")
        job("digest")
        deployment._say("every job again: nothing to do")
        for again in ("tasks", "push", "alerts", "digest"):
            job(again)
        return _report(engine, visits, today)
    finally:
        deployment.stop()
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rep_day(engine: Engine, port: int, deployment: Deployment, rng: random.Random, today) -> int:
    """Each rep with tasks: location at the first task's store, an order, "done 1"; the worker
    killed half-way. Returns how many reps took part."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT DISTINCT ON (t.rep_id) u.phone, s.lat, s.lng FROM tasks t "
                "JOIN users u ON u.rep_id = t.rep_id JOIN stores s ON s.id = t.store_id "
                "WHERE t.due_date = :d ORDER BY t.rep_id, t.priority, t.score DESC, t.id"
            ),
            {"d": today},
        ).all()
    steps: list[tuple[str, str | tuple[float, float]]] = []
    for phone, lat, lng in rows:
        steps.append((phone, (lat + 0.0003, lng)))  # a location about 33 m away
        steps.append((phone, ORDER_TEXT))
        steps.append((phone, "done 1"))
    ordered = [step for round_ in range(3) for step in steps[round_::3]]  # reps in turn
    killed = False
    with httpx.Client(timeout=10) as client:
        for number, (phone, body) in enumerate(ordered):
            message_id = f"wamid.day.{uuid.uuid4().hex}"
            payload = (
                location(phone, message_id, *body)
                if isinstance(body, tuple)
                else delivery(phone, message_id, body)
            )
            for _ in range(2 if rng.random() < DUPLICATES else 1):
                client.post(
                    f"http://127.0.0.1:{port}/whatsapp/webhook",
                    content=payload,
                    headers={
                        "X-Hub-Signature-256": signature(payload),
                        "Content-Type": "application/json",
                    },  # fmt: skip
                )
            if not killed and number >= len(ordered) // 2:
                deployment.kill("worker")
                killed = True
            time.sleep(0.15)
    deadline = time.monotonic() + ANSWER_WAIT_S
    while time.monotonic() < deadline:
        waiting = count(
            engine,
            "SELECT count(*) FROM messages WHERE (direction = 'inbound' AND status IN "
            "('received', 'processing')) OR (direction = 'outbound' AND status = 'queued')",
        )
        if waiting == 0:
            break
        deployment.revive()
        time.sleep(2)
    deployment._say(f"all answered and delivered ({len(rows)} reps)")
    return len(rows)


def _report(engine: Engine, reps: int, today) -> int:
    day = {"d": today}
    figures = {
        "tasks": count(engine, "SELECT count(*) FROM tasks WHERE due_date = :d", **day),
        "duplicate tasks": count(
            engine,
            "SELECT count(*) - count(DISTINCT (rep_id, store_id, task_type)) FROM tasks "
            "WHERE due_date = :d",
            **day,
        ),
        "pushes": count(engine, "SELECT count(*) FROM notifications WHERE key LIKE 'push:%'"),
        "duplicate pushes": count(
            engine,
            "SELECT count(*) - count(DISTINCT recipient) FROM messages WHERE direction = "
            "'outbound' AND body LIKE 'Good morning%'",
        ),
        "check-ins": count(engine, "SELECT count(*) FROM visits WHERE visit_date = :d", **day),
        "duplicate check-ins": count(
            engine,
            "SELECT count(*) - count(DISTINCT rep_id) FROM visits WHERE visit_date = :d",
            **day,
        ),
        "orders": count(engine, "SELECT count(*) FROM orders_eb2b WHERE channel = 'rep'"),
        "duplicate orders": count(
            engine,
            "SELECT count(*) - count(DISTINCT t.rep_id) FROM orders_eb2b o JOIN transactions t "
            "ON t.id = o.transaction_id WHERE o.channel = 'rep'",
        ),
        "tasks done": count(
            engine, "SELECT count(*) FROM tasks WHERE due_date = :d AND status = 'completed'", **day
        ),
        "points awarded": count(
            engine, "SELECT count(*) FROM incentives WHERE earned_on = :d", **day
        ),
        "duplicate points": count(
            engine,
            "SELECT count(*) - count(DISTINCT task_id) FROM incentives WHERE earned_on = :d",
            **day,
        ),
        "inbound messages": count(
            engine, "SELECT count(*) FROM messages WHERE direction = 'inbound'"
        ),
        "unanswered": count(
            engine,
            "SELECT count(*) FROM messages WHERE direction = 'inbound' AND status <> 'processed'",
        ),
        "replies": count(
            engine,
            "SELECT count(*) FROM messages m WHERE direction = 'outbound' AND NOT EXISTS "
            "(SELECT 1 FROM notifications n WHERE n.message_id = m.id)",
        ),
        "alerted products": count(
            engine, "SELECT count(*) FROM notifications WHERE key LIKE 'alert:%'"
        ),
        "digests": count(engine, "SELECT count(*) FROM notifications WHERE key LIKE 'digest:%'"),
        "job runs": count(engine, "SELECT count(*) FROM job_runs WHERE status = 'finished'"),
        "job attempts": count(engine, "SELECT coalesce(sum(attempts), 0) FROM job_runs"),
    }
    duplicate_replies = figures["replies"] - figures["inbound messages"]
    figures["duplicate replies"] = duplicate_replies
    print(f"reps in the field: {reps}")
    for label, value in figures.items():
        print(f"{label}: {value}")
    duplicates = sum(v for k, v in figures.items() if k.startswith("duplicate"))
    ok = (
        duplicates == 0
        and figures["unanswered"] == 0
        and figures["points awarded"] == figures["tasks done"]
    )
    print("result: " + ("0 duplicates, every message answered" if ok else "FAILED"))
    return 0 if ok else 1
