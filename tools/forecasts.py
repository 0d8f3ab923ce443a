"""A company's demand forecast: its sales as weekly store x product series, the XGBoost model
trained on them (weekly, kept on disk per version and loaded when asked), and the 7, 14 and
30-day quantities written to `predictions` for the tasks, the alerts and the agents to read.

A company with too little history (under `MIN_HISTORY_WEEKS` weeks, or too few series to learn
from) gets the seasonal-naive forecast instead, flagged as such in each prediction's details.
"""

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
import sqlalchemy
from rapidfuzz import fuzz
from sqlalchemy import func
from sqlmodel import col, select

from db.models import Prediction, Product, Promotion, Store, Transaction, TransactionItem
from db.scope import CompanySession
from ml.forecast import (
    DAYS,
    HORIZON_WEEKS,
    MIN_HISTORY_WEEKS,
    Forecaster,
    ForecastError,
    Panel,
    seasonal_naive,
    train,
)
from tools.predictions import latest_day, replace_day

log = logging.getLogger("opensales.forecasts")
MODEL = "demand"
HISTORY_WEEKS = 52  # the year behind the forecast day
ACTIVE_WEEKS = 13  # a store x product that has not sold for this long is not forecast
RETRAIN_DAYS = 7  # the seed trains the demand model weekly
DRIVERS = {  # the model's features as a rep would say them
    **{f"lag_{k}": "sales in the last weeks" for k in range(1, 9)},
    "mean_4": "the last 4 weeks' pace",
    "mean_8": "the last 8 weeks' pace",
    "mean_13": "the quarter's pace",
    "mean_all": "the usual pace",
    "std_8": "how much it varies",
    "zero_share_13": "how often it skips a week",
    "weeks_since_sale": "weeks since it last bought",
    "horizon": "how far ahead",
    "woy_sin": "the time of year",
    "woy_cos": "the time of year",
    "promo_target": "a scheme running that week",
    "promo_now": "a scheme running now",
    "promo_share_8": "recent schemes",
    "price_ratio": "its price against usual",
    "store_level": "the store's size",
    "store_trend": "the store's trend",
    "item_level": "the product's sales across stores",
    "item_trend": "the product's trend across stores",
    "item_promo_lift": "how much schemes lift it",
    "group": "its category",
}


@dataclass(frozen=True)
class CompanySeries:
    """A company's panel and what each row is: (store id, product id)."""

    panel: Panel
    keys: list[tuple[uuid.UUID, uuid.UUID]]


def weekly_series(session: CompanySession, day: date, weeks: int = HISTORY_WEEKS) -> CompanySeries:
    """Pieces sold per store, product and week in the `weeks` weeks before `day` (the last week
    ends the day before), for pairs that sold in the last `ACTIVE_WEEKS` weeks; promotions
    planned for each week; the price paid."""
    start = day - timedelta(weeks=weeks)
    rows = session.execute(  # five columns: more than sqlmodel's select() is typed for
        sqlalchemy.select(
            col(Transaction.store_id),
            col(TransactionItem.product_id),
            col(Transaction.transaction_date),
            func.sum(TransactionItem.quantity),
            func.sum(TransactionItem.line_total_paise),
        )
        .join(Transaction, col(Transaction.id) == col(TransactionItem.transaction_id))
        .where(
            col(Transaction.transaction_date) >= start,
            col(Transaction.transaction_date) < day,
            col(Transaction.status) != "cancelled",
        )
        .group_by(
            col(Transaction.store_id),
            col(TransactionItem.product_id),
            col(Transaction.transaction_date),
        )
    ).all()
    sold: dict[tuple[uuid.UUID, uuid.UUID], dict[int, list[float]]] = {}
    for store_id, product_id, sold_on, quantity, value in rows:
        week = sold.setdefault((store_id, product_id), {}).setdefault(
            (sold_on - start).days // 7, [0.0, 0.0]
        )
        week[0] += float(quantity)
        week[1] += float(value)
    recent = weeks - ACTIVE_WEEKS
    products = {p.id: p for p in session.exec(select(Product))}
    codes = dict(session.exec(select(Store.id, Store.code)).all())
    keys = sorted(  # by the company's own codes: the same data, the same model
        (k for k, by_week in sold.items() if max(by_week) >= recent),
        key=lambda k: (codes.get(k[0], ""), products[k[1]].sku if k[1] in products else ""),
    )
    categories = sorted({products[p].category for _, p in keys if p in products})
    code = {name: i for i, name in enumerate(categories)}
    quantity = np.zeros((len(keys), weeks))
    price = np.full((len(keys), weeks), np.nan)
    for row, key in enumerate(keys):
        for index, (pieces, value) in sold[key].items():
            quantity[row, index] = pieces
            if pieces > 0:
                price[row, index] = value / pieces
    starts = [start + timedelta(weeks=w) for w in range(weeks)]
    panel = Panel(
        stores=[str(s) for s, _ in keys],
        items=[str(p) for _, p in keys],
        groups=np.array([code.get(products[p].category, -1) for _, p in keys], dtype=int),
        quantity=quantity,
        promo=_promotions(session, [products[p] for _, p in keys], starts),
        price=price,
        week_of_year=np.array([d.isocalendar().week for d in starts]),
    )
    return CompanySeries(panel, keys)


