"""HTML tables for the reports: formatted, escaped, readable in e-mail and print.

Every table is built here from the frames and dictionaries the library produces and
returned as an `HtmlFragment`, which notebooks display directly (it has a
``_repr_html_``). Every piece of text that comes from the data -- customer names, ids,
messages -- goes through `html.escape`, so a customer called
``<script>alert(1)</script>`` is shown as text, never run.

Formatting rules (one place, shared with `arforecast.reporting.charts`):

- amounts: currency code and thousands separators, no decimals (``EUR 1,234,567``);
- percentages: one decimal and ``%`` (``87.5%``);
- days: one decimal and ``days`` (``42.3 days``);
- changes: an explicit sign (``+1.2 pts``, ``-2.5 days``), but a value that rounds
  to zero is shown without one (``0.0 pts``, never ``-0.0 pts``);
- missing values: ``—`` followed by the reason where one is known
  (``— (no sales in the window)``), never ``0`` or ``nan``.
"""

from __future__ import annotations

import html
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from arforecast._topdown import TRAILING_WINDOW

logger = logging.getLogger(__name__)

__all__ = [
    "KPI_CATALOG",
    "MISSING",
    "WORKLIST_RANKING_NOTE",
    "Column",
    "HtmlFragment",
    "KpiInfo",
    "aging_table",
    "backtest_table",
    "combined_range",
    "definitions_list",
    "disputes_table",
    "findings_table",
    "forecast_model_table",
    "forecast_table",
    "format_amount",
    "format_count",
    "format_days",
    "format_percent",
    "format_signed",
    "forecast_model_summary",
    "forecast_sources",
    "forecast_sources_text",
    "format_value",
    "frame_table",
    "kpi_table",
    "overdue_invoices_table",
    "pipeline_table",
    "promises_table",
    "reconciliation_table",
    "track_record_table",
    "worklist_table",
]

MISSING = "\u2014"


# ---------------------------------------------------------------------------
# value formatting
# ---------------------------------------------------------------------------


def _is_missing(value: object) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, (str, bytes)) else False
    except (TypeError, ValueError):
        return False


def _missing(reason: str | None) -> str:
    return f"{MISSING} ({reason})" if reason else MISSING


def _unsigned_zero(number: float, decimals: int) -> float:
    """``number``, with a value that rounds to zero made a plain ``0.0``.

    Python formats ``-0.04`` with one decimal as ``-0.0``; a figure that shows as
    zero must not carry a sign.
    """
    return 0.0 if round(number, decimals) == 0 else number


def format_signed(
    value: object,
    *,
    decimals: int = 1,
    suffix: str = "",
    reason: str | None = None,
) -> str:
    """Format a change with an explicit sign; one that rounds to zero has none.

    Parameters
    ----------
    value : float or None
        The change; ``None``/NaN gives ``—`` with ``reason``.
    decimals : int, default=1
        Decimal places.
    suffix : str, default=""
        Unit text put after the number (``" pts"``, ``" days"``, ``"%"``).
    reason : str, optional
        Why the value is missing.

    Returns
    -------
    str

    Examples
    --------
    >>> format_signed(1.25, suffix=" pts")
    '+1.2 pts'
    >>> format_signed(-2.5, suffix=" days")
    '-2.5 days'
    >>> format_signed(-0.04, suffix=" pts")
    '0.0 pts'
    """
    if _is_missing(value):
        return _missing(reason)
    number = _unsigned_zero(float(value), decimals)  # type: ignore[arg-type]
    sign = "+" if number > 0 else ""
    return f"{sign}{number:,.{decimals}f}{suffix}"


def format_amount(
    value: object,
    currency: str | None = None,
    *,
    decimals: int = 0,
    reason: str | None = None,
) -> str:
    """Format an amount with thousands separators and its currency code.

    Parameters
    ----------
    value : float or None
        The amount; ``None``/NaN gives ``—`` with ``reason``.
    currency : str, optional
        ISO currency code put in front (``EUR 1,234``).
    decimals : int, default=0
        Decimal places.
    reason : str, optional
        Why the value is missing, shown in brackets after the dash.

    Returns
    -------
    str

    Examples
    --------
    >>> format_amount(1234567.4, "EUR")
    'EUR 1,234,567'
    >>> format_amount(-2500, "USD")
    'USD -2,500'
    >>> format_amount(None, "EUR", reason="no sales")
    '— (no sales)'
    """
    if _is_missing(value):
        return _missing(reason)
    number = _unsigned_zero(float(value), decimals)  # type: ignore[arg-type]
    text = f"{number:,.{decimals}f}"
    return f"{currency} {text}" if currency else text


def format_compact(value: float, currency: str | None = None) -> str:
    """Format an amount compactly for chart labels: ``EUR 1.2M``, ``EUR 350k``.

    Examples
    --------
    >>> format_compact(1_234_567, "EUR")
    'EUR 1.2M'
    >>> format_compact(35_400)
    '35k'
    >>> format_compact(950)
    '950'
    """
    if _is_missing(value):
        return MISSING
    number = float(value)
    size = abs(number)
    if size >= 1e9:
        text = f"{number / 1e9:,.1f}bn"
    elif size >= 1e6:
        text = f"{number / 1e6:,.1f}M"
    elif size >= 1e4:
        text = f"{number / 1e3:,.0f}k"
    elif size >= 1e3:
        text = f"{number / 1e3:,.1f}k"
    else:
        text = f"{_unsigned_zero(number, 0):,.0f}"
    return f"{currency} {text}" if currency else text


def format_percent(
    value: object,
    *,
    fraction: bool = True,
    decimals: int = 1,
    reason: str | None = None,
) -> str:
    """Format a share as a percentage.

    Parameters
    ----------
    value : float or None
        A fraction (0.875) when ``fraction`` is true, else already in percent (87.5).
    fraction : bool, default=True
        Whether ``value`` is a fraction of one.
    decimals : int, default=1
    reason : str, optional
        Why the value is missing.

    Examples
    --------
    >>> format_percent(0.875)
    '87.5%'
    >>> format_percent(92.0, fraction=False)
    '92.0%'
    """
    if _is_missing(value):
        return _missing(reason)
    number = float(value) * (100.0 if fraction else 1.0)  # type: ignore[arg-type]
    return f"{_unsigned_zero(number, decimals):,.{decimals}f}%"


def format_days(value: object, *, decimals: int = 1, reason: str | None = None) -> str:
    """Format a number of days: ``42.3 days``.

    Examples
    --------
    >>> format_days(42.25)
    '42.2 days'
    >>> format_days(1, decimals=0)
    '1 day'
    """
    if _is_missing(value):
        return _missing(reason)
    number = _unsigned_zero(float(value), decimals)  # type: ignore[arg-type]
    text = f"{number:,.{decimals}f}"
    return f"{text} day" if text in ("1", "-1") else f"{text} days"


def format_count(value: object, *, reason: str | None = None) -> str:
    """Format a count with thousands separators.

    Examples
    --------
    >>> format_count(12345)
    '12,345'
    """
    if _is_missing(value):
        return _missing(reason)
    return f"{int(round(float(value))):,}"  # type: ignore[arg-type]


def format_date(value: object, *, reason: str | None = None) -> str:
    """Format a date as ISO ``YYYY-MM-DD``.

    Examples
    --------
    >>> format_date(pd.Timestamp("2024-03-31 00:00"))
    '2024-03-31'
    """
    if _is_missing(value):
        return _missing(reason)
    return pd.Timestamp(value).strftime("%Y-%m-%d")  # type: ignore[arg-type]


