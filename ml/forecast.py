"""Demand forecast: one XGBoost model over many weekly series (store x product, store x category).

A `Panel` holds the series side by side: quantity sold per week, the promotion planned for each
week and the price seen. For every series and week the model reads the recent past (lags,
rolling means, how often it sells, weeks since the last sale), the calendar of the target week,
the promotion planned for it, the price against the series' usual price, and what the store and
the item do across the panel; it predicts the quantity of one week `h` (1-4) weeks ahead,
relative to the series' recent level. 7, 14 and 30 days are the sums of weeks 1, 1-2 and 1-4
(the last scaled by 30/28).

The baselines the model must beat live here too (`naive`, `moving_average`,
`exponential_smoothing`): the evaluation and the fallback for series with too little history use
the same functions.
"""

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xgboost as xgb

HORIZON_WEEKS = 4
LAGS = 8
MIN_HISTORY_WEEKS = 8  # fewer weeks of history: too little to learn from, seasonal-naive instead
MIN_TRAIN_ROWS = 200
DAYS = (7, 14, 30)
FEATURES = (
    *(f"lag_{k}" for k in range(1, LAGS + 1)),
    "mean_4",
    "mean_8",
    "mean_13",
    "mean_all",
    "std_8",
    "zero_share_13",
    "weeks_since_sale",
    "horizon",
    "woy_sin",
    "woy_cos",
    "promo_target",
    "promo_now",
    "promo_share_8",
    "price_ratio",
    "store_level",
    "store_trend",
    "item_level",
    "item_trend",
    "item_promo_lift",
    "group",
)
PARAMS = {
    # absolute error on the scaled target, weighted by the scale: the sum of absolute errors in
    # units, which is what WAPE counts (squared error: 10 points worse on Complete Journey)
    "objective": "reg:absoluteerror",
    "learning_rate": 0.05,
    "max_depth": 7,
    "min_child_weight": 20,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "tree_method": "hist",
    "nthread": 0,
}
ROUNDS = 400


class ForecastError(ValueError):
    """A panel the model cannot be trained on or asked about (the message says why)."""


@dataclass(frozen=True)
class Panel:
    """Weekly series side by side: row i is one series, column t one week (oldest first).

    `promo` is what was planned for each week (known ahead: mailers, schemes); `price` the price
    seen (NaN when nothing sold or unknown); `week_of_year` the ISO week of each column.
    """

    stores: list[str]
    items: list[str]
    groups: np.ndarray  # (series,) int: the item's category, a code the model can split on
    quantity: np.ndarray  # (series, weeks) float
    promo: np.ndarray  # (series, weeks) 0/1
    price: np.ndarray  # (series, weeks) float or NaN
    week_of_year: np.ndarray  # (weeks,) int 1-53

    def __post_init__(self) -> None:
        n, weeks = self.quantity.shape
        if len(self.stores) != n or len(self.items) != n or self.groups.shape != (n,):
            raise ForecastError("stores, items and groups need one entry per series")
        if self.promo.shape != (n, weeks) or self.price.shape != (n, weeks):
            raise ForecastError("promo and price need the quantity's shape")
        if self.week_of_year.shape != (weeks,):
            raise ForecastError("week_of_year needs one entry per week")
        if not np.isfinite(self.quantity).all():
            raise ForecastError("quantity has NaN or infinite values")

    @property
    def weeks(self) -> int:
        return int(self.quantity.shape[1])

    def history(self, end: int) -> "Panel":
        """The first `end` weeks (what was known at the end of week end-1)."""
        return Panel(
            self.stores,
            self.items,
            self.groups,
            self.quantity[:, :end],
            self.promo[:, :end],
            self.price[:, :end],
            self.week_of_year[:end],
        )


# -- baselines ---------------------------------------------------------------------------------


def naive(panel: Panel, horizon: int) -> np.ndarray:
    """Each of the next `horizon` weeks = the last week (a seasonal-naive forecast whose season
    is one week: a 52-week season needs more than a year of history)."""
    return np.repeat(panel.quantity[:, -1:], horizon, axis=1)


