"""Rolling-origin backtest of the payment model (and, through cashflow, the cash one).

Folds are cut at cutoffs ``c_1 < c_2 < ...``: fold f trains on snapshots whose
outcome window closed on or before ``c_f`` (labels censored at ``c_f``) and tests
on the snapshots dated in ``[c_f, c_{f+1})`` whose labels are observed by the data
end. Every figure is JSON-safe (``None``, never NaN).
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from arforecast import features as feat
from arforecast.exceptions import ArforecastWarning, ModelError
from arforecast.payments import PaymentModel, training_snapshots

__all__ = [
    "AGING_EDGES",
    "backtest_payments",
    "backtest_tables",
    "backtest_verdicts",
    "metrics_for",
    "reliability_table",
    "run_backtest",
]

logger = logging.getLogger(__name__)

#: Upper edges (days past due) of the aging buckets of the ``aging_bucket``
#: baseline: current (≤ 0), 1-30, 31-60, 61-90, 91-120, 120+ (DESIGN.md).
AGING_EDGES: tuple[int, ...] = (0, 30, 60, 90, 120)
#: Pseudo-observations of the global rate in the ``customer_history`` baseline.
SHRINKAGE = 10.0
_CLIP = 1e-15
_MAX_TERM_HORIZONS = 6


# ---------------------------------------------------------------- metrics
def _clean(value: Any) -> Any:
    """A JSON-safe scalar: Python float/int, None for NaN/inf."""
    if value is None:
        return None
    if isinstance(value, (np.integer, int)) and not isinstance(value, bool):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


def metrics_for(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, Brier score, log loss and n of probabilities ``p`` for outcomes ``y``.

    Parameters
    ----------
    y : array-like of {0, 1}
        Observed outcomes.
    p : array-like of float
        Predicted probabilities of outcome 1.

    Returns
    -------
    dict
        ``{"auc", "brier", "log_loss", "n"}``; ``auc`` is None, with the reason in
        ``auc_missing``, when ``y`` has a single class (or no rows).
    """
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    n = len(y)
    out: dict[str, Any] = {"auc": None, "brier": None, "log_loss": None, "n": int(n)}
    if n == 0:
        out["auc_missing"] = "no test rows with an observed outcome"
        return out
    pc = np.clip(p, _CLIP, 1 - _CLIP)
    out["brier"] = _clean(np.mean((p - y) ** 2))
    out["log_loss"] = _clean(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))
    if y.min() == y.max():
        label = "paid" if y[0] == 1 else "not paid"
        out["auc_missing"] = f"only one class in the test rows (all {label})"
    else:
        out["auc"] = _clean(roc_auc_score(y, p))
    return out


def reliability_table(
    y: np.ndarray, p: np.ndarray, n_bins: int = 10
) -> list[dict[str, Any]]:
    """Calibration table: equal-width probability bins with predicted vs observed.

    Returns
    -------
    list of dict
        One entry per bin ``[lower, upper)`` (the last one closed):
        ``bin, lower, upper, mean_predicted, observed_rate, count`` (None for
        empty bins).
    """
    y = np.asarray(y, dtype=float)
    p = np.clip(np.asarray(p, dtype=float), 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_bins)
    rows = []
    for b in range(n_bins):
        c = int(count[b])
        rows.append(
            {
                "bin": b,
                "lower": _clean(edges[b]),
                "upper": _clean(edges[b + 1]),
                "mean_predicted": _clean(sum_p[b] / c) if c else None,
                "observed_rate": _clean(sum_y[b] / c) if c else None,
                "count": c,
            }
        )
    return rows


