"""The supervisor graph through the real job path (stored messages, SQLite checkpoints), with a
fake chat model: routing by rules, by the LLM and by role; pending answers; each agent's first
useful behaviour; and what happens when the LLM is down."""

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from fake_llm import down_llm, fake_llm
from sqlmodel import select

from agents.registry import AGENTS
from agents.spec import AgentSpec
from channels.inbox import store_inbound
from channels.simulated import SimulatedSender
from db.demo import load_demo
from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import Product, Promotion, Rep, Role, StockLevel, Task, User
from jobs.turns import Turns
from messages import InboundMessage, Kind
from settings import Settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("graph")
    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=12, days=30, progress=False).company_id
    with company_session(company_id, engine) as session:
        for level in session.exec(select(StockLevel).where(StockLevel.quantity > 0)):
            level.quantity = 5000
        session.commit()
    yield folder, engine, company_id
    engine.dispose()


def phone_of(engine, company_id, role: Role, skip: int = 0) -> str:
    with company_session(company_id, engine) as session:
        users = session.exec(select(User).where(User.role == role).order_by(User.phone)).all()
        return users[skip].phone


class Chat:
    """Messages in through the store-then-answer path, replies out of the simulated sender."""

    def __init__(self, folder, engine, company_id, llm=None, tmp=None, agents=None) -> None:
        settings = Settings(
            _env_file=None, data_dir=tmp or folder, llm_backend="off", burst_window_s=0
        )
        self.sender = SimulatedSender("whatsapp")
        self.turns = Turns(settings, engine, {"whatsapp": self.sender}, llm, agents=agents)
        self.engine, self.company_id = engine, company_id

    async def say(self, phone: str, text: str = "", choice: str | None = None):
        now = datetime.now(UTC)
        message = InboundMessage(
            channel="whatsapp",
            provider_message_id=f"wamid.{uuid.uuid4().hex}",
            sender=phone,
            recipient="PN1",
            kind=Kind.button if choice else Kind.text,
            text=text,
            choice_id=choice,
            sent_at=now,
            received_at=now,
        )
        before = len(self.sender.sent[phone])
        store_inbound(self.engine, self.company_id, message, {})
        await self.turns.answer_conversation(self.company_id, "whatsapp", phone)
        return self.sender.sent[phone][before:]

    def run(self, scenario):
        async def wrapped():
            try:
                return await scenario(self)
            finally:
                await self.turns.close()

        return asyncio.run(wrapped())


def never_routes():
    """A fake model that fails the test if the supervisor asks it to route."""
    return fake_llm()


def test_an_agent_is_its_own_module_and_one_line_in_the_registry(demo, tmp_path):
    """A small extra agent, registered beside the others: routed to by its keywords and by
    the LLM, listed in its role's menu, refused to the others."""
    folder, engine, company_id = demo
    retailer = phone_of(engine, company_id, Role.retailer)
    rep = phone_of(engine, company_id, Role.rep)

    async def balance(ctx, state) -> dict:
        ctx.say(f"{ctx.sender.name.split()[0]}, your loyalty balance is 1,200 coins.")
        return {"active": None}

    loyalty = AgentSpec(
        name="loyalty",
        answer=balance,
        roles=frozenset({Role.retailer}),
        description="the loyalty coins (inaam) a retailer has earned.",
        examples=((Role.retailer, "mere inaam ke sikke kitne hain"),),
        keywords=re.compile(r"\bloyalty balance\b", re.IGNORECASE),
        menu=("My coins", 'loyalty: "my loyalty balance"'),
        denied="Loyalty coins are for retailers.",
    )
    asked = []

    def choose(request):
        asked.append(request)
        return {label: 1.0 if label == "loyalty" else 0.0 for label in request.labels}

    async def scenario(chat):
        by_rule = await chat.say(retailer, "what is my loyalty balance")
        by_llm = await chat.say(retailer, "mere inaam ke sikke dikhao")
        menu = await chat.say(retailer, "hi")
        refused = await chat.say(rep, "loyalty balance")
        return by_rule, by_llm, menu, refused

    chat = Chat(folder, engine, company_id, fake_llm(classify=choose), tmp_path,
                agents=(*AGENTS, loyalty))  # fmt: skip
    by_rule, by_llm, menu, refused = chat.run(scenario)
    assert by_rule[-1].text.endswith("your loyalty balance is 1,200 coins.")
    assert by_llm[-1].text.endswith("your loyalty balance is 1,200 coins.")
    assert (
        "loyalty" in asked[0].labels
        and "- loyalty: the loyalty coins (inaam)" in (asked[0].messages[0]["content"])
    )
    assert 'loyalty: "my loyalty balance"' in menu[-1].text
    assert refused[-1].text.startswith("Loyalty coins are for retailers.")


