"""Tests for arforecast.reporting.charts and arforecast.reporting.tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from arforecast.exceptions import ReportError
from arforecast.reporting import charts, tables

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
AGING = {
    "current": 820_000.0,
    "1-30": 310_000.0,
    "31-60": 120_000.0,
    "61-90": 64_000.0,
    "91-120": 30_000.0,
    "120+": 51_000.0,
}


@pytest.fixture(scope="module")
def trend() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-31", periods=12, freq="ME")
    frame = pd.DataFrame(
        {
            "as_of": dates,
            "dso": 45 + rng.normal(0, 3, 12),
            "best_possible_dso": 30 + rng.normal(0, 1, 12),
            "cei": 80 + rng.normal(0, 5, 12),
        }
    )
    frame["add"] = frame["dso"] - frame["best_possible_dso"]
    return frame


@pytest.fixture(scope="module")
def weekly() -> pd.DataFrame:
    starts = pd.date_range("2025-01-06", periods=13, freq="W-MON")
    expected = np.linspace(200_000, 260_000, 13)
    return pd.DataFrame(
        {
            "start": starts,
            "end": starts + pd.Timedelta(days=6),
            "expected": expected,
            "lo80": expected * 0.8,
            "hi80": expected * 1.2,
            "lo95": expected * 0.7,
            "hi95": expected * 1.3,
        }
    )


def _chart_cases(trend: pd.DataFrame, weekly: pd.DataFrame) -> dict[str, Figure]:
    history = pd.Series(
        np.full(8, 210_000.0),
        index=pd.date_range("2024-11-11", periods=8, freq="W-MON"),
    )
    track = pd.DataFrame(
        {
            "origin": pd.Timestamp("2024-11-04"),
            "start": history.index,
            "forecast": history.to_numpy() * 1.05,
            "lo80": history.to_numpy() * 0.8,
            "hi80": history.to_numpy() * 1.3,
            "actual": history.to_numpy(),
        }
    )
    predicted = np.linspace(0.05, 0.95, 10)
    reliability = {
        h: pd.DataFrame({"mean_predicted": predicted, "observed": predicted, "n": 50})
        for h in (7, 30)
    }
    stages = {
        "reminder": {"count": 4, "amount": 31_000.0},
        "final_demand": {"count": 1, "amount": 9_000.0},
    }
    return {
        "aging": charts.aging_chart(AGING, unapplied_credit=-42_000.0, currency="EUR"),
        "dso": charts.dso_trend_chart(trend),
        "cei": charts.cei_trend_chart(trend, target=85.0),
        "pipeline": charts.pipeline_chart(stages, currency="EUR"),
        "cash": charts.cash_forecast_chart(weekly, history=history, currency="EUR"),
        "track": charts.track_record_chart(track, currency="EUR"),
        "reliability": charts.reliability_chart(reliability),
    }


def test_every_chart_has_a_title_and_labelled_axes(trend, weekly):
    for name, fig in _chart_cases(trend, weekly).items():
        assert isinstance(fig, Figure), name
        assert fig.axes[0].get_title(loc="left"), name
        plots = [ax for ax in fig.axes if ax.get_visible() and ax.axison]
        assert plots, name
        for ax in plots:
            assert ax.get_xlabel() or ax.get_ylabel(), name
            assert ax.get_xticklabels(), name


def test_amount_axes_name_the_currency_and_scale(weekly):
    fig = charts.cash_forecast_chart(weekly, currency="EUR")
    assert fig.axes[0].get_ylabel() == "Receipts per week (EUR thousands)"
    fig = charts.aging_chart({"current": 900.0, "1-30": 100.0}, currency="USD")
    assert fig.axes[0].get_ylabel() == "Open amount (USD)"


def test_aging_chart_draws_unapplied_credit_as_its_own_bar():
    fig = charts.aging_chart(AGING, unapplied_credit=-42_000.0, currency="EUR")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels[-1] == "Unapplied\ncredit"
    assert len(labels) == len(AGING) + 1


def test_figure_to_png_returns_png_bytes(trend):
    png = charts.figure_to_png(charts.dso_trend_chart(trend))
    assert png.startswith(PNG_MAGIC)
    assert 5_000 < len(png) < 80_000


def test_show_figure_embeds_png_with_alt_text(trend):
    display = charts._PngDisplay(b"\x89PNG", "DSO chart", 640)
    data, metadata = display._repr_mimebundle_()
    assert data["image/png"] == "iVBORw=="
    assert metadata["image/png"] == {"width": 640, "alt": "DSO chart"}


def test_trend_chart_names_missing_columns():
    with pytest.raises(ReportError, match="missing \\['best_possible_dso'\\]"):
        charts.dso_trend_chart(pd.DataFrame({"as_of": ["2024-01-31"], "dso": [40.0]}))


def test_formatting_units_and_missing_values():
    assert tables.format_amount(1_234_567.4, "EUR") == "EUR 1,234,567"
    assert tables.format_percent(0.8754) == "87.5%"
    assert tables.format_days(42.25) == "42.2 days"
    assert tables.format_amount(None, "EUR", reason="no sales") == "— (no sales)"
    assert tables.format_value(float("nan"), "days") == "—"


def test_tables_escape_text_from_the_data():
    frame = pd.DataFrame(
        {"name": ["<script>alert(1)</script>", "O'Brien & Söhne"], "amount": [1.0, 2.0]}
    )
    html = tables.frame_table(
        frame,
        [tables.Column("name", "Customer"), tables.Column("amount", "A", "currency")],
    ).html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "O&#x27;Brien &amp; Söhne" in html


def test_kpi_table_shows_definitions_benchmarks_and_missing_reasons():
    kpis = {
        "currency": "EUR",
        "open_ar": 1_000_000.0,
        "dso": None,
        "cei": 91.5,
        "missing": {"dso": "no sales in the window"},
    }
    html = tables.kpi_table(
        kpis, benchmarks={"cei": {"value": 85.0, "source": "<b>"}}
    ).html
    assert "Days sales outstanding (DSO)" in html
    assert (
        '<span class="arf-main">—</span><span class="arf-sub">no sales in the '
        "window</span>" in html
    )
    assert "91.5%" in html
    assert "Industry benchmark" in html and "85.0%*" in html
    assert "* &lt;b&gt;" in html
    assert tables.KPI_CATALOG["cei"].definition.split(" ")[0] in html


def test_aging_table_rows_sum_to_total_open_receivables():
    fragment = tables.aging_table(AGING, unapplied_credit=-42_000.0, currency="EUR")
    total = sum(AGING.values()) - 42_000.0
    assert f"EUR {total:,.0f}" in fragment.html
    assert "Unapplied credit" in fragment.html


def test_findings_table_lists_the_fix():
    findings = [
        {
            "severity": "warning",
            "code": "unknown_invoice",
            "table": "payments",
            "rows": [5, 9],
            "column": "invoice_id",
            "value": "<X>",
            "message": "Payment for an unknown invoice: kept as unapplied credit.",
        }
    ]
    html = tables.findings_table(findings).html
    assert "Kept, with a warning" in html
    assert "5, 9" in html
    assert "&lt;X&gt;" in html


def test_worklist_table_escapes_names_and_keeps_reasons():
    worklist = pd.DataFrame(
        {
            "rank": [1],
            "customer_id": ["C1"],
            "name": ["<script>alert(1)</script>"],
            "portfolio": ["UK&I"],
            "past_due_amount": [1234.0],
            "oldest_days_past_due": [95],
            "stage": ["final_demand"],
            "next_action": ["send a final demand"],
            "reasons": ["EUR 1,234 past due; oldest 95 days"],
        }
    )
    html = tables.worklist_table(worklist, currency="EUR").html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html
    assert "C1 · UK&amp;I" in html
    assert "EUR 1,234" in html and "95 days" in html
    assert "Final demand (over 90 days)" in html and "send a final demand" in html


def test_pipeline_without_overdue_accounts_says_so_instead_of_empty_bars():
    stages = {s: {"count": 0, "amount": 0.0} for s in ("reminder", "follow_up")}

    fig = charts.pipeline_chart(stages, currency="USD")

    (ax,) = fig.axes
    assert "No customer has an overdue balance" in [t.get_text() for t in ax.texts]
    assert list(ax.get_xticks()) == [] and not ax.patches


def test_tables_without_customer_names_show_the_id_as_the_customer():
    disputes = pd.DataFrame(
        {
            "name": [None, None],
            "customer_id": ["7856-ODQFO", "5592-UQXSS"],
            "invoice_id": ["0300108731", "5949242829"],
            "balance_rc": [50.0, 45.0],
        }
    )

    html = tables.disputes_table(disputes, currency="USD").html

    assert "<th>Customer</th>" in html and ">Id<" not in html
    assert "7856-ODQFO" in html
