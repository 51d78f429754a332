"""Collector worklist and overdue-invoice lists (public via `arforecast.kpis`)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from arforecast._kpi_engine import STAGES, KpiEngine
from arforecast._kpi_math import (
    aging_labels,
    assign_buckets,
    datetimes_to_days,
    resolve_window,
    to_timestamp,
)
from arforecast.exceptions import ConfigError
from arforecast.ledger import Ledger

__all__ = ["NEXT_ACTIONS", "collector_worklist", "top_overdue_invoices"]

logger = logging.getLogger(__name__)

#: Suggested next step per pipeline stage (collector worklist).
NEXT_ACTIONS = {
    "reminder": "send a payment reminder",
    "follow_up": "call the customer and ask for a payment date",
    "escalation": "escalate: call the customer's finance lead, consider a credit hold",
    "final_demand": "send a final demand; prepare agency referral or write-off review",
    "dispute": "resolve the open dispute with sales/billing",
    "promise_to_pay": "wait for the promised payment, then check it arrived",
}


def collector_worklist(
    ledger: Ledger,
    as_of: object,
    *,
    top: int = 50,
    by: str | None = None,
    window_days: int | None = None,
) -> pd.DataFrame:
    """Past-due accounts ranked by what is at stake, with reasons and next steps.

    Parameters
    ----------
    ledger : Ledger
    as_of : date-like
    top : int, default=50
        Rows to return (per group with ``by``).
    by : str, optional
        Invoice column to split the list by (e.g. ``"portfolio"``); a customer
        with past-due items in two groups appears in both, with each group's part.
    window_days : int, optional
        Look-back for broken promises (default: the 3 months ending at as_of).

    Returns
    -------
    pandas.DataFrame
        One row per account, best first: ``rank``, [``by``], ``customer_id``,
        ``name`` (from the customers table, else None), ``portfolio``,
        ``past_due_amount`` (reporting currency), ``oldest_days_past_due``,
        ``broken_promises`` (promised date in the window, not kept),
        ``open_disputes`` (past-due invoices in dispute), ``open_promise``,
        ``stage``, ``next_action``, ``score``, ``reasons``.

    Notes
    -----
    score = past_due_amount × (1 + min(oldest_days_past_due, 360) / 90)
    × (1 + 0.5 × broken_promises + 0.25 × [open dispute])

    An amount twice as large doubles the score; every 90 days of age add the
    past-due amount once more (capped at a year); each broken promise adds
    half, an open dispute a quarter. Ties break by age, then customer id.
    ``reasons`` spells the inputs out: "EUR 12,400 past due; oldest 94 days;
    2 broken promises; 1 open dispute".
    """
    stamp = to_timestamp(as_of)
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
        raise ConfigError(f"`top` must be a positive whole number; got {top!r}.")
    engine = KpiEngine(ledger, by=by)
    day = int(datetimes_to_days(np.array([stamp], dtype="datetime64[ns]"))[0])
    snap = engine.snapshot(stamp)
    codes = engine.inv_codes[snap.ix]
    table = engine.customer_table(snap, day, codes)

    # broken promises per customer, promised date in the window
    start = resolve_window(stamp, window_days)[0]
    start_day = int(datetimes_to_days(np.array([start], dtype="datetime64[ns]"))[0])
    status = engine.promise_status(day)
    broken = (status == 2) & (engine.prom_due >= start_day) & (engine.prom_due <= day)
    counts = pd.Series(engine.prom_customer_id[broken]).value_counts()
    table["broken_promises"] = (
        table["customer_id"].map(counts).fillna(0).astype(np.int64).to_numpy()
    )

    # names and portfolios
    customers = ledger.customers.drop_duplicates("customer_id").set_index("customer_id")
    names = (
        customers["name"] if "name" in customers.columns else pd.Series(dtype=object)
    )
    table["name"] = table["customer_id"].map(names).astype(object)
    table["name"] = table["name"].where(table["name"].notna(), None)
    table["portfolio"] = _main_portfolio(ledger, snap, table["customer_id"])

    # score and ranking
    dispute = (table["open_disputes"] > 0).astype(float)
    table["score"] = (
        table["past_due"]
        * (1.0 + np.minimum(table["oldest_dpd"], 360) / 90.0)
        * (1.0 + 0.5 * table["broken_promises"] + 0.25 * dispute)
    )
    table = table.sort_values(
        ["code", "score", "oldest_dpd", "customer_id"],
        ascending=[True, False, False, True],
        kind="mergesort",
    )
    table = table.groupby("code", sort=True).head(int(top)).reset_index(drop=True)
    table["rank"] = table.groupby("code").cumcount() + 1
    stage_names = np.asarray(STAGES, dtype=object)[table["stage"].to_numpy()]
    table["stage"] = stage_names
    table["next_action"] = table["stage"].map(NEXT_ACTIONS)
    table["reasons"] = _reasons(table, ledger.currency)

    out = table.rename(
        columns={"past_due": "past_due_amount", "oldest_dpd": "oldest_days_past_due"}
    )
    columns = [
        "rank",
        "customer_id",
        "name",
        "portfolio",
        "past_due_amount",
        "oldest_days_past_due",
        "broken_promises",
        "open_disputes",
        "open_promise",
        "stage",
        "next_action",
        "score",
        "reasons",
    ]
    if by is not None:
        if by != "customer_id":
            keys = np.asarray(engine.keys, dtype=object)
            out[by] = keys[out["code"].to_numpy()]
        columns.insert(0, by)
    out = out[list(dict.fromkeys(columns))]
    out["score"] = out["score"].round(2)
    out["past_due_amount"] = out["past_due_amount"].round(2)
    logger.info("worklist as of %s: %d accounts listed", stamp.date(), len(out))
    return out.reset_index(drop=True)


def top_overdue_invoices(ledger: Ledger, as_of: object, n: int = 20) -> pd.DataFrame:
    """The ``n`` largest past-due invoices at ``as_of``.

    Returns
    -------
    pandas.DataFrame
        ``invoice_id, customer_id, name, portfolio, invoice_date, due_date,
        days_past_due, bucket, currency, balance, balance_rc, in_dispute``,
        largest ``balance_rc`` first (ties: older first, then invoice id).
    """
    stamp = to_timestamp(as_of)
    items = ledger.open_items(stamp)
    items = items[items["days_past_due"] > 0]
    items = items.sort_values(
        ["balance_rc", "days_past_due", "invoice_id"],
        ascending=[False, False, True],
        kind="mergesort",
    ).head(int(n))
    labels = np.asarray(aging_labels(), dtype=object)
    items = items.assign(
        bucket=labels[assign_buckets(items["days_past_due"].to_numpy())]
    )
    customers = ledger.customers.drop_duplicates("customer_id").set_index("customer_id")
    names = (
        customers["name"] if "name" in customers.columns else pd.Series(dtype=object)
    )
    items["name"] = items["customer_id"].map(names).astype(object)
    items["name"] = items["name"].where(items["name"].notna(), None)
    columns = [
        "invoice_id",
        "customer_id",
        "name",
        "portfolio",
        "invoice_date",
        "due_date",
        "days_past_due",
        "bucket",
        "currency",
        "balance",
        "balance_rc",
        "in_dispute",
    ]
    return items[columns].reset_index(drop=True)


def _main_portfolio(ledger: Ledger, snap: Any, customer_ids: pd.Series) -> np.ndarray:
    """Each customer's portfolio: the customers table's, else that of its largest
    past-due invoice."""
    inv = ledger.invoices
    past_due = snap.positive & (snap.days_past_due > 0)
    frame = pd.DataFrame(
        {
            "customer_id": inv["customer_id"].to_numpy(dtype=object)[snap.ix[past_due]],
            "portfolio": inv["portfolio"].to_numpy(dtype=object)[snap.ix[past_due]],
            "balance": snap.balance_rc[past_due],
        }
    )
    largest = (
        frame.sort_values("balance", ascending=False, kind="mergesort")
        .drop_duplicates("customer_id")
        .set_index("customer_id")["portfolio"]
    )
    cus = ledger.customers.dropna(subset=["portfolio"]).drop_duplicates("customer_id")
    own = cus.set_index("customer_id")["portfolio"]
    result = customer_ids.map(own).astype(object)
    fallback = customer_ids.map(largest).astype(object)
    return result.where(result.notna(), fallback).to_numpy(dtype=object)


def _reasons(table: pd.DataFrame, currency: str) -> pd.Series:
    """Human-readable reasons, vectorized over the (short) worklist."""
    if len(table) == 0:
        return pd.Series([], index=table.index, dtype=object)
    amount = table["past_due"].round(0).map("{:,.0f}".format)
    text = (
        currency
        + " "
        + amount
        + " past due; oldest "
        + table["oldest_dpd"].astype(str)
        + " days"
    )
    broken = table["broken_promises"]
    text = text + np.where(
        broken > 0,
        "; "
        + broken.astype(str)
        + np.where(broken == 1, " broken promise", " broken promises"),
        "",
    )
    disputes = table["open_disputes"]
    text = text + np.where(
        disputes > 0,
        "; "
        + disputes.astype(str)
        + np.where(disputes == 1, " open dispute", " open disputes"),
        "",
    )
    text = text + np.where(table["open_promise"], "; open promise to pay", "")
    return text.astype(object)
