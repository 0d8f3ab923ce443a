"""The agent API over real parts: tokens, threads, runs (wait and stream), history, rate limits,
one run at a time per thread, and conversation memory that survives a restart, on SQLite and
PostgreSQL."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from conftest import make_company
from fake_llm import fake_llm
from sqlmodel import select
from starlette.testclient import TestClient

from db.demo import load_demo
from db.engine import company_session, create_db_engine
from db.migrate import upgrade
from db.models import Direction, Message, Rep
from server import create_app
from settings import Settings

SECRET = "test-secret-for-hs256-tokens-only"


def token(company_id, role="manager", subject="u-manager", **claims) -> str:
    body = {
        "sub": subject,
        "company_id": str(company_id),
        "role": role,
        "exp": int(time.time()) + 600,
        **claims,
    }
    return jwt.encode(body, SECRET, algorithm="HS256")


def bearer(company_id, **claims) -> dict:
    return {"Authorization": f"Bearer {token(company_id, **claims)}"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    folder = tmp_path_factory.mktemp("api")
    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=12, days=14, progress=False).company_id
    other = make_company(engine, "beta")
    engine.dispose()
    return folder, company_id, other


def client(folder, **settings) -> TestClient:
    values = {"data_dir": folder, "llm_backend": "off", "auth_jwt_secret": SECRET, **settings}
    return TestClient(create_app(Settings(_env_file=None, **values)), raise_server_exceptions=False)


def test_every_call_needs_a_valid_token(shop):
    folder, company_id, _ = shop
    with client(folder) as api:
        missing = api.post("/threads")
        assert missing.status_code == 401 and missing.json()["error"]["code"] == "AUTH_REQUIRED"
        forged = jwt.encode(
            {
                "sub": "x",
                "company_id": str(company_id),
                "role": "admin",
                "exp": int(time.time()) + 60,
            },
            SECRET.upper(),
            algorithm="HS256",
        )
        bad = api.post("/threads", headers={"Authorization": f"Bearer {forged}"})
        assert bad.status_code == 401 and bad.json()["error"]["code"] == "AUTH_INVALID"
    with client(folder, auth_jwt_secret=None) as api:
        off = api.post("/threads", headers=bearer(company_id))
        assert off.status_code == 503 and off.json()["error"]["code"] == "AUTH_NOT_CONFIGURED"


def test_a_signed_token_for_a_company_that_does_not_exist_is_refused(shop):
    folder, company_id, _ = shop
    with client(folder) as api:
        for path in ("/threads", f"/threads/{uuid.uuid4()}/runs/wait"):
            refused = api.post(path, headers=bearer(uuid.uuid4()), json={"input": {"text": "hi"}})
            assert refused.status_code == 403, refused.text
            assert refused.json()["error"]["code"] == "AUTH_COMPANY_UNKNOWN"
        assert api.post("/threads", headers=bearer(company_id)).status_code == 201


def test_the_agents_listed_are_those_of_the_callers_role(shop):
    folder, company_id, _ = shop
    with client(folder) as api:
        manager = api.get("/agents", headers=bearer(company_id)).json()
        retailer = api.get("/agents", headers=bearer(company_id, role="retailer")).json()
    assert [a["name"] for a in manager] == [
        "promo",
        "analytics",
        "coach",
        "points",
        "credit",
        "help",
    ]
    assert [a["name"] for a in retailer] == ["order", "prices", "promo", "credit", "help"]
    analytics = next(a for a in manager if a["name"] == "analytics")
    assert "/report" in analytics["commands"] and "analytics_sql" in analytics["prompts"]


def test_browsers_reach_the_api_only_from_allowed_origins(shop):
    folder, company_id, _ = shop
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}  # fmt: skip
    with client(folder) as api:  # off by default
        answer = api.options("/threads", headers={"Origin": "https://chat.example", **preflight})
        assert "access-control-allow-origin" not in answer.headers
    with client(folder, cors_allow_origins="https://chat.example, https://b.example") as api:
        allowed = api.options("/threads", headers={"Origin": "https://chat.example", **preflight})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://chat.example"
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        other = api.options("/threads", headers={"Origin": "https://evil.example", **preflight})
        assert "access-control-allow-origin" not in other.headers
        made = api.post("/threads", headers={"Origin": "https://b.example", **bearer(company_id)})
        assert made.headers["access-control-allow-origin"] == "https://b.example"


def test_a_manager_asks_through_a_thread_and_reads_its_history(shop):
    folder, company_id, other_company = shop
    with client(folder) as api:
        created = api.post("/threads", headers=bearer(company_id), json={"metadata": {"a": 1}})
        assert created.status_code == 201
        thread = created.json()["thread_id"]
        run = api.post(
            f"/threads/{thread}/runs/wait",
            headers=bearer(company_id),
            json={"input": {"messages": [{"role": "user", "content": "top 3 stores last week"}]}},
        )
        assert run.status_code == 200, run.text
        body = run.json()
        assert body["route"]["agent"] == "analytics" and body["route"]["source"] == "rule"
        chart, answer = body["messages"]
        assert chart["image"]["media_type"] == "image/png"
        assert answer["content"].count("\n") >= 4 and len(answer["buttons"]) == 3
        history = api.get(f"/threads/{thread}/history", headers=bearer(company_id)).json()
        said = history[0]["values"]["history"]
        assert said[0] == {"role": "user", "text": "top 3 stores last week"}
        assert said[-1]["role"] == "assistant"
        for stranger in (bearer(company_id, subject="u-other"), bearer(other_company)):
            assert api.get(f"/threads/{thread}/history", headers=stranger).status_code == 404
            assert (
                api.post(
                    f"/threads/{thread}/runs/wait", headers=stranger, json={"input": {"text": "hi"}}
                ).json()["error"]["code"]
                == "THREAD_NOT_FOUND"
            )
        bad = api.post(
            f"/threads/{thread}/runs/wait",
            headers=bearer(company_id),
            json={"input": {"messages": []}},
        )
        assert bad.status_code == 422 and bad.json()["error"]["code"] == "INVALID_INPUT"
    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    with company_session(company_id, engine) as session:  # stored, processed, answered
        rows = session.exec(
            select(Message).where((Message.sender == thread) | (Message.recipient == thread))
        ).all()
        assert [r.status for r in rows if r.direction == Direction.inbound] == ["processed"]
        assert sum(r.direction == Direction.outbound for r in rows) == 2
    engine.dispose()


def test_a_streamed_run_sends_events_as_the_graph_moves(shop):
    folder, company_id, _ = shop
    with client(folder) as api:
        thread = api.post("/threads", headers=bearer(company_id)).json()["thread_id"]
        with api.stream(
            "POST",
            f"/threads/{thread}/runs/stream",
            headers=bearer(company_id),
            json={"input": {"text": "sales yesterday"}},
        ) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = [
                line.removeprefix("event: ")
                for line in response.iter_lines()
                if line.startswith("event: ")
            ]
    assert events[0] == "metadata" and events[-2:] == ["values", "end"]
    assert events.count("updates") == 2 and "messages" in events


def test_runs_are_rate_limited_per_user(shop):
    folder, company_id, _ = shop
    with client(folder, rate_limit_ai_per_minute=2) as api:
        thread = api.post("/threads", headers=bearer(company_id)).json()["thread_id"]
        codes = [
            api.post(
                f"/threads/{thread}/runs/wait",
                headers=bearer(company_id),
                json={"input": {"text": "hi"}},
            ).status_code
            for _ in range(3)
        ]
        limited = api.post(
            f"/threads/{thread}/runs/wait",
            headers=bearer(company_id),
            json={"input": {"text": "hi"}},
        )
        other_user = api.post("/threads", headers=bearer(company_id, subject="u-2"))
    assert codes == [200, 200, 429]
    assert limited.json()["error"]["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1
    assert other_user.status_code == 201  # creating a thread is not a run


def test_a_second_run_on_a_thread_waits_for_the_first(shop):
    folder, company_id, _ = shop
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def slow_choice(request):
        started = time.monotonic()
        time.sleep(0.4)
        with lock:
            spans.append((started, time.monotonic()))
        return {label: 1.0 if label == "help" else 0.0 for label in request.labels}

    with client(folder) as api:
        api.app.state.runtime.turns.llm = fake_llm(classify=slow_choice)
        thread = api.post("/threads", headers=bearer(company_id)).json()["thread_id"]

        def ask(text):
            return api.post(
                f"/threads/{thread}/runs/wait",
                headers=bearer(company_id),
                json={"input": {"text": text}},
            ).status_code

        with ThreadPoolExecutor(2) as pool:
            codes = list(pool.map(ask, ["is everything fine", "anything new today"]))
        history = api.get(f"/threads/{thread}/history", headers=bearer(company_id)).json()
    assert codes == [200, 200]
    (first_start, first_end), (second_start, _) = sorted(spans)
    assert second_start >= first_end  # never both at once
    texts = [entry["text"] for entry in history[0]["values"]["history"] if entry["role"] == "user"]
    assert sorted(texts) == ["anything new today", "is everything fine"]


def _memory_survives_a_restart(settings: Settings, engine, company_id) -> None:
    with company_session(company_id, engine) as session:
        rep = session.exec(select(Rep).order_by(Rep.code)).first()
        rep_claims = {"role": "rep", "subject": f"rep-{rep.code}", "rep_id": str(rep.id)}
        rep_claims_code = rep.code
    scored = json.dumps(
        {
            "acknowledge": 2,
            "probe": 1,
            "answer": 1,
            "close": 2,
            "tip": "Ask which items are overstocked.",
        }
    )
    with TestClient(create_app(settings)) as api:
        thread = api.post("/threads", headers=bearer(company_id, **rep_claims)).json()
        started = api.post(
            f"/threads/{thread['thread_id']}/runs/wait",
            headers=bearer(company_id, **rep_claims),
            json={"input": {"text": "coach me"}},
        ).json()
        assert started["messages"][0]["content"].startswith("Role-play:")
    with TestClient(create_app(settings)) as api:  # a new process: nothing in memory
        api.app.state.runtime.turns.llm = fake_llm(complete=lambda _: scored)
        answered = api.post(
            f"/threads/{thread['thread_id']}/runs/wait",
            headers=bearer(company_id, **rep_claims),
            json={"input": {"text": "Samajh sakta hoon, 1 case le lijiye"}},
        )
        assert answered.json()["route"]["source"] == "pending"
        assert answered.json()["messages"][0]["content"].startswith("Score 6/8")

        async def facts():
            runtime = api.app.state.runtime
            await runtime.turns.graph()
            return await runtime.turns.memory.store.asearch(("profile", str(company_id)))

        stored = api.portal.call(facts)  # long-term facts: kept beside the checkpoints
        assert [item.value["language"] for item in stored] == ["en"]
        assert stored[0].namespace == ("profile", str(company_id), f"rep-{rep_claims_code}")


def test_conversation_memory_survives_a_restart_on_sqlite(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'opensales.db'}")
    upgrade(engine)
    company_id = load_demo(engine, stores=12, days=7, progress=False).company_id
    settings = Settings(
        _env_file=None, data_dir=tmp_path, llm_backend="off", auth_jwt_secret=SECRET
    )
    _memory_survives_a_restart(settings, engine, company_id)
    assert (tmp_path / "checkpoints.db").stat().st_size > 0
    engine.dispose()


@pytest.mark.postgres
def test_conversation_memory_survives_a_restart_on_postgres(postgres_engine, tmp_path):
    upgrade(postgres_engine)
    company_id = load_demo(postgres_engine, stores=12, days=7, progress=False).company_id
    url = postgres_engine.url.render_as_string(hide_password=False)
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        llm_backend="off",
        database_url=url,
        auth_jwt_secret=SECRET,
    )
    _memory_survives_a_restart(settings, postgres_engine, company_id)
    assert not (tmp_path / "checkpoints.db").exists()  # the checkpoints are in PostgreSQL
    with postgres_engine.connect() as connection:
        from sqlalchemy import text

        assert connection.execute(text("SELECT count(*) FROM checkpoints")).scalar() > 0


def test_a_retailer_token_orders_for_its_store(shop):
    folder, company_id, _ = shop
    engine = create_db_engine(f"sqlite:///{folder / 'opensales.db'}")
    from db.models import Store

    with company_session(company_id, engine) as session:
        store = session.exec(select(Store).order_by(Store.code)).first()
        store_id = str(store.id)
    engine.dispose()
    claims = {"role": "retailer", "subject": f"shop-{uuid.uuid4().hex[:6]}", "store_id": store_id}
    with client(folder) as api:
        thread = api.post("/threads", headers=bearer(company_id, **claims)).json()["thread_id"]
        run = api.post(
            f"/threads/{thread}/runs/wait",
            headers=bearer(company_id, **claims),
            json={"input": {"text": "1 cs parle g 250g"}},
        ).json()
        report = api.post(
            f"/threads/{thread}/runs/wait",
            headers=bearer(company_id, **claims),
            json={"input": {"text": "top 5 stores last week"}},
        ).json()
    assert run["route"]["agent"] == "order" and "Order #" in run["messages"][-1]["content"]
    assert report["route"]["agent"] == "denied"
