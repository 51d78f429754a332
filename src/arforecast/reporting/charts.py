"""Static report charts (matplotlib, Agg): aging, KPI trends, pipeline, forecasts.

Every function takes a frame or mapping the library produces and returns a
`matplotlib.figure.Figure` built without pyplot (so nothing is shown or kept alive
behind the caller's back). Figures are sized for an e-mail column (6.4 in wide, shown
at 640 px) and saved at 2× resolution, so they stay sharp on screens and in print.

Conventions: a title on every chart, units (and the currency) in the axis labels,
thousands separators on amount axes, the Okabe–Ito colour-blind-safe palette, no
gridlines beyond a light horizontal guide, no 3-D, no legends where a direct label
does.

Use `figure_to_png` to get PNG bytes (for e-mail) and `show_figure` to display a
chart in a notebook as an embedded PNG, which nbconvert inlines as
``<img src="data:image/png;base64,...">``.
"""

from __future__ import annotations

import io
import logging
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg", force=False)

import matplotlib.dates as mdates  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter  # noqa: E402
from PIL import Image  # noqa: E402

from arforecast.exceptions import ReportError  # noqa: E402
from arforecast.reporting.tables import aging_label, format_compact  # noqa: E402

logger = logging.getLogger(__name__)

__all__ = [
    "PALETTE",
    "aging_chart",
    "cash_forecast_chart",
    "cei_trend_chart",
    "dso_trend_chart",
    "figure_to_png",
    "pipeline_chart",
    "reliability_chart",
    "show_figure",
    "track_record_chart",
]

#: Okabe & Ito (2008) colour-blind-safe palette.
PALETTE = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "black": "#000000",
    "grey": "#8C8C8C",
    "light": "#D9D9D9",
}

# current → 120+: blue for "not yet due", then a light-to-dark orange/red ramp
_AGING_COLOURS = ["#0072B2", "#F6C667", "#E69F00", "#E07B00", "#D55E00", "#8F3B00"]

FIG_WIDTH_IN = 6.4
DPI = 200
_TEXT = "#222222"

_RC = {
    "font.size": 9.0,
    "axes.titlesize": 11.0,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 9.0,
    "axes.edgecolor": "#555555",
    "axes.labelcolor": _TEXT,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": _TEXT,
    "ytick.color": _TEXT,
    "xtick.labelsize": 8.5,
    "ytick.labelsize": 8.5,
    "legend.fontsize": 8.5,
    "legend.frameon": False,
    "text.color": _TEXT,
    "svg.fonttype": "none",
}


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


def _new_figure(height: float = 3.6) -> tuple[Figure, Axes]:
    with matplotlib.rc_context(_RC):
        fig = Figure(figsize=(FIG_WIDTH_IN, height), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
    _style_axes(ax)
    return fig, ax


def _style_axes(ax: Axes) -> None:
    for key, value in _RC.items():
        if key.startswith("axes.spines."):
            ax.spines[key.rsplit(".", 1)[1]].set_visible(value)
    ax.title.set_fontsize(_RC["axes.titlesize"])
    ax.title.set_fontweight("bold")
    ax.tick_params(labelsize=_RC["xtick.labelsize"], colors=_TEXT)
    ax.xaxis.label.set_fontsize(_RC["axes.labelsize"])
    ax.yaxis.label.set_fontsize(_RC["axes.labelsize"])
    ax.grid(axis="y", color="#E6E6E6", linewidth=0.8)
    ax.set_axisbelow(True)


def _title(ax: Axes, title: str, subtitle: str | None = None) -> None:
    lines = textwrap.wrap(subtitle, 88) if subtitle else []
    ax.set_title(
        title, loc="left", fontsize=11, fontweight="bold", pad=6 + 11.5 * len(lines)
    )
    if lines:
        ax.annotate(
            "\n".join(lines),
            (0.0, 1.0),
            xycoords="axes fraction",
            xytext=(0, 4),
            textcoords="offset points",
            fontsize=8.5,
            color="#555555",
            va="bottom",
            ha="left",
        )


def _amount_scale(max_abs: float) -> tuple[float, str]:
    """Divisor and unit word for an amount axis (``1e3, "thousands"``)."""
    if max_abs >= 1e8:
        return 1e6, " millions"
    if max_abs >= 1e5:
        return 1e3, " thousands"
    return 1.0, ""


def _amount_axis(
    ax: Axes, values: Sequence[float], currency: str | None, what: str, axis: str = "y"
) -> None:
    finite = [abs(v) for v in values if v is not None and np.isfinite(v)]
    divisor, word = _amount_scale(max(finite, default=0.0))
    fmt = FuncFormatter(lambda x, _pos: f"{x / divisor:,.0f}")
    unit = f"{currency or 'amount'}{word}"
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(fmt)
    target.set_major_locator(MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]))
    target.set_label_text(f"{what} ({unit})")


