"""The one-page executive summary and the e-mail assets it leaves in ``output_dir``.

`build_executive_summary` gathers the few numbers an executive reads (with units and
plain-language definitions), what changed since the previous month end, what is at
risk, and one or two charts. `ExecutiveSummary.save` writes them for the e-mail
builder; the executive-summary notebook displays the same object.

Files written by ``ExecutiveSummary.save(output_dir)``
-------------------------------------------------------
``summary.json`` (UTF-8) and one PNG per chart (``summary_cash.png``,
``summary_aging.png``), all directly in ``output_dir``, each written atomically
(temp file, then rename). PNGs are 1,280 px wide, meant to be shown 640 px wide.

``summary.json`` schema (version 1); every key is always present, values that
cannot be computed are ``null`` with the reason in the ``display`` text:

- ``schema_version`` (int): 1.
- ``title`` (str): "Executive summary — <portfolio> — as of <d Mon YYYY>".
- ``subtitle`` (str): period covered and the reporting currency.
- ``portfolio`` (str or null): the portfolio, null for all portfolios;
  ``portfolio_label`` (str): "All portfolios" or the portfolio.
- ``as_of`` (str, ISO date); ``previous_as_of`` (str or null): the month end the
  changes compare with; ``period`` ({``start``, ``end``}, ISO): the KPI window.
- ``currency`` (str): ISO code of every amount.
- ``headline`` (list, in display order), each:
  ``key`` (str: ``open_ar``, ``percent_current``, ``dso``, ``add``, ``cei``,
  ``expected_cash``), ``label`` (str), ``value`` (number or null, in ``unit``),
  ``unit`` (``currency`` | ``fraction`` (share of 1, shown as %) | ``percent``
  (already ×100) | ``days``), ``display`` (str: the formatted value, e.g.
  "EUR 5,111,618", "73.2%", "58.8 days"), ``definition`` (str: one sentence, no
  jargon), ``change`` (number or null: value − previous value, in ``unit``;
  fraction changes are fractions), ``change_display`` (str: "+1.2 pts vs 30 Nov
  2025", or "" when there is nothing to compare), ``assessment`` (``better`` |
  ``worse`` | ``unchanged`` | null), and for ``expected_cash`` also ``lo80``,
  ``hi80`` (numbers), ``weeks`` (int) and ``from_open_invoices``,
  ``from_new_invoices`` (numbers or null: the part of ``value`` expected from
  invoices already open and from invoices not yet issued; the definition says it
  in words).
- ``what_changed`` (list of str): short sentences, most important first.
- ``at_risk`` (list, at most ~10), each: ``kind`` (``account`` | ``dispute`` |
  ``broken_promise``), ``customer_id`` (str), ``name`` (str or null; raw text from
  the data — HTML-escape it), ``amount`` (number, reporting currency),
  ``amount_display`` (str), ``detail`` (str: why it is listed / next step).
- ``at_risk_note`` (str): one line on how the list is ordered ("" when empty).
- ``notes`` (list of str): caveats (e.g. forecast model fallback, benchmark
  sources, data-quality warnings).
- ``charts`` (list), each: ``file`` (str: file name in ``output_dir``), ``alt``
  (str), ``title`` (str), ``width`` and ``height`` (int, CSS pixels to show it at).
- ``data_quality``: ``counts`` ({``fatal``, ``set_aside``, ``warning``}: int),
  ``summary`` (str, one line), ``reconciliation`` (list of per-table records:
  ``table``, ``rows_read``, ``amount_read``, ``rows_used``, ``amount_used``,
  ``rows_set_aside``, ``amount_set_aside``).
- ``provenance``: ``arforecast_version``, ``parameters`` (object), ``source``,
  ``fingerprint`` (sha256 hex of the inputs), ``generated_at`` (ISO 8601 UTC).

Text values are plain text (not HTML); the e-mail builder escapes them.

The module also holds the small report frames the notebooks display and the KPI
module does not produce itself: `weekly_receipts`, `open_disputes`,
`promises_to_pay` and `benchmarks_for_kpis`.
"""

from __future__ import annotations

import html
import json
import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from arforecast.reporting import tables
from arforecast.reporting.provenance import build_provenance, report_title

logger = logging.getLogger(__name__)

__all__ = [
    "SCHEMA_VERSION",
    "ChartAsset",
    "ExecutiveSummary",
    "benchmarks_for_kpis",
    "build_executive_summary",
    "kpis_at_previous_month_end",
    "open_disputes",
    "payment_backtest_for_report",
    "previous_month_end",
    "promises_to_pay",
    "reliability_tables",
    "weekly_receipts",
]

