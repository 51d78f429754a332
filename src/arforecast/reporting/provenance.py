"""Report inputs and provenance: load a report's ledger, title it, and sign it off.

The report notebooks call three functions from here, and nothing else touches the
data before the report's own sections:

- `load_report_ledger` resolves the ``data`` parameter (relative paths against the
  notebook's folder; the default sample folder is generated with
  `arforecast.sample.write_sample` when missing), loads the ledger and narrows it
  to the ``portfolio``;
- `show_title` displays the report's title (report, portfolio, period, as-of date)
  and records it under the ``application/vnd.arforecast.title+json`` output type,
  which `arforecast.reporting.render` lifts into the page header;
- `show_provenance` ends every report with where its numbers come from: arforecast
  version, parameters, input fingerprint, data-quality summary and reconciliation,
  and the generation time in UTC (``application/vnd.arforecast.provenance+json``
  holds the same as data; the renderer places it in the page footer).
"""

from __future__ import annotations

import html
import json
import logging
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from arforecast.exceptions import ReportError
from arforecast.reporting import tables

logger = logging.getLogger(__name__)

__all__ = [
    "PROVENANCE_MIMETYPE",
    "TITLE_MIMETYPE",
    "ReportTitle",
    "build_provenance",
    "format_parameter",
    "load_report_ledger",
    "provenance_html",
    "report_period",
    "report_title",
    "show_provenance",
    "show_title",
]

TITLE_MIMETYPE = "application/vnd.arforecast.title+json"
PROVENANCE_MIMETYPE = "application/vnd.arforecast.provenance+json"

#: Folder name of the sample ledger that ``make demo`` writes beside ``notebooks/``.
SAMPLE_FOLDER = "sample_data"


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("arforecast")
    except Exception:  # noqa: BLE001 - an uninstalled checkout still reports
        import arforecast

        return str(getattr(arforecast, "__version__", "unknown"))


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------


def resolve_data_path(data: str | Path, *, base: str | Path | None = None) -> Path:
    """Resolve a ``data`` parameter: absolute as given, else relative to ``base``.

    Parameters
    ----------
    data : str or Path
    base : str or Path, optional
        Folder relative paths start from (default: the working directory, which
        is the notebook's folder in JupyterLab and under the runner).
    """
    path = Path(data).expanduser()
    if not path.is_absolute():
        path = Path(base or Path.cwd()) / path
    return path.resolve()


def load_report_ledger(
    data: str | Path,
    *,
    mapping: str | Path | None = None,
    currency: str | None = None,
    portfolio: str | None = None,
    base: str | Path | None = None,
) -> Any:
    """Load the ledger a report runs on, narrowed to one portfolio.

    Parameters
    ----------
    data : str or Path
        Ledger folder or file (see `arforecast.io.load_ledger`); a relative path
        starts at ``base``. When it names the default sample folder
        (``sample_data``) and that folder does not exist, the sample ledger is
        generated there first, so the notebooks run as they are.
    mapping : str or Path, optional
        Column mapping file or profile name.
    currency : str, optional
        Reporting currency.
    portfolio : str, optional
        Keep only this portfolio (``None`` = all portfolios).
    base : str or Path, optional
        Folder for relative paths (default: the working directory).

    Returns
    -------
    Ledger

    Raises
    ------
    ReportError
        If ``data`` does not exist and is not the sample folder.
    """
    from arforecast.io import load_ledger

    path = resolve_data_path(data, base=base)
    if not path.exists():
        if path.name != SAMPLE_FOLDER:
            raise ReportError(
                f"The report's data {str(data)!r} does not exist (resolved to {path}). "
                "Pass the ledger folder as the `data` parameter, or run "
                "`arforecast sample --out sample_data` in the repository root."
            )
        from arforecast.sample import write_sample

        logger.info("sample ledger missing; writing it to %s", path)
        write_sample(path)

    ledger = load_ledger(str(path), mapping, currency=currency)
    if portfolio:
        ledger = ledger.subset(portfolio=portfolio)
    logger.info("report ledger: %r (portfolio=%s)", ledger, portfolio or "all")
    return ledger


