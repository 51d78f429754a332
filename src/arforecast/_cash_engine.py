"""Engine of the cash-inflow forecast: per-origin component paths and calibration.

Everything here works on integer day numbers (days since 1970-01-01) and on
*daily paths*: a forecast of receipts for day 1 … H after an origin. Weeks and
months are sums of days, so weekly and monthly figures always agree. A *record*
holds, for one origin and every group, the daily paths of every method; a
*calibration* turns the records of earlier origins (as far as their actuals were
known at the target origin) into combination weights and interval quantiles.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from itertools import combinations_with_replacement
from typing import Any

import numpy as np
import pandas as pd

from arforecast._bottomup import (
    ALL,
    Book,
    Period,
    daily_actuals,
    day_to_timestamp,
    empirical_timing,
    lag_profile,
    month_periods,
    period_sums,
    simulate_new,
    simulate_open,
    spread_weeks,
    to_days,
    week_periods,
    weekly_history,
)
from arforecast._topdown import (
    TRAILING_WINDOW,
    baseline_forecasts,
    fit_topdown,
    season_length_for,
    seasonal_naive_scale,
)
from arforecast.exceptions import ArforecastError

__all__ = ["BASELINES", "CANDIDATES", "METHODS", "CashEngine", "OriginRecord"]

logger = logging.getLogger(__name__)

#: Methods whose daily paths a record holds.
BASELINES = ("last_value", "trailing_mean", "seasonal_naive")
METHODS = ("bottom_up", "top_down", *BASELINES)

#: Candidates of the combination (the weights may put mass on the baselines).
CANDIDATES = ("bottom_up", "top_down", "trailing_mean", "seasonal_naive")

#: Horizon bands (first week, last week or None) with their own weights. One
#: band: separate weights for weeks 1-4 and 5+ measured worse (more noise than
#: signal with ~12 past origins) on the sample and IBM backtests.
WEIGHT_BANDS: tuple = ((1, None),)

#: Step of the weight grid on the simplex.
WEIGHT_STEP = 0.1

#: Days of invoicing that define the billing run-rate (13 weeks).
RUN_RATE_DAYS = 91

#: Weekly history given to the top-down model (3 years at most).
MAX_HISTORY_WEEKS = 156

#: Fewest calibration origins / residuals for backtest-based weights / intervals.
MIN_CAL_ORIGINS = 3
MIN_RESIDUALS = 12

#: Residuals of horizons within this many weeks are pooled for a week's interval.
HORIZON_POOL = 2

LEVELS = (80, 95)


def simplex_grid(n: int, step: float) -> np.ndarray:
    """Every weight vector on the n-simplex whose entries are multiples of step."""
    units = round(1 / step)
    rows = []
    for combo in combinations_with_replacement(range(n), units):
        rows.append(np.bincount(np.array(combo), minlength=n))
    return np.array(rows, dtype=float) / units


# ------------------------------------------------------------------ records
@dataclass
class GroupRecord:
    """Daily paths of every method for one group at one origin."""

    paths: dict[str, np.ndarray]
    level: float
    mase_scale: float
    season: int
    own_bounds: dict[str, dict[str, dict[str, np.ndarray]]]
    models: dict[str, Any]


@dataclass
class OriginRecord:
    """Everything computed at one origin: one GroupRecord per group."""

    origin: int
    groups: dict[str, GroupRecord]
    timing: dict[str, str]


# ------------------------------------------------------------------ engine
@dataclass
class CashEngine:
    """Computes and caches origin records for one ledger and one configuration.

    Parameters
    ----------
    ledger : Ledger
    weeks, months : int
        Forecast periods.
    groups : list of str
        ``[ALL]`` or ``[ALL, *portfolios]``.
    timing : {"auto", "model", "empirical"}
        Source of the open invoices' payment-timing distribution.
    random_state : int
        Seed; each origin draws from ``default_rng([random_state, origin])``.
    n_sims : int
        Monte-Carlo draws for the bottom-up intervals.
    calibration_origins, calibration_step_weeks : int
        Earlier origins used for weights and intervals.
    min_history_weeks : int
        An origin needs this much history to be used for calibration.
    """

    ledger: Any
    weeks: int = 13
    months: int = 3
    groups: list[str] = field(default_factory=lambda: [ALL])
    timing: str = "empirical"
    random_state: int = 0
    n_sims: int = 1000
    calibration_origins: int = 12
    calibration_step_weeks: int = 4
    min_history_weeks: int = 26
    _cache: dict[int, OriginRecord] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.book = Book.from_ledger(self.ledger)
        self.horizon_weeks = max(self.weeks, math.ceil(31 * self.months / 7))
        self.horizon = 7 * self.horizon_weeks
        self._model_error: str | None = None

    # ---------------------------------------------------------- timing
    def _model_timing(self, origin: int) -> tuple[pd.DataFrame, np.ndarray] | str:
        """Open invoices and their timing from the payment model, or why not."""
        if self._model_error is not None:
            return self._model_error
        try:
            from arforecast.features import build_snapshots
            from arforecast.payments import fit_payment_model
        except ImportError as exc:
            self._model_error = f"payment model not available ({exc})"
            return self._model_error
        cutoff = day_to_timestamp(origin)
        try:
            model = fit_payment_model(
                self.ledger,
                cutoff,
                random_state=self.random_state,
                timing_weeks=self.horizon_weeks,
            )
            snaps = build_snapshots(self.ledger, [cutoff])
            if len(snaps) == 0:
                return snaps, np.zeros((0, self.horizon_weeks + 1))
            probs = np.asarray(
                model.predict_timing(snaps, weeks=self.horizon_weeks), dtype=float
            )
        except (ArforecastError, ValueError) as exc:
            # too little history at this origin: this origin only falls back
            return f"payment model could not be fitted at {cutoff:%Y-%m-%d} ({exc})"
        probs = np.clip(probs, 0.0, None)
        probs /= np.maximum(probs.sum(axis=1, keepdims=True), 1e-12)
        return snaps, probs

    def _open_part(self, origin: int) -> tuple[dict[str, tuple], dict[str, str]]:
        """Balances, portfolios and weekly timing of the invoices open at the origin.

        Returns ``{"empirical": (balance, portfolio, probs)}`` plus a ``"model"``
        entry when the payment model ran, and the timing record.
        """
        sources: dict[str, tuple] = {}
        info = {"timing": "empirical", "reason": "requested (timing='empirical')"}
        if self.timing in ("auto", "model"):
            got = self._model_timing(origin)
            if isinstance(got, str):
                if self.timing == "model":
                    raise ArforecastError(
                        f"timing='model' was requested but {got}; use "
                        "timing='auto' to fall back to the empirical distribution."
                    )
                info = {"timing": "empirical", "reason": got}
            else:
                snaps, probs = got
                sources["model"] = (
                    snaps["balance_rc"].to_numpy(dtype=float),
                    snaps["portfolio"].astype(str).to_numpy(dtype=object),
                    probs,
                )
                info = {
                    "timing": "model",
                    "reason": "payment-timing model fitted with cutoff = origin",
                }

        items = self.ledger.open_items(day_to_timestamp(origin))
        groups = items["portfolio"].astype(str).to_numpy(dtype=object)
        ages = origin - to_days(items["invoice_date"].to_numpy())
        probs = np.zeros((len(items), self.horizon_weeks + 1))
        probs[:, -1] = 1.0
        # one lag profile per portfolio when forecasting by portfolio
        for group in [g for g in self.groups if g != ALL] or [ALL]:
            rows = np.ones(len(items), dtype=bool) if group == ALL else groups == group
            share = lag_profile(self.book, origin, group)
            probs[rows] = empirical_timing(ages[rows], share, self.horizon_weeks)
        sources["empirical"] = (
            items["balance_rc"].to_numpy(dtype=float),
            groups,
            probs,
        )
        return sources, info

    # ---------------------------------------------------------- records
    def record(self, origin: int) -> OriginRecord:
        """The record of one origin (cached)."""
        if origin not in self._cache:
            self._cache[origin] = self._compute(origin)
        return self._cache[origin]

    def _compute(self, origin: int) -> OriginRecord:
        book = self.book
        rng = np.random.default_rng([int(self.random_state), int(origin) % 2**32])
        sources, timing_info = self._open_part(origin)
        balance, open_groups, probs = sources.get("model", sources["empirical"])
        weeks_h = self.horizon_weeks
        wper = week_periods(self.weeks)
        mper = month_periods(origin, self.months)

        out: dict[str, GroupRecord] = {}
        for group in self.groups:
            # history and level
            y = weekly_history(book, origin, group)
            level = float(y[-TRAILING_WINDOW:].mean()) if len(y) else 0.0
            if level <= 0 and len(y):
                level = float(y.mean())
            level = level if level > 0 else 1.0
            season = season_length_for(len(y), 52)

            # bottom-up: open invoices × timing, plus invoices not yet issued
            rows = (
                np.ones(len(balance), dtype=bool)
                if group == ALL
                else open_groups == group
            )
            b, t = balance[rows], probs[rows]
            open_weekly = b @ t[:, :weeks_h] if len(b) else np.zeros(weeks_h)
            share = lag_profile(book, origin, group)
            inv_m = book.inv_mask(group) & (book.inv_day <= origin)
            days_seen = min(RUN_RATE_DAYS, origin - book.first_day + 1)
            recent = inv_m & (book.inv_day > origin - days_seen)
            rate = float(book.inv_rc[recent].sum()) / max(days_seen, 1)
            cdf = np.cumsum(share)
            new_daily = rate * np.concatenate([[0.0], cdf[: self.horizon - 1]])
            open_daily = spread_weeks(open_weekly)

            # Monte-Carlo of the bottom-up part
            sims_open = spread_weeks(simulate_open(b, t, self.n_sims, rng))
            back = (origin - book.inv_day[recent]) // 7
            billing = np.bincount(
                back, weights=book.inv_rc[recent], minlength=max(days_seen // 7, 1)
            )[: max(days_seen // 7, 1)]
            sims_new = simulate_new(billing, share, weeks_h, self.n_sims, rng)
            sims = sims_open + sims_new

            # top-down and baselines on the weekly history
            td = fit_topdown(y[-MAX_HISTORY_WEEKS:], weeks_h, season_length=52)
            base = baseline_forecasts(y, weeks_h, season)
            paths = {
                "bottom_up": open_daily + new_daily,
                "bottom_up_open": open_daily,
                "bottom_up_new": new_daily,
                "top_down": spread_weeks(td.mean),
            }
            for alt, mean in td.alternatives.items():
                paths[f"top_down:{alt}"] = spread_weeks(mean)
            # the empirical bottom-up as well: a candidate when the model ran
            e_bal, e_grp, e_probs = sources["empirical"]
            e_rows = np.ones(len(e_bal), dtype=bool) if group == ALL else e_grp == group
            e_weekly = e_bal[e_rows] @ e_probs[e_rows, :weeks_h]
            paths["bottom_up_empirical"] = spread_weeks(e_weekly) + new_daily
            paths.update(
                {k: spread_weeks(np.clip(v, 0, None)) for k, v in base.items()}
            )

            # each method's own bounds (used before there is enough calibration)
            own: dict[str, dict[str, dict[str, np.ndarray]]] = {}
            for kind, periods in (("weekly", wper), ("monthly", mper)):
                q = np.quantile(
                    period_sums(sims, periods), [0.1, 0.9, 0.025, 0.975], axis=0
                )
                own.setdefault("bottom_up", {})[kind] = dict(
                    zip(("lo80", "hi80", "lo95", "hi95"), q, strict=True)
                )
                own.setdefault("top_down", {})[kind] = {
                    key: period_sums(spread_weeks(getattr(td, key)), periods)
                    for key in ("lo80", "hi80", "lo95", "hi95")
                }
                spread = _history_spread(y)
                for name in BASELINES:
                    mean = period_sums(paths[name], periods)
                    days = np.array([p.days for p in periods]) / 7.0
                    own.setdefault(name, {})[kind] = {
                        key: np.clip(mean + days * spread[key], 0, None)
                        for key in ("lo80", "hi80", "lo95", "hi95")
                    }

            out[group] = GroupRecord(
                paths=paths,
                level=level,
                mase_scale=seasonal_naive_scale(y, season),
                season=season,
                own_bounds=own,
                models={
                    "top_down": td.describe(),
                    "run_rate_per_week": round(rate * 7, 2),
                    "open_balance": round(float(b.sum()), 2),
                },
            )
        logger.debug("cash record at %s computed", day_to_timestamp(origin).date())
        return OriginRecord(origin=origin, groups=out, timing=timing_info)

    # ---------------------------------------------------------- calibration
    def calibration_days(self, origin: int) -> list[int]:
        """Earlier origins whose forecasts calibrate the one at ``origin``."""
        earliest = self.book.first_day + 7 * self.min_history_weeks
        step = 7 * self.calibration_step_weeks
        days = [origin - step * j for j in range(1, self.calibration_origins + 1)]
        return [d for d in days if d >= earliest]

    def forecast(self, origin: int) -> dict[str, dict]:
        """Forecasts of every method, with bounds, for every group at ``origin``.

        Returns
        -------
        dict
            ``{group: {"weekly": {method: {expected, lo80, ...}}, "monthly": ...,
            "weights": {...}, "intervals": {...}, "models": {...}}}``.
        """
        target = self.record(origin)
        cal = [self.record(d) for d in self.calibration_days(origin)]
        wper = week_periods(self.weeks)
        mper = month_periods(origin, self.months)
        result: dict[str, dict] = {}
        for group in self.groups:
            rec = target.groups[group]
            obs = _observations(self, cal, group, origin)
            paths = dict(rec.paths)
            td_choice = _choose_topdown(obs, paths, rec.models["top_down"])
            if td_choice["name"] != rec.models["top_down"]["name"]:
                key = f"top_down:{td_choice['name']}"
                paths["top_down"] = paths[key]
                for item in obs:
                    item["paths"]["top_down"] = item["paths"][key]
            candidates = CANDIDATES
            if target.timing.get("timing") == "model":
                candidates = (*CANDIDATES, "bottom_up_empirical")
            bands, weight_reason, scored = _choose_weights(obs, candidates)
            paths["combined"] = _combine(paths, bands, self.horizon)
            for item in obs:
                item["paths"]["combined"] = _combine(item["paths"], bands, self.horizon)
            own = dict(rec.own_bounds)
            own["bottom_up_empirical"] = own["bottom_up"]
            own["combined"] = {}
            for kind, periods in (("weekly", wper), ("monthly", mper)):
                per_w = _period_weights(bands, periods)
                own["combined"][kind] = {
                    key: sum(
                        per_w[m] * own[m][kind][key] for m in per_w if per_w[m].any()
                    )
                    for key in ("lo80", "hi80", "lo95", "hi95")
                }

            entry: dict[str, Any] = {"weekly": {}, "monthly": {}, "intervals": {}}
            for method in ("combined", *METHODS):
                for kind, periods in (("weekly", wper), ("monthly", mper)):
                    mean = period_sums(paths[method], periods)
                    bounds, how = _interval(obs, method, kind, periods, rec.level, mean)
                    if bounds is None:
                        bounds = own[method][kind]
                    bounds = _tidy_bounds(mean, bounds)
                    entry[kind][method] = {"expected": np.clip(mean, 0, None), **bounds}
                    entry["intervals"].setdefault(method, {})[kind] = how
            for part in ("bottom_up_open", "bottom_up_new"):
                entry["weekly"][part] = {"expected": period_sums(paths[part], wper)}
                entry["monthly"][part] = {"expected": period_sums(paths[part], mper)}
            entry["weights"] = {
                "weights": {_band_label(first, last): w for (first, last), w in bands},
                "reason": weight_reason,
                "past_origins": scored,
            }
            entry["models"] = {**rec.models, "top_down": td_choice}
            entry["timing"] = target.timing
            entry["level"] = rec.level
            entry["mase_scale"] = rec.mase_scale
            entry["season"] = rec.season
            entry["n_calibration_origins"] = len({item["origin"] for item in obs})
            result[group] = entry
        return result


def _history_spread(y: np.ndarray) -> dict[str, float]:
    """Quantiles of weekly receipts around their trailing mean (baseline bounds)."""
    tail = y[-2 * TRAILING_WINDOW :]
    if len(tail) < 2:
        return {"lo80": 0.0, "hi80": 0.0, "lo95": 0.0, "hi95": 0.0}
    q = np.quantile(tail - tail.mean(), [0.1, 0.9, 0.025, 0.975])
    return dict(zip(("lo80", "hi80", "lo95", "hi95"), q.tolist(), strict=True))


def _observations(
    engine: CashEngine, cal: list[OriginRecord], group: str, target: int
) -> list[dict]:
    """Past forecasts of a group with the actuals known at the target origin."""
    out = []
    for rec in cal:
        actual = daily_actuals(engine.book, rec.origin, engine.horizon, group)
        known = rec.origin + np.arange(1, engine.horizon + 1) <= target
        actual = np.where(known, actual, np.nan)
        grp = rec.groups[group]
        out.append(
            {
                "origin": rec.origin,
                "paths": dict(grp.paths),
                "actual": actual,
                "level": grp.level,
                "months": month_periods(rec.origin, engine.months),
                "max_weeks": engine.weeks,
            }
        )
    return out


def _choose_topdown(obs: list[dict], paths: dict, fitted: dict) -> dict:
    """The ETS variant with the lowest past weekly WAPE (AICc pick otherwise).

    In-sample AICc favours a damped trend that can extrapolate badly 13 weeks
    ahead, so once enough earlier origins are observed the variant is chosen by
    its out-of-sample error instead.
    """
    names = [k.split(":", 1)[1] for k in paths if k.startswith("top_down:")]
    usable = [item for item in obs if np.sum(~np.isnan(item["actual"])) >= 28]
    names = [n for n in names if all(f"top_down:{n}" in i["paths"] for i in usable)]
    if len(usable) < MIN_CAL_ORIGINS or len(names) < 2:
        return dict(fitted)
    err = dict.fromkeys(names, 0.0)
    total = 0.0
    for item in usable:
        seen = ~np.isnan(item["actual"])
        n_days = 7 * min(int(seen.sum()) // 7, item["max_weeks"])
        per = week_periods(n_days // 7)
        actual = period_sums(item["actual"][:n_days], per)
        total += actual.sum()
        for n in names:
            fc = period_sums(item["paths"][f"top_down:{n}"][:n_days], per)
            err[n] += np.abs(fc - actual).sum()
    if total <= 0:
        return dict(fitted)
    best = min(names, key=lambda n: err[n])
    scores = ", ".join(f"{n} {err[n] / total:.3f}" for n in names)
    out = {
        "name": best,
        "reason": f"lowest weekly WAPE over {len(usable)} past origins ({scores}); "
        f"AICc alone picks {fitted['name']}",
        "chosen_by": "past_wape",
        "past_origins": len(usable),
    }
    if fitted.get("notes"):
        out["notes"] = fitted["notes"]
    return out


def _band_label(first: int, last: int | None) -> str:
    if first == 1 and last is None:
        return "all_weeks"
    return f"weeks_{first}_{last}" if last else f"weeks_{first}_plus"


def _band_of_day(bands: list, horizon: int) -> np.ndarray:
    """Index of the weight band of every day 1 … horizon."""
    week = (np.arange(horizon) // 7) + 1
    out = np.zeros(horizon, dtype=int)
    for i, ((first, _last), _w) in enumerate(bands):
        out[week >= first] = i
    return out


def _combine(paths: dict[str, np.ndarray], bands: list, horizon: int) -> np.ndarray:
    """Daily combined path: each day uses the weights of its week's band."""
    which = _band_of_day(bands, horizon)
    out = np.zeros(horizon)
    for i, (_band, weights) in enumerate(bands):
        day = which == i
        for m, w in weights.items():
            out[day] += w * paths[m][day]
    return out