def test_rules_route_each_role_to_its_agent_without_the_llm(demo, tmp_path):
    folder, engine, company_id = demo
    retailer = phone_of(engine, company_id, Role.retailer)
    rep = phone_of(engine, company_id, Role.rep)
    manager = phone_of(engine, company_id, Role.manager)

    async def scenario(chat):
        order = await chat.say(retailer, "2 cs parle g 250g")
        tasks = await chat.say(rep, "my tasks today")
        report = await chat.say(manager, "top 5 stores last week")
        hello = await chat.say(manager, "hi")
        return order, tasks, report, hello

    order, tasks, report, hello = Chat(folder, engine, company_id, never_routes(), tmp_path).run(
        scenario
    )
    assert "Order #" in order[-1].text
    assert tasks[-1].text.startswith(("Your tasks today", "No tasks for you today"))
    assert report[0].image is not None and report[0].image.startswith(b"\x89PNG")
    assert "sales inr" in report[1].text and len(report[1].buttons) == 3
    assert hello[-1].text.startswith("Namaste Vikram")


def test_a_role_cannot_reach_another_roles_agent(demo, tmp_path):
    folder, engine, company_id = demo
    retailer = phone_of(engine, company_id, Role.retailer, 1)
    rep = phone_of(engine, company_id, Role.rep, 1)

    async def scenario(chat):
        return (
            await chat.say(retailer, "top 5 stores last week"),
            await chat.say(rep, "top 5 stores last week"),
        )

    retailer_reply, rep_reply = Chat(folder, engine, company_id, never_routes(), tmp_path).run(
        scenario
    )
    assert retailer_reply[-1].text.startswith("Company sales reports are for your distributor")
    assert rep_reply[-1].text.startswith("Company sales reports are for your distributor")
    assert all(reply.image is None for reply in retailer_reply + rep_reply)


def test_the_llm_decides_what_rules_cannot_and_low_confidence_asks(demo, tmp_path):
    folder, engine, company_id = demo
    manager = phone_of(engine, company_id, Role.manager)
    probabilities = {
        "is the team doing fine": {"analytics": 0.4, "coach": 0.35, "other": 0.25},
        "kuch naya hai kya mere liye": {"promo": 0.9, "other": 0.1},
    }

    def classify(request):
        text = json.loads(request.messages[-1]["content"].split(": ", 1)[1])
        found = probabilities[text]
        return {label: found.get(label, 0.0) for label in request.labels}

    async def scenario(chat):
        return (
            await chat.say(manager, "is the team doing fine"),
            await chat.say(manager, "kuch naya hai kya mere liye"),
        )

    unsure, promo = Chat(folder, engine, company_id, fake_llm(classify=classify), tmp_path).run(
        scenario
    )
    assert unsure[-1].text.startswith("I'm not sure what you need")
    assert {b.id for b in unsure[-1].buttons} <= {"menu:analytics", "menu:promo", "menu:coach"}
    assert promo[-1].text.startswith(("Schemes running now", "No scheme is running"))


def test_with_the_llm_down_rules_still_route_and_it_says_what_it_cannot_do(demo, tmp_path):
    folder, engine, company_id = demo
    manager = phone_of(engine, company_id, Role.manager)

    async def scenario(chat):
        return (
            await chat.say(manager, "sales yesterday"),
            await chat.say(manager, "which reps improved their strike rate most vs last month?"),
            await chat.say(manager, "hello"),
        )

    template, free_form, hello = Chat(folder, engine, company_id, down_llm(), tmp_path).run(
        scenario
    )
    assert template[-1].text.startswith("sales inr:")
    assert free_form[-1].text.startswith("I can't answer free-form questions right now")
    assert "language model is down" in hello[-1].text


