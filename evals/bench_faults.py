"""Fault-injection benchmark: `opensales bench faults [--messages 300] [--seed 1] [--processes 2]`.

Are orders lost or duplicated when processes die? It starts the deployment `bench webhook` starts
(a throwaway PostgreSQL database with a 100-store demo company, Redis, N `opensales serve`
processes and one `opensales worker`), with the LLM off so that only the deterministic fast path
reads orders, and stock high enough for every order. It sends order messages from 40 demo
retailers, as bursts (2-4 texts within the burst window) and single messages, the way Meta does:
a delivery is retried until some server answers 200, and about 10% are delivered twice. Meanwhile
the worker and the server processes are killed with SIGKILL at times drawn from `--seed`, and
restarted at once, as a supervisor would (as is one that exits by itself). Once every stored
message is answered (the sweepers take up stranded ones after 30-60 s), the pieces ordered per
retailer and SKU are compared with the pieces sent. Exit status 0 when they match, nothing is
duplicated and nothing is lost.
"""

import argparse
import asyncio
import itertools
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
from sqlalchemy import Engine, text

from db.demo import load_demo
from db.engine import create_db_engine
from db.migrate import upgrade
from evals.bench_webhook import (
    BURST_S,
    delivery,
    deployment_env,
    free_port,
    signature,
    wait_ready,
)
from phrases import ADD, CANCEL_ORDER, REMOVE, REPEAT_WORDS, STATUS_WORDS
from tools.catalog import demo_parser
from tools.order_parser import OrderParser

RETAILERS = 40
RATE = 4.0  # messages per second, on average
BURSTS = 0.4  # the share of sends that are a burst of 2-4 texts rather than one message
DUPLICATES = 0.1  # the share of messages Meta delivers a second time
WORKER_KILLS = 6
SERVER_KILLS = 2
GIVE_UP_S = 120  # Meta retries for days; a bench that never gets a 200 should still end
ANSWER_WAIT_S = 240
# Plain new orders: none starts with a word that edits an earlier order (aur, add, remove, ...).
TEMPLATES = [
    "{n} cs parle g 250",
    "{n} ctn coke 750ml",
    "{n} pcs surf excel 1kg aur 2 pcs vim bar 135g",
    "maggi 70g {n} case",
    "{n} pcs dairy milk 50g",
    "{n} case tata salt",
    "{n} pkt tata tea 250g",
    "bisleri 1l {n} case, 12 pcs kurkure 20 rs",
    "{n} pcs amul butter 100g",
    "{n} cs thums up 750ml",
    "{n} pcs lays magic masala 25g",
    "{n} cs sprite 750ml",
    "{n} pkt red label 250g",
    "{n} pcs good day 200g",
    "{n} case frooti 125ml",
    "{n} peti bisleri 500ml",
    "{n} cs oreo",
    "{n} pcs nescafe classic 50g",
    "{n} pcs bournvita 500g",
    "{n} cs limca 750ml",
]
EDITS = (ADD, REMOVE, REPEAT_WORDS, CANCEL_ORDER, STATUS_WORDS)


@dataclass
class OrderText:
    """One order message of the plan: who sends it, when, and what it orders."""

    id: str
    phone: str
    body: str
    pieces: Counter[str]  # per SKU, as the fast path reads the body
    at: float  # seconds after the traffic starts
    again_after: float | None  # delivered a second time this long after the first, or not


def pieces_read(parser: OrderParser, body: str) -> Counter[str]:
    """The pieces per SKU the fast path reads in `body`. A text it is unsure of (the LLM is off)
    or one that edits an earlier order would make the expected figures wrong: refused."""
    parsed = parser.parse(body)
    if not parsed.confident or any(edit.search(body.lower()) for edit in EDITS):
        raise ValueError(f"not a plain order the fast path reads confidently: {body!r}")
    pieces: Counter[str] = Counter()
    for line in parsed.lines:
        pieces[line.candidates[0]] += line.pieces
    return pieces


def plan(count: int, phones: list[str], parser: OrderParser, rng: random.Random) -> list[OrderText]:
    """`count` messages in send order: bursts of 2-4 texts a fraction of the burst window apart,
    and single messages, from random retailers at about `RATE` messages a second."""
    texts: list[OrderText] = []
    at = 0.0
    while len(texts) < count:
        size = min(rng.randint(2, 4) if rng.random() < BURSTS else 1, count - len(texts))
        at += rng.uniform(0, 2 * size / RATE)
        phone = rng.choice(phones)
        sent_at = at
        for _ in range(size):
            body = rng.choice(TEMPLATES).format(n=rng.randint(1, 5))
            again = rng.uniform(0.5, 5) if rng.random() < DUPLICATES else None
            message_id = f"wamid.faults.{len(texts)}"
            texts.append(
                OrderText(message_id, phone, body, pieces_read(parser, body), sent_at, again)
            )
            sent_at += rng.uniform(0.05, BURST_S / 4)
    return sorted(texts, key=lambda message: message.at)  # a burst may overlap the next send


