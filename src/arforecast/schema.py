"""Canonical ledger tables, their column types, validation and data-quality findings."""

from __future__ import annotations

import difflib
import logging
import math
import re
import reprlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from arforecast.exceptions import ConfigError, LedgerValidationError

__all__ = [
    "ACTIVITY_KINDS",
    "ADJUSTMENT_KINDS",
    "DOCUMENT_DATE_COLUMNS",
    "MAX_PLAUSIBLE_DATE",
    "MIN_PLAUSIBLE_DATE",
    "NEGATIVE_INVOICE_POLICIES",
    "REQUIRED_TABLES",
    "TABLES",
    "DataQuality",
    "Finding",
    "Severity",
    "check_currencies",
    "parse_amounts",
    "parse_bools",
    "parse_dates",
    "raise_for_fatal",
    "validate_tables",
]

logger = logging.getLogger(__name__)

Severity = Literal["fatal", "set_aside", "warning"]

ADJUSTMENT_KINDS = ("credit_note", "write_off", "other")
ACTIVITY_KINDS = (
    "email",
    "call",
    "letter",
    "promise_to_pay",
    "dispute_opened",
    "dispute_resolved",
    "note",
)

# table -> {column: (dtype kind, required)}; kinds: str, date, amount, bool, int, float
TABLES: dict[str, dict[str, tuple[str, bool]]] = {
    "invoices": {
        "invoice_id": ("str", True),
        "customer_id": ("str", True),
        "invoice_date": ("date", True),
        "due_date": ("date", True),
        "amount": ("amount", True),
        "currency": ("str", False),
        "portfolio": ("str", False),
        "disputed": ("bool", False),
    },
    "payments": {
        "invoice_id": ("str", True),
        "payment_date": ("date", True),
        "amount": ("amount", True),
        "payment_id": ("str", False),
        "currency": ("str", False),
        "customer_id": ("str", False),
    },
    "adjustments": {
        "invoice_id": ("str", True),
        "date": ("date", True),
        "amount": ("amount", True),
        "kind": ("str", True),
        "currency": ("str", False),
    },
    "activities": {
        "customer_id": ("str", True),
        "date": ("date", True),
        "kind": ("str", True),
        "invoice_id": ("str", False),
        "promised_amount": ("amount", False),
        "promised_date": ("date", False),
        "collector": ("str", False),
    },
    "customers": {
        "customer_id": ("str", True),
        "name": ("str", False),
        "portfolio": ("str", False),
        "country": ("str", False),
        "terms_days": ("int", False),
        "credit_limit": ("amount", False),
    },
    "fx_rates": {
        "date": ("date", True),
        "currency": ("str", True),
        "rate": ("float", True),
    },
}

REQUIRED_TABLES = ("invoices", "payments")

#: Dates before this day are implausible: the row is set aside.
MIN_PLAUSIBLE_DATE = pd.Timestamp("1950-01-01")
#: Dates after this day are implausible: the row is set aside.
MAX_PLAUSIBLE_DATE = pd.Timestamp("2100-12-31")

#: What to do with an invoice whose amount is negative.
NEGATIVE_INVOICE_POLICIES = ("set_aside", "credit_note")

#: The date at which each document's amount is converted to the reporting currency.
DOCUMENT_DATE_COLUMNS = {
    "invoices": "invoice_date",
    "payments": "payment_date",
    "adjustments": "date",
}

_KINDS = {"adjustments": ADJUSTMENT_KINDS, "activities": ACTIVITY_KINDS}
# the column whose sum is reconciled, per table (tables without one reconcile rows only)
_AMOUNT_COLUMN = {"invoices": "amount", "payments": "amount", "adjustments": "amount"}
_RECON_COLUMNS = [
    "table",
    "rows_read",
    "amount_read",
    "rows_used",
    "amount_used",
    "rows_set_aside",
    "amount_set_aside",
]
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
# datetime64[ns] holds 1677-09-21 .. 2262-04-11; stay safely inside it
_NS_LOWER = pd.Timestamp("1678-01-01")
_NS_UPPER = pd.Timestamp("2262-01-01")
_BOOL_TEXT = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "t": True,
    "f": False,
    "1": True,
    "0": False,
}


@dataclass(frozen=True)
class Finding:
    """One data-quality problem.

    Parameters
    ----------
    severity : {"fatal", "set_aside", "warning"}
        ``fatal`` stops the load; ``set_aside`` excludes the rows (counted in the
        reconciliation); ``warning`` keeps the rows.
    code : str
        Stable machine-readable kind, e.g. ``"bad_date"``, ``"unknown_invoice"``.
        For ``set_aside`` findings it is the reason in the reconciliation.
    table : str
        Canonical table name (``"invoices"``, ``"payments"``, ...).
    rows : tuple of int
        Source row numbers: the line of the file with the header as line 1, so the
        first data row is 2 (the same number a spreadsheet shows).
    column : str or None
        Column in the source (before renaming, where a mapping renamed it).
    value : str or None
        The offending value, as text (the first one where ``rows`` holds several).
    message : str
        What is wrong and how to fix it, one line.
    amount : float or None
        Sum of the affected amounts in document currency, where meaningful.
    """

    severity: Severity
    code: str
    table: str
    rows: tuple[int, ...]
    column: str | None
    value: str | None
    message: str
    amount: float | None = None

    def __str__(self) -> str:
        where = f"{self.table}"
        if self.rows:
            where += f" row {_format_rows(self.rows)}"
        if self.column:
            where += f", column {self.column!r}"
        if self.value is not None:
            where += f", value {self.value!r}"
        return f"[{self.severity}] {where}: {self.message}"

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "table": self.table,
            "rows": list(self.rows),
            "column": self.column,
            "value": self.value,
            "message": self.message,
            "amount": self.amount,
        }


def _format_rows(rows: tuple[int, ...], limit: int = 5) -> str:
    if len(rows) <= limit:
        return ", ".join(str(r) for r in rows)
    head = ", ".join(str(r) for r in rows[:limit])
    return f"{head} (+{len(rows) - limit} more)"


