"""A distributor's own data: every import kind (CSV and JSON) on SQLite and PostgreSQL, the
bad lines each names, untracked stock, the sync API, and the README's five commands run as
written, ending in a WhatsApp order against the imported data."""

import hashlib
import hmac
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import jwt
import pytest
from sqlmodel import func, select
from starlette.testclient import TestClient

from db.engine import company_session, create_db_engine
from db.importer import ImportFileError, import_file
from db.migrate import upgrade
from db.models import (
    BeatPlan,
    Message,
    OrderEB2B,
    Promotion,
    Role,
    StockLevel,
    Transaction,
    TransactionItem,
    User,
)
from server import create_app
from settings import Settings
from tools.stock import stock_tracked

ROOT = Path(__file__).resolve().parent.parent
OWN = ROOT / "evals" / "data" / "own"
ORDER = ("catalog", "reps", "stores", "stock", "transactions", "users", "beats")


def load(engine, company_id, kind, path: Path | None = None, data=None, **options):
    path = path or OWN / f"{kind}.csv"
    raw = data if data is not None else path.read_bytes()
    fmt = "json" if path.suffix == ".json" else "csv"
    with company_session(company_id, engine) as session:
        return import_file(session, kind, raw, fmt=fmt, **options)


def test_every_kind_imports_and_reimports_unchanged(engine, two_companies):
    alpha, beta = two_companies
    for kind in ORDER:
        report = load(engine, alpha, kind)
        assert report.errors == [] and report.created > 0, kind
    report = load(engine, alpha, "promotions", OWN / "promotions.json")
    assert (report.created, report.errors) == (2, [])
    for kind in ORDER:
        report = load(engine, alpha, kind)
        assert (report.created, report.updated, report.errors) == (0, 0, []), kind
    with company_session(alpha, engine) as session:
        sales = session.exec(select(Transaction).order_by(Transaction.external_id)).all()
        assert [s.external_id for s in sales][:2] == ["INV-24001", "INV-24002"]
        assert sales[0].total_paise == 120 * 1800 + 72 * 2000  # two lines
        assert session.exec(select(func.count()).select_from(TransactionItem)).one() == 10
        beats = session.exec(select(BeatPlan).order_by(BeatPlan.weekday)).all()
        assert sorted({b.weekday for b in beats}) == [0, 1, 3, 4]  # mon, tue, thu, fri
        manager = session.exec(select(User).where(User.role == Role.manager)).one()
        assert (manager.phone, manager.preferred_language) == ("+919890010009", "hi")
        bru = session.exec(select(Promotion).where(Promotion.code == "BRU-FREE")).one()
        assert (bru.min_quantity, bru.free_quantity, bru.product_id is not None) == (12, 1, True)
        assert stock_tracked(session)
    with company_session(beta, engine) as session:
        assert session.exec(select(func.count()).select_from(Transaction)).one() == 0
        assert not stock_tracked(session)


def test_bad_sales_lines_are_named_and_a_sale_is_whole_or_absent(engine, two_companies):
    alpha, _ = two_companies
    for kind in ("catalog", "reps", "stores", "transactions"):
        load(engine, alpha, kind)
    bad = (
        "external_id,store_code,date,sku,quantity,rep_code\n"
        "INV-24001,NGP-S001,2026-11-02,SF-MARIE-150,100,NGP-R1\n"  # 2: changed content
        "X1,NGP-S009,2026-11-02,SF-MARIE-150,1,\n"  # 3: unknown store
        "X2,NGP-S001,2027-01-01,SF-MARIE-150,1,\n"  # 4: future date
        "X3,NGP-S001,2026-11-02,SF-MARIE-150,1,\n"  # 5: good, but its sale has a bad line
        "X3,NGP-S001,2026-11-02,NOPE,1,\n"  # 6: unknown product
        "X4,NGP-S001,2026-11-03,VIM-BAR-200,-2,\n"  # 7: negative quantity
        "X5,NGP-S002,2026-11-03,VIM-BAR-200,6,NGP-R7\n"  # 8: unknown rep
        "X6,NGP-S002,2026-11-03,VIM-BAR-200,6,NGP-R1\n"  # 9: good
    )
    report = load(engine, alpha, "transactions", data=bad.encode())
    assert [(e.line, e.column) for e in report.errors] == [
        (2, "external_id"),
        (3, "store_code"),
        (4, "date"),
        (5, None),
        (6, "sku"),
        (7, "quantity"),
        (8, "rep_code"),
    ]
    assert "line 6 is bad" in report.errors[3].message
    assert "in the future" in report.errors[2].message
    with company_session(alpha, engine) as session:
        ids = set(session.exec(select(Transaction.external_id)))
    assert "X6" in ids and not ids & {"X1", "X2", "X3", "X4", "X5"}