def format_value(
    value: object,
    unit: str,
    currency: str | None = None,
    *,
    reason: str | None = None,
) -> str:
    """Format ``value`` by unit.

    Parameters
    ----------
    value : object
    unit : {"currency", "fraction", "percent", "days", "whole_days", "count", "ratio", \
            "date", "text"}
        ``fraction`` is a share of one shown as percent; ``percent`` is already
        multiplied by 100; ``ratio`` is a plain number with two decimals (``4.20×``).
    currency : str, optional
        For ``currency`` units.
    reason : str, optional
        Why the value is missing.

    Returns
    -------
    str
        Plain text (not yet HTML-escaped).
    """
    if isinstance(value, str) and value == "":
        return ""
    if unit == "currency":
        return format_amount(value, currency, reason=reason)
    if unit == "fraction":
        return format_percent(value, reason=reason)
    if unit == "percent":
        return format_percent(value, fraction=False, reason=reason)
    if unit == "days":
        return format_days(value, reason=reason)
    if unit == "whole_days":
        return format_days(value, decimals=0, reason=reason)
    if unit == "overdue_days":
        if not _is_missing(value) and float(value) <= 0:  # type: ignore[arg-type]
            return "not yet due"
        return format_days(value, decimals=0, reason=reason)
    if unit == "count":
        return format_count(value, reason=reason)
    if unit == "ratio":
        if _is_missing(value):
            return _missing(reason)
        return f"{_unsigned_zero(float(value), 2):,.2f}\u00d7"  # type: ignore[arg-type]
    if unit == "ratio3":
        if _is_missing(value):
            return _missing(reason)
        return f"{_unsigned_zero(float(value), 3):.3f}"  # type: ignore[arg-type]
    if unit == "date":
        return format_date(value, reason=reason)
    if _is_missing(value):
        return _missing(reason)
    return str(value)


# ---------------------------------------------------------------------------
# KPI catalogue: labels, units and one-line definitions
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class KpiInfo:
    """How to show one KPI.

    Attributes
    ----------
    label : str
        Plain-language name.
    unit : str
        A unit understood by `format_value`.
    definition : str
        What it means, one sentence, no jargon left unexplained.
    better : {"higher", "lower", None}
        Which direction is good, for the "what changed" wording.
    """

    label: str
    unit: str
    definition: str
    better: str | None = None


KPI_CATALOG: dict[str, KpiInfo] = {
    "open_ar": KpiInfo(
        "Open receivables",
        "currency",
        "Everything customers still owe on invoices issued up to the as-of date, "
        "net of unapplied credit.",
    ),
    "current_ar": KpiInfo(
        "Not yet due",
        "currency",
        "The part of open receivables whose due date has not passed.",
        "higher",
    ),
    "past_due_ar": KpiInfo(
        "Past due",
        "currency",
        "The part of open receivables whose due date has passed.",
        "lower",
    ),
    "percent_current": KpiInfo(
        "Share not yet due",
        "fraction",
        "Not-yet-due receivables as a share of open receivables; higher is better.",
        "higher",
    ),
    "dso": KpiInfo(
        "Days sales outstanding (DSO)",
        "days",
        "How many days of recent sales are still unpaid: open receivables ÷ sales "
        "in the window × days in the window. Lower is better.",
        "lower",
    ),
    "dso_countback": KpiInfo(
        "DSO, count-back method",
        "days",
        "DSO counted by walking back month by month through actual sales; less "
        "distorted by changing sales than the standard DSO.",
        "lower",
    ),
    "best_possible_dso": KpiInfo(
        "Best possible DSO",
        "days",
        "The DSO we would have if nothing were overdue: not-yet-due receivables ÷ "
        "sales × days in the window.",
        "lower",
    ),
    "add": KpiInfo(
        "Average days delinquent (ADD)",
        "days",
        "DSO minus best possible DSO: the days added by late payment. Lower is better.",
        "lower",
    ),
    "cei": KpiInfo(
        "Collection effectiveness (CEI)",
        "percent",
        "Of what could have been collected in the window, the share that was "
        "collected (100% = everything due was collected).",
        "higher",
    ),
    "collection_rate": KpiInfo(
        "Collection rate",
        "fraction",
        "Cash collected in the window ÷ (receivables at its start + sales in it).",
        "higher",
    ),
    "ar_turnover": KpiInfo(
        "Receivables turnover (per year)",
        "ratio",
        "How many times a year receivables are collected in full, at the current "
        "pace; higher is better.",
        "higher",
    ),
    "avg_days_to_pay": KpiInfo(
        "Average days to pay",
        "days",
        "Invoice date to final payment, averaged over invoices paid in full in the "
        "window.",
        "lower",
    ),
    "weighted_days_to_pay": KpiInfo(
        "Average days to pay (amount-weighted)",
        "days",
        "As average days to pay, but large invoices count more.",
        "lower",
    ),
    "days_beyond_terms": KpiInfo(
        "Days beyond terms",
        "days",
        "How late, on average, invoices paid in the window were paid after their due "
        "date (amount-weighted; early payment counts as 0).",
        "lower",
    ),
    "dispute_rate": KpiInfo(
        "Share in dispute",
        "fraction",
        "Open receivables on invoices the customer disputes, as a share of open "
        "receivables.",
        "lower",
    ),
    "ptp_kept_rate": KpiInfo(
        "Promises to pay kept",
        "fraction",
        "Of the payment promises falling due in the window, the share paid in full "
        "within 3 days of the promised date.",
        "higher",
    ),
    "write_off_ratio": KpiInfo(
        "Write-offs ÷ sales",
        "fraction",
        "Amounts written off as uncollectable in the window ÷ sales in the window.",
        "lower",
    ),
    "net_credit_sales": KpiInfo(
        "Sales in the window",
        "currency",
        "Invoices issued in the window minus credit notes issued in it.",
    ),
    "cash_collected": KpiInfo(
        "Cash collected in the window",
        "currency",
        "Payments received in the window.",
        "higher",
    ),
    "unapplied_credit": KpiInfo(
        "Unapplied credit",
        "currency",
        "Overpayments and payments not matched to an invoice (shown as a negative "
        "amount, already netted in open receivables).",
    ),
    "accounts_in_collections": KpiInfo(
        "Accounts with overdue balances",
        "count",
        "Customers with at least one invoice past its due date.",
        "lower",
    ),
    "expected_cash": KpiInfo(
        "Expected cash in",
        "currency",
        "Forecast customer receipts over the period, with the range the receipts "
        "fall in 8 times out of 10.",
    ),
}

DEFAULT_KPI_ORDER = (
    "open_ar",
    "percent_current",
    "dso",
    "best_possible_dso",
    "add",
    "cei",
    "collection_rate",
    "avg_days_to_pay",
    "days_beyond_terms",
    "dispute_rate",
    "ptp_kept_rate",
    "ar_turnover",
    "write_off_ratio",
    "dso_countback",
)


# ---------------------------------------------------------------------------
# HTML building blocks
# ---------------------------------------------------------------------------


class HtmlFragment:
    """A piece of ready, escaped HTML that notebooks display as rich output.

    Parameters
    ----------
    html_text : str
        Markup that has already been escaped where it holds data.
    text : str, optional
        Plain-text representation (for ``text/plain`` and e-mail).
    """

    def __init__(self, html_text: str, text: str | None = None) -> None:
        self.html = html_text
        self.text = text if text is not None else ""

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text or "<HtmlFragment>"

    def __str__(self) -> str:
        return self.html

    def __add__(self, other: HtmlFragment) -> HtmlFragment:
        return HtmlFragment(self.html + other.html, "\n".join([self.text, other.text]))


