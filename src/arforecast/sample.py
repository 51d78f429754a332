"""Synthetic accounts-receivable ledger: the embedded default data of arforecast.

`generate_sample` builds the six canonical tables of the data contract (invoices,
payments, adjustments, activities, customers, fx_rates) for a live B2B book:
four portfolios, customers with distinct and persistent payment behaviour,
several payment terms and currencies, billing seasonality, partial payments,
credit notes, write-offs, disputes, dunning and promises to pay, and invoices
still open at the end date. `write_sample` writes the tables to a folder.

Everything is vectorized NumPy; one ``numpy.random.default_rng(seed)`` stream
drives every draw, so the output depends only on the arguments.
"""

from __future__ import annotations

import difflib
import inspect
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from arforecast.exceptions import ConfigError

__all__ = [
    "CURRENCIES",
    "PORTFOLIOS",
    "SEGMENTS",
    "SPECIAL_NAME",
    "describe_planted_issues",
    "generate_sample",
    "write_sample",
]

logger = logging.getLogger(__name__)

PORTFOLIOS = ("DACH", "Nordics", "UK&I", "Southern Europe")
"""The four portfolios (business regions) of the sample book."""

SPECIAL_NAME = "O'Brien & Söhne <GmbH>"
"""A customer name that needs HTML escaping; always customer 1 (``C00001``)."""

# Countries per portfolio with their weights and legal forms.
_COUNTRIES = {
    "DACH": (("DE", "AT", "CH"), (0.6, 0.25, 0.15)),
    "Nordics": (("SE", "FI", "DK"), (0.5, 0.25, 0.25)),
    "UK&I": (("GB", "IE"), (0.8, 0.2)),
    "Southern Europe": (("ES", "IT", "PT"), (0.4, 0.45, 0.15)),
}
_LEGAL_FORMS = {
    "DE": "GmbH",
    "AT": "GmbH",
    "CH": "AG",
    "SE": "AB",
    "FI": "Oy",
    "DK": "A/S",
    "GB": "Ltd",
    "IE": "Ltd",
    "ES": "S.L.",
    "IT": "S.r.l.",
    "PT": "Lda.",
}
# Billing currency by country (USD customers are drawn on top, see _USD_SHARE).
_COUNTRY_CURRENCY = {"GB": "GBP", "SE": "SEK"}
_USD_SHARE = 0.07
# Reference value of one unit in EUR and the daily log-volatility of its rate.
_EUR_VALUE = {"EUR": 1.0, "GBP": 1.165, "SEK": 0.0875, "USD": 0.92}
_FX_VOL = {"EUR": 0.0, "GBP": 0.0035, "SEK": 0.0045, "USD": 0.0050}
_FX_PERSISTENCE = 0.995
CURRENCIES = tuple(_EUR_VALUE)
"""Currencies the sample bills in; any of them can be the reporting currency."""

_TERMS = np.array([14, 30, 45, 60])
# Probability of each term per portfolio (Nordics short, Southern Europe long).
_TERMS_P = np.array(
    [
        [0.15, 0.55, 0.20, 0.10],
        [0.35, 0.50, 0.10, 0.05],
        [0.10, 0.65, 0.15, 0.10],
        [0.05, 0.30, 0.30, 0.35],
    ]
)
_COLLECTORS = (
    ("Anna Becker", "Jonas Weber"),
    ("Sofia Lindqvist", "Mikael Nieminen"),
    ("Sarah Walsh", "Tom Hughes"),
    ("Lucia Romano", "Pablo Garcia"),
)
_NAME_STEMS = (
    "Alpen", "Nordlicht", "Kestrel", "Lumen", "Vega", "Brightwater", "Falk",
    "Helix", "Orion", "Solvik", "Tamarind", "Quercus", "Meridian", "Granit",
    "Ostara", "Pinnacle", "Riviera", "Sterling", "Tellus", "Umbra", "Valhalla",
    "Wexford", "Arcadia", "Boreal", "Castell", "Delta", "Elbe", "Fjord", "Galway",
    "Hanse", "Iberia", "Juniper", "Kolding", "Lagune", "Mistral", "Nova",
    "Oakridge", "Porto", "Rhein", "Saxon",
)  # fmt: skip
_NAME_TRADES = (
    "Logistik", "Maschinenbau", "Foods", "Pharma", "Textiles", "Energy",
    "Bau", "Systems", "Retail", "Chemicals", "Paper", "Medical", "Automotive",
    "Electronics", "Packaging", "Furniture", "Agri", "Marine", "Steel", "Print",
    "Software", "Optics", "Plastics", "Tools", "Wholesale",
)  # fmt: skip

# Behaviour segments. Columns: share of customers, mean days late relative to
# due, spread, probability and mean of a late tail, never-paid probability,
# dispute probability, instalment probability, promise-to-pay probability when
# late, probability that a promise is kept.
SEGMENTS = (
    "prompt",
    "standard",
    "slow",
    "chronically_late",
    "disputer",
    "deteriorating",
)
"""Customer payment-behaviour segments (see ``include_segments``)."""
_SEG = np.array(
    [
        [0.30, -4.0, 3.0, 0.03, 10.0, 0.003, 0.010, 0.02, 0.30, 0.90],
        [0.31, 1.0, 5.0, 0.08, 18.0, 0.012, 0.015, 0.05, 0.40, 0.80],
        [0.17, 12.0, 9.0, 0.15, 25.0, 0.030, 0.020, 0.10, 0.50, 0.60],
        [0.08, 38.0, 16.0, 0.30, 40.0, 0.120, 0.030, 0.20, 0.60, 0.35],
        [0.08, 2.0, 6.0, 0.08, 20.0, 0.020, 0.220, 0.06, 0.40, 0.70],
        [0.06, 1.0, 5.0, 0.08, 18.0, 0.006, 0.020, 0.08, 0.50, 0.60],
    ]
)
_DETERIORATING = 5
_ADJUSTMENT_KINDS = ("credit_note", "write_off", "other")
_ACTIVITY_KINDS = (
    "email",
    "call",
    "letter",
    "promise_to_pay",
    "dispute_opened",
    "dispute_resolved",
    "note",
)
# Dunning ladder: days after due and the activity kind.
_DUNNING = ((3, "email"), (10, "email"), (20, "call"), (35, "letter"), (60, "call"))
_NEVER = np.iinfo(np.int64).max // 4  # "no such date" in day arithmetic