def test_other_bad_rows(engine, two_companies):
    alpha, _ = two_companies
    for kind in ("catalog", "reps", "stores"):
        load(engine, alpha, kind)
    stock = (
        "sku,quantity,warehouse\nSF-MARIE-150,-5,\nNOPE,3,\nVIM-BAR-200,10,W1\nVIM-BAR-200,4,W1\n"
    )
    report = load(engine, alpha, "stock", data=stock.encode())
    assert [(e.line, e.column) for e in report.errors] == [(2, "quantity"), (3, "sku"), (5, "sku")]
    assert "duplicate" in report.errors[2].message
    users = "phone,name,role\n+91 98901 20001,Owner,manager\n+91 98900 20009,Boss,rep\n"
    report = load(engine, alpha, "users", data=users.encode())
    assert [(e.line, e.column) for e in report.errors] == [(2, "phone"), (3, "role")]
    beats = (
        "rep_code,store_code,weekday,sequence\nNGP-R1,NGP-S001,someday,1\nNGP-R1,NGP-S404,mon,1\n"
    )
    report = load(engine, alpha, "beats", data=beats.encode())
    assert [(e.line, e.column) for e in report.errors] == [(2, "weekday"), (3, "store_code")]
    promos = (
        "code,name,starts_on,ends_on,discount_pct\nP1,A,2026-12-10,2026-12-01,5\nP2,B,2026-12-01,"
        "2026-12-31,0\n"
    )
    report = load(engine, alpha, "promotions", data=promos.encode())
    assert [(e.line, e.column) for e in report.errors] == [(2, "ends_on"), (3, "discount_pct")]


def test_json_rows_name_the_line_they_start_on(engine, two_companies):
    alpha, _ = two_companies
    load(engine, alpha, "catalog")
    data = (
        b'[\n  {"sku": "SF-MARIE-150", "quantity": 10},\n  {"sku": "BRU-INST-50",\n'
        b'   "quantity": "many"},\n  {"sku": "VIM-BAR-200", "quantity": [1]}\n]\n'
    )
    report = load(engine, alpha, "stock", OWN / "x.json", data=data)
    assert [(e.line, e.column) for e in report.errors] == [(3, "quantity"), (5, "quantity")]
    assert report.created == 1
    lines = b'{"sku": "SF-DARK-75", "quantity": 4}\n{"sku": "AASH-ATTA-5", "quantity": 2}\n'
    assert load(engine, alpha, "stock", OWN / "x.json", data=lines).created == 2
    with pytest.raises(ImportFileError, match="not JSON"):
        load(engine, alpha, "stock", OWN / "x.json", data=b"[{]")


# -- the sync API ------------------------------------------------------------------------------

SECRET = "sync-test-secret-for-hs256-tokens-only"


