"""No store, retailer, rep or user name, phone number or address from the database reaches any
agent's prompt, on any channel, while replies still show the real names.

A capturing model answers every agent's LLM call (routing, order reading, coaching, scheme
drafts, analytics SQL) and keeps what it was sent. The analytics answer filters on the stand-in
the model saw for a store, and the reply names the real store: the redaction is reversible
where it must be, and invisible to the people using the assistant."""

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from fake_llm import FakeBackend
from sqlmodel import select
from starlette.testclient import TestClient

from channels.inbox import store_inbound
from channels.simulated import SimulatedSender
from db.demo import load_demo
from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import Rep, Role, StockLevel, Store, User
from jobs.turns import Turns
from llm.breaker import CircuitBreaker
from llm.service import LLMService
from messages import InboundMessage, Kind
from server import create_app
from settings import Settings

SECRET = "privacy-test-secret-of-32-bytes-or-more"
INTENT_BY_ROLE = {"retailer": "order", "rep": "coach", "manager": "analytics", "admin": "help"}


class CapturingModel(FakeBackend):
    """Answers each kind of request plausibly, and keeps every request it was sent."""

    def __init__(self) -> None:
        super().__init__(complete=self.answer, classify=self.choose)

    def sent(self) -> list[str]:
        requests = [*self.completions, *self.classifications]
        return [message["content"] for request in requests for message in request.messages]

    def choose(self, request) -> dict[str, float]:
        role = request.messages[-1]["content"].split(":", 1)[0]
        wanted = INTENT_BY_ROLE.get(role, "help")
        return {label: 1.0 if label == wanted else 0.0 for label in request.labels}

    def answer(self, request) -> str:
        schema = request.json_schema or {}
        title = schema.get("title")
        if title == "Order":
            sku = schema["$defs"]["Line"]["properties"]["sku"]["enum"][0]
            return json.dumps({"items": [{"sku": sku, "quantity": 2, "unit": "case"}],
                               "unclear": False})  # fmt: skip
        if title == "Score":
            return json.dumps({"acknowledge": 2, "probe": 1, "answer": 1, "close": 2,
                               "tip": "Ask which size sells most."})  # fmt: skip
        if title == "SchemeDraft":
            return json.dumps({"name": "Maggi push", "discount_pct": 5, "min_cases": 2,
                               "free_pieces": 0, "days": 14, "reason": "Sales fell."})  # fmt: skip
        if title == "SqlAnswer":  # filter on the stand-in the question showed for the store
            question = request.messages[-1]["content"].rsplit("Q:", 1)[-1]
            store = re.search(r"Store [A-Z]{1,3}\b", question).group(0)
            return json.dumps({"sql": (
                "SELECT s.name AS store, ROUND(SUM(t.total_paise) / 100.0, 2) AS sales_inr "
                "FROM transactions t JOIN stores s ON s.id = t.store_id "
                f"WHERE s.name = '{store}' GROUP BY s.name")})  # fmt: skip
        raise AssertionError(f"unexpected request {title}")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("privacy")
    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=12, days=30, progress=False).company_id
    with company_session(company_id, engine) as session:
        for level in session.exec(select(StockLevel)):
            level.quantity = 5000
        session.commit()
        stores = session.exec(select(Store).order_by(Store.code)).all()
        reps = session.exec(select(Rep)).all()
        users = session.exec(select(User)).all()
        secrets = {s.name for s in stores} | {s.owner_name for s in stores}
        secrets |= {s.address for s in stores} | {r.name for r in reps} | {u.name for u in users}
        phones = {p[-10:] for p in [s.owner_phone for s in stores] + [u.phone for u in users]}
        people = {role: next(u for u in users if u.role == role) for role in Role}
        store = next(s for s in stores if s.id == people[Role.retailer].store_id)
        rep = session.get(Rep, people[Role.rep].rep_id)
    yield folder, engine, company_id, secrets, phones, people, store, rep
    engine.dispose()


