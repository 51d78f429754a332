"""The vectorized KPI engine behind `arforecast.kpis`.

One `KpiEngine` per ledger and grouping prepares the day numbers, group codes and
promise tables once; `KpiEngine.compute` then turns an as-of date into per-group
arrays (G groups, row 0..G-1) with a few `numpy.bincount` calls, and a small
snapshot cache lets a trend reuse the open items of shared month ends.
"""

from __future__ import annotations

import difflib
import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import pandas as pd

from arforecast._kpi_math import (
    PROMISE_GRACE_DAYS,
    AgingBasis,
    aging_labels,
    assign_buckets,
    countback_dso_vector,
    datetimes_to_days,
    index_payments,
    month_days_back,
    previous_month_end,
    resolve_window,
    sum_indexed_payments,
    validate_aging_edges,
)
from arforecast.exceptions import ConfigError
from arforecast.ledger import BALANCE_EPSILON, Ledger

__all__ = ["STAGES", "EngineOutput", "KpiEngine", "Snapshot"]

logger = logging.getLogger(__name__)

#: Collection pipeline stages, in the order reports show them.
STAGES = (
    "reminder",
    "follow_up",
    "escalation",
    "final_demand",
    "dispute",
    "promise_to_pay",
)

#: Upper bound (days past due, inclusive) of the age-based stages.
_STAGE_EDGES = np.array([30, 60, 90])

_NAT_DAY = np.iinfo(np.int64).min


def _month_index(values: object) -> np.ndarray:
    """Datetime-like → months since 1970-01 (int64)."""
    return (
        np.asarray(values, dtype="datetime64[ns]")
        .astype("datetime64[M]")
        .astype(np.int64)
    )


def _sorted_keys(uniques: np.ndarray) -> np.ndarray:
    """Order for group keys: by text, missing last (mixed types allowed)."""
    missing = pd.isna(uniques)
    text = np.array([str(u) for u in uniques], dtype=object)
    return np.lexsort((text, missing))


@dataclass
class Snapshot:
    """Per-invoice state at one date (arrays aligned, one entry per invoice dated
    on or before it), plus the unapplied credit per group."""

    date: pd.Timestamp
    ix: np.ndarray
    balance: np.ndarray
    balance_rc: np.ndarray
    days_past_due: np.ndarray
    age_days: np.ndarray
    paid_doc: np.ndarray
    in_dispute: np.ndarray | None  # None in balance-only snapshots
    unapplied: np.ndarray  # shape (G,), ≤ 0

    @property
    def positive(self) -> np.ndarray:
        """Mask of invoices with an open (positive) balance."""
        return self.balance > BALANCE_EPSILON


@dataclass
class EngineOutput:
    """Everything one as-of computation produced, per group (arrays of shape G)."""

    as_of: pd.Timestamp
    window_start: pd.Timestamp
    window_days: int
    labels: list[str]
    keys: list[object]
    aging: np.ndarray  # (G, B)
    unapplied: np.ndarray
    open_ar: np.ndarray
    current_ar: np.ndarray
    past_due_ar: np.ndarray
    disputed_ar: np.ndarray
    ar_start: np.ndarray
    invoiced: np.ndarray
    credit_notes: np.ndarray
    cash: np.ndarray
    write_offs: np.ndarray
    paid_count: np.ndarray
    paid_amount: np.ndarray
    paid_days_sum: np.ndarray
    paid_days_weighted: np.ndarray
    paid_late_weighted: np.ndarray
    ptp_kept: np.ndarray
    ptp_broken: np.ndarray
    countback: np.ndarray
    countback_status: np.ndarray
    countback_months: int
    roll_num: np.ndarray  # (G, B-1)
    roll_den: np.ndarray  # (G, B-1)
    previous_month_end: pd.Timestamp
    stage_count: np.ndarray  # (G, S)
    stage_amount: np.ndarray  # (G, S)
    overall_countback: float
    overall_countback_status: int
    overall_stage_count: np.ndarray  # (S,)
    overall_stage_amount: np.ndarray  # (S,)

    @property
    def net_sales(self) -> np.ndarray:
        return self.invoiced - self.credit_notes