def token(company_id, role="admin") -> dict:
    claims = {"sub": "erp", "company_id": str(company_id), "role": role, "exp": time.time() + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


@pytest.fixture
def api(tmp_path):
    engine = create_db_engine(f"sqlite:///{tmp_path / 'opensales.db'}")
    upgrade(engine)
    from conftest import make_company

    company_id, other = make_company(engine, "alpha"), make_company(engine, "beta")
    for kind in ("catalog", "reps", "stores"):
        load(engine, company_id, kind)
    engine.dispose()
    settings = Settings(
        _env_file=None, data_dir=tmp_path, llm_backend="off", auth_jwt_secret=SECRET
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, company_id, other


def test_sync_api_writes_all_or_nothing_and_retries_change_nothing(api):
    client, company_id, other = api
    engine = client.app.state.runtime.engine
    stock = [{"sku": "SF-MARIE-150", "quantity": 500}, {"sku": "BRU-INST-50", "quantity": 12}]
    answer = client.put("/api/v1/stock", json=stock, headers=token(company_id))
    assert (answer.status_code, answer.json()) == (
        200,
        {"created": 2, "updated": 0, "unchanged": 0},
    )
    again = client.put("/api/v1/stock", json={"items": stock}, headers=token(company_id))
    assert again.json() == {"created": 0, "updated": 0, "unchanged": 2}

    bad = [{"sku": "SF-MARIE-150", "quantity": 1}, {"sku": "VIM-BAR-200", "quantity": -1}]
    refused = client.put("/api/v1/stock", json=bad, headers=token(company_id))
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {
            "index": 1,
            "field": "quantity",
            "message": "quantity must be between 0 and 10000000, got -1",
        }
    ]
    with company_session(company_id, engine) as session:
        levels = {lvl.quantity for lvl in session.exec(select(StockLevel))}
    assert levels == {500, 12}  # the good entry of the refused call was not written

    sales = [
        {
            "external_id": "ERP-1",
            "store_code": "NGP-S001",
            "date": "2026-12-01",
            "rep_code": "NGP-R1",
            "items": [
                {"sku": "SF-MARIE-150", "quantity": 60},
                {"sku": "VIM-BAR-200", "quantity": 72},
            ],
        },
        {
            "external_id": "ERP-2",
            "store_code": "NGP-S002",
            "date": "2026-12-02",
            "items": [{"sku": "BRU-INST-50", "quantity": 12, "unit_price_inr": 100}],
        },
    ]
    first = client.post("/api/v1/transactions", json=sales, headers=token(company_id))
    assert first.json() == {"created": 2, "updated": 0, "unchanged": 0}
    retry = client.post("/api/v1/transactions", json=sales, headers=token(company_id))
    assert retry.json() == {"created": 0, "updated": 0, "unchanged": 2}
    changed = [{**sales[1], "items": [{"sku": "BRU-INST-50", "quantity": 13}]}, {"store_code": "x"}]
    refused = client.post("/api/v1/transactions", json=changed, headers=token(company_id))
    assert [(e["index"], e["field"]) for e in refused.json()["errors"]][:2] == [
        (0, "external_id"),
        (1, "external_id"),
    ]

    stores = [{"code": "NGP-S006", "name": "Om Traders", "owner_name": "Om", "owner_phone":
               "+91 98901 20006", "address": "1 Rd", "locality": "Sadar", "city": "Nagpur",
               "lat": 21.16, "lng": 79.08}]  # fmt: skip
    assert (
        client.post("/api/v1/stores", json=stores, headers=token(company_id)).json()["created"] == 1
    )
    products = [{"sku": "NEW-1", "name": "New", "brand": "B", "category": "C", "pack_size": "1",
                 "units_per_case": 10, "price_inr": 5}]  # fmt: skip
    assert (
        client.post("/api/v1/products", json=products, headers=token(company_id)).status_code == 200
    )

    manager = client.put("/api/v1/stock", json=stock, headers=token(company_id, role="manager"))
    assert (manager.status_code, manager.json()["error"]["code"]) == (403, "ROLE_FORBIDDEN")
    elsewhere = client.put("/api/v1/stock", json=stock, headers=token(other))
    assert elsewhere.status_code == 422  # beta has no such products: nothing crosses companies
    assert client.put("/api/v1/stock", json=stock).status_code == 401
    assert client.put("/api/v1/stock", json=[], headers=token(company_id)).status_code == 422


# -- the README's five commands ----------------------------------------------------------------


def readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Your own distributor in five commands", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_own_distributor_in_five_commands(tmp_path):
    commands = readme_commands()
    assert len(commands) == 5 and commands[-1] == "opensales serve"
    executable = shutil.which("opensales", path=str(Path(sys.executable).parent))
    port = free_port()
    env = {
        **os.environ,
        "OPENSALES_DATA_DIR": str(tmp_path / "data"),
        "OPENSALES_LLM_BACKEND": "off",
        "OPENSALES_WHATSAPP_APP_SECRET": "own-secret",
        "OPENSALES_PORT": str(port),
        "OPENSALES_BURST_WINDOW_S": "0.2",
    }
    env.pop("OPENSALES_DATABASE_URL", None)
    env.pop("OPENSALES_REDIS_URL", None)
    for command in commands[:-1]:
        args = [executable, *shlex.split(command)[1:]]
        done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (command, done.stdout, done.stderr)
    server = subprocess.Popen([executable, "serve"], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "server did not start"
            time.sleep(0.5)
        body = json.dumps(
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
                                        "phone_number_id": "555000111",
                                    },
                                    "contacts": [
                                        {"profile": {"name": "Manoj"}, "wa_id": "919890120001"}
                                    ],
                                    "messages": [
                                        {
                                            "from": "919890120001",
                                            "id": "wamid.own-1",
                                            "timestamp": str(int(time.time())),
                                            "type": "text",
                                            "text": {"body": "2 case marie and 1 case bru coffee"},
                                        }
                                    ],
                                },
                            }
                        ],
                    }
                ],
            }
        ).encode()
        signature = hmac.new(b"own-secret", body, hashlib.sha256).hexdigest()
        posted = httpx.post(
            f"{base}/whatsapp/webhook",
            content=body,
            headers={
                "X-Hub-Signature-256": f"sha256={signature}",
                "Content-Type": "application/json",
            },
        )
        assert posted.status_code == 200
        engine = create_db_engine(f"sqlite:///{tmp_path / 'data' / 'opensales.db'}")
        deadline = time.monotonic() + 60
        while True:
            with engine.connect() as connection:
                reply = connection.execute(
                    select(Message.body).where(Message.direction == "outbound")
                ).first()
            if reply is not None:
                break
            assert time.monotonic() < deadline, "no reply"
            time.sleep(0.3)
        with engine.connect() as connection:
            order = connection.execute(select(OrderEB2B.items, OrderEB2B.total_paise)).one()
        engine.dispose()
        assert {(i["sku"], i["quantity"]) for i in order.items} == {
            ("SF-MARIE-150", 120),
            ("BRU-INST-50", 48),
        }
        assert order.total_paise == 120 * 1800 + 48 * 10800
        assert "confirmed" in reply.body and "don't track stock" in reply.body
    finally:
        server.terminate()
        server.wait(timeout=30)
