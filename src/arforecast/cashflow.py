"""Cash-inflow forecasts: weekly and monthly receipts after an as-of date.

Three forecasts are made at every as-of date, each using only invoices and
payments dated on or before it:

- **bottom-up**: the open invoices' balances times their payment-timing
  distribution (the payment model's, or an empirical one), plus the invoices
  not yet issued (billing run-rate times the issue-to-payment lag profile);
- **top-down**: exponential smoothing of the weekly receipts, with a fallback
  chain for short, zero-containing or flat series (:mod:`arforecast._topdown`);
- **combined**: a convex combination whose weights minimise the weekly WAPE of
  the forecasts made at earlier origins (which may put weight on the
  trailing-mean or seasonal-naive baselines too).

Intervals come from the errors of those earlier forecasts (split conformal);
with too little history they are the components' own Monte-Carlo (bottom-up)
or ETS (top-down) bounds. See ``docs/models.md``, "Cash-inflow forecast".
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from arforecast._bottomup import (
    ALL,
    Period,
    daily_actuals,
    day_to_timestamp,
    month_periods,
    period_sums,
    to_days,
    week_periods,
)
from arforecast._cash_engine import CashEngine
from arforecast.exceptions import ArforecastWarning, ConfigError, DataError

__all__ = [
    "METHODS",
    "TIMINGS",
    "CashForecast",
    "backtest_cash",
    "forecast_cash",
    "summarize_track_record",
    "track_record",
]

logger = logging.getLogger(__name__)

#: Values of ``method``: which forecast fills ``expected`` and the bounds.
METHODS = ("combined", "bottom_up", "top_down")

#: Values of ``timing``: where the open invoices' timing distribution comes from.
TIMINGS = ("empirical", "model", "auto")

_BOUNDS = ("lo80", "hi80", "lo95", "hi95")
_COMPONENTS = {
    "bottom_up": "bottom_up",
    "bottom_up_open": "open_items",
    "bottom_up_new": "new_invoices",
    "top_down": "top_down",
}


@dataclass
class CashForecast:
    """Forecast receipts per week and per month after ``as_of``.

    Attributes
    ----------
    as_of : pandas.Timestamp
        Last day of data used; week 1 is ``as_of + 1`` … ``as_of + 7``.
    currency : str
        Reporting currency of every amount.
    method : str
        ``combined``, ``bottom_up`` or ``top_down``: what ``expected`` is.
    weekly : DataFrame
        One row per week: ``week, start, end, expected, lo80, hi80, lo95, hi95``
        and the components ``bottom_up, open_items, new_invoices, top_down``.
    monthly : DataFrame
        The same per calendar month (``month`` label ``YYYY-MM``); the first
        month starts at ``as_of + 1`` and is partial unless ``as_of`` is a month
        end.
    model : dict
        Which models ran and why: timing source, top-down model, combination
        weights, interval method.
    group : str
        ``"all"`` or the portfolio of this forecast.
    groups : dict of str to CashForecast
        With ``by="portfolio"``: one forecast per portfolio (the overall one is
        this object).
    """

    as_of: pd.Timestamp
    currency: str
    method: str
    weekly: pd.DataFrame
    monthly: pd.DataFrame
    model: dict
    group: str = ALL
    groups: dict[str, CashForecast] = field(default_factory=dict)
    # the engine that made it: track_record(forecast=...) reuses its past origins
    _engine: Any = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        """The JSON shape of ``arforecast forecast --format json``.

        Returns
        -------
        dict
            ``{as_of, currency, model, weeks: [{start, end, expected, lo80, hi80,
            lo95, hi95}], months: [...]}``; dates ISO, amounts rounded to 2 dp,
            missing values ``None``. With groups, a ``groups`` list holds one
            such object per portfolio (with its ``portfolio``).
        """
        out = {
            "as_of": f"{self.as_of:%Y-%m-%d}",
            "currency": self.currency,
            "model": _jsonable(self.model),
            "weeks": _rows(self.weekly),
            "months": _rows(self.monthly),
        }
        if self.groups:
            out["groups"] = [
                {"portfolio": name, **fc.to_dict()} for name, fc in self.groups.items()
            ]
        return out

    def frame(self, kind: str = "weekly") -> pd.DataFrame:
        """Weekly or monthly rows of the overall forecast and every group.

        Returns a long frame with a ``portfolio`` column (``"all"`` for the
        overall forecast), for csv output and charts.
        """
        if kind not in ("weekly", "monthly"):
            raise ConfigError(f"kind must be 'weekly' or 'monthly'; got {kind!r}.")
        parts = [getattr(self, kind).assign(portfolio=self.group)]
        parts += [
            getattr(fc, kind).assign(portfolio=n) for n, fc in self.groups.items()
        ]
        return pd.concat(parts, ignore_index=True)


def _rows(frame: pd.DataFrame) -> list[dict]:
    rows = []
    for rec in frame.to_dict(orient="records"):
        row = {"start": f"{rec['start']:%Y-%m-%d}", "end": f"{rec['end']:%Y-%m-%d}"}
        for key in ("expected", *_BOUNDS):
            value = rec[key]
            row[key] = None if pd.isna(value) else round(float(value), 2)
        rows.append(row)
    return rows


def _jsonable(value: Any) -> Any:
    """Nested dicts/lists with NumPy scalars and NaN made JSON-friendly."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if not np.isfinite(value) else round(value, 4)
    return value