def _average(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Unweighted mean of fold metrics; folds without an AUC are skipped for it."""
    out: dict[str, Any] = {"n": int(sum(m["n"] for m in per_fold))}
    for key in ("auc", "brier", "log_loss"):
        values = [m[key] for m in per_fold if m.get(key) is not None]
        out[key] = _clean(np.mean(values)) if values else None
    with_auc = sum(m.get("auc") is not None for m in per_fold)
    out["folds_with_auc"] = int(with_auc)
    if with_auc == 0:
        out["auc_missing"] = "no fold had both classes"
    return out


# --------------------------------------------------------------- baselines
def _aging_bucket(days_past_due: np.ndarray) -> np.ndarray:
    """Bucket index by days past due (0 = current ... 5 = 120+)."""
    return np.searchsorted(np.asarray(AGING_EDGES), days_past_due, side="left")


def _aging_baseline(
    train_dpd: np.ndarray, train_y: np.ndarray, test_dpd: np.ndarray
) -> np.ndarray:
    """Historical rate per aging bucket (training data; global rate if unseen)."""
    k = len(AGING_EDGES) + 1
    b_train = _aging_bucket(train_dpd)
    count = np.bincount(b_train, minlength=k)
    hits = np.bincount(b_train, weights=train_y, minlength=k)
    overall = float(np.mean(train_y)) if len(train_y) else 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(count > 0, hits / np.maximum(count, 1), overall)
    return rate[_aging_bucket(test_dpd)]


def _customer_baseline(
    train_cust: pd.Series, train_y: np.ndarray, test_cust: pd.Series
) -> np.ndarray:
    """Customer's own training rate, shrunk to the global rate (``SHRINKAGE``)."""
    overall = float(np.mean(train_y)) if len(train_y) else 0.5
    stats = (
        pd.DataFrame({"c": train_cust.to_numpy(), "y": train_y})
        .groupby("c", sort=False)["y"]
        .agg(["sum", "count"])
    )
    shrunk = (stats["sum"] + SHRINKAGE * overall) / (stats["count"] + SHRINKAGE)
    return shrunk.reindex(test_cust.to_numpy()).fillna(overall).to_numpy(dtype=float)


# ----------------------------------------------------------------- folds
def _cutoffs(
    start: pd.Timestamp,
    last_test: pd.Timestamp,
    n_folds: int,
    min_train_days: int,
    train_fraction: float,
) -> list[pd.Timestamp]:
    """``n_folds + 1`` boundaries: fold f tests on ``[b_f, b_{f+1})``."""
    span = (last_test - start).days
    first = start + pd.Timedelta(days=max(min_train_days, int(span * train_fraction)))
    width = (last_test - first).days / n_folds
    if width < 7:
        raise ModelError(
            f"the data from {start.date()} to {last_test.date()} is too short for "
            f"{n_folds} test folds after a {max(min_train_days, 0)}-day training "
            "window. Try: 1) fewer folds (n_folds=2), 2) shorter horizons, 3) a "
            "longer history."
        )
    return [
        (first + pd.Timedelta(days=round(width * f))).normalize()
        for f in range(n_folds + 1)
    ]


def _test_rows(frame: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp, last: bool):
    dates = frame["snapshot_date"]
    mask = (dates >= lo) & ((dates <= hi) if last else (dates < hi))
    return frame.loc[mask.to_numpy()]


def _pay_date_errors(
    model: PaymentModel,
    train: pd.DataFrame,
    test: pd.DataFrame,
) -> dict[str, np.ndarray]:
    """Absolute errors (days) of the model's and the due-plus-ADD pay dates."""
    paid = test.loc[test["days_to_pay"].notna().to_numpy()]
    if len(paid) == 0:
        return {"model": np.zeros(0), "due_plus_add": np.zeros(0)}
    actual = paid["snapshot_date"] + pd.to_timedelta(paid["days_to_pay"], unit="D")
    predicted = model.expected_payment_date(paid)
    err_model = np.abs((predicted - actual).dt.days.to_numpy(dtype=float))

    # due date + customer's mean days late as of the snapshot (training mean when
    # unknown), never before the day after the snapshot: the invoice is open
    fill = float(np.nanmean(train["cust_mean_days_late"])) if len(train) else 0.0
    fill = fill if math.isfinite(fill) else 0.0
    late = paid["cust_mean_days_late"].fillna(fill)
    base = paid["due_date"] + pd.to_timedelta(np.round(late), unit="D")
    floor = paid["snapshot_date"] + pd.Timedelta(days=1)
    base = base.where(base >= floor, floor)
    err_base = np.abs((base - actual).dt.days.to_numpy(dtype=float))
    return {"model": err_model, "due_plus_add": err_base}


def _evaluate(
    y: np.ndarray, preds: Mapping[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    return {name: metrics_for(y, p) for name, p in preds.items()}


def backtest_payments(
    ledger: Any,
    *,
    horizons: Iterable[int] = (7, 30, 90),
    n_folds: int = 4,
    snapshot_freq: str = "W",
    at_issue: bool = True,
    extra_features: Mapping[str, Any] | Sequence[str] | None = None,
    train_fraction: float = 0.4,
    random_state: int = 0,
    end: Any = None,
    **model_params: Any,
) -> dict[str, Any]:
    """Rolling-origin backtest of the payment model against two baselines.

    Parameters
    ----------
    ledger : Ledger
        The ledger to replay.
    horizons : iterable of int, default=(7, 30, 90)
        Horizons (days) to evaluate P(paid within h).
    n_folds : int, default=4
        Number of consecutive test windows.
    snapshot_freq : str, default="W"
        Snapshot frequency for training and test rows.
    at_issue : bool, default=True
        Also evaluate P(paid by the due date) for invoices at their invoice date
        (model fitted on issue snapshots; key ``at_issue.paid_by_due``).
    extra_features : list or dict, optional
        Extra invoice columns, see :func:`arforecast.features.build_snapshots`.
    train_fraction : float, default=0.4
        Share of the history before the first cutoff (at least ``max(horizons)``
        plus eight weeks).
    random_state : int, default=0
        Seed of every model.
    end : date-like, optional
        Replay only what was known on this date (a report's as_of): folds end
        there and outcomes after it are unknown (censored). Default: the data end.
    **model_params
        Further :class:`~arforecast.payments.PaymentModel` parameters.

    Returns
    -------
    dict
        ``horizons[str(h)]`` = ``{"model": metrics, "baselines": {"aging_bucket":
        metrics, "customer_history": metrics}, "reliability": [...]}`` where
        metrics = ``{auc, brier, log_loss, n}`` averaged over folds (unweighted;
        folds with a single class are skipped for AUC); ``pay_date`` =
        ``{"model": {"mae_days", "n"}, "due_plus_add": {...}}``; ``at_issue``
        (when requested); ``folds``: the same per fold with its cutoff and test
        window; ``settings``.

    Raises
    ------
    ModelError
        When the history is too short for the folds.

    Notes
    -----
    Baselines: ``aging_bucket`` predicts the training paid-within-h rate of the
    snapshot's aging bucket; ``customer_history`` the customer's own training
    paid-within-h rate, shrunk towards the global rate with ``SHRINKAGE``
    pseudo-rows. At issue, ``customer_history`` is the customer's on-time share of
    invoices paid before the invoice date (as of the snapshot), shrunk the same
    way, and ``aging_bucket`` (every invoice is current at issue) the global rate.
    The pay-date error uses test snapshots paid by the data end: the model's
    median payment date vs ``due_plus_add`` = due date + the customer's mean days
    late at the snapshot (not before the day after the snapshot).
    """
    hs = feat._check_horizons(horizons)
    if int(n_folds) < 1:
        raise ValueError(f"n_folds must be >= 1; got {n_folds!r}.")
    start = pd.Timestamp(ledger.invoices["invoice_date"].min()).normalize()
    data_end = pd.Timestamp(ledger.data_end).normalize()
    end = data_end if end is None else min(data_end, pd.Timestamp(end).normalize())
    last_test = end - pd.Timedelta(days=min(hs))
    bounds = _cutoffs(start, last_test, int(n_folds), max(hs) + 56, train_fraction)

    snaps = feat.build_snapshots(
        ledger,
        feat.snapshot_dates(bounds[0], last_test, snapshot_freq),
        horizons=hs,
        extra_features=extra_features,
        label_as_of=end,
    )
    issue = (
        feat.build_issue_snapshots(
            ledger, horizons=hs, extra_features=extra_features, label_as_of=end
        )
        if at_issue
        else None
    )
    preds: dict[str, dict[str, list[np.ndarray]]] = {
        str(h): {"y": [], "model": []} for h in hs
    }
    issue_pool: dict[str, list[np.ndarray]] = {"y": [], "model": []}
    errors: dict[str, list[np.ndarray]] = {"model": [], "due_plus_add": []}
    folds = []

    for f in range(int(n_folds)):
        cutoff, hi = bounds[f], bounds[f + 1]
        last = f == int(n_folds) - 1
        train = training_snapshots(
            ledger,
            cutoff,
            horizons=hs,
            snapshot_freq=snapshot_freq,
            extra_features=extra_features,
        )
        if len(train) == 0:
            raise ModelError(
                f"fold {f + 1}: no training snapshots before {cutoff.date()}; "
                "use fewer folds or a larger train_fraction."
            )
        model = PaymentModel(horizons=hs, random_state=random_state, **model_params)
        model.fit(train, cutoff=cutoff)
        test = _test_rows(snaps, cutoff, hi, last)
        proba = model.predict_proba(test) if len(test) else np.zeros((0, len(hs)))
        fold: dict[str, Any] = {
            "fold": f + 1,
            "cutoff": cutoff.date().isoformat(),
            "test_start": cutoff.date().isoformat(),
            "test_end": (hi if last else hi - pd.Timedelta(days=1)).date().isoformat(),
            "n_train": int(len(train)),
            "horizons": {},
        }
        for j, h in enumerate(hs):
            col = f"paid_within_{h}"
            ok = test[col].notna().to_numpy()
            y = test[col].to_numpy(dtype=float)[ok]
            tr_ok = train[col].notna().to_numpy()
            tr_y = train[col].to_numpy(dtype=float)[tr_ok]
            p_model = proba[ok, j]
            p_aging = _aging_baseline(
                train["days_past_due"].to_numpy(dtype=float)[tr_ok],
                tr_y,
                test["days_past_due"].to_numpy(dtype=float)[ok],
            )
            p_cust = _customer_baseline(
                train["customer_id"][tr_ok], tr_y, test["customer_id"][ok]
            )
            res = _evaluate(
                y,
                {"model": p_model, "aging_bucket": p_aging, "customer_history": p_cust},
            )
            fold["horizons"][str(h)] = {
                "model": res["model"],
                "baselines": {
                    "aging_bucket": res["aging_bucket"],
                    "customer_history": res["customer_history"],
                },
            }
            pool = preds[str(h)]
            pool["y"].append(y)
            pool["model"].append(p_model)
            pool.setdefault("aging_bucket", []).append(p_aging)
            pool.setdefault("customer_history", []).append(p_cust)

        err = _pay_date_errors(model, train, test)
        fold["pay_date"] = {
            name: {"mae_days": _clean(np.mean(e)) if len(e) else None, "n": len(e)}
            for name, e in err.items()
        }
        for name, e in err.items():
            errors[name].append(e)

        if issue is not None:
            fold["at_issue"] = _fold_at_issue(
                ledger,
                issue,
                cutoff,
                hi,
                last,
                hs,
                extra_features,
                random_state,
                model_params,
                issue_pool,
            )
        folds.append(fold)
        logger.info(
            "backtest fold %s: cutoff %s, %s train / %s test snapshots",
            f + 1,
            cutoff.date(),
            len(train),
            len(test),
        )

    result: dict[str, Any] = {"horizons": {}}
    for h in hs:
        key = str(h)
        per = [fd["horizons"][key] for fd in folds]
        entry = {
            "model": _average([p["model"] for p in per]),
            "baselines": {
                name: _average([p["baselines"][name] for p in per])
                for name in ("aging_bucket", "customer_history")
            },
            "reliability": reliability_table(
                np.concatenate(preds[key]["y"]), np.concatenate(preds[key]["model"])
            ),
        }
        result["horizons"][key] = entry
    result["pay_date"] = {
        name: {
            "mae_days": _mean_or_none(np.concatenate(e)),
            "n": int(sum(len(x) for x in e)),
        }
        for name, e in errors.items()
    }
    if issue is not None:
        per = [fd["at_issue"]["paid_by_due"] for fd in folds]
        result["at_issue"] = {
            "paid_by_due": {
                "model": _average([p["model"] for p in per]),
                "baselines": {
                    name: _average([p["baselines"][name] for p in per])
                    for name in ("aging_bucket", "customer_history")
                },
                "reliability": reliability_table(
                    np.concatenate(issue_pool["y"]),
                    np.concatenate(issue_pool["model"]),
                ),
            }
        }
    result["folds"] = folds
    result["settings"] = {
        "horizons": list(hs),
        "n_folds": int(n_folds),
        "snapshot_freq": snapshot_freq,
        "train_fraction": float(train_fraction),
        "random_state": int(random_state),
        "data_start": start.date().isoformat(),
        "data_end": end.date().isoformat(),
    }
    return result


def _mean_or_none(values: np.ndarray) -> float | None:
    return _clean(np.mean(values)) if len(values) else None


def _fold_at_issue(
    ledger: Any,
    issue: pd.DataFrame,
    cutoff: pd.Timestamp,
    hi: pd.Timestamp,
    last: bool,
    hs: tuple[int, ...],
    extra_features: Any,
    random_state: int,
    model_params: Mapping[str, Any],
    pool: dict[str, list[np.ndarray]],
) -> dict[str, Any]:
    """P(paid by due date) at issue for invoices issued in the test window."""
    train = training_snapshots(
        ledger, cutoff, horizons=hs, mode="issue", extra_features=extra_features
    )
    test = _test_rows(issue, cutoff, hi, last)
    test = test.loc[test["paid_by_due"].notna().to_numpy()]
    y = test["paid_by_due"].to_numpy(dtype=float)
    # the most common terms join the model's period ends, so P(paid by due) is
    # read at a period end instead of being interpolated within a week
    all_terms = (issue["due_date"] - issue["invoice_date"]).dt.days
    common = all_terms[all_terms > 0].value_counts().index[:_MAX_TERM_HORIZONS]
    model = PaymentModel(
        horizons=tuple(sorted({*hs, *(int(t) for t in common)})),
        random_state=random_state,
        **dict(model_params),
    )
    model.fit(train, cutoff=cutoff)
    terms = (test["due_date"] - test["invoice_date"]).dt.days.to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArforecastWarning)  # long terms are clipped
        p_model = model.predict_paid_within(test, terms) if len(test) else np.zeros(0)

    tr = train.loc[train["paid_by_due"].notna().to_numpy()]
    overall = float(tr["paid_by_due"].mean()) if len(tr) else 0.5
    n_paid = test["cust_n_paid"].to_numpy(dtype=float)
    on_time = (1.0 - test["cust_late_share"].fillna(0.0).to_numpy(dtype=float)) * n_paid
    p_cust = (on_time + SHRINKAGE * overall) / (n_paid + SHRINKAGE)
    p_aging = _aging_baseline(
        tr["days_past_due"].to_numpy(dtype=float),
        tr["paid_by_due"].to_numpy(dtype=float),
        test["days_past_due"].to_numpy(dtype=float),
    )
    res = _evaluate(
        y, {"model": p_model, "aging_bucket": p_aging, "customer_history": p_cust}
    )
    pool["y"].append(y)
    pool["model"].append(p_model)
    return {
        "paid_by_due": {
            "model": res["model"],
            "baselines": {
                "aging_bucket": res["aging_bucket"],
                "customer_history": res["customer_history"],
            },
        },
        "n_train": int(len(train)),
    }


def run_backtest(
    ledger: Any,
    *,
    horizons: Iterable[int] = (7, 30, 90),
    cash: bool = True,
    random_state: int = 0,
    **payment_options: Any,
) -> dict[str, Any]:
    """The ``arforecast backtest`` result: payment model and cash forecast.

    Parameters
    ----------
    ledger : Ledger
        The ledger to replay.
    horizons : iterable of int, default=(7, 30, 90)
        Payment-model horizons (days).
    cash : bool, default=True
        Also run ``arforecast.cashflow.backtest_cash(ledger, random_state=...)``
        when that function is available.
    random_state : int, default=0
        Seed.
    **payment_options
        Passed to :func:`backtest_payments`.

    Returns
    -------
    dict
        ``{"payment": backtest_payments(...), "cash": backtest_cash(...) or None}``;
        ``cash`` is None when not requested or not available (the reason is in
        ``cash_missing``).
    """
    result: dict[str, Any] = {
        "payment": backtest_payments(
            ledger, horizons=horizons, random_state=random_state, **payment_options
        ),
        "cash": None,
    }
    if not cash:
        result["cash_missing"] = "not requested"
        return result
    try:
        from arforecast.cashflow import backtest_cash
    except ImportError as exc:
        logger.warning("cash backtest skipped: %s", exc)
        result["cash_missing"] = f"arforecast.cashflow.backtest_cash unavailable: {exc}"
        return result
    result["cash"] = backtest_cash(ledger, random_state=random_state)
    return result


def backtest_tables(result: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The backtest as two readable tables, for ``--format table`` and reports.

    Parameters
    ----------
    result : dict
        From :func:`run_backtest`.

    Returns
    -------
    dict of str to DataFrame
        ``payment``: one row per (target, forecaster) with ``auc, brier,
        log_loss, n`` (targets: each horizon ``"paid within h days"`` and
        ``"paid by due date (at issue)"``); ``pay_date``: the mean absolute error
        in days of the model's and the due-date-plus-days-late pay dates;
        ``cash``: one row per forecast (``combined, bottom_up, top_down`` and the
        baselines) with ``wape, mase, bias, coverage_80, coverage_95,
        total_13w_error``. Absent sections are left out.
    """
    tables: dict[str, pd.DataFrame] = {}
    pay = result.get("payment") or {}
    rows: list[dict[str, Any]] = []
    blocks = [
        (f"paid within {k} days", v) for k, v in (pay.get("horizons") or {}).items()
    ]
    blocks += [
        ("paid by due date (at issue)" if k == "paid_by_due" else k, v)
        for k, v in (pay.get("at_issue") or {}).items()
    ]
    for target, entry in blocks:
        named = {"model": entry["model"], **entry.get("baselines", {})}
        for name, m in named.items():
            rows.append(
                {
                    "target": target,
                    "forecaster": name,
                    **{k: m.get(k) for k in ("auc", "brier", "log_loss", "n")},
                }
            )
    if rows:
        tables["payment"] = pd.DataFrame(rows)
    dates = [
        {"forecaster": name, "mae_days": m.get("mae_days"), "n": m.get("n")}
        for name, m in (pay.get("pay_date") or {}).items()
    ]
    if dates:
        tables["pay_date"] = pd.DataFrame(dates)
    weekly = (result.get("cash") or {}).get("weekly") or {}
    named = {k: v for k, v in weekly.items() if k != "baselines"}
    named.update(
        {f"baseline: {k}": v for k, v in (weekly.get("baselines") or {}).items()}
    )
    keys = ("wape", "mase", "bias", "coverage_80", "coverage_95", "total_13w_error")
    cash_rows = [
        {"forecast": name, **{k: m.get(k) for k in keys}}
        for name, m in named.items()
        if isinstance(m, Mapping)
    ]
    if cash_rows:
        tables["cash"] = pd.DataFrame(cash_rows)
    return tables


def backtest_verdicts(result: Mapping[str, Any]) -> list[str]:
    """One plain sentence per question: does the model beat its baselines?

    The payment model "beats" a baseline when its Brier score is lower and, where
    both have one, its AUC is higher; the combined cash forecast when its weekly
    WAPE is lower than every baseline's; the payment date when its mean absolute
    error is lower than the due-date-plus-days-late estimate's.
    """
    lines: list[str] = []
    pay = result.get("payment") or {}
    blocks = [
        (f"paid within {k} days", v) for k, v in (pay.get("horizons") or {}).items()
    ]
    blocks += [("paid by due date", v) for v in (pay.get("at_issue") or {}).values()]
    for target, entry in blocks:
        model = entry["model"]
        losers = []
        for name, base in (entry.get("baselines") or {}).items():
            better = (
                model.get("brier") is not None
                and base.get("brier") is not None
                and model["brier"] < base["brier"]
            )
            if model.get("auc") is not None and base.get("auc") is not None:
                better = better and model["auc"] > base["auc"]
            if not better:
                losers.append(name)
        lines.append(
            f"{target}: the model beats both baselines"
            if not losers
            else f"{target}: the model does NOT beat {', '.join(losers)}"
        )
    dates = pay.get("pay_date") or {}
    model_mae = (dates.get("model") or {}).get("mae_days")
    base_mae = (dates.get("due_plus_add") or {}).get("mae_days")
    if model_mae is not None and base_mae is not None:
        lines.append(
            f"payment date: model {model_mae:.1f} days off on average, due date + "
            f"days late {base_mae:.1f} days ("
            + ("model better" if model_mae < base_mae else "model NOT better")
            + ")"
        )
    weekly = (result.get("cash") or {}).get("weekly") or {}
    combined = (weekly.get("combined") or {}).get("wape")
    bases = {
        k: v.get("wape")
        for k, v in (weekly.get("baselines") or {}).items()
        if v.get("wape") is not None
    }
    if combined is not None and bases:
        worse = [k for k, w in bases.items() if combined >= w]
        lines.append(
            "cash: the combined forecast beats every baseline on weekly WAPE"
            if not worse
            else f"cash: the combined forecast does NOT beat {', '.join(worse)}"
        )
    return lines