def _promotions(session: CompanySession, products: list[Product], starts: list[date]) -> np.ndarray:
    """1 where a scheme covering the product ran on any day of the week starting at starts[w]."""
    promo = np.zeros((len(products), len(starts)))
    schemes = session.exec(select(Promotion).where(Promotion.is_active)).all()
    for scheme in schemes:
        covered = [
            w
            for w, begin in enumerate(starts)
            if scheme.starts_on < begin + timedelta(days=7) and scheme.ends_on >= begin
        ]
        if not covered:
            continue
        for row, product in enumerate(products):
            if (
                scheme.product_id == product.id
                or (scheme.brand is not None and scheme.brand == product.brand)
                or (scheme.category is not None and scheme.category == product.category)
            ):
                promo[row, covered] = 1.0
    return promo


def planned_promotions(session: CompanySession, series: CompanySeries, day: date) -> np.ndarray:
    """The schemes planned for the weeks ahead, as the model reads them."""
    products = {p.id: p for p in session.exec(select(Product))}
    starts = [day + timedelta(weeks=w) for w in range(HORIZON_WEEKS)]
    return _promotions(session, [products[p] for _, p in series.keys], starts)


# -- the model on disk --------------------------------------------------------------------------


def model_folder(forecasts_dir: Path, company_id: uuid.UUID) -> Path:
    return forecasts_dir / str(company_id)


def latest_model(folder: Path) -> Path | None:
    files = sorted(folder.glob("forecast-*.json"), key=lambda p: p.stat().st_mtime)
    return next((p for p in reversed(files) if not p.name.endswith(".meta.json")), None)


@lru_cache(maxsize=8)
def _load(path: Path, _mtime: float) -> Forecaster:
    return Forecaster.load(path)


def load_model(folder: Path) -> Forecaster | None:
    """The company's newest model, read from disk once per version."""
    path = latest_model(folder)
    return None if path is None else _load(path, path.stat().st_mtime)


def train_company(
    session: CompanySession,
    day: date,
    folder: Path,
    progress: Callable[[str], None] = lambda _line: None,
) -> Forecaster:
    """Train on the year before `day` and keep the model as a new version in `folder`."""
    series = weekly_series(session, day)
    progress(f"{len(series.keys)} store x product series, {series.panel.weeks} weeks")
    model = train(_trimmed(series.panel), progress=progress)
    path = model.save(folder)
    progress(f"model {model.version} saved to {path}")
    return model


def _trimmed(panel: Panel) -> Panel:
    """The panel from its first week with any sale (a company with 90 days of data has 39
    empty weeks in front of them, which would teach the model that nothing sells)."""
    sold = np.flatnonzero(panel.quantity.sum(axis=0) > 0)
    first = int(sold[0]) if len(sold) else panel.weeks
    return Panel(
        panel.stores,
        panel.items,
        panel.groups,
        panel.quantity[:, first:],
        panel.promo[:, first:],
        panel.price[:, first:],
        panel.week_of_year[first:],
    )


@dataclass(frozen=True)
class CompanyForecast:
    version: str
    fallback: str | None  # why seasonal-naive was used instead of the model, if it was
    written: int