def _dates(values: Any) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values))


def _date_axis(ax: Axes, dates: pd.DatetimeIndex) -> None:
    """Month (or day) ticks; the year is shown on the first tick and each January."""
    span = (dates.max() - dates.min()).days if len(dates) else 0
    if span > 500:
        locator: mdates.DateLocator = mdates.MonthLocator(bymonth=(1, 4, 7, 10))
    elif span > 75:
        step = 1 if span <= 200 else 2
        locator = mdates.MonthLocator(interval=step)
    else:
        locator = mdates.WeekdayLocator(byweekday=mdates.MO, interval=2)
    short = "%b" if span > 75 else "%d %b"

    def _label(x: float, pos: int | None) -> str:
        when = mdates.num2date(x)
        if pos == 0 or (when.month == 1 and (span > 75 or when.day <= 14)):
            return when.strftime(f"{short}\n%Y")
        return when.strftime(short)

    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(FuncFormatter(_label))


def _month_end_axis(ax: Axes, dates: pd.DatetimeIndex) -> None:
    """Ticks on the month ends themselves, labelled with their month.

    A point dated 31 Dec reads "Dec", not as a tick for "Jan" next to it.
    """
    if not len(dates):
        return
    step = 1 if len(dates) <= 13 else (2 if len(dates) <= 26 else 3)
    ticks = list(dates[::-1][::step][::-1])
    labels = []
    for i, when in enumerate(ticks):
        show_year = i == 0 or when.month <= step
        labels.append(when.strftime("%b\n%Y") if show_year else when.strftime("%b"))
    ax.set_xticks(ticks, labels)
    pad = pd.Timedelta(days=12)
    ax.set_xlim(dates.min() - pad, dates.max() + pad)


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ReportError(
            f"{what} needs the columns {list(columns)}; missing {missing}. "
            f"Got columns {list(frame.columns)}."
        )


def _no_data(ax: Axes, message: str) -> None:
    ax.text(
        0.5,
        0.5,
        message,
        transform=ax.transAxes,
        ha="center",
        va="center",
        color="#555555",
        fontsize=10,
    )
    ax.set_xticks([])
    ax.set_yticks([])