@dataclass(frozen=True)
class Column:
    """A column of a formatted table.

    Attributes
    ----------
    key : str
        Column in the source frame.
    label : str
        Header text.
    unit : str
        A unit understood by `format_value` (``"text"`` for verbatim data).
    """

    key: str
    label: str
    unit: str = "text"


_NUMERIC_UNITS = {
    "currency",
    "fraction",
    "percent",
    "days",
    "whole_days",
    "overdue_days",
    "count",
    "ratio",
    "ratio3",
}


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table_html(
    headers: Sequence[tuple[str, bool]],
    rows: Iterable[Sequence[tuple[Any, ...]]],
    *,
    caption: str | None = None,
    css_class: str = "arf-table",
    note: str | None = None,
    empty: str = "Nothing to show.",
) -> str:
    """Assemble a table from already-formatted plain-text cells (escaped here)."""
    head = "".join(
        f'<th class="num">{_esc(h)}</th>' if num else f"<th>{_esc(h)}</th>"
        for h, num in headers
    )
    body_rows = []
    for row in rows:
        cells = []
        for cell in row:
            # (text, numeric) or (text, numeric, extra css class)
            text, num = cell[0], cell[1]
            classes = " ".join(
                c for c in ("num" if num else "", cell[2] if len(cell) > 2 else "") if c
            )
            attr = f' class="{_esc(classes)}"' if classes else ""
            inner = text.html if isinstance(text, HtmlFragment) else _esc(text)
            cells.append(f"<td{attr}>{inner}</td>")
        body_rows.append(f"<tr>{''.join(cells)}</tr>")
    if not body_rows:
        body_rows.append(
            f'<tr><td class="empty" colspan="{len(headers)}">{_esc(empty)}</td></tr>'
        )
    parts = [f'<table class="{_esc(css_class)}">']
    if caption:
        parts.append(f"<caption>{_esc(caption)}</caption>")
    parts.append(f"<thead><tr>{head}</tr></thead><tbody>")
    parts.extend(body_rows)
    parts.append("</tbody></table>")
    if note:
        parts.append(f'<p class="arf-note">{_esc(note)}</p>')
    return f'<div class="arf-table-wrap">{"".join(parts)}</div>'


def _text_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=False)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=False))]
    lines.extend(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) for row in rows
    )
    return "\n".join(lines)


def frame_table(
    frame: pd.DataFrame,
    columns: Sequence[Column],
    *,
    currency: str | None = None,
    caption: str | None = None,
    note: str | None = None,
    empty: str = "Nothing to show.",
    max_rows: int | None = None,
) -> HtmlFragment:
    """Render selected columns of a frame as an escaped, formatted HTML table.

    Parameters
    ----------
    frame : DataFrame
        Source rows. Columns named in ``columns`` but absent are shown as ``—``.
    columns : sequence of Column
        What to show, in order, with header labels and units.
    currency : str, optional
        Currency code for ``currency`` columns.
    caption : str, optional
        Table caption (the table's title).
    note : str, optional
        A line under the table (e.g. what the columns mean).
    empty : str, default="Nothing to show."
        Text of the single row shown when ``frame`` is empty.
    max_rows : int, optional
        Show at most this many rows; the note says how many were left out.

    Returns
    -------
    HtmlFragment
    """
    shown = frame if max_rows is None else frame.head(max_rows)
    headers = [(c.label, c.unit in _NUMERIC_UNITS) for c in columns]
    rows: list[list[tuple[Any, bool]]] = []
    for record in shown.to_dict(orient="records"):
        row: list[tuple[Any, bool]] = []
        for c in columns:
            value = record.get(c.key)
            # an HtmlFragment cell is markup built (and escaped) by its caller
            shown_value = (
                value
                if isinstance(value, HtmlFragment)
                else format_value(value, c.unit, currency)
            )
            row.append((shown_value, c.unit in _NUMERIC_UNITS))
        rows.append(row)
    if max_rows is not None and len(frame) > max_rows:
        more = f"Showing the first {max_rows:,} of {len(frame):,} rows."
        note = f"{note} {more}" if note else more
    text = _text_table(
        [c.label for c in columns],
        [
            [v.text if isinstance(v, HtmlFragment) else v for v, _ in row]
            for row in rows
        ],
    )
    return HtmlFragment(
        _table_html(headers, rows, caption=caption, note=note, empty=empty), text
    )


def definitions_list(items: Mapping[str, str], *, title: str | None = None) -> str:
    """An escaped ``<dl>`` of term → definition (returned as markup)."""
    parts = ['<dl class="arf-defs">']
    if title:
        parts.insert(0, f'<p class="arf-defs-title">{_esc(title)}</p>')
    for term, definition in items.items():
        parts.append(f"<dt>{_esc(term)}</dt><dd>{_esc(definition)}</dd>")
    parts.append("</dl>")
    return "".join(parts)


def heading(text: str, level: int = 2, *, intro: str | None = None) -> HtmlFragment:
    """A section heading with an optional one-line introduction (escaped)."""
    level = min(max(int(level), 2), 4)
    markup = f"<h{level}>{_esc(text)}</h{level}>"
    if intro:
        markup += f'<p class="arf-intro">{_esc(intro)}</p>'
    return HtmlFragment(markup, text)


def notice(text: str, *, kind: str = "info") -> HtmlFragment:
    """A highlighted one-paragraph notice; ``kind`` is ``info`` or ``warning``."""
    css = "arf-warning" if kind == "warning" else "arf-info"
    return HtmlFragment(f'<p class="{css}">{_esc(text)}</p>', text)


# ---------------------------------------------------------------------------
# report tables
# ---------------------------------------------------------------------------


def _kpi_scalar(kpis: Mapping[str, Any], name: str) -> Any:
    value = kpis.get(name)
    if isinstance(value, Mapping):
        for key in ("amount", "value", "count"):
            if key in value:
                return value[key]
        return None
    return value


def _missing_reasons(kpis: Mapping[str, Any]) -> Mapping[str, str]:
    missing = kpis.get("missing") or {}
    if isinstance(missing, Mapping):
        return {str(k): str(v) for k, v in missing.items()}
    return {}


