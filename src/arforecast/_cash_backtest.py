"""Rolling-origin backtest of the weekly cash forecasts (``backtest_cash``)."""

from __future__ import annotations

import logging
import time
import warnings
from collections import Counter
from typing import Any

import numpy as np

from arforecast._bottomup import (
    ALL,
    daily_actuals,
    day_to_timestamp,
    period_sums,
    week_periods,
)
from arforecast._cash_engine import BASELINES, CashEngine
from arforecast.exceptions import ArforecastWarning

__all__ = ["METRICS", "run_cash_backtest"]

logger = logging.getLogger(__name__)

METRICS = ("wape", "mase", "bias", "coverage_80", "coverage_95", "total_13w_error")
_MODELS = ("combined", "bottom_up", "top_down")


def backtest_origins(
    first_day: int, last_day: int, weeks: int, step_weeks: int, min_history_weeks: int
) -> list[int]:
    """Origins every ``step_weeks`` weeks, counted back from the last usable one.

    The last origin is ``last_day − 7 × weeks`` (its weeks are all observed);
    the first has at least ``min_history_weeks`` of history.
    """
    last = last_day - 7 * weeks
    earliest = first_day + 7 * min_history_weeks
    if last < earliest:
        return []
    count = (last - earliest) // (7 * step_weeks) + 1
    return [last - 7 * step_weeks * i for i in range(count - 1, -1, -1)]


def _metrics(
    fc: np.ndarray,
    actual: np.ndarray,
    bounds: dict[str, np.ndarray],
    scale: np.ndarray,
) -> dict[str, float | None]:
    """Metrics of one method over origins × horizons (arrays of equal shape)."""
    total = actual.sum()
    err = fc - actual
    ok = np.isfinite(scale) & (scale > 0)
    mase = np.mean(np.abs(err[ok]).mean(axis=1) / scale[ok]) if ok.any() else np.nan
    window = np.abs(err.sum(axis=1)).sum()
    out = {
        "wape": np.abs(err).sum() / total if total > 0 else np.nan,
        "mase": mase,
        "bias": err.sum() / total if total > 0 else np.nan,
        "coverage_80": np.mean((actual >= bounds["lo80"]) & (actual <= bounds["hi80"])),
        "coverage_95": np.mean((actual >= bounds["lo95"]) & (actual <= bounds["hi95"])),
        "total_13w_error": window / total if total > 0 else np.nan,
    }
    return {
        k: (None if not np.isfinite(v) else round(float(v), 4)) for k, v in out.items()
    }