def seasonal_naive(panel: Panel, horizon: int, season: int = 52) -> np.ndarray:
    """The same weeks one season ago; the last week where the history is shorter than that."""
    if panel.weeks < season:
        return naive(panel, horizon)
    start = panel.weeks - season
    weeks = [panel.quantity[:, start + (h % season)] for h in range(horizon)]
    return np.stack(weeks, axis=1)


def moving_average(panel: Panel, horizon: int, window: int = 4) -> np.ndarray:
    mean = panel.quantity[:, -window:].mean(axis=1, keepdims=True)
    return np.repeat(mean, horizon, axis=1)


def exponential_smoothing(panel: Panel, horizon: int) -> np.ndarray:
    """Simple exponential smoothing with each series' own smoothing weight, the one of a grid
    with the least one-week-ahead squared error over its history."""
    q = panel.quantity
    best_level = q[:, 0].copy()
    best_error = np.full(q.shape[0], np.inf)
    for alpha in np.linspace(0.05, 0.95, 19):
        level = q[:, 0].copy()
        error = np.zeros(q.shape[0])
        for t in range(1, q.shape[1]):
            error += (q[:, t] - level) ** 2
            level = alpha * q[:, t] + (1 - alpha) * level
        better = error < best_error
        best_error[better] = error[better]
        best_level[better] = level[better]
    return np.repeat(best_level[:, None], horizon, axis=1)


BASELINES: dict[str, Callable[[Panel, int], np.ndarray]] = {
    "seasonal-naive": seasonal_naive,
    "moving average (4 weeks)": moving_average,
    "exponential smoothing": exponential_smoothing,
}


# -- features ---------------------------------------------------------------------------------


def _window_mean(q: np.ndarray, end: int, width: int) -> np.ndarray:
    start = max(0, end - width)
    return q[:, start:end].mean(axis=1)


def _origin_block(panel: Panel, end: int) -> tuple[np.ndarray, np.ndarray]:
    """The features known at the end of week end-1 that do not depend on the target week, and
    each series' level (the scale the target is divided by)."""
    q = panel.quantity[:, :end]
    n = q.shape[0]
    lags = [q[:, end - k] if end - k >= 0 else np.full(n, np.nan) for k in range(1, LAGS + 1)]
    mean_4, mean_8, mean_13 = (_window_mean(q, end, w) for w in (4, 8, 13))
    mean_all = q.mean(axis=1)
    std_8 = q[:, max(0, end - 8) : end].std(axis=1)
    zero_share = (q[:, max(0, end - 13) : end] == 0).mean(axis=1)
    sold = q > 0
    last_sale = np.where(sold.any(axis=1), end - 1 - np.argmax(sold[:, ::-1], axis=1), end)
    weeks_since = (end - 1 - last_sale).astype(float)
    promo = panel.promo[:, :end]
    promo_now = promo[:, -1]
    promo_share = promo[:, max(0, end - 8) : end].mean(axis=1)
    price = panel.price[:, :end]
    seen = np.isfinite(price)
    with np.errstate(invalid="ignore", divide="ignore"):
        usual = np.where(seen, price, 0.0).sum(axis=1) / seen.sum(axis=1)
        price_ratio = _last_finite(price) / usual
    level = np.maximum(mean_13, 0.1)
    store_level, store_trend = _group_level(panel.stores, q, end)
    item_level, item_trend = _group_level(panel.items, q, end)
    item_lift = _promo_lift(panel.items, q, promo)
    columns = [
        *(lag / level for lag in lags),
        mean_4 / level,
        mean_8 / level,
        mean_13,
        mean_all / level,
        std_8 / level,
        zero_share,
        weeks_since,
    ]
    tail = [
        promo_now,
        promo_share,
        price_ratio,
        store_level,
        store_trend,
        item_level,
        item_trend,
        item_lift,
        panel.groups.astype(float),
    ]
    return np.column_stack([*columns, *tail]), level


