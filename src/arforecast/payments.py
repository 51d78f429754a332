"""Payment-timing model: probability that an open invoice is paid within h days.

The model is a discrete-time hazard model. Time after the snapshot is cut into
periods whose ends are every week (7, 14, ... days) and every requested horizon;
each training snapshot becomes one row per period it was still unpaid and
observed in ("person-period" rows), with target 1 in the period it got paid. One
logistic regression on the features, period dummies and feature × log(period end)
interactions gives the hazard h_k (the chance to be paid in period k given unpaid
at its start), and the survival curve S(t_k) = Π_{j≤k} (1 − h_j). So
P(paid within t) = 1 − S(t) is in [0, 1] and never decreases in t, by
construction. Hazards are recalibrated (Platt or isotonic, both monotone maps) on
the latest time slice of the training snapshots, held out from the regression.
"""

from __future__ import annotations

import importlib.metadata
import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import sklearn
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.impute import SimpleImputer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import SplineTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted

from arforecast import features as feat
from arforecast.exceptions import ArforecastWarning, ModelError

__all__ = ["PaymentModel", "fit_payment_model", "training_snapshots"]

logger = logging.getLogger(__name__)

_EPS = 1e-6
_MIN_CALIBRATION_ROWS = 200
#: Relative log-loss gain the maps must show on the later half of the held-out
#: slice before they are kept (besides two standard errors of the row gains).
_MIN_CALIBRATION_GAIN = 0.01
_FORMAT_VERSION = 1


def _package_version() -> str:
    try:
        return importlib.metadata.version("arforecast")
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        from arforecast import __version__

        return str(__version__)


def _period_bounds(horizons: Sequence[int], timing_weeks: int) -> np.ndarray:
    """Period end days: every week up to ``timing_weeks`` plus every horizon."""
    weeks = 7 * np.arange(1, int(timing_weeks) + 1)
    bounds = np.union1d(weeks, np.asarray(horizons, dtype=int))
    return bounds.astype(float)