class KpiEngine:
    """Prepared arrays of one ledger for fast as-of KPI computations.

    Parameters
    ----------
    ledger : Ledger
    by : str, optional
        Invoice column to group by (``portfolio``, ``customer_id`` or any extra
        column). None → one group holding everything.
    aging_edges : sequence of int, optional
        See `arforecast._kpi_math.validate_aging_edges`.
    aging_basis : {"due_date", "invoice_date"}, default="due_date"
    cache_size : int, default=6
        How many as-of snapshots to keep (a trend reuses shared month ends).
    ledger_items : bool, default=True
        Take the as-of open items from `Ledger.open_items`. False (used by
        trends) computes them from the engine's arrays with the same arithmetic
        and dispute rule, which skips building a frame per date; the test suite
        checks both give the same KPIs.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        by: str | None = None,
        aging_edges: object = None,
        aging_basis: AgingBasis = "due_date",
        cache_size: int = 6,
        ledger_items: bool = True,
    ) -> None:
        self.ledger = ledger
        self.by = by
        self.ledger_items = ledger_items
        self._dispute_events: tuple[np.ndarray, ...] | None = None
        self.edges = validate_aging_edges(aging_edges)
        self.basis = aging_basis
        self.labels = aging_labels(self.edges, aging_basis)
        self._cache: OrderedDict[pd.Timestamp, Snapshot] = OrderedDict()
        self._cache_size = cache_size

        inv = ledger.invoices
        pay = ledger.payments
        adj = ledger.adjustments
        self.n_inv = len(inv)

        # invoices
        self.inv_day = datetimes_to_days(inv["invoice_date"])
        self.inv_due_day = datetimes_to_days(inv["due_date"])
        self.inv_month = _month_index(inv["invoice_date"])
        self.inv_amount_rc = inv["amount_rc"].to_numpy(dtype=float)
        self.inv_amount = inv["amount"].to_numpy(dtype=float)
        self.inv_fx = inv["fx_rate"].to_numpy(dtype=float)

        # documents
        self.pay_day = datetimes_to_days(pay["payment_date"])
        self.pay_amount_rc = pay["amount_rc"].to_numpy(dtype=float)
        self.pay_amount_doc = pay["amount_doc"].to_numpy(dtype=float)
        self.pay_ix = pay["inv_ix"].to_numpy(dtype=np.int64)
        self.pay_linked = self.pay_ix >= 0
        self.adj_amount_doc = adj["amount_doc"].to_numpy(dtype=float)
        self.adj_ix = adj["inv_ix"].to_numpy(dtype=np.int64)
        self.adj_linked = self.adj_ix >= 0
        self.adj_day = datetimes_to_days(adj["date"])
        self.adj_month = _month_index(adj["date"])
        self.adj_amount_rc = adj["amount_rc"].to_numpy(dtype=float)
        kind = adj["kind"].to_numpy(dtype=object)
        self.adj_credit = kind == "credit_note"
        self.adj_write_off = kind == "write_off"

        self._build_groups()
        self._build_customers()
        self._build_promises()
        self._build_monthly_sales()

    # ------------------------------------------------------------------ setup
    def _build_groups(self) -> None:
        """Group codes for invoices, payments, adjustments and activities.

        A payment or adjustment takes its invoice's key; one for an unknown
        invoice its own ``by`` value when its table has the column (portfolio,
        customer_id), else the missing key (None). Activities use their own
        column when they have it, else their invoice's key.
        """
        led = self.ledger
        by = self.by
        inv = led.invoices
        if by is None:
            self.keys: list[object] = [None]
            self.inv_codes = np.zeros(self.n_inv, dtype=np.int64)
            self.pay_codes = np.zeros(len(led.payments), dtype=np.int64)
            self.adj_codes = np.zeros(len(led.adjustments), dtype=np.int64)
            self.act_codes = np.zeros(len(led.activities), dtype=np.int64)
            return
        if by not in inv.columns or by == "row":
            options = [c for c in inv.columns if c != "row"]
            close = difflib.get_close_matches(by, options, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"Cannot group by {by!r}: it is not an invoice column.{hint} "
                f"Choose from {', '.join(options)}."
            )

        # invoices first; linked documents reuse their invoice's code, so only
        # unlinked rows (and activities' own column) need a hash lookup
        inv_codes, uniques = pd.factorize(inv[by], use_na_sentinel=False)
        index = pd.Index(uniques, dtype=object)
        extra_parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name in ("payments", "adjustments", "activities"):
            frame = getattr(led, name)
            ixv = frame["inv_ix"].to_numpy(dtype=np.int64)
            if name == "activities" and by in frame.columns:
                rows = np.arange(len(frame))
                values = frame[by].to_numpy(dtype=object)
            else:
                rows = np.flatnonzero(ixv < 0)
                if by in frame.columns:
                    values = frame[by].take(rows).to_numpy(dtype=object)
                else:
                    values = np.full(len(rows), None, dtype=object)
            extra_parts[name] = (rows, values)
        pooled = np.concatenate([v for _, v in extra_parts.values()])
        if len(pooled):
            new = pd.Index(pooled, dtype=object).unique()
            new = new[index.get_indexer(new) < 0]
            index = index.append(new)
        uniques = index.to_numpy(dtype=object)
        order = _sorted_keys(uniques)
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        self.keys = [None if pd.isna(k) else k for k in uniques[order]]
        self.inv_codes = remap[np.asarray(inv_codes, dtype=np.int64)]
        for name, attr in (
            ("payments", "pay_codes"),
            ("adjustments", "adj_codes"),
            ("activities", "act_codes"),
        ):
            frame = getattr(led, name)
            ixv = frame["inv_ix"].to_numpy(dtype=np.int64)
            out = np.zeros(len(frame), dtype=np.int64)
            linked = ixv >= 0
            out[linked] = self.inv_codes[ixv[linked]]
            rows, values = extra_parts[name]
            if len(rows):
                out[rows] = remap[index.get_indexer(values)]
            setattr(self, attr, out)

    def _build_customers(self) -> None:
        """One integer code per customer, shared by invoices, payments and
        promises (unknown-invoice payments and promises may add customers)."""
        led = self.ledger
        inv_codes, uniques = pd.factorize(led.invoices["customer_id"])
        index = pd.Index(uniques, dtype=object)
        pay = led.payments
        act = led.activities
        self.is_ptp = (act["kind"].to_numpy(dtype=object) == "promise_to_pay") & act[
            "promised_date"
        ].notna().to_numpy()
        orphan_pay = pay["customer_id"][~self.pay_linked].to_numpy(dtype=object)
        prom_ids = act["customer_id"].to_numpy(dtype=object)[self.is_ptp]
        extra = pd.Index(np.concatenate([orphan_pay, prom_ids]), dtype=object)
        extra = extra[extra.notna()].unique()
        extra = extra[index.get_indexer(extra) < 0]
        index = index.append(extra)
        self.customer_values = index.to_numpy(dtype=object)
        self.inv_cust = inv_codes.astype(np.int64)
        pay_cust = np.full(len(pay), -1, dtype=np.int64)
        pay_cust[self.pay_linked] = self.inv_cust[self.pay_ix[self.pay_linked]]
        pay_cust[~self.pay_linked] = index.get_indexer(orphan_pay)
        self.pay_cust = pay_cust
        self.prom_cust = index.get_indexer(prom_ids).astype(np.int64)

    def _build_promises(self) -> None:
        """Promise-to-pay rows: customer, made and promised day, amount (rc)."""
        act = self.ledger.activities
        prom = act.loc[self.is_ptp]
        self.prom_customer_id = prom["customer_id"].to_numpy(dtype=object)
        self.prom_made = datetimes_to_days(prom["date"])
        self.prom_due = datetimes_to_days(prom["promised_date"])
        amount = prom["promised_amount"].to_numpy(dtype=float)
        ixv = prom["inv_ix"].to_numpy()
        rate = np.where(ixv >= 0, self.inv_fx[np.clip(ixv, 0, None)], 1.0)
        self.prom_amount_rc = amount * rate
        self.prom_codes = self.act_codes[self.is_ptp]
        self._pay_index: tuple[np.ndarray, np.ndarray] | None = None
        self._status_cache: dict[int, np.ndarray] = {}

    def _build_monthly_sales(self) -> None:
        """Net credit sales per group and calendar month, whole months."""
        g = len(self.keys)
        first = [self.inv_month.min()] if self.n_inv else []
        if self.adj_credit.any():
            first.append(self.adj_month[self.adj_credit].min())
        self.month0 = int(min(first)) if first else 0
        last = [self.inv_month.max()] if self.n_inv else [self.month0]
        if self.adj_credit.any():
            last.append(self.adj_month[self.adj_credit].max())
        n_months = int(max(last)) - self.month0 + 1
        self.n_months = n_months
        sales = np.bincount(
            self.inv_codes * n_months + (self.inv_month - self.month0),
            weights=self.inv_amount_rc,
            minlength=g * n_months,
        )
        credit = self.adj_credit
        cn = np.bincount(
            self.adj_codes[credit] * n_months + (self.adj_month[credit] - self.month0),
            weights=self.adj_amount_rc[credit],
            minlength=g * n_months,
        )
        self.monthly_net = (sales - cn).reshape(g, n_months)

    # ------------------------------------------------------------------ snapshots
    def snapshot(self, date: pd.Timestamp, *, full: bool = True) -> Snapshot:
        """Open items and unapplied credit at ``date`` (cached).

        ``full`` snapshots come from `Ledger.open_items` (with disputes and last
        payment dates); the others (balances only, for the window start and the
        previous month end) from the engine's own arrays with the same
        arithmetic: amount − payments − adjustments dated ≤ date, in document
        currency, times the balance rate.
        """
        cached = self._cache.get(date)
        if cached is not None and (cached.in_dispute is not None or not full):
            self._cache.move_to_end(date)
            return cached
        day = int(datetimes_to_days(np.array([date], dtype="datetime64[ns]"))[0])
        if full and self.ledger_items:
            items = self.ledger.open_items(date, include_closed=True)
            ix = items["ix"].to_numpy(dtype=np.int64)
            balance = items["balance"].to_numpy(dtype=float)
            balance_rc = items["balance_rc"].to_numpy(dtype=float)
            paid_doc = items["paid_doc"].to_numpy(dtype=float)
            in_dispute = items["in_dispute"].to_numpy(dtype=bool)
        else:
            ix = np.flatnonzero(self.inv_day <= day)
            pm = self.pay_linked & (self.pay_day <= day)
            paid = np.bincount(
                self.pay_ix[pm], weights=self.pay_amount_doc[pm], minlength=self.n_inv
            )
            am = self.adj_linked & (self.adj_day <= day)
            adjusted = np.bincount(
                self.adj_ix[am], weights=self.adj_amount_doc[am], minlength=self.n_inv
            )
            balance = (self.inv_amount - paid - adjusted)[ix]
            balance_rc = balance * self._balance_rates(date)[ix]
            paid_doc = paid[ix]
            in_dispute = self.disputes_at(day)[ix] if full else None
        snap = Snapshot(
            date=date,
            ix=ix,
            balance=balance,
            balance_rc=balance_rc,
            days_past_due=day - self.inv_due_day[ix],
            age_days=day - self.inv_day[ix],
            paid_doc=paid_doc,
            in_dispute=in_dispute,
            unapplied=self._unapplied_by_group(date, day, ix, balance, balance_rc),
        )
        self._cache[date] = snap
        self._cache.move_to_end(date)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return snap

    def _unapplied_by_group(
        self,
        date: pd.Timestamp,
        day: int,
        ix: np.ndarray,
        balance: np.ndarray,
        balance_rc: np.ndarray,
    ) -> np.ndarray:
        """Unapplied credit (≤ 0) per group at ``date``.

        The same sources as `Ledger.unapplied_credit`: overpaid invoices,
        payments and adjustments for unknown invoices, and documents dated
        before their invoice while ``date`` falls between the two. Each follows
        its group code (see `_build_groups`).
        """
        g = len(self.keys)
        over = balance < -BALANCE_EPSILON
        out = np.bincount(
            self.inv_codes[ix[over]], weights=balance_rc[over], minlength=g
        ).astype(float)
        rates = None
        for doc_day, ixv, amount_rc, amount_doc, codes in (
            (
                self.pay_day,
                self.pay_ix,
                self.pay_amount_rc,
                self.pay_amount_doc,
                self.pay_codes,
            ),
            (
                self.adj_day,
                self.adj_ix,
                self.adj_amount_rc,
                self.adj_amount_doc,
                self.adj_codes,
            ),
        ):
            dated = doc_day <= day
            orphan = dated & (ixv < 0)
            out -= np.bincount(codes[orphan], weights=amount_rc[orphan], minlength=g)
            safe = np.clip(ixv, 0, None)
            early = dated & (ixv >= 0) & (self.inv_day[safe] > day)
            if early.any():
                if rates is None:
                    rates = self._balance_rates(date)
                out -= np.bincount(
                    codes[early],
                    weights=amount_doc[early] * rates[safe[early]],
                    minlength=g,
                )
        return out

    def _balance_rates(self, date: pd.Timestamp) -> np.ndarray:
        """Rate converting each invoice's balance: its own date's, or as_of's when
        the ledger revalues."""
        if not self.ledger.revalue:
            return self.inv_fx
        # Ledger exposes no public per-invoice as-of rate; use its own helper so
        # both modules convert identically.
        return self.ledger._balance_rates(date)

    # ------------------------------------------------------------------ compute
    def compute(
        self, as_of: pd.Timestamp, window_days: int | None = None
    ) -> EngineOutput:
        """All KPI building blocks at ``as_of``, per group."""
        start, end, days = resolve_window(as_of, window_days)
        day = int(datetimes_to_days(np.array([as_of], dtype="datetime64[ns]"))[0])
        start_day = int(datetimes_to_days(np.array([start], dtype="datetime64[ns]"))[0])

        before = self.snapshot(start - pd.Timedelta(days=1), full=False)
        pme = previous_month_end(as_of)
        prev = self.snapshot(pme, full=False)
        snap = self.snapshot(as_of)
        g = len(self.keys)
        n_b = len(self.labels)

        # balances at as_of
        pos = snap.positive
        codes = self.inv_codes[snap.ix]
        bal = np.where(pos, snap.balance_rc, 0.0)
        bucket_days = snap.days_past_due if self.basis == "due_date" else snap.age_days
        bucket = assign_buckets(bucket_days, self.edges, self.basis)
        aging = np.bincount(
            codes * n_b + bucket, weights=bal, minlength=g * n_b
        ).reshape(g, n_b)
        unapplied = snap.unapplied
        open_ar = aging[:, 0].copy()
        for b in range(1, n_b):
            open_ar = open_ar + aging[:, b]
        open_ar = open_ar + unapplied
        not_due = snap.days_past_due <= 0
        current_ar = np.bincount(
            codes, weights=np.where(not_due, bal, 0.0), minlength=g
        )
        past_due_ar = np.bincount(
            codes, weights=np.where(not_due, 0.0, bal), minlength=g
        )
        disputed_ar = np.bincount(
            codes, weights=np.where(snap.in_dispute, bal, 0.0), minlength=g
        )

        # AR at window start
        bcodes = self.inv_codes[before.ix]
        ar_start = (
            np.bincount(
                bcodes,
                weights=np.where(before.positive, before.balance_rc, 0.0),
                minlength=g,
            )
            + before.unapplied
        )

        # flows in W
        in_w = (self.inv_day >= start_day) & (self.inv_day <= day)
        invoiced = np.bincount(
            self.inv_codes[in_w], weights=self.inv_amount_rc[in_w], minlength=g
        )
        adj_w = (self.adj_day >= start_day) & (self.adj_day <= day)
        cn = adj_w & self.adj_credit
        credit_notes = np.bincount(
            self.adj_codes[cn], weights=self.adj_amount_rc[cn], minlength=g
        )
        wo = adj_w & self.adj_write_off
        write_offs = np.bincount(
            self.adj_codes[wo], weights=self.adj_amount_rc[wo], minlength=g
        )
        pay_w = (self.pay_day >= start_day) & (self.pay_day <= day)
        cash = np.bincount(
            self.pay_codes[pay_w], weights=self.pay_amount_rc[pay_w], minlength=g
        )

        # invoices fully paid in W: settled, and their last payment (the latest
        # of their payments dated in W, since W ends at as_of) falls in W
        inv_ix = snap.ix
        last_in_w = np.full(self.n_inv, _NAT_DAY, dtype=np.int64)
        pw = self.pay_linked & pay_w
        np.maximum.at(last_in_w, self.pay_ix[pw], self.pay_day[pw])
        last = last_in_w[inv_ix]
        paid = (
            (snap.balance <= BALANCE_EPSILON)
            & (snap.paid_doc > BALANCE_EPSILON)
            & (last != _NAT_DAY)
            & (last >= self.inv_day[inv_ix])
            & (self.inv_amount_rc[inv_ix] > 0)
        )
        pcodes = codes[paid]
        weight = self.inv_amount_rc[inv_ix][paid]
        to_pay = (last[paid] - self.inv_day[inv_ix][paid]).astype(float)
        late = np.maximum(0, last[paid] - self.inv_due_day[inv_ix][paid]).astype(float)
        paid_count = np.bincount(pcodes, minlength=g).astype(float)
        paid_amount = np.bincount(pcodes, weights=weight, minlength=g)
        paid_days_sum = np.bincount(pcodes, weights=to_pay, minlength=g)
        paid_days_weighted = np.bincount(pcodes, weights=weight * to_pay, minlength=g)
        paid_late_weighted = np.bincount(pcodes, weights=weight * late, minlength=g)

        # promises to pay due in W
        status = self.promise_status(day)
        in_w_prom = (
            (self.prom_due >= start_day)
            & (self.prom_due <= day)
            & (self.prom_made <= day)
        )
        kept = in_w_prom & (status == 1)
        broken = in_w_prom & (status == 2)
        ptp_kept = np.bincount(self.prom_codes[kept], minlength=g).astype(float)
        ptp_broken = np.bincount(self.prom_codes[broken], minlength=g).astype(float)

        # countback over calendar months
        as_of_month = int(_month_index(np.array([as_of], dtype="datetime64[ns]"))[0])
        n_back = max(as_of_month - self.month0 + 1, 1)
        monthly = self._monthly_back(as_of_month, n_back, day, g)
        countback, cb_status = countback_dso_vector(
            open_ar, monthly, month_days_back(as_of, n_back)
        )

        # roll rates from the previous month end
        roll_num, roll_den = self._roll(snap, prev, g, n_b)

        # collection pipeline
        stage_count, stage_amount, all_count, all_amount = self._pipeline(
            snap, day, codes, g
        )
        if self.by is None:
            all_cb, all_status = countback[:1], cb_status[:1]
        else:
            all_cb, all_status = countback_dso_vector(
                open_ar.sum(keepdims=True),
                monthly.sum(axis=0, keepdims=True),
                month_days_back(as_of, n_back),
            )

        return EngineOutput(
            as_of=as_of,
            window_start=start,
            window_days=days,
            labels=list(self.labels),
            keys=list(self.keys),
            aging=aging,
            unapplied=unapplied,
            open_ar=open_ar,
            current_ar=current_ar,
            past_due_ar=past_due_ar,
            disputed_ar=disputed_ar,
            ar_start=ar_start,
            invoiced=invoiced,
            credit_notes=credit_notes,
            cash=cash,
            write_offs=write_offs,
            paid_count=paid_count,
            paid_amount=paid_amount,
            paid_days_sum=paid_days_sum,
            paid_days_weighted=paid_days_weighted,
            paid_late_weighted=paid_late_weighted,
            ptp_kept=ptp_kept,
            ptp_broken=ptp_broken,
            countback=countback,
            countback_status=cb_status,
            countback_months=n_back,
            roll_num=roll_num,
            roll_den=roll_den,
            previous_month_end=pme,
            stage_count=stage_count,
            stage_amount=stage_amount,
            overall_countback=float(all_cb[0]),
            overall_countback_status=int(all_status[0]),
            overall_stage_count=all_count,
            overall_stage_amount=all_amount,
        )

    def _monthly_back(
        self, as_of_month: int, n_back: int, day: int, g: int
    ) -> np.ndarray:
        """Net sales per group, as_of's month (to as_of) first, then each earlier
        month, shape (G, n_back)."""
        out = np.zeros((g, n_back))
        back = np.arange(1, n_back)
        cols = as_of_month - back - self.month0
        valid = (cols >= 0) & (cols < self.n_months)
        out[:, back[valid]] = self.monthly_net[:, cols[valid]]
        # the current month up to as_of
        m_inv = (self.inv_month == as_of_month) & (self.inv_day <= day)
        cur = np.bincount(
            self.inv_codes[m_inv], weights=self.inv_amount_rc[m_inv], minlength=g
        ).astype(float)
        m_cn = self.adj_credit & (self.adj_month == as_of_month) & (self.adj_day <= day)
        cur -= np.bincount(
            self.adj_codes[m_cn], weights=self.adj_amount_rc[m_cn], minlength=g
        )
        out[:, 0] = cur
        return out

    def _roll(
        self, snap: Snapshot, prev: Snapshot, g: int, n_b: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Balance per bucket at the previous month end, and the part of it that
        sits exactly one bucket older at as_of."""
        prev_days = prev.days_past_due if self.basis == "due_date" else prev.age_days
        prev_bucket = assign_buckets(prev_days, self.edges, self.basis)
        prev_pos = prev.positive & (prev_bucket < n_b - 1)
        cur_bucket = np.full(self.n_inv, -1, dtype=np.int64)
        cur_bal = np.zeros(self.n_inv)
        cur_days = snap.days_past_due if self.basis == "due_date" else snap.age_days
        open_now = snap.positive
        cur_bucket[snap.ix[open_now]] = assign_buckets(
            cur_days[open_now], self.edges, self.basis
        )
        cur_bal[snap.ix[open_now]] = snap.balance_rc[open_now]

        ix = prev.ix[prev_pos]
        pb = prev_bucket[prev_pos]
        pcodes = self.inv_codes[ix]
        rolled = cur_bucket[ix] == pb + 1
        width = n_b - 1
        den = np.bincount(
            pcodes * width + pb, weights=prev.balance_rc[prev_pos], minlength=g * width
        )
        num = np.bincount(
            pcodes[rolled] * width + pb[rolled],
            weights=cur_bal[ix][rolled],
            minlength=g * width,
        )
        return num.reshape(g, width), den.reshape(g, width)

    def disputes_at(self, day: int) -> np.ndarray:
        """Per invoice: in dispute at ``day`` (the rule of `Ledger.open_items`).

        Invoices with dispute activities follow them: open from a
        ``dispute_opened`` until a later ``dispute_resolved`` (resolved sorts
        after opened on the same day), closed before their first event. The
        others keep their ``disputed`` flag.
        """
        if self._dispute_events is None:
            act = self.ledger.activities
            kind = act["kind"].to_numpy(dtype=object)
            ixv = act["inv_ix"].to_numpy(dtype=np.int64)
            keep = ((kind == "dispute_opened") | (kind == "dispute_resolved")) & (
                ixv >= 0
            )
            ev_inv = ixv[keep]
            ev_day = datetimes_to_days(act["date"])[keep]
            ev_resolved = (kind[keep] == "dispute_resolved").astype(np.int8)
            order = np.lexsort((ev_resolved, ev_day, ev_inv))
            self._dispute_events = (
                ev_inv[order],
                ev_day[order],
                ev_resolved[order],
                np.unique(ev_inv),
            )
        ev_inv, ev_day, ev_resolved, tracked = self._dispute_events
        flags = self.ledger.invoices["disputed"].to_numpy(dtype=bool).copy()
        flags[tracked] = False
        known = ev_day <= day
        inv_k = ev_inv[known]
        if len(inv_k):
            last = np.append(inv_k[1:] != inv_k[:-1], True)
            flags[inv_k[last]] = ev_resolved[known][last] == 0
        return flags

    def promise_status(self, day: int) -> np.ndarray:
        """Status of every promise at ``day``: 0 not made yet or still open,
        1 kept, 2 broken.

        A promise is kept when the customer's payments dated from the promise
        to ``promised_date + 3 days`` (and ≤ ``day``) cover the promised amount
        (any payment, when no amount was given); broken when that deadline has
        passed without it.
        """
        cached = self._status_cache.get(day)
        if cached is not None:
            return cached
        n = len(self.prom_due)
        if n == 0:
            return np.zeros(0, dtype=np.int8)
        deadline = self.prom_due + PROMISE_GRACE_DAYS
        if self._pay_index is None:
            # once: the outcome of every promise whose deadline has passed
            self._pay_index = index_payments(
                self.pay_cust, self.pay_day, self.pay_amount_rc
            )
            received = sum_indexed_payments(
                self._pay_index, self.prom_cust, self.prom_made, deadline
            )
            self._final_kept = self._covers(received, self.prom_amount_rc)
        made = self.prom_made <= day
        closed = made & (deadline <= day)
        status = np.zeros(n, dtype=np.int8)
        status[closed & self._final_kept] = 1
        status[closed & ~self._final_kept] = 2
        # promises still running at day: only payments up to day count
        running = np.flatnonzero(made & ~closed)
        received = sum_indexed_payments(
            self._pay_index,
            self.prom_cust[running],
            self.prom_made[running],
            np.full(len(running), day, dtype=np.int64),
        )
        status[running[self._covers(received, self.prom_amount_rc[running])]] = 1
        self._status_cache = {day: status}
        return status

    @staticmethod
    def _covers(received: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """Whether payments received keep a promise (any payment when the
        promise named no amount)."""
        return np.where(
            np.isnan(amount),
            received > BALANCE_EPSILON,
            received >= amount - BALANCE_EPSILON,
        )

    def open_promise_mask(self, day: int) -> np.ndarray:
        """Per customer code: whether the customer has an open promise to pay."""
        status = self.promise_status(day)
        deadline = self.prom_due + PROMISE_GRACE_DAYS
        open_ = (self.prom_made <= day) & (status == 0) & (deadline > day)
        mask = np.zeros(len(self.customer_values), dtype=bool)
        cust = self.prom_cust[open_]
        mask[cust[cust >= 0]] = True
        return mask

    def customer_table(
        self, snap: Snapshot, day: int, codes: np.ndarray
    ) -> pd.DataFrame:
        """One row per (group, customer) with a past-due balance at ``day``:
        ``code, customer_id, past_due, oldest_dpd, open_disputes, open_promise,
        stage`` (stage index into `STAGES`)."""
        past_due = snap.positive & (snap.days_past_due > 0)
        ix = snap.ix[past_due]
        cust_codes = self.inv_cust[ix]
        n_c = max(len(self.customer_values), 1)
        pair = codes[past_due].astype(np.int64) * n_c + cust_codes
        pairs, pair_ix = np.unique(pair, return_inverse=True)
        amount = np.bincount(pair_ix, weights=snap.balance_rc[past_due])
        oldest = np.zeros(len(pairs), dtype=np.int64)
        np.maximum.at(oldest, pair_ix, snap.days_past_due[past_due])
        disputes = np.bincount(
            pair_ix, weights=snap.in_dispute[past_due].astype(float)
        ).astype(np.int64)
        cust_of_pair = pairs % n_c
        customer_ids = self.customer_values[cust_of_pair]
        promised = self.open_promise_mask(day)[cust_of_pair]
        stage = np.searchsorted(_STAGE_EDGES, oldest, side="left")
        stage = np.where(promised, STAGES.index("promise_to_pay"), stage)
        stage = np.where(disputes > 0, STAGES.index("dispute"), stage)
        return pd.DataFrame(
            {
                "code": pairs // n_c,
                "customer_id": customer_ids,
                "past_due": amount,
                "oldest_dpd": oldest,
                "open_disputes": disputes,
                "open_promise": promised,
                "stage": stage.astype(np.int64),
            }
        )

    def _pipeline(
        self, snap: Snapshot, day: int, codes: np.ndarray, g: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Customers per pipeline stage (count, past-due amount): per group, shape
        (G, S), and overall, shape (S,), where a customer counts once."""
        n_s = len(STAGES)
        table = self.customer_table(snap, day, codes)
        flat = table["code"].to_numpy() * n_s + table["stage"].to_numpy()
        past_due = table["past_due"].to_numpy(dtype=float)
        count = np.bincount(flat, minlength=g * n_s).reshape(g, n_s).astype(float)
        amount = np.bincount(flat, weights=past_due, minlength=g * n_s).reshape(g, n_s)
        if self.by is None:
            return count, amount, count[0].copy(), amount[0].copy()
        whole = self.customer_table(snap, day, np.zeros_like(codes))
        stage = whole["stage"].to_numpy()
        all_count = np.bincount(stage, minlength=n_s).astype(float)
        all_amount = np.bincount(
            stage, weights=whole["past_due"].to_numpy(dtype=float), minlength=n_s
        )
        return count, amount, all_count, all_amount
