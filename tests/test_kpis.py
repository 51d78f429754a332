"""KPI engine tests: every KPI pinned on tiny hand-computed ledgers."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from arforecast._kpi_math import (
    assign_buckets,
    countback_dso_vector,
    month_days_back,
    resolve_window,
    sum_payments_in_windows,
    validate_aging_edges,
)
from arforecast.exceptions import (
    ArforecastWarning,
    ConfigError,
    DataError,
    LedgerValidationError,
)
from arforecast.industry import BENCHMARK_COLUMNS, load_industry_benchmarks
from arforecast.kpis import (
    KPI_NAMES,
    OVERALL_LABEL,
    STAGES,
    aging_labels,
    bucket_aging,
    collector_worklist,
    compute_dso,
    compute_dso_countback,
    compute_kpis,
    kpi_trend,
    kpis_to_dict,
    kpis_to_frame,
    month_ends,
    top_overdue_invoices,
)
from arforecast.ledger import Ledger

INV_COLS = ["invoice_id", "customer_id", "invoice_date", "due_date", "amount"]


def _ledger(invoices, payments=(), adjustments=(), activities=None, **kwargs):
    inv = pd.DataFrame(invoices)
    pay = pd.DataFrame(list(payments), columns=["invoice_id", "payment_date", "amount"])
    adj = pd.DataFrame(
        list(adjustments), columns=["invoice_id", "date", "amount", "kind"]
    )
    act = None if activities is None else pd.DataFrame(activities)
    kwargs.setdefault("currency", "EUR")
    return Ledger.from_frames(
        inv,
        pay,
        adj if len(adj) else None,
        act,
        kwargs.pop("customers", None),
        kwargs.pop("fx_rates", None),
        **kwargs,
    )


def _inv(rows, **extra):
    frame = pd.DataFrame(rows, columns=INV_COLS)
    for name, values in extra.items():
        frame[name] = values
    return frame


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def dso_ledger() -> Ledger:
    """Sales Jan 70,000 / Feb 80,000 / Mar 100,000 (2023); AR 212,000 on 31 Mar."""
    inv = _inv(
        [
            ("J", "C1", "2023-01-15", "2023-02-14", 70_000.0),
            ("F", "C1", "2023-02-15", "2023-03-17", 80_000.0),
            ("M", "C2", "2023-03-15", "2023-04-14", 100_000.0),
        ]
    )
    return _ledger(inv, [("J", "2023-02-20", 38_000.0)])


@pytest.fixture(scope="module")
def pinned() -> Ledger:
    """The hand-computed ledger of docs/kpis.md ("The pinned example")."""
    inv = _inv(
        [
            ("A", "C1", "2022-12-01", "2022-12-31", 1000.0),
            ("B", "C1", "2023-01-10", "2023-02-09", 2000.0),
            ("C", "C2", "2022-11-15", "2022-12-15", 3000.0),
            ("D", "C2", "2023-02-01", "2023-03-03", 1500.0),
            ("E", "C3", "2023-03-10", "2023-04-09", 4000.0),
            ("F", "C3", "2022-10-01", "2022-10-31", 500.0),
            ("G", "C4", "2023-01-05", "2023-02-04", 1000.0),
            ("H", "C5", "2023-02-10", "2023-02-25", 800.0),
        ],
        portfolio=["North"] * 4 + ["South"] * 4,
        disputed=[False, False, True, False, False, False, False, False],
    )
    pay = [
        ("A", "2023-01-20", 1000.0),
        ("B", "2023-02-19", 2000.0),
        ("G", "2023-03-01", 300.0),
    ]
    adj = [
        ("F", "2023-02-15", 500.0, "write_off"),
        ("G", "2023-01-20", 200.0, "credit_note"),
    ]
    act = pd.DataFrame(
        {
            "customer_id": ["C1", "C4", "C5", "C2"],
            "date": ["2023-02-10", "2023-03-01", "2023-03-28", "2023-03-02"],
            "kind": ["promise_to_pay", "promise_to_pay", "promise_to_pay", "call"],
            "promised_amount": [2000.0, 500.0, 800.0, None],
            "promised_date": ["2023-02-17", "2023-03-10", "2023-04-03", None],
        }
    )
    customers = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3", "C4", "C5"],
            "name": ["Alpha GmbH", "Beta <b>AG</b>", "Gamma", "Delta", "Epsilon"],
        }
    )
    return _ledger(inv, pay, adj, act, customers=customers)


# ----------------------------------------------------------------------------- DSO


def test_standard_and_countback_dso_match_the_design_example(dso_ledger):
    res = compute_kpis(dso_ledger, "2023-03-31")
    assert res.open_ar == pytest.approx(212_000.0)
    assert res.window_days == 90
    assert res.totals["net_credit_sales"] == pytest.approx(250_000.0)
    assert round(res.dso, 2) == 76.32
    assert round(res.dso_countback, 2) == 73.17
    out = kpis_to_dict(res)
    assert (out["dso"], out["dso_countback"]) == (76.32, 73.17)


def test_pure_dso_helpers_give_the_design_numbers():
    assert round(compute_dso(212_000, 250_000, 90), 2) == 76.32
    assert compute_dso(1.0, 0.0, 90) is None
    days = month_days_back(pd.Timestamp("2023-03-31"), 3)
    assert days.tolist() == [31, 28, 31]
    value = compute_dso_countback(212_000, [100_000, 80_000, 70_000], days)
    assert round(value, 2) == 73.17


@pytest.mark.parametrize(
    ("open_ar", "sales", "expected", "status"),
    [
        (0.0, [10.0, 10.0], 0.0, 0),
        (10.0, [10.0, 10.0], 31.0, 0),
        (15.0, [10.0, 0.0, 10.0], 31 + 28 + 15.5, 0),
        (50.0, [10.0, 10.0], math.nan, 2),
        (-5.0, [10.0], math.nan, 1),
    ],
    ids=["zero-ar", "exact-month", "skips-empty-month", "exhausted", "negative"],
)
def test_countback_walks_months_back(open_ar, sales, expected, status):
    days = np.array([31, 28, 31])[: len(sales)]
    values, codes = countback_dso_vector(np.array([open_ar]), np.array([sales]), days)
    assert codes[0] == status
    if status == 0:
        assert values[0] == pytest.approx(expected)
    else:
        assert np.isnan(values[0])


def test_countback_treats_amounts_within_half_a_cent_as_equal():
    # 3247.14 - 3135.02 is 112.1199999... in floating point: still the whole month
    values, status = countback_dso_vector(
        np.array([3247.14]), np.array([[3135.02, 112.12]]), np.array([13, 31])
    )
    assert (values[0], status[0]) == (44.0, 0)


def test_countback_partial_first_month_counts_elapsed_days():
    as_of = pd.Timestamp("2023-03-15")
    days = month_days_back(as_of, 2)
    assert days.tolist() == [15, 28]
    assert compute_dso_countback(150.0, [100.0, 100.0], days) == pytest.approx(29.0)


# ----------------------------------------------------------------------------- window


def test_default_window_is_three_calendar_months():
    start, end, days = resolve_window(pd.Timestamp("2023-03-31"))
    assert (start, end, days) == (
        pd.Timestamp("2023-01-01"),
        pd.Timestamp("2023-03-31"),
        90,
    )
    start, _, days = resolve_window(pd.Timestamp("2023-02-28"))
    assert (start, days) == (pd.Timestamp("2022-12-01"), 90)
    start, _, days = resolve_window(pd.Timestamp("2023-03-31"), 30)
    assert (start, days) == (pd.Timestamp("2023-03-02"), 30)


def test_window_days_overrides_the_window(dso_ledger):
    res = compute_kpis(dso_ledger, "2023-03-31", window_days=31)
    assert res.window_start == pd.Timestamp("2023-03-01")
    assert res.totals["net_credit_sales"] == pytest.approx(100_000.0)
    assert res.dso == pytest.approx(212_000 / 100_000 * 31)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "90", True], ids=str)
def test_bad_window_days_is_rejected(dso_ledger, bad):
    with pytest.raises(ConfigError, match="window_days"):
        compute_kpis(dso_ledger, "2023-03-31", window_days=bad)


def test_month_ends_lists_the_last_n_month_ends():
    ends = month_ends("2023-03-31", 24)
    assert len(ends) == 24
    assert ends[0] == pd.Timestamp("2021-04-30")
    assert ends[-1] == pd.Timestamp("2023-03-31")
    assert month_ends("2023-03-15", 1) == [pd.Timestamp("2023-02-28")]
    with pytest.raises(ConfigError, match="positive whole number"):
        month_ends("2023-03-31", 0)


# ----------------------------------------------------------------------------- aging


def test_aging_boundaries_far_in_the_past():
    as_of = pd.Timestamp("2001-06-30")
    offsets = [-10, 0, 1, 30, 31, 60, 61, 90, 91, 120, 121]
    rows = [
        (
            f"I{k}",
            "C1",
            "2001-01-01",
            (as_of - pd.Timedelta(days=d)).date().isoformat(),
            2.0**k,
        )
        for k, d in enumerate(offsets)
    ]
    led = _ledger(_inv(rows))
    res = compute_kpis(led, "2001-06-30")
    amount = {d: 2.0**k for k, d in enumerate(offsets)}
    expected = {
        "current": amount[-10] + amount[0],
        "1-30": amount[1] + amount[30],
        "31-60": amount[31] + amount[60],
        "61-90": amount[61] + amount[90],
        "91-120": amount[91] + amount[120],
        "120+": amount[121],
    }
    assert res.aging == expected
    assert res.current_ar == expected["current"]
    assert sum(res.aging.values()) + res.unapplied_credit == res.open_ar


def test_assign_buckets_edges():
    assert assign_buckets([-1, 0, 1, 30, 31]).tolist() == [0, 0, 1, 1, 2]
    assert assign_buckets([0, 30, 31], (30,), basis="invoice_date").tolist() == [
        0,
        0,
        1,
    ]
    assert aging_labels((15, 45)) == ["current", "1-15", "16-45", "45+"]


@pytest.mark.parametrize(
    "edges", [(30, 30), (0, 30), (60, 30), ("a",), (), (30.5,)], ids=str
)
def test_bad_aging_edges_are_rejected(edges):
    with pytest.raises(ConfigError, match="aging_edges"):
        validate_aging_edges(edges)


def test_bad_aging_basis_is_rejected():
    with pytest.raises(ConfigError, match="aging_basis"):
        aging_labels(basis="posting_date")


def test_custom_edges_and_invoice_date_basis(pinned):
    res = compute_kpis(pinned, "2023-03-31", aging_edges=(60,))
    assert res.aging == {"current": 4000.0, "1-60": 2800.0, "60+": 3000.0}
    res = compute_kpis(pinned, "2023-03-31", aging_basis="invoice_date")
    # ages: C 136, D 58, E 21, G 85, H 49 days since the invoice date
    assert res.aging == {
        "0-30": 4000.0,
        "31-60": 2300.0,
        "61-90": 500.0,
        "91-120": 0.0,
        "120+": 3000.0,
    }
    assert res.current_ar == 4000.0


def test_bucket_aging_sums_amounts_per_label():
    series = bucket_aging([0, 15, 45, 200], [100.0, 50.0, 25.0, 10.0])
    assert series.to_dict() == {
        "current": 100.0,
        "1-30": 50.0,
        "31-60": 25.0,
        "61-90": 0.0,
        "91-120": 0.0,
        "120+": 10.0,
    }
    with pytest.raises(ConfigError, match="same length"):
        bucket_aging([1, 2], [1.0])


def test_partial_payments_stay_in_the_invoices_own_bucket():
    inv = _inv([("X", "C1", "2023-01-10", "2023-02-09", 1000.0)])
    led = _ledger(inv, [("X", "2023-02-15", 300.0), ("X", "2023-03-20", 700.0)])
    jan, feb, mar = (
        compute_kpis(led, d) for d in ("2023-01-31", "2023-02-28", "2023-03-31")
    )
    assert (jan.open_ar, feb.open_ar, mar.open_ar) == (1000.0, 700.0, 0.0)
    assert jan.aging["current"] == 1000.0
    assert feb.aging["1-30"] == 700.0
    assert sum(mar.aging.values()) == 0.0


def test_overpayment_and_unknown_invoice_are_unapplied_credit():
    inv = _inv(
        [
            ("X", "C1", "2023-01-10", "2023-02-09", 1000.0),
            ("Y", "C2", "2023-03-01", "2023-03-31", 400.0),
        ]
    )
    led = _ledger(inv, [("X", "2023-02-01", 1200.0), ("ZZZ", "2023-02-02", 50.0)])
    res = compute_kpis(led, "2023-03-31")
    assert res.unapplied_credit == pytest.approx(-250.0)
    assert res.aging["current"] == 400.0
    assert res.open_ar == pytest.approx(150.0)
    assert sum(res.aging.values()) + res.unapplied_credit == res.open_ar
    ledger_total = float(led.unapplied_credit("2023-03-31")["amount_rc"].sum())
    assert res.unapplied_credit == pytest.approx(ledger_total)


def test_no_kpi_reads_the_machine_clock(pinned, monkeypatch):
    def clock(*args, **kwargs):
        raise AssertionError("the machine clock was read")

    monkeypatch.setattr(pd.Timestamp, "now", clock)
    monkeypatch.setattr(pd.Timestamp, "today", clock)
    compute_kpis(pinned, "2023-03-31", by="portfolio")
    kpi_trend(pinned, month_ends("2023-03-31", 2))
    collector_worklist(pinned, "2023-03-31")


def test_events_after_as_of_do_not_count(pinned):
    before = compute_kpis(pinned, "2023-02-28")
    # E (dated 2023-03-10) and the G payment (2023-03-01) are in the future
    assert before.open_ar == pytest.approx(1500 + 800 + 3000 + 800)
    assert before.totals["cash_collected"] == pytest.approx(3000.0)


# ----------------------------------------------------------------------------- FX


def test_currencies_convert_at_the_document_date_rate():
    inv = _inv(
        [
            ("U", "C1", "2023-01-15", "2023-02-14", 1000.0),
            ("E", "C2", "2023-02-01", "2023-03-03", 500.0),
        ],
        currency=["USD", "EUR"],
    )
    fx = pd.DataFrame(
        {
            "date": ["2023-01-01", "2023-02-01"],
            "currency": ["USD", "USD"],
            "rate": [0.9, 0.95],
        }
    )
    pay = pd.DataFrame(
        {
            "invoice_id": ["U"],
            "payment_date": ["2023-02-10"],
            "amount": [500.0],
            "currency": ["USD"],
        }
    )
    led = Ledger.from_frames(inv, pay, fx_rates=fx, currency="EUR")
    res = compute_kpis(led, "2023-03-31")
    assert res.totals["invoiced_sales"] == pytest.approx(900.0 + 500.0)
    assert res.totals["cash_collected"] == pytest.approx(475.0)
    # the USD balance (500) stays at the invoice-date rate 0.9
    assert res.open_ar == pytest.approx(450.0 + 500.0)
    assert res.currency == "EUR"


def test_missing_fx_rate_names_the_currency():
    inv = _inv([("G", "C1", "2023-01-15", "2023-02-14", 10.0)], currency=["GBP"])
    fx = pd.DataFrame({"date": ["2023-01-01"], "currency": ["USD"], "rate": [0.9]})
    with pytest.raises(LedgerValidationError, match="GBP"):
        Ledger.from_frames(inv, fx_rates=fx, currency="EUR")


# ----------------------------------------------------------------------------- missing


def test_zero_denominators_are_none_with_a_reason():
    inv = _inv([("OLD", "C1", "2020-01-10", "2020-02-09", 100.0)])
    led = _ledger(inv)
    res = compute_kpis(led, "2023-03-31")
    assert res.open_ar == 100.0
    for name in ("dso", "best_possible_dso", "add", "write_off_ratio"):
        assert res.kpis[name] is None
        assert res.missing[name] == "no net credit sales in the window"
    for name in ("avg_days_to_pay", "weighted_days_to_pay", "days_beyond_terms"):
        assert res.missing[name] == "no invoice was fully paid in the window"
    assert "ptp_kept_rate" in res.missing
    assert res.cei == 0.0
    text = json.dumps(kpis_to_dict(res))
    data = json.loads(text)
    assert data["dso"] is None
    assert '"dso": null' in text
    assert data["missing"]["dso"] == "no net credit sales in the window"


def test_empty_ar_gives_no_ratio_of_open_ar():
    inv = _inv([("P", "C1", "2023-01-10", "2023-02-09", 100.0)])
    led = _ledger(inv, [("P", "2023-01-20", 100.0)])
    res = compute_kpis(led, "2023-03-31")
    assert res.open_ar == 0.0
    assert res.dso == 0.0
    assert res.percent_current is None
    assert res.missing["percent_current"] == "no open AR"
    assert res.dispute_rate is None


def test_before_first_invoice_everything_is_empty(pinned):
    res = compute_kpis(pinned, "2000-01-31")
    assert res.open_ar == 0.0
    assert res.dso is None
    assert all(v is None for v in res.roll_rates.values())
    assert res.accounts_in_collections["count"] == 0


# ----------------------------------------------------------------------------- pinned


def test_pinned_ledger_balances(pinned):
    res = compute_kpis(pinned, "2023-03-31")
    assert res.aging == {
        "current": 4000.0,
        "1-30": 1500.0,
        "31-60": 1300.0,
        "61-90": 0.0,
        "91-120": 3000.0,
        "120+": 0.0,
    }
    assert res.unapplied_credit == 0.0
    assert res.open_ar == 9800.0
    assert res.current_ar == 4000.0
    assert res.totals == {
        "net_credit_sales": 9100.0,
        "invoiced_sales": 9300.0,
        "credit_notes": 200.0,
        "cash_collected": 3300.0,
        "write_offs": 500.0,
        "ar_window_start": 4500.0,
        "past_due_ar": 5800.0,
        "disputed_ar": 3000.0,
    }


def test_pinned_ledger_kpis(pinned):
    out = kpis_to_dict(compute_kpis(pinned, "2023-03-31"))
    assert out["dso"] == 96.92  # 9800 / 9100 × 90
    assert out["best_possible_dso"] == 39.56  # 4000 / 9100 × 90
    assert out["add"] == 57.36
    assert out["dso_countback"] == 111.7  # 31 + 28 + 31 + 700 / 1000 × 31
    assert out["cei"] == 39.58  # (4500 + 9100 − 9800) / (4500 + 9100 − 4000)
    assert out["collection_rate"] == 0.2426  # 3300 / 13600
    assert out["percent_current"] == 0.4082  # 4000 / 9800
    assert out["ar_turnover"] == 5.16  # (9100 × 365 / 90) / 7150
    assert out["avg_days_to_pay"] == 45.0  # A 50 days, B 40 days
    assert out["weighted_days_to_pay"] == 43.33  # (1000 × 50 + 2000 × 40) / 3000
    assert out["days_beyond_terms"] == 13.33  # (1000 × 20 + 2000 × 10) / 3000
    assert out["dispute_rate"] == 0.3061  # 3000 / 9800
    assert out["ptp_kept_rate"] == 0.5  # C1 kept, C4 broken, C5 not due in W
    assert out["write_off_ratio"] == 0.0549  # 500 / 9100
    assert out["missing"] == {
        "roll_rates.31-60->61-90": "no balance in 31-60 at 2023-02-28",
        "roll_rates.91-120->120+": "no balance in 91-120 at 2023-02-28",
    }


def test_pinned_roll_rates(pinned):
    res = compute_kpis(pinned, "2023-03-31")
    assert res.roll_rates == {
        "current->1-30": 1.0,  # D 1500 current on 28 Feb, 1-30 on 31 Mar
        "1-30->31-60": 1300 / 1600,  # G 800 → 500 and H 800 roll; G was part-paid
        "31-60->61-90": None,
        "61-90->91-120": 1.0,  # C 3000
        "91-120->120+": None,
    }


def test_pinned_pipeline_stages(pinned):
    aic = compute_kpis(pinned, "2023-03-31").accounts_in_collections
    assert aic["count"] == 3
    assert aic["amount"] == 5800.0
    assert aic["stages"] == {
        "reminder": {"count": 0, "amount": 0.0},
        "follow_up": {"count": 1, "amount": 500.0},  # C4, 55 days
        "escalation": {"count": 0, "amount": 0.0},
        "final_demand": {"count": 0, "amount": 0.0},
        "dispute": {"count": 1, "amount": 4500.0},  # C2, C disputed
        "promise_to_pay": {"count": 1, "amount": 800.0},  # C5 promised 3 Apr
    }
    assert tuple(aic["stages"]) == STAGES


def test_age_stages_follow_the_oldest_past_due_item():
    as_of = pd.Timestamp("2023-06-30")
    rows = [
        (
            f"I{d}",
            f"C{d}",
            "2023-01-01",
            (as_of - pd.Timedelta(days=d)).date().isoformat(),
            10.0,
        )
        for d in (1, 30, 31, 60, 61, 90, 91)
    ]
    rows.append(("Y", "C1", "2023-01-01", "2023-07-30", 5.0))  # not due: no effect
    res = compute_kpis(_ledger(_inv(rows)), as_of)
    stages = res.accounts_in_collections["stages"]
    counts = {k: v["count"] for k, v in stages.items()}
    assert counts == {
        "reminder": 2,
        "follow_up": 2,
        "escalation": 2,
        "final_demand": 1,
        "dispute": 0,
        "promise_to_pay": 0,
    }
    assert stages["reminder"]["amount"] == 20.0


def test_dispute_activities_open_and_close_the_dispute_stage():
    inv = _inv([("X", "C1", "2023-01-01", "2023-01-31", 100.0)])
    act = {
        "customer_id": ["C1", "C1"],
        "date": ["2023-02-10", "2023-03-10"],
        "kind": ["dispute_opened", "dispute_resolved"],
        "invoice_id": ["X", "X"],
    }
    led = _ledger(inv, activities=act)
    feb = compute_kpis(led, "2023-02-28")
    mar = compute_kpis(led, "2023-03-31")
    assert feb.accounts_in_collections["stages"]["dispute"]["count"] == 1
    assert feb.dispute_rate == 1.0
    assert mar.accounts_in_collections["stages"]["follow_up"]["count"] == 1  # 59 days
    assert mar.dispute_rate == 0.0


def test_promise_kept_within_grace_and_pending_promise_left_out():
    inv = _inv([("X", "C1", "2023-01-01", "2023-01-31", 100.0)])
    act = {
        "customer_id": ["C1", "C1"],
        "date": ["2023-03-01", "2023-03-25"],
        "kind": ["promise_to_pay", "promise_to_pay"],
        "promised_amount": [60.0, 40.0],
        "promised_date": ["2023-03-10", "2023-03-30"],
    }
    pay = [("X", "2023-03-13", 60.0)]  # promised date + 3 days: still kept
    led = _ledger(inv, pay, activities=act)
    res = compute_kpis(led, "2023-03-31")
    # the second promise's deadline (2 Apr) is after as_of: neither kept nor broken
    assert res.ptp_kept_rate == 1.0
    assert res.accounts_in_collections["stages"]["promise_to_pay"]["count"] == 1
    late = compute_kpis(
        _ledger(inv, [("X", "2023-03-14", 60.0)], activities=act), "2023-03-31"
    )
    assert late.ptp_kept_rate == 0.0


# ----------------------------------------------------------------------------- by group


def test_by_portfolio_additive_kpis_sum_to_overall(pinned):
    res = compute_kpis(pinned, "2023-03-31", by="portfolio")
    assert [g.key for g in res.groups] == ["North", "South"]
    assert res.key == OVERALL_LABEL
    north, south = res.groups
    for name in ("open_ar", "current_ar"):
        assert north.kpis[name] + south.kpis[name] == pytest.approx(res.kpis[name])
    for label in res.aging:
        assert north.aging[label] + south.aging[label] == pytest.approx(
            res.aging[label]
        )
    for name in ("net_credit_sales", "cash_collected", "write_offs", "ar_window_start"):
        assert north.totals[name] + south.totals[name] == pytest.approx(
            res.totals[name]
        )
    plain = compute_kpis(pinned, "2023-03-31")
    for name in KPI_NAMES:
        assert res.kpis[name] == pytest.approx(plain.kpis[name])
    assert res.accounts_in_collections == plain.accounts_in_collections
    assert north.open_ar == 4500.0  # C 3000 + D 1500
    assert north.dso == pytest.approx(4500 / 3500 * 90)
    assert res.group("South").accounts_in_collections["count"] == 2
    with pytest.raises(KeyError, match="no group"):
        res.group("West")


def test_by_json_is_a_list_led_by_the_group_key(pinned):
    out = kpis_to_dict(compute_kpis(pinned, "2023-03-31", by="portfolio"))
    assert isinstance(out, list)
    assert [o["portfolio"] for o in out] == ["North", "South", OVERALL_LABEL]
    assert list(out[0])[0] == "portfolio"
    json.dumps(out)


def test_by_customer_and_extra_column(pinned):
    res = compute_kpis(pinned, "2023-03-31", by="customer_id")
    assert [g.key for g in res.groups] == ["C1", "C2", "C3", "C4", "C5"]
    assert res.group("C2").open_ar == 4500.0
    assert res.group("C1").ptp_kept_rate == 1.0
    assert res.group("C4").ptp_kept_rate == 0.0
    inv = pinned.invoices.copy()
    extra = _inv(
        inv[INV_COLS]
        .assign(
            invoice_date=inv["invoice_date"].dt.strftime("%Y-%m-%d"),
            due_date=inv["due_date"].dt.strftime("%Y-%m-%d"),
        )
        .to_numpy()
        .tolist(),
        region=["N", "N", "N", "S", "S", "S", "S", "S"],
    )
    led = _ledger(extra, [("A", "2023-01-20", 1000.0), ("ZZZ", "2023-03-01", 10.0)])
    by_region = compute_kpis(led, "2023-03-31", by="region")
    keys = [g.key for g in by_region.groups]
    assert keys == ["N", "S", None]  # the unknown-invoice payment has no region
    assert by_region.group(None).unapplied_credit == -10.0
    total = sum(g.open_ar for g in by_region.groups)
    assert total == pytest.approx(by_region.open_ar)


def test_unknown_group_column_suggests_the_closest():
    led = _ledger(_inv([("X", "C1", "2023-01-01", "2023-01-31", 1.0)]))
    with pytest.raises(ConfigError, match="Did you mean 'portfolio'"):
        compute_kpis(led, "2023-03-31", by="portfolo")


# ----------------------------------------------------------------------------- output


def test_json_shape_and_rounding(pinned):
    out = kpis_to_dict(compute_kpis(pinned, "2023-03-31"))
    assert list(out)[:5] == [
        "as_of",
        "window_start",
        "window_end",
        "window_days",
        "currency",
    ]
    assert (out["as_of"], out["window_start"], out["window_end"]) == (
        "2023-03-31",
        "2023-01-01",
        "2023-03-31",
    )
    assert out["window_days"] == 90
    for name in KPI_NAMES:
        assert name in out
    assert set(out["accounts_in_collections"]) == {"count", "amount", "stages"}
    assert list(out["aging"]) == ["current", "1-30", "31-60", "61-90", "91-120", "120+"]
    assert json.loads(json.dumps(out)) == out


def test_json_buckets_add_up_to_rounded_open_ar():
    inv = _inv(
        [
            (f"I{k}", "C1", "2023-01-01", due, 0.333)
            for k, due in enumerate(["2023-04-30", "2023-03-20", "2023-02-10"])
        ]
    )
    out = kpis_to_dict(compute_kpis(_ledger(inv), "2023-03-31"))
    cents = round(sum(out["aging"].values()) * 100) + round(
        out["unapplied_credit"] * 100
    )
    assert cents == round(out["open_ar"] * 100)
    assert out["aging"]["current"] == out["current_ar"]


def test_frame_has_one_row_and_flat_columns(pinned):
    frame = kpis_to_frame(compute_kpis(pinned, "2023-03-31"))
    assert len(frame) == 1
    assert frame.loc[0, "dso"] == 96.92
    assert frame.loc[0, "aging.91-120"] == 3000.0
    assert frame.loc[0, "accounts_in_collections.stages.dispute.count"] == 1
    assert frame.loc[0, "as_of"] == pd.Timestamp("2023-03-31")
    assert "roll_rates.31-60->61-90" in frame.loc[0, "missing"]
    grouped = kpis_to_frame(compute_kpis(pinned, "2023-03-31", by="portfolio"))
    assert grouped["portfolio"].tolist() == ["North", "South", OVERALL_LABEL]


def test_trend_is_wide_and_matches_single_dates(pinned):
    dates = month_ends("2023-03-31", 3)
    trend = kpi_trend(pinned, dates)
    assert trend["as_of"].tolist() == dates
    for d in dates:
        single = kpis_to_frame(compute_kpis(pinned, d))
        row = trend[trend["as_of"] == d].reset_index(drop=True)
        pd.testing.assert_frame_equal(row, single)
    grouped = kpi_trend(pinned, dates, by="portfolio")
    assert len(grouped) == 9
    assert grouped.groupby("as_of").size().tolist() == [3, 3, 3]


def test_trend_equals_single_dates_on_a_sample_ledger():
    from arforecast.sample import generate_sample

    tables = generate_sample(customers=25, invoices=700, seed=3)
    led = Ledger.from_frames(**tables)
    dates = month_ends(led.data_end, 4)
    trend = kpi_trend(led, dates, by="portfolio")
    single = pd.concat(
        [kpis_to_frame(compute_kpis(led, d, by="portfolio")) for d in dates],
        ignore_index=True,
    )
    pd.testing.assert_frame_equal(trend, single)


def test_trend_follows_dispute_activities():
    inv = _inv([("X", "C1", "2023-01-01", "2023-01-31", 100.0)], disputed=[True])
    act = {
        "customer_id": ["C1", "C1", "C1"],
        "date": ["2023-02-10", "2023-03-10", "2023-03-10"],
        "kind": ["dispute_opened", "dispute_opened", "dispute_resolved"],
        "invoice_id": ["X", "X", "X"],
    }
    led = _ledger(inv, activities=act)
    dates = month_ends("2023-03-31", 3)
    trend = kpi_trend(led, dates)
    # tracked by activities: not in dispute before the first event, resolved
    # after an open and a resolve on the same day
    assert trend["dispute_rate"].tolist() == [0.0, 1.0, 0.0]
    assert [compute_kpis(led, d).dispute_rate for d in dates] == [0.0, 1.0, 0.0]


def test_result_attributes_and_unknown_attribute(pinned):
    res = compute_kpis(pinned, "2023-03-31")
    assert res.dso == res.kpis["dso"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = res.nope


def test_bad_as_of_is_rejected(pinned):
    with pytest.raises(ConfigError, match="as_of"):
        compute_kpis(pinned, "31/03/2023x")
    with pytest.raises(ConfigError, match="required"):
        compute_kpis(pinned, None)


# ----------------------------------------------------------------------------- worklist


def test_worklist_ranks_by_score_with_reasons(pinned):
    wl = collector_worklist(pinned, "2023-03-31")
    assert wl["customer_id"].tolist() == ["C2", "C4", "C5"]
    top = wl.iloc[0]
    assert top["name"] == "Beta <b>AG</b>"
    assert top["portfolio"] == "North"
    assert top["stage"] == "dispute"
    assert top["score"] == pytest.approx(4500 * (1 + 106 / 90) * 1.25, abs=0.01)
    assert top["reasons"] == "EUR 4,500 past due; oldest 106 days; 1 open dispute"
    c4 = wl.iloc[1]
    assert c4["broken_promises"] == 1
    assert c4["reasons"] == "EUR 500 past due; oldest 55 days; 1 broken promise"
    assert c4["next_action"].startswith("call")
    assert wl.iloc[2]["reasons"].endswith("open promise to pay")
    assert wl["rank"].tolist() == [1, 2, 3]


def test_worklist_top_and_by(pinned):
    assert len(collector_worklist(pinned, "2023-03-31", top=1)) == 1
    wl = collector_worklist(pinned, "2023-03-31", by="portfolio")
    assert wl.columns[0] == "portfolio"
    assert wl["portfolio"].tolist() == ["North", "South", "South"]
    assert wl["rank"].tolist() == [1, 1, 2]
    with pytest.raises(ConfigError, match="top"):
        collector_worklist(pinned, "2023-03-31", top=0)


def test_worklist_is_empty_when_nothing_is_past_due():
    led = _ledger(
        _inv([["A", "C1", "2023-03-01", "2023-04-30", 100.0]], disputed=[True])
    )

    wl = collector_worklist(led, "2023-03-31")

    assert len(wl) == 0 and "reasons" in wl.columns


def test_top_overdue_invoices(pinned):
    top = top_overdue_invoices(pinned, "2023-03-31", n=2)
    assert top["invoice_id"].tolist() == ["C", "D"]
    assert top["bucket"].tolist() == ["91-120", "1-30"]
    assert top["name"].tolist() == ["Beta <b>AG</b>", "Beta <b>AG</b>"]


# ----------------------------------------------------------------------------- helpers


def test_sum_payments_in_windows():
    got = sum_payments_in_windows(
        np.array([0, 0, 1]),
        np.array([10, 12, 0]),
        np.array([12, 30, 100]),
        np.array([0, 0, 1, 1]),
        np.array([11, 13, 15, 200]),
        np.array([5.0, 7.0, 9.0, 1.0]),
    )
    assert got.tolist() == [5.0, 7.0, 9.0]


def test_industry_benchmarks_load_with_citations():
    table = load_industry_benchmarks()
    assert tuple(table.columns) == BENCHMARK_COLUMNS
    assert len(table) >= 5
    assert table["source"].str.len().gt(0).all()
    assert table["url_or_reference"].str.len().gt(0).all()
    dso = load_industry_benchmarks("dso")
    assert set(dso["metric"]) == {"dso"}
    with pytest.raises(ConfigError, match="available"):
        load_industry_benchmarks("nps")


def test_as_of_outside_the_data_warns_and_strict_refuses_before_it():
    led = _ledger(_inv([["A", "C1", "2023-01-10", "2023-02-09", 100.0]]))

    with pytest.warns(ArforecastWarning, match="precedes the first invoice"):
        early = compute_kpis(led, "2022-12-31")
    with pytest.warns(ArforecastWarning, match="more than 31 days after the last"):
        compute_kpis(led, "2024-12-31")
    with pytest.raises(DataError, match=r"precedes the first invoice .*2023-01-10"):
        compute_kpis(led, "2022-12-31", strict=True)
    assert early.open_ar == 0.0 and early.kpis["dso"] is None