def kpi_table(
    kpis: Mapping[str, Any],
    *,
    currency: str | None = None,
    names: Sequence[str] | None = None,
    benchmarks: Mapping[str, Any] | None = None,
    previous: Mapping[str, Any] | None = None,
    caption: str | None = "Collection KPIs",
) -> HtmlFragment:
    """The KPI table: value, change, benchmark and a plain-language definition.

    Parameters
    ----------
    kpis : mapping
        KPI name → value as produced by ``arforecast.kpis.kpis_to_dict`` (the
        documented JSON shape); a ``missing`` mapping of name → reason explains
        absent values.
    currency : str, optional
        Reporting currency for amounts (defaults to ``kpis["currency"]``).
    names : sequence of str, optional
        Which KPIs to show, in order (default: the standard collections set, those
        present in ``kpis``).
    benchmarks : mapping, optional
        KPI name → benchmark value (or ``{"value": v, "source": s}``), shown in an
        "Industry benchmark" column when given.
    previous : mapping, optional
        The same KPIs at an earlier date; adds a "Change" column.
    caption : str, optional
        Table caption.

    Returns
    -------
    HtmlFragment
        The table; each measure's plain-language definition sits under its name.
    """
    currency = currency or kpis.get("currency")
    reasons = _missing_reasons(kpis)
    if names is None:
        names = [n for n in DEFAULT_KPI_ORDER if n in kpis or n in reasons]
    headers: list[tuple[str, bool]] = [
        ("Measure and what it means", False),
        ("Value", True),
    ]
    if previous is not None:
        since = previous.get("as_of")
        label = f"Change since {_long_date(since)}" if since else "Change"
        headers.append((label, True))
    if benchmarks:
        headers.append(("Industry benchmark", True))

    rows = []
    text_rows = []
    sources: dict[str, str] = {}
    for name in names:
        info = KPI_CATALOG.get(name, KpiInfo(name.replace("_", " "), "text", ""))
        value = _kpi_scalar(kpis, name)
        shown: Any = format_value(value, info.unit, currency, reason=reasons.get(name))
        if _is_missing(value) and reasons.get(name):
            # the reason on its own wrapping line, so a long one cannot widen the
            # value column and push the benchmarks off the page
            shown = _stacked("—", str(reasons[name]))
        measure = HtmlFragment(
            f'<span class="arf-measure">{_esc(info.label)}</span>'
            f'<span class="arf-def">{_esc(info.definition)}</span>',
            info.label,
        )
        row: list[tuple[Any, ...]] = [(measure, False), (shown, True)]
        if previous is not None:
            before = _kpi_scalar(previous, name)
            verdict = assess_change(value, before, info)
            change = format_change(value, before, info, currency=currency)
            if verdict in ("better", "worse"):
                change = f"{change} ({verdict})"
            row.append((change, True, f"arf-{verdict}" if verdict else ""))
        if benchmarks:
            bench = benchmarks.get(name)
            text = ""
            if bench is not None:
                raw = bench.get("value") if isinstance(bench, Mapping) else bench
                text = format_value(raw, info.unit, currency)
                source = bench.get("source") if isinstance(bench, Mapping) else None
                if source:
                    marks = sources.setdefault(str(source), "*" * (len(sources) + 1))
                    text = f"{text}{marks}"
            row.append((text, True))
        rows.append(row)
        text_rows.append(
            [info.label, shown.text if isinstance(shown, HtmlFragment) else shown]
        )
    note = None
    if sources:
        note = "Benchmarks: " + "; ".join(
            f"{marks} {source}" for source, marks in sources.items()
        )
        note += (
            " (published medians of surveyed companies; their formulas can differ "
            "slightly from ours)."
        )
    markup = _table_html(
        headers, rows, caption=caption, css_class="arf-table arf-kpi", note=note
    )
    return HtmlFragment(markup, _text_table(["Measure", "Value"], text_rows))


def _long_date(value: object) -> str:
    stamp = pd.Timestamp(value)  # type: ignore[arg-type]
    return f"{stamp.day} {stamp.strftime('%b %Y')}"


def assess_change(current: object, previous: object, info: KpiInfo) -> str | None:
    """``"better"``, ``"worse"`` or ``"unchanged"`` for a KPI move (None if unknown).

    Examples
    --------
    >>> assess_change(40.0, 42.0, KPI_CATALOG["dso"])
    'better'
    """
    if info.better is None or _is_missing(current) or _is_missing(previous):
        return None
    delta = float(current) - float(previous)  # type: ignore[arg-type]
    scale = {"fraction": 5e-4, "percent": 0.05, "days": 0.05}.get(info.unit, 0.5)
    if abs(delta) < scale:
        return "unchanged"
    return "better" if (delta > 0) == (info.better == "higher") else "worse"


def format_change(
    current: object,
    previous: object,
    info: KpiInfo,
    *,
    currency: str | None = None,
) -> str:
    """Describe the change from ``previous`` to ``current`` in the KPI's unit.

    Fractions change in percentage points (``+1.2 pts``), days in days, amounts in
    currency units (``+EUR 12,300``); missing either side gives ``—``. A change
    that rounds to zero has no sign (``0.0 pts``, ``EUR 0``).

    Examples
    --------
    >>> format_change(0.80, 0.75, KPI_CATALOG["percent_current"])
    '+5.0 pts'
    >>> format_change(40.0, 42.5, KPI_CATALOG["dso"])
    '-2.5 days'
    >>> format_change(0.1250, 0.1252, KPI_CATALOG["dispute_rate"])
    '0.0 pts'
    """
    if _is_missing(current) or _is_missing(previous):
        return MISSING
    delta = float(current) - float(previous)  # type: ignore[arg-type]
    if info.unit == "fraction":
        return format_signed(delta * 100, suffix=" pts")
    if info.unit == "percent":
        return format_signed(delta, suffix=" pts")
    if info.unit == "days":
        return format_signed(delta, suffix=" days")
    if info.unit == "currency":
        delta = _unsigned_zero(delta, 0)
        sign = "+" if delta > 0 else "-" if delta < 0 else ""
        return f"{sign}{format_amount(abs(delta), currency)}"
    if info.unit == "count":
        return format_signed(delta, decimals=0)
    if info.unit == "ratio":
        return format_signed(delta, decimals=2, suffix="\u00d7")
    return format_signed(delta, decimals=2)


AGING_LABELS = {
    "current": "Not yet due",
    "1-30": "1–30 days overdue",
    "31-60": "31–60 days overdue",
    "61-90": "61–90 days overdue",
    "91-120": "91–120 days overdue",
    "120+": "Over 120 days overdue",
}


def aging_label(bucket: str) -> str:
    """Plain-language label of an aging bucket (``"1-30"`` → ``"1–30 days overdue"``)."""
    if bucket in AGING_LABELS:
        return AGING_LABELS[bucket]
    return f"{bucket} days overdue" if bucket[:1].isdigit() else bucket


def aging_table(
    aging: Mapping[str, float] | pd.Series,
    *,
    unapplied_credit: float | None = None,
    currency: str | None = None,
    counts: Mapping[str, int] | None = None,
    caption: str | None = "Receivables by days past due",
) -> HtmlFragment:
    """Aging buckets with amount and share, unapplied credit and the total.

    Parameters
    ----------
    aging : mapping or Series
        Bucket label (``current``, ``1-30``, ..., ``120+``) → open amount.
    unapplied_credit : float, optional
        Unapplied credit (≤ 0), shown on its own row, never inside a bucket.
    currency : str, optional
    counts : mapping, optional
        Bucket → number of open invoices.
    caption : str, optional

    Returns
    -------
    HtmlFragment
        The rows sum to total open receivables (the last row).
    """
    items = [(str(k), float(v or 0.0)) for k, v in dict(aging).items()]
    credit = float(unapplied_credit or 0.0)
    total = sum(v for _, v in items) + credit
    gross = sum(v for _, v in items)
    headers = [("Days past due", False), ("Amount", True), ("Share", True)]
    if counts is not None:
        headers.insert(1, ("Invoices", True))
    rows = []
    for bucket, amount in items:
        row = [(aging_label(bucket), False)]
        if counts is not None:
            row.append((format_count(counts.get(bucket, 0)), True))
        share = amount / gross if gross else None
        row += [
            (format_amount(amount, currency), True),
            (format_percent(share, reason=None if gross else "no open items"), True),
        ]
        rows.append(row)
    credit_row = [("Unapplied credit", False)]
    if counts is not None:
        credit_row.append(("", True))
    credit_row += [(format_amount(credit, currency), True), ("", True)]
    rows.append(credit_row)
    total_row = [("Total open receivables", False)]
    if counts is not None:
        total_row.append((format_count(sum((counts or {}).values())), True))
    total_row += [(format_amount(total, currency), True), ("", True)]
    rows.append(total_row)
    note = (
        "Share is of the invoices' open balances before unapplied credit. Unapplied "
        "credit = overpayments and payments not matched to an invoice."
    )
    markup = _table_html(
        headers, rows, caption=caption, css_class="arf-table arf-total", note=note
    )
    text = _text_table([h for h, _ in headers], [[v for v, _ in row] for row in rows])
    return HtmlFragment(markup, text)