# ---------------------------------------------------------------------------
# title
# ---------------------------------------------------------------------------


def report_period(
    as_of: object, window_days: int | None = None
) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last day of the KPI window that ends at ``as_of``.

    The default window is the 3 calendar months ending at ``as_of``: start =
    (as_of + 1 day) − 3 months, the rule the KPI module uses, so a month-end as_of
    gives three whole months; ``window_days`` sets its length in days instead.

    Examples
    --------
    >>> [d.date().isoformat() for d in report_period("2024-03-31")]
    ['2024-01-01', '2024-03-31']
    >>> report_period("2024-03-15")[0].date().isoformat()
    '2023-12-16'
    >>> [d.date().isoformat() for d in report_period("2024-03-31", 30)]
    ['2024-03-02', '2024-03-31']
    """
    end = pd.Timestamp(as_of).normalize()
    if window_days:
        start = end - pd.Timedelta(days=int(window_days) - 1)
    else:
        start = (end + pd.Timedelta(days=1)) - pd.DateOffset(months=3)
    return pd.Timestamp(start), end


def _long_date(value: pd.Timestamp) -> str:
    return f"{value.day} {value.strftime('%b %Y')}"


@dataclass(frozen=True)
class ReportTitle:
    """The title block of a report.

    Attributes
    ----------
    report : str
        Report name (``"Collections review"``).
    portfolio : str
        ``"All portfolios"`` or the portfolio's name.
    as_of : str
        ISO as-of date.
    period_start, period_end : str
        ISO dates of the period the figures cover.
    currency : str or None
        Reporting currency.
    """

    report: str
    portfolio: str
    as_of: str
    period_start: str
    period_end: str
    currency: str | None = None

    @property
    def title(self) -> str:
        """``"Collections review — DACH — as of 31 Dec 2025"``."""
        when = _long_date(pd.Timestamp(self.as_of))
        return f"{self.report} \u2014 {self.portfolio} \u2014 as of {when}"

    @property
    def subtitle(self) -> str:
        """Period covered and the reporting currency."""
        start = _long_date(pd.Timestamp(self.period_start))
        end = _long_date(pd.Timestamp(self.period_end))
        text = f"Period {start} \u2013 {end}"
        if self.currency:
            text += f" \u00b7 amounts in {self.currency}"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "report": self.report,
            "portfolio": self.portfolio,
            "as_of": self.as_of,
            "period_start": self.period_start,
            "period_end": self.period_end,
            "currency": self.currency,
            "title": self.title,
            "subtitle": self.subtitle,
        }

    def _repr_html_(self) -> str:
        return (
            f'<h1 class="arf-title">{html.escape(self.title)}</h1>'
            f'<p class="arf-subtitle">{html.escape(self.subtitle)}</p>'
        )


def report_title(
    report: str,
    *,
    as_of: object,
    portfolio: str | None = None,
    window_days: int | None = None,
    period: tuple[object, object] | None = None,
    currency: str | None = None,
) -> ReportTitle:
    """Build a report's title block.

    Parameters
    ----------
    report : str
        Report name.
    as_of : date-like
    portfolio : str, optional
        ``None`` = all portfolios.
    window_days : int, optional
        KPI window length (default: the 3 calendar months ending at as_of).
    period : (date-like, date-like), optional
        The period shown, overriding the KPI window (e.g. a forecast's weeks).
    currency : str, optional
    """
    start, end = period if period is not None else report_period(as_of, window_days)
    return ReportTitle(
        report=report,
        portfolio=portfolio or "All portfolios",
        as_of=pd.Timestamp(as_of).date().isoformat(),  # type: ignore[arg-type]
        period_start=pd.Timestamp(start).date().isoformat(),  # type: ignore[arg-type]
        period_end=pd.Timestamp(end).date().isoformat(),  # type: ignore[arg-type]
        currency=currency,
    )


def show_title(
    report: str,
    *,
    as_of: object,
    portfolio: str | None = None,
    window_days: int | None = None,
    period: tuple[object, object] | None = None,
    currency: str | None = None,
) -> None:
    """Display the report's title and record it for the HTML renderer.

    Parameters are those of `report_title`.
    """
    from IPython.display import display

    block = report_title(
        report,
        as_of=as_of,
        portfolio=portfolio,
        window_days=window_days,
        period=period,
        currency=currency,
    )
    display(
        {
            "text/html": block._repr_html_(),
            "text/plain": f"{block.title}\n{block.subtitle}",
            TITLE_MIMETYPE: block.to_dict(),
        },
        raw=True,
    )


# ---------------------------------------------------------------------------
# provenance
# ---------------------------------------------------------------------------


def _parse_params(params_json: str | Mapping[str, Any] | None) -> dict[str, Any]:
    if params_json is None or params_json == "":
        return {}
    if isinstance(params_json, Mapping):
        return dict(params_json)
    try:
        parsed = json.loads(params_json)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"params_json must be a JSON object; got {params_json[:80]!r} ({exc})."
        ) from exc
    if not isinstance(parsed, dict):
        raise ReportError(
            f"params_json must be a JSON object; got {type(parsed).__name__}."
        )
    return parsed


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    clean = frame.astype(object).where(frame.notna(), None)
    return json.loads(json.dumps(clean.to_dict(orient="records"), default=str))


def build_provenance(
    ledger: Any,
    params_json: str | Mapping[str, Any] | None = None,
    *,
    generated_at: datetime | None = None,
    **parameters: Any,
) -> dict[str, Any]:
    """Collect a report's provenance as a JSON-serialisable dict.

    Parameters
    ----------
    ledger : Ledger
        The ledger the report used.
    params_json : str or mapping, optional
        The job's parameters as JSON (passed by the runner).
    generated_at : datetime, optional
        Generation time (default: now, in UTC).
    **parameters
        The notebook's own parameters, shown when ``params_json`` is empty (an
        interactive run).

    Returns
    -------
    dict
        ``arforecast_version``, ``python``, ``parameters``, ``parameters_source``
        (``"job"`` or ``"notebook"``), ``source``, ``fingerprint``, ``currency``,
        ``data_quality`` (``counts``, ``summary``, ``reconciliation``),
        ``generated_at`` (ISO 8601, UTC).
    """
    params = _parse_params(params_json)
    source = "job" if params else "notebook"
    if not params:
        params = {k: v for k, v in parameters.items() if k != "params_json"}
    when = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    quality = getattr(ledger, "quality", None)
    counts = {"fatal": 0, "set_aside": 0, "warning": 0}
    summary_line = "no data-quality information"
    reconciliation: list[dict[str, Any]] = []
    if quality is not None:
        counts = {
            "fatal": len(quality.fatal),
            "set_aside": len(quality.set_aside),
            "warning": len(quality.warnings),
        }
        summary_line = quality.summary().splitlines()[0]
        reconciliation = _records(quality.reconciliation)
    return {
        "arforecast_version": _version(),
        "python": platform.python_version(),
        "parameters": json.loads(json.dumps(params, default=str)),
        "parameters_source": source,
        "source": str(getattr(ledger, "source", "")),
        "fingerprint": str(getattr(ledger, "fingerprint", "")),
        "currency": getattr(ledger, "currency", None),
        "data_quality": {
            "counts": counts,
            "summary": summary_line,
            "reconciliation": reconciliation,
        },
        "generated_at": when.isoformat(timespec="seconds").replace("+00:00", "Z"),
    }


def format_parameter(value: Any) -> str:
    """A job parameter's value as readable plain text (not yet HTML-escaped).

    ``None`` is ``—``, lists are joined by ``", "``, mappings read ``key: value``,
    booleans ``yes``/``no``; an empty text or list says so, so nothing is lost.

    Examples
    --------
    >>> format_parameter(None)
    '—'
    >>> format_parameter([7, 14, 30])
    '7, 14, 30'
    >>> format_parameter({"a": 1, "b": None})
    'a: 1; b: —'
    """
    if value is None:
        return tables.MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if value else "(empty)"
    if isinstance(value, Mapping):
        items = [f"{k}: {format_parameter(v)}" for k, v in value.items()]
        return "; ".join(items) if items else "(none)"
    if isinstance(value, (list, tuple, set, frozenset)):
        parts = [format_parameter(v) for v in value]
        return ", ".join(parts) if parts else "(none)"
    return str(value)


def provenance_html(provenance: Mapping[str, Any]) -> str:
    """The provenance footer as escaped HTML.

    The parameters are a definition list of name and readable value
    (`format_parameter`); the same values, as data, are in the provenance JSON.
    """
    esc = html.escape
    params = provenance.get("parameters", {})
    label = (
        "Job parameters"
        if provenance.get("parameters_source") == "job"
        else ("Notebook parameters (interactive run)")
    )
    param_items = "".join(
        f"<dt>{esc(str(k))}</dt><dd>{esc(format_parameter(v))}</dd>"
        for k, v in params.items()
    )
    quality = provenance.get("data_quality", {})
    recon = pd.DataFrame.from_records(quality.get("reconciliation", []))
    recon_html = (
        tables.reconciliation_table(recon, caption=None).html if len(recon) else ""
    )
    fingerprint = str(provenance.get("fingerprint", ""))
    return (
        '<footer class="arf-provenance">'
        "<h2>About this report</h2>"
        '<dl class="arf-prov-facts">'
        f"<dt>Generated</dt><dd>{esc(str(provenance.get('generated_at', '')))} "
        "(UTC)</dd>"
        f"<dt>arforecast</dt><dd>version {esc(str(provenance.get('arforecast_version')))}"
        f" (Python {esc(str(provenance.get('python', '')))})</dd>"
        f"<dt>Input</dt><dd>{esc(str(provenance.get('source', '')))}</dd>"
        f"<dt>Input fingerprint</dt><dd><code>{esc(fingerprint[:16])}</code>"
        f'<span class="arf-muted"> (SHA-256 {esc(fingerprint)})</span></dd>'
        f"<dt>Reporting currency</dt><dd>{esc(str(provenance.get('currency') or ''))}"
        "</dd>"
        f"<dt>Data quality</dt><dd>{esc(str(quality.get('summary', '')))}</dd>"
        "</dl>"
        f"{recon_html}"
        f'<p class="arf-prov-label">{esc(label)}</p>'
        f'<dl class="arf-params">{param_items}</dl>'
        "</footer>"
    )


def show_provenance(
    ledger: Any,
    params_json: str | Mapping[str, Any] | None = None,
    **parameters: Any,
) -> None:
    """Display the provenance footer (the last cell of every report).

    Parameters
    ----------
    ledger : Ledger
    params_json : str or mapping, optional
        The job's parameters as JSON.
    **parameters
        The notebook's parameters, shown when ``params_json`` is empty.

    See Also
    --------
    build_provenance : the same content as a dict.
    """
    from IPython.display import display

    provenance = build_provenance(ledger, params_json, **parameters)
    display(
        {
            "text/html": provenance_html(provenance),
            "text/plain": (
                f"arforecast {provenance['arforecast_version']}, input "
                f"{provenance['fingerprint'][:16]}, generated "
                f"{provenance['generated_at']}"
            ),
            PROVENANCE_MIMETYPE: provenance,
        },
        raw=True,
    )