def test_bad_questions_get_a_specific_reply_and_run_no_sql(demo, tmp_path):
    """Asking to change data, a 6,000-character message, a script we do not read: each said
    plainly; the model routes what rules do not (to the figures here) and writes no SQL."""
    folder, engine, company_id = demo
    manager = phone_of(engine, company_id, Role.manager)
    retailer = phone_of(engine, company_id, Role.retailer)
    llm = fake_llm(classify=lambda request: {label: float(label == "analytics")
                                             for label in request.labels})  # fmt: skip

    async def scenario(chat):
        return (
            await chat.say(manager, "delete all orders from last week"),
            await chat.say(manager, "sales " * 1000),
            await chat.say(manager, "விற்பனை எவ்வளவு"),
            await chat.say(retailer, "இரண்டு பெட்டி மேகி"),
        )

    change, long, tamil, tamil_order = Chat(folder, engine, company_id, llm, tmp_path).run(scenario)
    assert change[-1].text.startswith("I only read the data for reports: I can't change")
    assert long[-1].text.startswith("That message is too long for one question")
    for reply in (tamil, tamil_order):
        assert reply[-1].text.startswith("Sorry, I read English, Hindi and Hinglish")
    backend = llm.backend
    assert backend.completions == []  # no SQL asked for
    assert not any("மேகி" in str(r.messages) or "விற்பனை" in str(r.messages)
                   for r in backend.classifications)  # fmt: skip


def test_a_pending_order_question_gets_the_answer_even_if_it_looks_like_something_else(
    demo, tmp_path
):
    folder, engine, company_id = demo
    retailer = phone_of(engine, company_id, Role.retailer, 2)

    async def scenario(chat):
        question = await chat.say(retailer, "surf excel bhejo")
        picked = await chat.say(retailer, choice=question[-1].buttons[0].id)
        answered = await chat.say(retailer, "2")
        return question, picked, answered

    question, picked, answered = Chat(folder, engine, company_id, never_routes(), tmp_path).run(
        scenario
    )
    assert question[-1].buttons and question[-1].buttons[0].id.startswith("pick:")
    assert picked[-1].text.startswith("How many of")
    assert "Order #" in answered[-1].text


def test_coach_role_play_is_scored_by_the_llm_or_by_keywords(demo, tmp_path):
    folder, engine, company_id = demo
    rep = phone_of(engine, company_id, Role.rep, 2)
    answer = (
        "Haan bhaiya samajh sakta hoon. Kaunsa item zyada pada hai? Yeh fast item 3 din "
        "mein nikal jata hai, 1 case le lijiye."
    )
    scored = json.dumps(
        {"acknowledge": 2, "probe": 2, "answer": 1, "close": 2, "tip": "Quote the weekly sell-out."}
    )

    async def with_llm(chat):
        start = await chat.say(rep, "coach me")
        score = await chat.say(rep, answer)
        after = await chat.say(rep, "my tasks today")  # the role-play is over
        return start, score, after

    start, score, after = Chat(
        folder, engine, company_id, fake_llm(complete=lambda _: scored), tmp_path
    ).run(with_llm)
    assert start[-1].text.startswith("Role-play: Too Much Stock Already")
    assert 'Retailer: "Abhi bahut stock pada hai' in start[-1].text
    assert score[-1].text.startswith("Score 7/8 (acknowledge 2/2, probe 2/2, answer 1/2")
    assert "Quote the weekly sell-out." in score[-1].text
    assert after[-1].text.startswith(("Your tasks today", "No tasks for you today"))

    async def without_llm(chat):
        await chat.say(rep, "/practice")  # the second scenario: rounds carry on
        return await chat.say(rep, answer)

    keyword = Chat(folder, engine, company_id, down_llm(), tmp_path).run(without_llm)
    assert keyword[-1].text.startswith("Score ") and "The playbook says" in keyword[-1].text