def _present(frame: pd.DataFrame, columns: Sequence[Column]) -> list[Column]:
    """The columns whose key is in the frame (optional columns stay out).

    Exports without customer names (the IBM sample) would show a "Customer"
    column of dashes beside an "Id" column: then the id takes the Customer label.
    """
    shown = [c for c in columns if c.key in frame.columns]
    keys = {c.key for c in shown}
    if {"name", "customer_id"} <= keys and frame["name"].map(_is_missing).all():
        shown = [
            Column("customer_id", "Customer", c.unit) if c.key == "customer_id" else c
            for c in shown
            if c.key != "name"
        ]
    return shown


STAGE_LABELS = {
    "reminder": "Reminder (1–30 days overdue)",
    "follow_up": "Follow-up (31–60 days)",
    "escalation": "Escalation (61–90 days)",
    "final_demand": "Final demand (over 90 days)",
    "dispute": "In dispute",
    "promise_to_pay": "Promised to pay",
}


def _stacked(main: object, detail: str) -> HtmlFragment:
    """A cell with a main line and a smaller muted line under it (escaped)."""
    head = "" if _is_missing(main) else str(main)
    return HtmlFragment(
        f'<span class="arf-main">{_esc(head)}</span>'
        + (f'<span class="arf-sub">{_esc(detail)}</span>' if detail else ""),
        f"{head} ({detail})" if detail else head,
    )


#: How the collector worklist (``arforecast.kpis.collector_worklist``) is ordered,
#: in plain words; shown wherever its accounts are listed in rank order.
WORKLIST_RANKING_NOTE = (
    "Ranked by past-due amount, weighted up for age, broken promises and open disputes."
)


def worklist_table(
    worklist: pd.DataFrame,
    *,
    currency: str | None = None,
    max_rows: int = 20,
    caption: str | None = "Prioritized collection worklist",
) -> HtmlFragment:
    """The collector worklist: who to chase first, how much, why, and what to do.

    Parameters
    ----------
    worklist : DataFrame
        ``arforecast.kpis.collector_worklist`` output, in priority order (``rank``,
        ``name``, ``customer_id``, ``portfolio``, ``past_due_amount``,
        ``oldest_days_past_due``, ``stage``, ``reasons``, ``next_action``).
    currency : str, optional
    max_rows : int, default=20
    caption : str, optional

    Notes
    -----
    Customer name, id and portfolio share one cell, as do the stage and the next
    step, so the table stays readable at e-mail width.
    """
    frame = worklist.head(max_rows).copy()
    records = frame.to_dict(orient="records")
    frame["customer"] = [
        _stacked(
            r.get("name") if not _is_missing(r.get("name")) else r.get("customer_id"),
            " · ".join(
                str(r[k])
                # without a name the id is already the main line
                for k in (
                    ("portfolio",)
                    if _is_missing(r.get("name"))
                    else ("customer_id", "portfolio")
                )
                if not _is_missing(r.get(k))
            ),
        )
        for r in records
    ]
    frame["step"] = [
        _stacked(
            STAGE_LABELS.get(str(r.get("stage")), str(r.get("stage") or "")),
            str(r.get("next_action") or ""),
        )
        for r in records
    ]
    columns = [
        Column("rank", "#", "count"),
        Column("customer", "Customer"),
        Column("past_due_amount", "Past due", "currency"),
        Column("oldest_days_past_due", "Oldest overdue", "whole_days"),
        Column("reasons", "Why on the list"),
        Column("step", "Stage and next step"),
    ]
    note = WORKLIST_RANKING_NOTE
    if len(worklist) > max_rows:
        note += f" Showing the first {max_rows:,} of {len(worklist):,} accounts."
    return frame_table(
        frame,
        [c for c in columns if c.key in frame.columns],
        currency=currency,
        caption=caption,
        note=note,
        empty="No customer has an overdue balance.",
    )


def overdue_invoices_table(
    invoices: pd.DataFrame,
    *,
    currency: str | None = None,
    max_rows: int = 15,
    caption: str | None = "Largest overdue invoices",
) -> HtmlFragment:
    """The largest past-due invoices (``arforecast.kpis.top_overdue_invoices``)."""
    frame = invoices.copy()
    if "in_dispute" in frame.columns:
        frame["in_dispute"] = frame["in_dispute"].map(
            lambda v: "yes" if bool(v) else ""
        )
    columns = [
        Column("invoice_id", "Invoice"),
        Column("name", "Customer"),
        Column("customer_id", "Id"),
        Column("due_date", "Due", "date"),
        Column("days_past_due", "Overdue by", "whole_days"),
        Column("balance_rc", "Open amount", "currency"),
        Column("in_dispute", "Disputed"),
    ]
    return frame_table(
        frame,
        _present(frame, columns),
        currency=currency,
        caption=caption,
        max_rows=max_rows,
        empty="No invoice is overdue.",
    )


def pipeline_table(
    stages: Mapping[str, Mapping[str, Any]],
    *,
    currency: str | None = None,
    actions: Mapping[str, str] | None = None,
    caption: str | None = "Overdue accounts by collection stage",
) -> HtmlFragment:
    """Accounts and past-due amounts per collection stage, with the usual next step.

    Parameters
    ----------
    stages : mapping
        Stage → ``{"count": n, "amount": x}`` (``accounts_in_collections.stages``).
    currency : str, optional
    actions : mapping, optional
        Stage → next step (``arforecast.kpis.NEXT_ACTIONS``).
    caption : str, optional
    """
    rows = [
        {
            "stage": STAGE_LABELS.get(stage, stage),
            "count": value.get("count"),
            "amount": value.get("amount"),
            "action": (actions or {}).get(stage, ""),
        }
        for stage, value in stages.items()
    ]
    total = {
        "stage": "All overdue accounts",
        "count": sum(int(r["count"] or 0) for r in rows),
        "amount": sum(float(r["amount"] or 0.0) for r in rows),
        "action": "",
    }
    columns = [
        Column("stage", "Stage"),
        Column("count", "Accounts", "count"),
        Column("amount", "Past due", "currency"),
    ]
    if actions:
        columns.append(Column("action", "Usual next step"))
    frame = pd.DataFrame.from_records([*rows, total])
    fragment = frame_table(frame, columns, currency=currency, caption=caption)
    fragment.html = fragment.html.replace(
        '<table class="arf-table">', '<table class="arf-table arf-total">', 1
    )
    return fragment


def disputes_table(
    disputes: pd.DataFrame,
    *,
    currency: str | None = None,
    max_rows: int = 15,
    caption: str | None = "Largest open disputes",
) -> HtmlFragment:
    """Open disputed invoices, largest first
    (``arforecast.reporting.summary.open_disputes``)."""
    columns = [
        Column("name", "Customer"),
        Column("customer_id", "Id"),
        Column("invoice_id", "Invoice"),
        Column("balance_rc", "Open amount", "currency"),
        Column("days_past_due", "Overdue by", "overdue_days"),
        Column("dispute_opened", "Dispute opened", "date"),
        Column("days_in_dispute", "In dispute for", "whole_days"),
    ]
    return frame_table(
        disputes,
        _present(disputes, columns),
        currency=currency,
        caption=caption,
        max_rows=max_rows,
        note="A disputed invoice is one the customer has challenged (price, "
        "delivery, quality); it is usually not paid until the dispute is resolved.",
        empty="No open disputes.",
    )