def figure_to_png(
    fig: Figure, *, dpi: int = DPI, close: bool = True, quantize: bool = True
) -> bytes:
    """Render a figure to PNG bytes.

    Parameters
    ----------
    fig : Figure
    dpi : int, default=200
        Resolution; the default gives a 1,280 px wide image for a 640 px slot.
    close : bool, default=True
        Release the figure's memory afterwards (it was never registered with pyplot,
        so this just clears it).
    quantize : bool, default=True
        Reduce to a 96-colour palette (about 4× smaller, visually the same).

    Returns
    -------
    bytes
        A PNG file.
    """
    buffer = io.BytesIO()
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    if quantize:
        # Charts use a handful of flat colours: a 96-colour palette image is about
        # a quarter of the size and looks the same.
        image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
        palette = image.quantize(
            colors=96, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
        buffer = io.BytesIO()
        palette.save(buffer, format="PNG", optimize=True)
    if close:
        fig.clear()
    return buffer.getvalue()


def figure_alt(fig: Figure) -> str:
    """A text alternative for a chart: its title (and subtitle)."""
    parts = []
    for ax in fig.axes:
        if ax.get_title(loc="left"):
            parts.append(ax.get_title(loc="left"))
    return "; ".join(parts) or "Chart"


class _PngDisplay:
    """Rich display object: an embedded PNG with alt text and width metadata."""

    def __init__(self, png: bytes, alt: str, width: int) -> None:
        self.png = png
        self.alt = alt
        self.width = width

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple:
        import base64

        data = {
            "image/png": base64.b64encode(self.png).decode("ascii"),
            "text/plain": f"[chart] {self.alt}",
        }
        metadata = {"image/png": {"width": self.width, "alt": self.alt}}
        return data, metadata


def show_figure(fig: Figure, *, alt: str | None = None, width: int = 640) -> None:
    """Display a chart in a notebook as an embedded PNG.

    The output is an ``image/png`` display (no matplotlib object is left in the
    notebook), which nbconvert embeds as base64; ``alt`` is kept in the output
    metadata and written as the image's ``alt`` text by the arforecast template.

    Parameters
    ----------
    fig : Figure
    alt : str, optional
        Text alternative (default: the chart titles).
    width : int, default=640
        Display width in CSS pixels.
    """
    from IPython.display import display

    text = alt or figure_alt(fig)
    display(_PngDisplay(figure_to_png(fig), text, width))


# ---------------------------------------------------------------------------
# charts
# ---------------------------------------------------------------------------


def aging_chart(
    aging: Mapping[str, float] | pd.Series,
    *,
    unapplied_credit: float | None = None,
    currency: str | None = None,
    title: str = "Open receivables by days past due",
    subtitle: str | None = None,
) -> Figure:
    """Bars of open receivables per aging bucket, unapplied credit apart.

    Parameters
    ----------
    aging : mapping or Series
        Bucket label (``current``, ``1-30``, ..., ``120+``) → amount, in order.
    unapplied_credit : float, optional
        Unapplied credit (≤ 0), drawn as a separate grey bar after a gap.
    currency : str, optional
        Reporting currency, shown in the axis label.
    title, subtitle : str
        Chart title and an optional grey line under it.

    Returns
    -------
    Figure
    """
    items = [(str(k), float(v or 0.0)) for k, v in dict(aging).items()]
    fig, ax = _new_figure(3.5)
    labels = [aging_label(k).replace(" days overdue", "\ndays late") for k, _ in items]
    labels = [lab.replace("Over 120\ndays late", "120+\ndays late") for lab in labels]
    labels = [lab.replace("Not yet due", "Not yet\ndue") for lab in labels]
    values = [v for _, v in items]
    colours = [
        _AGING_COLOURS[min(i, len(_AGING_COLOURS) - 1)] for i in range(len(items))
    ]
    positions = list(range(len(items)))

    credit = float(unapplied_credit or 0.0)
    if credit:
        positions.append(len(items) + 0.6)
        labels.append("Unapplied\ncredit")
        values.append(credit)
        colours.append(PALETTE["grey"])

    bars = ax.bar(positions, values, color=colours, width=0.72)
    if credit:
        bars[-1].set_hatch("///")
        bars[-1].set_edgecolor("white")
        ax.axhline(0, color="#555555", linewidth=0.8)
    peak = max((abs(v) for v in values), default=0.0)
    for bar, value in zip(bars, values, strict=False):
        y = bar.get_height()
        ax.annotate(
            format_compact(value),
            (bar.get_x() + bar.get_width() / 2, y),
            xytext=(0, 2 if y >= 0 else -2),
            textcoords="offset points",
            ha="center",
            va="bottom" if y >= 0 else "top",
            fontsize=8,
        )
    ax.set_xticks(positions, labels)
    _amount_axis(ax, values, currency, "Open amount")
    if peak:
        low = min(0.0, min(values)) * 1.25 - (peak * 0.1 if credit else 0.0)
        ax.set_ylim(low, peak * 1.15)
    if not items:
        _no_data(ax, "No open receivables at this date")
    _title(ax, title, subtitle)
    return fig


def _trend_frame(trend: pd.DataFrame) -> pd.DataFrame:
    frame = trend.copy()
    if "as_of" in frame.columns:
        frame = frame.set_index("as_of")
    frame.index = _dates(frame.index)
    return frame.sort_index()


def dso_trend_chart(
    trend: pd.DataFrame,
    *,
    title: str = "Days sales outstanding, month by month",
    subtitle: str | None = "DSO: days of sales still unpaid. Best possible: if "
    "nothing were overdue. ADD: the difference, days lost to late payment.",
) -> Figure:
    """DSO, best possible DSO and ADD over month ends.

    Parameters
    ----------
    trend : DataFrame
        One row per as-of date (an ``as_of`` column or a date index) with ``dso``,
        ``best_possible_dso`` and ``add`` in days (missing values leave gaps).

    Returns
    -------
    Figure
    """
    frame = _trend_frame(trend)
    _require(frame, ["dso", "best_possible_dso"], "dso_trend_chart")
    fig, ax = _new_figure(3.4)
    dates = frame.index
    dso = frame["dso"].astype(float)
    best = frame["best_possible_dso"].astype(float)
    ax.plot(
        dates,
        dso,
        color=PALETTE["blue"],
        marker="o",
        markersize=3.5,
        linewidth=2,
        label="DSO",
    )
    ax.plot(
        dates,
        best,
        color=PALETTE["green"],
        marker="o",
        markersize=3.5,
        linewidth=1.6,
        linestyle="--",
        label="Best possible DSO",
    )
    if "add" in frame.columns:
        ax.plot(
            dates,
            frame["add"].astype(float),
            color=PALETTE["vermillion"],
            marker="s",
            markersize=3,
            linewidth=1.2,
            label="ADD (DSO minus best possible)",
        )
    if len(dates):
        last = dates[-1]
        if np.isfinite(dso.iloc[-1]):
            ax.annotate(
                f"{dso.iloc[-1]:.0f}",
                (last, dso.iloc[-1]),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
                color=PALETTE["blue"],
            )
    ax.set_ylabel("Days")
    ax.set_ylim(bottom=0)
    _month_end_axis(ax, dates)
    fig.legend(loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    if not len(dates):
        _no_data(ax, "No month ends to show")
    _title(ax, title, subtitle)
    return fig


def cei_trend_chart(
    trend: pd.DataFrame,
    *,
    title: str = "Collection effectiveness (CEI), month by month",
    subtitle: str | None = "Share of collectable receivables actually collected; "
    "100% = everything due was collected.",
    target: float | None = None,
) -> Figure:
    """CEI (in percent) over month ends.

    Parameters
    ----------
    trend : DataFrame
        One row per as-of date with a ``cei`` column in percent (0–100).
    target : float, optional
        A reference line (e.g. an industry benchmark, in percent).

    Returns
    -------
    Figure
    """
    frame = _trend_frame(trend)
    _require(frame, ["cei"], "cei_trend_chart")
    fig, ax = _new_figure(3.0)
    dates = frame.index
    cei = frame["cei"].astype(float)
    ax.plot(dates, cei, color=PALETTE["blue"], marker="o", markersize=3.5, linewidth=2)
    if target is not None:
        ax.axhline(target, color=PALETTE["grey"], linestyle=":", linewidth=1.2)
        ax.annotate(
            f"benchmark {target:.0f}%",
            (dates[0] if len(dates) else 0, target),
            xytext=(0, 3),
            textcoords="offset points",
            fontsize=8,
            color="#555555",
        )
    finite = cei[np.isfinite(cei)]
    low = min(50.0, float(finite.min()) - 5) if len(finite) else 0.0
    high = max(100.0, float(finite.max()) + 5) if len(finite) else 100.0
    ax.set_ylim(max(0.0, low), high)
    ax.yaxis.set_major_formatter(PercentFormatter(decimals=0))
    ax.set_ylabel("CEI (%)")
    _month_end_axis(ax, dates)
    if not len(dates):
        _no_data(ax, "No month ends to show")
    _title(ax, title, subtitle)
    return fig


PIPELINE_ORDER = (
    "reminder",
    "follow_up",
    "escalation",
    "final_demand",
    "promise_to_pay",
    "dispute",
)

PIPELINE_LABELS = {
    "reminder": "Reminder\n(1–30 days)",
    "follow_up": "Follow-up\n(31–60)",
    "escalation": "Escalation\n(61–90)",
    "final_demand": "Final demand\n(90+)",
    "promise_to_pay": "Promised\nto pay",
    "dispute": "In dispute",
}


def _pipeline_frame(stages: Mapping[str, Any] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(stages, pd.DataFrame):
        frame = stages.copy()
        if "stage" not in frame.columns:
            frame = frame.rename_axis("stage").reset_index()
    else:
        records = []
        for stage, value in stages.items():
            if isinstance(value, Mapping):
                records.append(
                    {
                        "stage": stage,
                        "count": value.get("count", 0),
                        "amount": value.get("amount", 0.0),
                    }
                )
            else:
                records.append({"stage": stage, "count": value, "amount": np.nan})
        frame = pd.DataFrame.from_records(records, columns=["stage", "count", "amount"])
    order = {s: i for i, s in enumerate(PIPELINE_ORDER)}
    frame["_order"] = frame["stage"].map(lambda s: order.get(str(s), len(order)))
    return frame.sort_values("_order", kind="stable").drop(columns="_order")


def pipeline_label(stage: str) -> str:
    """Plain-language label of a collections stage (one line)."""
    return PIPELINE_LABELS.get(stage, stage.replace("_", " ").capitalize()).replace(
        "\n", " "
    )


def pipeline_chart(
    stages: Mapping[str, Any] | pd.DataFrame,
    *,
    currency: str | None = None,
    title: str = "Collections pipeline: overdue accounts by stage",
    subtitle: str | None = "Each overdue customer sits in one stage, set by its "
    "oldest overdue invoice.",
) -> Figure:
    """Horizontal bars of past-due amount per collection stage, with account counts.

    Parameters
    ----------
    stages : mapping or DataFrame
        Stage → ``{"count": n, "amount": x}`` (``kpis_to_dict(...)
        ["accounts_in_collections"]["stages"]``) or a frame with ``stage``,
        ``count``, ``amount``.
    currency : str, optional

    Returns
    -------
    Figure
    """
    frame = _pipeline_frame(stages)
    fig, ax = _new_figure(3.2)
    labels = [
        PIPELINE_LABELS.get(str(s), str(s).replace("_", " ").capitalize())
        for s in frame["stage"]
    ]
    amounts = frame["amount"].astype(float).fillna(0.0).to_numpy()
    counts = frame["count"].fillna(0).astype(int).to_numpy()
    y = np.arange(len(frame))[::-1]
    stage_colours = {
        "reminder": "#F6C667",
        "follow_up": PALETTE["orange"],
        "escalation": "#E07B00",
        "final_demand": PALETTE["vermillion"],
        "promise_to_pay": PALETTE["sky"],
        "dispute": PALETTE["purple"],
    }
    colours = [stage_colours.get(str(s), PALETTE["grey"]) for s in frame["stage"]]
    ax.barh(y, amounts, color=colours, height=0.65)
    for yi, amount, count in zip(y, amounts, counts, strict=False):
        noun = "account" if count == 1 else "accounts"
        ax.annotate(
            f"{format_compact(amount)} · {count:,} {noun}",
            (amount, yi),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_yticks(y, labels)
    ax.grid(axis="y", visible=False)
    ax.grid(axis="x", color="#E6E6E6", linewidth=0.8)
    _amount_axis(ax, list(amounts), currency, "Past-due amount", axis="x")
    if len(amounts) and amounts.max() > 0:
        ax.set_xlim(0, amounts.max() * 1.35)
    if frame.empty or not (amounts > 0).any():
        # an empty pipeline is good news, not a chart of zero-width bars
        ax.cla()
        _style_axes(ax)
        _no_data(ax, "No customer has an overdue balance")
    _title(ax, title, subtitle)
    return fig


def cash_forecast_chart(
    weekly: pd.DataFrame,
    *,
    history: pd.DataFrame | pd.Series | None = None,
    currency: str | None = None,
    title: str = "Expected cash receipts, week by week",
    subtitle: str | None = "Line: expected. Dark band: 80% range; light band: 95% "
    "range. Grey bars: actual receipts.",
) -> Figure:
    """Weekly forecast with 80% and 95% bands, after the actual weekly receipts.

    Parameters
    ----------
    weekly : DataFrame
        ``CashForecast.weekly``: ``start``, ``end``, ``expected``, ``lo80``, ``hi80``,
        ``lo95``, ``hi95``.
    history : DataFrame or Series, optional
        Actual receipts per week before the forecast: a Series indexed by week start,
        or a frame with ``start`` (or ``week_start``) and ``actual`` (or ``amount``).
    currency : str, optional

    Returns
    -------
    Figure
    """
    _require(
        weekly,
        ["start", "expected", "lo80", "hi80", "lo95", "hi95"],
        "cash_forecast_chart",
    )
    fig, ax = _new_figure(3.6)
    starts = _dates(weekly["start"])
    values: list[float] = list(weekly["hi95"].astype(float))

    if history is not None and len(history):
        if isinstance(history, pd.Series):
            h_dates, h_values = _dates(history.index), history.astype(float).to_numpy()
        else:
            date_col = next(
                c for c in ("start", "week_start", "date") if c in history.columns
            )
            value_col = next(
                c for c in ("actual", "amount", "receipts") if c in history.columns
            )
            h_dates = _dates(history[date_col])
            h_values = history[value_col].astype(float).to_numpy()
        ax.bar(
            h_dates,
            h_values,
            width=5,
            align="edge",
            color=PALETTE["light"],
            edgecolor="#BBBBBB",
            linewidth=0.5,
            label="Actual receipts",
        )
        values += list(h_values)

    ax.bar(starts, weekly["lo95"], width=0)  # keeps the axis aware of the band bottom
    mid = starts + pd.Timedelta(days=3)
    ax.fill_between(
        mid,
        weekly["lo95"].astype(float),
        weekly["hi95"].astype(float),
        color=PALETTE["sky"],
        alpha=0.25,
        linewidth=0,
        label="95% range",
    )
    ax.fill_between(
        mid,
        weekly["lo80"].astype(float),
        weekly["hi80"].astype(float),
        color=PALETTE["sky"],
        alpha=0.55,
        linewidth=0,
        label="80% range",
    )
    ax.plot(
        mid,
        weekly["expected"].astype(float),
        color=PALETTE["blue"],
        linewidth=2,
        marker="o",
        markersize=3,
        label="Expected",
    )
    if len(starts):
        ax.axvline(starts[0], color="#555555", linewidth=0.8, linestyle=":")
        ax.annotate(
            "forecast →",
            (starts[0], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            fontsize=8,
            color="#555555",
        )
    _amount_axis(ax, values, currency, "Receipts per week")
    ax.set_ylim(bottom=0)
    _date_axis(
        ax,
        pd.DatetimeIndex(
            list(starts)
            + (list(h_dates) if history is not None and len(history) else [])
        ),
    )
    fig.legend(loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    _title(ax, title, subtitle)
    return fig


def track_record_chart(
    track: pd.DataFrame,
    *,
    currency: str | None = None,
    title: str = "Track record: earlier forecasts against what came in",
    subtitle: str | None = "Each week that has passed, with the latest forecast "
    "made before it and its 80% range.",
) -> Figure:
    """Forecast (with 80% range) vs actual receipts for weeks already past.

    Parameters
    ----------
    track : DataFrame
        ``cashflow.track_record`` output: ``origin``, ``start`` (or
        ``week_start``), ``forecast``, ``lo80``, ``hi80``, ``actual``. When several
        origins forecast the same week, the latest origin's forecast is shown.
    currency : str, optional

    Returns
    -------
    Figure
    """
    date_col = "start" if "start" in track.columns else "week_start"
    _require(track, [date_col, "forecast", "actual"], "track_record_chart")
    frame = track.copy()
    frame[date_col] = _dates(frame[date_col])
    if "actual" in frame.columns:
        frame = frame[frame["actual"].notna()]
    if "origin" in frame.columns:
        frame = frame.sort_values(["origin", date_col]).drop_duplicates(
            date_col, keep="last"
        )
    frame = frame.sort_values(date_col)
    fig, ax = _new_figure(3.4)
    dates = pd.DatetimeIndex(frame[date_col]) + pd.Timedelta(days=3)
    forecast = frame["forecast"].astype(float).to_numpy()
    actual = frame["actual"].astype(float).to_numpy()
    values = list(forecast) + list(actual)
    if {"lo80", "hi80"} <= set(frame.columns):
        lo = frame["lo80"].astype(float).to_numpy()
        hi = frame["hi80"].astype(float).to_numpy()
        ax.vlines(
            dates,
            lo,
            hi,
            color=PALETTE["sky"],
            linewidth=5,
            alpha=0.6,
            label="80% range",
        )
        values += list(hi)
    ax.plot(
        dates,
        forecast,
        color=PALETTE["blue"],
        marker="o",
        markersize=4,
        linewidth=1.2,
        label="Forecast",
    )
    ax.plot(
        dates,
        actual,
        color=PALETTE["vermillion"],
        marker="D",
        markersize=4,
        linewidth=0,
        label="Actual",
    )
    _amount_axis(ax, values, currency, "Receipts per week")
    ax.set_ylim(bottom=0)
    _date_axis(ax, pd.DatetimeIndex(frame[date_col]))
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    if frame.empty:
        _no_data(ax, "No past forecasts to compare yet")
    _title(ax, title, subtitle)
    return fig


def _reliability_columns(table: pd.DataFrame) -> tuple[str, str, str | None]:
    pred = next(
        (
            c
            for c in ("mean_predicted", "predicted", "prob_pred", "mean_prob", "p_mean")
            if c in table.columns
        ),
        None,
    )
    obs = next(
        (
            c
            for c in (
                "observed",
                "fraction_positive",
                "prob_true",
                "observed_rate",
                "actual",
            )
            if c in table.columns
        ),
        None,
    )
    count = next((c for c in ("n", "count", "n_obs") if c in table.columns), None)
    if pred is None or obs is None:
        raise ReportError(
            "reliability_chart needs a predicted-probability column (mean_predicted) "
            f"and an observed-rate column (observed); got {list(table.columns)}."
        )
    return pred, obs, count


def reliability_chart(
    tables: Mapping[Any, pd.DataFrame],
    *,
    title: str = "Payment predictions: stated chance vs what happened",
    subtitle: str | None = "One panel per question. On the dotted diagonal, "
    "invoices given a 70% chance were paid 70% of the time; dot size = invoices.",
) -> Figure:
    """Reliability diagram, one small panel per horizon.

    Parameters
    ----------
    tables : mapping
        Horizon in days → reliability table with a predicted-probability column
        (``mean_predicted``) and an observed-rate column (``observed_rate``),
        optionally a count column (``count``) that sets the dot sizes.

    Returns
    -------
    Figure
        The first panel carries the title; every panel has labelled axes.
    """
    items = [(h, t) for h, t in tables.items() if t is not None]
    n = max(len(items), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    lines = textwrap.wrap(subtitle, 88) if subtitle else []
    header_in = 0.3 + 0.16 * len(lines)
    with matplotlib.rc_context(_RC):
        fig = Figure(
            figsize=(FIG_WIDTH_IN, header_in + 2.2 * rows),
            dpi=100,
            layout="constrained",
        )
        FigureCanvasAgg(fig)
        grid = fig.add_gridspec(
            rows + 1, cols, height_ratios=[header_in] + [2.2] * rows
        )
        header = fig.add_subplot(grid[0, :])
        axes = np.array(
            [
                [fig.add_subplot(grid[r + 1, c]) for c in range(cols)]
                for r in range(rows)
            ]
        )
    header.axis("off")
    header.set_title(title, loc="left", fontsize=11, fontweight="bold", pad=0)
    if lines:
        header.text(
            0.0,
            1.0,
            "\n".join(lines),
            transform=header.transAxes,
            ha="left",
            va="top",
            fontsize=8.5,
            color="#555555",
        )
    flat = list(axes.ravel())
    for i, ax in enumerate(flat):
        _style_axes(ax)
        if i >= len(items):
            ax.set_visible(False)
            continue
        horizon, table = items[i]
        ax.plot([0, 1], [0, 1], color=PALETTE["grey"], linestyle=":", linewidth=1)
        if not table.empty:
            pred, obs, count = _reliability_columns(table)
            sizes = None
            if count is not None:
                weights = table[count].astype(float).to_numpy()
                sizes = 8 + 50 * weights / max(float(weights.max()), 1.0)
            x = table[pred].astype(float)
            y = table[obs].astype(float)
            ax.plot(x, y, color=PALETTE["blue"], linewidth=1.2)
            ax.scatter(x, y, s=sizes, color=PALETTE["blue"], zorder=3)
        else:
            ax.text(0.5, 0.5, "no test data", ha="center", va="center", fontsize=8)
        ax.set_title(f"Paid within {horizon} days", loc="left", fontsize=9, pad=3)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xticks([0, 0.5, 1])
        ax.set_yticks([0, 0.5, 1])
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
        ax.grid(axis="x", color="#E6E6E6", linewidth=0.8)
        ax.set_xlabel("Stated chance (%)")
        ax.set_ylabel("Share paid (%)" if i % cols == 0 else "")
        if i % cols:
            ax.tick_params(labelleft=False)
    return fig