def generate_sample(
    *,
    customers: int = 300,
    invoices: int = 12_000,
    seed: int = 0,
    start: str = "2024-01-01",
    end: str = "2025-12-31",
    currency: str = "EUR",
    data_quality_issues: bool = True,
    include_segments: bool = False,
) -> dict[str, pd.DataFrame]:
    """Generate a synthetic, live accounts-receivable ledger.

    Parameters
    ----------
    customers : int, default=300
        Number of customers (at least 1).
    invoices : int, default=12_000
        Number of invoices (at least 1), dated from ``start`` to ``end``.
    seed : int, default=0
        Seed of ``numpy.random.default_rng``; the same arguments give the same
        tables on every run and machine.
    start, end : str, default="2024-01-01", "2025-12-31"
        ISO dates of the first and last invoice day. ``end`` is the extraction
        date: no event is dated after it, so recent invoices are still open.
    currency : str, default="EUR"
        Reporting currency; one of ``CURRENCIES`` (EUR, GBP, SEK, USD). Invoices
        are billed in the customer's currency (GBP in Great Britain, SEK in
        Sweden, USD for some customers, EUR otherwise); ``fx_rates`` gives
        reporting-currency units per unit on every business day from 35 days
        before ``start`` for the other currencies; the reporting currency has no
        rows (its rate is 1), which is how a loader recognises it.
    data_quality_issues : bool, default=True
        Plant a few realistic problems that validation keeps with a warning:
        payments for unknown invoice ids (unapplied cash), overpaid invoices
        (a duplicated payment), zero-amount invoices and payments dated before
        their invoice.
    include_segments : bool, default=False
        Add the hidden behaviour ``segment`` (one of ``SEGMENTS``) to the
        customers table, for tests and model diagnostics. Off by default: it is
        the ground truth a model has to learn from the payment history.

    Returns
    -------
    dict of str to pandas.DataFrame
        ``invoices``, ``payments``, ``adjustments``, ``activities``,
        ``customers`` and ``fx_rates`` in canonical columns; dates are
        ``datetime64[ns]``, ids are strings, amounts ``float64`` in the
        document currency.

    Raises
    ------
    ConfigError
        If a size is below 1, the seed is not a whole number >= 0, a date does
        not parse, ``end`` is not after ``start`` or the currency is not
        supported.

    Notes
    -----
    Payment timing depends on things a model can observe: the customer's
    segment (visible through its own history), its payment-run weekday, the
    terms, the invoice amount relative to the customer's usual amount, the
    month (year-end and August slow-downs), disputes (payment after
    resolution) and promises to pay (kept promises set the payment date).

    Examples
    --------
    >>> tables = generate_sample(customers=20, invoices=300, seed=1)
    >>> sorted(tables)
    ['activities', 'adjustments', 'customers', 'fx_rates', 'invoices', 'payments']
    >>> len(tables["invoices"])
    300
    """
    start_day, end_day = _validate_args(customers, invoices, seed, start, end, currency)
    rng = np.random.default_rng(seed)

    cust = _make_customers(rng, customers, start_day, end_day)
    inv = _make_invoices(rng, cust, invoices, start_day, end_day)
    _settle(rng, cust, inv, start_day, end_day)
    planted = _plant_zero_amount(rng, inv, data_quality_issues)

    payments = _build_payments(rng, inv, end_day)
    adjustments = _build_adjustments(inv, end_day)
    activities = _build_activities(rng, cust, inv, end_day)
    fx_rates = _build_fx_rates(rng, start_day, end_day, currency)
    if data_quality_issues:
        payments = _plant_payment_issues(rng, inv, payments, start_day, end_day)

    tables = _assemble(cust, inv, payments, adjustments, activities, fx_rates, currency)
    if include_segments:
        tables["customers"]["segment"] = np.asarray(SEGMENTS, dtype=object)[
            cust["segment"]
        ]
        tables["customers"]["segment"] = tables["customers"]["segment"].astype(str)
    logger.info(
        "generated sample seed=%s: %s",
        seed,
        ", ".join(f"{k}={len(v)}" for k, v in tables.items()),
    )
    logger.debug("planted zero-amount invoices at positions %s", planted)
    return tables


def write_sample(
    out_dir: str | Path, *, fmt: str = "csv", **generate_kwargs: object
) -> dict:
    """Generate a sample ledger and write it as a ledger folder.

    Parameters
    ----------
    out_dir : str or Path
        Folder to write; created if missing. Existing table files are replaced.
    fmt : {"csv", "parquet"}, default="csv"
        File format. CSV files hold ISO dates (``YYYY-MM-DD``) and ids as text.
    **generate_kwargs
        Passed to `generate_sample` (``customers``, ``invoices``, ``seed``, ...).

    Returns
    -------
    dict
        JSON-serialisable summary: ``out_dir``, ``format``, ``seed``,
        ``currency``, ``period``, ``paths`` (table to file), ``rows`` (table to
        row count), ``totals`` (document-currency sums per table and currency)
        and ``data_quality_issues`` (the planted problems, by kind).

    Raises
    ------
    ConfigError
        If ``fmt`` is not csv or parquet, or `generate_sample` rejects an
        argument.

    See Also
    --------
    generate_sample : the tables themselves, in memory.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"fmt must be 'csv' or 'parquet'; got {fmt!r}.")
    tables = generate_sample(**generate_kwargs)  # type: ignore[arg-type]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    paths: dict[str, str] = {}
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        _write_table(frame, path, fmt)
        paths[name] = str(path)

    issues = describe_planted_issues(tables)
    defaults = {
        name: param.default
        for name, param in inspect.signature(generate_sample).parameters.items()
    }
    settings = {**defaults, **generate_kwargs}
    summary = {
        "out_dir": str(out),
        "format": fmt,
        "seed": int(settings["seed"]),  # type: ignore[call-overload]
        "currency": str(settings["currency"]),
        "period": {
            "start": _iso(tables["invoices"]["invoice_date"].min()),
            "end": _iso(pd.Timestamp(str(settings["end"]))),
        },
        "paths": paths,
        "rows": {name: int(len(frame)) for name, frame in tables.items()},
        "totals": _totals(tables),
        "data_quality_issues": {k: list(v) for k, v in issues.items()},
    }
    (out / "README.md").write_text(_readme(summary), encoding="utf-8")
    logger.info("wrote sample ledger to %s (%s)", out, fmt)
    return summary


def describe_planted_issues(tables: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Find the data-quality problems that validation reports as warnings.

    Parameters
    ----------
    tables : dict of str to pandas.DataFrame
        Canonical tables, as `generate_sample` returns them.

    Returns
    -------
    dict of str to list of str
        ``unknown_invoice`` (payment ids whose invoice id is unknown),
        ``overpayment`` (invoice ids paid more than their amount),
        ``zero_amount`` (invoice ids) and ``payment_before_invoice`` (payment
        ids dated before their invoice).
    """
    inv = tables["invoices"]
    pay = tables["payments"]
    pos = _positions(inv["invoice_id"], pay["invoice_id"])
    known = pos >= 0

    amount = inv["amount"].to_numpy(dtype=float)
    paid = np.bincount(
        pos[known],
        weights=pay["amount"].to_numpy(dtype=float)[known],
        minlength=len(inv),
    )
    over = paid > amount + 0.005
    inv_day = inv["invoice_date"].to_numpy()[np.maximum(pos, 0)]
    early = known & (pay["payment_date"].to_numpy() < inv_day)
    return {
        "unknown_invoice": pay["payment_id"][~known].tolist(),
        "overpayment": inv["invoice_id"][over].tolist(),
        "zero_amount": inv["invoice_id"][amount == 0].tolist(),
        "payment_before_invoice": pay["payment_id"][early].tolist(),
    }


