"""The turn engine under faults, on both databases: a process that dies at any point of a turn
loses no order and makes none twice."""

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from channels.inbox import store_inbound
from channels.simulated import SimulatedSender
from db import outbox
from db.demo import load_demo
from db.engine import company_session
from db.models import Direction, Message, OrderEB2B, Role, StockLevel, Store, User
from jobs.turns import Turns, _units
from messages import InboundMessage, Kind
from settings import Settings
from tools.catalog import catalog_parser

FIRST = "2 cs parle g 250"
LATER = ["1 ctn coke 750ml", "3 pcs surf excel 1kg", "2 cs maggi 280g", "6 pcs dairy milk 50g"]


class Killed(BaseException):
    """The process dies here: no `except Exception` in our code catches it."""


@pytest.fixture
def shop(engine):
    company_id = load_demo(engine, stores=12, days=7, progress=False).company_id
    with company_session(company_id, engine) as session:
        for level in session.exec(select(StockLevel)):
            level.quantity = 100_000
        phone = session.exec(select(Store).order_by(Store.code)).first().owner_phone
        session.commit()
    return engine, company_id, phone


def said(engine, company_id, phone: str, text: str) -> None:
    now = datetime.now(UTC)
    message = InboundMessage(
        channel="whatsapp",
        provider_message_id=f"wamid.{uuid.uuid4().hex}",
        sender=phone,
        recipient="PN1",
        kind=Kind.text,
        text=text,
        sent_at=now,
        received_at=now,
    )
    assert store_inbound(engine, company_id, message, {}) is not None


def a_process(engine, tmp_path, sender) -> Turns:
    """A fresh process's turn engine (its own graph and conversation memory)."""
    settings = Settings(_env_file=None, data_dir=tmp_path, llm_backend="off", burst_window_s=0)
    return Turns(settings, engine, {"whatsapp": sender})


async def answer(turns: Turns, company_id, phone) -> None:
    try:
        await turns.answer_conversation(company_id, "whatsapp", phone)
    finally:
        await turns.close()


def pieces_ordered(engine, company_id) -> Counter:
    """Pieces per SKU in the orders made from messages (the demo's history left out)."""
    with company_session(company_id, engine) as session:
        orders = session.exec(
            select(OrderEB2B).where(
                OrderEB2B.source_message_id.is_not(None), OrderEB2B.status != "cancelled"
            )
        ).all()
    return Counter({}) + sum(
        (Counter({item["sku"]: item["quantity"]}) for o in orders for item in o.items), Counter()
    )


def pieces_in(engine, company_id, texts: list[str]) -> Counter:
    """What the texts ask for, as the fast path reads them (each line sure of itself)."""
    total: Counter = Counter()
    with company_session(company_id, engine) as session:
        parser = catalog_parser(session)
    for text in texts:
        parsed = parser.parse(text)
        assert parsed.confident, text
        for line in parsed.lines:
            total[line.sku] += line.pieces
    return total


def test_a_process_killed_after_a_turn_commits_loses_none_of_the_later_messages(shop, tmp_path):
    """The defect found under kill -9: the first order was committed, the process died before
    anything else, and later texts from the same retailer were merged into the first message's
    turn, found its order and were only confirmed again: never ordered."""
    engine, company_id, phone = shop
    said(engine, company_id, phone, FIRST)

    class DiesOnSend(SimulatedSender):
        async def send(self, to, message):
            raise Killed

    with pytest.raises(Killed):
        asyncio.run(
            answer(a_process(engine, tmp_path / "one", DiesOnSend("whatsapp")), company_id, phone)
        )
    for text in LATER:
        said(engine, company_id, phone, text)
    survivor = SimulatedSender("whatsapp")
    asyncio.run(answer(a_process(engine, tmp_path / "two", survivor), company_id, phone))

    assert pieces_ordered(engine, company_id) == pieces_in(engine, company_id, [FIRST, *LATER])
    with company_session(company_id, engine) as session:
        inbound = session.exec(
            select(Message).where(Message.sender == phone, Message.direction == Direction.inbound)
        ).all()
        orders = session.exec(select(OrderEB2B).where(OrderEB2B.source_message_id.is_not(None)))
        assert len(orders.all()) == 2
    assert {m.status for m in inbound} == {"processed"}
    confirmations = [m.text for m in survivor.sent[phone] if m.text.startswith("Order #")]
    assert len(confirmations) == 2  # the first order's, delivered after the restart, and one more


def test_a_process_killed_before_a_turn_commits_answers_it_once_after_a_restart(shop, tmp_path):
    engine, company_id, phone = shop
    said(engine, company_id, phone, FIRST)
    real_record = outbox.record

    def dies_while_committing(*args, **kwargs):
        raise Killed

    outbox.record = dies_while_committing
    try:
        with pytest.raises(Killed):
            asyncio.run(
                answer(
                    a_process(engine, tmp_path / "one", SimulatedSender("whatsapp")),
                    company_id,
                    phone,
                )
            )
    finally:
        outbox.record = real_record
    with company_session(company_id, engine) as session:
        assert not session.exec(
            select(OrderEB2B).where(OrderEB2B.source_message_id.is_not(None))
        ).all()
    survivor = SimulatedSender("whatsapp")
    asyncio.run(answer(a_process(engine, tmp_path / "two", survivor), company_id, phone))
    assert pieces_ordered(engine, company_id) == pieces_in(engine, company_id, [FIRST])
    assert [m.text[:7] for m in survivor.sent[phone]] == ["Order #"]


def test_an_order_sent_in_pieces_is_read_together_and_a_command_alone():
    """Found by `opensales simulate day`: a rep's order and "done 1" sent a moment apart were
    read as one order, and "done" was looked up in the catalogue."""
    texts = [FIRST, LATER[0], "done 1", "checkout", LATER[1], "/tasks", LATER[2]]
    messages = [Message(channel="whatsapp", kind="text", body=t) for t in texts]
    assert [[m.body for m in unit] for unit in _units(messages)] == [
        [FIRST, LATER[0]],
        ["done 1"],
        ["checkout"],
        [LATER[1]],
        ["/tasks"],
        [LATER[2]],
    ]


def test_a_turn_that_fails_tells_a_manager_something_true_for_a_manager(
    shop, tmp_path, monkeypatch
):
    """A bug in an agent: the turn is rolled back, the message counts as answered, and a manager
    is not told to send an order again (the turn engine's apology fits the sender's role)."""
    engine, company_id, _ = shop
    with company_session(company_id, engine) as session:
        manager = session.exec(select(User).where(User.role == Role.manager)).first().phone

    def broken(*args, **kwargs):
        raise RuntimeError("a bug in the analytics agent")

    monkeypatch.setattr("agents.analytics.ask", broken)
    said(engine, company_id, manager, "top 5 stores last week")
    sender = SimulatedSender("whatsapp")
    asyncio.run(answer(a_process(engine, tmp_path, sender), company_id, manager))

    (apology,) = sender.sent[manager]
    assert apology.text.startswith("Sorry, something went wrong with that message")
    assert "order" not in apology.text and "Please ask again" in apology.text
    with company_session(company_id, engine) as session:
        inbound = session.exec(
            select(Message).where(Message.sender == manager, Message.direction == Direction.inbound)
        ).all()
    assert [m.status for m in inbound] == ["processed"]
