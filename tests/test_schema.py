"""Tests of schema: parsers, validate_tables' three finding classes, reconciliation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arforecast.exceptions import ConfigError, LedgerValidationError
from arforecast.schema import (
    MAX_PLAUSIBLE_DATE,
    MIN_PLAUSIBLE_DATE,
    DataQuality,
    Finding,
    check_currencies,
    parse_amounts,
    parse_bools,
    parse_dates,
    raise_for_fatal,
    validate_tables,
)


def _invoices(**overrides) -> pd.DataFrame:
    base = {
        "invoice_id": ["0001", "0002", "0003"],
        "customer_id": ["C1", "C1", "C2"],
        "invoice_date": ["2024-01-05", "2024-02-01", "2024-03-01"],
        "due_date": ["2024-02-04", "2024-03-02", "2024-03-31"],
        "amount": ["100.00", "250.50", "80"],
    }
    base.update(overrides)
    return pd.DataFrame(base)


def _payments(rows=(("0001", "2024-01-20", "100"),)) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=["invoice_id", "payment_date", "amount"])


def _fatal(tables, **kwargs) -> LedgerValidationError:
    with pytest.raises(LedgerValidationError, match="cannot be loaded") as info:
        validate_tables(tables, **kwargs)
    return info.value


def _codes(findings, severity=None):
    return [f.code for f in findings if severity is None or f.severity == severity]


# ---------------------------------------------------------------- parsers
@pytest.mark.parametrize(
    ("text", "decimal", "thousands", "expected"),
    [
        ("1,250.00", ".", ",", 1250.0),
        ("1.250,00", ",", ".", 1250.0),
        ("(500.00)", ".", ",", -500.0),
        ("(1.500,25)", ",", ".", -1500.25),
        ("-12.5", ".", ",", -12.5),
        ("1250", ".", ",", 1250.0),
        ("1 250,00", ",", " ", 1250.0),
        (".5", ".", ",", 0.5),
    ],
    ids=[
        "us",
        "european",
        "parens",
        "parens-eu",
        "minus",
        "plain",
        "space",
        "leading-dot",
    ],
)
def test_parse_amounts_reads_each_notation(text, decimal, thousands, expected):
    values, bad = parse_amounts(pd.Series([text]), decimal=decimal, thousands=thousands)
    assert values.tolist() == [expected]
    assert not bad.any()


@pytest.mark.parametrize(
    "text", ["1.250,00", "12,34", "1,2345.00", "abc", "(-5)", "5 EUR"], ids=str
)
def test_parse_amounts_flags_values_in_another_notation(text):
    values, bad = parse_amounts(pd.Series([text]))
    assert bad.tolist() == [True]
    assert np.isnan(values.iloc[0])


def test_parse_amounts_strips_declared_symbols_and_keeps_blanks_missing():
    values, bad = parse_amounts(
        pd.Series(["$1,200.00", "($15.00)", "", None]), currency_symbols=["$"]
    )
    assert values.tolist()[:2] == [1200.0, -15.0]
    assert values.iloc[2:].isna().all()
    assert not bad.any()


def test_parse_amounts_rejects_equal_separators():
    with pytest.raises(ConfigError, match="must be one character and differ"):
        parse_amounts(pd.Series(["1"]), decimal=",", thousands=",")


def test_parse_dates_never_swaps_day_and_month():
    uk, bad_uk = parse_dates(pd.Series(["03/09/2024", "14/09/2024"]), "%d/%m/%Y")
    assert [d.month for d in uk] == [9, 9]
    assert not bad_uk.any()
    us, bad_us = parse_dates(pd.Series(["03/09/2024", "14/09/2024"]), "%m/%d/%Y")
    assert us.iloc[0] == pd.Timestamp("2024-03-09")
    assert bad_us.tolist() == [False, True]


def test_parse_dates_default_is_strict_iso_in_nanoseconds():
    values, bad = parse_dates(
        pd.Series(["2024-01-31", "2024-01-31T10:15:00", "31/01/2024", "", "9999-12-31"])
    )
    assert values.dtype == "datetime64[ns]"
    assert values.iloc[1] == pd.Timestamp("2024-01-31")
    assert bad.tolist() == [False, False, True, False, True]


def test_parse_dates_accepts_iso_cells_in_a_declared_column_only_when_asked():
    series = pd.Series(["2024-09-03 00:00:00", "04/09/2024"])
    assert parse_dates(series, "%d/%m/%Y")[1].tolist() == [True, False]
    values, bad = parse_dates(series, "%d/%m/%Y", accept_iso=True)
    assert not bad.any()
    assert values.tolist() == [pd.Timestamp("2024-09-03"), pd.Timestamp("2024-09-04")]


def test_parse_bools_with_a_value_map():
    flags, bad = parse_bools(
        pd.Series(["Yes", "no", "", "maybe"]), {"Yes": True, "No": False}
    )
    assert flags.tolist()[:2] == [True, False]
    assert bad.tolist() == [False, False, False, True]


# ---------------------------------------------------------------- fatal
def test_missing_required_table_is_fatal():
    err = _fatal({"invoices": _invoices()})
    assert "required table 'payments' is missing" in str(err)


def test_unknown_table_suggests_the_closest_name():
    err = _fatal(
        {"invoices": _invoices(), "payments": _payments(), "payment": _payments()}
    )
    assert "Did you mean 'payments'?" in str(err)


def test_missing_required_column_names_table_and_column_and_suggests():
    inv = _invoices().rename(columns={"due_date": "due_dt"})
    err = _fatal({"invoices": inv, "payments": _payments()})
    (finding,) = [f for f in err.findings if f.code == "missing_column"]
    assert (finding.table, finding.column) == ("invoices", "due_date")
    assert "Did you mean 'due_dt'?" in finding.message


def test_missing_column_is_named_as_in_the_source_when_renamed():
    inv = _invoices().drop(columns="amount")
    inv.attrs["source_columns"] = {"amount": "InvoiceAmount"}
    err = _fatal({"invoices": inv, "payments": _payments()})
    assert "required column 'InvoiceAmount' (canonical 'amount')" in str(err)


@pytest.mark.parametrize(
    ("column", "value", "code"),
    [("invoice_date", "2024/02/01", "bad_date"), ("amount", "12,5", "bad_amount")],
    ids=["date", "amount"],
)
def test_unparseable_required_value_names_table_row_column_value(column, value, code):
    good = ["2024-01-05", "2024-03-01"] if "date" in column else ["1", "3"]
    inv = _invoices(**{column: [good[0], value, good[1]]})
    err = _fatal({"invoices": inv, "payments": _payments()})
    (finding,) = [f for f in err.findings if f.code == code]
    assert finding.table == "invoices"
    assert finding.rows == (3,)
    assert finding.column == column
    assert finding.value == value
    assert f"invoices row 3, column '{column}', value '{value}'" in str(err)


def test_blank_required_value_is_fatal():
    err = _fatal(
        {"invoices": _invoices(customer_id=["C1", "", "C2"]), "payments": _payments()}
    )
    (finding,) = err.findings
    assert (finding.code, finding.rows, finding.column) == (
        "missing_value",
        (3,),
        "customer_id",
    )


def test_duplicate_invoice_id_names_every_row_involved():
    inv = _invoices(invoice_id=["A", "B", "A"])
    err = _fatal({"invoices": inv, "payments": _payments([])})
    (finding,) = err.findings
    assert finding.code == "duplicate_invoice_id"
    assert finding.rows == (2, 4)
    assert finding.value == "A"


def test_repeated_header_row_mid_file_is_an_error_naming_that_row():
    inv = pd.concat(
        [
            _invoices(),
            pd.DataFrame([{c: c for c in _invoices().columns}]),
        ],
        ignore_index=True,
    )
    inv = pd.concat([inv, _invoices(invoice_id=["X1", "X2", "X3"])], ignore_index=True)
    err = _fatal({"invoices": inv, "payments": _payments()})
    assert _codes(err.findings) == ["repeated_header"]
    assert err.findings[0].rows == (5,)
    assert "repeats the column names" in str(err)


def test_source_row_numbers_come_from_the_row_column():
    inv = _invoices(amount=["1", "x", "3"]).assign(row=[10, 12, 13])
    err = _fatal({"invoices": inv, "payments": _payments()})
    assert err.findings[0].rows == (12,)


def test_many_fatal_findings_list_ten_and_count_the_rest():
    findings = [
        Finding("fatal", f"code{i}", "invoices", (i,), "amount", "x", "bad")
        for i in range(13)
    ]
    with pytest.raises(
        LedgerValidationError, match=r"and 3 more fatal findings"
    ) as info:
        raise_for_fatal(findings)
    assert str(info.value).count("  - [fatal]") == 10


def test_fatal_errors_can_be_collected_instead_of_raised():
    clean, quality = validate_tables(
        {"invoices": _invoices(amount=["1", "x", "3"]), "payments": _payments()},
        raise_on_fatal=False,
    )
    assert _codes(quality.fatal) == ["bad_amount"]
    with pytest.raises(LedgerValidationError, match="bad|not a number"):
        quality.raise_for_fatal()


def test_prior_findings_are_kept_and_raised_together():
    prior = [Finding("warning", "w", "invoices", (2,), None, None, "note")]
    _, quality = validate_tables(
        {"invoices": _invoices(), "payments": _payments()}, prior_findings=prior
    )
    assert quality.findings[0] is prior[0]


def test_bad_negative_invoice_policy_is_a_config_error():
    with pytest.raises(ConfigError, match="did you mean 'credit_note'"):
        validate_tables({"invoices": _invoices()}, negative_invoices="credit_notes")


# ---------------------------------------------------------------- set aside
def test_set_aside_rows_are_excluded_counted_and_reconciled():
    inv = pd.DataFrame(
        {
            "invoice_id": ["1", "2", "3", "4", "5"],
            "customer_id": ["C1"] * 5,
            "invoice_date": [
                "2024-01-01",
                "2024-01-05",
                "1900-01-01",
                "2024-02-01",
                "2024-02-02",
            ],
            "due_date": [
                "2024-01-31",
                "2024-01-01",
                "1900-01-31",
                "2200-01-01",
                "2024-03-01",
            ],
            "amount": ["100", "200", "300", "400", "-50"],
        }
    )
    clean, quality = validate_tables({"invoices": inv, "payments": _payments([])})
    assert clean["invoices"]["invoice_id"].tolist() == ["1"]
    reasons = quality.set_aside_by_reason().set_index("reason")
    assert reasons["rows"].to_dict() == {
        "due_before_invoice": 1,
        "implausible_date": 2,
        "negative_amount": 1,
    }
    assert reasons.loc["implausible_date", "amount"] == 700.0
    recon = quality.reconciliation.set_index("table").loc["invoices"]
    assert recon[["rows_read", "rows_used", "rows_set_aside"]].tolist() == [5, 1, 4]
    assert recon["amount_read"] == 950.0
    assert recon["amount_used"] == 100.0
    assert recon["amount_set_aside"] == 850.0
    assert quality.reconciles()


def test_plausible_date_bounds_are_module_constants():
    assert MIN_PLAUSIBLE_DATE == pd.Timestamp("1950-01-01")
    assert MAX_PLAUSIBLE_DATE == pd.Timestamp("2100-12-31")
    inv = _invoices(invoice_date=["1950-01-01", "2024-01-01", "2024-01-01"])
    inv["due_date"] = ["1950-01-31", "2100-12-31", "2101-01-01"]
    clean, quality = validate_tables({"invoices": inv, "payments": _payments([])})
    assert clean["invoices"]["invoice_id"].tolist() == ["0001", "0002"]
    assert [f.rows for f in quality.set_aside] == [(4,)]


def test_negative_invoice_becomes_a_credit_note_when_declared():
    inv = _invoices(amount=["100", "-40", "80"])
    clean, quality = validate_tables(
        {"invoices": inv, "payments": _payments()}, negative_invoices="credit_note"
    )
    assert clean["invoices"]["invoice_id"].tolist() == ["0001", "0003"]
    note = clean["adjustments"].iloc[0]
    assert (note["invoice_id"], note["kind"], note["amount"]) == (
        "0002",
        "credit_note",
        40.0,
    )
    assert (note["customer_id"], note["date"], note["row"]) == (
        "C1",
        pd.Timestamp("2024-02-01"),
        3,
    )
    recon = quality.reconciliation.set_index("table")
    assert recon.loc["invoices", "rows_set_aside"] == 1
    assert recon.loc["adjustments", "rows_read"] == 1
    assert quality.reconciles()


def test_unknown_kind_is_set_aside_with_the_valid_kinds_and_a_suggestion():
    adj = pd.DataFrame(
        {
            "invoice_id": ["0001", "0001", "0002"],
            "date": ["2024-01-10"] * 3,
            "amount": ["5", "6", "7"],
            "kind": ["Credit Note", "writeoff", "rebate"],
        }
    )
    clean, quality = validate_tables(
        {"invoices": _invoices(), "payments": _payments(), "adjustments": adj}
    )
    assert clean["adjustments"]["kind"].tolist() == ["credit_note"]
    messages = [f.message for f in quality.set_aside]
    assert "did you mean 'write_off'?" in messages[0]
    assert "credit_note, write_off, other" in messages[1]
    assert quality.set_aside_by_reason()["amount"].tolist() == [13.0]


def test_unknown_activity_kind_is_set_aside():
    act = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "date": ["2024-01-10"] * 2,
            "kind": ["Call", "sms"],
        }
    )
    clean, quality = validate_tables(
        {"invoices": _invoices(), "payments": _payments(), "activities": act}
    )
    assert clean["activities"]["kind"].tolist() == ["call"]
    assert (
        quality.reconciliation.set_index("table").loc["activities", "rows_set_aside"]
        == 1
    )


# ---------------------------------------------------------------- warnings
def test_warnings_keep_the_rows_and_are_listed():
    inv = _invoices(amount=["100", "0", "80"], currency=["EUR", "", "EUR"])
    pay = _payments(
        [
            ("0001", "2024-01-20", "100"),
            ("NOPE", "2024-01-21", "30"),  # unknown invoice
            ("0003", "2024-02-15", "80"),  # before its invoice
            ("0001", "2024-01-25", "-10"),  # reversal
        ]
    )
    clean, quality = validate_tables({"invoices": inv, "payments": pay})
    assert len(clean["invoices"]) == 3
    assert len(clean["payments"]) == 4
    assert set(_codes(quality.warnings)) == {
        "zero_amount",
        "currency_filled",
        "unknown_invoice",
        "payment_before_invoice",
        "negative_payment",
    }
    assert clean["invoices"]["currency"].tolist() == ["EUR"] * 3
    assert clean["payments"]["currency"].tolist() == ["EUR"] * 4
    unknown = next(f for f in quality.warnings if f.code == "unknown_invoice")
    assert (unknown.rows, unknown.value) == ((3,), "NOPE")
    assert quality.reconciles()


def test_missing_currency_with_several_in_the_data_is_fatal():
    inv = _invoices(currency=["EUR", "", "GBP"])
    err = _fatal({"invoices": inv, "payments": _payments()})
    assert "several (EUR, GBP)" in str(err)


def test_payment_for_an_unknown_invoice_in_several_currencies_names_the_invoice():
    inv = _invoices(currency=["EUR", "GBP", "GBP"])
    pay = _payments([("0009", "2024-03-05", "40")])

    err = _fatal({"invoices": inv, "payments": pay})

    (finding,) = [f for f in err.findings if f.code == "missing_currency"]
    assert finding.table == "payments" and finding.column == "invoice_id"
    assert "not among the used invoices" in finding.message
    assert "correct the invoice_id" in finding.message


def test_typed_frames_pass_and_ids_keep_leading_zeros():
    inv = _invoices()
    inv["invoice_date"] = pd.to_datetime(inv["invoice_date"])
    inv["amount"] = inv["amount"].astype(float)
    inv["disputed"] = ["yes", "", "false"]
    clean, quality = validate_tables({"invoices": inv, "payments": _payments([])})
    out = clean["invoices"]
    assert out["invoice_id"].tolist() == ["0001", "0002", "0003"]
    assert out["invoice_date"].dtype == "datetime64[ns]"
    assert out["due_date"].dtype == "datetime64[ns]"
    assert out["amount"].dtype == "float64"
    assert out["disputed"].tolist() == [True, False, False]
    assert out["row"].tolist() == [2, 3, 4]
    assert quality.findings == []


def test_empty_payments_table_without_columns_is_fine():
    clean, quality = validate_tables(
        {"invoices": _invoices(), "payments": pd.DataFrame()}
    )
    assert len(clean["payments"]) == 0
    assert quality.reconciliation.set_index("table").loc["payments", "rows_read"] == 0


def test_fx_rates_must_be_positive():
    fx = pd.DataFrame({"date": ["2024-01-01"], "currency": ["usd"], "rate": ["0"]})
    err = _fatal({"invoices": _invoices(), "payments": _payments(), "fx_rates": fx})
    assert _codes(err.findings) == ["bad_rate"]


# ---------------------------------------------------------------- currencies
def test_check_currencies_names_currency_and_first_date_without_rate():
    inv = _invoices(currency=["EUR", "USD", "GBP"])
    clean, _ = validate_tables({"invoices": inv, "payments": _payments()})
    fx = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-02-15", "2024-01-01"]),
            "currency": ["USD", "CHF"],
            "rate": [0.9, 1.05],
        }
    )
    findings = check_currencies(clean["invoices"], clean["payments"], None, fx, "EUR")
    by_value = {f.value: f for f in findings}
    assert set(by_value) == {"USD", "GBP"}
    assert by_value["USD"].rows == (3,)
    assert "on or before 2024-02-01" in by_value["USD"].message
    assert "fx_rates has no rate for it" in by_value["GBP"].message
    assert all(f.severity == "fatal" for f in findings)


def test_check_currencies_passes_when_every_rate_precedes_its_document():
    inv = _invoices(currency=["EUR", "USD", "EUR"])
    clean, _ = validate_tables({"invoices": inv, "payments": _payments()})
    fx = pd.DataFrame(
        {"date": pd.to_datetime(["2023-12-31"]), "currency": ["USD"], "rate": [0.9]}
    )
    assert check_currencies(clean["invoices"], clean["payments"], None, fx, "EUR") == []
    late = check_currencies(
        clean["invoices"], None, None, fx.assign(currency="CHF"), "eur"
    )
    assert [f.value for f in late] == ["USD"]


def test_data_quality_reconciles_detects_a_broken_split():
    quality = DataQuality(
        reconciliation=pd.DataFrame(
            [["invoices", 3, 30.0, 2, 20.0, 0, 0.0]],
            columns=[
                "table",
                "rows_read",
                "amount_read",
                "rows_used",
                "amount_used",
                "rows_set_aside",
                "amount_set_aside",
            ],
        )
    )
    assert not quality.reconciles()


def test_timezone_aware_dates_keep_their_wall_clock_date():
    stamps = pd.Series(pd.to_datetime(["2024-03-31 23:30"]).tz_localize("Europe/Paris"))
    values, bad = parse_dates(stamps)
    assert values.tolist() == [pd.Timestamp("2024-03-31")]
    assert not bad.any()


def test_check_currencies_with_revaluation_needs_a_rate_at_that_date():
    inv = _invoices(currency=["EUR", "USD", "EUR"])
    clean, _ = validate_tables({"invoices": inv, "payments": _payments()})
    fx = pd.DataFrame(
        {"date": pd.to_datetime(["2024-01-01"]), "currency": ["USD"], "rate": [0.9]}
    )
    args = (clean["invoices"], None, None, fx, "EUR")
    assert check_currencies(*args, revalue_date="2024-06-30") == []
    (finding,) = check_currencies(*args, revalue_date="2023-12-31")
    assert "revaluation date 2023-12-31" in finding.message


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    cents=st.lists(st.integers(-(10**11), 10**11), min_size=1, max_size=20),
    european=st.booleans(),
)
def test_formatted_amounts_parse_back_to_their_value(cents, european):
    values = [c / 100 for c in cents]
    text = [f"{abs(v):,.2f}" for v in values]
    if european:
        text = [t.replace(",", "_").replace(".", ",").replace("_", ".") for t in text]
    text = [f"({t})" if v < 0 else t for t, v in zip(text, values, strict=True)]
    decimal, thousands = (",", ".") if european else (".", ",")
    parsed, bad = parse_amounts(pd.Series(text), decimal=decimal, thousands=thousands)
    assert not bad.any()
    assert parsed.tolist() == pytest.approx(values, abs=1e-9)


def test_validate_tables_leaves_its_input_untouched():
    header = {c: c for c in _invoices().columns}
    inv = pd.concat([_invoices(), pd.DataFrame([header])], ignore_index=True)
    before = inv.copy()
    validate_tables({"invoices": inv, "payments": _payments()}, raise_on_fatal=False)
    pd.testing.assert_frame_equal(inv, before)