def promises_table(
    promises: pd.DataFrame,
    *,
    currency: str | None = None,
    max_rows: int = 15,
    caption: str | None = "Promises to pay",
) -> HtmlFragment:
    """Promises to pay: who promised what by when, and whether it was kept
    (``arforecast.reporting.summary.promises_to_pay``)."""
    frame = promises.copy()
    counts = ""
    if "status" in frame.columns:
        tally = frame["status"].value_counts()
        counts = (
            f"{len(frame):,} promises: {int(tally.get('broken', 0)):,} broken, "
            f"{int(tally.get('open', 0)):,} still open, "
            f"{int(tally.get('kept', 0)):,} kept. "
        )
        frame["status"] = frame["status"].map(
            {"broken": "Broken", "open": "Open", "kept": "Kept"}
        )
    columns = [
        Column("name", "Customer"),
        Column("customer_id", "Id"),
        Column("invoice_id", "Invoice"),
        Column("date", "Promised on", "date"),
        Column("promised_date", "To pay by", "date"),
        Column("promised_amount", "Amount", "currency"),
        Column("status", "Status"),
    ]
    return frame_table(
        frame,
        _present(frame, columns),
        currency=currency,
        caption=caption,
        max_rows=max_rows,
        note=f"{counts}Kept = the customer paid the promised amount by the promised "
        "date plus 3 days; broken = that date passed without it.",
        empty="No promises to pay in the period.",
    )


def combined_range(
    frame: pd.DataFrame, lower: str = "lo80", upper: str = "hi80"
) -> tuple[float, float]:
    """A range for the total of several periods' forecasts.

    Period ranges do not add up (over- and under-shoots partly cancel). Treating
    the periods' deviations as independent, each side's half-width is the square
    root of the summed squared half-widths of the periods.

    Returns
    -------
    (float, float)
        Lower (not below 0) and upper bound of the total.

    Examples
    --------
    >>> f = pd.DataFrame({"expected": [10.0, 10.0], "lo80": [7.0, 6.0],
    ...                   "hi80": [13.0, 14.0]})
    >>> combined_range(f)
    (15.0, 25.0)
    """
    expected = frame["expected"].astype(float)
    below = np.clip(expected - frame[lower].astype(float), 0.0, None)
    above = np.clip(frame[upper].astype(float) - expected, 0.0, None)
    total = float(expected.sum())
    low = total - float(np.sqrt((below**2).sum()))
    high = total + float(np.sqrt((above**2).sum()))
    return max(low, 0.0), high


def forecast_sources(frame: pd.DataFrame) -> tuple[float, float] | None:
    """Split a forecast's total into invoices already open and not yet issued.

    The invoice-by-invoice (bottom-up) forecast is the sum of two parts per
    period: receipts from invoices open at the forecast date (``open_items``)
    and from invoices still to be issued (``new_invoices``). The reported
    ``expected`` can be a blend with methods that do not make that split, so
    each period's ``expected`` is divided in the proportions of its two parts;
    the two results add up to the total of ``expected``.

    Parameters
    ----------
    frame : DataFrame
        ``CashForecast.weekly`` or ``.monthly`` (``expected``, ``open_items``,
        ``new_invoices``).

    Returns
    -------
    (float, float) or None
        From invoices already open, from invoices not yet issued; ``None`` when
        the columns are absent or the parts are all zero (nothing to split by).

    Examples
    --------
    >>> f = pd.DataFrame({"expected": [90.0, 60.0], "open_items": [80.0, 20.0],
    ...                   "new_invoices": [20.0, 60.0]})
    >>> forecast_sources(f)
    (87.0, 63.0)
    """
    if not {"expected", "open_items", "new_invoices"} <= set(frame.columns):
        return None
    expected = np.nan_to_num(frame["expected"].to_numpy(dtype=float))
    opened = np.clip(np.nan_to_num(frame["open_items"].to_numpy(dtype=float)), 0, None)
    new = np.clip(np.nan_to_num(frame["new_invoices"].to_numpy(dtype=float)), 0, None)
    parts = opened + new
    if parts.sum() <= 0:
        return None
    # a period without either part takes the overall proportions
    share = np.divide(
        opened,
        parts,
        out=np.full(len(parts), opened.sum() / parts.sum()),
        where=parts > 0,
    )
    from_open = float((expected * share).sum())
    return from_open, float(expected.sum()) - from_open


def forecast_sources_text(frame: pd.DataFrame, currency: str | None = None) -> str:
    """The `forecast_sources` split as words, or ``""`` when there is none.

    Returns
    -------
    str
        ``"about EUR 3,500,000 comes from invoices already open and EUR 3,460,000
        from invoices not yet issued"`` (plain text; a fragment for a sentence).
    """
    split = forecast_sources(frame)
    if split is None:
        return ""
    from_open, from_new = split
    return (
        f"about {format_amount(from_open, currency)} comes from invoices already "
        f"open and {format_amount(from_new, currency)} from invoices not yet issued"
    )


def forecast_table(
    frame: pd.DataFrame,
    *,
    currency: str | None = None,
    label: str = "Week",
    caption: str | None = None,
    total_ranges: bool = True,
) -> HtmlFragment:
    """Forecast rows: period, expected receipts and the 80% and 95% ranges.

    Parameters
    ----------
    frame : DataFrame
        ``CashForecast.weekly`` or ``.monthly`` (``start``, ``end``, ``expected``,
        ``lo80``, ``hi80``, ``lo95``, ``hi95``; a ``month`` column labels months).
    currency : str, optional
    label : str, default="Week"
        Header of the period column.
    caption : str, optional
    total_ranges : bool, default=True
        Give the total row its ranges. A report showing the same horizon week by
        week and month by month sets it False on one of them, so that the two
        tables do not state two different ranges for (nearly) the same total.

    Notes
    -----
    The total row's ranges come from `combined_range`. When the frame has the
    bottom-up parts, the note says how much of the total is expected from
    invoices already open and how much from invoices not yet issued
    (`forecast_sources`).
    """
    rows = frame.copy()
    if "month" in rows.columns:
        rows["period"] = [
            pd.Timestamp(a).strftime("%b %Y")
            + ("" if pd.Timestamp(a).day == 1 else f" (from {pd.Timestamp(a):%d %b})")
            for a in rows["start"]
        ]
    else:
        rows["period"] = [
            f"{pd.Timestamp(a):%d %b} – {pd.Timestamp(b):%d %b %Y}"
            for a, b in zip(rows["start"], rows["end"], strict=False)
        ]
    lo80, hi80 = combined_range(frame, "lo80", "hi80")
    lo95, hi95 = combined_range(frame, "lo95", "hi95")
    if not total_ranges:
        lo80 = hi80 = lo95 = hi95 = None
    total = {
        "period": "Total",
        "expected": float(rows["expected"].sum()),
        "lo80": lo80,
        "hi80": hi80,
        "lo95": lo95,
        "hi95": hi95,
    }
    rows = pd.concat([rows, pd.DataFrame([total])], ignore_index=True)
    columns = [
        Column("period", label),
        Column("expected", "Expected", "currency"),
        Column("lo80", "80% range from", "currency"),
        Column("hi80", "80% range to", "currency"),
        Column("lo95", "95% range from", "currency"),
        Column("hi95", "95% range to", "currency"),
    ]
    note = (
        "80% range: receipts fall inside it 8 times out of 10; 95% range: 19 times "
        "out of 20. "
        + (
            "The total's ranges assume the periods vary independently "
            "(single periods' ranges do not add up)."
            if total_ranges
            else "The range of the total is given once, in the weekly table."
        )
    )
    sources = forecast_sources_text(frame, currency)
    if sources:
        note = (
            f"Of the total {format_amount(total['expected'], currency)}, {sources}. "
            + note
        )
    fragment = frame_table(rows, columns, currency=currency, caption=caption, note=note)
    fragment.html = fragment.html.replace(
        '<table class="arf-table">', '<table class="arf-table arf-total">', 1
    )
    return fragment