# ------------------------------------------------------------------ checks
def _check_choice(name: str, value: str, options: tuple[str, ...]) -> None:
    if value not in options:
        import difflib

        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"{name} must be one of {options!r}; got {value!r}.{hint}")


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int | np.integer) or value < 1:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}.")


def _groups_for(ledger: Any, by: str | None) -> list[str]:
    if by is None:
        return [ALL]
    if by != "portfolio":
        raise ConfigError(
            f"by must be None or 'portfolio' (cash forecasts are by portfolio); "
            f"got {by!r}."
        )
    return [ALL, *ledger.portfolios]


def _as_of_day(ledger: Any, as_of: object) -> int:
    from arforecast.ledger import to_timestamp

    ts = to_timestamp(as_of)
    start = ledger.data_start
    if start is None:
        raise DataError("the ledger has no invoices: there is nothing to forecast.")
    if ts < start:
        raise DataError(
            f"`as_of` must not precede the first invoice ({start:%Y-%m-%d}); "
            f"got {ts:%Y-%m-%d}."
        )
    end = ledger.data_end
    if end is not None and ts > end:
        warnings.warn(
            f"as_of {ts:%Y-%m-%d} is after the last event in the data "
            f"({end:%Y-%m-%d}): receipts in between are taken as zero. Pass an "
            "as_of within the data to silence this.",
            ArforecastWarning,
            stacklevel=3,
        )
    return int(to_days([ts])[0])


# ------------------------------------------------------------------ assembly
def _frame(
    origin: int, periods: list[Period], entry: dict, kind: str, method: str
) -> pd.DataFrame:
    """One forecast table (weekly or monthly) from an engine entry."""
    base = day_to_timestamp(origin)
    frame = pd.DataFrame(
        {
            "start": [base + pd.Timedelta(days=p.first) for p in periods],
            "end": [base + pd.Timedelta(days=p.last) for p in periods],
        }
    )
    if kind == "weekly":
        frame.insert(0, "week", np.arange(1, len(periods) + 1))
    else:
        frame.insert(0, "month", [p.label for p in periods])
    chosen = entry[kind][method]
    frame["expected"] = chosen["expected"]
    for key in _BOUNDS:
        frame[key] = chosen[key]
    for src, col in _COMPONENTS.items():
        frame[col] = np.clip(entry[kind][src]["expected"], 0, None)
    return frame