def test_promo_answers_running_schemes_and_drafts_one_for_a_manager(demo, tmp_path):
    folder, engine, company_id = demo
    retailer = phone_of(engine, company_id, Role.retailer, 3)
    manager = phone_of(engine, company_id, Role.manager)
    draft = json.dumps(
        {
            "name": "Maggi monsoon push",
            "discount_pct": 4,
            "min_cases": 2,
            "free_pieces": 0,
            "days": 14,
            "reason": "Sales fell 12%.",
        }
    )

    async def scenario(chat):
        asked = await chat.say(retailer, "any scheme on maggi?")
        unknown = await chat.say(retailer, "koi scheme on nivea creme?")
        drafted = await chat.say(manager, "draft a scheme for maggi 70g")
        activated = await chat.say(manager, choice=drafted[-1].buttons[0].id)
        stolen = await chat.say(retailer, choice=drafted[-1].buttons[0].id)
        return asked, unknown, drafted, activated, stolen

    asked, unknown, drafted, activated, stolen = Chat(
        folder, engine, company_id, fake_llm(complete=lambda _: draft), tmp_path
    ).run(scenario)
    assert asked[-1].text.startswith(("Schemes on Maggi", "No scheme is running on Maggi"))
    assert unknown[-1].text.startswith('I couldn\'t find "nivea creme" in our catalogue.')
    assert drafted[-1].text.startswith("Draft scheme DRAFT-")
    assert "4% off on 2 cases" in drafted[-1].text and "saved inactive" in drafted[-1].text
    assert activated[-1].text.startswith("Scheme DRAFT-") and "is active" in activated[-1].text
    assert stolen[-1].text == "Only a manager can activate a scheme."
    with company_session(company_id, engine) as session:
        saved = session.exec(select(Promotion).where(Promotion.code.startswith("DRAFT-"))).one()
        assert saved.is_active and saved.discount_pct == 4


def test_a_rep_marks_a_task_done_and_earns_its_points(demo, tmp_path):
    folder, engine, company_id = demo
    today = datetime.now(ZoneInfo("Asia/Kolkata")).date()
    with company_session(company_id, engine) as session:
        rep = session.exec(select(Rep).order_by(Rep.code)).first()
        task = Task(
            rep_id=rep.id,
            task_type="msl_gap",
            title="Pitch Tata Salt 1kg",
            reasoning="Missing from the shelf.",
            points=15,
            due_date=today,
        )
        session.add(task)
        session.commit()
        phone, balance, task_id, rep_id = rep.phone, rep.points_balance, task.id, rep.id

    async def scenario(chat):
        listed = await chat.say(phone, "aaj ke tasks")
        button = next(b for b in listed[-1].buttons if b.id == f"tasks:done:{task_id}")
        done = await chat.say(phone, choice=button.id)
        again = await chat.say(phone, choice=button.id)
        return done, again

    done, again = Chat(folder, engine, company_id, never_routes(), tmp_path).run(scenario)
    assert done[-1].text.startswith("Done: Pitch Tata Salt 1kg. +15 points")
    assert again[-1].text.endswith("is already done.")
    with company_session(company_id, engine) as session:
        assert session.get(Task, task_id).status == "completed"
        assert session.get(Rep, rep_id).points_balance == balance + 15


def test_language_and_usual_order_are_remembered_across_conversations(demo, tmp_path):
    folder, engine, company_id = demo
    retailer = phone_of(engine, company_id, Role.retailer, 4)

    async def first(chat):
        await chat.say(retailer, "bhai 2 cs parle g 250g aur 1 cs maggi 70g bhej do")

    async def later(chat):
        return await chat.say(retailer, "namaste")

    Chat(folder, engine, company_id, never_routes(), tmp_path).run(first)
    hello = Chat(folder, engine, company_id, never_routes(), tmp_path).run(later)  # restarted
    assert hello[-1].text.startswith("Namaste ")
    assert " ji! Main in cheezon mein madad kar sakta hoon:" in hello[-1].text
    assert "Your usual order: " in hello[-1].text and "Parle-G 250g" in hello[-1].text


def test_ok_accepts_a_substitute_and_a_rep_saying_done_with_calls_earns_nothing(demo, tmp_path):
    folder, engine, company_id = demo
    retailer = phone_of(engine, company_id, Role.retailer, 5)
    rep = phone_of(engine, company_id, Role.rep, 3)
    with company_session(company_id, engine) as session:
        sold_out = session.exec(
            select(StockLevel).where(StockLevel.quantity == 0).order_by(StockLevel.product_id)
        ).first()
        name = session.get(Product, sold_out.product_id).name

    async def scenario(chat):
        offer = await chat.say(retailer, f"1 cs {name}")
        accepted = await chat.say(retailer, "ok")
        calls = await chat.say(rep, "I have done 3 calls today, rest tomorrow")
        return offer, accepted, calls

    offer, accepted, calls = Chat(folder, engine, company_id, down_llm(), tmp_path).run(scenario)
    assert any(b.id == "sub:yes" for b in offer[-1].buttons), offer[-1].text
    assert "Order #" in accepted[-1].text
    assert not calls[-1].text.startswith("Done:")
