"""The demand forecast: the XGBoost model against its baselines on series where schemes are
planned ahead, its limits, its artefacts; a company's imported year of sales forecast into
`predictions` on SQLite and PostgreSQL, too little history falling back with a flag, the nightly
job, and a rep asking on WhatsApp what a store will need. The churn model: its ranking and
calibration, and a company's stores scored by the nightly job."""

import asyncio
import csv
import io
import re
from datetime import timedelta

import numpy as np
import pytest
from sqlmodel import select
from test_daily_jobs import TODAY, own_company
from test_daily_jobs import context as job_context
from test_own_data import load
from test_visits_points import field  # noqa: F401  (a fixture)
from test_whatsapp_pipeline import replies, say

from db.engine import company_session
from db.models import Prediction, Product, Store, Task, Transaction
from jobs.daily import JOBS
from jobs.scheduler import run_job
from ml.churn import Activity, ChurnError, churned
from ml.churn import features as churn_features
from ml.churn import train as train_churn
from ml.forecast import (
    BASELINES,
    Forecaster,
    ForecastError,
    Panel,
    exponential_smoothing,
    score,
    train,
)
from ml.risk_model import evaluate
from tools.forecasts import model_folder, named_store, predict_company, store_needs, train_company
from tools.planner import store_features
from tools.risk import stores_at_risk

WEEKS, HELD_OUT = 40, 8


