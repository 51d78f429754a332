"""Top-down receipts forecasts: exponential smoothing with a fallback chain."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = [
    "MIN_POINTS_MODEL",
    "TopDownForecast",
    "baseline_forecasts",
    "fit_topdown",
    "season_length_for",
    "seasonal_naive_scale",
]

logger = logging.getLogger(__name__)

#: Fewer points than this and no model is fitted: the trailing mean is used.
MIN_POINTS_MODEL = 10

#: Window of the trailing-mean baseline and fallback, in periods.
TRAILING_WINDOW = 13

_LEVELS = (0.8, 0.95)


@dataclass
class TopDownForecast:
    """A point forecast with 80% and 95% bounds and the model that made it.

    Attributes
    ----------
    mean, lo80, hi80, lo95, hi95 : ndarray of shape (horizon,)
        Forecast and bounds per period, never negative.
    name : str
        Model that ran: ``ets_simple``, ``ets_additive_damped``,
        ``ets_seasonal_additive``, ``trailing_mean``, ``constant`` or ``zero``.
    reason : str
        Why this model (the fallback chain's decision), in one sentence.
    notes : list of str
        Warnings raised by statsmodels while fitting (recorded, not re-raised).
    alternatives : dict of str to ndarray
        Point forecast of every ETS candidate that fitted (clipped at zero), so
        that a caller can choose among them by out-of-sample accuracy.
    """

    mean: np.ndarray
    lo80: np.ndarray
    hi80: np.ndarray
    lo95: np.ndarray
    hi95: np.ndarray
    name: str
    reason: str
    notes: list[str] = field(default_factory=list)
    alternatives: dict[str, np.ndarray] = field(default_factory=dict)

    def describe(self) -> dict:
        """The model record: ``{"name", "reason"}`` plus ``notes`` when any."""
        out = {"name": self.name, "reason": self.reason}
        if self.notes:
            out["notes"] = list(self.notes)
        return out


def season_length_for(n_points: int, periods_per_year: int) -> int:
    """Season length used by the seasonal-naive baseline and the MASE scale.

    Parameters
    ----------
    n_points : int
        Length of the history.
    periods_per_year : int
        52 for weekly series, 12 for monthly series.

    Returns
    -------
    int
        ``periods_per_year`` when the history holds a full year plus a quarter,
        else a quarter (13 weeks or 3 months) when it holds two quarters, else 1
        (the naive forecast).
    """
    quarter = max(1, periods_per_year // 4)
    if n_points >= periods_per_year + quarter:
        return periods_per_year
    if n_points >= 2 * quarter:
        return quarter
    return 1


def seasonal_naive_scale(y: np.ndarray, season: int) -> float:
    """In-sample mean absolute error of the seasonal-naive forecast (MASE scale).

    Returns NaN when the series is shorter than ``season + 1`` or the error is 0.
    """
    y = np.asarray(y, dtype=float)
    if len(y) <= season:
        return float("nan")
    mae = float(np.mean(np.abs(y[season:] - y[:-season])))
    return mae if mae > 0 else float("nan")


def _empirical_bounds(
    y: np.ndarray, mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bounds from the spread of the history around its trailing mean."""
    tail = y[-max(TRAILING_WINDOW * 2, 1) :]
    dev = tail - tail.mean() if len(tail) else np.zeros(1)
    q = np.quantile(dev, [0.1, 0.9, 0.025, 0.975]) if len(dev) > 1 else np.zeros(4)
    bounds = [np.clip(mean + qi, 0.0, None) for qi in q]
    return bounds[0], bounds[1], bounds[2], bounds[3]


def _constant(y: np.ndarray, horizon: int, name: str, reason: str) -> TopDownForecast:
    value = float(max(y[-1], 0.0)) if len(y) else 0.0
    mean = np.full(horizon, value)
    return TopDownForecast(mean, mean, mean, mean, mean, name, reason)


def _trailing_mean(y: np.ndarray, horizon: int, reason: str) -> TopDownForecast:
    window = y[-TRAILING_WINDOW:]
    mean = np.full(horizon, float(max(window.mean(), 0.0)) if len(window) else 0.0)
    lo80, hi80, lo95, hi95 = _empirical_bounds(y, mean)
    return TopDownForecast(mean, lo80, hi80, lo95, hi95, "trailing_mean", reason)


def _fit_ets(y: np.ndarray, horizon: int, spec: dict) -> tuple[object, pd.DataFrame]:
    """Fit one additive-error ETS model and predict with 80%/95% intervals."""
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    series = pd.Series(y, index=pd.RangeIndex(len(y)))
    res = ETSModel(series, error="add", **spec).fit(disp=False, maxiter=200)
    pred = res.get_prediction(start=len(y), end=len(y) + horizon - 1)
    frames = {level: pred.summary_frame(alpha=1 - level) for level in _LEVELS}
    out = pd.DataFrame(
        {
            "mean": frames[0.8]["mean"].to_numpy(dtype=float),
            "lo80": frames[0.8]["pi_lower"].to_numpy(dtype=float),
            "hi80": frames[0.8]["pi_upper"].to_numpy(dtype=float),
            "lo95": frames[0.95]["pi_lower"].to_numpy(dtype=float),
            "hi95": frames[0.95]["pi_upper"].to_numpy(dtype=float),
        }
    )
    return res, out


def fit_topdown(
    y: np.ndarray | pd.Series,
    horizon: int,
    *,
    season_length: int | None = None,
) -> TopDownForecast:
    """Forecast a receipts series with exponential smoothing and a fallback chain.

    Parameters
    ----------
    y : array-like of float
        Receipts per period (weeks or months), oldest first, non-negative.
    horizon : int
        Number of periods to forecast.
    season_length : int, optional
        Periods per season (52 for weeks, 12 for months); ``None`` or 1 means
        no seasonal model is tried.

    Returns
    -------
    TopDownForecast
        Never raises for a numeric series: a failing fit falls back.

    Notes
    -----
    The chain, first match wins:

    1. fewer than 10 points → ``trailing_mean`` (mean of the last 13 points);
    2. all zeros → ``zero``; every value equal → ``constant``;
    3. additive-error ETS candidates (statsmodels ``ETSModel``): simple
       exponential smoothing (``ets_simple``), additive damped trend
       (``ets_additive_damped``) and — only with at least two full seasons —
       additive Holt-Winters without trend, its initial states set by the
       heuristic of Hyndman et al. (``ets_seasonal_additive``);
       the lowest AICc wins. Multiplicative forms are never used, so zeros in
       the series are harmless;
    4. every candidate failed or gave a non-finite forecast → ``trailing_mean``.

    Forecasts and bounds are clipped at zero (receipts are never negative).
    """
    y = np.nan_to_num(np.asarray(y, dtype=float), nan=0.0)
    horizon = int(horizon)

    if len(y) < MIN_POINTS_MODEL:
        return _trailing_mean(
            y,
            horizon,
            f"fewer than {MIN_POINTS_MODEL} points ({len(y)}): trailing mean "
            "instead of a model",
        )
    if not np.any(y):
        return _constant(y, horizon, "zero", "all-zero series: forecast is 0")
    if np.ptp(y) == 0:
        return _constant(y, horizon, "constant", "flat series: last value repeated")

    # candidate specifications (additive only: zeros never break them)
    specs: dict[str, dict] = {
        "ets_simple": {"trend": None},
        "ets_additive_damped": {"trend": "add", "damped_trend": True},
    }
    season_note = ""
    if season_length and season_length > 1:
        if len(y) >= 2 * season_length:
            # heuristic initial states: 2 × season fewer parameters to estimate
            specs["ets_seasonal_additive"] = {
                "trend": None,
                "seasonal": "add",
                "seasonal_periods": int(season_length),
                "initialization_method": "heuristic",
            }
        else:
            season_note = (
                f"; no seasonal model: it needs 2 full seasons "
                f"({2 * season_length} points), got {len(y)}"
            )
    zero_note = "; series has zeros: additive forms only" if (y == 0).any() else ""

    # fit every candidate, keep the lowest AICc
    best: tuple[float, str, pd.DataFrame] | None = None
    notes: list[str] = []
    failures: list[str] = []
    alternatives: dict[str, np.ndarray] = {}
    for name, spec in specs.items():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                res, pred = _fit_ets(y, horizon, spec)
            except (ValueError, np.linalg.LinAlgError, RuntimeError) as exc:
                failures.append(f"{name}: {exc}")
                continue
        notes.extend(
            f"{name}: {w.category.__name__}: {str(w.message).splitlines()[0]}"
            for w in caught
        )
        aicc = float(getattr(res, "aicc", np.nan))
        if not np.isfinite(pred.to_numpy()).all() or not np.isfinite(aicc):
            failures.append(f"{name}: non-finite forecast or AICc")
            continue
        alternatives[name] = np.clip(pred["mean"].to_numpy(), 0.0, None)
        if best is None or aicc < best[0]:
            best = (aicc, name, pred)

    if best is None:
        logger.debug("every ETS candidate failed: %s", failures)
        return _trailing_mean(
            y, horizon, "every ETS fit failed (" + "; ".join(failures) + ")"
        )
    aicc, name, pred = best
    reason = (
        f"lowest AICc ({aicc:.1f}) among {', '.join(specs)}" + season_note + zero_note
    )
    clipped = {c: np.clip(pred[c].to_numpy(), 0.0, None) for c in pred.columns}
    return TopDownForecast(
        clipped["mean"],
        clipped["lo80"],
        clipped["hi80"],
        clipped["lo95"],
        clipped["hi95"],
        name,
        reason,
        notes,
        alternatives,
    )


def baseline_forecasts(y: np.ndarray, horizon: int, season: int) -> dict:
    """Point forecasts of the three baselines for ``horizon`` periods.

    Parameters
    ----------
    y : ndarray of float
        History, oldest first.
    horizon : int
        Periods ahead.
    season : int
        Season length of the seasonal-naive forecast (see
        :func:`season_length_for`).

    Returns
    -------
    dict of str to ndarray
        ``last_value`` (the last period repeated), ``trailing_mean`` (mean of
        the last 13 periods) and ``seasonal_naive`` (the value one season
        earlier; the last value when the history is shorter than a season).
    """
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        zero = np.zeros(horizon)
        return {"last_value": zero, "trailing_mean": zero, "seasonal_naive": zero}
    steps = np.arange(horizon)
    if season > 1 and len(y) >= season:
        seasonal = y[len(y) - season + steps % season]
    else:
        seasonal = np.full(horizon, y[-1])
    return {
        "last_value": np.full(horizon, y[-1]),
        "trailing_mean": np.full(horizon, y[-TRAILING_WINDOW:].mean()),
        "seasonal_naive": seasonal.astype(float),
    }
