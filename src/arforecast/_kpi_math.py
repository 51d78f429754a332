"""Pure KPI arithmetic: windows, aging buckets, DSO forms, ratios and promises.

Everything here works on plain NumPy arrays or scalars and knows nothing about the
`Ledger`; `arforecast.kpis` feeds it. Vectorized over groups: a KPI for 1 group or
10,000 groups is the same handful of array operations.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from arforecast.exceptions import ConfigError, DataError
from arforecast.ledger import to_timestamp as parse_date

__all__ = [
    "DEFAULT_AGING_EDGES",
    "AgingBasis",
    "aging_labels",
    "assign_buckets",
    "bucket_aging",
    "compute_dso",
    "compute_dso_countback",
    "datetimes_to_days",
    "countback_dso_vector",
    "month_days_back",
    "month_ends",
    "previous_month_end",
    "resolve_window",
    "index_payments",
    "sum_indexed_payments",
    "sum_payments_in_windows",
    "to_timestamp",
    "validate_aging_edges",
]

logger = logging.getLogger(__name__)

AgingBasis = Literal["due_date", "invoice_date"]

#: Inclusive upper bounds (days) of every bucket but the last.
DEFAULT_AGING_EDGES: tuple[int, ...] = (30, 60, 90, 120)

#: Amounts this close (half a cent) count as equal in the countback walk.
COUNTBACK_TOLERANCE = 0.005

#: Days after the promised date that a payment still keeps a promise.
PROMISE_GRACE_DAYS = 3

_NS_PER_DAY = 86_400 * 10**9


# ----------------------------------------------------------------------------- dates


def to_timestamp(value: object, name: str = "as_of") -> pd.Timestamp:
    """Parse a date for the KPI functions: `arforecast.ledger.to_timestamp`.

    The same rule (ISO text or a date object, never a guessed notation), raised
    as `ConfigError` because for a KPI call a bad date is a bad argument.

    Raises
    ------
    ConfigError
        When the value is missing or not an ISO date.
    """
    try:
        return parse_date(value, name)
    except DataError as exc:
        raise ConfigError(str(exc)) from exc


def resolve_window(
    as_of: pd.Timestamp, window_days: int | None = None
) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    """Return the look-back window W ending at ``as_of``.

    Parameters
    ----------
    as_of : pandas.Timestamp
        Last day of the window (inclusive).
    window_days : int, optional
        Window length in days. Default: the 3 calendar months ending at ``as_of``.

    Returns
    -------
    start, end : pandas.Timestamp
        First and last day of W, both inclusive (``end == as_of``).
    days : int
        Length of W in days, ``end - start + 1``.

    Raises
    ------
    ConfigError
        When ``window_days`` is not a positive integer.

    Notes
    -----
    Default: start = (as_of + 1 day) − 3 months, so a month-end as_of gives three
    whole months (2023-03-31 → 2023-01-01..2023-03-31, 90 days) and a mid-month
    as_of the same day three months earlier plus one (2023-03-15 → 2022-12-16).

    Examples
    --------
    >>> resolve_window(pd.Timestamp("2023-03-31"))
    (Timestamp('2023-01-01 00:00:00'), Timestamp('2023-03-31 00:00:00'), 90)
    >>> resolve_window(pd.Timestamp("2023-03-31"), 30)[0]
    Timestamp('2023-03-02 00:00:00')
    """
    end = as_of
    if window_days is None:
        start = (end + pd.Timedelta(days=1)) - pd.DateOffset(months=3)
    else:
        if (
            isinstance(window_days, bool)
            or not isinstance(window_days, (int, np.integer))
            or window_days < 1
        ):
            raise ConfigError(
                f"`window_days` must be a positive whole number of days; "
                f"got {window_days!r}."
            )
        start = end - pd.Timedelta(days=int(window_days) - 1)
    days = int((end - start).days) + 1
    return pd.Timestamp(start), end, days


def previous_month_end(as_of: pd.Timestamp) -> pd.Timestamp:
    """Last day of the month before ``as_of``'s month.

    Examples
    --------
    >>> previous_month_end(pd.Timestamp("2023-03-31"))
    Timestamp('2023-02-28 00:00:00')
    >>> previous_month_end(pd.Timestamp("2023-03-15"))
    Timestamp('2023-02-28 00:00:00')
    """
    return as_of.replace(day=1) - pd.Timedelta(days=1)


def month_ends(end: object, n: int) -> list[pd.Timestamp]:
    """The ``n`` calendar month ends on or before ``end``, oldest first.

    Parameters
    ----------
    end : date-like
        The latest date allowed. When it is itself a month end it is the last
        element; otherwise the month end before it is.
    n : int
        How many month ends (e.g. 24 for "every month end of the last 2 years").

    Returns
    -------
    list of pandas.Timestamp

    Raises
    ------
    ConfigError
        When ``n`` is not a positive integer or ``end`` is not a date.

    Examples
    --------
    >>> [d.date().isoformat() for d in month_ends("2023-03-31", 3)]
    ['2023-01-31', '2023-02-28', '2023-03-31']
    >>> month_ends("2023-03-15", 1)[0].date().isoformat()
    '2023-02-28'
    """
    stamp = to_timestamp(end, "end")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"`n` must be a positive whole number; got {n!r}.")
    last = stamp if stamp.is_month_end else previous_month_end(stamp)
    ends = pd.date_range(end=last, periods=int(n), freq="ME")
    return [pd.Timestamp(d) for d in ends]


def month_days_back(as_of: pd.Timestamp, n_months: int) -> np.ndarray:
    """Days counted for each month walking back from ``as_of``'s month.

    The first (current) month counts its elapsed days (``as_of.day``); every
    earlier month counts all its days. Newest first.

    Examples
    --------
    >>> month_days_back(pd.Timestamp("2023-03-31"), 3).tolist()
    [31, 28, 31]
    >>> month_days_back(pd.Timestamp("2023-03-15"), 2).tolist()
    [15, 28]
    """
    if n_months <= 0:
        return np.zeros(0, dtype=np.int64)
    first = as_of.replace(day=1)
    starts = pd.date_range(end=first, periods=n_months, freq="MS")[::-1]
    days = np.asarray(starts.days_in_month, dtype=np.int64).copy()
    days[0] = as_of.day
    return days


def datetimes_to_days(values: object) -> np.ndarray:
    """Datetime-like array → int64 days since 1970-01-01 (NaT → INT64 min)."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    ints = arr.view(np.int64)
    out = np.floor_divide(ints, _NS_PER_DAY)
    out[np.isnat(arr)] = np.iinfo(np.int64).min
    return out


