"""Ledger arrays, forecast periods and the bottom-up maths of the cash forecast.

Dates are integer day numbers (days since 1970-01-01); a *daily path* is a
forecast of receipts for day 1 … H after an origin, so weeks and months are
sums of days and always agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arforecast.exceptions import ArforecastError

__all__ = [
    "ALL",
    "Book",
    "Period",
    "daily_actuals",
    "day_to_timestamp",
    "empirical_timing",
    "lag_profile",
    "month_periods",
    "period_sums",
    "simulate_new",
    "simulate_open",
    "spread_weeks",
    "to_days",
    "week_periods",
    "weekly_history",
]

#: Group key of the whole ledger.
ALL = "all"

#: Invoices issued this many days before the origin feed the lag profile.
LAG_LOOKBACK_DAYS = 728


@dataclass(frozen=True)
class Period:
    """A forecast period as 1-based day offsets from the origin (inclusive)."""

    label: str
    first: int
    last: int

    @property
    def days(self) -> int:
        return self.last - self.first + 1


def to_days(values: Any) -> np.ndarray:
    """Dates (any datetime64 unit) as int64 days since 1970-01-01."""
    arr = np.asarray(values, dtype="datetime64[ns]")
    return arr.astype("datetime64[D]").astype(np.int64)


def day_to_timestamp(day: int) -> pd.Timestamp:
    return pd.Timestamp(np.datetime64(int(day), "D"))


def week_periods(weeks: int) -> list[Period]:
    return [Period(f"W{k}", 7 * (k - 1) + 1, 7 * k) for k in range(1, weeks + 1)]


def month_periods(origin_day: int, months: int) -> list[Period]:
    """Calendar months after the origin; the first one starts the day after it.

    When the origin is not a month end the first period is the rest of its
    month (a partial month), so ``months`` periods always cover
    ``origin + 1`` … the end of a calendar month.
    """
    origin = day_to_timestamp(origin_day)
    out = []
    start = origin + pd.Timedelta(days=1)
    for _ in range(months):
        end = start + pd.offsets.MonthEnd(0)
        out.append(
            Period(
                f"{start:%Y-%m}",
                int((start - origin).days),
                int((end - origin).days),
            )
        )
        start = end + pd.Timedelta(days=1)
    return out


def spread_weeks(weekly: np.ndarray) -> np.ndarray:
    """Spread weekly amounts (last axis) evenly over their 7 days."""
    return np.repeat(np.asarray(weekly, dtype=float) / 7.0, 7, axis=-1)


def period_sums(daily: np.ndarray, periods: list[Period]) -> np.ndarray:
    """Sum a daily path (last axis) over periods."""
    csum = np.concatenate(
        [np.zeros(daily.shape[:-1] + (1,)), np.cumsum(daily, axis=-1)], axis=-1
    )
    first = np.array([p.first - 1 for p in periods])
    last = np.array([p.last for p in periods])
    return csum[..., last] - csum[..., first]


@dataclass
class Book:
    """The ledger's documents as day numbers and arrays (built once)."""

    inv_day: np.ndarray
    inv_rc: np.ndarray
    inv_group: np.ndarray
    pay_day: np.ndarray
    pay_rc: np.ndarray
    pay_settle_rc: np.ndarray
    pay_lag: np.ndarray
    pay_known: np.ndarray
    pay_group: np.ndarray
    pay_inv: np.ndarray
    first_day: int
    last_day: int

    @classmethod
    def from_ledger(cls, ledger: Any) -> Book:
        inv = ledger.invoices
        pay = ledger.payments
        if inv.empty:
            raise ArforecastError("the ledger has no invoices: nothing to forecast.")
        inv_day = to_days(inv["invoice_date"].to_numpy())
        inv_fx = inv["fx_rate"].to_numpy(dtype=float)
        pay_inv = pay["inv_ix"].to_numpy(dtype=np.int64)
        known = pay_inv >= 0
        safe = np.clip(pay_inv, 0, None)
        pay_day = to_days(pay["payment_date"].to_numpy())
        pay_rc = pay["amount_rc"].to_numpy(dtype=float)
        # what the payment takes off its invoice, at the invoice's own rate
        settle = np.where(
            known,
            pay["amount_doc"].to_numpy(dtype=float) * inv_fx[safe] if len(pay) else 0,
            0.0,
        )
        lag = np.where(known, pay_day - inv_day[safe] if len(pay) else 0, -1)
        end = ledger.data_end
        return cls(
            inv_day=inv_day,
            inv_rc=inv["amount_rc"].to_numpy(dtype=float),
            inv_group=inv["portfolio"].astype(str).to_numpy(dtype=object),
            pay_day=pay_day,
            pay_rc=pay_rc,
            pay_settle_rc=np.asarray(settle, dtype=float),
            pay_lag=np.asarray(lag, dtype=np.int64),
            pay_known=known,
            pay_group=pay["portfolio"].astype(str).to_numpy(dtype=object),
            pay_inv=pay_inv,
            first_day=int(inv_day.min()),
            last_day=int(to_days([end])[0]) if end is not None else int(inv_day.max()),
        )

    def inv_mask(self, group: str) -> np.ndarray:
        if group == ALL:
            return np.ones(len(self.inv_day), dtype=bool)
        return self.inv_group == group

    def pay_mask(self, group: str) -> np.ndarray:
        if group == ALL:
            return np.ones(len(self.pay_day), dtype=bool)
        return self.pay_group == group


