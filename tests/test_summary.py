"""Tests for arforecast.reporting.summary and the formatting it shares with tables."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from arforecast.ledger import Ledger
from arforecast.reporting import tables
from arforecast.reporting.summary import (
    _headline_item,
    _risk_note,
    build_executive_summary,
    open_disputes,
)


def _ledger_without_activities() -> Ledger:
    """Disputed flags on invoices but no activities table (as in the IBM export)."""
    invoices = pd.DataFrame(
        {
            "invoice_id": ["A", "B", "C"],
            "customer_id": ["C1", "C1", "C2"],
            "invoice_date": ["2013-01-05", "2013-02-01", "2013-02-10"],
            "due_date": ["2013-02-04", "2013-03-03", "2013-03-12"],
            "amount": [100.0, 250.0, 80.0],
            "disputed": [True, False, True],
        }
    )
    payments = pd.DataFrame(
        {"invoice_id": ["C"], "payment_date": ["2013-03-01"], "amount": [80.0]}
    )
    return Ledger.from_frames(invoices, payments, currency="USD")


def test_open_disputes_without_dispute_activities_have_no_opening_date():
    disputes = open_disputes(_ledger_without_activities(), "2013-03-31")

    assert disputes["invoice_id"].tolist() == ["A"]  # C is paid, B not disputed
    assert disputes["balance_rc"].tolist() == [100.0]
    assert disputes["dispute_opened"].isna().all()
    assert disputes["days_in_dispute"].isna().all()
    assert pd.api.types.is_datetime64_any_dtype(disputes["dispute_opened"])


# ---------------------------------------------------------------------------
# changes that round to zero carry no sign (tables.format_change / format_value)


@pytest.mark.parametrize(
    ("current", "previous", "key", "expected"),
    [
        (0.12500, 0.12502, "dispute_rate", "0.0 pts"),  # fraction, was "-0.0 pts"
        (0.12502, 0.12500, "dispute_rate", "0.0 pts"),
        (0.1250, 0.1240, "dispute_rate", "+0.1 pts"),
        (82.30, 82.32, "cei", "0.0 pts"),  # percent
        (82.30, 86.50, "cei", "-4.2 pts"),
        (55.40, 55.43, "dso", "0.0 days"),
        (55.40, 50.30, "dso", "+5.1 days"),
        (1000.2, 1000.6, "open_ar", "EUR 0"),  # currency, was "-EUR 0"
        (1000.0, 1500.0, "open_ar", "-EUR 500"),
        (157.0, 157.0, "accounts_in_collections", "0"),  # count
        (4.201, 4.204, "ar_turnover", "0.00×"),  # ratio
    ],
)
def test_changes_that_round_to_zero_have_no_sign(current, previous, key, expected):
    info = tables.KPI_CATALOG[key]

    assert tables.format_change(current, previous, info, currency="EUR") == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (-0.0004, "fraction", "0.0%"),
        (-0.04, "percent", "0.0%"),
        (-0.04, "days", "0.0 days"),
        (-0.3, "whole_days", "0 days"),
        (-0.4, "currency", "EUR 0"),
        (-0.004, "ratio", "0.00×"),
        (-0.0004, "ratio3", "0.000"),
        (-0.25, "fraction", "-25.0%"),
    ],
)
def test_values_that_round_to_zero_have_no_sign(value, unit, expected):
    assert tables.format_value(value, unit, "EUR") == expected


def test_signed_formats_drop_the_sign_only_at_zero():
    assert tables.format_signed(-0.04, suffix="%") == "0.0%"
    assert tables.format_signed(0.0, suffix=" pts") == "0.0 pts"
    assert tables.format_signed(0.06, suffix=" pts") == "+0.1 pts"
    assert tables.format_compact(-0.3, "EUR") == "EUR 0"
    item = _headline_item(
        "open_ar",
        1000.2,
        1000.6,
        currency="EUR",
        reason=None,
        previous_label="30 Nov 2025",
    )
    assert item["change_display"] == "EUR 0 vs 30 Nov 2025"


# ---------------------------------------------------------------------------
# the forecast total: how much from invoices already open, how much from new ones


def _weekly() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "start": pd.to_datetime(["2026-01-01", "2026-01-08", "2026-01-15"]),
            "end": pd.to_datetime(["2026-01-07", "2026-01-14", "2026-01-21"]),
            "expected": [90.0, 60.0, 50.0],
            "lo80": [80.0, 50.0, 40.0],
            "hi80": [100.0, 70.0, 60.0],
            "lo95": [70.0, 40.0, 30.0],
            "hi95": [110.0, 80.0, 70.0],
            "open_items": [80.0, 20.0, 0.0],
            "new_invoices": [20.0, 60.0, 0.0],
        }
    )


def test_forecast_total_splits_into_open_and_new_invoices():
    from_open, from_new = tables.forecast_sources(_weekly())

    # 90 × 0.8 + 60 × 0.25 + 50 × (100 / 180): a week without parts takes the
    # overall proportions; the parts add up to the total
    assert from_open == pytest.approx(72 + 15 + 50 * 100 / 180)
    assert from_open + from_new == pytest.approx(200.0)
    assert tables.forecast_sources(_weekly().drop(columns="open_items")) is None
    zero = _weekly().assign(open_items=0.0, new_invoices=0.0)
    assert tables.forecast_sources(zero) is None
    assert tables.forecast_sources_text(zero, "EUR") == ""


def test_forecast_table_says_where_the_total_comes_from():
    table = tables.forecast_table(_weekly(), currency="EUR")

    assert (
        "Of the total EUR 200, about EUR 115 comes from invoices already open and "
        "EUR 85 from invoices not yet issued." in table.html
    )


def test_monthly_table_can_leave_the_total_range_to_the_weekly_one():
    with_range = tables.forecast_table(_weekly(), currency="EUR")
    without = tables.forecast_table(_weekly(), currency="EUR", total_ranges=False)

    total_row = without.html[without.html.index(">Total<") :]
    assert "EUR 200" in total_row and total_row.count("—") == 4
    assert "given once, in the weekly table" in without.html
    assert "vary independently" in with_range.html


# ---------------------------------------------------------------------------
# the executive summary on a small sample ledger


@pytest.fixture(scope="module")
def small_summary():
    from arforecast.cashflow import forecast_cash
    from arforecast.sample import generate_sample

    ledger = Ledger.from_frames(**generate_sample(customers=25, invoices=700, seed=7))
    forecast = forecast_cash(ledger, "2025-12-31", n_sims=200)
    return forecast, build_executive_summary(ledger, "2025-12-31", forecast=forecast)


def test_summary_notes_the_track_record_of_the_forecast_made_a_quarter_ago(
    small_summary,
):
    _, summary = small_summary

    (line,) = [n for n in summary.notes if n.startswith("Track record")]

    assert "the forecast made on 2025-10-08 expected EUR" in line
    assert "for the 12 weeks to 2025-12-31" in line and "came in" in line
    assert re.search(r"\d+ of 12 weeks fell inside its 80% range", line)


def test_expected_cash_card_says_how_much_comes_from_open_invoices(small_summary):
    forecast, summary = small_summary
    cash = summary.to_dict()["headline"][-1]
    from_open, from_new = tables.forecast_sources(forecast.weekly)

    assert cash["key"] == "expected_cash"
    assert cash["from_open_invoices"] == pytest.approx(from_open)
    assert cash["from_new_invoices"] == pytest.approx(from_new)
    assert from_open + from_new == pytest.approx(cash["value"])
    assert (
        f"about {tables.format_amount(from_open, 'EUR')} comes from invoices already "
        f"open and {tables.format_amount(from_new, 'EUR')} from invoices not yet "
        "issued." in cash["definition"]
    )
    assert tables.format_amount(from_open, "EUR") in summary.charts[0].alt


def test_at_risk_list_says_how_it_is_ranked(small_summary):
    _, summary = small_summary
    kinds = {r["kind"] for r in summary.at_risk}
    note = (
        "Overdue accounts are ranked by past-due amount, weighted up for age, broken "
        "promises and open disputes"
    )

    assert "account" in kinds and kinds & {"dispute", "broken_promise"}
    assert summary.at_risk_note.startswith(note)
    assert summary.at_risk_note.endswith(
        "; disputes and broken promises are listed largest first."
    )
    assert summary.to_dict()["at_risk_note"] == summary.at_risk_note
    assert f'<p class="arf-note">{note}' in summary.risks_html().html


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([], ""),
        (
            ["account"],
            tables.WORKLIST_RANKING_NOTE.replace(
                "Ranked", "Overdue accounts are ranked"
            ),
        ),
        (["dispute"], "Disputes and broken promises are listed largest first."),
    ],
)
def test_risk_note_matches_what_is_listed(kinds, expected):
    assert _risk_note([{"kind": k} for k in kinds]) == expected


# ---------------------------------------------------------------------------
# "Model used and why" in plain language

#: ``CashForecast.model`` of the sample ledger (as the engine records it).
MODEL = {
    "name": "combined",
    "reason": "weighted combination of bottom-up, top-down and baselines; convex "
    "weights per horizon band (grid step 0.1) minimising weekly WAPE (0.128 with "
    "one set) over 12 past origins, 141 weeks",
    "method": "combined",
    "weights": {"all_weeks": {"bottom_up": 0.6, "top_down": 0.1, "trailing_mean": 0.3}},
    "bottom_up": {
        "timing": "empirical",
        "reason": "requested (timing='empirical')",
        "run_rate_per_week": 573162.39,
        "open_balance": 4475840.15,
    },
    "top_down": {
        "weekly": {
            "name": "ets_simple",
            "reason": "lowest weekly WAPE over 12 past origins (ets_simple 0.143, "
            "ets_additive_damped 0.172); AICc alone picks ets_additive_damped",
            "chosen_by": "past_wape",
            "past_origins": 12,
        }
    },
    "intervals": {
        "weekly": "backtest errors: 141 past weekly errors (split conformal)",
        "monthly": "backtest errors: 33 past monthly errors (split conformal)",
    },
    "calibration_origins": 12,
    "weights_past_origins": 12,
}
JARGON = (
    "convex",
    "WAPE",
    "AICc",
    "ets_",
    "timing=",
    "conformal",
    "JSON",
    "arforecast",
)


def _main_and_note(fragment: tables.HtmlFragment) -> tuple[str, list[str]]:
    notes = re.findall(r'<p class="arf-note arf-tech">(.*?)</p>', fragment.html)
    main = re.sub(r'<p class="arf-note arf-tech">.*?</p>', "", fragment.html)
    return main, notes


def test_model_section_speaks_business_language():
    fragment = tables.forecast_model_summary(MODEL, currency="EUR")
    main, notes = _main_and_note(fragment)

    for word in JARGON:
        assert word not in main, word
    assert "The forecast blends three methods:" in main
    assert "<strong>60%</strong>" in main and "open invoices" in main
    assert "the trend of weekly receipts" in main
    assert "the average of the last 13 weeks" in main
    assert "would have been most accurate over the last 12 forecasts" in main
    assert "smoothed level of recent weekly receipts" in main
    assert "EUR 573,162 a week" in main
    # the engine's wording survives in one small muted line, with no command
    assert len(notes) == 1 and notes[0].startswith("Technical note: ")
    assert "ets_simple" in notes[0] and "arforecast" not in notes[0]
    assert "timing=" not in notes[0]  # the requested setting is not a reason


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("ets_simple", "smoothed level of recent weekly receipts"),
        ("ets_additive_damped", "recent level with a fading trend"),
        ("ets_seasonal_additive", "recent level with a yearly pattern"),
        ("trailing_mean", "average of the last 13 weeks"),
    ],
)
def test_trend_models_have_plain_labels(name, label):
    model = {
        "name": name,
        "method": "top_down",
        "reason": "lowest AICc (1.0) among ets_simple",
        "top_down": {"weekly": {"name": name, "reason": "lowest AICc (1.0)"}},
        "intervals": {"weekly": "own model bounds: 3 past weekly errors"},
    }
    main, _ = _main_and_note(tables.forecast_model_summary(model))

    assert label in main and name not in main


def test_model_section_escapes_and_explains_fallbacks():
    model = {
        **MODEL,
        "reason": "x; equal weights: 1 past origin(s) with 4+ observed weeks",
        "weights": {"all_weeks": {"bottom_up": 0.5, "top_down": 0.5}},
        "weights_past_origins": 0,
        "bottom_up": {"timing": "empirical", "reason": "model failed <script>"},
    }
    fragment = tables.forecast_model_summary(model)
    main, notes = _main_and_note(fragment)

    assert "too few earlier forecasts" in main and "count equally" in main
    assert "the payment model could not be used" in main
    assert "<script>" not in fragment.html and "&lt;script&gt;" in notes[0]


def test_payment_accuracy_note_sends_nobody_to_a_command_line():
    note = tables.backtest_table({})
    assert "JSON" not in note.html and "arforecast backtest" not in note.html


@pytest.mark.parametrize(
    ("before", "now", "sentence"),
    [
        (1, 2, "1 more customer with an overdue balance (2 in all)."),
        (5, 2, "3 fewer customers with overdue balances (2 in all)."),
    ],
    ids=["one-more", "three-fewer"],
)
def test_what_changed_counts_customers_in_good_english(before, now, sentence):
    from arforecast.reporting.summary import _changes

    lines = _changes(
        {"accounts_in_collections": {"count": now}},
        {"accounts_in_collections": {"count": before}},
        [],
        "EUR",
    )

    assert sentence in lines


def test_backtest_table_explains_a_missing_auc():
    entry = {
        "model": {"auc": None, "brier": 1e-6, "n": 40},
        "baselines": {"aging_bucket": {"auc": None, "brier": 0.0}},
    }

    html = tables.backtest_table({"90": entry}).html

    assert "every invoice tested had the same outcome" in html
    assert "same outcome" not in tables.backtest_table({}).html