def run_cash_backtest(
    ledger: Any,
    *,
    weeks: int = 13,
    step_weeks: int = 4,
    min_history_weeks: int = 26,
    random_state: int = 0,
    timing: str = "empirical",
) -> dict:
    """Rolling-origin evaluation of combined, bottom-up, top-down and baselines.

    Parameters
    ----------
    ledger : Ledger
    weeks : int, default=13
        Horizons 1 … weeks (weeks after each origin).
    step_weeks : int, default=4
        Weeks between origins.
    min_history_weeks : int, default=26
        History before the first origin.
    random_state : int, default=0
    timing : {"empirical", "model", "auto"}, default="empirical"
        Timing source of the bottom-up forecast (see ``forecast_cash``).

    Returns
    -------
    dict
        ``weekly``: ``combined``, ``bottom_up``, ``top_down`` and ``baselines``
        (``last_value``, ``trailing_mean``, ``seasonal_naive``), each with
        ``wape``, ``mase``, ``bias``, ``coverage_80``, ``coverage_95`` and
        ``total_13w_error``; ``by_horizon``: the WAPE per horizon and method;
        ``origins`` (ISO dates), ``n_origins``, ``season_length`` (of the
        seasonal-naive baseline and the MASE scale, per origin), ``timing``
        (which timing source ran how often), ``weights`` (per origin) and
        ``seconds``.

    Notes
    -----
    Every forecast at origin o is the one :func:`forecast_cash` gives at o: it
    uses data dated ≤ o only, including the weights and interval widths, which
    come from earlier origins' errors as far as they were known at o.

    - WAPE = Σ|F − A| / ΣA over every origin and horizon;
    - MASE = mean over origins of MAE / (in-sample seasonal-naive MAE at that
      origin); the season is 52 weeks when the origin has 65+ weeks of history,
      13 weeks with 26+, else 1;
    - bias = Σ(F − A) / ΣA;
    - coverage = share of (origin, week) actuals inside the 80% / 95% bounds;
    - total_13w_error = Σ_o |Σ_k F − Σ_k A| / Σ_o Σ_k A: the relative error of
      each origin's whole-window total (13 weeks by default).
    """
    started = time.perf_counter()
    engine = CashEngine(
        ledger,
        weeks=weeks,
        months=1,
        timing=timing,
        random_state=random_state,
        min_history_weeks=min_history_weeks,
    )
    book = engine.book
    origins = backtest_origins(
        book.first_day, book.last_day, weeks, step_weeks, min_history_weeks
    )
    result: dict[str, Any] = {
        "weeks": weeks,
        "step_weeks": step_weeks,
        "min_history_weeks": min_history_weeks,
        "n_origins": len(origins),
        "origins": [f"{day_to_timestamp(o):%Y-%m-%d}" for o in origins],
    }
    methods = (*_MODELS, *BASELINES)
    if not origins:
        warnings.warn(
            f"cash backtest: no origin has {min_history_weeks} weeks of history and "
            f"{weeks} observed weeks after it; give a longer ledger or lower "
            "min_history_weeks.",
            ArforecastWarning,
            stacklevel=3,
        )
        empty = dict.fromkeys(METRICS)
        result["weekly"] = {
            **{m: dict(empty) for m in _MODELS},
            "baselines": {m: dict(empty) for m in BASELINES},
        }
        result["reason"] = "no usable origin"
        return result

    # forecasts and actuals per origin
    wper = week_periods(weeks)
    fc = {m: [] for m in methods}
    bounds = {m: {k: [] for k in ("lo80", "hi80", "lo95", "hi95")} for m in methods}
    actual, scale, seasons, timings, weights = [], [], [], Counter(), []
    for origin in origins:
        entry = engine.forecast(origin)[ALL]
        actual.append(
            period_sums(daily_actuals(book, origin, engine.horizon, ALL), wper)
        )
        for m in methods:
            fc[m].append(entry["weekly"][m]["expected"])
            for k in bounds[m]:
                bounds[m][k].append(entry["weekly"][m][k])
        scale.append(entry["mase_scale"])
        seasons.append(entry["season"])
        timings[entry["timing"]["timing"]] += 1
        weights.append(
            {
                "origin": f"{day_to_timestamp(origin):%Y-%m-%d}",
                **{
                    band: {k: round(v, 3) for k, v in w.items()}
                    for band, w in entry["weights"]["weights"].items()
                },
            }
        )

    # metrics per method
    a = np.array(actual)
    s = np.array(scale, dtype=float)
    table = {}
    by_horizon = {}
    for m in methods:
        f = np.array(fc[m])
        b = {k: np.array(v) for k, v in bounds[m].items()}
        table[m] = _metrics(f, a, b, s)
        denom = a.sum(axis=0)
        wape_h = np.abs(f - a).sum(axis=0) / np.where(denom > 0, denom, np.nan)
        by_horizon[m] = [
            None if not np.isfinite(x) else round(float(x), 4) for x in wape_h
        ]

    result["season_length"] = dict(Counter(int(x) for x in seasons))
    result["timing"] = dict(timings)
    result["weekly"] = {
        **{m: table[m] for m in _MODELS},
        "baselines": {m: table[m] for m in BASELINES},
    }
    result["by_horizon"] = by_horizon
    result["weights"] = weights
    result["seconds"] = round(time.perf_counter() - started, 2)
    logger.info(
        "cash backtest: %d origins in %.1f s, combined WAPE %s",
        len(origins),
        result["seconds"],
        table["combined"]["wape"],
    )
    return result