def _positions(keys: pd.Series, values: pd.Series) -> np.ndarray:
    """Position of each value among the unique ``keys``, or -1 when absent."""
    codes, _ = pd.factorize(pd.concat([keys, values], ignore_index=True))
    # keys are unique, so their codes are their positions 0 .. len(keys) - 1
    out = codes[len(keys) :].astype(np.int64)
    out[out >= len(keys)] = -1
    return out


# ----------------------------------------------------------------------------
# validation and small date helpers


def _validate_args(
    customers: int, invoices: int, seed: int, start: str, end: str, currency: str
) -> tuple[int, int]:
    for name, value, low in (
        ("customers", customers, 1),
        ("invoices", invoices, 1),
        ("seed", seed, 0),
    ):
        whole = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
        if not whole or value < low:
            raise ConfigError(f"{name} must be a whole number >= {low}; got {value!r}.")
    try:
        start_day = _day(start)
        end_day = _day(end)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"start and end must be ISO dates (YYYY-MM-DD); got {start!r}, {end!r}."
        ) from exc
    if end_day <= start_day:
        raise ConfigError(f"end ({end}) must be after start ({start}).")
    if currency not in _EUR_VALUE:
        close = difflib.get_close_matches(str(currency).upper(), CURRENCIES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"currency must be one of {', '.join(CURRENCIES)}; got {currency!r}.{hint}"
        )
    return start_day, end_day


def _day(value: str) -> int:
    """ISO date text -> days since 1970-01-01."""
    return int(np.datetime64(pd.Timestamp(value).date(), "D").astype(np.int64))


def _iso(value: pd.Timestamp) -> str:
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 ... Sunday = 6 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _next_business_day(days: np.ndarray) -> np.ndarray:
    wd = _weekday(days)
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0))


def _prev_business_day(days: np.ndarray) -> np.ndarray:
    wd = _weekday(days)
    return days - np.where(wd == 5, 1, np.where(wd == 6, 2, 0))


def _to_dates(days: np.ndarray) -> np.ndarray:
    """Days since epoch (with _NEVER for missing) -> datetime64[ns] with NaT."""
    days = np.asarray(days, dtype=np.int64)
    missing = days >= _NEVER
    out = np.where(missing, 0, days).astype("datetime64[D]").astype("M8[ns]")
    out[missing] = np.datetime64("NaT")
    return out


def _month_of(days: np.ndarray) -> np.ndarray:
    """Calendar month 1..12 of day numbers."""
    return (
        days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    )


def _month_start(days: np.ndarray) -> np.ndarray:
    """Day number of the first day of each day's month."""
    first = days.astype("datetime64[D]").astype("datetime64[M]")
    return first.astype("datetime64[D]").astype(np.int64)


def _format_ids(prefix: str, numbers: np.ndarray, width: int) -> pd.Series:
    return prefix + pd.Series(numbers, dtype=np.int64).astype(str).str.zfill(width)


# ----------------------------------------------------------------------------
# customers and invoices


def _make_customers(
    rng: np.random.Generator, n: int, start_day: int, end_day: int
) -> dict[str, np.ndarray]:
    """Per-customer attributes as arrays (position = customer number - 1)."""
    portfolio = rng.choice(len(PORTFOLIOS), size=n, p=[0.34, 0.2, 0.24, 0.22])
    portfolio[: min(n, 4)] = np.arange(min(n, 4))

    country = np.empty(n, dtype=object)
    for p, name in enumerate(PORTFOLIOS):
        codes, weights = _COUNTRIES[name]
        mask = portfolio == p
        country[mask] = rng.choice(codes, size=int(mask.sum()), p=weights)
    country[0] = "DE"

    currency = np.full(n, "EUR", dtype=object)
    for code, cur in _COUNTRY_CURRENCY.items():
        currency[country == code] = cur
    currency[rng.random(n) < _USD_SHARE] = "USD"
    if n > 4:
        currency[4] = "USD"
    currency[0] = "EUR"

    segment = rng.choice(len(_SEG), size=n, p=_SEG[:, 0] / _SEG[:, 0].sum())
    terms = _TERMS[
        (rng.random(n)[:, None] > np.cumsum(_TERMS_P[portfolio], axis=1)).sum(axis=1)
    ]
    # Typical invoice size in EUR (lognormal), and relative billing frequency.
    size_eur = np.exp(rng.normal(np.log(1800.0), 1.0, size=n))
    frequency = size_eur**0.35 * np.exp(rng.normal(0.0, 0.6, size=n))
    units_per_eur = 1.0 / pd.Series(currency).map(_EUR_VALUE).to_numpy(float)

    # Activity window: most customers span the period; some join, some leave.
    span = end_day - start_day
    lo = np.full(n, float(start_day))
    hi = np.full(n, float(end_day))
    u = rng.random(n)
    joins = u < 0.12
    leaves = (u >= 0.12) & (u < 0.18)
    lo[joins] = start_day + rng.uniform(0.05, 0.8, size=int(joins.sum())) * span
    hi[leaves] = start_day + rng.uniform(0.4, 0.95, size=int(leaves.sum())) * span
    lo[0] = start_day
    hi[0] = end_day

    names = _make_names(rng, country)
    collector = rng.integers(0, 2, size=n)
    credit_limit = np.maximum(
        5_000.0,
        np.round(size_eur * units_per_eur * frequency * 6.0 / 1_000.0) * 1_000.0,
    )
    return {
        "n": np.array(n),
        "portfolio": portfolio,
        "country": country,
        "currency": currency,
        "segment": segment,
        "terms": terms,
        "size": size_eur * units_per_eur,
        "frequency": frequency,
        "lo": lo,
        "hi": hi,
        "names": names,
        "collector": collector,
        "credit_limit": credit_limit,
        "offset": rng.normal(0.0, 2.5, size=n),
        "pay_weekday": np.where(rng.random(n) < 0.6, rng.integers(0, 5, size=n), -1),
        "onset": rng.uniform(0.1, 0.6, size=n),
    }