# ----------------------------------------------------------------------------- aging


def validate_aging_edges(edges: Sequence[int] | None) -> tuple[int, ...]:
    """Check and normalise aging edges.

    Parameters
    ----------
    edges : sequence of int or None
        Inclusive upper bounds in days of every bucket but the last, strictly
        increasing and positive, e.g. ``(30, 60, 90, 120)``. None → the default.

    Returns
    -------
    tuple of int

    Raises
    ------
    ConfigError
        When an edge is not a positive whole number or the edges do not increase.
    """
    if edges is None:
        return DEFAULT_AGING_EDGES
    try:
        values = tuple(int(e) for e in edges)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"`aging_edges` must be whole numbers of days such as (30, 60, 90, 120); "
            f"got {edges!r}."
        ) from exc
    if any(float(a) != float(b) for a, b in zip(values, edges, strict=True)):
        raise ConfigError(
            f"`aging_edges` must be whole numbers of days; got {edges!r}."
        )
    if not values:
        raise ConfigError("`aging_edges` needs at least one edge, e.g. (30, 60, 90).")
    if values[0] < 1 or any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ConfigError(
            f"`aging_edges` must be positive and strictly increasing; got {values!r}."
        )
    return values


def _check_basis(basis: str) -> None:
    if basis not in ("due_date", "invoice_date"):
        raise ConfigError(
            f"`aging_basis` must be 'due_date' or 'invoice_date'; got {basis!r}."
        )


def aging_labels(
    edges: Sequence[int] | None = None, basis: AgingBasis = "due_date"
) -> list[str]:
    """Bucket labels for the given edges, youngest first.

    Examples
    --------
    >>> aging_labels()
    ['current', '1-30', '31-60', '61-90', '91-120', '120+']
    >>> aging_labels((30, 60), basis="invoice_date")
    ['0-30', '31-60', '60+']
    """
    values = validate_aging_edges(edges)
    _check_basis(basis)
    lows = [1, *(e + 1 for e in values[:-1])]
    labels = [f"{lo}-{hi}" for lo, hi in zip(lows, values, strict=True)]
    labels.append(f"{values[-1]}+")
    if basis == "due_date":
        return ["current", *labels]
    labels[0] = f"0-{values[0]}"
    return labels