def _model_record(entry: dict, method: str) -> dict:
    weights = entry["weights"]
    names = {
        "combined": "combined",
        "bottom_up": "bottom_up",
        "top_down": entry["models"]["top_down"]["name"],
    }
    reasons = {
        "combined": "weighted combination of bottom-up, top-down and baselines; "
        + weights["reason"],
        "bottom_up": "open invoices × timing distribution + billing run-rate × "
        "issue-to-payment lag profile",
        "top_down": entry["models"]["top_down"]["reason"],
    }
    return {
        "name": names[method],
        "reason": reasons[method],
        "method": method,
        "weights": {
            band: {k: round(v, 3) for k, v in w.items()}
            for band, w in weights["weights"].items()
        },
        "bottom_up": {
            **entry["timing"],
            "run_rate_per_week": entry["models"]["run_rate_per_week"],
            "open_balance": entry["models"]["open_balance"],
        },
        "top_down": {"weekly": entry["models"]["top_down"]},
        "intervals": entry["intervals"][method],
        "calibration_origins": entry["n_calibration_origins"],
        "weights_past_origins": weights["past_origins"],
        "monthly": "sum of the daily path (weekly forecasts spread evenly over "
        "their days), so weeks and months agree",
    }


def _assemble(
    engine: CashEngine, origin: int, method: str, entries: dict[str, dict]
) -> CashForecast:
    wper = week_periods(engine.weeks)
    mper = month_periods(origin, engine.months)
    made = {
        group: CashForecast(
            as_of=day_to_timestamp(origin),
            currency=engine.ledger.currency,
            method=method,
            weekly=_frame(origin, wper, entry, "weekly", method),
            monthly=_frame(origin, mper, entry, "monthly", method),
            model=_model_record(entry, method),
            group=group,
        )
        for group, entry in entries.items()
    }
    overall = made.pop(ALL)
    overall.groups = made
    overall._engine = engine
    return overall


# ------------------------------------------------------------------ public
def forecast_cash(
    ledger: Any,
    as_of: object,
    *,
    weeks: int = 13,
    months: int = 3,
    by: str | None = None,
    method: str = "combined",
    timing: str = "empirical",
    random_state: int = 0,
    n_sims: int = 1000,
    calibration_origins: int = 12,
    min_history_weeks: int = 26,
) -> CashForecast:
    """Forecast weekly and monthly receipts after ``as_of``, with 80%/95% bounds.

    Parameters
    ----------
    ledger : Ledger
        The data; only documents dated on or before ``as_of`` are used.
    as_of : str, date or Timestamp
        Forecast origin; week 1 is ``as_of + 1`` … ``as_of + 7``.
    weeks : int, default=13
        Weeks to forecast (13 is the treasury standard).
    months : int, default=3
        Calendar months to forecast (the first starts at ``as_of + 1``).
    by : {None, "portfolio"}, default=None
        Also forecast every portfolio (in :attr:`CashForecast.groups`).
    method : {"combined", "bottom_up", "top_down"}, default="combined"
        Which forecast fills ``expected`` and the bounds; the other
        components are always reported as columns.
    timing : {"empirical", "model", "auto"}, default="empirical"
        Timing distribution of the open invoices. ``empirical``: the
        issue-to-payment lag profile conditioned on each invoice's age;
        ``model``: the payment model (:func:`arforecast.payments.fit_payment_model`)
        refitted with cutoff = each origin; ``auto``: the model, falling back to
        the empirical distribution (with the reason) where it cannot be fitted.
        With the model, the empirical bottom-up stays a combination candidate.
        The default is empirical because it measured better and about 4× faster
        in the IBM cash backtest (bottom-up weekly WAPE 0.163 against 0.176;
        docs/models.md, "Cash-inflow forecast").
    random_state : int, default=0
        Seed of the Monte-Carlo draws and of the payment model.
    n_sims : int, default=1000
        Monte-Carlo draws of the bottom-up forecast.
    calibration_origins : int, default=12
        Earlier origins (every 4 weeks before ``as_of``) whose forecasts,
        compared with the receipts known at ``as_of``, give the combination
        weights and the interval widths.
    min_history_weeks : int, default=26
        History an earlier origin needs to take part in the calibration.

    Returns
    -------
    CashForecast

    Raises
    ------
    ConfigError
        For an unknown ``method``, ``timing`` or ``by``, or a non-positive size.
    DataError
        If the ledger is empty or ``as_of`` precedes its first invoice.

    Examples
    --------
    >>> from arforecast.sample import generate_sample
    >>> from arforecast.ledger import Ledger
    >>> led = Ledger.from_frames(**generate_sample(customers=30, invoices=1500))
    >>> fc = forecast_cash(led, "2025-06-30", timing="empirical", n_sims=200)
    >>> list(fc.weekly.columns[:8])
    ['week', 'start', 'end', 'expected', 'lo80', 'hi80', 'lo95', 'hi95']
    >>> bool((fc.weekly["expected"] >= 0).all())
    True
    """
    _check_choice("method", method, METHODS)
    _check_choice("timing", timing, TIMINGS)
    for name, value in (("weeks", weeks), ("months", months), ("n_sims", n_sims)):
        _check_positive(name, value)
    groups = _groups_for(ledger, by)
    origin = _as_of_day(ledger, as_of)

    engine = CashEngine(
        ledger,
        weeks=weeks,
        months=months,
        groups=groups,
        timing=timing,
        random_state=random_state,
        n_sims=n_sims,
        calibration_origins=calibration_origins,
        min_history_weeks=min_history_weeks,
    )
    entries = engine.forecast(origin)
    logger.info(
        "cash forecast as of %s: %d weeks, %d groups, method %s",
        day_to_timestamp(origin).date(),
        weeks,
        len(groups),
        method,
    )
    return _assemble(engine, origin, method, entries)