SCHEMA_VERSION = 1
HEADLINE_KPIS = ("open_ar", "percent_current", "dso", "add", "cei")


# ---------------------------------------------------------------------------
# report frames
# ---------------------------------------------------------------------------


def previous_month_end(as_of: object) -> pd.Timestamp:
    """The month end before ``as_of`` (the one before it when it is a month end).

    Examples
    --------
    >>> previous_month_end("2025-12-31").date().isoformat()
    '2025-11-30'
    >>> previous_month_end("2025-12-15").date().isoformat()
    '2025-11-30'
    """
    stamp = pd.Timestamp(as_of).normalize()
    return pd.Timestamp(stamp.replace(day=1) - pd.Timedelta(days=1))


def kpis_at_previous_month_end(
    ledger: Any, as_of: object, *, window_days: int | None = None
) -> dict[str, Any] | None:
    """The KPI dict (``kpis_to_dict``) at the month end before ``as_of``.

    Returns ``None`` when that month end precedes the data, so there is nothing
    to compare with.
    """
    from arforecast.kpis import compute_kpis, kpis_to_dict

    previous = previous_month_end(as_of)
    start = ledger.data_start
    if start is None or previous < start:
        return None
    result = kpis_to_dict(compute_kpis(ledger, previous, window_days=window_days))
    return result if isinstance(result, dict) else None


#: Settings of the payment-model replay shown in reports: two folds, monthly
#: snapshots and a 6,000-row training sample keep it to seconds per report;
#: ``arforecast backtest`` runs the full protocol (docs/models.md).
REPORT_BACKTEST = {
    "n_folds": 2,
    "at_issue": False,
    "snapshot_freq": "MS",
    "max_snapshots": 6000,
}


def payment_backtest_for_report(
    ledger: Any, as_of: object, horizons: Sequence[int]
) -> dict[str, Any]:
    """The payment model replayed on what was known at ``as_of``, for a report.

    Runs :func:`arforecast.backtest.backtest_payments` with ``end=as_of`` and the
    lighter :data:`REPORT_BACKTEST` settings. When the history before ``as_of``
    is too short for two folds the result has no horizons and ``skipped`` says
    why (the report tables then say the history is too short).
    """
    from arforecast.backtest import backtest_payments
    from arforecast.exceptions import ModelError

    try:
        return backtest_payments(
            ledger, horizons=horizons, end=as_of, **REPORT_BACKTEST
        )
    except ModelError as exc:
        logger.info("payment backtest skipped in the report: %s", exc)
        return {"horizons": {}, "skipped": str(exc)}


def reliability_tables(backtest: Mapping[str, Any]) -> dict[int, pd.DataFrame]:
    """Reliability tables per horizon from ``backtest_payments`` output.

    Returns
    -------
    dict of int to DataFrame
        Horizon (days) → ``mean_predicted``, ``observed_rate``, ``count`` for the
        non-empty probability bins.
    """
    out: dict[int, pd.DataFrame] = {}
    for horizon, entry in (backtest.get("horizons") or {}).items():
        frame = pd.DataFrame.from_records(
            entry.get("reliability") or [],
            columns=["mean_predicted", "observed_rate", "count"],
        )
        frame = frame.dropna(subset=["mean_predicted", "observed_rate"])
        frame = frame[frame["count"] > 0].reset_index(drop=True)
        out[int(horizon)] = frame.astype(float)
    return out


def weekly_receipts(ledger: Any, as_of: object, weeks: int = 13) -> pd.DataFrame:
    """Cash received per week in the ``weeks`` weeks ending at ``as_of``.

    Weeks are aligned with the forecast: the last one ends at ``as_of``.

    Returns
    -------
    DataFrame
        ``start``, ``end``, ``actual`` (reporting currency), oldest first.
    """
    end = pd.Timestamp(as_of).normalize()
    first = end - pd.Timedelta(days=7 * int(weeks) - 1)
    receipts = ledger.receipts(first, end)
    starts = pd.DatetimeIndex(
        [first + pd.Timedelta(days=7 * k) for k in range(int(weeks))]
    )
    offset = (pd.to_datetime(receipts["payment_date"]) - first).dt.days // 7
    sums = (
        receipts["amount_rc"].groupby(offset.to_numpy()).sum()
        if len(receipts)
        else pd.Series(dtype=float)
    )
    actual = np.array([float(sums.get(k, 0.0)) for k in range(int(weeks))])
    return pd.DataFrame(
        {"start": starts, "end": starts + pd.Timedelta(days=6), "actual": actual}
    )


def _names(ledger: Any) -> pd.Series:
    customers = ledger.customers.drop_duplicates("customer_id").set_index("customer_id")
    if "name" not in customers.columns:
        return pd.Series(dtype=object)
    return customers["name"]


