"""Canonical ledger tables, their column types, and data-quality findings."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from arforecast.exceptions import LedgerValidationError

__all__ = [
    "ADJUSTMENT_KINDS",
    "ACTIVITY_KINDS",
    "TABLES",
    "DataQuality",
    "Finding",
    "Severity",
    "raise_for_fatal",
]

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
    used plus set aside.
    """

    findings: list[Finding] = field(default_factory=list)
    reconciliation: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            columns=[
                "table",
                "rows_read",
                "amount_read",
                "rows_used",
                "amount_used",
                "rows_set_aside",
                "amount_set_aside",
            ]
        )
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
        cols = ["severity", "code", "table", "rows", "column", "value", "message", "amount"]
        records = [f.to_dict() for f in self.findings]
        frame = pd.DataFrame.from_records(records, columns=cols)
        frame["n_rows"] = frame["rows"].map(len) if len(frame) else pd.Series(dtype=int)
        return frame

    def summary(self) -> str:
        """A short human-readable summary: counts per class and the reconciliation."""
        lines = [
            f"{len(self.fatal)} fatal, {len(self.set_aside)} set aside, "
            f"{len(self.warnings)} warnings"
        ]
        lines.extend(str(f) for f in self.findings)
        return "\n".join(lines)

    def to_dict(self) -> dict:
        recon = self.reconciliation.astype(object).where(
            self.reconciliation.notna(), None
        )
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