class Deployment:
    """The server and worker processes by name, started again at once when killed or when one
    exits by itself, as a supervisor would; each event is printed with its time."""

    def __init__(self, env: dict[str, str], ports: list[int]) -> None:
        cli = str(Path(sys.executable).parent / "opensales")
        self.env = env
        self.commands = {f"server :{port}": [cli, "serve", "--port", str(port)] for port in ports}
        self.commands["worker"] = [cli, "worker"]
        self.processes: dict[str, subprocess.Popen] = {}
        self.since = time.monotonic()  # events are timed from here: set when the traffic starts
        self.exits = 0  # processes that ended without being killed

    def start(self, name: str) -> int:
        self.processes[name] = subprocess.Popen(self.commands[name], env=self.env)
        return self.processes[name].pid

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown handler runs, as when the machine or the OOM killer stops it."""
        process = self.processes[name]
        process.kill()
        process.wait()
        self._say(f"SIGKILL {name} (pid {process.pid}), restarted as pid {self.start(name)}")

    def revive(self) -> None:
        """Start again any process that ended by itself: a crash is a fault too."""
        for name, process in list(self.processes.items()):
            if process.poll() is not None:
                self.exits += 1
                self._say(
                    f"{name} (pid {process.pid}) exited by itself with status "
                    f"{process.returncode}, restarted as pid {self.start(name)}"
                )

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _say(self, event: str) -> None:
        print(f"{time.monotonic() - self.since:6.1f} s  {event}", flush=True)


def kill_plan(
    deployment: Deployment, seconds: float, rng: random.Random
) -> list[tuple[float, str]]:
    """When to kill what: the worker `WORKER_KILLS` times and a random server `SERVER_KILLS`
    times, while the traffic flows."""
    servers = [name for name in deployment.commands if name != "worker"]
    victims = ["worker"] * WORKER_KILLS + [rng.choice(servers) for _ in range(SERVER_KILLS)]
    return sorted((rng.uniform(0.05, 0.95) * seconds, name) for name in victims)


async def deliver(client: httpx.AsyncClient, ports: list[int], message: OrderText) -> int:
    """Post the delivery to random servers until one answers 200, as Meta retries; the attempts
    it took, or 0 when no server took it within `GIVE_UP_S`."""
    body = delivery(message.phone, message.id, message.body)
    headers = {"X-Hub-Signature-256": signature(body), "Content-Type": "application/json"}
    deadline = time.monotonic() + GIVE_UP_S
    attempts = 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            response = await client.post(
                f"http://127.0.0.1:{random.choice(ports)}/whatsapp/webhook",
                content=body,
                headers=headers,
            )
            if response.status_code == 200:
                return attempts
        except httpx.TransportError:  # the server died or is starting again
            pass
        await asyncio.sleep(min(0.2 * attempts, 2))
    return 0


async def traffic(
    deployment: Deployment, ports: list[int], texts: list[OrderText], kills: list[tuple[float, str]]
) -> Counter[str]:
    """Send the plan while killing on schedule and restarting; counts of what the deliveries met."""
    started = deployment.since = time.monotonic()
    counts: Counter[str] = Counter()

    async def send(client: httpx.AsyncClient, message: OrderText) -> None:
        await asyncio.sleep(message.at - (time.monotonic() - started))
        attempts = await deliver(client, ports, message)
        counts["retried"] += attempts > 1
        counts["undelivered"] += attempts == 0
        if message.again_after is not None:
            await asyncio.sleep(message.again_after)
            counts["duplicates"] += await deliver(client, ports, message) > 0

    async def supervise() -> None:
        due = list(kills)
        while True:
            deployment.revive()
            while due and due[0][0] <= time.monotonic() - started:
                deployment.kill(due.pop(0)[1])
            await asyncio.sleep(0.2)

    supervisor = asyncio.create_task(supervise())
    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(send(client, message) for message in texts))
    supervisor.cancel()  # every kill is due before the last message is sent
    return counts


def wait_answered(engine: Engine, deployment: Deployment) -> int:
    """Wait until no stored message is left unanswered, up to `ANSWER_WAIT_S`, with a line every
    10 s (the sweepers take up stranded messages after 30-60 s); how many are left."""
    started = time.monotonic()
    with engine.connect() as connection:
        for second in itertools.count():
            waiting = connection.execute(
                text(
                    "SELECT count(*) FROM messages WHERE direction = 'inbound' "
                    "AND status <> 'processed'"
                )
            ).scalar()
            if not waiting or second >= ANSWER_WAIT_S:
                break
            if second % 10 == 0:
                print(f"waiting for answers: {waiting} messages unanswered", flush=True)
            deployment.revive()
            time.sleep(1)
            connection.commit()  # a fresh snapshot for the next count
    print(f"{waiting} messages unanswered after {time.monotonic() - started:.0f} s", flush=True)
    return waiting


def lost_messages(texts: list[OrderText], missing: Counter[tuple[str, str]]) -> list[OrderText]:
    """The pieces missing per retailer and SKU, as whole messages, counted from each retailer's
    last message backwards: one is lost when all its pieces are among those still missing (the
    lost ones are later messages of a retailer, merged into an earlier one's answer)."""
    left = Counter(missing)
    lost = []
    for message in reversed(texts):
        wanted = {(message.phone, sku): count for sku, count in message.pieces.items()}
        if all(left[key] >= count for key, count in wanted.items()):
            left.subtract(wanted)
            lost.append(message)
    return lost


def report(engine: Engine, texts: list[OrderText], unanswered: int) -> bool:
    """Print pieces sent against pieces ordered, duplicates and losses; True when all is well."""
    sent: Counter[tuple[str, str]] = Counter()
    for message in texts:
        for sku, count in message.pieces.items():
            sent[(message.phone, sku)] += count
    ordered: Counter[tuple[str, str]] = Counter()
    with engine.connect() as connection:
        for phone, items in connection.execute(
            text(
                "SELECT m.sender, o.items FROM orders_eb2b o "
                "JOIN messages m ON m.id = o.source_message_id WHERE o.status <> 'cancelled'"
            )
        ):
            for item in items:
                ordered[(phone, item["sku"])] += item["quantity"]
        extra_orders = connection.execute(
            text(
                "SELECT count(*) - count(DISTINCT source_message_id) FROM orders_eb2b "
                "WHERE source_message_id IS NOT NULL AND status <> 'cancelled'"
            )
        ).scalar()
        stored = set(
            connection.execute(
                text("SELECT provider_message_id FROM messages WHERE direction = 'inbound'")
            ).scalars()
        )
    extra_pieces = sum((ordered - sent).values())
    lost = lost_messages(texts, sent - ordered)
    unstored = sum(message.id not in stored for message in texts)
    print(f"pieces sent {sum(sent.values())}, pieces ordered {sum(ordered.values())}")
    print(
        f"duplicates: {extra_orders} orders, {extra_pieces} pieces (orders beyond one per "
        "source message, and pieces ordered beyond those sent)"
    )
    print(
        f"messages lost: {len(lost)} (pieces sent but never ordered, as messages), "
        f"{unanswered} unanswered, {unstored} not stored"
    )
    for message in reversed(lost[-5:]):  # the first few lost, in send order
        print(f"  lost: {message.phone} {message.body!r} sent at {message.at:.1f} s")
    return sent == ordered and not (extra_orders or extra_pieces or lost or unanswered or unstored)


def main(args: argparse.Namespace) -> int:
    admin = args.postgres_url or "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url = args.redis_url or "redis://127.0.0.1:6379/0"
    name = f"opensales_faults_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = admin.rsplit("/", 1)[0] + f"/{name}"
    engine = create_db_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    env = deployment_env(url, redis_url, name)
    ports = [free_port() for _ in range(args.processes)]
    deployment = Deployment(env, ports)
    started = time.monotonic()
    try:
        upgrade(engine)
        load_demo(engine, stores=100, days=14, progress=False)
        with engine.begin() as connection:  # enough stock that every order can be taken
            connection.execute(text("UPDATE stock_levels SET quantity = 1000000"))
            retailers = "SELECT phone FROM users WHERE role = 'retailer' ORDER BY phone LIMIT :n"
            phones = list(connection.execute(text(retailers), {"n": RETAILERS}).scalars())
        rng = random.Random(args.seed)
        texts = plan(args.messages, phones, demo_parser(), rng)
        kills = kill_plan(deployment, texts[-1].at, rng)
        for process in deployment.commands:
            deployment.start(process)
        for port in ports:
            wait_ready(port)
        print(
            f"{args.processes} server processes, 1 worker, PostgreSQL, Redis, LLM off; "
            f"{len(texts)} order messages from {len(phones)} retailers over "
            f"{texts[-1].at:.0f} s (seed {args.seed}), {len(kills)} kills",
            flush=True,
        )
        counts = asyncio.run(traffic(deployment, ports, texts, kills))
        print(
            f"sent in {time.monotonic() - deployment.since:.0f} s: {counts['retried']} deliveries "
            f"retried after an error, {counts['duplicates']} delivered twice, "
            f"{counts['undelivered']} never taken",
            flush=True,
        )
        unanswered = wait_answered(engine, deployment)
        well = report(engine, texts, unanswered)
        workers = sum(victim == "worker" for _at, victim in kills)
        print(
            f"kills: {workers} worker, {len(kills) - workers} server; {deployment.exits} exited by "
            f"themselves; elapsed {time.monotonic() - started:.0f} s"
        )
        return 0 if well else 1
    finally:
        deployment.stop()
        engine.dispose()
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