def open_disputes(
    ledger: Any, as_of: object, *, top: int | None = None
) -> pd.DataFrame:
    """Open invoices in dispute at ``as_of``, largest first.

    Returns
    -------
    DataFrame
        ``customer_id``, ``name``, ``invoice_id``, ``balance_rc``,
        ``days_past_due``, ``dispute_opened`` (last ``dispute_opened`` activity for
        the invoice on or before as_of, else NaT), ``days_in_dispute``.
    """
    stamp = pd.Timestamp(as_of).normalize()
    items = ledger.open_items(stamp)
    items = items[items["in_dispute"].astype(bool)]
    act = ledger.activities
    opened = act[(act["kind"] == "dispute_opened") & (act["date"] <= stamp)]
    opened = opened.dropna(subset=["invoice_id"]).groupby("invoice_id")["date"].max()
    out = pd.DataFrame(
        {
            "customer_id": items["customer_id"].astype(str),
            "name": items["customer_id"].map(_names(ledger)),
            "invoice_id": items["invoice_id"].astype(str),
            "balance_rc": items["balance_rc"].astype(float),
            "days_past_due": items["days_past_due"].astype(float),
            # reindex, not map: no dispute activity at all (exports without an
            # activities table) must give NaT, not an empty-mapping dtype error
            "dispute_opened": pd.to_datetime(
                opened.reindex(items["invoice_id"].to_numpy()).to_numpy()
            ),
        },
        index=items.index,
    )
    out["days_in_dispute"] = (stamp - out["dispute_opened"]).dt.days.astype(float)
    out = out.sort_values(
        ["balance_rc", "invoice_id"], ascending=[False, True], kind="mergesort"
    )
    if top is not None:
        out = out.head(int(top))
    return out.reset_index(drop=True)


_PROMISE_STATUS = {0: "open", 1: "kept", 2: "broken"}


