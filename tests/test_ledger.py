"""Tests of the Ledger: as-of balances, unapplied credit, FX, disputes, subsets."""

from __future__ import annotations

import pandas as pd
import pytest

from arforecast.exceptions import DataError, LedgerValidationError
from arforecast.ledger import Ledger, to_timestamp


def _invoices(**overrides):
    base = {
        "invoice_id": ["INV-1", "INV-2", "INV-3"],
        "customer_id": ["C1", "C1", "C2"],
        "invoice_date": ["2023-01-15", "2023-02-10", "2023-03-05"],
        "due_date": ["2023-02-14", "2023-03-12", "2023-04-04"],
        "amount": [1000.0, 500.0, 200.0],
        "portfolio": ["North", "North", "South"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def _payments(rows):
    return pd.DataFrame(rows, columns=["invoice_id", "payment_date", "amount"])


def test_partial_payments_reduce_the_balance_month_by_month():
    pay = _payments([("INV-1", "2023-02-20", 300.0), ("INV-1", "2023-03-20", 700.0)])
    led = Ledger.from_frames(_invoices(), pay, currency="EUR")

    def balance(as_of):
        items = led.open_items(as_of, include_closed=True)
        return float(items.loc[items.invoice_id == "INV-1", "balance_rc"].iloc[0])

    assert [balance(d) for d in ("2023-01-31", "2023-02-28", "2023-03-31")] == [
        1000.0,
        700.0,
        0.0,
    ]
    assert "INV-1" not in set(led.open_items("2023-03-31")["invoice_id"])


def test_invoices_and_payments_after_as_of_do_not_count():
    pay = _payments([("INV-1", "2023-02-20", 1000.0)])
    led = Ledger.from_frames(_invoices(), pay, currency="EUR")
    items = led.open_items("2023-02-01")
    assert list(items["invoice_id"]) == ["INV-1"]
    assert items["balance_rc"].tolist() == [1000.0]
    assert items["days_past_due"].tolist() == [-13]


def test_overpayment_and_unknown_invoice_are_unapplied_credit():
    pay = _payments(
        [
            ("INV-2", "2023-02-20", 550.0),  # 50 overpaid
            ("NOPE-9", "2023-02-21", 80.0),  # unknown invoice
        ]
    )
    led = Ledger.from_frames(_invoices(), pay, currency="EUR")
    credit = led.unapplied_credit("2023-02-28")
    by_source = credit.groupby("source")["amount_rc"].sum().to_dict()
    assert by_source == {"overpayment": -50.0, "unknown_invoice_payment": -80.0}
    assert "INV-2" not in set(led.open_items("2023-02-28")["invoice_id"])


def test_payment_dated_before_its_invoice_is_credit_until_the_invoice_exists():
    pay = _payments([("INV-3", "2023-03-01", 200.0)])
    led = Ledger.from_frames(_invoices(), pay, currency="EUR")
    credit = led.unapplied_credit("2023-03-02")
    assert credit["source"].tolist() == ["before_invoice"]
    assert credit["amount_rc"].tolist() == [-200.0]
    assert led.unapplied_credit("2023-03-31").empty
    assert "INV-3" not in set(led.open_items("2023-03-31")["invoice_id"])


def test_foreign_invoice_converted_at_its_own_date_and_revalued_on_request():
    inv = _invoices(currency=["EUR", "EUR", "GBP"])
    fx = pd.DataFrame(
        {
            "date": ["2023-01-01", "2023-03-31"],
            "currency": ["GBP", "GBP"],
            "rate": [1.10, 1.20],
        }
    )
    led = Ledger.from_frames(inv, _payments([]), fx_rates=fx, currency="EUR")
    gbp = led.open_items("2023-03-31").set_index("invoice_id").loc["INV-3"]
    assert gbp["balance"] == 200.0
    assert gbp["balance_rc"] == pytest.approx(220.0)

    revalued = Ledger.from_frames(
        inv, _payments([]), fx_rates=fx, currency="EUR", revalue=True
    )
    gbp = revalued.open_items("2023-03-31").set_index("invoice_id").loc["INV-3"]
    assert gbp["balance_rc"] == pytest.approx(240.0)


def test_payment_in_invoice_currency_settles_it_whatever_the_rate():
    inv = _invoices(currency=["GBP", "EUR", "EUR"])
    fx = pd.DataFrame(
        {
            "date": ["2023-01-01", "2023-02-01"],
            "currency": ["GBP"] * 2,
            "rate": [1.1, 1.3],
        }
    )
    pay = _payments([("INV-1", "2023-02-10", 1000.0)])
    led = Ledger.from_frames(inv, pay, fx_rates=fx, currency="EUR")
    assert "INV-1" not in set(led.open_items("2023-02-28")["invoice_id"])
    assert led.receipts("2023-02-01", "2023-02-28")["amount_rc"].sum() == pytest.approx(
        1300.0
    )


def test_missing_fx_rate_is_fatal_and_names_the_currency():
    inv = _invoices(currency=["EUR", "EUR", "SEK"])
    fx = pd.DataFrame({"date": ["2023-03-10"], "currency": ["SEK"], "rate": [0.09]})
    with pytest.raises(
        LedgerValidationError, match=r"no FX rate for SEK on or before 2023-03-05"
    ):
        Ledger.from_frames(inv, _payments([]), fx_rates=fx, currency="EUR")


def test_several_currencies_without_a_reporting_currency_is_an_error():
    inv = _invoices(currency=["EUR", "USD", "SEK"])
    with pytest.raises(DataError, match="several currencies"):
        Ledger.from_frames(inv, _payments([]))


def test_single_currency_is_the_reporting_currency():
    led = Ledger.from_frames(_invoices(currency=["USD"] * 3), _payments([]))
    assert led.currency == "USD"


def test_dispute_follows_activities_as_of_the_date():
    act = pd.DataFrame(
        {
            "customer_id": ["C1", "C1"],
            "date": ["2023-02-20", "2023-03-10"],
            "kind": ["dispute_opened", "dispute_resolved"],
            "invoice_id": ["INV-1", "INV-1"],
        }
    )
    led = Ledger.from_frames(_invoices(), _payments([]), activities=act, currency="EUR")

    def disputed(as_of):
        items = led.open_items(as_of).set_index("invoice_id")
        return bool(items.loc["INV-1", "in_dispute"])

    assert [disputed(d) for d in ("2023-02-19", "2023-02-20", "2023-03-10")] == [
        False,
        True,
        False,
    ]


def test_static_disputed_flag_is_used_without_dispute_activities():
    led = Ledger.from_frames(
        _invoices(disputed=[True, False, False]), _payments([]), currency="EUR"
    )
    items = led.open_items("2023-03-31").set_index("invoice_id")
    assert items["in_dispute"].to_dict() == {
        "INV-1": True,
        "INV-2": False,
        "INV-3": False,
    }


def test_subset_keeps_the_portfolio_documents_and_relinks_them():
    pay = _payments([("INV-3", "2023-03-20", 50.0), ("INV-1", "2023-03-20", 10.0)])
    led = Ledger.from_frames(_invoices(), pay, currency="EUR")
    south = led.subset("South")
    assert south.portfolios == ["South"]
    assert south.payments["invoice_id"].tolist() == ["INV-3"]
    assert south.open_items("2023-03-31")["balance_rc"].tolist() == [150.0]
    with pytest.raises(DataError, match=r"portfolio \['West'\] is not in the data"):
        led.subset("West")


def test_fingerprint_depends_on_the_data_only():
    pay = _payments([("INV-1", "2023-02-20", 300.0)])
    one = Ledger.from_frames(_invoices(), pay, currency="EUR")
    two = Ledger.from_frames(_invoices(), pay.copy(), currency="EUR")
    other = Ledger.from_frames(
        _invoices(amount=[1000.0, 500.0, 201.0]), pay, currency="EUR"
    )
    assert one.fingerprint == two.fingerprint != other.fingerprint


def test_data_end_is_the_last_event():
    pay = _payments([("INV-1", "2023-04-02", 300.0)])
    led = Ledger.from_frames(_invoices(), pay, currency="EUR")
    assert led.data_end == pd.Timestamp("2023-04-02")
    assert led.data_start == pd.Timestamp("2023-01-15")


@pytest.mark.parametrize(
    "bad", ["31/03/2023", "2023-13-01", None], ids=["uk", "month", "none"]
)
def test_as_of_must_be_an_iso_date(bad):
    with pytest.raises(DataError, match="as_of"):
        to_timestamp(bad)


def test_overpayment_is_reported_as_a_warning_naming_the_invoice():
    pay = _payments([("INV-2", "2023-02-20", 550.0)])
    led = Ledger.from_frames(_invoices(), pay, currency="EUR")
    (finding,) = [f for f in led.quality.warnings if f.code == "overpayment"]
    assert finding.table == "invoices"
    assert finding.rows == (3,)
    assert finding.value == "INV-2"
    assert finding.amount == pytest.approx(50.0)