def track_record(
    ledger: Any,
    as_of: object,
    *,
    n_origins: int = 6,
    step_weeks: int = 4,
    weeks: int = 13,
    method: str = "combined",
    timing: str = "empirical",
    random_state: int = 0,
    forecast: CashForecast | None = None,
) -> pd.DataFrame:
    """Forecasts made at earlier origins next to the receipts that came in.

    Parameters
    ----------
    ledger : Ledger
    as_of : str, date or Timestamp
        The report date: actuals are known up to it.
    n_origins : int, default=6
        Earlier origins, ``as_of − step_weeks`` weeks, ``as_of − 2 × step_weeks``
        … (those before the data's first invoice are skipped).
    step_weeks : int, default=4
        Weeks between origins.
    weeks : int, default=13
        Weeks forecast from each origin.
    method, timing, random_state
        As in :func:`forecast_cash`.
    forecast : CashForecast, optional
        The forecast :func:`forecast_cash` made at ``as_of`` with the same
        ``weeks``, ``timing`` and ``random_state``: its engine has already
        computed the earlier origins (its calibration), so they are reused
        instead of recomputed. The result is the same.

    Returns
    -------
    DataFrame
        One row per origin and week: ``origin, week, start, end, forecast,
        lo80, hi80, lo95, hi95, actual, error`` (``forecast − actual``),
        ``abs_error`` and ``covered_80`` / ``covered_95``. Weeks that end after
        ``as_of`` have no actual yet (NaN). :func:`summarize_track_record`
        gives the per-origin WAPE and coverage; it is also in
        ``frame.attrs["summary"]`` as records.

    Notes
    -----
    Every forecast is exactly what :func:`forecast_cash` returns at its origin:
    it uses only data dated on or before that origin.
    """
    _check_choice("method", method, METHODS)
    for name, value in (("n_origins", n_origins), ("step_weeks", step_weeks)):
        _check_positive(name, value)
    target = _as_of_day(ledger, as_of)
    engine = getattr(forecast, "_engine", None)
    if engine is None or not (
        engine.ledger is ledger
        and int(to_days([forecast.as_of])[0]) == target
        and (engine.weeks, engine.timing, engine.random_state)
        == (weeks, timing, random_state)
    ):
        engine = CashEngine(
            ledger, weeks=weeks, months=1, timing=timing, random_state=random_state
        )
    first = engine.book.first_day
    origins = [target - 7 * step_weeks * i for i in range(n_origins, 0, -1)]
    origins = [o for o in origins if o > first]

    rows = []
    wper = week_periods(weeks)
    for origin in origins:
        entry = engine.forecast(origin)[ALL]["weekly"][method]
        base = day_to_timestamp(origin)
        # NaN for a week not yet over at the report date
        actual = period_sums(_daily_until(engine, origin, target), wper)
        rows.append(
            pd.DataFrame(
                {
                    "origin": base,
                    "week": np.arange(1, weeks + 1),
                    "start": [base + pd.Timedelta(days=p.first) for p in wper],
                    "end": [base + pd.Timedelta(days=p.last) for p in wper],
                    "forecast": entry["expected"],
                    **{key: entry[key] for key in _BOUNDS},
                    "actual": actual,
                }
            )
        )
    columns = ["origin", "week", "start", "end", "forecast", *_BOUNDS, "actual"]
    out = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=columns)
    out["error"] = out["forecast"] - out["actual"]
    out["abs_error"] = out["error"].abs()
    seen = out["actual"].notna().to_numpy()
    for cover in (80, 95):
        inside = (out["actual"] >= out[f"lo{cover}"]) & (
            out["actual"] <= out[f"hi{cover}"]
        )
        # nullable booleans: a week not yet over is neither covered nor missed
        flags = pd.array(inside.to_numpy(dtype=bool), dtype="boolean")
        flags[~seen] = pd.NA
        out[f"covered_{cover}"] = flags
    out.attrs["summary"] = summarize_track_record(out).to_dict(orient="records")
    return out