def predict_company(
    session: CompanySession,
    day: date,
    folder: Path,
    progress: Callable[[str], None] = lambda _line: None,
) -> CompanyForecast:
    """Forecast every active store x product from `day` and replace that day's predictions."""
    series = weekly_series(session, day)
    panel = _trimmed(series.panel)
    model = load_model(folder)
    fallback = None
    weekly: np.ndarray
    drivers: list[list[tuple[str, float]]] = [[] for _ in series.keys]
    if not series.keys:
        fallback = "no sales in the last 13 weeks"
        weekly = np.zeros((0, HORIZON_WEEKS))
    elif panel.weeks < MIN_HISTORY_WEEKS:
        fallback = f"too little history: {panel.weeks} weeks, the model needs {MIN_HISTORY_WEEKS}"
    elif model is None:
        fallback = "no trained model yet (opensales ml train)"
    if fallback is None and model is not None:
        try:
            planned = planned_promotions(session, series, day)
            weekly = model.predict(panel, HORIZON_WEEKS, promo_ahead=planned)
            drivers = model.drivers(panel)
        except ForecastError as exc:
            fallback = str(exc)
    if fallback is not None and series.keys:
        weekly = seasonal_naive(panel, HORIZON_WEEKS)  # a year back only where sales were
    version = "seasonal-naive" if fallback is not None or model is None else model.version
    progress(f"{len(series.keys)} series forecast with {version}" + (
        f" ({fallback})" if fallback else ""))  # fmt: skip
    rows = []
    for row, (store_id, product_id) in enumerate(series.keys):
        weeks = [round(float(v), 2) for v in weekly[row]]
        details: dict = {"weekly": weeks, "drivers": _reasons(drivers[row])}
        if fallback is not None:
            details["fallback"] = fallback
        for days in DAYS:
            rows.append(
                Prediction(
                    company_id=session.company_id,
                    model=MODEL,
                    model_version=version,
                    store_id=store_id,
                    product_id=product_id,
                    predicted_for=day,
                    horizon_days=days,
                    value=_days_total(weeks, days),
                    details=details,
                )
            )
    replace_day(session, MODEL, day, rows)  # a forecast made again the same day replaces it
    return CompanyForecast(version, fallback, len(rows))


def _days_total(weeks: list[float], days: int) -> float:
    whole, rest = divmod(days, 7)
    total = sum(weeks[:whole])
    if rest and whole < len(weeks):
        total += weeks[whole] * rest / 7
    elif rest:  # 30 days from four weeks: the fifth week's share at the fourth week's pace
        total += weeks[-1] * rest / 7
    return round(total, 1)


def _reasons(contributions: list[tuple[str, float]], top: int = 3) -> list[dict]:
    """The strongest reasons, features that mean the same to a rep counted together."""
    effects: dict[str, float] = {}
    for name, effect in contributions:
        reason = DRIVERS.get(name, name)
        effects[reason] = effects.get(reason, 0.0) + effect
    ranked = sorted(effects.items(), key=lambda item: -abs(item[1]))[:top]
    return [{"reason": reason, "effect": round(effect, 3)} for reason, effect in ranked]


# -- what the agents read ----------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    product: Product
    pieces: float
    weekly: list[float]
    drivers: list[dict]
    fallback: str | None


def store_needs(
    session: CompanySession, store: Store, days: int = 7, limit: int = 8
) -> tuple[date, str, list[Need]] | None:
    """The latest forecast for a store: its day, model version and the products it will need
    in the next `days` days, most first; None before any forecast was made."""
    latest = latest_day(session, MODEL, store.id)
    if latest is None:
        return None
    rows = session.exec(
        select(Prediction, Product)
        .join(Product, col(Product.id) == col(Prediction.product_id))
        .where(
            Prediction.model == MODEL,
            Prediction.store_id == store.id,
            Prediction.predicted_for == latest,
            Prediction.horizon_days == days,
            Prediction.value > 0,
        )
        .order_by(col(Prediction.value).desc())
        .limit(limit)
    ).all()
    needs = [
        Need(
            p,
            pred.value,
            pred.details.get("weekly", []),
            pred.details.get("drivers", []),
            pred.details.get("fallback"),
        )  # fmt: skip
        for pred, p in rows
    ]
    version = rows[0][0].model_version if rows else ""
    return latest, version, needs


def named_store(text: str, stores: Sequence[Store], at_least: float = 85) -> Store | None:
    """The store whose name the text mentions (spelling allowed to wander a little)."""
    said = text.lower()
    best, best_score = None, at_least
    for store in stores:
        score = fuzz.partial_ratio(store.name.lower(), said)
        if score > best_score or (score == best_score and best is not None
                                  and len(store.name) > len(best.name)):  # fmt: skip
            best, best_score = store, score
    return best