def _last_finite(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    index = values.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)
    last = values[np.arange(values.shape[0]), index]
    return np.where(finite.any(axis=1), last, np.nan)


def _group_level(keys: list[str], q: np.ndarray, end: int) -> tuple[np.ndarray, np.ndarray]:
    """For each series, the mean weekly total of all series sharing its key (store or item) over
    13 weeks, and that total's last 4 weeks against it (a trend)."""
    codes, index = np.unique(np.asarray(keys), return_inverse=True)
    recent = np.zeros(len(codes))
    longer = np.zeros(len(codes))
    np.add.at(recent, index, q[:, max(0, end - 4) : end].mean(axis=1))
    np.add.at(longer, index, q[:, max(0, end - 13) : end].mean(axis=1))
    trend = recent / np.maximum(longer, 1e-6)
    return np.log1p(longer)[index], trend[index]


def _promo_lift(items: list[str], q: np.ndarray, promo: np.ndarray) -> np.ndarray:
    """How much more an item sells, across its stores, in promoted weeks than in others."""
    codes, index = np.unique(np.asarray(items), return_inverse=True)
    with_promo = np.zeros(len(codes))
    with_count = np.zeros(len(codes))
    without = np.zeros(len(codes))
    without_count = np.zeros(len(codes))
    np.add.at(with_promo, index, (q * promo).sum(axis=1))
    np.add.at(with_count, index, promo.sum(axis=1))
    np.add.at(without, index, (q * (1 - promo)).sum(axis=1))
    np.add.at(without_count, index, (1 - promo).sum(axis=1))
    lift = (with_promo / np.maximum(with_count, 1)) / np.maximum(
        without / np.maximum(without_count, 1), 1e-6
    )
    return np.where(with_count > 0, lift, 1.0)[index]