#: Plain names of the trend models (``arforecast._topdown``) for readers.
TREND_LABELS = {
    "ets_simple": "smoothed level of recent weekly receipts",
    "ets_additive_damped": "recent level with a fading trend",
    "ets_seasonal_additive": "recent level with a yearly pattern",
    "trailing_mean": f"average of the last {TRAILING_WINDOW} weeks",
    "constant": "last week's receipts repeated (weekly receipts have not varied)",
    "zero": "nothing expected (no receipts in the history)",
}

#: The methods a forecast can blend, in plain words (``CashForecast.model``).
METHOD_PHRASES = {
    "bottom_up": "what today's open invoices, and the invoices still to be issued, "
    "will likely bring in, based on how similar invoices were paid in the past",
    "bottom_up_empirical": "the same invoice-by-invoice view, with payment timing "
    "taken from past payment delays",
    "top_down": "the trend of weekly receipts",
    "trailing_mean": f"the average of the last {TRAILING_WINDOW} weeks",
    "seasonal_naive": "the receipts of the same week a year earlier",
    "last_value": "last week's receipts, repeated",
}

_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six")


def _band_label(band: str) -> str:
    match = re.fullmatch(r"weeks_(\d+)_(\d+)", band)
    if match:
        return f"weeks {match.group(1)}–{match.group(2)}"
    match = re.fullmatch(r"weeks_(\d+)_plus", band)
    if match:
        return f"week {match.group(1)} onwards"
    return band.replace("_", " ")


def _trend_phrase(top: Mapping[str, Any]) -> str:
    """The trend model in plain words, with why it was chosen when known."""
    name = str(top.get("name", ""))
    label = TREND_LABELS.get(name, name.replace("_", " "))
    reason = str(top.get("reason", ""))
    if top.get("chosen_by") == "past_wape":
        count = top.get("past_origins")
        over = f" over the last {count} forecasts" if count else ""
        why = f"the variant that would have been most accurate{over}"
    elif reason.startswith("lowest AICc"):
        why = "the variant that fits the history of receipts best"
    elif name == "trailing_mean":
        why = "the history is too short or too irregular for a trend model"
    else:
        why = ""
    return f"{label} ({why})" if why else label


def _percent_list(per_band: Mapping[str, float]) -> str:
    """``60%`` when every band has the same weight, else one weight per band."""
    values = set(per_band.values())
    if len(values) == 1:
        return f"{values.pop():.0%}"
    return ", ".join(f"{w:.0%} for {_band_label(b)}" for b, w in per_band.items())


def _technical_note(model: Mapping[str, Any]) -> str:
    """The model record's own wording, for analysts, on one line."""
    parts = [str(model.get("reason", ""))]
    top = (model.get("top_down") or {}).get("weekly") or {}
    if top:
        parts.append(f"top-down {top.get('name', '')}: {top.get('reason', '')}")
    bottom = model.get("bottom_up") or {}
    if bottom:
        timing = f"open-invoice timing {bottom.get('timing', '')}"
        reason = str(bottom.get("reason", ""))
        # "requested (timing=...)" repeats the setting; a fallback says why
        fallback = reason and not reason.startswith("requested")
        parts.append(f"{timing} ({reason})" if fallback else timing)
    ranges = model.get("intervals") or {}
    if ranges:
        parts.append(
            "ranges: " + ", ".join(f"{kind} {text}" for kind, text in ranges.items())
        )
    return "Technical note: " + "; ".join(p for p in parts if p) + "."


def forecast_model_summary(
    model: Mapping[str, Any],
    *,
    currency: str | None = None,
) -> HtmlFragment:
    """How the cash forecast was made and why, in plain business language.

    Parameters
    ----------
    model : mapping
        ``CashForecast.model``: the method, the blend's weights per horizon band,
        the open-invoice timing, the trend model and the interval method, each
        with the reason the forecast engine recorded.
    currency : str, optional
        Currency of the billing pace.

    Returns
    -------
    HtmlFragment
        A lead sentence on what the forecast blends (with each method's weight),
        why that blend, a short list on open invoices, new invoices, the trend and
        the ranges, and one small muted "Technical note" line holding the engine's
        own wording (model names, selection criteria). All text is escaped.
    """
    method = str(model.get("method", model.get("name", "")))
    top = (model.get("top_down") or {}).get("weekly") or {}
    bottom = model.get("bottom_up") or {}

    # lead: which methods, with what weight, and why that blend
    lead: list[str] = []
    uses_trend = method == "top_down"
    uses_bottom_up = method == "bottom_up"
    weights = model.get("weights") or {}
    if method == "combined" and weights:
        by_method: dict[str, dict[str, float]] = {}
        for band, mix in weights.items():
            for name, weight in (mix or {}).items():
                by_method.setdefault(str(name), {})[str(band)] = float(weight)
        for per_band in by_method.values():
            for band in weights:
                per_band.setdefault(str(band), 0.0)
        used = {k: v for k, v in by_method.items() if any(w > 0 for w in v.values())}
        uses_trend = "top_down" in used
        uses_bottom_up = any(k.startswith("bottom_up") for k in used)
        count = len(used)
        word = _NUMBER_WORDS[count] if count < len(_NUMBER_WORDS) else str(count)
        items = "".join(
            f"<li><strong>{_esc(_percent_list(per_band))}</strong> \u2014 "
            f"{_esc(METHOD_PHRASES.get(name, name.replace('_', ' ')))}</li>"
            for name, per_band in used.items()
        )
        intro = (
            f"The forecast blends {word} methods:"
            if count > 1
            else "The forecast uses one method:"
        )
        lead.append(f'<p>{_esc(intro)}</p><ul class="arf-list">{items}</ul>')
        past = model.get("weights_past_origins")
        if past == 0:
            why = (
                "There are too few earlier forecasts to check yet which method is "
                "more accurate, so they count equally."
            )
        else:
            past = past or model.get("calibration_origins")
            over = f" over the last {past} forecasts" if past else ""
            why = f"The blend is the one that would have been most accurate{over}."
        lead.append(f"<p>{_esc(why)}</p>")
    elif method == "bottom_up":
        adds = f"The forecast adds up {METHOD_PHRASES['bottom_up']}."
        lead.append(f"<p>{_esc(adds)}</p>")
    elif method == "top_down":
        trend = _trend_phrase(top)
        lead.append(
            f"<p>{_esc(f'The forecast follows the trend of weekly receipts: {trend}.')}"
            "</p>"
        )

    # the pieces, in plain words
    points: list[tuple[str, str]] = []
    if uses_bottom_up and bottom:
        timing = str(bottom.get("timing", ""))
        if timing == "model":
            text = (
                "predicted invoice by invoice by the payment model, which learns "
                "from how each customer paid before."
            )
        else:
            text = "estimated from how long similar invoices took to pay in the past"
            if not str(bottom.get("reason", "")).startswith("requested"):
                text += " (the payment model could not be used for this date)"
            text += "."
        points.append(("When open invoices get paid", text))
        pace = bottom.get("run_rate_per_week")
        if not _is_missing(pace):
            points.append(
                (
                    "Invoices not yet issued",
                    f"expected at the recent billing pace of "
                    f"{format_amount(pace, currency)} a week, paid after the usual "
                    "delays.",
                )
            )
    if uses_trend and top and method != "top_down":
        points.append(("Trend of weekly receipts", f"{_trend_phrase(top)}."))
    weekly_range = str((model.get("intervals") or {}).get("weekly", ""))
    if weekly_range.startswith("backtest errors"):
        points.append(("Ranges", "from how far earlier forecasts were off."))
    elif weekly_range:
        points.append(
            (
                "Ranges",
                "from each method's own uncertainty; there are too few earlier "
                "forecasts yet to measure them.",
            )
        )
    details = "".join(
        f"<li><strong>{_esc(head)}:</strong> {_esc(text)}</li>" for head, text in points
    )
    markup = "".join(lead)
    if details:
        markup += f'<ul class="arf-list">{details}</ul>'
    note = _technical_note(model)
    markup += f'<p class="arf-note arf-tech">{_esc(note)}</p>'
    # plain text: one line per paragraph or list item
    lines = re.sub(r"<[^>]+>", "", re.sub(r"</(p|li)>", "\n", markup)).splitlines()
    text = "\n".join(html.unescape(line).strip() for line in lines if line.strip())
    return HtmlFragment(f'<div class="arf-model">{markup}</div>', text)