def _period_weights(bands: list, periods: list[Period]) -> dict[str, np.ndarray]:
    """Weight of every candidate per period (the band of the period's middle)."""
    middle = np.array([(p.first + p.last) // 2 for p in periods])
    which = _band_of_day(bands, int(middle.max()))[middle - 1]
    names = {m for _b, w in bands for m in w}
    return {
        m: np.array([bands[i][1].get(m, 0.0) for i in which], dtype=float)
        for m in sorted(names)
    }


def _choose_weights(
    obs: list[dict], candidates: tuple[str, ...]
) -> tuple[list, str, int]:
    """Convex weights per horizon band that minimise the past weekly WAPE.

    Returns a list of ``((first_week, last_week or None), {candidate: weight})``
    (one entry per :data:`WEIGHT_BANDS`), the reason, and the number of past
    origins the weights were scored on (0 for the equal-weight fallbacks). A band with fewer than
    12 past weeks takes the weights fitted on all weeks. Fewer than 3 past
    origins with 4+ observed weeks give equal bottom-up/top-down weights.
    """
    equal = {"bottom_up": 0.5, "top_down": 0.5}
    usable = []
    for item in obs:
        n_full = min(int(np.sum(~np.isnan(item["actual"]))) // 7, item["max_weeks"])
        if n_full >= 4:
            usable.append((item, n_full))
    if len(usable) < MIN_CAL_ORIGINS:
        return (
            [(band, dict(equal)) for band in WEIGHT_BANDS],
            f"equal weights: {len(usable)} past origin(s) with 4+ observed weeks, "
            f"{MIN_CAL_ORIGINS} needed for backtest weights",
            0,
        )

    # forecast and actual per observed (origin, week)
    fc, act, week = [], [], []
    for item, n_full in usable:
        periods = week_periods(n_full)
        act.append(period_sums(item["actual"][: 7 * n_full], periods))
        fc.append(
            np.stack(
                [
                    period_sums(item["paths"][m][: 7 * n_full], periods)
                    for m in candidates
                ]
            )
        )
        week.append(np.arange(1, n_full + 1))
    f = np.concatenate(fc, axis=1)
    a = np.concatenate(act)
    k = np.concatenate(week)
    if a.sum() <= 0:
        return (
            [(band, dict(equal)) for band in WEIGHT_BANDS],
            "equal weights: no receipts in the past forecast windows",
            0,
        )

    grid = simplex_grid(len(candidates), WEIGHT_STEP)
    # ties go to the grid point with more weight on bottom-up and top-down
    penalty = 1e-9 * grid[:, 2:].sum(axis=1)

    def best_for(mask: np.ndarray) -> tuple[dict[str, float], float]:
        err = np.abs(grid @ f[:, mask] - a[None, mask]).sum(axis=1)
        err = err / max(a[mask].sum(), 1e-12) + penalty
        row = grid[int(np.argmin(err))]
        chosen = {m: float(w) for m, w in zip(candidates, row, strict=True) if w > 0}
        return chosen, float(err.min())

    overall, overall_err = best_for(np.ones(len(a), dtype=bool))
    bands = []
    for first, last in WEIGHT_BANDS:
        mask = (k >= first) & (k <= (last or k.max()))
        bands.append(
            ((first, last), best_for(mask)[0] if mask.sum() >= 12 else overall)
        )
    return (
        bands,
        f"convex weights per horizon band (grid step {WEIGHT_STEP}) minimising "
        f"weekly WAPE ({overall_err:.3f} with one set) over {len(usable)} past "
        f"origins, {len(a)} weeks",
        len(usable),
    )


def _interval(
    obs: list[dict],
    method: str,
    kind: str,
    periods: list[Period],
    level: float,
    mean: np.ndarray,
) -> tuple[dict[str, np.ndarray] | None, str]:
    """Bounds from the scaled errors of past forecasts (split conformal).

    A past error is (actual − forecast) / (the origin's weekly level × period
    weeks); a period's bounds are its forecast plus the quantiles of those
    errors times the current level, a quantile per tail (signed errors, so a
    skewed error history gives skewed bounds). Weekly periods pool horizons
    within ±2 weeks; months pool every month.
    """
    res: list[np.ndarray] = []
    hor: list[np.ndarray] = []
    for item in obs:
        per = week_periods(len(periods)) if kind == "weekly" else item["months"]
        actual = period_sums(item["actual"], per)
        fc = period_sums(item["paths"][method], per)
        scale = item["level"] * np.array([p.days for p in per]) / 7.0
        r = (actual - fc) / scale
        ok = np.isfinite(r)
        res.append(r[ok])
        hor.append(np.arange(1, len(per) + 1)[ok])
    r_all = np.concatenate(res) if res else np.zeros(0)
    h_all = np.concatenate(hor) if hor else np.zeros(0, dtype=int)
    if len(r_all) < MIN_RESIDUALS:
        return None, (
            f"own model bounds: {len(r_all)} past {kind} errors, "
            f"{MIN_RESIDUALS} needed for backtest-based bounds"
        )

    scale_now = level * np.array([p.days for p in periods]) / 7.0
    out = {key: np.zeros(len(periods)) for key in ("lo80", "hi80", "lo95", "hi95")}
    for i in range(len(periods)):
        near = np.abs(h_all - (i + 1)) <= HORIZON_POOL if kind == "weekly" else None
        pool = (
            r_all[near] if near is not None and near.sum() >= MIN_RESIDUALS else r_all
        )
        n = len(pool)
        for cover in LEVELS:
            # finite-sample conformal quantiles of the signed error, one per tail:
            # receipts surprises are skewed (a year-end rush, a large late
            # payment), so one big positive miss must not widen the lower bound
            tail = (1.0 - cover / 100) / 2
            q_hi = min(1.0, np.ceil((n + 1) * (1.0 - tail)) / n)
            q_lo = max(0.0, np.floor((n + 1) * tail) / n)
            hi = np.quantile(pool, q_hi, method="higher")
            lo = np.quantile(pool, q_lo, method="lower")
            out[f"lo{cover}"][i] = mean[i] + lo * scale_now[i]
            out[f"hi{cover}"][i] = mean[i] + hi * scale_now[i]
    return out, f"backtest errors: {len(r_all)} past {kind} errors (split conformal)"


def _tidy_bounds(mean: np.ndarray, bounds: dict[str, np.ndarray]) -> dict:
    """Bounds that nest (95% ⊇ 80% ∋ mean) and are never negative."""
    lo80 = np.minimum(bounds["lo80"], mean)
    hi80 = np.maximum(bounds["hi80"], mean)
    lo95 = np.minimum(bounds["lo95"], lo80)
    hi95 = np.maximum(bounds["hi95"], hi80)
    return {
        "lo80": np.clip(lo80, 0, None),
        "hi80": np.clip(hi80, 0, None),
        "lo95": np.clip(lo95, 0, None),
        "hi95": np.clip(hi95, 0, None),
    }