def assign_buckets(
    days: object, edges: Sequence[int] | None = None, basis: AgingBasis = "due_date"
) -> np.ndarray:
    """Bucket position (0 = youngest) of each day count.

    Parameters
    ----------
    days : array-like of int
        Days past due (``due_date`` basis) or days since the invoice date
        (``invoice_date`` basis) at as_of.
    edges : sequence of int, optional
        See `validate_aging_edges`.
    basis : {"due_date", "invoice_date"}, default="due_date"
        With ``due_date`` the first bucket, ``current``, holds days ≤ 0 (due today
        or not yet due); then 1..e0, e0+1..e1, …, > e_last.

    Returns
    -------
    numpy.ndarray of int64
        Index into `aging_labels` for each element.

    Examples
    --------
    >>> assign_buckets([-5, 0, 1, 30, 31, 121]).tolist()
    [0, 0, 1, 1, 2, 5]
    """
    values = validate_aging_edges(edges)
    _check_basis(basis)
    bounds = np.asarray((0, *values) if basis == "due_date" else values, dtype=float)
    arr = np.asarray(days, dtype=float)
    return np.searchsorted(bounds, arr, side="left").astype(np.int64)


def bucket_aging(
    days: object,
    amounts: object,
    *,
    edges: Sequence[int] | None = None,
    basis: AgingBasis = "due_date",
) -> pd.Series:
    """Sum amounts into aging buckets.

    Parameters
    ----------
    days : array-like of int
        Days past due (or days since invoice date with ``basis="invoice_date"``).
    amounts : array-like of float
        Open balances, same length as ``days``.
    edges, basis
        See `assign_buckets`.

    Returns
    -------
    pandas.Series
        Indexed by bucket label (every label present, youngest first), float.

    Examples
    --------
    >>> bucket_aging([0, 15, 45, 200], [100.0, 50.0, 25.0, 10.0]).to_dict()
    {'current': 100.0, '1-30': 50.0, '31-60': 25.0, '61-90': 0.0, '91-120': 0.0, '120+': 10.0}
    """
    labels = aging_labels(edges, basis)
    codes = assign_buckets(days, edges, basis)
    weights = np.asarray(amounts, dtype=float)
    if weights.shape != codes.shape:
        raise ConfigError(
            f"`days` and `amounts` must have the same length; got {codes.shape[0]} "
            f"and {weights.shape[0]}."
        )
    sums = np.bincount(codes, weights=weights, minlength=len(labels))
    return pd.Series(sums, index=pd.Index(labels, name="bucket"), name="amount")


# ----------------------------------------------------------------------------- DSO


def compute_dso(
    open_ar: float, net_credit_sales: float, window_days: int
) -> float | None:
    """Standard DSO: open AR over the window's net credit sales, in days.

    Returns None when net credit sales are not positive.

    Notes
    -----
    dso = open_ar / net_credit_sales × window_days

    Examples
    --------
    >>> round(compute_dso(212_000, 250_000, 90), 2)
    76.32
    """
    if not net_credit_sales > 0:
        return None
    return float(open_ar) / float(net_credit_sales) * float(window_days)