def forecast_model_table(
    model: Mapping[str, Any], *, caption: str | None = None
) -> HtmlFragment:
    """Deprecated name of `forecast_model_summary` (kept for older notebooks).

    ``caption`` is ignored: the summary is prose, not a table.
    """
    return forecast_model_summary(model)


def track_record_table(
    summary: pd.DataFrame,
    *,
    currency: str | None = None,
    caption: str | None = "How earlier forecasts did",
) -> HtmlFragment:
    """Per-origin accuracy (``cashflow.summarize_track_record``)."""
    columns = [
        Column("origin", "Forecast made on", "date"),
        Column("weeks_observed", "Weeks seen so far", "count"),
        Column("forecast", "Forecast for those weeks", "currency"),
        Column("actual", "Actually received", "currency"),
        Column("wape", "Typical weekly error", "fraction"),
        Column("bias", "Over (+) / under (−)", "fraction"),
        Column("coverage_80", "Weeks inside the 80% range", "fraction"),
    ]
    return frame_table(
        summary,
        _present(summary, columns),
        currency=currency,
        caption=caption,
        note="Typical weekly error = sum of |forecast − actual| ÷ sum of actual "
        "(WAPE). A well-calibrated forecast has about 80% of weeks inside its 80% "
        "range.",
        empty="No earlier forecasts to compare yet.",
    )


_METRIC_NOTE = (
    "AUC: how well the predictions rank invoices that get paid above those that do "
    "not (0.5 = coin toss, 1 = perfect; higher is better). Brier score: the average "
    "squared error of the stated chances (0 = perfect; lower is better). The two "
    "rules of thumb: the historical payment rate of invoices as overdue as this "
    "one (aging rule), and the customer's own past rate (own history)."
)


def backtest_table(
    horizons: Mapping[str, Mapping[str, Any]],
    *,
    caption: str | None = "Payment model accuracy, by question",
) -> HtmlFragment:
    """Model vs baselines per horizon (``backtest_payments(...)["horizons"]``).

    One row per horizon: AUC and Brier score of the payment model and of the two
    baselines, and the number of invoices tested.
    """
    rows = []
    for horizon, entry in horizons.items():
        model = entry.get("model") or {}
        base = entry.get("baselines") or {}
        aging = base.get("aging_bucket") or {}
        own = base.get("customer_history") or {}
        rows.append(
            {
                "horizon": f"Paid within {horizon} days?",
                "auc": model.get("auc"),
                "auc_aging": aging.get("auc"),
                "auc_own": own.get("auc"),
                "brier": model.get("brier"),
                "brier_aging": aging.get("brier"),
                "brier_own": own.get("brier"),
                "n": model.get("n"),
            }
        )
    columns = [
        Column("horizon", "Question"),
        Column("auc", "AUC: model", "ratio3"),
        Column("auc_aging", "AUC: aging rule", "ratio3"),
        Column("auc_own", "AUC: own history", "ratio3"),
        Column("brier", "Brier: model", "ratio3"),
        Column("brier_aging", "Brier: aging rule", "ratio3"),
        Column("brier_own", "Brier: own history", "ratio3"),
        Column("n", "Invoices tested", "count"),
    ]
    note = _METRIC_NOTE
    if any(r["auc"] is None and r["n"] for r in rows):
        note += (
            " AUC “—”: every invoice tested had the same outcome at that horizon "
            "(for example all were paid within it), so there is nothing to rank; "
            "a rule of thumb that says “certain” is then exactly right."
        )
    return frame_table(
        pd.DataFrame.from_records(rows, columns=[c.key for c in columns]),
        columns,
        caption=caption,
        note=note,
        empty="The history is too short to test the payment model.",
    )


SEVERITY_LABELS = {
    "fatal": "Stopped the load",
    "set_aside": "Rows set aside",
    "warning": "Kept, with a warning",
}


def findings_table(
    findings: pd.DataFrame | Sequence[Any],
    *,
    max_rows: int = 25,
    caption: str | None = "Data-quality findings",
) -> HtmlFragment:
    """Data-quality findings: class, table, rows, column, value and the fix.

    Parameters
    ----------
    findings : DataFrame or sequence of Finding
        ``DataQuality.to_frame()`` or ``DataQuality.findings``.
    max_rows : int, default=25
    caption : str, optional
    """
    if not isinstance(findings, pd.DataFrame):
        records = [f.to_dict() if hasattr(f, "to_dict") else dict(f) for f in findings]
        findings = pd.DataFrame.from_records(
            records,
            columns=["severity", "code", "table", "rows", "column", "value", "message"],
        )
    frame = findings.copy()
    if len(frame):
        frame["severity"] = frame["severity"].map(lambda s: SEVERITY_LABELS.get(s, s))
        frame["rows"] = frame["rows"].map(_rows_text)
    columns = [
        Column("severity", "Outcome"),
        Column("table", "Table"),
        Column("rows", "Source rows"),
        Column("column", "Column"),
        Column("value", "Value"),
        Column("message", "What to do"),
    ]
    return frame_table(
        frame,
        columns,
        caption=caption,
        max_rows=max_rows,
        empty="No data-quality findings: every row was used as read.",
    )


def _rows_text(rows: object, limit: int = 5) -> str:
    if isinstance(rows, (list, tuple)):
        head = ", ".join(str(r) for r in rows[:limit])
        return head + (f" (+{len(rows) - limit} more)" if len(rows) > limit else "")
    return "" if _is_missing(rows) else str(rows)


def reconciliation_table(
    reconciliation: pd.DataFrame,
    *,
    currency: str | None = None,
    caption: str | None = "Reconciliation: read = used + set aside",
) -> HtmlFragment:
    """Rows and amounts read, used and set aside, per table.

    Amounts are in each table's document currency as read.
    """
    columns = [
        Column("table", "Table"),
        Column("rows_read", "Rows read", "count"),
        Column("rows_used", "Rows used", "count"),
        Column("rows_set_aside", "Rows set aside", "count"),
        Column("amount_read", "Amount read", "currency"),
        Column("amount_used", "Amount used", "currency"),
        Column("amount_set_aside", "Amount set aside", "currency"),
    ]
    return frame_table(
        reconciliation,
        columns,
        currency=currency,
        caption=caption,
        note=(
            "Amounts are the source values as read, each in its own document "
            "currency and summed across currencies: they show that nothing was "
            "lost between the file and the figures, not a total in one currency."
        ),
        empty="No tables were read.",
    )
