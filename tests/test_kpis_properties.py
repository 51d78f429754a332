"""Property tests of the KPI engine over random small ledgers (hypothesis).

Profiles: ``HYPOTHESIS_PROFILE=ci`` (few examples, the default) or ``dev`` (many).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arforecast.kpis import KPI_NAMES, compute_kpis, kpis_to_dict
from arforecast.ledger import Ledger

settings.register_profile(
    "ci",
    max_examples=10,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

BASE = pd.Timestamp("2022-01-01")
RATES = ("collection_rate", "ptp_kept_rate", "write_off_ratio")


@st.composite
def ledgers(draw):
    """A random ledger: invoices in 2022, payments (some over, some unknown),
    credit notes and write-offs, promises to pay, a portfolio column."""
    n_inv = draw(st.integers(1, 12))
    inv_days = draw(st.lists(st.integers(0, 364), min_size=n_inv, max_size=n_inv))
    terms = draw(st.lists(st.integers(0, 90), min_size=n_inv, max_size=n_inv))
    amounts = draw(
        st.lists(st.integers(0, 500_000), min_size=n_inv, max_size=n_inv)
    )  # cents
    customers = draw(st.lists(st.integers(0, 3), min_size=n_inv, max_size=n_inv))
    portfolios = draw(
        st.lists(st.sampled_from(["N", "S"]), min_size=n_inv, max_size=n_inv)
    )
    invoices = pd.DataFrame(
        {
            "invoice_id": [f"I{k}" for k in range(n_inv)],
            "customer_id": [f"C{c}" for c in customers],
            "invoice_date": [BASE + pd.Timedelta(days=d) for d in inv_days],
            "due_date": [
                BASE + pd.Timedelta(days=d + t)
                for d, t in zip(inv_days, terms, strict=True)
            ],
            "amount": [a / 100 for a in amounts],
            "portfolio": portfolios,
        }
    )

    n_pay = draw(st.integers(0, 15))
    pay_rows = []
    for _ in range(n_pay):
        target = draw(st.integers(-1, n_inv - 1))  # -1: an unknown invoice
        day = draw(st.integers(0, 500))
        cents = draw(st.integers(1, 600_000))
        pay_rows.append(
            (
                "ZZZ" if target < 0 else f"I{target}",
                BASE + pd.Timedelta(days=day),
                cents / 100,
            )
        )
    payments = pd.DataFrame(pay_rows, columns=["invoice_id", "payment_date", "amount"])

    n_adj = draw(st.integers(0, 4))
    adj_rows = []
    for _ in range(n_adj):
        target = draw(st.integers(0, n_inv - 1))
        day = draw(st.integers(0, 500))
        kind = draw(st.sampled_from(["credit_note", "write_off"]))
        adj_rows.append(
            (
                f"I{target}",
                BASE + pd.Timedelta(days=day),
                draw(st.integers(1, 200_000)) / 100,
                kind,
            )
        )
    adjustments = pd.DataFrame(
        adj_rows, columns=["invoice_id", "date", "amount", "kind"]
    )

    n_ptp = draw(st.integers(0, 4))
    act_rows = []
    for _ in range(n_ptp):
        made = draw(st.integers(0, 450))
        act_rows.append(
            (
                f"C{draw(st.integers(0, 3))}",
                BASE + pd.Timedelta(days=made),
                "promise_to_pay",
                draw(st.integers(1, 300_000)) / 100,
                BASE + pd.Timedelta(days=made + draw(st.integers(0, 20))),
            )
        )
    activities = pd.DataFrame(
        act_rows,
        columns=["customer_id", "date", "kind", "promised_amount", "promised_date"],
    )
    led = Ledger.from_frames(
        invoices,
        payments,
        adjustments if len(adjustments) else None,
        activities if len(activities) else None,
        currency="EUR",
    )
    as_of = BASE + pd.Timedelta(days=draw(st.integers(0, 520)))
    return led, as_of


@given(ledgers())
def test_buckets_plus_unapplied_credit_equal_open_ar(case):
    led, as_of = case
    res = compute_kpis(led, as_of)
    assert sum(res.aging.values()) + res.unapplied_credit == res.open_ar
    assert all(v >= 0 for v in res.aging.values())
    assert res.unapplied_credit <= 0
    ledger_unapplied = float(led.unapplied_credit(as_of)["amount_rc"].sum())
    assert res.unapplied_credit == pytest.approx(ledger_unapplied, abs=1e-6)
    out = kpis_to_dict(res)
    cents = sum(round(v * 100) for v in out["aging"].values())
    assert cents + round(out["unapplied_credit"] * 100) == round(out["open_ar"] * 100)


@given(ledgers())
def test_rates_within_bounds_and_dso_not_negative(case):
    led, as_of = case
    res = compute_kpis(led, as_of)
    for name in KPI_NAMES:
        value = res.kpis[name]
        assert (value is None) == (name in res.missing)
        assert value is None or np.isfinite(value)
    assert res.ptp_kept_rate is None or 0.0 <= res.ptp_kept_rate <= 1.0
    assert res.write_off_ratio is None or res.write_off_ratio >= 0.0
    assert res.collection_rate is None or res.collection_rate >= 0.0
    for value in res.roll_rates.values():
        assert value is None or 0.0 <= value <= 1.0 + 1e-12
    if res.unapplied_credit == 0 and res.open_ar > 0:
        assert 0.0 <= res.percent_current <= 1.0 + 1e-12
        assert 0.0 <= res.dispute_rate <= 1.0 + 1e-12
    if res.open_ar >= 0:
        for name in ("dso", "dso_countback", "best_possible_dso"):
            assert res.kpis[name] is None or res.kpis[name] >= 0.0
    for name in ("avg_days_to_pay", "weighted_days_to_pay", "days_beyond_terms"):
        assert res.kpis[name] is None or res.kpis[name] >= 0.0
    assert 0 <= res.accounts_in_collections["count"]
    stages = res.accounts_in_collections["stages"]
    assert (
        sum(s["count"] for s in stages.values()) == res.accounts_in_collections["count"]
    )


@given(ledgers())
def test_portfolio_groups_add_up_to_the_overall(case):
    led, as_of = case
    res = compute_kpis(led, as_of, by="portfolio")
    plain = compute_kpis(led, as_of)
    assert sum(g.open_ar for g in res.groups) == pytest.approx(plain.open_ar, abs=1e-6)
    assert sum(g.current_ar for g in res.groups) == pytest.approx(
        plain.current_ar, abs=1e-6
    )
    for label in plain.aging:
        total = sum(g.aging[label] for g in res.groups)
        assert total == pytest.approx(plain.aging[label], abs=1e-6)
    for name in ("net_credit_sales", "cash_collected", "write_offs", "ar_window_start"):
        total = sum(g.totals[name] for g in res.groups)
        assert total == pytest.approx(plain.totals[name], abs=1e-6)
    for name in KPI_NAMES:
        if plain.kpis[name] is None:
            assert res.kpis[name] is None
        else:
            assert res.kpis[name] == pytest.approx(plain.kpis[name], rel=1e-9, abs=1e-9)
