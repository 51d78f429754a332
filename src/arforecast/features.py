"""Snapshot features and payment labels for open invoices, as known at each snapshot.

A *snapshot* is one invoice seen on one date. Every feature uses only events dated on
or before the snapshot date (the as-of rule of DESIGN.md); the labels look forward from
it. All lookups are vectorized: events are sorted by ``(group, day)`` and a snapshot
finds "the last event of its group on or before its day" with one ``searchsorted``
over a combined integer key, then reads running sums at that position.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arforecast.exceptions import DataError

__all__ = [
    "DEFAULT_HORIZONS",
    "FEATURE_COLUMNS",
    "EXTRA_PREFIX",
    "build_issue_snapshots",
    "build_snapshots",
    "feature_columns",
    "snapshot_dates",
]

logger = logging.getLogger(__name__)

DEFAULT_HORIZONS: tuple[int, ...] = (7, 14, 30, 60, 90)

#: Model-ready feature columns that every snapshot frame carries (numeric, may hold
#: NaN where a quantity is undefined, e.g. a customer with no paid invoice yet).
FEATURE_COLUMNS: tuple[str, ...] = (
    "age_days",
    "days_past_due",
    "log_amount",
    "log_balance",
    "share_paid",
    "terms_days",
    "cust_log_n_paid",
    "cust_on_time_shrunk",
    "cust_late_share",
    "cust_mean_days_late",
    "cust_recent_days_late",
    "cust_trend_days_late",
    "cust_mean_days_to_pay",
    "cust_open_count",
    "cust_log_open_amount",
    "cust_overdue_count",
    "cust_overdue_share",
    "amount_vs_customer",
    "in_dispute",
    "promise_open",
    "days_since_contact",
    "month_sin",
    "month_cos",
    "due_weekday",
    "due_in_quarter_end_month",
)

#: Prefix of the columns made from extra invoice columns (see ``extra_features``).
EXTRA_PREFIX = "extra_"

#: Number of most recent paid invoices behind ``cust_recent_days_late``.
RECENT_PAID = 5
#: Pseudo-invoices of the book-wide on-time share in ``cust_on_time_shrunk``.
SHRINK_DUE = 5.0
#: Grace days after a promised date during which a promise still counts as open.
PROMISE_GRACE_DAYS = 3
#: Balance below this (document currency) counts as settled.
_TOL = 0.005
_NO_DAY = np.iinfo(np.int64).max // 4


@dataclass(frozen=True)
class _GroupedEvents:
    """Events sorted by (group, day) with running sums, for as-of lookups."""

    keys: np.ndarray  # int64 combined key group * span + day, sorted
    group: np.ndarray  # int64 group code per event
    day: np.ndarray  # int64 day per event
    first: np.ndarray  # index of each group's first event (by group code), -1 if none
    cums: dict[str, np.ndarray]  # name -> running sum over the whole sorted array

    def position(self, group: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Index of the last event of ``group`` dated on or before ``day`` (-1: none)."""
        if len(self.keys) == 0:
            return np.full(len(group), -1, dtype=np.int64)
        query = group.astype(np.int64) * _SPAN + day
        pos = np.searchsorted(self.keys, query, side="right") - 1
        ok = pos >= 0
        ok[ok] = self.group[pos[ok]] == group[ok]
        return np.where(ok, pos, -1)

    def total(self, name: str, pos: np.ndarray, group: np.ndarray) -> np.ndarray:
        """Running sum of ``name`` within the group up to ``pos`` (0 where pos is -1)."""
        cum = self.cums[name]
        out = np.zeros(len(pos), dtype=float)
        ok = pos >= 0
        if not ok.any():
            return out
        start = self.first[group[ok]]
        before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0)
        out[ok] = cum[pos[ok]] - before
        return out

    def window(
        self, name: str, pos: np.ndarray, group: np.ndarray, last: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Sum and count of ``name`` over the group's ``last`` events up to ``pos``."""
        cum = self.cums[name]
        total = np.zeros(len(pos), dtype=float)
        count = np.zeros(len(pos), dtype=float)
        ok = pos >= 0
        if not ok.any():
            return total, count
        p = pos[ok]
        start = self.first[group[ok]]
        lo = np.maximum(p - last, start - 1)  # exclusive lower bound
        before = np.where(lo >= 0, cum[np.maximum(lo, 0)], 0.0)
        total[ok] = cum[p] - before
        count[ok] = p - lo
        return total, count


_SPAN = np.int64(1 << 22)  # days per group in the combined key (~11,000 years)


def _grouped(group: np.ndarray, day: np.ndarray, n_groups: int, **values: np.ndarray):
    """Sort events by (group, day) and precompute running sums of ``values``."""
    group = np.asarray(group, dtype=np.int64)
    day = np.asarray(day, dtype=np.int64)
    keys = group * _SPAN + day
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    g = group[order]
    first = np.full(max(n_groups, 1), -1, dtype=np.int64)
    if len(g):
        uniq, idx = np.unique(g, return_index=True)
        first[uniq] = idx
    cums = {k: np.cumsum(np.asarray(v, dtype=float)[order]) for k, v in values.items()}
    return _GroupedEvents(keys, g, day[order], first, cums), order


def _to_days(values: Any) -> np.ndarray:
    """Dates (Series/array/Timestamp list) to int64 days since 1970; NaT -> _NO_DAY."""
    arr = pd.to_datetime(pd.Series(values)).to_numpy()
    arr = arr.astype("datetime64[D]")
    nat = np.isnat(arr)
    out = arr.astype(np.int64)
    out[nat] = _NO_DAY
    return out


def _from_days(days: np.ndarray) -> np.ndarray:
    """int64 days since 1970 to datetime64[ns] (``_NO_DAY`` -> NaT)."""
    days = np.asarray(days, dtype=np.int64)
    out = days.astype("datetime64[D]").astype("datetime64[ns]")
    out[days >= _NO_DAY] = np.datetime64("NaT")
    return out


def _month_of(days: np.ndarray) -> np.ndarray:
    """Calendar month (1-12) of int64 day numbers."""
    months = np.asarray(days, dtype=np.int64).astype("datetime64[D]")
    return months.astype("datetime64[M]").astype(np.int64) % 12 + 1


def _table(ledger: Any, name: str) -> pd.DataFrame | None:
    table = getattr(ledger, name, None)
    if table is None or len(table) == 0:
        return None
    return table


class _LedgerState:
    """Per-ledger arrays behind every snapshot lookup (built once per call)."""

    def __init__(self, ledger: Any, label_as_of: pd.Timestamp | None) -> None:
        inv = ledger.invoices
        if len(inv) == 0:
            raise DataError("the ledger has no invoices; load a ledger with invoices.")
        self.inv = inv
        self.n = len(inv)
        self.inv_day = _to_days(inv["invoice_date"])
        self.due_day = _to_days(inv["due_date"])
        self.amount = inv["amount"].to_numpy(dtype=float)
        self.amount_rc = (
            inv["amount_rc"].to_numpy(dtype=float)
            if "amount_rc" in inv
            else self.amount.copy()
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            fx = np.where(self.amount != 0, self.amount_rc / self.amount, 1.0)
        self.fx = np.nan_to_num(fx, nan=1.0)
        cust_codes, cust_uniques = pd.factorize(inv["customer_id"], sort=False)
        self.cust = cust_codes.astype(np.int64)
        self.n_cust = len(cust_uniques)
        self.cust_index = pd.Index(cust_uniques)
        if "terms_days" in inv and inv["terms_days"].notna().any():
            terms = inv["terms_days"].to_numpy(dtype=float)
            terms = np.where(np.isnan(terms), self.due_day - self.inv_day, terms)
        else:
            terms = (self.due_day - self.inv_day).astype(float)
        self.terms = terms

        data_end = pd.Timestamp(ledger.data_end).normalize()
        self.label_as_of = data_end if label_as_of is None else label_as_of
        self.label_day = int(_to_days([self.label_as_of])[0])

        self._build_reductions(ledger)
        self._build_customer_history()
        self._build_activities(ledger)

    # -- balances ------------------------------------------------------------------
    def _build_reductions(self, ledger: Any) -> None:
        """Payments and adjustments that take amounts off each invoice's balance."""
        parts = []
        pay = _table(ledger, "payments")
        if pay is not None:
            ix = _inv_ix(pay, self.inv)
            amt = pay["amount_doc"] if "amount_doc" in pay else pay["amount"]
            parts.append(
                (ix, _to_days(pay["payment_date"]), amt.to_numpy(float), False)
            )
        adj = _table(ledger, "adjustments")
        if adj is not None:
            ix = _inv_ix(adj, self.inv)
            amt = adj["amount_doc"] if "amount_doc" in adj else adj["amount"]
            wo = (adj["kind"].astype(str) == "write_off").to_numpy()
            parts.append((ix, _to_days(adj["date"]), amt.to_numpy(float), wo))
        if parts:
            ix = np.concatenate([p[0] for p in parts])
            day = np.concatenate([p[1] for p in parts])
            amt = np.concatenate([p[2] for p in parts])
            wo = np.concatenate(
                [
                    np.broadcast_to(np.asarray(p[3], dtype=bool), p[0].shape)
                    for p in parts
                ]
            )
            keep = ix >= 0
            ix, day, amt, wo = ix[keep], day[keep], amt[keep], wo[keep]
        else:
            ix = day = np.zeros(0, dtype=np.int64)
            amt = np.zeros(0)
            wo = np.zeros(0, dtype=bool)
        self.red, order = _grouped(ix, day, self.n, amount=amt)
        wo = wo[order]
        red_amt = amt[order]

        # first event at which the running reduction covers the invoice amount
        within = self.red.total("amount", np.arange(len(ix)), self.red.group)
        covers = within >= self.amount[self.red.group] - _TOL
        close_day = np.full(self.n, _NO_DAY, dtype=np.int64)
        close_wo = np.zeros(self.n, dtype=bool)
        last_day = np.full(self.n, _NO_DAY, dtype=np.int64)
        final_red = np.zeros(self.n)
        if len(ix):
            hit = np.flatnonzero(covers)
            g_hit, first_hit = np.unique(self.red.group[hit], return_index=True)
            close_day[g_hit] = self.red.day[hit[first_hit]]
            close_wo[g_hit] = wo[hit[first_hit]]
            # last event per invoice: the position before the next group's first
            g_all, last_idx = np.unique(self.red.group[::-1], return_index=True)
            last_idx = len(ix) - 1 - last_idx
            last_day[g_all] = self.red.day[last_idx]
            final_red[g_all] = within[last_idx]
        del red_amt
        self.close_day = close_day
        self.close_wo = close_wo
        self.last_red_day = last_day
        self.final_balance = self.amount - final_red
        self.paid_day = np.where(close_wo, _NO_DAY, close_day)

    def balance_at(self, inv_ix: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Open balance (document currency) of each invoice at the end of ``day``."""
        pos = self.red.position(inv_ix, day)
        return self.amount[inv_ix] - self.red.total("amount", pos, inv_ix)

    # -- customer history ----------------------------------------------------------
    def _build_customer_history(self) -> None:
        paid = self.paid_day < _NO_DAY
        idx = np.flatnonzero(paid)
        days_late = np.maximum(0, self.paid_day[idx] - self.due_day[idx]).astype(float)
        self.hist, _ = _grouped(
            self.cust[idx],
            self.paid_day[idx],
            self.n_cust,
            n=np.ones(len(idx)),
            late=(days_late > 0).astype(float),
            days_late=days_late,
            days_to_pay=np.maximum(0, self.paid_day[idx] - self.inv_day[idx]).astype(
                float
            ),
        )
        # issued and closed counts / amounts for open exposure
        self.issued, _ = _grouped(
            self.cust,
            self.inv_day,
            self.n_cust,
            n=np.ones(self.n),
            amount_rc=np.where(self.amount > 0, self.amount_rc, 0.0),
            log_amount=np.log1p(np.maximum(self.amount_rc, 0.0)),
        )
        # on-time record over invoices whose due date has passed: known at the
        # due date whether or not the invoice was paid by then (no survivor bias)
        on_time = (self.paid_day <= self.due_day).astype(float)
        self.due_record, _ = _grouped(
            self.cust, self.due_day, self.n_cust, n=np.ones(self.n), on_time=on_time
        )
        self.due_global, _ = _grouped(
            np.zeros(self.n, dtype=np.int64),
            self.due_day,
            1,
            n=np.ones(self.n),
            on_time=on_time,
        )
        # open past-due invoices: due before s and not closed by s. An invoice
        # leaves that count on max(due + 1, close day), so one event per invoice
        self.due_events, _ = _grouped(
            self.cust, self.due_day + 1, self.n_cust, n=np.ones(self.n)
        )
        leave = np.maximum(self.due_day + 1, self.close_day)
        lidx = np.flatnonzero(self.close_day < _NO_DAY)
        self.overdue_closed, _ = _grouped(
            self.cust[lidx], leave[lidx], self.n_cust, n=np.ones(len(lidx))
        )
        closed = self.close_day < _NO_DAY
        cidx = np.flatnonzero(closed)
        self.closed, _ = _grouped(
            self.cust[cidx], self.close_day[cidx], self.n_cust, n=np.ones(len(cidx))
        )
        red_inv = self.red.group
        self.cust_red, _ = _grouped(
            self.cust[red_inv],
            self.red.day,
            self.n_cust,
            amount_rc=np.diff(self.red.cums["amount"], prepend=0.0) * self.fx[red_inv]
            if len(red_inv)
            else np.zeros(0),
        )

    # -- activities ----------------------------------------------------------------
    def _build_activities(self, ledger: Any) -> None:
        act = _table(ledger, "activities")
        disputed = ledger.invoices.get("disputed")
        self.static_dispute = (
            disputed.astype("boolean").fillna(False).to_numpy(dtype=bool)
            if disputed is not None
            else np.zeros(self.n, dtype=bool)
        )
        self.dispute = self.promise_inv = self.promise_cust = self.contact = None
        if act is None:
            self.dispute_mode = "static"
            return
        kind = act["kind"].astype(str).to_numpy()
        day = _to_days(act["date"])
        cust = self.cust_index.get_indexer(act["customer_id"])
        inv_ix = (
            _inv_ix(act, self.inv)
            if "invoice_id" in act
            else np.full(len(act), -1, dtype=np.int64)
        )

        is_disp = np.isin(kind, ("dispute_opened", "dispute_resolved")) & (inv_ix >= 0)
        if is_disp.any():
            self.dispute_mode = "activities"
            d_idx = np.flatnonzero(is_disp)
            # opened before resolved on the same day: resolution wins (order by kind)
            d_day = day[d_idx] * 2 + (kind[d_idx] == "dispute_resolved")
            self.dispute, order = _grouped(inv_ix[d_idx], d_day, self.n)
            self.dispute_open_flag = (kind[d_idx] == "dispute_opened")[order]
        else:
            self.dispute_mode = "static"

        promised = (
            _to_days(act["promised_date"])
            if "promised_date" in act
            else np.full(len(act), _NO_DAY, dtype=np.int64)
        )
        is_ptp = (kind == "promise_to_pay") & (promised < _NO_DAY)
        self.promise_inv = self._promise_table(
            is_ptp & (inv_ix >= 0), inv_ix, day, promised, self.n
        )
        self.promise_cust = self._promise_table(
            is_ptp & (inv_ix < 0) & (cust >= 0), cust, day, promised, self.n_cust
        )
        contact = np.isin(kind, ("email", "call", "letter", "promise_to_pay")) & (
            cust >= 0
        )
        c_idx = np.flatnonzero(contact)
        self.contact, _ = _grouped(cust[c_idx], day[c_idx], self.n_cust)

    @staticmethod
    def _promise_table(mask, group, day, promised, n_groups):
        idx = np.flatnonzero(mask)
        if len(idx) == 0:
            return None
        table, order = _grouped(group[idx], day[idx], n_groups)
        # running max of the promised date within each group
        frame = pd.DataFrame({"g": table.group, "p": promised[idx][order]})
        running = frame.groupby("g", sort=False)["p"].cummax().to_numpy()
        return table, running

    def promise_open_at(self, inv_ix: np.ndarray, day: np.ndarray) -> np.ndarray:
        out = np.zeros(len(inv_ix), dtype=bool)
        for table, group in (
            (self.promise_inv, inv_ix),
            (self.promise_cust, self.cust[inv_ix]),
        ):
            if table is None:
                continue
            events, running = table
            pos = events.position(group, day)
            ok = pos >= 0
            out[ok] |= running[pos[ok]] + PROMISE_GRACE_DAYS >= day[ok]
        return out

    def dispute_at(self, inv_ix: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Dispute status: dated events where an invoice has any, else the flag."""
        if self.dispute_mode == "static":
            return self.static_dispute[inv_ix]
        pos = self.dispute.position(inv_ix, day * 2 + 1)
        tracked = self.dispute.first[inv_ix] >= 0
        out = np.where(tracked, False, self.static_dispute[inv_ix])
        ok = pos >= 0
        out[ok] = self.dispute_open_flag[pos[ok]]
        return out


def _inv_ix(table: pd.DataFrame, invoices: pd.DataFrame) -> np.ndarray:
    """Position of each row's invoice in ``invoices`` (-1 when unknown or missing)."""
    if "inv_ix" in table:
        return table["inv_ix"].fillna(-1).to_numpy(dtype=np.int64)
    index = pd.Index(invoices["invoice_id"].astype(str))
    ids = table["invoice_id"]
    out = index.get_indexer(ids.astype(str).where(ids.notna(), "\x00<none>"))
    return out.astype(np.int64)


def snapshot_dates(start: Any, end: Any, freq: str = "W") -> pd.DatetimeIndex:
    """Regular snapshot dates between ``start`` and ``end`` (both inclusive).

    Parameters
    ----------
    start, end : date-like
        First and last admissible snapshot date.
    freq : {"W", "MS", "ME", "D"} or any pandas offset alias, default="W"
        ``"W"`` gives Sundays (week ends), ``"MS"`` month starts.

    Returns
    -------
    DatetimeIndex
        Normalised dates; empty when ``start > end``.
    """
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    if start > end:
        return pd.DatetimeIndex([])
    return pd.date_range(start, end, freq=freq).normalize()


def _check_horizons(horizons: Iterable[int]) -> tuple[int, ...]:
    hs = tuple(sorted({int(h) for h in horizons}))
    if not hs or hs[0] <= 0:
        raise ValueError(
            f"horizons must be positive whole days, e.g. (7, 30, 90); got {horizons!r}."
        )
    return hs


def _extra_columns(
    invoices: pd.DataFrame, extra_features: Mapping[str, Any] | Sequence[str] | None
) -> dict[str, np.ndarray]:
    """Extra invoice columns as numeric arrays named ``extra_<name>``.

    ``extra_features`` is a list of column names (numeric or boolean columns), or a
    mapping ``{output_name: column}`` / ``{output_name: (column, true_value)}``; the
    tuple form turns a text column into a 0/1 flag (``column == true_value``).
    """
    if not extra_features:
        return {}
    if isinstance(extra_features, Mapping):
        items = list(extra_features.items())
    else:
        items = [(c, c) for c in extra_features]
    out = {}
    for name, spec in items:
        column, true_value = spec if isinstance(spec, tuple) else (spec, None)
        if column not in invoices:
            extras = [
                c
                for c in invoices.columns
                if c not in ("invoice_id", "customer_id", "row")
            ]
            raise DataError(
                f"extra feature column {column!r} is not in the invoices table; "
                f"available columns: {extras}."
            )
        values = invoices[column]
        if true_value is not None:
            arr = (values.astype(str) == str(true_value)).to_numpy(dtype=float)
        elif pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(
            values
        ):
            arr = values.astype(float).to_numpy()
        else:
            raise DataError(
                f"extra feature column {column!r} has dtype {values.dtype}, not numeric "
                f"or boolean; pass {{'{name}': ('{column}', <value>)}} to turn it into "
                "a 0/1 flag."
            )
        out[EXTRA_PREFIX + str(name)] = arr
    return out


def _assemble(
    state: _LedgerState,
    inv_ix: np.ndarray,
    snap_day: np.ndarray,
    horizons: tuple[int, ...],
    extras: dict[str, np.ndarray],
    *,
    at_issue: bool,
) -> pd.DataFrame:
    """Features and labels for the (invoice, snapshot day) pairs."""
    n = len(inv_ix)
    cust = state.cust[inv_ix]
    # at issue, history is read from the day before the invoice date, so that the
    # invoice's own same-day payment or dispute cannot leak into its features
    hist_day = snap_day - 1 if at_issue else snap_day

    # invoice state
    if at_issue:
        balance = state.amount[inv_ix].copy()
    else:
        balance = state.balance_at(inv_ix, snap_day)
    amount = state.amount[inv_ix]
    with np.errstate(divide="ignore", invalid="ignore"):
        share_paid = np.where(amount > 0, 1.0 - balance / amount, 0.0)
    balance_rc = balance * state.fx[inv_ix]

    # customer's paid history
    h = state.hist
    pos = h.position(cust, hist_day)
    n_paid = h.total("n", pos, cust)
    with np.errstate(divide="ignore", invalid="ignore"):
        late_share = h.total("late", pos, cust) / n_paid
        mean_late = h.total("days_late", pos, cust) / n_paid
        mean_pay = h.total("days_to_pay", pos, cust) / n_paid
        rsum, rcount = h.window("days_late", pos, cust, RECENT_PAID)
        recent_late = rsum / rcount
    no_hist = n_paid == 0
    for arr in (late_share, mean_late, mean_pay, recent_late):
        arr[no_hist] = np.nan

    rec = state.due_record.position(cust, hist_day)
    n_due = state.due_record.total("n", rec, cust)
    n_on_time = state.due_record.total("on_time", rec, cust)
    zero = np.zeros(n, dtype=np.int64)
    grec = state.due_global.position(zero, hist_day)
    g_n = state.due_global.total("n", grec, zero)
    with np.errstate(divide="ignore", invalid="ignore"):
        on_time_share = np.where(n_due > 0, n_on_time / n_due, np.nan)
        prior = np.where(
            g_n > 0, state.due_global.total("on_time", grec, zero) / g_n, 0.5
        )
    on_time_shrunk = (n_on_time + SHRINK_DUE * prior) / (n_due + SHRINK_DUE)

    # customer's open exposure: issued minus closed / minus reductions
    ipos = state.issued.position(cust, hist_day)
    cpos = state.closed.position(cust, hist_day)
    open_count = state.issued.total("n", ipos, cust) - state.closed.total(
        "n", cpos, cust
    )
    rpos = state.cust_red.position(cust, hist_day)
    open_amount = state.issued.total("amount_rc", ipos, cust) - state.cust_red.total(
        "amount_rc", rpos, cust
    )
    dpos = state.due_events.position(cust, hist_day)
    opos = state.overdue_closed.position(cust, hist_day)
    overdue = state.due_events.total("n", dpos, cust) - state.overdue_closed.total(
        "n", opos, cust
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_log_amount = state.issued.total("log_amount", ipos, cust) / np.maximum(
            state.issued.total("n", ipos, cust), 1.0
        )
    if at_issue:  # the invoice itself is open from its issue date on
        open_count = open_count + 1
        open_amount = open_amount + state.amount_rc[inv_ix]
    with np.errstate(divide="ignore", invalid="ignore"):
        overdue_share = np.where(open_count > 0, overdue / open_count, 0.0)
    log_amount = np.log1p(np.maximum(state.amount_rc[inv_ix], 0.0))
    amount_vs_customer = np.where(ipos >= 0, log_amount - mean_log_amount, 0.0)

    # activities
    in_dispute = state.dispute_at(inv_ix, hist_day)
    promise = state.promise_open_at(inv_ix, hist_day)
    if state.contact is not None:
        cpos2 = state.contact.position(cust, hist_day)
        last_contact = np.where(cpos2 >= 0, state.contact.day[np.maximum(cpos2, 0)], 0)
        since_contact = np.where(
            cpos2 >= 0, (hist_day - last_contact).astype(float), np.nan
        )
    else:
        since_contact = np.full(n, np.nan)

    # calendar (1970-01-01 was a Thursday: Monday = 0)
    snap_dt = _from_days(snap_day)
    due_day = state.due_day[inv_ix]
    due_dt = _from_days(due_day)
    month = _month_of(snap_day)
    due_month = _month_of(due_day)

    frame: dict[str, Any] = {
        "snapshot_date": snap_dt,
        "invoice_id": state.inv["invoice_id"].to_numpy()[inv_ix],
        "customer_id": state.inv["customer_id"].to_numpy()[inv_ix],
        "portfolio": (
            state.inv["portfolio"].to_numpy()[inv_ix]
            if "portfolio" in state.inv
            else np.full(n, None, dtype=object)
        ),
        "invoice_date": _from_days(state.inv_day[inv_ix]),
        "due_date": due_dt,
        "inv_ix": inv_ix,
        "amount_rc": state.amount_rc[inv_ix],
        "balance": balance,
        "balance_rc": balance_rc,
        "age_days": (snap_day - state.inv_day[inv_ix]).astype(float),
        "days_past_due": (snap_day - state.due_day[inv_ix]).astype(float),
        "log_amount": log_amount,
        "log_balance": np.log1p(np.maximum(balance_rc, 0.0)),
        "share_paid": share_paid,
        "terms_days": state.terms[inv_ix],
        "cust_n_paid": n_paid,
        "cust_log_n_paid": np.log1p(n_paid),
        "cust_on_time_share": on_time_share,
        "cust_on_time_shrunk": on_time_shrunk,
        "cust_late_share": late_share,
        "cust_mean_days_late": mean_late,
        "cust_recent_days_late": recent_late,
        "cust_trend_days_late": recent_late - mean_late,
        "cust_mean_days_to_pay": mean_pay,
        "cust_open_count": open_count,
        "cust_log_open_amount": np.log1p(np.maximum(open_amount, 0.0)),
        "cust_overdue_count": overdue,
        "cust_overdue_share": overdue_share,
        "amount_vs_customer": amount_vs_customer,
        "in_dispute": in_dispute.astype(float),
        "promise_open": promise.astype(float),
        "days_since_contact": since_contact,
        "month_sin": np.sin(2 * np.pi * (month - 1) / 12.0),
        "month_cos": np.cos(2 * np.pi * (month - 1) / 12.0),
        "due_weekday": ((due_day + 3) % 7).astype(float),
        "due_in_quarter_end_month": np.isin(due_month, (3, 6, 9, 12)).astype(float),
    }
    for name, values in extras.items():
        frame[name] = values[inv_ix]

    # labels: the day the balance is fully paid (not written off), seen at label_as_of
    paid_day = state.paid_day[inv_ix]
    seen = (paid_day <= state.label_day) & (
        paid_day >= snap_day if at_issue else paid_day > snap_day
    )
    days_to_pay = np.where(seen, paid_day - snap_day, np.nan)
    observed = (state.label_day - snap_day).astype(float)
    frame["days_to_pay"] = days_to_pay
    frame["observed_days"] = observed
    for hz in horizons:
        label = np.where(days_to_pay <= hz, 1.0, np.where(observed >= hz, 0.0, np.nan))
        frame[f"paid_within_{hz}"] = label
        frame[f"label_end_{hz}"] = _from_days(snap_day + hz)
    if at_issue:
        terms = (state.due_day[inv_ix] - state.inv_day[inv_ix]).astype(float)
        frame["paid_by_due"] = np.where(
            days_to_pay <= terms, 1.0, np.where(observed >= terms, 0.0, np.nan)
        )
    return pd.DataFrame(frame)


def build_snapshots(
    ledger: Any,
    snapshot_dates: Iterable[Any],
    *,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    extra_features: Mapping[str, Any] | Sequence[str] | None = None,
    label_as_of: Any = None,
    max_rows: int | None = None,
    random_state: int = 0,
) -> pd.DataFrame:
    """Features and labels for every invoice open at each snapshot date.

    Parameters
    ----------
    ledger : Ledger
        The validated ledger (``invoices``, ``payments``, optional ``adjustments``
        and ``activities``, ``data_end``).
    snapshot_dates : iterable of date-like
        Dates to look at the open items. Duplicates are dropped.
    horizons : iterable of int, default=(7, 14, 30, 60, 90)
        Label horizons in days.
    extra_features : list of str or dict, optional
        Extra invoice columns to use as features, named ``extra_<name>``: a list of
        numeric/boolean column names, or ``{name: column}`` /
        ``{name: (column, true_value)}`` (the latter turns a text column into a 0/1
        flag, e.g. ``{"is_electronic": ("PaperlessBill", "Electronic")}``).
    label_as_of : date-like, optional
        Labels see only events dated on or before this date (default
        ``ledger.data_end``); used to right-censor training data at a cutoff.
    max_rows : int, optional
        Keep a seeded uniform sample of at most this many (snapshot, invoice)
        rows, drawn before any feature is computed, so that weekly snapshots of a
        large book cost memory and time for the sample only.
    random_state : int, default=0
        Seed of that sample.

    Returns
    -------
    DataFrame
        One row per (snapshot, open invoice), sorted by snapshot date then invoice
        position: identifiers (``snapshot_date, invoice_id, customer_id, portfolio,
        invoice_date, due_date, inv_ix``), amounts (``amount_rc, balance,
        balance_rc``), the :data:`FEATURE_COLUMNS`, any ``extra_*`` columns, and the
        labels ``days_to_pay`` (days from the snapshot to full payment; NaN if not
        paid by ``label_as_of``), ``observed_days`` (``label_as_of`` minus the
        snapshot), ``paid_within_{h}`` (1/0, NaN when censored) and ``label_end_{h}``.

    Notes
    -----
    An invoice is open at a snapshot when it is dated on or before it and its
    balance (amount minus payments and adjustments dated on or before it, in the
    invoice currency) is above half a cent. It counts as *paid* on the first day its
    payments and adjustments cover its amount, unless that last step is a write-off
    (then it is never paid). Customer history counts paid invoices whose payment
    day is on or before the snapshot: share paid late (after the due date), mean
    days late, mean of the last five paid invoices' days late (``recent``), their
    difference (``trend``) and mean days to pay. ``cust_on_time_share`` is the
    share paid by their due date among the customer's invoices due on or before
    the snapshot (paid or not: the outcome is known at the due date, so unlike
    the paid-invoice figures it has no survivor bias towards fast payers);
    ``cust_on_time_shrunk`` is that share shrunk towards the book-wide on-time
    share at the snapshot with ``SHRINK_DUE`` pseudo-invoices, so that a short
    history means the same thing early and late in the data. Exposure counts the customer's
    open invoices, their balance, how many of them are past due
    (``cust_overdue_count``, and as a share of the open count) and how this
    invoice's log amount compares with the mean of the customer's invoices so far
    (``amount_vs_customer``). ``in_dispute`` follows
    ``dispute_opened`` / ``dispute_resolved`` activities (per invoice) dated on or
    before the snapshot; an invoice without such activities keeps the static
    ``disputed`` flag of the invoice (the same rule as ``Ledger.open_items``). In a
    ledger with no dispute activities at all, such as the IBM sample, the flag is a
    static attribute of the invoice, not a dated event: it is used as known at every
    snapshot. ``promise_open``: a promise to pay
    (for the invoice, or for the customer without an invoice) made on or before the
    snapshot whose promised date plus three days is not yet past.
    ``days_since_contact``: days since the customer's last e-mail, call, letter or
    promise (NaN if none).
    """
    hs = _check_horizons(horizons)
    dates = pd.DatetimeIndex(pd.to_datetime(list(snapshot_dates))).normalize()
    dates = dates.unique().sort_values()
    state = _LedgerState(
        ledger, None if label_as_of is None else pd.Timestamp(label_as_of).normalize()
    )
    extras = _extra_columns(state.inv, extra_features)
    snaps = _to_days(dates)

    # each invoice is a candidate from its date until its last balance change (or
    # forever while a balance remains); the exact balance is checked below
    valid = (state.amount > _TOL) & (state.inv_day < _NO_DAY)
    end_day = np.where(state.final_balance > _TOL, _NO_DAY, state.last_red_day)
    lo = np.searchsorted(snaps, state.inv_day, side="left")
    hi = np.searchsorted(snaps, end_day, side="left")
    counts = np.where(valid, np.maximum(hi - lo, 0), 0)
    inv_ix = np.repeat(np.arange(state.n, dtype=np.int64), counts)
    starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
    snap_ix = np.arange(len(inv_ix)) + starts if len(inv_ix) else inv_ix
    snap_day = snaps[snap_ix] if len(inv_ix) else np.zeros(0, dtype=np.int64)

    balance = state.balance_at(inv_ix, snap_day)
    keep = balance > _TOL
    inv_ix, snap_day = inv_ix[keep], snap_day[keep]
    order = np.lexsort((inv_ix, snap_day))
    inv_ix, snap_day = inv_ix[order], snap_day[order]
    if max_rows is not None and len(inv_ix) > max_rows:
        rng = np.random.default_rng(random_state)
        pick = np.sort(rng.choice(len(inv_ix), size=int(max_rows), replace=False))
        inv_ix, snap_day = inv_ix[pick], snap_day[pick]

    out = _assemble(state, inv_ix, snap_day, hs, extras, at_issue=False)
    logger.info(
        "built %s snapshot rows for %s snapshot dates (dispute source: %s)",
        len(out),
        len(dates),
        state.dispute_mode,
    )
    return out


def build_issue_snapshots(
    ledger: Any,
    *,
    horizons: Iterable[int] = DEFAULT_HORIZONS,
    extra_features: Mapping[str, Any] | Sequence[str] | None = None,
    label_as_of: Any = None,
) -> pd.DataFrame:
    """One snapshot per invoice at its invoice date ("at issue").

    Same columns as :func:`build_snapshots` plus ``paid_by_due`` (1 if fully paid on
    or before the due date, 0 if not, NaN if the due date is after
    ``label_as_of`` and the invoice is unpaid), i.e. the horizon is the invoice's
    terms. Balance features are those of the fresh invoice (nothing paid), and the
    customer's history, disputes and contacts are read as of the day before the
    invoice date, so that events on the issue day itself (including the invoice's own
    same-day payment) cannot leak into the features. ``days_to_pay`` counts from the
    invoice date (0 for same-day payment).

    Parameters
    ----------
    ledger : Ledger
        The validated ledger.
    horizons : iterable of int, default=(7, 14, 30, 60, 90)
        Label horizons in days after the invoice date.
    extra_features : list of str or dict, optional
        See :func:`build_snapshots`.
    label_as_of : date-like, optional
        Labels see only events dated on or before this date (default
        ``ledger.data_end``).

    Returns
    -------
    DataFrame
        One row per invoice with a positive amount, sorted by invoice date.
    """
    hs = _check_horizons(horizons)
    state = _LedgerState(
        ledger, None if label_as_of is None else pd.Timestamp(label_as_of).normalize()
    )
    extras = _extra_columns(state.inv, extra_features)
    ok = (state.amount > _TOL) & (state.inv_day < _NO_DAY)
    inv_ix = np.flatnonzero(ok).astype(np.int64)
    inv_ix = inv_ix[np.argsort(state.inv_day[inv_ix], kind="stable")]
    return _assemble(state, inv_ix, state.inv_day[inv_ix], hs, extras, at_issue=True)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The model feature columns present in a snapshot frame (standard + extras)."""
    cols = [c for c in FEATURE_COLUMNS if c in frame.columns]
    cols += [c for c in frame.columns if str(c).startswith(EXTRA_PREFIX)]
    return cols