def synthetic(series: int = 240, weeks: int = WEEKS, seed: int = 0) -> Panel:
    """Stores x products whose sales double in weeks with a scheme (planned, so known ahead)."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(1.5, 0.8, series)
    promo = (rng.random((series, weeks)) < 0.2).astype(float)
    season = 1 + 0.2 * np.sin(np.arange(weeks) * 2 * np.pi / 13)
    quantity = rng.poisson(level[:, None] * season[None, :] * (1 + promo)).astype(float)
    return Panel(
        stores=[f"s{i % 20}" for i in range(series)],
        items=[f"p{i // 20}" for i in range(series)],
        groups=np.arange(series) // 60,
        quantity=quantity,
        promo=promo,
        price=np.where(quantity > 0, 10.0 * (1 - 0.1 * promo), np.nan),
        week_of_year=np.arange(1, weeks + 1),
    )


def test_the_model_beats_every_baseline_when_schemes_are_planned():
    panel = synthetic()
    history = panel.history(WEEKS - HELD_OUT)
    actual = panel.quantity[:, WEEKS - HELD_OUT :]
    model = train(history, horizon=HELD_OUT, rounds=150)
    forecast = model.predict(history, HELD_OUT, promo_ahead=panel.promo[:, WEEKS - HELD_OUT :])
    ours = score(history, actual, forecast)
    for name, baseline in BASELINES.items():
        theirs = score(history, actual, baseline(history, HELD_OUT))
        assert ours.wape < 0.85 * theirs.wape, (name, ours, theirs)
    assert abs(ours.bias) < 0.25
    # the planned scheme is one of the strongest reasons in a promoted week
    reasons = model.drivers(history)
    assert all(len(r) == 6 for r in reasons)


def test_exponential_smoothing_follows_a_level_shift():
    panel = synthetic(series=2, weeks=20)
    shifted = np.concatenate([np.full(10, 2.0), np.full(10, 20.0)])
    panel.quantity[:] = shifted
    forecast = exponential_smoothing(panel, 3)
    assert np.allclose(forecast, 20.0, atol=0.5)


def test_bad_panels_and_too_little_history_are_refused(tmp_path):
    panel = synthetic(series=30, weeks=12)
    with pytest.raises(ForecastError, match="NaN"):
        bad = panel.quantity.copy()
        bad[0, 0] = np.nan
        Panel(panel.stores, panel.items, panel.groups, bad, panel.promo, panel.price,
              panel.week_of_year)  # fmt: skip
    with pytest.raises(ForecastError, match="one entry per series"):
        Panel(panel.stores[:-1], panel.items, panel.groups, panel.quantity, panel.promo,
              panel.price, panel.week_of_year)  # fmt: skip
    with pytest.raises(ForecastError, match="too little to train on"):
        train(panel.history(6))
    model = train(synthetic(series=60, weeks=20), horizon=2, rounds=20)
    with pytest.raises(ForecastError, match="trained for 2 weeks ahead"):
        model.predict(panel, 4)
    with pytest.raises(ForecastError, match="5 weeks of history"):
        model.predict(panel.history(5), 2)
    loaded = Forecaster.load(model.save(tmp_path))
    assert loaded.version == model.version and loaded.horizon == 2
    assert np.allclose(loaded.predict(panel, 2), model.predict(panel, 2))


def a_year_of_sales(engine, company_id, lift: dict[int, float] | None = None) -> int:
    """40 weeks of weekly orders from every imported store, as a distributor's export: each
    store buys a steady basket of every product; Marie sells `lift[week]` times as much in the
    weeks given (weeks before TODAY)."""
    with company_session(company_id, engine) as session:
        stores = [s.code for s in session.exec(select(Store).order_by(Store.code))]
        products = [
            (p.sku, p.price_paise // 100)
            for p in session.exec(select(Product).order_by(Product.sku))
        ]
    rng = np.random.default_rng(7)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["external_id", "store_code", "date", "sku", "quantity", "unit_price_inr"])
    lines = 0
    for week in range(40, 0, -1):
        day = TODAY - timedelta(weeks=week) + timedelta(days=1)
        for s, store in enumerate(stores):
            for p, (sku, price) in enumerate(products):
                boost = (lift or {}).get(week, 1.0) if sku == "SF-MARIE-150" else 1.0
                pieces = rng.poisson((6 + 3 * s + 2 * p) * boost)
                if pieces:
                    writer.writerow([f"Y-{store}-{week}", store, day.isoformat(), sku, pieces,
                                     price])  # fmt: skip
                    lines += 1
    result = load(engine, company_id, "transactions", data=out.getvalue().encode())
    assert result.errors == []
    return lines


def test_an_imported_year_is_forecast_into_predictions(engine, two_companies, tmp_path):
    company_id, other = two_companies
    own_company(engine, company_id)
    a_year_of_sales(engine, company_id)
    folder = model_folder(tmp_path, company_id)
    lines: list[str] = []
    with company_session(company_id, engine) as session:
        model = train_company(session, TODAY, folder, lines.append)
        made = predict_company(session, TODAY, folder, lines.append)
        assert made.fallback is None and made.version == model.version
        rows = session.exec(select(Prediction)).all()
        series = {(p.store_id, p.product_id) for p in rows}
        assert made.written == len(rows) == 3 * len(series) and len(series) >= 40
        by_horizon = {}
        for p in rows:
            by_horizon.setdefault((p.store_id, p.product_id), {})[p.horizon_days] = p.value
        for values in by_horizon.values():
            assert 0 <= values[7] <= values[14] <= values[30]
        store = session.exec(select(Store).where(Store.code == "NGP-S005")).one()
        day, version, needs = store_needs(session, store)
        assert (day, version) == (TODAY, model.version)
        pieces = [n.pieces for n in needs]
        assert pieces == sorted(pieces, reverse=True) and pieces[0] > 5
        assert all(n.drivers and n.drivers[0]["reason"] for n in needs)
        # made again the same day: replaced, not doubled
        assert predict_company(session, TODAY, folder).written == len(rows)
        assert len(session.exec(select(Prediction)).all()) == len(rows)
    assert any("store x product series" in line for line in lines)
    with company_session(other, engine) as session:
        assert session.exec(select(Prediction)).all() == []


def test_too_little_history_falls_back_to_seasonal_naive_with_a_flag(
    engine, two_companies, tmp_path
):
    company_id, _ = two_companies
    own_company(engine, company_id)  # ten lines of November
    ctx = job_context(engine, company_id, job="forecast", data_dir=tmp_path)
    counts = asyncio.run(run_job(JOBS["forecast"], ctx))
    assert counts["too_little_history"] == 1 and counts["fallback"] == 1
    with company_session(company_id, engine) as session:
        rows = session.exec(select(Prediction)).all()
        assert rows and {p.model_version for p in rows} == {"seasonal-naive"}
        assert all(p.details["fallback"].startswith("too little history: 5 weeks") for p in rows)
        vim = session.exec(select(Product).where(Product.sku == "VIM-BAR-200")).one()
        week = [p for p in rows if p.product_id == vim.id and p.horizon_days == 7]
        assert [p.value for p in week] == [144.0]  # last week's order, repeated


def test_named_store_allows_a_wandering_spelling():
    stores = [Store(name="Shree Ganesh Kirana"), Store(name="Jai Durga Stores")]
    assert named_store("what will shri ganesh kirana need next week", stores) is stores[0]
    assert named_store("jai durga store ka forecast", stores) is stores[1]
    assert named_store("what will the new shop need", stores) is None


def test_a_rep_asks_what_a_store_will_need_on_whatsapp(field, tmp_path):  # noqa: F811
    client, company_id, _ = field
    engine = client.app.state.runtime.engine
    a_year_of_sales(engine, company_id)
    ctx = job_context(engine, company_id, job="forecast", data_dir=tmp_path)
    assert asyncio.run(run_job(JOBS["forecast"], ctx))["trained"] == 1
    phone = "+919890010001"  # Vikas, NGP-R1: Shree Ganesh Kirana is his

    def ask(body, count):
        assert say(client, phone, body).is_success
        return replies(client, phone, count, timeout=15)[count - 1].text

    text = ask("what will shree ganesh kirana need next week?", 1)
    assert text.startswith("Shree Ganesh Kirana will need in the next 7 days (forecast of 04 Dec")
    lines = re.findall(r"^• (.+?): about (\d+) pcs", text, re.M)
    assert len(lines) >= 5 and all(int(n) > 0 for _, n in lines)
    assert "Why: " in text
    assert ask("forecast please", 2).startswith("Which store?")
    with company_session(company_id, engine) as session:  # Jai Durga stopped two months ago
        quiet = session.exec(select(Store.id).where(Store.code == "NGP-S002")).one()
        for sale in session.exec(select(Transaction).where(Transaction.store_id == quiet)):
            if sale.transaction_date >= TODAY - timedelta(days=60):
                sale.status = "cancelled"
        session.commit()
    asyncio.run(run_job(JOBS["risk"], job_context(engine, company_id, job="risk")))
    risk = ask("which of my stores are at risk?", 3)
    assert risk.startswith("Your stores most at risk:\n• Jai Durga Stores: ")
    assert re.search(r"^• Jai Durga Stores: \d+% risk of no order in 28 days \(last order "
                     r"(6\d|[7-9]\d) days ago\)", risk, re.M)  # fmt: skip
    assert "Shree Ganesh Kirana" not in risk  # ordering every week: not worth a worry

    manager = "+919890010009"  # the same answers for any store, through the manager's figures
    assert say(client, manager, "which stores are at risk?").is_success
    assert replies(client, manager, 1, timeout=15)[0].text.startswith(
        "Your stores most at risk:\n• Jai Durga Stores: "
    )
    assert say(client, manager, "what will shree ganesh kirana need next week").is_success
    assert replies(client, manager, 2, timeout=15)[1].text.startswith(
        "Shree Ganesh Kirana will need in the next 7 days"
    )


# -- churn risk -----------------------------------------------------------------------------------


def customers(n: int = 400, seed: int = 3) -> tuple[list, np.ndarray]:
    """Stores ordering every few days; the ones that slow down in the last month tend to stop."""
    rng = np.random.default_rng(seed)
    out, lost = [], []
    for _ in range(n):
        gap = rng.integers(3, 12)
        slowing = rng.random() < 0.3
        days = list(range(int(rng.integers(0, gap)), 120, int(gap)))
        if slowing:
            days = [d for d in days if d < 90 or rng.random() < 0.3]
        stops = slowing and rng.random() < 0.7
        days += [] if stops else list(range(120 + int(rng.integers(0, gap)), 148, int(gap)))
        out.append(Activity(days, [100.0] * len(days)))
        lost.append(stops)
    return out, np.array(lost)


def test_the_churn_model_ranks_the_stores_that_slow_down_first():
    stores, _ = customers()
    matrix = np.array([churn_features(a, 120) for a in stores])
    labels = np.array([churned(a, 120, 28) for a in stores], dtype=int)
    model = train_churn(matrix, labels)
    held, _ = customers(seed=4)
    test = np.array([churn_features(a, 120) for a in held])
    result = evaluate(model.probability(test), np.array([churned(a, 120, 28) for a in held]))
    assert result.auc > 0.85 and result.error < 0.1
    worst = int(np.argmax(model.probability(test)))
    assert model.reasons(test[worst])  # why it is at risk
    with pytest.raises(ChurnError, match="too few"):
        train_churn(matrix[:10], labels[:10])


def test_stores_at_risk_are_scored_and_a_rep_sees_them(engine, two_companies):
    company_id, other = two_companies
    own_company(engine, company_id)
    a_year_of_sales(engine, company_id)
    with company_session(company_id, engine) as session:
        quiet = session.exec(select(Store).where(Store.code == "NGP-S002")).one()
        rep_id = quiet.assigned_rep_id
        for sale in session.exec(
            select(Transaction).where(
                Transaction.store_id == quiet.id,
                Transaction.transaction_date >= TODAY - timedelta(days=60),
            )
        ):
            sale.status = "cancelled"  # it stopped ordering two months ago
        session.commit()
    ctx = job_context(engine, company_id, job="risk")
    counts = asyncio.run(run_job(JOBS["risk"], ctx))
    assert counts["stores"] >= 5
    with company_session(company_id, engine) as session:
        ranked = stores_at_risk(session, None)
        assert ranked[0][0].code == "NGP-S002" and ranked[0][1].value > ranked[-1][1].value
        assert ranked[0][1].details["recency_days"] >= 60
        assert all(s.assigned_rep_id == rep_id for s, _ in stores_at_risk(session, rep_id))
    with company_session(other, engine) as session:
        assert stores_at_risk(session, None) == []


def test_the_nightly_tasks_read_the_models(engine, two_companies, tmp_path):
    """Churn scores make win-back visits, the forecast names what to pitch, and a product
    likely to run out is not pitched."""
    company_id, _ = two_companies
    own_company(engine, company_id)
    a_year_of_sales(engine, company_id)
    with company_session(company_id, engine) as session:
        quiet = session.exec(select(Store.id).where(Store.code == "NGP-S002")).one()
        for sale in session.exec(
            select(Transaction).where(
                Transaction.store_id == quiet,
                Transaction.transaction_date >= TODAY - timedelta(days=60),
            )
        ):
            sale.status = "cancelled"
        atta_id = session.exec(select(Product.id).where(Product.sku == "AASH-ATTA-5")).one()
        session.commit()
    for job in ("forecast", "risk"):
        asyncio.run(run_job(JOBS[job], job_context(engine, company_id, job=job, data_dir=tmp_path)))
    with company_session(company_id, engine) as session:  # atta is about to run out
        session.add(Prediction(company_id=company_id, model="stockout", product_id=atta_id,
                               predicted_for=TODAY, horizon_days=2, value=0.9))  # fmt: skip
        session.commit()
    asyncio.run(run_job(JOBS["tasks"], job_context(engine, company_id)))
    with company_session(company_id, engine) as session:
        tasks = {t.store_id: t for t in session.exec(select(Task))}
        products = {p.id: p.sku for p in session.exec(select(Product))}
    assert re.fullmatch(r"\d+% risk of no order in 28 days", tasks[quiet].drivers[0])
    assert "AASH-ATTA-5" not in {sku for t in tasks.values() for sku in t.products}
    with company_session(company_id, engine) as session:
        data = store_features(session, TODAY)
    needs = {f.store.code: f.needs for f in data.stores}
    assert len(needs["NGP-S005"]) == 3 and set(needs["NGP-S005"]) <= set(products.values())
    assert "AASH-ATTA-5" not in {sku for skus in needs.values() for sku in skus}
    assert atta_id in data.short