def _daily_until(engine: CashEngine, origin: int, target: int) -> np.ndarray:
    daily = daily_actuals(engine.book, origin, 7 * engine.weeks, ALL)
    known = origin + np.arange(1, 7 * engine.weeks + 1) <= target
    return np.where(known, np.nan_to_num(daily), np.nan)


def summarize_track_record(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-origin WAPE, bias and coverage of a :func:`track_record` frame.

    Returns
    -------
    DataFrame
        ``origin, weeks_observed, forecast, actual, wape, bias, coverage_80,
        coverage_95``; an origin with no observed week has NaN rates.
    """
    seen = frame[frame["actual"].notna()]
    columns = [
        "origin",
        "weeks_observed",
        "forecast",
        "actual",
        "wape",
        "bias",
        "coverage_80",
        "coverage_95",
    ]
    if seen.empty:
        return pd.DataFrame(columns=columns)
    grouped = seen.groupby("origin", sort=True)
    out = pd.DataFrame(
        {
            "weeks_observed": grouped["week"].count(),
            "forecast": grouped["forecast"].sum(),
            "actual": grouped["actual"].sum(),
            "abs_error": grouped["abs_error"].sum(),
            "coverage_80": grouped["covered_80"].mean(),
            "coverage_95": grouped["covered_95"].mean(),
        }
    )
    denom = out["actual"].where(out["actual"] > 0)
    out["wape"] = out["abs_error"] / denom
    out["bias"] = (out["forecast"] - out["actual"]) / denom
    return out.reset_index()[columns]


def backtest_cash(
    ledger: Any,
    *,
    weeks: int = 13,
    step_weeks: int = 4,
    min_history_weeks: int = 26,
    random_state: int = 0,
    timing: str = "empirical",
) -> dict:
    """Rolling-origin backtest of the weekly cash forecasts against baselines.

    See :func:`arforecast._cash_backtest.run_cash_backtest` for the metrics and
    the returned shape (DESIGN.md ``cash`` part of ``backtest --format json``).
    """
    from arforecast._cash_backtest import run_cash_backtest

    _check_choice("timing", timing, TIMINGS)
    for name, value in (
        ("weeks", weeks),
        ("step_weeks", step_weeks),
        ("min_history_weeks", min_history_weeks),
    ):
        _check_positive(name, value)
    return run_cash_backtest(
        ledger,
        weeks=weeks,
        step_weeks=step_weeks,
        min_history_weeks=min_history_weeks,
        random_state=random_state,
        timing=timing,
    )