def _make_names(rng: np.random.Generator, country: np.ndarray) -> pd.Series:
    n = len(country)
    stems = np.asarray(_NAME_STEMS, dtype=object)[rng.integers(0, len(_NAME_STEMS), n)]
    trades = np.asarray(_NAME_TRADES, dtype=object)[
        rng.integers(0, len(_NAME_TRADES), n)
    ]
    legal = pd.Series(country).map(_LEGAL_FORMS).to_numpy(dtype=object)
    names = pd.Series(stems + " " + trades + " " + legal, dtype=object)
    dup = names.groupby(names, sort=False).cumcount().to_numpy()
    suffix = np.where(dup > 0, " (" + (dup + 1).astype(str).astype(object) + ")", "")
    names = names + suffix
    names.iloc[0] = SPECIAL_NAME
    return names.astype(str)


def _billing_weights(start_day: int, end_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Calendar days and their billing intensity (business days, seasonality)."""
    days = np.arange(start_day, end_day + 1)
    month = _month_of(days)
    month_factor = np.array(
        [0.0, 0.90, 0.95, 1.10, 1.00, 1.00, 1.05, 0.95, 0.80, 1.05, 1.05, 1.15, 1.40]
    )[month]
    dom = days - _month_start(days)
    holiday = ((month == 1) & (dom == 0)) | ((month == 12) & (dom >= 23) & (dom <= 25))
    weights = month_factor * (_weekday(days) < 5) * ~holiday
    if not weights.any():  # a period of weekends and holidays only
        weights = np.ones(len(days))
    # Month-end billing runs: the last three business days weigh 2.5x.
    month_id = days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
    business = weights > 0
    rank_from_end = (
        pd.Series(business.astype(int)[::-1])
        .groupby(month_id[::-1])
        .cumsum()
        .to_numpy()[::-1]
    )
    weights = weights * np.where(business & (rank_from_end <= 3), 2.5, 1.0)
    # Growth of about 8% a year.
    weights = weights * (1.0 + 0.08 * (days - start_day) / 365.0)
    return days, weights


def _make_invoices(
    rng: np.random.Generator,
    cust: dict[str, np.ndarray],
    n: int,
    start_day: int,
    end_day: int,
) -> dict[str, np.ndarray]:
    """Per-invoice attributes, sorted by invoice date."""
    n_cust = int(cust["n"])
    p = cust["frequency"] / cust["frequency"].sum()
    customer = rng.choice(n_cust, size=n, p=p)
    first = min(n, n_cust)
    customer[:first] = rng.permutation(n_cust)[:first]

    # Invoice day by inverse CDF within the customer's activity window.
    days, weights = _billing_weights(start_day, end_day)
    cdf = np.concatenate([[0.0], np.cumsum(weights)])
    c_lo = np.interp(cust["lo"] - start_day, np.arange(len(cdf)), cdf)
    c_hi = np.interp(cust["hi"] - start_day + 1, np.arange(len(cdf)), cdf)
    target = c_lo[customer] + rng.random(n) * (c_hi[customer] - c_lo[customer])
    pos = np.clip(np.searchsorted(cdf, target, side="right") - 1, 0, len(days) - 1)
    invoice_day = days[pos]

    order = np.lexsort((customer, invoice_day))
    customer = customer[order]
    invoice_day = invoice_day[order]

    terms = cust["terms"][customer].copy()
    special = rng.random(n) < 0.04
    terms[special] = rng.choice(_TERMS, size=int(special.sum()))

    relative = rng.normal(-0.18, 0.6, size=n)
    amount = cust["size"][customer] * np.exp(relative)
    round_ten = rng.random(n) < 0.15
    amount = np.where(round_ten, np.round(amount, -1), np.round(amount, 2))
    amount = np.maximum(amount, 10.0)
    return {
        "n": np.array(n),
        "customer": customer,
        "invoice_day": invoice_day,
        "due_day": invoice_day + terms,
        "terms": terms,
        "amount": amount,
        "relative": relative + 0.18,
    }


# ----------------------------------------------------------------------------
# settlement: when and how each invoice is paid, credited or written off


def _settle(
    rng: np.random.Generator,
    cust: dict[str, np.ndarray],
    inv: dict[str, np.ndarray],
    start_day: int,
    end_day: int,
) -> None:
    """Draw every invoice's outcome into ``inv`` (day numbers, amounts, flags)."""
    n = int(inv["n"])
    c = inv["customer"]
    seg = cust["segment"][c]
    par = _SEG[seg]
    inv_day, due, amount = inv["invoice_day"], inv["due_day"], inv["amount"]

    # Deteriorating customers drift from standard to chronically late after onset.
    frac = (inv_day - start_day) / max(end_day - start_day, 1)
    drift = np.clip((frac - cust["onset"][c]) / (1.0 - cust["onset"][c]), 0.0, 1.0)
    drift = np.where(seg == _DETERIORATING, drift, 0.0)

    # Days late relative to due: segment, customer, amount, terms, noise, tail.
    late = (
        par[:, 1]
        + 55.0 * drift
        + cust["offset"][c] * (1.0 + (par[:, 1] > 10))
        + 3.0 * inv["relative"]
        + 0.12 * (30 - inv["terms"])
        + rng.normal(0.0, 1.0, n) * (par[:, 2] + 12.0 * drift)
    )
    tail = rng.random(n) < par[:, 3] + 0.2 * drift
    late = late + np.where(tail, rng.exponential(1.0, n) * par[:, 4], 0.0)
    settle = due + np.round(late).astype(np.int64)
    # Slow-downs: year-end holidays and August in Southern Europe.
    m = _month_of(settle)
    dom = settle - _month_start(settle)
    settle += np.where((m == 12) & (dom >= 20), 8, 0)
    settle += np.where((m == 8) & (cust["portfolio"][c] == 3), 10, 0)
    settle = np.maximum(settle, inv_day + 1)
    # Customers with a payment run pay on that weekday; others on business days.
    run = cust["pay_weekday"][c]
    shift = np.where(run >= 0, (run - _weekday(settle)) % 7, 0)
    settle = _next_business_day(settle + shift)

    # Disputes: opened near due, resolved after weeks; paid after resolution.
    p_dispute = np.clip(par[:, 6] * np.exp(0.5 * inv["relative"]), 0.0, 0.6)
    disputed = rng.random(n) < p_dispute
    opened = inv_day + rng.integers(2, inv["terms"] + 16)
    duration = np.minimum(np.exp(rng.normal(np.log(20.0), 0.7, n)), 120.0)
    resolved = opened + 2 + np.round(duration).astype(np.int64)
    opened = np.where(disputed, _next_business_day(opened), _NEVER)
    resolved = np.where(disputed, _next_business_day(resolved), _NEVER)
    outcome = rng.random(n)
    full_credit = disputed & (outcome < 0.10)
    part_credit = disputed & (outcome >= 0.10) & (outcome < 0.50)
    after = resolved + 2 + np.round(rng.exponential(6.0, n)).astype(np.int64)
    settle = np.where(disputed, np.maximum(settle, _next_business_day(after)), settle)

    # Credit notes: dispute outcomes, and occasional price corrections.
    credit = np.zeros(n)
    credit_day = np.full(n, _NEVER)
    credit[full_credit] = amount[full_credit]
    share = rng.uniform(0.1, 0.6, n)
    credit[part_credit] = np.round(amount[part_credit] * share[part_credit], 2)
    credit_day[disputed & (full_credit | part_credit)] = resolved[
        disputed & (full_credit | part_credit)
    ]
    correction = ~disputed & (rng.random(n) < 0.02)
    credit[correction] = np.round(
        amount[correction] * rng.uniform(0.03, 0.3, n)[correction], 2
    )
    correction_day = inv_day + rng.integers(1, 31, n)

    # Never paid: written off after ~6-8 months (or still open at end).
    p_never = par[:, 5] + 0.15 * drift
    never = (rng.random(n) < p_never) & ~full_credit
    write_off_day = np.where(
        never, _next_business_day(inv_day + 180 + rng.integers(0, 61, n)), _NEVER
    )
    net = np.round(amount - credit, 2)

    # Promises to pay on late invoices (not while disputed).
    p_ptp = np.where(never | (settle > due + 10), par[:, 8], 0.0)
    promise = ~disputed & (net > 0) & (rng.random(n) < p_ptp)
    promise_day = _next_business_day(due + 5 + rng.integers(0, 16, n))
    promise &= never | (promise_day < settle - 2)
    promised_day = promise_day + rng.integers(3, 15, n)
    kept = promise & ~never & (rng.random(n) < par[:, 9])
    broken = promise & ~kept
    kept_pay = np.clip(
        _prev_business_day(promised_day + rng.integers(-3, 3, n)),
        promise_day,
        promised_day + 3,
    )
    settle = np.where(kept, kept_pay, settle)
    late_pay = promised_day + 4 + np.round(rng.exponential(10.0, n)).astype(np.int64)
    late_pay = _next_business_day(late_pay)
    settle = np.where(broken & ~never, np.maximum(settle, late_pay), settle)
    # A price correction is issued before the invoice is settled.
    credit_day[correction] = np.maximum(
        np.minimum(correction_day, settle - 1), inv_day
    )[correction]

    # Instalments: 1 to 3 payments, the last one on the settlement day.
    p_inst = par[:, 7] * (1.0 + 0.5 * (inv["relative"] > 0.5))
    u = rng.random(n)
    k = 1 + (u < p_inst) + (u < p_inst * 0.35)
    k = np.where(never, np.where(rng.random(n) < 0.3, 1, 0), k)
    k = np.where(net <= 0, 0, k)

    inv.update(
        seg=seg,
        settle=np.where(never | (net <= 0), _NEVER, settle),
        disputed=disputed,
        disputed_flag=disputed & (opened <= end_day),
        opened=opened,
        resolved=resolved,
        credit=credit,
        credit_day=credit_day,
        never=never,
        write_off_day=write_off_day,
        net=net,
        promise=promise,
        promise_day=np.where(promise, promise_day, _NEVER),
        promised_day=np.where(promise, promised_day, _NEVER),
        k=k.astype(np.int64),
        active=np.ones(n, dtype=bool),
    )


def _plant_zero_amount(
    rng: np.random.Generator, inv: dict[str, np.ndarray], enabled: bool
) -> list[int]:
    """Turn a few plain invoices into zero-amount ones (no events at all)."""
    if not enabled:
        return []
    plain = np.flatnonzero(
        ~inv["disputed"] & ~inv["promise"] & (inv["credit"] == 0) & ~inv["never"]
    )
    chosen = np.sort(rng.choice(plain, size=min(2, len(plain)), replace=False))
    inv["amount"][chosen] = 0.0
    inv["net"][chosen] = 0.0
    inv["k"][chosen] = 0
    inv["settle"][chosen] = _NEVER
    inv["active"][chosen] = False
    return chosen.tolist()


# ----------------------------------------------------------------------------
# event tables


def _build_payments(
    rng: np.random.Generator, inv: dict[str, np.ndarray], end_day: int
) -> dict[str, np.ndarray]:
    """Payment rows (invoice position, day, amount), dated on or before end."""
    n = int(inv["n"])
    k, net, never = inv["k"], inv["net"], inv["never"]
    inv_day = inv["invoice_day"]

    # Earlier instalments go before the promise (if any) and the final payment.
    cap = np.where(inv["promise"], inv["promise_day"], inv["settle"]) - 1
    g1 = rng.integers(0, 31, n)
    g2 = rng.integers(10, 41, n)
    d1 = np.maximum(cap - g1, inv_day)
    d0 = np.maximum(d1 - g2, inv_day)
    f = rng.uniform(0.25, 0.45, (n, 2))
    f[:, 0] = np.where(k == 2, rng.uniform(0.3, 0.7, n), f[:, 0])

    # Bank charges: a few payments arrive short by a fee, adjusted later as "other".
    short = np.where(
        (k == 1) & ~never & ~inv["promise"] & ~inv["disputed"] & (rng.random(n) < 0.01),
        np.round(np.minimum(rng.uniform(2.0, 25.0, n), net * 0.05), 2),
        0.0,
    )
    inv["short"] = short

    days = np.full((n, 3), _NEVER)
    amounts = np.zeros((n, 3))
    # Slot 0 and 1: earlier instalments; slot 2: final payment.
    days[:, 0] = np.where(k == 3, d0, np.where(k == 2, d1, _NEVER))
    amounts[:, 0] = np.round(net * f[:, 0], 2)
    days[:, 1] = np.where(k == 3, d1, _NEVER)
    amounts[:, 1] = np.where(k == 3, np.round(net * f[:, 1], 2), 0.0)
    amounts[:, 0] = np.where(k >= 2, amounts[:, 0], 0.0)
    days[:, 2] = np.where(k >= 1, inv["settle"], _NEVER)
    amounts[:, 2] = np.round(net - amounts[:, 0] - amounts[:, 1] - short, 2)

    # A never-paid invoice may carry one partial payment before it stalls.
    partial = never & (k == 1)
    stall = inv_day + inv["terms"] + rng.integers(5, 60, n)
    # Before any promise, so that a broken promise stays broken.
    stall = np.maximum(np.minimum(stall, inv["promise_day"] - 1), inv_day)
    days[partial, 0] = stall[partial]
    amounts[partial, 0] = np.round(
        net[partial] * rng.uniform(0.2, 0.6, int(partial.sum())), 2
    )
    days[never, 2] = _NEVER
    inv["partial_paid"] = np.where(partial, amounts[:, 0], 0.0)
    inv["partial_day"] = np.where(partial, days[:, 0], _NEVER)
    inv["final_amount"] = np.where(never, net - inv["partial_paid"], amounts[:, 2])

    keep = (days <= end_day) & inv["active"][:, None]
    rows, slot = np.nonzero(keep)
    return {"inv": rows, "day": days[rows, slot], "amount": amounts[rows, slot]}


def _build_adjustments(
    inv: dict[str, np.ndarray], end_day: int
) -> dict[str, np.ndarray]:
    """Credit notes, write-offs and bank-charge adjustments dated on or before end."""
    n = int(inv["n"])
    idx = np.arange(n)
    credit = (inv["credit"] > 0) & (inv["credit_day"] <= end_day)
    write_off = inv["never"] & (inv["write_off_day"] <= end_day)
    bank_day = _next_business_day(np.minimum(inv["settle"], end_day) + 7)
    bank = (inv["short"] > 0) & (bank_day <= end_day)
    parts = [
        (idx[credit], inv["credit_day"][credit], inv["credit"][credit], "credit_note"),
        (
            idx[write_off],
            inv["write_off_day"][write_off],
            np.round(inv["net"] - inv["partial_paid"], 2)[write_off],
            "write_off",
        ),
        (idx[bank], bank_day[bank], inv["short"][bank], "other"),
    ]
    active = inv["active"]
    out_inv = np.concatenate([p[0] for p in parts])
    keep = active[out_inv]
    return {
        "inv": out_inv[keep],
        "day": np.concatenate([p[1] for p in parts])[keep],
        "amount": np.concatenate([p[2] for p in parts])[keep],
        "kind": np.concatenate([np.full(len(p[0]), _code(p[3])) for p in parts])[keep],
    }


def _build_activities(
    rng: np.random.Generator,
    cust: dict[str, np.ndarray],
    inv: dict[str, np.ndarray],
    end_day: int,
) -> dict[str, np.ndarray]:
    """Dunning, disputes, promises and notes dated on or before end."""
    n = int(inv["n"])
    idx = np.arange(n)
    active = inv["active"] & (inv["net"] > 0)
    # The day an invoice stops being chased: paid, written off or credited.
    closed = np.minimum(inv["settle"], inv["write_off_day"])
    inv_parts: list[np.ndarray] = []
    day_parts: list[np.ndarray] = []
    kinds: list[np.ndarray] = []

    def add(mask: np.ndarray, day: np.ndarray, kind: str) -> None:
        mask = mask & (day <= end_day)
        inv_parts.append(idx[mask])
        day_parts.append(day[mask])
        kinds.append(np.full(int(mask.sum()), _code(kind)))

    for offset, kind in _DUNNING:
        day = _next_business_day(inv["due_day"] + offset)
        # Dunning pauses while a dispute or a promise to pay is open.
        in_dispute = (day >= inv["opened"]) & (day <= inv["resolved"])
        promised = (day >= inv["promise_day"]) & (day <= inv["promised_day"] + 3)
        add(active & (day < closed) & ~in_dispute & ~promised, day, kind)
    add(inv["disputed"] & inv["active"], inv["opened"], "dispute_opened")
    add(inv["disputed"] & inv["active"], inv["resolved"], "dispute_resolved")
    add(inv["promise"] & inv["active"], inv["promise_day"], "promise_to_pay")

    inv_idx = np.concatenate(inv_parts)
    customer = inv["customer"][inv_idx]
    days = np.concatenate(day_parts)
    kind = np.concatenate(kinds)

    # Account notes without an invoice: about one per two customers a year.
    n_cust = int(cust["n"])
    customer_years = float(np.sum(cust["hi"] - cust["lo"])) / 365.0
    n_notes = max(1, round(0.5 * customer_years))
    note_cust = rng.integers(0, n_cust, n_notes)
    note_day = np.round(
        cust["lo"][note_cust]
        + rng.random(n_notes) * (cust["hi"][note_cust] - cust["lo"][note_cust])
    ).astype(np.int64)
    note_day = np.minimum(_next_business_day(note_day), end_day)

    is_ptp = kind == _code("promise_to_pay")
    promised_amount = np.where(is_ptp, inv["final_amount"][inv_idx], np.nan)
    promised_day = np.where(is_ptp, inv["promised_day"][inv_idx], _NEVER)
    pad = np.full(n_notes, _NEVER)
    return {
        "inv": np.concatenate([inv_idx, np.full(n_notes, -1)]),
        "customer": np.concatenate([customer, note_cust]),
        "day": np.concatenate([days, note_day]),
        "kind": np.concatenate([kind, np.full(n_notes, _code("note"))]),
        "promised_amount": np.concatenate([promised_amount, np.full(n_notes, np.nan)]),
        "promised_day": np.concatenate([promised_day, pad]),
    }


def _build_fx_rates(
    rng: np.random.Generator, start_day: int, end_day: int, currency: str
) -> dict[str, np.ndarray]:
    """Business-day rates (reporting units per unit) from 35 days before start."""
    days = np.arange(start_day - 35, end_day + 1)
    days = days[_weekday(days) < 5]
    codes = list(CURRENCIES)
    # Mean-reverting log rates (AR(1), half-life about 140 business days), so
    # rates wander a few percent around their reference without drifting off.
    shocks = rng.normal(0.0, 1.0, (len(days), len(codes))) * np.array(
        [_FX_VOL[c] for c in codes]
    )
    log_walk = lfilter([1.0], [1.0, -_FX_PERSISTENCE], shocks, axis=0)
    eur_value = np.array([_EUR_VALUE[c] for c in codes]) * np.exp(log_walk)
    rep = codes.index(currency)
    rates = eur_value / eur_value[:, [rep]]
    # The reporting currency stays implicit (rate 1), so a loader can infer it.
    foreign = [i for i in range(len(codes)) if i != rep]
    return {
        "day": np.repeat(days, len(foreign)),
        "currency": np.tile(np.asarray(codes, dtype=object)[foreign], len(days)),
        "rate": np.round(rates[:, foreign].ravel(), 6),
    }


def _plant_payment_issues(
    rng: np.random.Generator,
    inv: dict[str, np.ndarray],
    payments: dict[str, np.ndarray],
    start_day: int,
    end_day: int,
) -> dict[str, np.ndarray]:
    """Add unapplied cash and a duplicate payment; predate a few payments."""
    n = int(inv["n"])
    plain = (
        inv["active"]
        & (inv["k"] == 1)
        & ~inv["never"]
        & ~inv["disputed"]
        & ~inv["promise"]
        & (inv["credit"] == 0)
        & (inv["short"] == 0)
        & (inv["settle"] <= inv["due_day"])
    )
    # Overpayment: a prompt invoice paid twice, the duplicate 5-25 days later.
    dup_ok = np.flatnonzero(plain & (inv["settle"] + 28 <= end_day))
    dup = rng.choice(dup_ok, size=min(2, len(dup_ok)), replace=False)
    dup_day = _next_business_day(inv["settle"][dup] + rng.integers(5, 26, len(dup)))

    # Payments dated before their invoice (keyed with a wrong date).
    early_ok = np.setdiff1d(np.flatnonzero(plain & (inv["settle"] <= end_day)), dup)
    early = rng.choice(early_ok, size=min(2, len(early_ok)), replace=False)
    day = payments["day"].copy()
    rows = np.flatnonzero(np.isin(payments["inv"], early))
    day[rows] = inv["invoice_day"][payments["inv"][rows]] - rng.integers(
        1, 11, len(rows)
    )

    # Unapplied cash: payments quoting invoice ids that do not exist.
    n_unknown = 3
    unknown_inv = n + np.arange(n_unknown)  # positions past the last invoice
    first = start_day + min(30, (end_day - start_day) // 3)
    unknown_day = rng.integers(first, max(first + 1, end_day - 5), n_unknown)
    unknown_day = np.minimum(_next_business_day(unknown_day), end_day)
    unknown_amount = np.round(np.exp(rng.normal(np.log(900.0), 0.8, n_unknown)), 2)
    return {
        "inv": np.concatenate([payments["inv"], dup, unknown_inv]),
        "day": np.concatenate([day, dup_day, unknown_day]),
        "amount": np.concatenate(
            [payments["amount"], inv["final_amount"][dup], unknown_amount]
        ),
    }


# ----------------------------------------------------------------------------
# assembly and output


def _assemble(
    cust: dict[str, np.ndarray],
    inv: dict[str, np.ndarray],
    payments: dict[str, np.ndarray],
    adjustments: dict[str, np.ndarray],
    activities: dict[str, np.ndarray],
    fx_rates: dict[str, np.ndarray],
    reporting: str,
) -> dict[str, pd.DataFrame]:
    """Turn the arrays into canonical DataFrames with ids, dates and dtypes."""
    n_cust, n = int(cust["n"]), int(inv["n"])
    cust_ids = _format_ids("C", np.arange(1, n_cust + 1), max(5, len(str(n_cust))))
    cust_ids = cust_ids.array
    width = max(7, len(str(n + 10)))
    # One id more per planted unknown invoice: positions n, n+1, ... map to them.
    inv_ids = _format_ids("INV-", np.arange(1, n + 4), width).array
    # Per-customer labels; the last currency entry is for unapplied cash.
    currency = _labels(np.append(cust["currency"], reporting))
    portfolio = _labels(np.asarray(PORTFOLIOS, dtype=object)[cust["portfolio"]])
    collector = _labels(
        np.asarray(_COLLECTORS, dtype=object)[cust["portfolio"], cust["collector"]]
    )
    c = inv["customer"]

    invoices = pd.DataFrame(
        {
            "invoice_id": inv_ids[:n],
            "customer_id": cust_ids.take(c),
            "invoice_date": _to_dates(inv["invoice_day"]),
            "due_date": _to_dates(inv["due_day"]),
            "amount": inv["amount"].astype(np.float64),
            "currency": currency.take(c),
            "portfolio": portfolio.take(c),
            "disputed": inv["disputed_flag"],
        }
    )

    order = np.lexsort((payments["inv"], payments["day"]))
    p_inv = payments["inv"][order]
    p_cust = np.where(p_inv < n, c[np.minimum(p_inv, n - 1)], n_cust)
    payments_df = pd.DataFrame(
        {
            "payment_id": _format_ids(
                "PAY-", np.arange(1, len(order) + 1), width
            ).array,
            "invoice_id": inv_ids.take(p_inv),
            "payment_date": _to_dates(payments["day"][order]),
            "amount": payments["amount"][order].astype(np.float64),
            "currency": currency.take(p_cust),
        }
    )

    order = np.lexsort((adjustments["inv"], adjustments["day"]))
    adjustments_df = pd.DataFrame(
        {
            "invoice_id": inv_ids.take(adjustments["inv"][order]),
            "date": _to_dates(adjustments["day"][order]),
            "amount": adjustments["amount"][order].astype(np.float64),
            "kind": _labels(_ADJUSTMENT_KINDS).take(adjustments["kind"][order]),
        }
    )

    order = np.lexsort((activities["inv"], activities["customer"], activities["day"]))
    a_cust = activities["customer"][order]
    activities_df = pd.DataFrame(
        {
            "customer_id": cust_ids.take(a_cust),
            "date": _to_dates(activities["day"][order]),
            "kind": _labels(_ACTIVITY_KINDS).take(activities["kind"][order]),
            "invoice_id": inv_ids.take(activities["inv"][order], allow_fill=True),
            "promised_amount": activities["promised_amount"][order],
            "promised_date": _to_dates(activities["promised_day"][order]),
            "collector": collector.take(a_cust),
        }
    )

    customers_df = pd.DataFrame(
        {
            "customer_id": cust_ids,
            "name": cust["names"].to_numpy(),
            "portfolio": portfolio,
            "country": cust["country"],
            "terms_days": cust["terms"].astype(np.int64),
            "credit_limit": cust["credit_limit"].astype(np.float64),
        }
    )
    fx_df = pd.DataFrame(
        {
            "date": _to_dates(fx_rates["day"]),
            "currency": fx_rates["currency"],
            "rate": fx_rates["rate"],
        }
    )
    tables = {
        "invoices": invoices,
        "payments": payments_df,
        "adjustments": adjustments_df,
        "activities": activities_df,
        "customers": customers_df,
        "fx_rates": fx_df,
    }
    return {name: _text_columns(frame) for name, frame in tables.items()}


def _labels(values: object) -> pd.api.extensions.ExtensionArray:
    """A few text labels as the installed pandas' default text array.

    ``_labels(values).take(codes)`` then builds a long column without creating
    one Python string per row.
    """
    return pd.Series(np.asarray(values, dtype=object)).astype(str).array


def _code(kind: str) -> int:
    """Position of an adjustment or activity kind in its tuple."""
    if kind in _ADJUSTMENT_KINDS:
        return _ADJUSTMENT_KINDS.index(kind)
    return _ACTIVITY_KINDS.index(kind)


def _text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Give object columns the default string dtype of the installed pandas."""
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = frame[col].astype(str).where(frame[col].notna())
    return frame


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write one table: CSV with ISO dates and blank missing values, or Parquet."""
    if fmt == "parquet":
        frame.to_parquet(path, index=False)
        return
    frame.to_csv(path, index=False, date_format="%Y-%m-%d", lineterminator="\n")


def _totals(tables: dict[str, pd.DataFrame]) -> dict[str, dict[str, float]]:
    """Document-currency sums per table and currency (adjustments per kind too)."""
    inv = tables["invoices"]
    currency_of = inv.set_index("invoice_id")["currency"]
    adj = tables["adjustments"]
    adj_currency = adj["invoice_id"].map(currency_of)

    def by_currency(amount: pd.Series, currency: pd.Series) -> dict[str, float]:
        sums = amount.groupby(currency.to_numpy(), sort=True).sum()
        return {str(k): round(float(v), 2) for k, v in sums.items()}

    totals = {
        "invoices": by_currency(inv["amount"], inv["currency"]),
        "payments": by_currency(
            tables["payments"]["amount"], tables["payments"]["currency"]
        ),
    }
    for kind in ("credit_note", "write_off", "other"):
        mask = (adj["kind"] == kind).to_numpy()
        totals[f"adjustments_{kind}"] = by_currency(
            adj["amount"][mask], adj_currency[mask]
        )
    return totals


def _readme(summary: dict) -> str:
    """The README.md written beside the tables."""
    rows = "\n".join(
        f"| `{name}` | {count:,} | `{Path(summary['paths'][name]).name}` |"
        for name, count in summary["rows"].items()
    )
    issues = summary["data_quality_issues"]
    labels = {
        "unknown_invoice": "Payments quoting an unknown invoice id (unapplied cash)",
        "overpayment": "Invoices paid twice (overpayment, a negative balance)",
        "zero_amount": "Zero-amount invoices",
        "payment_before_invoice": "Payments dated before their invoice date",
    }
    if any(issues.values()):
        planted = "\n".join(
            f"- {labels[k]}: {', '.join(f'`{v}`' for v in values) or 'none'}"
            for k, values in issues.items()
        )
    else:
        planted = "- none (generated with `data_quality_issues=False`)"
    return f"""# arforecast sample ledger

Synthetic accounts-receivable data generated by `arforecast.sample.write_sample`
(seed {summary["seed"]}, reporting currency {summary["currency"]}).

It is a live B2B book with invoices from {summary["period"]["start"]} to \
{summary["period"]["end"]}.
Nothing is dated after {summary["period"]["end"]}, so recent invoices are still open.
The same arguments always give the same files.
None of the companies or people are real.
The book starts empty (no open items from before the first invoice), so KPIs
that look back three months are meaningful from about three months after it.

| table | rows | file |
| --- | ---: | --- |
{rows}

## What is in it

- Four portfolios (DACH, Nordics, UK&I, Southern Europe) with their countries,
  payment terms of 14, 30, 45 or 60 days per customer and invoice amounts that are
  lognormal around each customer's size.
- Billing on business days (not on New Year's Day or 24-26 December), heavier at
  month ends, in March, November and December, lighter in August; some customers
  join or leave during the period.
- Customers in hidden behaviour segments (prompt, standard, slow, chronically
  late, frequent disputes, deteriorating over time). Payment timing depends on
  the segment, the customer's payment-run weekday, terms, the amount relative to
  the customer's usual invoice, year-end and August slow-downs, disputes (paid
  after resolution) and promises to pay (kept or broken).
- Partial payments (two or three instalments), credit notes (dispute outcomes
  and price corrections), short payments for bank charges adjusted as `other`,
  write-offs of items unpaid after about six months (younger ones stay open).
- Activities: reminder e-mails, calls and letters after due (paused while a
  dispute or a promise is open), `dispute_opened` / `dispute_resolved`,
  `promise_to_pay` with `promised_amount` (the balance promised) and
  `promised_date`, and account notes without an invoice. A promise counts as
  kept when the invoice's payments from the promise to `promised_date` + 3 days
  cover the promised amount.
- `disputed` on an invoice means it was disputed at some time up to the end
  date; the activities date each dispute.
- Currencies: invoices and their payments share the customer's currency (GBP in
  Great Britain, SEK in Sweden, USD for some customers, EUR otherwise).
  `fx_rates` holds business-day rates in {summary["currency"]} per unit of each \
other currency
  from 35 days before the first invoice; {summary["currency"]} itself has no rows \
(its rate is 1).
  Amounts are in the document currency.

## Planted data-quality problems

Validation keeps these rows and reports each with a warning:

{planted}
"""
