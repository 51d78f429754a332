"""Tests for arforecast.reporting.summary on ledgers shaped like real exports."""

from __future__ import annotations

import pandas as pd

from arforecast.ledger import Ledger
from arforecast.reporting.summary import open_disputes


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
