"""Collection KPIs as of a date: DSO, CEI, aging, pipeline, trends and worklists.

Every function is pure: a `Ledger` and an as-of date in, numbers and frames out.
Only events dated on or before ``as_of`` count and nothing reads the machine's
clock. Formulas are those of DESIGN.md; docs/kpis.md repeats each with a worked
example. A KPI whose denominator is zero is None, with the reason in
``result.missing``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from arforecast._kpi_engine import STAGES, EngineOutput, KpiEngine
from arforecast._kpi_math import (
    DEFAULT_AGING_EDGES,
    AgingBasis,
    aging_labels,
    bucket_aging,
    compute_dso,
    compute_dso_countback,
    month_ends,
    to_timestamp,
)
from arforecast._kpi_worklist import (
    NEXT_ACTIONS,
    collector_worklist,
    top_overdue_invoices,
)
from arforecast.exceptions import ArforecastWarning, DataError
from arforecast.ledger import Ledger

__all__ = [
    "DEFAULT_AGING_EDGES",
    "KPI_NAMES",
    "KPI_UNITS",
    "NEXT_ACTIONS",
    "OVERALL_LABEL",
    "STAGES",
    "KpiResult",
    "aging_labels",
    "bucket_aging",
    "collector_worklist",
    "compute_dso",
    "compute_dso_countback",
    "compute_kpis",
    "kpi_trend",
    "kpis_to_dict",
    "kpis_to_frame",
    "month_ends",
    "top_overdue_invoices",
]

logger = logging.getLogger(__name__)

#: Scalar KPIs, in the order of the JSON object.
KPI_NAMES = (
    "open_ar",
    "current_ar",
    "dso",
    "dso_countback",
    "best_possible_dso",
    "add",
    "cei",
    "collection_rate",
    "percent_current",
    "ar_turnover",
    "avg_days_to_pay",
    "weighted_days_to_pay",
    "days_beyond_terms",
    "dispute_rate",
    "ptp_kept_rate",
    "write_off_ratio",
)

#: Unit of each scalar KPI: amount (reporting currency), days, percent (0-100),
#: rate (a fraction) or times (per year).
KPI_UNITS = {
    "open_ar": "amount",
    "current_ar": "amount",
    "dso": "days",
    "dso_countback": "days",
    "best_possible_dso": "days",
    "add": "days",
    "cei": "percent",
    "collection_rate": "rate",
    "percent_current": "rate",
    "ar_turnover": "times",
    "avg_days_to_pay": "days",
    "weighted_days_to_pay": "days",
    "days_beyond_terms": "days",
    "dispute_rate": "rate",
    "ptp_kept_rate": "rate",
    "write_off_ratio": "rate",
}

#: Decimal places per unit in `kpis_to_dict`.
_DECIMALS = {"amount": 2, "days": 2, "percent": 2, "rate": 4, "times": 2}

#: Group label of the overall result in by-group output.
OVERALL_LABEL = "(all)"


_EPS = 0.005
_TOTALS = (
    "net_credit_sales",
    "invoiced_sales",
    "credit_notes",
    "cash_collected",
    "write_offs",
    "ar_window_start",
    "past_due_ar",
    "disputed_ar",
)


@dataclass(frozen=True)
class KpiResult:
    """KPIs of one scope (everything, or one group) as of one date.

    Attributes
    ----------
    as_of, window_start, window_end : pandas.Timestamp
        The as-of date and the look-back window W (both ends inclusive).
    window_days : int
        Length of W in days.
    currency : str
        Reporting currency of every amount.
    kpis : dict of str to float or None
        Every name in `KPI_NAMES`; None when undefined (see ``missing``).
    aging : dict of str to float
        Open balance per bucket label, youngest first.
    aging_basis : {"due_date", "invoice_date"}
    unapplied_credit : float
        Overpayments and unmatched credit (≤ 0). ``sum(aging) + unapplied_credit
        == open_ar`` exactly.
    accounts_in_collections : dict
        ``{"count": int, "amount": float, "stages": {stage: {"count", "amount"}}}``.
    roll_rates : dict of str to float or None
        ``"current->1-30"``: share of the bucket's balance at the previous month
        end that sits one bucket older at as_of.
    totals : dict of str to float
        Building blocks: net credit sales, invoiced sales, credit notes, cash
        collected, write-offs (all in W), AR at window start, past-due and
        disputed AR.
    missing : dict of str to str
        Why each None KPI (or roll rate, as ``roll_rates.<key>``) is missing.
    by : str or None
        Grouping column; None for an ungrouped result.
    key : object
        This group's value of ``by``; `OVERALL_LABEL` for the overall result of
        a grouped computation, None when ungrouped.
    groups : tuple of KpiResult
        With ``by``: one result per group (the overall result holds them).
    """

    as_of: pd.Timestamp
    window_start: pd.Timestamp
    window_end: pd.Timestamp
    window_days: int
    currency: str
    kpis: dict[str, float | None]
    aging: dict[str, float]
    aging_basis: str
    unapplied_credit: float
    accounts_in_collections: dict[str, Any]
    roll_rates: dict[str, float | None]
    totals: dict[str, float]
    missing: dict[str, str]
    by: str | None = None
    key: object = None
    groups: tuple[KpiResult, ...] = field(default=(), repr=False)

    def __getattr__(self, name: str) -> Any:
        # scalar KPIs as attributes: result.dso, result.cei, ...
        if name in KPI_NAMES:
            return self.kpis[name]
        raise AttributeError(f"{type(self).__name__!r} has no attribute {name!r}")

    def group(self, key: object) -> KpiResult:
        """The result of one group (by its ``by`` value).

        Raises
        ------
        KeyError
            When no group has that key; the message lists the keys.
        """
        for res in self.groups:
            if res.key == key:
                return res
        raise KeyError(
            f"no group {key!r} in this result; groups: {[g.key for g in self.groups]!r}"
        )


# ----------------------------------------------------------------------------- public


def compute_kpis(
    ledger: Ledger,
    as_of: object,
    *,
    by: str | None = None,
    window_days: int | None = None,
    aging_edges: Sequence[int] | None = None,
    aging_basis: AgingBasis = "due_date",
    strict: bool = False,
) -> KpiResult:
    """Compute every collection KPI as of a date.

    Parameters
    ----------
    ledger : Ledger
        The validated ledger.
    as_of : str, date or Timestamp
        Only events dated on or before it count.
    by : str, optional
        Invoice column to group by (``"portfolio"``, ``"customer_id"`` or any
        extra invoice column). The result then holds one result per group in
        ``.groups`` and is itself the overall result.
    window_days : int, optional
        Length of the look-back window W. Default: the 3 calendar months ending
        at as_of (2023-03-31 → 2023-01-01..2023-03-31, 90 days).
    aging_edges : sequence of int, optional
        Inclusive upper bounds of the aging buckets but the last; default
        ``(30, 60, 90, 120)`` → current, 1-30, 31-60, 61-90, 91-120, 120+.
    aging_basis : {"due_date", "invoice_date"}, default="due_date"
        Age by days past due (with a ``current`` bucket for not-yet-due items)
        or by days since the invoice date (0-30, 31-60, …). ``current_ar`` is
        always by due date.
    strict : bool, default=False
        Raise instead of warning when ``as_of`` precedes the first invoice (every
        balance would be zero). Outside the data a warning
        (``ArforecastWarning``) is given either way.

    Returns
    -------
    KpiResult

    Raises
    ------
    ConfigError
        On a bad ``as_of``, ``by``, ``window_days`` or ``aging_edges``.
    DataError
        With ``strict=True``, when ``as_of`` precedes the first invoice.

    See Also
    --------
    kpis_to_dict : the stable JSON form.
    kpi_trend : the same KPIs over many as-of dates.

    Notes
    -----
    With W of ``window_days`` days and net credit sales S (invoices dated in W
    minus credit notes dated in W, reporting currency):

    - dso = open_ar / S × window_days; best_possible_dso = current_ar / S ×
      window_days; add = dso − best_possible_dso;
    - cei = (AR₀ + S − open_ar) / (AR₀ + S − current_ar) × 100, AR₀ = open AR
      the day before W starts;
    - collection_rate = cash in W / (AR₀ + S); ar_turnover = (S × 365 /
      window_days) / mean(AR₀, open_ar);
    - the countback, days-to-pay, promise and roll-rate forms are in
      docs/kpis.md.

    Examples
    --------
    >>> inv = pd.DataFrame({"invoice_id": ["A", "B"], "customer_id": ["C1", "C2"],
    ...     "invoice_date": ["2023-01-15", "2023-03-01"],
    ...     "due_date": ["2023-02-14", "2023-03-31"], "amount": [1000.0, 500.0]})
    >>> led = Ledger.from_frames(inv, currency="EUR")
    >>> res = compute_kpis(led, "2023-03-31")
    >>> res.open_ar, res.current_ar, round(res.dso, 2)
    (1500.0, 500.0, 90.0)
    """
    stamp = to_timestamp(as_of)
    _warn_outside_data(ledger, stamp, strict=strict)
    engine = KpiEngine(ledger, by=by, aging_edges=aging_edges, aging_basis=aging_basis)
    result = _build_results(
        engine.compute(stamp, window_days), ledger.currency, by, aging_basis
    )
    logger.info(
        "kpis as of %s (window %s..%s, by=%s): open AR %.2f %s",
        stamp.date(),
        result.window_start.date(),
        result.window_end.date(),
        by,
        result.kpis["open_ar"],
        ledger.currency,
    )
    return result


#: An as_of more than this many days after the last event in the data warns.
STALE_DATA_DAYS = 31


def _warn_outside_data(
    ledger: Ledger, stamp: pd.Timestamp, *, strict: bool = False
) -> None:
    """Warn when ``stamp`` precedes the first invoice or is long after the data."""
    dates = ledger.invoices["invoice_date"]
    first = dates.min() if len(dates) else None
    end = ledger.data_end
    if strict and first is not None and stamp < first:
        raise DataError(
            f"as_of {stamp:%Y-%m-%d} precedes the first invoice in the data "
            f"({first:%Y-%m-%d}); choose a date on or after it."
        )
    if first is not None and stamp < first:
        warnings.warn(
            f"as_of {stamp:%Y-%m-%d} precedes the first invoice ({first:%Y-%m-%d}): "
            "every balance is zero and the rates are missing. Choose an as_of on "
            "or after it.",
            ArforecastWarning,
            stacklevel=3,
        )
    elif end is not None and stamp > end + pd.Timedelta(days=STALE_DATA_DAYS):
        warnings.warn(
            f"as_of {stamp:%Y-%m-%d} is more than {STALE_DATA_DAYS} days after the "
            f"last event in the data ({end:%Y-%m-%d}): nothing issued or paid in "
            "between is known, so "
            "the window's sales and cash are understated and the balances look "
            "older than they are. Choose an as_of within the data.",
            ArforecastWarning,
            stacklevel=3,
        )


def kpi_trend(
    ledger: Ledger,
    as_of_dates: Iterable[object],
    *,
    by: str | None = None,
    window_days: int | None = None,
    aging_edges: Sequence[int] | None = None,
    aging_basis: AgingBasis = "due_date",
) -> pd.DataFrame:
    """KPIs at each of several as-of dates, as one wide frame.

    Parameters
    ----------
    ledger : Ledger
    as_of_dates : iterable of date-like
        E.g. ``month_ends("2024-12-31", 24)``; computed in date order.
    by, window_days, aging_edges, aging_basis
        As in `compute_kpis`.

    Returns
    -------
    pandas.DataFrame
        Wide: one row per as_of (and per group, then the overall row labelled
        `OVERALL_LABEL`, when ``by`` is given), columns as in `kpis_to_frame`:
        ``as_of`` (datetime64), [``by``], every KPI, ``aging.<label>``,
        ``unapplied_credit``, ``accounts_in_collections.*``, ``roll_rates.*``,
        ``totals.*``, ``missing``. Sorted by as_of.

    Notes
    -----
    One engine serves every date: the ledger's arrays and group codes are
    prepared once, each date's open items come from those arrays (the same
    arithmetic as `Ledger.open_items`, without building a frame per date), and
    a month end shared by two dates (one as-of date is the next one's window
    start minus a day, or its previous month end) is computed once. Every row
    equals `compute_kpis` at that date.
    """
    dates = sorted({to_timestamp(d, "as_of_dates") for d in as_of_dates})
    engine = KpiEngine(
        ledger,
        by=by,
        aging_edges=aging_edges,
        aging_basis=aging_basis,
        ledger_items=False,
    )
    results = [
        _build_results(engine.compute(d, window_days), ledger.currency, by, aging_basis)
        for d in dates
    ]
    out = _frame(results)
    logger.info("kpi trend: %d dates, %d rows", len(dates), len(out))
    return out


def kpis_to_dict(result: KpiResult) -> dict[str, Any] | list[dict[str, Any]]:
    """The stable JSON form of a result (DESIGN.md, "The command").

    Parameters
    ----------
    result : KpiResult
        From `compute_kpis`.

    Returns
    -------
    dict or list of dict
        Without ``by``: one object with ``as_of``, ``window_start``,
        ``window_end``, ``window_days``, ``currency``, every scalar KPI of
        `KPI_NAMES` at the top level, ``aging`` (keyed by bucket label),
        ``aging_basis``, ``unapplied_credit``, ``accounts_in_collections``
        (``{"count", "amount", "stages"}``), ``roll_rates``, ``totals`` and
        ``missing``. With ``by``: a list of such objects, each led by the
        group's key (e.g. ``"portfolio": "DACH"``), the overall last with the
        key `OVERALL_LABEL`.

    Notes
    -----
    JSON-safe: dates ISO, missing values None, amounts and days rounded to
    2 decimals, rates to 4, CEI (a percentage) and turnover to 2. ``open_ar``
    is the sum of the rounded buckets and unapplied credit, so the identity
    holds to the cent in the JSON too.
    """
    if result.by is None:
        return _result_dict(result)
    return [_result_dict(r) for r in (*result.groups, result)]


def kpis_to_frame(result: KpiResult | None) -> pd.DataFrame:
    """A flat table of a result: one row per group (overall last), or one row.

    Columns: ``as_of``, ``window_start``, ``window_end`` (datetime64),
    ``window_days``, ``currency``, [the ``by`` column], the KPIs, then nested
    fields flattened with dots (``aging.1-30``, ``roll_rates.current->1-30``,
    ``accounts_in_collections.stages.reminder.count``, ``totals.cash_collected``)
    and ``missing`` as ``"kpi: reason; …"``. Values are rounded as in
    `kpis_to_dict`; missing values are NaN.
    """
    return _frame([] if result is None else [result])


def _frame(results: list[KpiResult]) -> pd.DataFrame:
    """Flatten the JSON form of several results into one frame."""
    if not results:
        return pd.DataFrame(columns=["as_of", "window_start", "window_end", *KPI_NAMES])
    rows = []
    for result in results:
        records = kpis_to_dict(result)
        for rec in [records] if isinstance(records, dict) else records:
            flat: dict[str, Any] = {}
            for name, value in rec.items():
                if name == "missing":
                    flat["missing"] = "; ".join(f"{k}: {v}" for k, v in value.items())
                elif isinstance(value, dict):
                    _flatten(flat, name, value)
                else:
                    flat[name] = value
            rows.append(flat)
    frame = pd.DataFrame(rows)
    for col in ("as_of", "window_start", "window_end"):
        frame[col] = pd.to_datetime(frame[col])
    numeric = [c for c in frame.columns if c in KPI_UNITS or "." in c]
    frame[numeric] = frame[numeric].astype(float)
    return frame


# ----------------------------------------------------------------------------- assembly


def _safe(
    num: np.ndarray, den: np.ndarray, scale: float | np.ndarray = 1.0
) -> np.ndarray:
    """num / den × scale where den > half a cent, else NaN."""
    ok = den > _EPS
    out = np.full(np.shape(num), np.nan)
    np.divide(num * scale, den, out=out, where=ok)
    return out


def _sales_reason(net: np.ndarray) -> np.ndarray:
    return np.where(
        np.abs(net) <= _EPS,
        "no net credit sales in the window",
        "net credit sales in the window are negative (credit notes exceed invoices)",
    )


def _ar_reason(open_ar: np.ndarray) -> np.ndarray:
    return np.where(
        np.abs(open_ar) <= _EPS,
        "no open AR",
        "open AR is negative (unapplied credit exceeds receivables)",
    )


def _build_results(
    out: EngineOutput, currency: str, by: str | None, basis: str
) -> KpiResult:
    """Turn per-group arrays into KpiResult objects (groups + overall)."""
    g = len(out.keys)

    def with_total(arr: np.ndarray) -> np.ndarray:
        return np.concatenate([arr, arr.sum(axis=0, keepdims=True)], axis=0)

    aging = with_total(out.aging)
    unapplied = with_total(out.unapplied)
    open_ar = aging[:, 0].copy()
    for b in range(1, aging.shape[1]):
        open_ar = open_ar + aging[:, b]
    open_ar = open_ar + unapplied
    current = with_total(out.current_ar)
    ar0 = with_total(out.ar_start)
    invoiced = with_total(out.invoiced)
    credit = with_total(out.credit_notes)
    net = invoiced - credit
    cash = with_total(out.cash)
    write_offs = with_total(out.write_offs)
    days = float(out.window_days)

    values: dict[str, np.ndarray] = {}
    reasons: dict[str, np.ndarray] = {}

    def put(name: str, value: np.ndarray, reason: np.ndarray | str) -> None:
        values[name] = value
        reasons[name] = np.broadcast_to(np.asarray(reason, dtype=object), value.shape)

    put("open_ar", open_ar, "")
    put("current_ar", aging[:, 0] if basis == "due_date" else current, "")
    put("dso", _safe(open_ar, net, days), _sales_reason(net))
    cb = np.append(out.countback, out.overall_countback)
    cb_status = np.append(out.countback_status, out.overall_countback_status)
    put(
        "dso_countback",
        np.where(cb_status == 0, cb, np.nan),
        np.where(
            cb_status == 1,
            "open AR is negative (unapplied credit exceeds receivables)",
            f"open AR exceeds the net credit sales of all {out.countback_months} "
            "months in the data",
        ),
    )
    put("best_possible_dso", _safe(current, net, days), _sales_reason(net))
    put("add", values["dso"] - values["best_possible_dso"], _sales_reason(net))
    cei_den = ar0 + net - current
    put(
        "cei",
        _safe(ar0 + net - open_ar, cei_den, 100.0),
        np.where(
            np.abs(cei_den) <= _EPS,
            "nothing was collectible in the window (AR at window start + net credit "
            "sales − current AR is 0)",
            "CEI denominator (AR at window start + net credit sales − current AR) "
            "is negative",
        ),
    )
    put(
        "collection_rate",
        _safe(cash, ar0 + net),
        "no AR at window start and no net credit sales in the window",
    )
    put("percent_current", _safe(current, open_ar), _ar_reason(open_ar))
    put(
        "ar_turnover",
        _safe(net * 365.0 / days, (ar0 + open_ar) / 2.0),
        "no average AR over the window (AR at window start and open AR sum to ≤ 0)",
    )
    paid_count = with_total(out.paid_count)
    paid_amount = with_total(out.paid_amount)
    no_paid = "no invoice was fully paid in the window"
    put("avg_days_to_pay", _safe(with_total(out.paid_days_sum), paid_count), no_paid)
    put(
        "weighted_days_to_pay",
        _safe(with_total(out.paid_days_weighted), paid_amount),
        no_paid,
    )
    put(
        "days_beyond_terms",
        _safe(with_total(out.paid_late_weighted), paid_amount),
        no_paid,
    )
    disputed = with_total(out.disputed_ar)
    put("dispute_rate", _safe(disputed, open_ar), _ar_reason(open_ar))
    kept = with_total(out.ptp_kept)
    broken = with_total(out.ptp_broken)
    put(
        "ptp_kept_rate",
        _safe(kept, kept + broken),
        "no promise to pay with its promised date in the window has been kept or "
        "broken yet",
    )
    put("write_off_ratio", _safe(write_offs, net), _sales_reason(net))

    roll_num = with_total(out.roll_num)
    roll_den = with_total(out.roll_den)
    roll = _safe(roll_num, roll_den)
    roll_keys = [f"{a}->{b}" for a, b in zip(out.labels, out.labels[1:], strict=False)]
    stage_count = np.concatenate(
        [out.stage_count, out.overall_stage_count[None, :]], axis=0
    )
    stage_amount = np.concatenate(
        [out.stage_amount, out.overall_stage_amount[None, :]], axis=0
    )
    totals = {
        "net_credit_sales": net,
        "invoiced_sales": invoiced,
        "credit_notes": credit,
        "cash_collected": cash,
        "write_offs": write_offs,
        "ar_window_start": ar0,
        "past_due_ar": with_total(out.past_due_ar),
        "disputed_ar": disputed,
    }
    pme = out.previous_month_end.date().isoformat()

    def make(row: int, key: object, groups: tuple[KpiResult, ...]) -> KpiResult:
        kpis: dict[str, float | None] = {}
        missing: dict[str, str] = {}
        for name in KPI_NAMES:
            v = float(values[name][row])
            if np.isnan(v):
                kpis[name] = None
                missing[name] = str(reasons[name][row])
            else:
                kpis[name] = v
        rolls: dict[str, float | None] = {}
        for j, rk in enumerate(roll_keys):
            v = float(roll[row, j])
            if np.isnan(v):
                rolls[rk] = None
                missing[f"roll_rates.{rk}"] = f"no balance in {out.labels[j]} at {pme}"
            else:
                rolls[rk] = v
        stages = {
            s: {
                "count": int(stage_count[row, k]),
                "amount": float(stage_amount[row, k]),
            }
            for k, s in enumerate(STAGES)
        }
        return KpiResult(
            as_of=out.as_of,
            window_start=out.window_start,
            window_end=out.as_of,
            window_days=out.window_days,
            currency=currency,
            kpis=kpis,
            aging={lab: float(aging[row, b]) for b, lab in enumerate(out.labels)},
            aging_basis=basis,
            unapplied_credit=float(unapplied[row]),
            accounts_in_collections={
                "count": int(stage_count[row].sum()),
                "amount": float(stage_amount[row].sum()),
                "stages": stages,
            },
            roll_rates=rolls,
            totals={k: float(v[row]) for k, v in totals.items()},
            missing=missing,
            by=by,
            key=key,
            groups=groups,
        )

    if by is None:
        return make(0, None, ())
    groups = tuple(make(i, out.keys[i], ()) for i in range(g))
    return make(g, OVERALL_LABEL, groups)


# ----------------------------------------------------------------------------- JSON


def _round(value: float | None, decimals: int) -> float | None:
    if value is None:
        return None
    out = round(float(value), decimals)
    return 0.0 if out == 0 else out


def _rounded_aging(result: KpiResult) -> tuple[dict[str, float], float, float]:
    """Aging and unapplied credit rounded to the cent, and open AR as the sum of
    those cents, so the JSON identity holds exactly and ``aging.current`` equals
    ``current_ar`` (open AR may differ from its own rounding by a few cents)."""
    labels = list(result.aging)
    parts = np.array([*result.aging.values(), result.unapplied_credit])
    cents = np.round(parts * 100.0)
    values = [float(c) / 100.0 + 0.0 for c in cents]
    total = float(cents.sum()) / 100.0 + 0.0
    return dict(zip(labels, values[:-1], strict=True)), values[-1], total


def _result_dict(result: KpiResult) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if result.by is not None:
        out[result.by] = _json_key(result.key)
    out.update(
        {
            "as_of": result.as_of.date().isoformat(),
            "window_start": result.window_start.date().isoformat(),
            "window_end": result.window_end.date().isoformat(),
            "window_days": int(result.window_days),
            "currency": result.currency,
        }
    )
    aging, unapplied, open_ar = _rounded_aging(result)
    for name in KPI_NAMES:
        out[name] = _round(result.kpis[name], _DECIMALS[KPI_UNITS[name]])
    out["open_ar"] = open_ar
    out["aging"] = aging
    out["aging_basis"] = result.aging_basis
    out["unapplied_credit"] = unapplied
    aic = result.accounts_in_collections
    out["accounts_in_collections"] = {
        "count": int(aic["count"]),
        "amount": _round(aic["amount"], 2),
        "stages": {
            s: {"count": int(v["count"]), "amount": _round(v["amount"], 2)}
            for s, v in aic["stages"].items()
        },
    }
    out["roll_rates"] = {k: _round(v, 4) for k, v in result.roll_rates.items()}
    out["totals"] = {k: _round(v, 2) for k, v in result.totals.items()}
    out["missing"] = dict(result.missing)
    return out


def _json_key(key: object) -> object:
    """Group keys as JSON scalars."""
    if key is None or isinstance(key, (str, bool, int, float)):
        return key
    if isinstance(key, np.generic):
        return key.item()
    if isinstance(key, pd.Timestamp):
        return key.date().isoformat()
    return str(key)


def _flatten(flat: dict[str, Any], prefix: str, value: dict[str, Any]) -> None:
    for k, v in value.items():
        name = f"{prefix}.{k}"
        if isinstance(v, dict):
            _flatten(flat, name, v)
        else:
            flat[name] = v