def _expand_person_periods(
    days_to_pay: np.ndarray, observed_days: np.ndarray, bounds: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person-period rows: (snapshot row, period index, paid in that period).

    A snapshot is at risk in period k (``(bounds[k-1], bounds[k]]``) while unpaid at
    its start; the period counts if the payment falls in it or if it was observed
    to its end. Payments after the last bound and unpaid snapshots contribute
    zero-target rows for every fully observed period.
    """
    n_periods = len(bounds)
    paid = ~np.isnan(days_to_pay)
    t = np.where(paid, days_to_pay, np.inf)
    k_event = np.searchsorted(bounds, t, side="left")  # period holding the payment
    event = paid & (k_event < n_periods)
    n_observed = np.searchsorted(bounds, observed_days, side="right")
    n_rows = np.where(event, k_event + 1, np.minimum(n_observed, n_periods))
    n_rows = np.maximum(n_rows, 0).astype(np.int64)

    row = np.repeat(np.arange(len(t), dtype=np.int64), n_rows)
    offsets = np.cumsum(n_rows) - n_rows
    period = np.arange(len(row), dtype=np.int64) - np.repeat(offsets, n_rows)
    target = np.zeros(len(row), dtype=np.int8)
    last = np.cumsum(n_rows)[event & (n_rows > 0)] - 1
    target[last] = 1
    return row, period, target


class PaymentModel(BaseEstimator):
    """Discrete-time hazard model of invoice payment timing (scikit-learn estimator).

    Parameters
    ----------
    horizons : sequence of int, default=(7, 14, 30, 60, 90)
        Horizons in days for :meth:`predict_proba`; its columns follow the sorted
        ``horizons_``.
    timing_weeks : int, default=13
        Weekly periods modelled (for :meth:`predict_timing`); the model covers
        ``max(7 * timing_weeks, max(horizons))`` days.
    features : sequence of str, optional
        Feature columns; default: every :data:`arforecast.features.FEATURE_COLUMNS`
        column and ``extra_*`` column present in ``X`` at fit time.
    C : float, default=1.0
        Inverse L2 regularisation strength of the logistic regression.
    time_interactions : bool, default=False
        Let every feature's effect change with log(period end), so that e.g. a
        dispute can matter more at short horizons than at long ones.
    due_interactions : bool, default=True
        Give every feature a second effect in the periods that end after the due
        date: what predicts paying on time (e.g. the customer's on-time share)
        differs from what predicts how fast an overdue invoice gets paid. Needs
        the time-varying covariates (``time_varying=True``).
    time_varying : bool, default=True
        Add cubic-spline terms of two time-varying covariates, evaluated at each
        period's end: the days past due, and the days past due minus the
        customer's mean days late. They let the hazard peak around the due date
        and around the customer's usual payment day, which a linear model of the
        static features cannot express. Needs ``days_past_due`` and
        ``cust_mean_days_late`` in ``X``.
    n_knots : int, default=8
        Knots of each spline (placed at quantiles of the training values).
    spline_features : sequence of str, default=("cust_on_time_shrunk", "cust_late_share")
        Static features that also enter through a cubic spline (``feature_knots``
        knots at quantiles), so that their effect need not be linear in the logit.
        A customer's observed on-time share is a noisy reading of its true habit,
        and the probability it implies flattens at both ends; a straight line
        over- and under-predicts in the middle. Names absent from the features
        are ignored.
    feature_knots : int, default=5
        Knots of each ``spline_features`` spline.
    calibration : {"platt", "isotonic", None}, default="platt"
        Recalibration of the cumulative probability at each period end on the
        held-out latest time slice (Platt: logistic on its logit; isotonic), then
        a running max over period ends. The maps are kept only when, fitted on
        the earlier half of the slice, they improve the log loss on its later
        half by at least 1% and by more than two standard errors of the per-row
        gains (see ``metrics_["calibration"]``).
    calibration_fraction : float, default=0.25
        Share of the (latest) snapshot dates held out for calibration.
    refit : bool, default=True
        After fitting the calibration map, refit the regression on all rows
        (including the held-out slice) and apply the map to it, so the most recent
        history is not lost to calibration.
    max_snapshots : int, default=20_000
        Fit on a seeded random subset of at most this many snapshot rows (weekly
        snapshots of one invoice are highly redundant).
    max_iter : int, default=200
        Iterations of the Newton-Cholesky solver (it needs a handful).
    random_state : int, default=0
        Seed of the subsampling and of the solver.

    Attributes
    ----------
    horizons_ : ndarray of int
        Sorted horizons: the column order of :meth:`predict_proba`.
    bounds_ : ndarray of float
        Period end days of the hazard model.
    feature_names_ : list of str
        Features used, in order.
    training_cutoff_ : Timestamp or None
        Last date whose events the training labels saw.
    metrics_ : dict
        Row counts and calibration log loss before/after on the held-out slice.
    calibrator_ : list or None
        The calibration map per period end (None where not calibrated), or None
        when calibration was skipped or rejected.

    Notes
    -----
    ``fit`` reads its targets from ``X`` (columns ``days_to_pay`` and
    ``observed_days`` of a snapshot frame from :mod:`arforecast.features`); ``y``
    is ignored and only accepted for pipeline compatibility.
    """

    def __init__(
        self,
        horizons: Sequence[int] = feat.DEFAULT_HORIZONS,
        timing_weeks: int = 13,
        features: Sequence[str] | None = None,
        C: float = 1.0,
        time_interactions: bool = False,
        due_interactions: bool = True,
        time_varying: bool = True,
        n_knots: int = 8,
        spline_features: Sequence[str] | None = (
            "cust_on_time_shrunk",
            "cust_late_share",
        ),
        feature_knots: int = 5,
        calibration: str | None = "platt",
        calibration_fraction: float = 0.25,
        refit: bool = True,
        max_snapshots: int = 20_000,
        max_iter: int = 200,
        random_state: int = 0,
    ) -> None:
        self.horizons = horizons
        self.timing_weeks = timing_weeks
        self.features = features
        self.C = C
        self.time_interactions = time_interactions
        self.due_interactions = due_interactions
        self.time_varying = time_varying
        self.n_knots = n_knots
        self.spline_features = spline_features
        self.feature_knots = feature_knots
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.refit = refit
        self.max_snapshots = max_snapshots
        self.max_iter = max_iter
        self.random_state = random_state

    # ------------------------------------------------------------------ fitting
    def _validate_params(self) -> None:
        if self.calibration not in ("platt", "isotonic", None):
            raise ValueError(
                "calibration must be one of 'platt', 'isotonic' or None; "
                f"got {self.calibration!r}."
            )
        if not 0 <= float(self.calibration_fraction) < 1:
            raise ValueError(
                "calibration_fraction must be in [0, 1); "
                f"got {self.calibration_fraction!r}."
            )
        if int(self.timing_weeks) < 1:
            raise ValueError(f"timing_weeks must be >= 1; got {self.timing_weeks!r}.")

    def fit(
        self, X: pd.DataFrame, y: Any = None, *, cutoff: Any = None
    ) -> PaymentModel:
        """Fit the hazard model on a snapshot frame.

        Parameters
        ----------
        X : DataFrame
            Snapshot rows from :func:`arforecast.features.build_snapshots` (or
            ``build_issue_snapshots``) with the feature columns, ``snapshot_date``,
            ``days_to_pay`` and ``observed_days``.
        y : ignored
            The targets come from ``X``.
        cutoff : date-like, optional
            Training cutoff recorded in the metadata (default: the latest date the
            labels observed).

        Returns
        -------
        PaymentModel
            The fitted estimator.

        Raises
        ------
        ModelError
            When ``X`` lacks required columns, has no rows, or no payments.
        """
        self._validate_params()
        self.horizons_ = np.asarray(feat._check_horizons(self.horizons), dtype=int)
        self.bounds_ = _period_bounds(self.horizons_, self.timing_weeks)
        names = (
            list(self.features)
            if self.features is not None
            else feat.feature_columns(X)
        )
        required = ["snapshot_date", "days_to_pay", "observed_days", *names]
        missing = [c for c in required if c not in X.columns]
        if missing:
            raise ModelError(
                f"X lacks the columns {missing}; build it with "
                "arforecast.features.build_snapshots(ledger, dates)."
            )
        if not names:
            raise ModelError("no feature columns found in X; pass features=[...].")
        X = X.loc[X["observed_days"].to_numpy() > 0]
        if len(X) == 0:
            raise ModelError(
                "no training snapshots with an observed outcome. Likely causes: "
                "1) the cutoff is too early for the data, 2) the snapshot dates lie "
                "after the data end, 3) the ledger has no open invoices."
            )
        self.feature_names_ = names

        # subsample redundant snapshots, then split off the latest slice
        rng = np.random.default_rng(self.random_state)
        if len(X) > self.max_snapshots:
            keep = np.sort(rng.choice(len(X), size=self.max_snapshots, replace=False))
            X = X.iloc[keep]
        dates = X["snapshot_date"].to_numpy()
        unique_dates = np.unique(dates)
        n_cal_dates = int(np.floor(len(unique_dates) * self.calibration_fraction))
        use_cal = self.calibration is not None and n_cal_dates >= 1
        if use_cal:
            split = unique_dates[len(unique_dates) - n_cal_dates]
            train_mask = dates < split
        else:
            train_mask = np.ones(len(X), dtype=bool)
        if not train_mask.any():
            train_mask[:] = True
            use_cal = False

        # base model on the earlier slice, calibration map on the later one; then
        # (refit=True) the base model is refitted on every row, keeping the map
        self.calibrator_ = None
        n_pp, n_pay = self._fit_base(X.loc[train_mask])
        metrics: dict[str, Any] = {
            "n_snapshots": int(len(X)),
            "n_train_snapshots": int(train_mask.sum()),
            "n_person_periods": n_pp,
            "n_payments": n_pay,
            "calibration": None,
        }
        if use_cal:
            metrics["calibration"] = self._checked_calibration(X.loc[~train_mask])
            if self.refit:
                n_pp, n_pay = self._fit_base(X)
                metrics.update(
                    n_train_snapshots=int(len(X)),
                    n_person_periods=n_pp,
                    n_payments=n_pay,
                )
        self.metrics_ = metrics
        self.n_features_in_ = len(names)
        self.training_cutoff_ = (
            pd.Timestamp(cutoff).normalize()
            if cutoff is not None
            else pd.Timestamp(
                (
                    X["snapshot_date"] + pd.to_timedelta(X["observed_days"], unit="D")
                ).max()
            )
        )
        logger.info(
            "fitted payment model on %s snapshots (%s person-periods, %s payments)",
            metrics["n_snapshots"],
            metrics["n_person_periods"],
            metrics["n_payments"],
        )
        return self

    def _fit_base(self, train: pd.DataFrame) -> tuple[int, int]:
        """Fit imputer, scaler, splines and the hazard regression on ``train``."""
        names = self.feature_names_
        self.imputer_ = SimpleImputer(
            strategy="median", add_indicator=True, keep_empty_features=True
        )
        self.scaler_ = StandardScaler()
        imputed = self.imputer_.fit_transform(train[names].to_numpy(dtype=float))
        z = self.scaler_.fit_transform(imputed)
        # quantile knots need more distinct values than knots
        self._spline_cols = [
            names.index(c)
            for c in (self.spline_features or ())
            if c in names
            and len(np.unique(imputed[:, names.index(c)])) > int(self.feature_knots)
        ]
        self.feature_spline_ = None
        if self._spline_cols:
            self.feature_spline_ = SplineTransformer(
                n_knots=int(self.feature_knots),
                degree=3,
                knots="quantile",
                extrapolation="constant",
            ).fit(imputed[:, self._spline_cols])
            z = np.hstack(
                [z, self.feature_spline_.transform(imputed[:, self._spline_cols])]
            )
        row, period, target = _expand_person_periods(
            train["days_to_pay"].to_numpy(dtype=float),
            train["observed_days"].to_numpy(dtype=float),
            self.bounds_,
        )
        if target.sum() == 0 or target.sum() == len(target):
            raise ModelError(
                "the training snapshots have only one outcome (all paid in the first "
                "period or none paid). Likely causes: 1) too few snapshots before the "
                "cutoff, 2) the payments table is empty, 3) labels were censored "
                "away; move the cutoff later or add payment data."
            )
        self._log_t_mean = float(np.mean(np.log(self.bounds_)))
        self._log_t_scale = float(np.std(np.log(self.bounds_)) or 1.0)

        # time-varying covariates: days past due at each period end, and that
        # minus the customer's usual days late (where payments cluster)
        self.spline_ = None
        tv = self._time_varying_base(train, fit=True)
        self._use_due = bool(self.due_interactions and tv is not None)
        if tv is not None:
            self.spline_ = SplineTransformer(
                n_knots=self.n_knots,
                degree=3,
                knots="quantile",
                extrapolation="constant",
            )
            self.spline_.fit(self._period_values(tv[row], period))
        design = self._design(z[row], period, None if tv is None else tv[row])
        self.logit_ = LogisticRegression(
            C=self.C,
            solver="newton-cholesky",
            max_iter=self.max_iter,
            random_state=self.random_state,
        )
        self.logit_.fit(design, target)
        self._n_static = z.shape[1]
        return int(len(target)), int(target.sum())

    def _time_varying_base(self, X: pd.DataFrame, *, fit: bool = False):
        """(days_past_due, customer's mean days late) per row, or None if unused."""
        cols = ("days_past_due", "cust_mean_days_late")
        if not self.time_varying or any(c not in X.columns for c in cols):
            return None
        dpd = X["days_past_due"].to_numpy(dtype=float)
        late = X["cust_mean_days_late"].to_numpy(dtype=float)
        if fit:
            self._late_fill = (
                float(np.nanmedian(late)) if np.isfinite(late).any() else 0.0
            )
            self._dpd_fill = float(np.nanmedian(dpd)) if np.isfinite(dpd).any() else 0.0
        dpd = np.where(np.isnan(dpd), self._dpd_fill, dpd)
        late = np.where(np.isnan(late), self._late_fill, late)
        return np.column_stack([dpd, dpd - late])

    def _period_values(self, tv: np.ndarray, period: np.ndarray) -> np.ndarray:
        """Time-varying values at the end of each row's period."""
        return tv + self.bounds_[period][:, None]

    def _design(
        self, z: np.ndarray, period: np.ndarray, tv: np.ndarray | None
    ) -> np.ndarray:
        """Features, period dummies (first period = reference), interactions, splines."""
        n_periods = len(self.bounds_)
        dummies = np.zeros((len(period), n_periods - 1))
        has = period > 0
        dummies[np.flatnonzero(has), period[has] - 1] = 1.0
        parts = [z, dummies]
        if self.time_interactions:
            log_t = (
                np.log(self.bounds_[period]) - self._log_t_mean
            ) / self._log_t_scale
            parts.append(z * log_t[:, None])
        if self._use_due:
            after_due = (tv[:, 0] + self.bounds_[period]) > 0
            parts.append(z * after_due[:, None])
        if self.spline_ is not None:
            parts.append(self.spline_.transform(self._period_values(tv, period)))
        return np.hstack(parts)

    def _checked_calibration(self, cal: pd.DataFrame) -> dict[str, Any] | None:
        """Fit the maps on the held-out slice if its later half says they help.

        The maps are fitted on the earlier half of the slice and scored on its
        later half against no map, row by row (each row's mean log loss over the
        period ends it was observed to). They are refitted on the whole slice and
        kept only when the mean gain is at least 1% of the loss and more than two
        standard errors of the per-row gains: a small slice that happens to pay
        faster than usual must not shift every later prediction.
        """
        dates = cal["snapshot_date"].to_numpy()
        middle = np.unique(dates)[len(np.unique(dates)) // 2]
        first, second = cal.loc[dates < middle], cal.loc[dates >= middle]
        if len(first) == 0 or len(second) == 0 or self._fit_calibrator(first) is None:
            self.calibrator_ = None
            return None
        raw = self._raw_cumulative(second)  # the regression's curve, once
        with_map = self._row_losses(second, self._calibrate(raw))
        self.calibrator_ = None
        without = self._row_losses(second, raw)
        known = np.isfinite(with_map) & np.isfinite(without)
        gain = without[known] - with_map[known]
        n = int(known.sum())
        mean_gain = float(gain.mean()) if n else 0.0
        se = float(gain.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
        check = {
            "log_loss_check_with": float(with_map[known].mean()) if n else None,
            "log_loss_check_without": float(without[known].mean()) if n else None,
            "check_gain_se": se if np.isfinite(se) else None,
            "check_rows": n,
        }
        useful = (
            n > 1
            and mean_gain > _MIN_CALIBRATION_GAIN * float(without[known].mean())
            and mean_gain > 2.0 * se
        )
        if not useful:
            logger.info(
                "calibration map rejected: later held-out log-loss gain %.4f "
                "(standard error %.4f) over %s rows",
                mean_gain,
                se,
                n,
            )
            return {"method": self.calibration, "applied": False, **check}
        info = self._fit_calibrator(cal) or {}
        return {**info, "applied": self.calibrator_ is not None, **check}

    def _row_losses(self, frame: pd.DataFrame, cum: np.ndarray) -> np.ndarray:
        """Each row's mean log loss of curve ``cum`` over its observed period ends."""
        cum = np.clip(cum, 1e-15, 1 - 1e-15)
        days = frame["days_to_pay"].to_numpy(dtype=float)
        observed = frame["observed_days"].to_numpy(dtype=float)
        paid = days[:, None] <= self.bounds_[None, :]  # NaN compares False
        # only rows observed to the period end: counting the early payers of a
        # window not yet observed in full would overstate the paid share
        known = observed[:, None] >= self.bounds_[None, :]
        loss = -np.where(paid, np.log(cum), np.log1p(-cum))
        with np.errstate(invalid="ignore"):
            return np.where(known, loss, 0.0).sum(axis=1) / known.sum(axis=1)

    def _fit_calibrator(self, cal: pd.DataFrame) -> dict[str, Any] | None:
        """One monotone map per period end of the cumulative probability."""
        raw = self._raw_cumulative(cal)
        days = cal["days_to_pay"].to_numpy(dtype=float)
        observed = cal["observed_days"].to_numpy(dtype=float)
        maps: list[Any] = []
        before, after, used = [], [], 0
        for k, bound in enumerate(self.bounds_):
            paid = days <= bound  # NaN compares False
            known = observed >= bound  # window observed in full (no censoring bias)
            y = paid[known].astype(float)
            x = raw[known, k]
            if len(y) < _MIN_CALIBRATION_ROWS or y.min() == y.max():
                maps.append(None)
                continue
            if self.calibration == "platt":
                cal_model = LogisticRegression(C=1e4, max_iter=1000)
                cal_model.fit(_logit(x)[:, None], y)
            else:
                cal_model = IsotonicRegression(
                    y_min=_EPS, y_max=1 - _EPS, out_of_bounds="clip"
                )
                cal_model.fit(x, y)
            maps.append(cal_model)
            before.append(_bernoulli_log_loss(y, x))
            after.append(_bernoulli_log_loss(y, _map_one(cal_model, x)))
            used += 1
        if used == 0:
            logger.debug("calibration skipped: too few held-out rows per period end")
            return None
        self.calibrator_ = maps
        return {
            "method": self.calibration,
            "n_snapshots": int(len(cal)),
            "period_ends_calibrated": used,
            "log_loss_before": float(np.mean(before)),
            "log_loss_after": float(np.mean(after)),
        }

    def _calibrate(self, cum: np.ndarray) -> np.ndarray:
        """Apply the per-period-end maps, then a running max (non-decreasing)."""
        if self.calibrator_ is None:
            return cum
        out = cum.copy()
        for k, cal_model in enumerate(self.calibrator_):
            if cal_model is not None:
                out[:, k] = _map_one(cal_model, cum[:, k])
        return np.clip(np.maximum.accumulate(out, axis=1), 0.0, 1.0)

    # --------------------------------------------------------------- predicting
    def _check_X(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(
            self,
            "logit_",
            msg=(
                "This PaymentModel is not fitted yet; call fit(snapshots) or "
                "fit_payment_model(ledger, cutoff) before predicting."
            ),
        )
        missing = [c for c in self.feature_names_ if c not in X.columns]
        if missing:
            raise ModelError(
                f"X lacks the feature columns {missing} the model was fitted with."
            )
        imputed = self.imputer_.transform(X[self.feature_names_].to_numpy(dtype=float))
        z = self.scaler_.transform(imputed)
        if getattr(self, "feature_spline_", None) is not None:
            basis = self.feature_spline_.transform(imputed[:, self._spline_cols])
            z = np.hstack([z, basis])
        return z

    def _raw_hazard_logits(self, X: pd.DataFrame) -> np.ndarray:
        """Uncalibrated hazard logits, shape (n, n_periods)."""
        z = self._check_X(X)
        coef = self.logit_.coef_.ravel()
        p = self._n_static
        n_periods = len(self.bounds_)
        base = z @ coef[:p] + self.logit_.intercept_[0]
        alpha = np.concatenate([[0.0], coef[p : p + n_periods - 1]])
        logits = base[:, None] + alpha[None, :]
        at = p + n_periods - 1
        if self.time_interactions:
            slope = z @ coef[at : at + p]
            log_t = (np.log(self.bounds_) - self._log_t_mean) / self._log_t_scale
            logits = logits + slope[:, None] * log_t[None, :]
            at += p
        tv = self._time_varying_base(X)
        if self._use_due:
            slope = z @ coef[at : at + p]
            after_due = (tv[:, :1] + self.bounds_[None, :]) > 0
            logits = logits + slope[:, None] * after_due
            at += p
        if self.spline_ is not None:
            spline_coef = coef[at:]
            # in chunks of rows: the basis is (rows * periods, n_basis)
            step = max(1, 200_000 // n_periods)
            for lo in range(0, len(z), step):
                part = tv[lo : lo + step]
                rows = np.repeat(np.arange(len(part)), n_periods)
                periods = np.tile(np.arange(n_periods), len(part))
                basis = self.spline_.transform(self._period_values(part[rows], periods))
                logits[lo : lo + step] += (basis @ spline_coef).reshape(
                    len(part), n_periods
                )
        return logits

    def _raw_cumulative(self, X: pd.DataFrame) -> np.ndarray:
        hazard = expit(self._raw_hazard_logits(X))
        return np.clip(1.0 - np.cumprod(1.0 - hazard, axis=1), 0.0, 1.0)

    def predict_cumulative(self, X: pd.DataFrame) -> np.ndarray:
        """P(paid within ``bounds_[k]`` days), shape (n, len(bounds_)).

        Calibrated; every row is non-decreasing and within [0, 1].
        """
        return self._calibrate(self._raw_cumulative(X))

    def predict_hazard(self, X: pd.DataFrame) -> np.ndarray:
        """Hazard per period, shape (n, len(bounds_)), implied by the calibrated curve.

        Parameters
        ----------
        X : DataFrame
            Snapshot rows with the model's feature columns.

        Returns
        -------
        ndarray
            ``h[i, k]`` = P(paid in period k | unpaid at its start).
        """
        cum = self.predict_cumulative(X)
        survival = np.hstack([np.ones((len(cum), 1)), 1.0 - cum])
        with np.errstate(divide="ignore", invalid="ignore"):
            hazard = 1.0 - survival[:, 1:] / survival[:, :-1]
        return np.clip(np.nan_to_num(hazard, nan=1.0), 0.0, 1.0)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """P(balance fully paid within h days after the snapshot) per horizon.

        Parameters
        ----------
        X : DataFrame
            Snapshot rows with the model's feature columns.

        Returns
        -------
        ndarray of shape (n, len(horizons_))
            Column j is horizon ``horizons_[j]`` (sorted ascending); every row is
            non-decreasing and within [0, 1].
        """
        cum = self.predict_cumulative(X)
        cols = np.searchsorted(self.bounds_, self.horizons_.astype(float))
        return cum[:, cols]

    def predict_paid_within(self, X: pd.DataFrame, days: Any) -> np.ndarray:
        """P(paid within ``days``) with a horizon per row (e.g. the terms).

        Between period ends the cumulative probability is interpolated linearly;
        days past the model's range are clipped to it (with a warning).

        Parameters
        ----------
        X : DataFrame
            Snapshot rows.
        days : float or array-like of shape (n,)
            Horizon in days for each row (``0`` gives 0).

        Returns
        -------
        ndarray of shape (n,)
        """
        cum = self.predict_cumulative(X)
        days = np.broadcast_to(np.asarray(days, dtype=float), (len(cum),))
        top = self.bounds_[-1]
        if np.nanmax(days, initial=0.0) > top:
            warnings.warn(
                f"horizons above {top:.0f} days are beyond the model's range and "
                f"were clipped to it; fit with timing_weeks >= {int(np.ceil(np.nanmax(days) / 7))} "
                "to cover them.",
                ArforecastWarning,
                stacklevel=2,
            )
        d = np.clip(days, 0.0, top)
        grid = np.concatenate([[0.0], self.bounds_])
        full = np.hstack([np.zeros((len(cum), 1)), cum])
        k = np.clip(np.searchsorted(grid, d, side="left"), 1, len(grid) - 1)
        rows = np.arange(len(cum))
        lo, hi = grid[k - 1], grid[k]
        w = (d - lo) / (hi - lo)
        return full[rows, k - 1] + w * (full[rows, k] - full[rows, k - 1])

    def predict_timing(self, X: pd.DataFrame, weeks: int = 13) -> np.ndarray:
        """Weekly payment-timing distribution of each snapshot's remaining balance.

        Parameters
        ----------
        X : DataFrame
            Snapshot rows.
        weeks : int, default=13
            Number of weeks; week k covers days 7(k−1)+1 … 7k after the snapshot.

        Returns
        -------
        ndarray of shape (n, weeks + 1)
            Column k−1 = P(paid in week k); the last column = P(paid later or
            never). Rows sum to 1.

        Raises
        ------
        ModelError
            If ``weeks`` exceeds the fitted ``timing_weeks``.
        """
        weeks = int(weeks)
        if weeks < 1 or weeks > int(self.timing_weeks):
            raise ModelError(
                f"weeks must be between 1 and {int(self.timing_weeks)} (the fitted "
                f"timing_weeks); got {weeks}. Refit with timing_weeks={max(weeks, 1)}."
            )
        cum = self.predict_cumulative(X)
        cols = np.searchsorted(self.bounds_, 7.0 * np.arange(1, weeks + 1))
        at_weeks = np.hstack([np.zeros((len(cum), 1)), cum[:, cols]])
        weekly = np.diff(at_weeks, axis=1)
        rest = 1.0 - at_weeks[:, -1:]
        return np.hstack([weekly, rest])

    def expected_payment_date(
        self, X: pd.DataFrame, *, statistic: str = "median"
    ) -> pd.Series:
        """Point forecast of the payment date of each snapshot's balance.

        Parameters
        ----------
        X : DataFrame
            Snapshot rows with ``snapshot_date``.
        statistic : {"median", "mean"}, default="median"
            ``"median"``: the day the cumulative probability reaches 0.5
            (interpolated), capped at the model's range (``bounds_[-1]`` days) when
            it never does; ``"mean"``: the mean days to pay restricted to the
            model's range (area under the survival curve).

        Returns
        -------
        Series of datetime64
            Indexed like ``X``.
        """
        if statistic not in ("median", "mean"):
            raise ValueError(
                f"statistic must be 'median' or 'mean'; got {statistic!r}."
            )
        cum = self.predict_cumulative(X)
        grid = np.concatenate([[0.0], self.bounds_])
        full = np.hstack([np.zeros((len(cum), 1)), cum])
        if statistic == "mean":
            survival = 1.0 - full
            days = np.sum(
                0.5 * (survival[:, 1:] + survival[:, :-1]) * np.diff(grid), axis=1
            )
        else:
            reached = full >= 0.5
            k = np.where(reached.any(axis=1), reached.argmax(axis=1), len(grid) - 1)
            k = np.maximum(k, 1)
            rows = np.arange(len(cum))
            f_lo, f_hi = full[rows, k - 1], full[rows, k]
            with np.errstate(divide="ignore", invalid="ignore"):
                w = np.where(f_hi > f_lo, (0.5 - f_lo) / (f_hi - f_lo), 1.0)
            w = np.clip(w, 0.0, 1.0)
            days = grid[k - 1] + w * (grid[k] - grid[k - 1])
            days = np.where(reached.any(axis=1), days, grid[-1])
        base = pd.to_datetime(X["snapshot_date"]).to_numpy()
        offset = pd.to_timedelta(np.round(days), unit="D").to_numpy()
        return pd.Series(base + offset, index=X.index, name="expected_payment_date")

    # ---------------------------------------------------------------- persist
    def metadata(self) -> dict[str, Any]:
        """Training metadata: cutoff, features, versions and metrics."""
        check_is_fitted(self, "logit_", msg="This PaymentModel is not fitted yet.")
        return {
            "format_version": _FORMAT_VERSION,
            "training_cutoff": (
                None
                if self.training_cutoff_ is None
                else self.training_cutoff_.date().isoformat()
            ),
            "horizons": [int(h) for h in self.horizons_],
            "feature_names": list(self.feature_names_),
            "params": self.get_params(),
            "arforecast_version": _package_version(),
            "sklearn_version": sklearn.__version__,
            "metrics": self.metrics_,
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted model and its metadata to ``path`` (joblib file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"metadata": self.metadata(), "model": self}, path)
        logger.info("saved payment model to %s", path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> PaymentModel:
        """Read a model written by :meth:`save`.

        Warns (``ArforecastWarning``) when it was saved with another scikit-learn
        version. Only load files you trust: the format is pickle-based.
        """
        payload = joblib.load(Path(path))
        if not isinstance(payload, Mapping) or not isinstance(
            payload.get("model"), cls
        ):
            raise ModelError(
                f"{path} does not hold a PaymentModel saved by PaymentModel.save()."
            )
        meta = payload["metadata"]
        if meta.get("sklearn_version") != sklearn.__version__:
            warnings.warn(
                f"model saved with scikit-learn {meta.get('sklearn_version')}, "
                f"loaded with {sklearn.__version__}; refit if predictions look off.",
                ArforecastWarning,
                stacklevel=2,
            )
        model = payload["model"]
        model.metadata_ = meta
        return model


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _map_one(cal_model: Any, p: np.ndarray) -> np.ndarray:
    """Calibrated probabilities of one period end's map."""
    if isinstance(cal_model, LogisticRegression):
        return cal_model.predict_proba(_logit(p)[:, None])[:, 1]
    return cal_model.predict(p)


def _bernoulli_log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def fit_payment_model(
    ledger: Any,
    cutoff: Any,
    *,
    horizons: Iterable[int] = feat.DEFAULT_HORIZONS,
    snapshot_freq: str = "W",
    mode: str = "open",
    extra_features: Mapping[str, Any] | Sequence[str] | None = None,
    random_state: int = 0,
    **params: Any,
) -> PaymentModel:
    """Fit a :class:`PaymentModel` on a ledger's history before ``cutoff``.

    Parameters
    ----------
    ledger : Ledger
        The ledger.
    cutoff : date-like
        Training cutoff: features and labels use only events dated on or before
        it, and snapshots whose outcome window (snapshot + max horizon) ends after
        it are excluded.
    horizons : iterable of int, default=(7, 14, 30, 60, 90)
        Model horizons in days.
    snapshot_freq : str, default="W"
        Training snapshot frequency (``"W"`` weekly, ``"MS"`` month starts).
    mode : {"open", "issue"}, default="open"
        ``"open"``: snapshots of the open items at each snapshot date;
        ``"issue"``: one snapshot per invoice at its invoice date.
    extra_features : list or dict, optional
        Extra invoice columns, see :func:`arforecast.features.build_snapshots`.
    random_state : int, default=0
        Seed.
    **params
        Further :class:`PaymentModel` parameters.

    Returns
    -------
    PaymentModel
        Fitted, with ``training_cutoff_ = cutoff``.

    Raises
    ------
    ModelError
        When no snapshot before the cutoff has a complete outcome window.
    """
    if mode not in ("open", "issue"):
        raise ValueError(f"mode must be 'open' or 'issue'; got {mode!r}.")
    hs = feat._check_horizons(horizons)
    cutoff = pd.Timestamp(cutoff).normalize()
    window = pd.Timedelta(days=max(hs))
    frame = training_snapshots(
        ledger,
        cutoff,
        horizons=hs,
        snapshot_freq=snapshot_freq,
        mode=mode,
        extra_features=extra_features,
        max_rows=int(params.get("max_snapshots", 20_000)),
        random_state=random_state,
    )
    if len(frame) == 0:
        raise ModelError(
            f"no training snapshots before {cutoff.date()} have a complete "
            f"{window.days}-day outcome window. Likely causes: 1) the cutoff is "
            "within the first max(horizons) days of the data, 2) the ledger is "
            "empty before the cutoff; move the cutoff later or shorten the horizons."
        )
    model = PaymentModel(horizons=hs, random_state=random_state, **params)
    return model.fit(frame, cutoff=cutoff)


def training_snapshots(
    ledger: Any,
    cutoff: Any,
    *,
    horizons: Iterable[int] = feat.DEFAULT_HORIZONS,
    snapshot_freq: str = "W",
    mode: str = "open",
    extra_features: Mapping[str, Any] | Sequence[str] | None = None,
    max_rows: int | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Snapshots usable for training at ``cutoff`` (labels censored at the cutoff).

    Snapshots are dated from the ledger's first invoice to ``cutoff − max(horizons)``
    and labels see only events dated on or before ``cutoff``; rows whose
    ``label_end_{max horizon}`` is after the cutoff are dropped.

    With ``max_rows``, open-item snapshots are a seeded uniform sample of at most
    ``max_rows`` rows, drawn before the features are computed
    (``build_snapshots(max_rows=...)``), so memory and time stay bounded on large
    ledgers: weekly snapshots of a million-invoice book run to millions of rows,
    of which the model uses ``max_snapshots``. Issue snapshots (one per invoice)
    are returned whole; ``PaymentModel.fit`` samples them itself.
    """
    hs = feat._check_horizons(horizons)
    cutoff = pd.Timestamp(cutoff).normalize()
    last = cutoff - pd.Timedelta(days=max(hs))
    end_col = f"label_end_{max(hs)}"
    if mode == "issue":
        frame = feat.build_issue_snapshots(
            ledger, horizons=hs, extra_features=extra_features, label_as_of=cutoff
        )
        # one row per invoice: PaymentModel.fit draws its own sample if needed
        return frame.loc[(frame[end_col] <= cutoff).to_numpy()].reset_index(drop=True)
    start = pd.Timestamp(ledger.invoices["invoice_date"].min())
    dates = feat.snapshot_dates(start, last, snapshot_freq)
    if len(dates) == 0:
        return pd.DataFrame()
    frame = feat.build_snapshots(
        ledger,
        dates,
        horizons=hs,
        extra_features=extra_features,
        label_as_of=cutoff,
        max_rows=max_rows,
        random_state=random_state,
    )
    return frame.loc[(frame[end_col] <= cutoff).to_numpy()].reset_index(drop=True)