def promises_to_pay(
    ledger: Any,
    as_of: object,
    *,
    window_days: int | None = None,
    status: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Promises to pay due in the KPI window (or still open) at ``as_of``.

    Status uses the KPI definition (DESIGN.md, ``ptp_kept_rate``): kept when the
    customer's payments from the promise to the promised date + 3 days cover the
    promised amount; broken when that deadline passed without it; open otherwise.

    Parameters
    ----------
    ledger : Ledger
    as_of : date-like
    window_days : int, optional
        KPI window (default: the 3 calendar months ending at as_of).
    status : sequence of {"open", "kept", "broken"}, optional
        Keep only these statuses.

    Returns
    -------
    DataFrame
        ``customer_id``, ``name``, ``invoice_id``, ``date`` (promise made),
        ``promised_date``, ``promised_amount`` (reporting currency), ``status``;
        broken first, then open, then kept, each by amount.
    """
    from arforecast._kpi_engine import KpiEngine
    from arforecast._kpi_math import datetimes_to_days, resolve_window

    stamp = pd.Timestamp(as_of).normalize()
    start = resolve_window(stamp, window_days)[0]
    engine = KpiEngine(ledger)
    day = int(datetimes_to_days(np.array([stamp], dtype="datetime64[ns]"))[0])
    start_day = int(datetimes_to_days(np.array([start], dtype="datetime64[ns]"))[0])
    codes = engine.promise_status(day)
    act = ledger.activities
    prom = act[
        (act["kind"] == "promise_to_pay") & act["promised_date"].notna()
    ].reset_index(drop=True)
    labels = pd.Series(codes, dtype="int64").map(_PROMISE_STATUS)
    made = engine.prom_made <= day
    in_window = (engine.prom_due >= start_day) & (engine.prom_due <= day)
    keep = made & (in_window | (labels.to_numpy() == "open"))
    out = pd.DataFrame(
        {
            "customer_id": prom["customer_id"].astype(str),
            "name": prom["customer_id"].map(_names(ledger)),
            "invoice_id": prom["invoice_id"],
            "date": prom["date"],
            "promised_date": prom["promised_date"],
            "promised_amount": engine.prom_amount_rc,
            "status": labels,
        }
    )[keep]
    if status is not None:
        out = out[out["status"].isin(list(status))]
    order = out["status"].map({"broken": 0, "open": 1, "kept": 2})
    out = out.assign(_o=order).sort_values(
        ["_o", "promised_amount", "promised_date"],
        ascending=[True, False, True],
        kind="mergesort",
    )
    return out.drop(columns="_o").reset_index(drop=True)


def benchmarks_for_kpis(table: pd.DataFrame | None = None) -> dict[str, dict[str, Any]]:
    """Industry benchmarks in the KPIs' own units, the latest period per KPI.

    Parameters
    ----------
    table : DataFrame, optional
        ``arforecast.industry.load_industry_benchmarks()`` (loaded when omitted).

    Returns
    -------
    dict
        KPI name → ``{"value": v, "source": "Credit Research Foundation, 2021-Q1",
        "population": ...}``; percent benchmarks of fraction KPIs are divided by
        100 so they format like the KPI.
    """
    if table is None:
        from arforecast.industry import load_industry_benchmarks

        table = load_industry_benchmarks()
    out: dict[str, dict[str, Any]] = {}
    ordered = table.sort_values("period", ascending=False, kind="mergesort")
    for row in ordered.to_dict(orient="records"):
        metric = str(row["metric"])
        if metric in out or metric not in tables.KPI_CATALOG:
            continue
        value = float(row["value"])
        if tables.KPI_CATALOG[metric].unit == "fraction" and row["unit"] == "percent":
            value /= 100.0
        publisher = str(row["source"]).split(",")[0]
        out[metric] = {
            "value": value,
            "source": f"{publisher}, {row['period']}",
            "population": str(row.get("population") or ""),
        }
    return out


# ---------------------------------------------------------------------------
# the summary
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartAsset:
    """One chart of the summary: PNG bytes and how to show it."""

    file: str
    title: str
    alt: str
    png: bytes
    width: int = 640
    height: int = 360

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "alt": self.alt,
            "title": self.title,
            "width": self.width,
            "height": self.height,
        }


@dataclass
class ExecutiveSummary:
    """Headline figures, changes, risks and charts for one portfolio and date.

    Build it with `build_executive_summary`; ``to_dict`` gives the
    ``summary.json`` content (schema in the module docstring), ``save`` writes the
    e-mail assets and the object displays itself in a notebook.
    """

    title: str
    subtitle: str
    portfolio: str | None
    as_of: str
    previous_as_of: str | None
    period: dict[str, str]
    currency: str
    headline: list[dict[str, Any]]
    what_changed: list[str]
    at_risk: list[dict[str, Any]]
    notes: list[str]
    charts: list[ChartAsset]
    data_quality: dict[str, Any]
    provenance: dict[str, Any]
    at_risk_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The ``summary.json`` object (JSON-serialisable)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "title": self.title,
            "subtitle": self.subtitle,
            "portfolio": self.portfolio,
            "portfolio_label": self.portfolio or "All portfolios",
            "as_of": self.as_of,
            "previous_as_of": self.previous_as_of,
            "period": dict(self.period),
            "currency": self.currency,
            "headline": [dict(h) for h in self.headline],
            "what_changed": list(self.what_changed),
            "at_risk": [dict(r) for r in self.at_risk],
            "at_risk_note": self.at_risk_note,
            "notes": list(self.notes),
            "charts": [c.to_dict() for c in self.charts],
            "data_quality": self.data_quality,
            "provenance": self.provenance,
        }

    def save(self, output_dir: str | Path) -> Path:
        """Write ``summary.json`` and the chart PNGs into ``output_dir``.

        Returns
        -------
        Path
            The path of ``summary.json``.
        """
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        for chart in self.charts:
            _atomic_bytes(folder / chart.file, chart.png)
        text = json.dumps(
            _rounded(self.to_dict()), indent=2, ensure_ascii=False, default=str
        )
        target = folder / "summary.json"
        _atomic_bytes(target, (text + "\n").encode("utf-8"))
        logger.info("executive summary assets written to %s", folder)
        return target

    # notebook display ------------------------------------------------------
    def _repr_html_(self) -> str:
        esc = html.escape
        cards = []
        for item in self.headline:
            change = item.get("change_display") or ""
            verdict = item.get("assessment")
            css = f"change arf-{verdict}" if verdict else "change"
            cards.append(
                "<li>"
                f'<span class="label">{esc(item["label"])}</span>'
                f'<span class="value">{esc(item["display"])}</span>'
                + (f'<span class="{css}">{esc(change)}</span>' if change else "")
                + f'<span class="def">{esc(item["definition"])}</span>'
                "</li>"
            )
        parts = [f'<ul class="arf-headline">{"".join(cards)}</ul>']
        return "".join(parts)

    def headline_html(self) -> tables.HtmlFragment:
        """The headline figures as cards (value, change, one-line definition)."""
        return tables.HtmlFragment(self._repr_html_(), self._text_headline())

    def changes_html(self) -> tables.HtmlFragment:
        """ "What changed" as a heading and a bullet list."""
        items = "".join(f"<li>{html.escape(s)}</li>" for s in self.what_changed)
        since = (
            f"Since {_long(self.previous_as_of)}" if self.previous_as_of else "Changes"
        )
        markup = f'<h2>What changed</h2><p class="arf-intro">{html.escape(since)}.</p>'
        markup += f'<ul class="arf-list">{items}</ul>' if items else ""
        return tables.HtmlFragment(markup, "\n".join(self.what_changed))

    def risks_html(self) -> tables.HtmlFragment:
        """ "What is at risk" as a heading and a short table."""
        frame = pd.DataFrame.from_records(
            self.at_risk,
            columns=["kind", "name", "customer_id", "amount", "detail"],
        )
        if len(frame):
            frame["kind"] = frame["kind"].map(_RISK_LABELS).fillna(frame["kind"])
            frame["name"] = frame["name"].where(
                frame["name"].notna(), frame["customer_id"]
            )
        table = tables.frame_table(
            frame,
            [
                tables.Column("kind", "Risk"),
                tables.Column("name", "Customer"),
                tables.Column("amount", "Amount", "currency"),
                tables.Column("detail", "Why / next step"),
            ],
            currency=self.currency,
            caption=None,
            note=self.at_risk_note or None,
            empty="Nothing flagged.",
        )
        heading = (
            '<h2>What is at risk</h2><p class="arf-intro">The accounts to chase '
            "first, the largest disputes and promises to pay that were broken.</p>"
        )
        return tables.HtmlFragment(heading + table.html, table.text)

    def notes_html(self) -> tables.HtmlFragment:
        """Caveats as a short list (empty when there are none)."""
        if not self.notes:
            return tables.HtmlFragment("", "")
        items = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return tables.HtmlFragment(
            f'<p class="arf-note"><strong>Notes</strong></p>'
            f'<ul class="arf-list arf-note">{items}</ul>',
            "\n".join(self.notes),
        )

    def show(self) -> None:
        """Display the one-page summary: headline, chart, changes, risks, notes."""
        from IPython.display import display

        from arforecast.reporting.charts import _PngDisplay

        display(self.headline_html())
        if self.charts:
            first = self.charts[0]
            display(_PngDisplay(first.png, first.alt, first.width))
        display(self.changes_html())
        display(self.risks_html())
        notes = self.notes_html()
        if notes.html:
            display(notes)

    def _text_headline(self) -> str:
        return "\n".join(
            f"{h['label']}: {h['display']} {h.get('change_display') or ''}".rstrip()
            for h in self.headline
        )

    def __repr__(self) -> str:
        return f"ExecutiveSummary({self.title!r})\n{self._text_headline()}"


_RISK_LABELS = {
    "account": "Overdue account",
    "dispute": "Open dispute",
    "broken_promise": "Broken promise",
}


def _rounded(value: Any) -> Any:
    """Floats rounded to 4 decimals (amounts stay exact to the cent)."""
    if isinstance(value, float):
        return None if not np.isfinite(value) else round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _atomic_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the e-mail step reads it
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _long(iso: str | None) -> str:
    if not iso:
        return ""
    stamp = pd.Timestamp(iso)
    return f"{stamp.day} {stamp.strftime('%b %Y')}"


def _headline_item(
    key: str,
    value: Any,
    previous: Any,
    *,
    currency: str,
    reason: str | None,
    previous_label: str,
) -> dict[str, Any]:
    info = tables.KPI_CATALOG[key]
    value = None if value is None or pd.isna(value) else float(value)
    prev = None if previous is None or pd.isna(previous) else float(previous)
    change = None if value is None or prev is None else value - prev
    change_display = ""
    if change is not None:
        shown = tables.format_change(value, prev, info, currency=currency)
        change_display = f"{shown} vs {previous_label}"
    return {
        "key": key,
        "label": info.label,
        "value": value,
        "unit": info.unit,
        "display": tables.format_value(value, info.unit, currency, reason=reason),
        "definition": info.definition,
        "change": change,
        "change_display": change_display,
        "assessment": tables.assess_change(value, prev, info),
    }


def _signed_percent(fraction: float) -> str:
    """A relative change as ``+11.4%``; one that rounds to zero as ``0.0%``."""
    return tables.format_signed(fraction * 100, suffix="%")


def _risk_note(risks: Sequence[Mapping[str, Any]]) -> str:
    """One line on how the "at risk" list is ordered (``""`` when it is empty)."""
    kinds = {r.get("kind") for r in risks}
    others = "disputes and broken promises are listed largest first."
    if "account" in kinds:
        ranking = tables.WORKLIST_RANKING_NOTE  # "Ranked by past-due amount, …"
        text = "Overdue accounts are " + ranking[0].lower() + ranking[1:]
        if kinds & {"dispute", "broken_promise"}:
            text = f"{text.rstrip('.')}; {others}"
        return text
    if kinds & {"dispute", "broken_promise"}:
        return others[0].upper() + others[1:]
    return ""


def _changes(
    now: Mapping[str, Any],
    before: Mapping[str, Any] | None,
    headline: Sequence[Mapping[str, Any]],
    currency: str,
) -> list[str]:
    """Plain sentences on the month's movements, largest first."""
    if before is None:
        return ["No earlier month end in the data to compare with."]
    sentences: list[tuple[float, str]] = []
    by_key = {h["key"]: h for h in headline}

    open_now, open_before = now.get("open_ar"), before.get("open_ar")
    if open_now is not None and open_before:
        delta = open_now - open_before
        pct = delta / abs(open_before)
        verb = "rose" if delta > 0 else "fell"
        sentences.append(
            (
                abs(pct) * 3,
                f"Open receivables {verb} by {tables.format_amount(abs(delta), currency)}"
                f" ({_signed_percent(pct)}) to "
                f"{tables.format_amount(open_now, currency)}.",
            )
        )
    past_now = (now.get("totals") or {}).get("past_due_ar")
    past_before = (before.get("totals") or {}).get("past_due_ar")
    if past_now is not None and past_before:
        delta = past_now - past_before
        pct = delta / abs(past_before)
        verb = "grew" if delta > 0 else "shrank"
        sentences.append(
            (
                abs(pct) * 3,
                f"The overdue part {verb} by "
                f"{tables.format_amount(abs(delta), currency)} "
                f"({_signed_percent(pct)}) to "
                f"{tables.format_amount(past_now, currency)}.",
            )
        )
    for key, weight in (("dso", 1 / 5), ("add", 1 / 3), ("cei", 1 / 5)):
        item = by_key.get(key)
        if item is None or item["change"] is None:
            continue
        info = tables.KPI_CATALOG[key]
        delta = item["change"]
        if abs(delta) < 0.05:
            sentences.append((0.0, f"{info.label} was unchanged at {item['display']}."))
            continue
        direction = "up" if delta > 0 else "down"
        unit = "days" if info.unit == "days" else "points"
        judgement = f" ({item['assessment']})" if item["assessment"] else ""
        sentences.append(
            (
                abs(delta) * weight,
                f"{info.label} {direction} {abs(delta):.1f} {unit} to "
                f"{item['display']}{judgement}.",
            )
        )
    new_now = (now.get("accounts_in_collections") or {}).get("count")
    new_before = (before.get("accounts_in_collections") or {}).get("count")
    if new_now is not None and new_before is not None and new_now != new_before:
        delta = int(new_now) - int(new_before)
        word = "more" if delta > 0 else "fewer"
        noun = "customer with an overdue balance"
        if abs(delta) != 1:
            noun = "customers with overdue balances"
        sentences.append(
            (
                abs(delta) / max(int(new_before), 1) * 2,
                f"{abs(delta):,} {word} {noun} ({int(new_now):,} in all).",
            )
        )
    sentences.sort(key=lambda item: -item[0])
    return [text for _, text in sentences]


def _risks(
    ledger: Any,
    as_of: pd.Timestamp,
    currency: str,
    *,
    window_days: int | None,
    accounts: int,
    disputes: int,
    promises: int,
) -> list[dict[str, Any]]:
    from arforecast.kpis import collector_worklist

    risks: list[dict[str, Any]] = []
    worklist = collector_worklist(ledger, as_of, top=accounts, window_days=window_days)
    for row in worklist.to_dict(orient="records"):
        risks.append(
            {
                "kind": "account",
                "customer_id": str(row["customer_id"]),
                "name": None if pd.isna(row["name"]) else str(row["name"]),
                "amount": float(row["past_due_amount"]),
                "amount_display": tables.format_amount(
                    row["past_due_amount"], currency
                ),
                "detail": f"{row['reasons']}. Next step: {row['next_action']}.",
            }
        )
    for row in open_disputes(ledger, as_of, top=disputes).to_dict(orient="records"):
        since = row["days_in_dispute"]
        age = f"in dispute for {since:.0f} days" if pd.notna(since) else "in dispute"
        risks.append(
            {
                "kind": "dispute",
                "customer_id": str(row["customer_id"]),
                "name": None if pd.isna(row["name"]) else str(row["name"]),
                "amount": float(row["balance_rc"]),
                "amount_display": tables.format_amount(row["balance_rc"], currency),
                "detail": f"Invoice {row['invoice_id']} {age}.",
            }
        )
    broken = promises_to_pay(
        ledger, as_of, window_days=window_days, status=["broken"]
    ).head(promises)
    for row in broken.to_dict(orient="records"):
        amount = row["promised_amount"]
        risks.append(
            {
                "kind": "broken_promise",
                "customer_id": str(row["customer_id"]),
                "name": None if pd.isna(row["name"]) else str(row["name"]),
                "amount": None if pd.isna(amount) else float(amount),
                "amount_display": tables.format_amount(amount, currency),
                "detail": "Promised to pay by "
                f"{pd.Timestamp(row['promised_date']).date().isoformat()}; not received.",
            }
        )
    return risks


def build_executive_summary(
    ledger: Any,
    as_of: object,
    *,
    portfolio: str | None = None,
    weeks: int = 13,
    window_days: int | None = None,
    forecast: Any | None = None,
    params_json: str | Mapping[str, Any] | None = None,
    top_accounts: int = 5,
    top_disputes: int = 3,
    top_promises: int = 3,
    random_state: int = 0,
) -> ExecutiveSummary:
    """Build the executive summary of one portfolio as of a date.

    Parameters
    ----------
    ledger : Ledger
        Already narrowed to ``portfolio`` (see
        `arforecast.reporting.provenance.load_report_ledger`).
    as_of : date-like
    portfolio : str, optional
        Its name, for the title (``None`` = all portfolios).
    weeks : int, default=13
        Weeks of the cash forecast.
    window_days : int, optional
        KPI window (default: the 3 calendar months ending at as_of).
    forecast : CashForecast, optional
        A forecast already made (else `arforecast.cashflow.forecast_cash` runs).
    params_json : str or mapping, optional
        The job's parameters, for the provenance block.
    top_accounts, top_disputes, top_promises : int
        How many of each "at risk" item to list.
    random_state : int, default=0
        Seed of the forecast.

    Returns
    -------
    ExecutiveSummary
    """
    from arforecast.cashflow import forecast_cash
    from arforecast.kpis import compute_kpis, kpis_to_dict
    from arforecast.reporting import charts

    stamp = pd.Timestamp(as_of).normalize()
    currency = ledger.currency
    now = kpis_to_dict(compute_kpis(ledger, stamp, window_days=window_days))
    previous = previous_month_end(stamp)
    before = kpis_at_previous_month_end(ledger, stamp, window_days=window_days)
    prev_label = _long(previous.date().isoformat())
    reasons = now.get("missing") or {}

    headline = [
        _headline_item(
            key,
            now.get(key),
            before.get(key) if before else None,
            currency=currency,
            reason=reasons.get(key),
            previous_label=prev_label,
        )
        for key in HEADLINE_KPIS
    ]

    # cash: expected receipts over the next weeks, against the last weeks' actuals
    notes: list[str] = []
    if forecast is None:
        forecast = forecast_cash(ledger, stamp, weeks=weeks, random_state=random_state)
    weekly = forecast.weekly
    expected = float(weekly["expected"].sum())
    lo80, hi80 = tables.combined_range(weekly)
    history = weekly_receipts(ledger, stamp, weeks=weeks)
    last = float(history["actual"].sum())
    split = tables.forecast_sources(weekly)
    sources = tables.forecast_sources_text(weekly, currency)
    definition = f"Forecast customer receipts over the next {weeks} weeks"
    definition += f"; {sources}. " if sources else ". "
    definition += (
        f"8 times out of 10 the total falls between "
        f"{tables.format_amount(lo80, currency)} and "
        f"{tables.format_amount(hi80, currency)}."
    )
    cash_item = {
        "key": "expected_cash",
        "label": f"Expected cash in, next {weeks} weeks",
        "value": expected,
        "unit": "currency",
        "display": tables.format_amount(expected, currency),
        "definition": definition,
        "change": expected - last,
        "change_display": (
            f"vs {tables.format_amount(last, currency)} received in the last "
            f"{weeks} weeks"
        ),
        "assessment": None,
        "lo80": lo80,
        "hi80": hi80,
        "weeks": int(weeks),
        "from_open_invoices": split[0] if split else None,
        "from_new_invoices": split[1] if split else None,
    }
    headline.append(cash_item)
    record_line = _track_record_line(
        ledger, stamp, forecast, weeks=weeks, random_state=random_state
    )
    if record_line:
        notes.append(record_line)
    notes.extend(_model_notes(forecast.model))

    what_changed = _changes(now, before, headline, currency)
    at_risk = _risks(
        ledger,
        stamp,
        currency,
        window_days=window_days,
        accounts=top_accounts,
        disputes=top_disputes,
        promises=top_promises,
    )

    # charts: the cash outlook first (the one the notebook shows), then aging
    cash_fig = charts.cash_forecast_chart(
        weekly,
        history=history,
        currency=currency,
        title=f"Expected cash receipts, next {weeks} weeks",
    )
    aging_fig = charts.aging_chart(
        now["aging"], unapplied_credit=now.get("unapplied_credit"), currency=currency
    )
    chart_assets = []
    for file, fig in (("summary_cash.png", cash_fig), ("summary_aging.png", aging_fig)):
        width_in, height_in = fig.get_size_inches()
        chart_title = charts.figure_alt(fig)
        chart_assets.append(
            ChartAsset(
                file=file,
                title=chart_title,
                alt=_chart_alt(file, chart_title, weekly, now, currency),
                png=charts.figure_to_png(fig),
                width=640,
                height=int(round(640 * height_in / width_in)),
            )
        )

    provenance = build_provenance(ledger, params_json, as_of=stamp.date().isoformat())
    quality = provenance.pop("data_quality")
    if quality["counts"]["set_aside"] or quality["counts"]["warning"]:
        notes.append(
            f"Data quality: {quality['summary']} (details in the full reports)."
        )

    block = report_title(
        "Executive summary",
        as_of=stamp,
        portfolio=portfolio,
        window_days=window_days,
        currency=currency,
    )
    return ExecutiveSummary(
        title=block.title,
        subtitle=block.subtitle,
        portfolio=portfolio,
        as_of=stamp.date().isoformat(),
        previous_as_of=previous.date().isoformat() if before else None,
        period={"start": block.period_start, "end": block.period_end},
        currency=currency,
        headline=headline,
        what_changed=what_changed,
        at_risk=at_risk,
        notes=notes,
        charts=chart_assets,
        data_quality=quality,
        provenance=provenance,
        at_risk_note=_risk_note(at_risk),
    )


def _track_record_line(
    ledger: Any, stamp: pd.Timestamp, forecast: Any, *, weeks: int, random_state: int
) -> str | None:
    """How the forecast made about a quarter ago compares with what came in.

    The origin is the latest one on the forecast's own 4-weekly calibration grid
    that lies at most ``weeks`` weeks back (12 weeks for 13), so its forecast is
    already computed; the weeks observed since then are compared. None when that
    origin precedes the data.
    """
    from arforecast.cashflow import track_record

    step = max(4, (int(weeks) // 4) * 4)
    record = track_record(
        ledger,
        stamp,
        n_origins=1,
        step_weeks=step,
        weeks=weeks,
        random_state=random_state,
        forecast=forecast,
    )
    seen = record[record["actual"].notna()] if not record.empty else record
    if len(seen) < 4:
        return None
    currency = ledger.currency
    predicted = float(seen["forecast"].sum())
    actual = float(seen["actual"].sum())
    made = pd.Timestamp(record["origin"].iloc[0]).date().isoformat()
    inside = int(seen["covered_80"].astype(bool).sum())
    if actual > 0:
        gap = (predicted - actual) / actual
        verdict = (
            "the forecast was on target"
            if abs(gap) < 0.005
            else f"the forecast was {abs(gap):.0%} too {'high' if gap > 0 else 'low'}"
        )
    else:
        verdict = ""
    return (
        f"Track record: the forecast made on {made} expected "
        f"{tables.format_amount(predicted, currency)} for the {len(seen)} weeks to "
        f"{stamp.date().isoformat()}; {tables.format_amount(actual, currency)} came "
        f"in{f' ({verdict})' if verdict else ''}; {inside} of {len(seen)} weeks fell "
        "inside its 80% range."
    )


def _model_notes(model: Mapping[str, Any]) -> list[str]:
    notes = []
    text = json.dumps(model, default=str).lower()
    if "fallback" in text or "fell back" in text:
        notes.append(
            "The cash forecast used a fallback model for part of the calculation; see "
            "the cash-forecast report for details."
        )
    return notes


def _chart_alt(
    file: str,
    title: str,
    weekly: pd.DataFrame,
    kpis: Mapping[str, Any],
    currency: str,
) -> str:
    if file == "summary_cash.png":
        sources = tables.forecast_sources_text(weekly, currency)
        return (
            f"{title}: {tables.format_amount(weekly['expected'].sum(), currency)} "
            f"expected over {len(weekly)} weeks" + (f"; {sources}." if sources else ".")
        )
    current = (kpis.get("aging") or {}).get("current")
    return (
        f"{title}: {tables.format_amount(kpis.get('open_ar'), currency)} open, of "
        f"which {tables.format_amount(current, currency)} not yet due."
    )