def weekly_history(book: Book, origin: int, group: str) -> np.ndarray:
    """Receipts per week ending at the origin (oldest first), complete weeks only."""
    n_weeks = min(max((origin - book.first_day + 1) // 7, 0), 5 * 52)
    if n_weeks == 0:
        return np.zeros(0)
    mask = book.pay_mask(group) & (book.pay_day <= origin)
    back = (origin - book.pay_day[mask]) // 7
    keep = back < n_weeks
    sums = np.bincount(back[keep], weights=book.pay_rc[mask][keep], minlength=n_weeks)
    return sums[::-1].astype(float)


def daily_actuals(book: Book, origin: int, horizon: int, group: str) -> np.ndarray:
    """Receipts on day 1 … horizon after the origin (NaN beyond the data's end)."""
    mask = (
        book.pay_mask(group)
        & (book.pay_day > origin)
        & (book.pay_day <= origin + horizon)
    )
    out = np.bincount(
        book.pay_day[mask] - origin - 1, weights=book.pay_rc[mask], minlength=horizon
    ).astype(float)
    observed = origin + np.arange(1, horizon + 1) <= book.last_day
    out[~observed] = np.nan
    return out


def lag_profile(book: Book, origin: int, group: str) -> np.ndarray:
    """Share of an invoice's amount paid d days after issue, d = 0 … 727.

    Censoring-aware ratio of sums over the invoices issued in the 728 days up to
    the origin: the share at lag d is the amount paid d days after issue divided
    by the amount of the invoices old enough (issued ≥ d days before the origin)
    for that lag to be observed. Only payments dated ≤ origin count.
    """
    size = LAG_LOOKBACK_DAYS
    inv_m = (
        book.inv_mask(group) & (book.inv_day <= origin) & (book.inv_day > origin - size)
    )
    age = origin - book.inv_day[inv_m]
    by_age = np.bincount(age, weights=book.inv_rc[inv_m], minlength=size)
    exposure = np.cumsum(by_age[::-1])[::-1]

    pay_m = book.pay_known & (book.pay_day <= origin)
    pay_m &= inv_m[np.clip(book.pay_inv, 0, None)] & (book.pay_inv >= 0)
    lag = np.clip(book.pay_lag[pay_m], 0, size - 1)
    paid = np.bincount(lag, weights=book.pay_settle_rc[pay_m], minlength=size)
    share = np.divide(paid, exposure, out=np.zeros(size), where=exposure > 0)
    return np.clip(share, 0.0, None)


def empirical_timing(ages: np.ndarray, share: np.ndarray, weeks: int) -> np.ndarray:
    """Weekly payment-timing distribution of open invoices from the lag profile.

    Parameters
    ----------
    ages : ndarray of int
        Days since issue of each open invoice at the origin (≥ 0).
    share : ndarray of float
        The lag profile (:func:`lag_profile`).
    weeks : int
        Weeks of the distribution.

    Returns
    -------
    ndarray of shape (n, weeks + 1)
        Probability that the remaining balance is paid in week k = 1 … weeks;
        the last column is "later or never". Rows sum to 1.

    Notes
    -----
    P(paid by lag a + t | open at age a) = (F(a + t) − F(a)) / (1 − F(a)),
    with F the cumulative lag profile capped at 1; an age past the profile's
    end keeps F flat (no more payments expected).
    """
    cdf = np.minimum(np.cumsum(share), 1.0)
    last = len(cdf) - 1
    ages = np.clip(np.asarray(ages, dtype=np.int64), 0, last)
    steps = 7 * np.arange(0, weeks + 1)
    idx = np.clip(ages[:, None] + steps[None, :], 0, last)
    base = cdf[ages][:, None]
    cond = (cdf[idx] - base) / np.maximum(1.0 - base, 1e-3)
    cond = np.clip(np.maximum.accumulate(cond, axis=1), 0.0, 1.0)
    probs = np.diff(cond, axis=1)
    return np.column_stack([probs, 1.0 - cond[:, -1]])


def simulate_open(
    balance: np.ndarray,
    timing: np.ndarray,
    n_sims: int,
    rng: np.random.Generator,
    chunk: int = 4096,
) -> np.ndarray:
    """Monte-Carlo weekly totals: each invoice paid in one week drawn from its row.

    Returns an array of shape (n_sims, weeks): simulated receipts per week.
    """
    weeks = timing.shape[1] - 1
    out = np.zeros((n_sims, weeks))
    cum = np.cumsum(timing, axis=1)
    for start in range(0, len(balance), chunk):
        b = balance[start : start + chunk]
        c = cum[start : start + chunk]
        u = rng.random((len(b), n_sims))
        # week index of each draw: number of cumulative probabilities below u
        prev = np.zeros_like(u, dtype=bool)
        for k in range(weeks):
            upto = u < c[:, k : k + 1]
            out[:, k] += b @ (upto & ~prev)
            prev = upto
    return out


def simulate_new(
    weekly_billing: np.ndarray,
    share: np.ndarray,
    weeks: int,
    n_sims: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Monte-Carlo daily receipts from invoices not yet issued.

    Future weekly billing is drawn (bootstrap) from the recent weeks, spread
    over the days, and paid along the lag profile. Returns (n_sims, 7 * weeks).
    """
    horizon = 7 * weeks
    if len(weekly_billing) == 0:
        return np.zeros((n_sims, horizon))
    draws = rng.choice(weekly_billing, size=(n_sims, weeks), replace=True)
    issued = spread_weeks(draws)
    lag = share[:horizon]
    lag = np.concatenate([lag, np.zeros(horizon - len(lag))])
    # issue on day u pays on day u + d: an upper-triangular Toeplitz matrix
    offsets = np.arange(horizon)[None, :] - np.arange(horizon)[:, None]
    toeplitz = np.where(offsets >= 0, lag[np.clip(offsets, 0, None)], 0.0)
    return issued @ toeplitz
