"""Published industry reference figures for AR KPIs, with their citations."""

from __future__ import annotations

import logging
from importlib import resources

import pandas as pd

from arforecast.exceptions import ConfigError

__all__ = ["BENCHMARK_COLUMNS", "load_industry_benchmarks"]

logger = logging.getLogger(__name__)

#: Columns of the shipped table, in order.
BENCHMARK_COLUMNS = (
    "metric",
    "value",
    "unit",
    "population",
    "period",
    "source",
    "url_or_reference",
    "note",
)

_RESOURCE = "industry_benchmarks.csv"


def load_industry_benchmarks(metric: str | None = None) -> pd.DataFrame:
    """Load the published reference figures shipped with arforecast.

    Parameters
    ----------
    metric : str, optional
        Keep only rows for this KPI name (e.g. ``"dso"``, ``"cei"``).

    Returns
    -------
    pandas.DataFrame
        Columns `BENCHMARK_COLUMNS`: ``metric`` (arforecast KPI name where one
        matches), ``value`` (float), ``unit`` (``days`` or ``percent``),
        ``population`` (who was surveyed), ``period``, ``source`` (publisher and
        survey), ``url_or_reference`` and ``note`` (how the source defines the
        figure and how it differs from arforecast's formula).

    Raises
    ------
    ConfigError
        When ``metric`` names no row; the message lists the metrics available.

    Notes
    -----
    Each figure is attributed to a public source; the note says when the
    source's formula differs from ours (the CRF's quarterly CEI and DSO use
    monthly averages, see docs/kpis.md). Percentages are as published (90.56 for
    90.56 %), while arforecast's ratio KPIs are fractions.

    Examples
    --------
    >>> table = load_industry_benchmarks("dso")
    >>> sorted(table["unit"].unique().tolist())
    ['days']
    """
    data = resources.files("arforecast").joinpath("data", _RESOURCE)
    with data.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype={"period": str})
    table = table.reindex(columns=list(BENCHMARK_COLUMNS))
    table["value"] = table["value"].astype(float)
    table["note"] = table["note"].fillna("")
    if metric is None:
        return table
    available = sorted(table["metric"].unique().tolist())
    if metric not in available:
        raise ConfigError(
            f"No industry benchmark for metric {metric!r}; available: "
            f"{', '.join(available)}."
        )
    return table.loc[table["metric"] == metric].reset_index(drop=True)