def countback_dso_vector(
    open_ar: np.ndarray, monthly_sales: np.ndarray, month_days: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Countback DSO for many groups at once.

    Parameters
    ----------
    open_ar : numpy.ndarray, shape (G,)
        Open AR per group at as_of.
    monthly_sales : numpy.ndarray, shape (G, M)
        Net credit sales per group and month, newest month (as_of's, partial)
        first.
    month_days : numpy.ndarray, shape (M,)
        Days counted for each month (see `month_days_back`).

    Returns
    -------
    values : numpy.ndarray of float, shape (G,)
        Countback DSO in days; NaN where undefined.
    status : numpy.ndarray of int8, shape (G,)
        0 ok, 1 open AR negative, 2 open AR exceeds all sales in the data.

    Notes
    -----
    Walking back from the newest month: while the remaining AR covers the month's
    net sales (or that month's sales are ≤ 0), subtract them and add the month's
    days; in the first month they do not cover, add remainder / sales × days.
    Amounts within half a cent of each other count as equal.
    """
    rem = np.asarray(open_ar, dtype=float).copy()
    sales = np.asarray(monthly_sales, dtype=float).reshape(rem.shape[0], -1)
    n_months = sales.shape[1]
    values = np.full(rem.shape, np.nan)
    status = np.zeros(rem.shape, dtype=np.int8)
    days = np.zeros(rem.shape)

    # amounts within half a cent count as equal, so that the same AR summed in
    # another order (overall vs per group) takes the same branch
    tol = COUNTBACK_TOLERANCE
    status[rem < -tol] = 1
    values[np.abs(rem) <= tol] = 0.0
    active = rem > tol

    for m in range(n_months):
        if not active.any():
            break
        s = sales[:, m]
        month = float(month_days[m])
        partial = active & (s > tol) & (rem < s - tol)
        values[partial] = days[partial] + rem[partial] / s[partial] * month
        active &= ~partial
        days[active] += month
        rem[active] -= s[active]
        exhausted = active & (rem <= tol)
        values[exhausted] = days[exhausted]
        active &= ~exhausted

    status[active] = 2
    return values, status


def compute_dso_countback(
    open_ar: float, monthly_sales: Sequence[float], month_days: Sequence[int]
) -> float | None:
    """Countback DSO for one balance (scalar form of `countback_dso_vector`).

    Parameters
    ----------
    open_ar : float
        Open AR at as_of.
    monthly_sales : sequence of float
        Net credit sales per month, newest (as_of's month, to as_of) first.
    month_days : sequence of int
        Days counted per month, same order (first = days elapsed in as_of's month).

    Returns
    -------
    float or None
        None when open AR is negative or exceeds every month's sales given.

    Examples
    --------
    >>> round(compute_dso_countback(212_000, [100_000, 80_000, 70_000], [31, 28, 31]), 2)
    73.17
    """
    sales = np.asarray(monthly_sales, dtype=float).reshape(1, -1)
    values, status = countback_dso_vector(
        np.asarray([open_ar], dtype=float), sales, np.asarray(month_days)
    )
    return None if status[0] != 0 else float(values[0])


# ----------------------------------------------------------------------------- promises


def sum_payments_in_windows(
    window_customer: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
    pay_customer: np.ndarray,
    pay_day: np.ndarray,
    pay_amount: np.ndarray,
) -> np.ndarray:
    """Sum each customer's payments dated inside per-row day windows.

    Used for promises to pay: the cash a promise received is its customer's
    payments dated from the promise to the promised date plus the grace days.

    Parameters
    ----------
    window_customer : numpy.ndarray of int
        Customer code of each window (same coding as ``pay_customer``).
    window_start, window_end : numpy.ndarray of int
        First and last day of each window, inclusive, in days since 1970-01-01.
    pay_customer, pay_day, pay_amount : numpy.ndarray
        Customer code, day (days since 1970-01-01) and amount of every payment.

    Returns
    -------
    numpy.ndarray of float
        Per window, the sum of ``pay_amount`` over payments of the same customer
        with start ≤ day ≤ end.

    Notes
    -----
    One sort of the payments by (customer, day) and a cumulative sum; each window
    is two binary searches, so the cost is O((P + N) log N).

    Examples
    --------
    >>> sum_payments_in_windows(
    ...     np.array([0, 1]), np.array([10, 10]), np.array([12, 20]),
    ...     np.array([0, 0, 1]), np.array([11, 13, 15]), np.array([5.0, 7.0, 9.0]),
    ... ).tolist()
    [5.0, 9.0]
    """
    index = index_payments(pay_customer, pay_day, pay_amount)
    return sum_indexed_payments(index, window_customer, window_start, window_end)


_KEY_SPAN = np.int64(1 << 32)
_KEY_OFFSET = np.int64(1 << 31)


def index_payments(
    pay_customer: np.ndarray, pay_day: np.ndarray, pay_amount: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Sort payments by (customer, day) once: sorted keys and a cumulative sum.

    Payments with a negative customer code (unknown customer) are dropped.
    The result feeds `sum_indexed_payments`.
    """
    cust = np.asarray(pay_customer, dtype=np.int64)
    ok = cust >= 0
    keys = cust[ok] * _KEY_SPAN + (
        np.asarray(pay_day, dtype=np.int64)[ok] + _KEY_OFFSET
    )
    order = np.argsort(keys)  # equal keys may come in any order: sums are equal
    amounts = np.asarray(pay_amount, dtype=float)[ok][order]
    return keys[order], np.concatenate(([0.0], np.cumsum(amounts)))


def sum_indexed_payments(
    index: tuple[np.ndarray, np.ndarray],
    window_customer: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
) -> np.ndarray:
    """Per window, the indexed payments of its customer dated start..end."""
    keys, cum = index
    n_windows = np.asarray(window_customer).shape[0]
    if n_windows == 0 or keys.shape[0] == 0:
        return np.zeros(n_windows)
    base = np.asarray(window_customer, dtype=np.int64) * _KEY_SPAN + _KEY_OFFSET
    lo = np.searchsorted(keys, base + np.asarray(window_start, dtype=np.int64), "left")
    hi = np.searchsorted(keys, base + np.asarray(window_end, dtype=np.int64), "right")
    out = cum[hi] - cum[lo]
    out[np.asarray(window_customer) < 0] = 0.0
    return out