def design(
    panel: Panel, end: int, horizons: range, promo_ahead: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows for every series and horizon from the origin at the end of week end-1: the feature
    matrix (series-major, one row per horizon) and the level each row's target is scaled by.
    `promo_ahead` (series, horizons) is the promotion planned for each target week; by default
    the panel's own columns after `end` where it has them, else none."""
    block, level = _origin_block(panel, end)
    n = block.shape[0]
    rows, levels = [], []
    for h in horizons:
        week = end - 1 + h
        if promo_ahead is not None:
            planned = promo_ahead[:, h - 1]
        elif week < panel.weeks:
            planned = panel.promo[:, week]
        else:
            planned = np.zeros(n)
        woy = _week_of_year(panel.week_of_year, end - 1, h)
        angle = 2 * math.pi * woy / 52.0
        calendar = np.column_stack(
            [np.full(n, h), np.full(n, math.sin(angle)), np.full(n, math.cos(angle)), planned]
        )
        head, tail = block[:, :15], block[:, 15:]
        rows.append(np.column_stack([head, calendar, tail]))
        levels.append(level)
    matrix = np.stack(rows, axis=1).reshape(n * len(horizons), len(FEATURES))
    return matrix, np.stack(levels, axis=1).reshape(-1)


def _week_of_year(weeks: np.ndarray, last: int, ahead: int) -> int:
    return int((int(weeks[last]) - 1 + ahead) % 52 + 1)


# -- the model --------------------------------------------------------------------------------


@dataclass
class Forecaster:
    """A trained model and what it was trained on; `version` names its artefact."""

    booster: xgb.Booster
    version: str
    trained_weeks: int
    series: int
    horizon: int  # weeks ahead it was trained for: it is not asked beyond them

    def predict(
        self, panel: Panel, horizon: int = HORIZON_WEEKS, promo_ahead: np.ndarray | None = None
    ) -> np.ndarray:
        """(series, horizon) weekly quantities after the panel's last week."""
        if horizon > self.horizon:
            raise ForecastError(f"trained for {self.horizon} weeks ahead, not {horizon}")
        if panel.weeks < MIN_HISTORY_WEEKS:
            raise ForecastError(
                f"{panel.weeks} weeks of history; the model needs {MIN_HISTORY_WEEKS}"
            )
        matrix, level = design(panel, panel.weeks, range(1, horizon + 1), promo_ahead)
        ratio = self.booster.predict(xgb.DMatrix(matrix, feature_names=list(FEATURES)))
        out = np.maximum(ratio * level, 0.0)
        return out.reshape(-1, horizon)

    def drivers(self, panel: Panel, top: int = 6) -> list[list[tuple[str, float]]]:
        """Each series' strongest reasons for its one-week forecast (SHAP contributions)."""
        matrix, _ = design(panel, panel.weeks, range(1, 2))
        contributions = self.booster.predict(
            xgb.DMatrix(matrix, feature_names=list(FEATURES)), pred_contribs=True
        )[:, :-1]
        out = []
        for row in contributions:
            order = np.argsort(-np.abs(row))[:top]
            out.append([(FEATURES[i], float(row[i])) for i in order])
        return out

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"forecast-{self.version}.json"
        self.booster.save_model(path)
        meta = {
            "version": self.version,
            "weeks": self.trained_weeks,
            "series": self.series,
            "horizon": self.horizon,
        }
        path.with_suffix(".meta.json").write_text(json.dumps(meta))
        return path

    @classmethod
    def load(cls, path: Path) -> "Forecaster":
        booster = xgb.Booster()
        booster.load_model(path)
        meta = json.loads(path.with_suffix(".meta.json").read_text())
        return cls(booster, meta["version"], meta["weeks"], meta["series"], meta["horizon"])


def train(
    panel: Panel,
    horizon: int = HORIZON_WEEKS,
    rounds: int = ROUNDS,
    progress: Callable[[str], None] = lambda _line: None,
) -> Forecaster:
    """Train on every origin of the panel whose targets are known, 1 to `horizon` weeks ahead,
    each series' rows weighted by its level so that big series count for more."""
    end = panel.weeks
    origins = range(MIN_HISTORY_WEEKS, end)
    matrices, targets, weights = [], [], []
    for origin in origins:
        horizons = range(1, min(horizon, end - origin) + 1)
        matrix, level = design(panel, origin, horizons)
        actual = np.stack([panel.quantity[:, origin - 1 + h] for h in horizons], axis=1)
        matrices.append(matrix)
        targets.append(actual.reshape(-1) / level)
        weights.append(level)
    rows = sum(len(t) for t in targets)
    if rows < MIN_TRAIN_ROWS:
        raise ForecastError(
            f"{end} weeks of {panel.quantity.shape[0]} series are too little to train on "
            f"(at least {MIN_HISTORY_WEEKS + 1} weeks and {MIN_TRAIN_ROWS} rows; {rows} here)"
        )
    data = xgb.DMatrix(
        np.concatenate(matrices),
        label=np.concatenate(targets),
        weight=np.concatenate(weights),
        feature_names=list(FEATURES),
    )
    progress(f"training on {data.num_row()} rows ({len(origins)} weeks, {horizon} horizons)")
    booster = xgb.train(PARAMS, data, num_boost_round=rounds)
    digest = hashlib.sha1(booster.save_raw("json")).hexdigest()[:8]
    return Forecaster(booster, f"xgb-{digest}", end, int(panel.quantity.shape[0]), horizon)


# -- measures ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    wape: float  # sum |error| / sum actual
    mase: float  # mean over series of MAE / the series' one-week naive MAE in its history
    bias: float  # sum (forecast - actual) / sum actual: + over-forecasts


def score(history: Panel, actual: np.ndarray, forecast: np.ndarray) -> Scores:
    error = forecast - actual
    total = float(actual.sum())
    scale = np.abs(np.diff(history.quantity, axis=1)).mean(axis=1)
    usable = scale > 0
    mase = float((np.abs(error).mean(axis=1)[usable] / scale[usable]).mean())
    return Scores(
        wape=float(np.abs(error).sum()) / total,
        mase=mase,
        bias=float(error.sum()) / total,
    )