def script(store: Store, rep: Rep) -> list[tuple[Role, str]]:
    """Messages full of personal data, one or more for every agent that asks the model."""
    return [
        (Role.retailer, f"{store.owner_name} here from {store.name}, {store.address}, call "
                        f"{store.owner_phone}: 2 cs parle g 250 aur kuch naya maal"),
        (Role.retailer, f"{store.name} ke liye kya chal raha hai, {rep.name} kab aayenge?"),
        (Role.rep, f"{store.name} ke {store.owner_name} se kal milna hai, {rep.name} ke saath "
                   "jaun?"),
        (Role.rep, "coach me"),
        (Role.rep, f"{store.owner_name} ji, samajh sakta hoon. {store.name} mein 1 case try "
                   "kijiye"),
        (Role.manager, f"how much did {store.name} buy over the last 30 days?"),
        (Role.manager, f"draft a scheme for Maggi 70g, {rep.name} will pitch it at {store.name}"),
    ]  # fmt: skip


def leaked(model: CapturingModel, secrets: set[str], phones: set[str]) -> list[str]:
    sent = "\n".join(model.sent()).lower()
    digits = re.sub(r"\D", "", sent)
    found = [secret for secret in secrets if secret.lower() in sent]
    return found + [phone for phone in phones if phone in digits]


@pytest.mark.parametrize("channel", ["whatsapp", "sms", "console", "voice"])
def test_no_personal_data_reaches_a_prompt_on_any_channel(shop, tmp_path, channel):
    folder, engine, company_id, secrets, phones, people, store, rep = shop
    model = CapturingModel()
    sender = SimulatedSender(channel)
    settings = Settings(_env_file=None, data_dir=tmp_path, llm_backend="off")
    llm = LLMService(model, CircuitBreaker("privacy", 3, 10, 30))
    turns = Turns(settings, engine, {channel: sender}, llm)

    async def conversation() -> dict[Role, list[str]]:
        said: dict[Role, list[str]] = {}
        try:
            for role, text in script(store, rep):
                phone = people[role].phone
                now = datetime.now(UTC)
                message = InboundMessage(
                    channel=channel, provider_message_id=f"{channel}.{uuid.uuid4().hex}",
                    sender=phone, recipient="OURS", kind=Kind.text, text=text, sent_at=now,
                    received_at=now,
                )  # fmt: skip
                store_inbound(engine, company_id, message, {})
                before = len(sender.sent[phone])
                await turns.answer_conversation(company_id, channel, phone)
                said.setdefault(role, []).extend(m.text for m in sender.sent[phone][before:])
        finally:
            await turns.close()
        return said

    said = asyncio.run(conversation())
    kinds = {request.json_schema.get("title") for request in model.completions}
    assert kinds == {"Order", "Score", "SchemeDraft", "SqlAnswer"}  # every agent asked
    assert model.classifications  # and the router
    assert leaked(model, secrets, phones) == []
    assert any(store.name in reply for reply in said[Role.manager])  # real names in replies
    assert any(rep.name.split()[0] not in reply for reply in said[Role.rep])


def test_no_personal_data_reaches_a_prompt_through_the_agent_api(shop):
    folder, engine, company_id, secrets, phones, people, store, rep = shop
    model = CapturingModel()
    settings = Settings(_env_file=None, data_dir=folder, llm_backend="off",
                        auth_jwt_secret=SECRET)  # fmt: skip
    token = jwt.encode({"sub": "m-1", "company_id": str(company_id), "role": "manager",
                        "exp": int(datetime.now(UTC).timestamp()) + 600}, SECRET)  # fmt: skip
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(settings)) as api:
        api.app.state.runtime.turns.llm = LLMService(model, CircuitBreaker("api", 3, 10, 30))
        thread = api.post("/threads", headers=headers).json()["thread_id"]
        question = f"how much did {store.name} buy over the last 30 days?"
        run = api.post(f"/threads/{thread}/runs/wait", headers=headers,
                       json={"input": {"text": question}}).json()  # fmt: skip
    assert model.completions and leaked(model, secrets, phones) == []
    assert store.name in run["messages"][-1]["content"]