@dataclass
class DataQuality:
    """The findings of one load and its reconciliation.

    ``reconciliation`` has one row per table with the columns ``table``,
    ``rows_read``, ``amount_read``, ``rows_used``, ``amount_used``,
    ``rows_set_aside``, ``amount_set_aside``; rows and amounts read always equal
    used plus set aside. Amounts are sums of the table's ``amount`` column in
    document currency; tables without an amount (activities, customers,
    fx_rates) have missing amounts and reconcile by rows.
    """

    findings: list[Finding] = field(default_factory=list)
    reconciliation: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=_RECON_COLUMNS)
    )

    @property
    def fatal(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "fatal"]

    @property
    def set_aside(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "set_aside"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def to_frame(self) -> pd.DataFrame:
        """Findings as a DataFrame, one row per finding."""
        cols = [
            "severity",
            "code",
            "table",
            "rows",
            "column",
            "value",
            "message",
            "amount",
        ]
        records = [f.to_dict() for f in self.findings]
        frame = pd.DataFrame.from_records(records, columns=cols)
        frame["n_rows"] = frame["rows"].map(len) if len(frame) else pd.Series(dtype=int)
        return frame

    def set_aside_by_reason(self) -> pd.DataFrame:
        """Rows and amounts set aside, one row per table and reason.

        Returns
        -------
        DataFrame
            Columns ``table``, ``reason`` (the finding code), ``rows`` (count) and
            ``amount`` (sum in document currency; missing for tables without an
            amount). Per table, the counts add up to ``rows_set_aside`` in
            `reconciliation`.
        """
        records = [
            {
                "table": f.table,
                "reason": f.code,
                "rows": len(f.rows),
                "amount": np.nan if f.amount is None else f.amount,
            }
            for f in self.set_aside
        ]
        frame = pd.DataFrame.from_records(
            records, columns=["table", "reason", "rows", "amount"]
        )
        if frame.empty:
            return frame.astype({"rows": "int64", "amount": "float64"})
        grouped = frame.groupby(["table", "reason"], sort=True, as_index=False).agg(
            rows=("rows", "sum"), amount=("amount", lambda a: math.fsum(a))
        )
        return grouped.astype({"rows": "int64", "amount": "float64"})

    def reconciles(self, tolerance: float = 1e-6) -> bool:
        """Whether read = used + set aside for every table.

        Rows must match exactly; amounts to within ``tolerance`` (floating-point
        rounding of the sums).
        """
        recon = self.reconciliation
        if recon.empty:
            return True
        rows_ok = (
            recon["rows_read"] == recon["rows_used"] + recon["rows_set_aside"]
        ).all()
        read = recon["amount_read"].astype("float64")
        split = recon["amount_used"].astype("float64") + recon[
            "amount_set_aside"
        ].astype("float64")
        amounts_ok = ((read - split).abs().fillna(0.0) <= tolerance).all()
        return bool(rows_ok and amounts_ok)

    def raise_for_fatal(self, limit: int = 10) -> None:
        """Raise `LedgerValidationError` if any finding is fatal (see `raise_for_fatal`)."""
        raise_for_fatal(self.findings, limit=limit)

    def summary(self) -> str:
        """A short human-readable summary: counts per class and the reconciliation."""
        lines = [
            f"{len(self.fatal)} fatal, {len(self.set_aside)} set aside, "
            f"{len(self.warnings)} warnings"
        ]
        lines.extend(str(f) for f in self.findings)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        values = self.reconciliation.to_numpy(dtype=object, copy=True)
        values[pd.isna(values)] = None
        recon = pd.DataFrame(values, columns=self.reconciliation.columns)
        return {
            "counts": {
                "fatal": len(self.fatal),
                "set_aside": len(self.set_aside),
                "warning": len(self.warnings),
            },
            "findings": [f.to_dict() for f in self.findings],
            "reconciliation": recon.to_dict(orient="records"),
        }


def raise_for_fatal(findings: list[Finding], limit: int = 10) -> None:
    """Raise one `LedgerValidationError` listing the fatal findings, if any.

    The first ``limit`` fatal findings are listed in full, then a count of the rest.
    """
    fatal = [f for f in findings if f.severity == "fatal"]
    if not fatal:
        return
    lines = [f"The ledger cannot be loaded: {len(fatal)} fatal finding(s)."]
    lines.extend(f"  - {f}" for f in fatal[:limit])
    if len(fatal) > limit:
        rest = reprlib.repr([f.code for f in fatal[limit:]])
        lines.append(f"  ... and {len(fatal) - limit} more fatal findings ({rest}).")
    raise LedgerValidationError("\n".join(lines), findings=list(findings))


# --------------------------------------------------------------------------------------
# Vectorized parsers
# --------------------------------------------------------------------------------------


def _replace(
    series: pd.Series, mask: np.ndarray | pd.Series, other: object
) -> pd.Series:
    """``series`` with ``other`` (scalar or aligned Series) where ``mask`` is true.

    Object columns are filled through NumPy: ``Series.where`` on them infers a
    new dtype, which pandas 2.2 deprecates with a FutureWarning.
    """
    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return series
    if series.dtype != object:
        return series.where(~mask, other)
    values = series.to_numpy(dtype=object, copy=True)
    if isinstance(other, pd.Series):
        values[mask] = other.to_numpy(dtype=object)[mask]
    else:
        values[mask] = other
    return pd.Series(values, index=series.index, dtype=object)


def _as_text(series: pd.Series) -> pd.Series:
    """Stripped text with blanks as missing, whatever the input dtype."""
    missing = series.isna()
    if pd.api.types.is_float_dtype(series.dtype):
        finite = series[~missing]
        if len(finite) and (finite == np.floor(finite)).all():
            # ids read as floats (a column with gaps): 611365.0 -> "611365"
            series = series.astype("Int64")
    text = series.astype(str).str.strip()
    return _replace(text, missing.to_numpy() | (text == "").to_numpy(), np.nan)


def parse_dates(
    series: pd.Series, fmt: str | None = None, *, accept_iso: bool = False
) -> tuple[pd.Series, pd.Series]:
    """Parse dates with one explicit format, without guessing.

    Parameters
    ----------
    series : Series
        Text, or values that are already dates (datetime64, tz-aware: the
        wall-clock date is kept).
    fmt : str or None, default=None
        A ``strptime`` format such as ``"%d/%m/%Y"``. ``None`` means ISO
        ``YYYY-MM-DD`` (an ISO time part is allowed and dropped).
    accept_iso : bool, default=False
        Also accept ISO values in a column declared with another format (used for
        spreadsheets, whose real date cells arrive as ISO timestamps).

    Returns
    -------
    values : Series of datetime64[ns]
        Normalised to midnight; missing where blank or unparseable.
    bad : Series of bool
        True where a non-blank value did not parse (including dates outside
        1678-2261, which datetime64[ns] cannot hold). A date that does not match
        ``fmt`` is never reinterpreted, so day and month are never swapped.

    Examples
    --------
    >>> values, bad = parse_dates(pd.Series(["03/09/2024", "14/09/2024"]), "%m/%d/%Y")
    >>> bad.tolist()
    [False, True]
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_localize(None)
    if pd.api.types.is_datetime64_dtype(series.dtype):
        values = series
        bad = pd.Series(False, index=series.index)
    else:
        text = _as_text(series)
        values = pd.to_datetime(text, format=fmt or "%Y-%m-%d", errors="coerce")
        rest = values.isna().to_numpy() & text.notna().to_numpy()
        if rest.any() and (fmt is None or accept_iso):
            # ISO with a time part ("2024-01-31 00:00:00"): keep the date
            tail = text[rest]
            iso = tail.str.fullmatch(_ISO_DATE, na=False)
            iso_values = pd.to_datetime(
                _replace(tail.str.slice(0, 10), ~iso.to_numpy(), np.nan),
                format="%Y-%m-%d",
                errors="coerce",
            )
            values = values.astype(iso_values.dtype)
            values.loc[iso_values.index] = iso_values
        bad = values.isna() & text.notna()
    out_of_range = values.notna() & ((values < _NS_LOWER) | (values > _NS_UPPER))
    values = values.where(~out_of_range)
    bad = bad | out_of_range
    values = values.astype("datetime64[ns]").dt.normalize()
    return values, bad.astype(bool)


def parse_amounts(
    series: pd.Series,
    decimal: str = ".",
    thousands: str | None = ",",
    currency_symbols: Sequence[str] = (),
) -> tuple[pd.Series, pd.Series]:
    """Parse amounts written with the given separators.

    Parameters
    ----------
    series : Series
        Text such as ``"1,250.00"``, ``"(500.00)"`` or ``"€ 12,50"``, or numbers.
    decimal : str, default="."
        The decimal separator.
    thousands : str or None, default=","
        The thousands separator; a value using it must group digits by three, so
        ``"1.250,00"`` under the defaults is bad, not 1.25. ``None`` or ``""``:
        no grouping allowed.
    currency_symbols : sequence of str, default=()
        Symbols or codes removed before parsing (``"$"``, ``"EUR"``).

    Returns
    -------
    values : Series of float64
        Parenthesised values are negative; missing where blank or unparseable.
    bad : Series of bool
        True where a non-blank value is not a number in this notation.

    Examples
    --------
    >>> parse_amounts(pd.Series(["1.250,00", "(500,00)"]), ",", ".")[0].tolist()
    [1250.0, -500.0]
    """
    if not decimal or decimal == thousands:
        raise ConfigError(
            f"decimal separator {decimal!r} must be one character and differ from "
            f"the thousands separator {thousands!r}; use e.g. decimal ',' with "
            "thousands '.'"
        )
    if pd.api.types.is_bool_dtype(series.dtype):
        text = series.astype("float64").astype(str)
        series = pd.Series(text, index=series.index)
    if pd.api.types.is_numeric_dtype(series.dtype):
        values = series.astype("float64")
        bad = pd.Series(~np.isfinite(values.to_numpy()) & values.notna().to_numpy())
        bad.index = series.index
        return values.where(~bad), bad

    text = full_text = _as_text(series)
    values = pd.Series(np.nan, index=series.index, dtype="float64")
    if decimal == ".":
        # fast path: plain numbers ("1250.00", "-5") need no pattern matching
        plain = pd.to_numeric(text, errors="coerce").astype("float64")
        values = plain.where(np.isfinite(plain.to_numpy()))
        rest = text.notna().to_numpy() & values.isna().to_numpy()
        if not rest.any():
            return values, pd.Series(False, index=series.index)
        text = text[rest]
    for symbol in currency_symbols:
        text = text.str.replace(symbol, "", regex=False)
    text = text.str.replace(r"\s+", "", regex=True)
    negative = text.str.fullmatch(r"\(.*\)", na=False)
    text = _replace(text, negative.to_numpy(), text.str.slice(1, -1))

    d = re.escape(decimal)
    if thousands:
        whole = rf"(?:\d{{1,3}}(?:{re.escape(thousands)}\d{{3}})+|\d+)"
    else:
        whole = r"\d+"
    pattern = rf"[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?"
    ok = text.str.fullmatch(pattern, na=False)
    # "(-5)" is a contradiction, not a double negative
    ok = ok & ~(negative & text.str.match(r"[+-]", na=False))

    clean = _replace(text, ~ok.to_numpy(), np.nan)
    if thousands:
        clean = clean.str.replace(thousands, "", regex=False)
    if decimal != ".":
        clean = clean.str.replace(decimal, ".", regex=False)
    parsed = pd.to_numeric(clean, errors="coerce").astype("float64")
    parsed = parsed.where(~negative, -parsed)
    values.loc[parsed.index] = parsed
    bad = values.isna() & full_text.notna()
    return values, bad.astype(bool)


def parse_bools(
    series: pd.Series, values: Mapping[str, bool] | None = None
) -> tuple[pd.Series, pd.Series]:
    """Parse yes/no flags.

    Parameters
    ----------
    series : Series
        Booleans, 0/1, or text.
    values : mapping of str to bool, optional
        Text to flag, matched case-insensitively (e.g. ``{"Yes": True, "No": False}``).
        Default: true/false, yes/no, y/n, t/f, 1/0.

    Returns
    -------
    values : Series of object
        True, False, or missing (blank or unparseable).
    bad : Series of bool
        True where a non-blank value is not in the table.
    """
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(object), pd.Series(False, index=series.index)
    table = {str(k).strip().lower(): bool(v) for k, v in (values or _BOOL_TEXT).items()}
    text = _as_text(series)
    if pd.api.types.is_numeric_dtype(series.dtype):
        text = text.str.replace(r"\.0$", "", regex=True)
    # a flag column has a handful of distinct values: look each up once
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    lookup = [table.get(str(u).lower(), np.nan) for u in uniques] + [np.nan]
    flags = pd.Series(np.array(lookup, dtype=object)[codes], index=series.index)
    bad = flags.isna() & text.notna()
    return flags, bad.astype(bool)


# --------------------------------------------------------------------------------------
# validate_tables
# --------------------------------------------------------------------------------------


@dataclass
class _State:
    """One table while it is being validated."""

    name: str
    frame: pd.DataFrame
    rows: np.ndarray
    src: dict[str, str]
    keep: np.ndarray
    rows_read: int
    header: np.ndarray | None = None
    invoice_positions: np.ndarray | None = None

    def col(self, column: str) -> str:
        return self.src.get(column, column)

    def amounts(self) -> pd.Series | None:
        column = _AMOUNT_COLUMN.get(self.name)
        return None if column is None else self.frame[column]


def _rows(state: _State, mask: np.ndarray) -> tuple[int, ...]:
    return tuple(state.rows[mask].tolist())


def _examples(values: pd.Series, limit: int = 3) -> str:
    uniq = pd.unique(values.dropna().astype(str))
    return reprlib.repr(list(uniq[:limit]) + (["..."] if len(uniq) > limit else []))


def _fmt_value(value: object) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _normalise_codes(values: pd.Series, normalise: Callable[[str], str]) -> pd.Series:
    """Apply ``normalise`` to each distinct value of a low-cardinality text column.

    Returns an object column; the work is per distinct value, not per row.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([normalise(str(u)) for u in uniques] + [np.nan], dtype=object)
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _take(values: pd.Series, position: np.ndarray, index: pd.Index) -> pd.Series:
    """``values`` at ``position`` (missing where the position is -1)."""
    found = position >= 0
    if len(values) == 0:
        return pd.Series(np.nan, index=index, dtype=object)
    taken = pd.Series(values.iloc[np.where(found, position, 0)].to_numpy(), index=index)
    return _replace(taken, ~found, np.nan)


class _Validator:
    def __init__(self, negative_invoices: str) -> None:
        self.negative_invoices = negative_invoices
        self.findings: list[Finding] = []
        self._invoice_index: tuple[int, pd.Index] | None = None

    def positions(self, state: _State, invoices: pd.DataFrame) -> np.ndarray:
        """Position in ``invoices`` of each row's invoice_id (-1: unknown), cached."""
        if state.invoice_positions is None:
            # one hash table of the invoice ids serves every table
            if self._invoice_index is None or self._invoice_index[0] != id(invoices):
                ids = invoices["invoice_id"].to_numpy(dtype=object)
                self._invoice_index = (id(invoices), pd.Index(ids))
            keys = state.frame["invoice_id"].to_numpy(dtype=object)
            state.invoice_positions = self._invoice_index[1].get_indexer(keys)
        return state.invoice_positions

    # -- finding helpers ---------------------------------------------------------------
    def add(
        self,
        severity: Severity,
        code: str,
        state: _State,
        mask: np.ndarray,
        column: str | None,
        message: str,
        value: object = None,
    ) -> None:
        if not mask.any():
            return
        amount = None
        amounts = state.amounts()
        if amounts is not None and pd.api.types.is_float_dtype(amounts.dtype):
            amount = math.fsum(amounts.to_numpy()[mask & amounts.notna().to_numpy()])
        if value is None and column is not None and column in state.frame:
            value = state.frame[column].to_numpy()[mask][0]
        self.findings.append(
            Finding(
                severity,
                code,
                state.name,
                _rows(state, mask),
                state.col(column) if column else None,
                _fmt_value(value),
                message,
                amount,
            )
        )

    def set_aside(
        self,
        code: str,
        state: _State,
        mask: np.ndarray,
        column: str | None,
        message: str,
    ) -> None:
        mask = mask & state.keep
        self.add("set_aside", code, state, mask, column, message)
        state.keep &= ~mask

    # -- structure and types -----------------------------------------------------------
    def prepare(
        self, name: str, frame: pd.DataFrame, src: dict[str, str]
    ) -> _State | None:
        spec = TABLES[name]
        frame = frame.reset_index(drop=True)
        if "row" in frame.columns:
            rows = (
                pd.to_numeric(frame["row"], errors="coerce").fillna(-1).astype("int64")
            )
            rows = rows.to_numpy()
        else:
            rows = np.arange(2, len(frame) + 2, dtype="int64")
        frame = frame.drop(columns=["row"], errors="ignore")
        state = _State(name, frame, rows, src, np.ones(len(frame), bool), len(frame))

        missing = [c for c, (_, req) in spec.items() if req and c not in frame.columns]
        if missing and len(frame) == 0:
            for column in missing:
                frame[column] = pd.Series(dtype=object)
            missing = []
        for column in missing:
            present = [str(c) for c in frame.columns]
            close = difflib.get_close_matches(state.col(column), present, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            alias = f" (canonical {column!r})" if state.col(column) != column else ""
            self.findings.append(
                Finding(
                    "fatal",
                    "missing_column",
                    name,
                    (),
                    state.col(column),
                    None,
                    f"required column {state.col(column)!r}{alias} is "
                    f"missing; the table has {reprlib.repr(present)}.{hint} Rename the "
                    "column or map it in the mapping's 'columns'.",
                )
            )
        if missing:
            return None

        self._check_repeated_header(state)
        for column, (kind, required) in spec.items():
            if column in frame.columns:
                self._parse_column(state, column, kind, required)
        return state

    def _check_repeated_header(self, state: _State) -> None:
        required = [c for c, (_, req) in TABLES[state.name].items() if req]
        candidates = np.arange(len(state.frame))
        for column in required:
            series = state.frame[column]
            if not (
                series.dtype == object or pd.api.types.is_string_dtype(series.dtype)
            ):
                return
            # narrow down column by column: only a few rows survive the first one
            text = _as_text(series.iloc[candidates]).str.lower()
            hit = (text == column.lower()) | (text == state.col(column).lower())
            candidates = candidates[hit.fillna(False).to_numpy(dtype=bool)]
            if len(candidates) == 0:
                return
        mask = np.zeros(len(state.frame), bool)
        mask[candidates] = True
        if mask.any():
            self.add(
                "fatal",
                "repeated_header",
                state,
                mask,
                None,
                "this row repeats the column names (files concatenated with their "
                "headers?); delete the row and check the rows around it",
                value=", ".join(state.col(c) for c in required),
            )
            state.keep &= ~mask
            state.header = mask
            # blank the header row so it does not also fail every type check
            state.frame.loc[mask, required] = None

    def _parse_column(
        self, state: _State, column: str, kind: str, required: bool
    ) -> None:
        raw = state.frame[column]
        if kind == "str":
            values = _as_text(raw)
            if column == "kind":
                values = _normalise_codes(
                    values, lambda v: re.sub(r"[\s\-]+", "_", v.lower())
                )
            elif column == "currency":
                values = _normalise_codes(values, str.upper)
            else:
                # object columns of str: joins and isin on them are fast in pandas 2 and 3
                values = values.astype(object)
            bad = np.zeros(len(raw), bool)
        elif kind == "date":
            values, bad_s = parse_dates(raw)
            bad = bad_s.to_numpy()
            what, fix = "an ISO date (YYYY-MM-DD)", "write it as YYYY-MM-DD or declare "
            fix += "the format with 'date_format' in the mapping"
        elif kind == "bool":
            values, bad_s = parse_bools(raw)
            bad = bad_s.to_numpy()
            what, fix = "a yes/no flag", "use true/false or map it with 'values'"
        else:
            values, bad_s = parse_amounts(raw)
            bad = bad_s.to_numpy()
            if kind == "int":
                integral = values.isna() | (values == np.floor(values))
                bad = bad | ~integral.to_numpy()
                values = values.where(integral)
            what = "a whole number" if kind == "int" else "a number"
            fix = "write it as a plain number such as 1250.00 or declare 'decimal' "
            fix += "and 'thousands' in the mapping"

        checkable = np.ones(len(raw), bool) if state.header is None else ~state.header
        bad = bad & checkable
        if bad.any():
            examples = _examples(raw[bad])
            if required:
                code = {"date": "bad_date", "amount": "bad_amount"}.get(
                    kind, "bad_value"
                )
                self.add(
                    "fatal",
                    code,
                    state,
                    bad,
                    column,
                    f"{bad.sum()} value(s) in required column {state.col(column)!r} "
                    f"are not {what} ({examples}); {fix}",
                    value=raw[bad].iloc[0],
                )
                state.keep &= ~bad
            else:
                self.add(
                    "warning",
                    "bad_optional_value",
                    state,
                    bad,
                    column,
                    f"{bad.sum()} value(s) in optional column {state.col(column)!r} "
                    f"are not {what} ({examples}) and were treated as missing; {fix}",
                    value=raw[bad].iloc[0],
                )
        if required:
            empty = values.isna().to_numpy() & checkable & ~bad
            if empty.any():
                self.add(
                    "fatal",
                    "missing_value",
                    state,
                    empty,
                    column,
                    f"{empty.sum()} row(s) have no value in required column "
                    f"{state.col(column)!r}; fill it in or remove the rows",
                    value="",
                )
                state.keep &= ~empty
        if kind == "bool":
            flags = values.to_numpy(dtype=object, copy=True)
            flags[pd.isna(flags)] = False
            values = pd.Series(flags.astype(bool), index=values.index)
        state.frame[column] = values

    # -- rules shared by tables --------------------------------------------------------
    def implausible_dates(self, state: _State) -> None:
        for column, (kind, _) in TABLES[state.name].items():
            if kind != "date" or column not in state.frame or column == "promised_date":
                continue
            dates = state.frame[column]
            mask = (
                dates.notna()
                & ((dates < MIN_PLAUSIBLE_DATE) | (dates > MAX_PLAUSIBLE_DATE))
            ).to_numpy()
            self.set_aside(
                "implausible_date",
                state,
                mask,
                column,
                f"{state.col(column)} is outside the plausible range "
                f"{MIN_PLAUSIBLE_DATE:%Y-%m-%d} .. {MAX_PLAUSIBLE_DATE:%Y-%m-%d}; the "
                "row is set aside; correct the date in the source",
            )

    def unknown_kinds(self, state: _State) -> None:
        valid = _KINDS[state.name]
        kinds = state.frame["kind"]
        unknown = (~kinds.isin(valid) & kinds.notna()).to_numpy() & state.keep
        for value in pd.unique(kinds[unknown]):
            mask = unknown & (kinds == value).to_numpy()
            close = difflib.get_close_matches(str(value), valid, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else "."
            self.set_aside(
                "unknown_kind",
                state,
                mask,
                "kind",
                f"kind {value!r} is not one of {', '.join(valid)}{hint} The row is set "
                "aside; map the source value with 'values' in the mapping",
            )

    def unknown_invoices(self, state: _State, invoices: pd.DataFrame | None) -> None:
        if invoices is None or "invoice_id" not in state.frame:
            return
        ids = state.frame["invoice_id"]
        unknown = self.positions(state, invoices) < 0
        mask = ids.notna().to_numpy() & unknown & state.keep
        what = {"payments": "payment", "adjustments": "adjustment"}.get(state.name)
        if what is None:
            tail = "the activity is kept without an invoice"
        else:
            tail = f"the {what} is kept as unapplied credit"
        self.add(
            "warning",
            "unknown_invoice",
            state,
            mask,
            "invoice_id",
            f"{mask.sum()} row(s) refer to invoices that are not in the (used) "
            f"invoices ({_examples(ids[mask])}); {tail}; add the invoice or correct "
            "the invoice_id",
        )

    def fill_currency(self, state: _State, invoices: pd.DataFrame | None) -> None:
        present = "currency" in state.frame
        if not present:
            state.frame["currency"] = pd.Series(
                np.nan, index=state.frame.index, dtype=object
            )
        cur = _as_text(state.frame["currency"])
        missing = cur.isna().to_numpy() & state.keep
        known = pd.Series(dtype=object)
        if state.name == "invoices":
            known = cur[~missing & state.keep]
        elif invoices is not None:
            position = self.positions(state, invoices)
            from_invoice = _take(invoices["currency"], position, cur.index)
            cur = _replace(cur, missing, from_invoice)
            known = invoices["currency"]
        still = cur.isna().to_numpy() & state.keep
        distinct = pd.unique(known.dropna())
        if still.any() and len(distinct) == 1:
            cur = _replace(cur, still, distinct[0])
            still = np.zeros_like(still)
        elif still.any() and len(distinct) > 1:
            # a row of another table takes its invoice's currency; when that
            # invoice is unknown, say so (the fix is the invoice, not a column
            # the table may not even have)
            unlinked = state.name != "invoices" and invoices is not None
            several = ", ".join(sorted(map(str, distinct)))
            why = (
                "their invoice_id is not among the used invoices, so they cannot "
                f"take its currency (the data holds several: {several})"
                if unlinked
                else f"the data holds several ({several})"
            )
            self.add(
                "fatal",
                "missing_currency",
                state,
                still,
                "currency" if present else "invoice_id",
                f"{still.sum()} row(s) have no currency and {why}, so it cannot "
                "be inferred; "
                + (
                    "correct the invoice_id (or the invoice it points to), or give "
                    "the rows a currency column"
                    if unlinked
                    else "fill in the currency or set it with 'constants' in the "
                    "mapping"
                ),
                value="" if present else None,
            )
        filled = missing & ~still & cur.notna().to_numpy()
        if present:
            self.add(
                "warning",
                "currency_filled",
                state,
                filled,
                "currency",
                f"{filled.sum()} row(s) had no currency; filled from the invoice or "
                "the only currency in the data; fill in the column to silence this",
                value="",
            )
        elif filled.any():
            logger.debug("%s: currency column absent, filled from invoices", state.name)
        state.frame["currency"] = cur.astype(object)

    # -- per table ---------------------------------------------------------------------
    def invoices(self, state: _State) -> pd.DataFrame | None:
        frame = state.frame
        ids = frame["invoice_id"]
        dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
        if dup.any():
            groups = pd.Series(state.rows[dup]).groupby(ids[dup].to_numpy(), sort=False)
            for invoice_id, rows in groups:
                self.findings.append(
                    Finding(
                        "fatal",
                        "duplicate_invoice_id",
                        state.name,
                        tuple(rows.tolist()),
                        state.col("invoice_id"),
                        str(invoice_id),
                        f"invoice_id {invoice_id!r} appears on {len(rows)} rows; each "
                        "invoice must appear once: remove the repeated rows or give "
                        "them their own ids",
                    )
                )
            state.keep &= ~dup

        self.implausible_dates(state)
        self.set_aside(
            "due_before_invoice",
            state,
            (frame["due_date"] < frame["invoice_date"]).to_numpy(),
            "due_date",
            f"{state.col('due_date')} is before {state.col('invoice_date')}; the row is "
            "set aside; correct either date",
        )

        negative = (frame["amount"] < 0).to_numpy() & state.keep
        credit_notes = None
        self.fill_currency(state, None)
        if self.negative_invoices == "credit_note" and negative.any():
            credit_notes = pd.DataFrame(
                {
                    "invoice_id": frame["invoice_id"][negative],
                    "date": frame["invoice_date"][negative],
                    "amount": -frame["amount"][negative],
                    "kind": "credit_note",
                    "currency": frame["currency"][negative],
                    "customer_id": frame["customer_id"][negative],
                    "row": state.rows[negative],
                }
            )
            if "portfolio" in frame:
                credit_notes["portfolio"] = frame["portfolio"][negative]
            self.set_aside(
                "converted_to_credit_note",
                state,
                negative,
                "amount",
                "negative invoice amount: moved to adjustments as a credit_note "
                "against its own invoice_id (unapplied credit of the customer)",
            )
        else:
            self.set_aside(
                "negative_amount",
                state,
                negative,
                "amount",
                f"{state.col('amount')} is negative; the row is set aside; if such rows "
                "are credit notes, set 'negative_invoices: credit_note' in the mapping",
            )

        zero = (frame["amount"] == 0).to_numpy() & state.keep
        self.add(
            "warning",
            "zero_amount",
            state,
            zero,
            "amount",
            f"{zero.sum()} invoice(s) have a zero amount; kept, but they count in no "
            "rate's denominator; remove them if they are not real invoices",
        )
        if "disputed" not in frame:
            frame["disputed"] = False
        return credit_notes

    def payments(self, state: _State, invoices: pd.DataFrame | None) -> None:
        self.implausible_dates(state)
        frame = state.frame
        self.unknown_invoices(state, invoices)
        if invoices is not None:
            position = self.positions(state, invoices)
            invoice_date = _take(invoices["invoice_date"], position, frame.index)
            early = (frame["payment_date"] < invoice_date).to_numpy() & state.keep
            self.add(
                "warning",
                "payment_before_invoice",
                state,
                early,
                "payment_date",
                f"{early.sum()} payment(s) are dated before their invoice; kept for "
                "balances but excluded from days-to-pay figures; check the dates",
            )
        negative = (frame["amount"] < 0).to_numpy() & state.keep
        self.add(
            "warning",
            "negative_payment",
            state,
            negative,
            "amount",
            f"{negative.sum()} payment(s) are negative; kept as reversals that add to "
            "the balance; check they are not refunds booked with the wrong sign",
        )
        if "payment_id" in frame:
            pid = frame["payment_id"]
            dup = (pid.duplicated(keep=False) & pid.notna()).to_numpy() & state.keep
            self.add(
                "warning",
                "duplicate_payment_id",
                state,
                dup,
                "payment_id",
                f"{dup.sum()} rows share a payment_id (split or double-booked "
                "payments?); all are kept; check for double counting",
            )
        self.fill_currency(state, invoices)

    def adjustments(self, state: _State, invoices: pd.DataFrame | None) -> None:
        self.implausible_dates(state)
        self.unknown_kinds(state)
        self.unknown_invoices(state, invoices)
        negative = (state.frame["amount"] < 0).to_numpy() & state.keep
        self.add(
            "warning",
            "negative_adjustment",
            state,
            negative,
            "amount",
            f"{negative.sum()} adjustment(s) are negative and increase the balance "
            "(positive amounts reduce it); check the sign convention",
        )
        self.fill_currency(state, invoices)

    def activities(self, state: _State, invoices: pd.DataFrame | None) -> None:
        self.implausible_dates(state)
        self.unknown_kinds(state)
        self.unknown_invoices(state, invoices)

    def customers(self, state: _State) -> None:
        ids = state.frame["customer_id"]
        dup = (ids.duplicated(keep=False) & ids.notna()).to_numpy()
        if dup.any():
            self.add(
                "fatal",
                "duplicate_customer_id",
                state,
                dup,
                "customer_id",
                f"{dup.sum()} rows share a customer_id ({_examples(ids[dup])}); each "
                "customer must appear once",
            )
            state.keep &= ~dup

    def fx_rates(self, state: _State) -> None:
        frame = state.frame
        bad = (frame["rate"] <= 0).to_numpy() & state.keep
        self.add(
            "fatal",
            "bad_rate",
            state,
            bad,
            "rate",
            "FX rates must be positive (reporting-currency units per unit); correct "
            "the rate",
        )
        state.keep &= ~bad
        dup = frame.duplicated(["date", "currency"], keep=False).to_numpy() & state.keep
        self.add(
            "fatal",
            "duplicate_fx_rate",
            state,
            dup,
            "date",
            "more than one rate for the same currency and date; keep one",
        )
        state.keep &= ~dup
        self.implausible_dates(state)


def _reconcile(states: dict[str, _State], findings: list[Finding]) -> pd.DataFrame:
    records = []
    for name, state in states.items():
        aside = [f for f in findings if f.severity == "set_aside" and f.table == name]
        amount_column = _AMOUNT_COLUMN.get(name)
        if amount_column is None:
            amount_read = amount_used = amount_aside = float("nan")
        else:
            amounts = state.frame[amount_column]
            amount_read = math.fsum(amounts.dropna())
            amount_used = math.fsum(amounts[state.keep].dropna())
            amount_aside = math.fsum(f.amount or 0.0 for f in aside)
        records.append(
            {
                "table": name,
                "rows_read": state.rows_read,
                "amount_read": amount_read,
                "rows_used": int(state.keep.sum()),
                "amount_used": amount_used,
                "rows_set_aside": sum(len(f.rows) for f in aside),
                "amount_set_aside": amount_aside,
            }
        )
    frame = pd.DataFrame.from_records(records, columns=_RECON_COLUMNS)
    ints = dict.fromkeys(["rows_read", "rows_used", "rows_set_aside"], "int64")
    floats = dict.fromkeys(
        ["amount_read", "amount_used", "amount_set_aside"], "float64"
    )
    return frame.astype({**ints, **floats})


def _source_columns(
    name: str, frame: pd.DataFrame, given: Mapping[str, Mapping[str, str]] | None
) -> dict[str, str]:
    src = dict(frame.attrs.get("source_columns", {}) or {})
    if given and name in given:
        src.update(given[name])
    return {str(k): str(v) for k, v in src.items()}


def validate_tables(
    tables: Mapping[str, pd.DataFrame | None],
    *,
    negative_invoices: str = "set_aside",
    prior_findings: Sequence[Finding] | None = None,
    source_columns: Mapping[str, Mapping[str, str]] | None = None,
    raise_on_fatal: bool = True,
) -> tuple[dict[str, pd.DataFrame], DataQuality]:
    """Check canonical tables, type them, and set aside the rows that cannot be used.

    Parameters
    ----------
    tables : mapping of str to DataFrame
        Canonical table names (see `TABLES`) to frames with canonical column names.
        Values are typed already or text in ISO form (dates ``YYYY-MM-DD``, amounts
        ``1250.00``). A ``row`` column gives source row numbers; without it a
        row's number is its position + 2 (the header is line 1). ``invoices`` and
        ``payments`` are required; an empty payments table is fine.
    negative_invoices : {"set_aside", "credit_note"}, default="set_aside"
        ``"credit_note"`` moves each negative invoice into ``adjustments`` as a
        ``credit_note`` of the opposite (positive) amount, dated on its invoice
        date, against its own invoice_id, so it is the customer's unapplied credit;
        the row carries ``customer_id`` and ``portfolio`` for that purpose.
    prior_findings : sequence of Finding, optional
        Findings made before (e.g. by a reader); they are kept first in the result.
    source_columns : mapping, optional
        ``{table: {canonical: source column}}`` so findings name the columns the user
        knows. Also read from each frame's ``attrs["source_columns"]``.
    raise_on_fatal : bool, default=True
        Raise `LedgerValidationError` when any finding (prior or new) is fatal.
        With False the caller must check ``quality.fatal``.

    Returns
    -------
    tables : dict of str to DataFrame
        Typed frames: dates ``datetime64[ns]`` at midnight, ids and text as str,
        amounts ``float64``, ``disputed`` bool, ``kind`` lower case, ``currency``
        upper case and filled where it can be inferred; each with its ``row``
        column and any extra columns the input carried; set-aside rows removed.
    quality : DataQuality
        All findings and the reconciliation (rows and amounts read = used + set
        aside, one row per table).

    Raises
    ------
    LedgerValidationError
        On fatal findings, when ``raise_on_fatal``.
    ConfigError
        On an invalid ``negative_invoices``.

    Notes
    -----
    Fatal: missing required table or column, an invoices table without rows,
    repeated header row, unparseable or
    blank value in a required column, duplicate invoice_id or customer_id,
    non-positive or duplicate FX rate, missing currency that cannot be inferred.
    Set aside: implausible date (outside `MIN_PLAUSIBLE_DATE` ..
    `MAX_PLAUSIBLE_DATE`), due date before invoice date, negative invoice amount,
    unknown ``kind``. Warning: payment/adjustment/activity for an unknown
    invoice, payment before its invoice date, negative payment or adjustment,
    zero-amount invoice, duplicate payment_id, blank currency filled,
    unparseable value in an optional column.
    """
    if negative_invoices not in NEGATIVE_INVOICE_POLICIES:
        close = difflib.get_close_matches(
            str(negative_invoices), NEGATIVE_INVOICE_POLICIES
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(
            f"negative_invoices must be one of {', '.join(NEGATIVE_INVOICE_POLICIES)}; "
            f"got {negative_invoices!r}{hint}"
        )
    checker = _Validator(negative_invoices)
    given = {k: v for k, v in tables.items() if v is not None}

    # structure: known and required tables
    for name in given:
        if name not in TABLES:
            close = difflib.get_close_matches(name, list(TABLES), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            checker.findings.append(
                Finding(
                    "fatal",
                    "unknown_table",
                    name,
                    (),
                    None,
                    None,
                    f"unknown table {name!r}; valid tables are {', '.join(TABLES)}.{hint}",
                )
            )
    for name in REQUIRED_TABLES:
        if name not in given:
            how = (
                "or derive them with 'derive: {payments_from_settlement: ...}' in "
                "the mapping"
                if name == "payments"
                else "named invoices.csv/.parquet, or say in the mapping which file holds it"
            )
            checker.findings.append(
                Finding(
                    "fatal",
                    "missing_table",
                    name,
                    (),
                    None,
                    None,
                    f"required table {name!r} is missing; provide it (an empty "
                    f"{name} table is fine) {how}",
                )
            )

    # invoices first: the other tables are checked against them
    states: dict[str, _State] = {}
    clean: dict[str, pd.DataFrame] = {}
    used_invoices = None
    credit_notes = None
    if "invoices" in given:
        name = "invoices"
        state = checker.prepare(
            name, given[name], _source_columns(name, given[name], source_columns)
        )
        if state is not None:
            states[name] = state
            credit_notes = checker.invoices(state)
            used_invoices = state.frame[state.keep]
            if state.rows_read == 0:
                checker.findings.append(
                    Finding(
                        "fatal",
                        "no_invoices",
                        name,
                        (),
                        None,
                        None,
                        "the invoices table has no data rows, so there is nothing to "
                        "report on; check that the export is complete (a header "
                        "line alone is not a ledger).",
                    )
                )

    for name in ("payments", "adjustments", "activities", "customers", "fx_rates"):
        frame = given.get(name)
        if name == "adjustments" and credit_notes is not None:
            frame = _append_credit_notes(frame, credit_notes)
        if frame is None:
            continue
        state = checker.prepare(
            name, frame, _source_columns(name, frame, source_columns)
        )
        if state is None:
            continue
        states[name] = state
        if name in ("payments", "adjustments", "activities"):
            getattr(checker, name)(state, used_invoices)
        else:
            getattr(checker, name)(state)

    for name, state in states.items():
        frame = state.frame.assign(row=state.rows)[state.keep].reset_index(drop=True)
        clean[name] = frame

    findings = list(prior_findings or []) + checker.findings
    quality = DataQuality(
        findings=findings, reconciliation=_reconcile(states, checker.findings)
    )
    logger.info(
        "validated %s: %d fatal, %d set aside, %d warnings",
        ", ".join(f"{k} ({len(v)} rows)" for k, v in clean.items()),
        len(quality.fatal),
        len(quality.set_aside),
        len(quality.warnings),
    )
    if raise_on_fatal:
        raise_for_fatal(findings)
    return clean, quality


def _append_credit_notes(
    frame: pd.DataFrame | None, notes: pd.DataFrame
) -> pd.DataFrame:
    if frame is None or len(frame) == 0:
        return notes.reset_index(drop=True)
    frame = frame.reset_index(drop=True)
    if "row" not in frame:
        frame = frame.assign(row=np.arange(2, len(frame) + 2))
    # align dtypes: typed credit notes after text adjustments would mix types
    return pd.concat([frame.astype(object), notes.astype(object)], ignore_index=True)


def check_currencies(
    invoices: pd.DataFrame,
    payments: pd.DataFrame | None,
    adjustments: pd.DataFrame | None,
    fx_rates: pd.DataFrame | None,
    reporting_currency: str,
    *,
    revalue_date: pd.Timestamp | str | None = None,
) -> list[Finding]:
    """Find documents whose currency has no FX rate on or before their date.

    Parameters
    ----------
    invoices, payments, adjustments : DataFrame
        Validated tables (typed, see `validate_tables`); payments and adjustments
        may be None. Rows with a missing currency are not checked.
    fx_rates : DataFrame or None
        ``date, currency, rate``: reporting-currency units per unit of ``currency``.
    reporting_currency : str
        Documents in this currency need no rate (their rate is 1 by definition).
    revalue_date : Timestamp or str, optional
        When amounts are revalued at this date, every foreign currency also needs a
        rate on or before it.

    Returns
    -------
    list of Finding
        One fatal ``missing_fx_rate`` finding per table and currency, naming the
        currency and the first document date without a rate, with the rows
        affected. A missing rate never defaults to 1.
    """
    reporting_currency = str(reporting_currency).strip().upper()
    first_rate: dict[str, pd.Timestamp] = {}
    if fx_rates is not None and len(fx_rates):
        rates = fx_rates.assign(currency=fx_rates["currency"].astype(str).str.upper())
        first_rate = rates.groupby("currency")["date"].min().to_dict()

    findings: list[Finding] = []
    docs = {"invoices": invoices, "payments": payments, "adjustments": adjustments}
    for name, frame in docs.items():
        if frame is None or len(frame) == 0 or "currency" not in frame:
            continue
        date_column = DOCUMENT_DATE_COLUMNS[name]
        currency = frame["currency"].astype(object)
        currency = _replace(currency, currency.isna().to_numpy(), np.nan)
        currency = currency.str.upper()
        start = currency.map(first_rate)
        foreign = (currency.notna() & (currency != reporting_currency)).to_numpy()
        no_rate = foreign & (start.isna() | (frame[date_column] < start)).to_numpy()
        if not no_rate.any():
            continue
        rows = (
            frame["row"] if "row" in frame else pd.Series(np.arange(2, len(frame) + 2))
        )
        missing = pd.DataFrame(
            {
                "currency": currency[no_rate].to_numpy(),
                "date": frame[date_column][no_rate].to_numpy(),
                "row": rows[no_rate].to_numpy(),
            }
        )
        for code, group in missing.groupby("currency", sort=True):
            first = pd.Timestamp(group["date"].min())
            rate_note = (
                f"its first rate is dated {first_rate[code]:%Y-%m-%d}"
                if code in first_rate
                else "fx_rates has no rate for it"
            )
            findings.append(
                Finding(
                    "fatal",
                    "missing_fx_rate",
                    name,
                    tuple(group["row"].sort_values().tolist()),
                    "currency",
                    str(code),
                    f"no {code}->{reporting_currency} rate on or before {first:%Y-%m-%d} "
                    f"({len(group)} {name} row(s) from that date; {rate_note}); add "
                    f"{code} rates to fx_rates dated on or before {first:%Y-%m-%d}",
                )
            )

    if revalue_date is not None:
        when = pd.Timestamp(revalue_date).normalize()
        used = set()
        for frame in docs.values():
            if frame is not None and len(frame) and "currency" in frame:
                used.update(frame["currency"].dropna().astype(str).str.upper().unique())
        for code in sorted(used - {reporting_currency}):
            if code not in first_rate or first_rate[code] > when:
                findings.append(
                    Finding(
                        "fatal",
                        "missing_fx_rate",
                        "fx_rates",
                        (),
                        "currency",
                        code,
                        f"no {code}->{reporting_currency} rate on or before the "
                        f"revaluation date {when:%Y-%m-%d}; add one to fx_rates",
                    )
                )
    return findings
