"""Tests of io: readers for every source kind, mappings, derivations and round trips."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from arforecast.exceptions import ConfigError, DataError, LedgerValidationError
from arforecast.io import (
    list_profiles,
    load_ledger,
    load_mapping,
    parse_amounts,
    parse_dates,
    read_tables,
    write_tables,
)

INVOICES_CSV = (
    "invoice_id,customer_id,invoice_date,due_date,amount,currency,portfolio\n"
    "0001,C1,2024-01-05,2024-02-04,100.00,EUR,North\n"
    "0002,C1,2024-02-01,2024-03-02,250.50,EUR,North\n"
    "0003,C2,2024-03-01,2024-03-31,80,EUR,South\n"
)
PAYMENTS_CSV = (
    "payment_id,invoice_id,payment_date,amount\n"
    "P1,0001,2024-01-20,100\n"
    "P2,0002,2024-03-10,50.5\n"
)


def _write(path: Path, text: str, *, newline: str = "\n", bom: bool = False) -> Path:
    data = text.replace("\n", newline)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data.encode("utf-8"))
    return path


@pytest.fixture()
def ledger_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "ledger"
    folder.mkdir()
    _write(folder / "invoices.csv", INVOICES_CSV)
    _write(folder / "payments.csv", PAYMENTS_CSV)
    return folder


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """The contract columns of a ledger table, in a fixed order, as plain values."""
    cols = [
        "invoice_id",
        "customer_id",
        "invoice_date",
        "due_date",
        "amount",
        "currency",
        "portfolio",
        "disputed",
    ]
    out = frame[[c for c in cols if c in frame]].copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]) and not (
            pd.api.types.is_datetime64_any_dtype(out[column])
        ):
            out[column] = out[column].astype(object)
    return out.reset_index(drop=True)


# ---------------------------------------------------------------- folders and CSV
def test_folder_of_csv_loads_with_leading_zeros_and_row_numbers(ledger_dir):
    tables, findings = read_tables(ledger_dir)
    assert findings == []
    inv = tables["invoices"]
    assert inv["invoice_id"].tolist() == ["0001", "0002", "0003"]
    assert inv["row"].tolist() == [2, 3, 4]
    assert inv["invoice_date"].dtype == "datetime64[ns]"
    assert inv["amount"].tolist() == [100.0, 250.5, 80.0]


def test_crlf_and_utf8_bom_are_read_like_plain_csv(tmp_path):
    _write(tmp_path / "invoices.csv", INVOICES_CSV, newline="\r\n", bom=True)
    _write(tmp_path / "payments.csv", PAYMENTS_CSV, newline="\r\n", bom=True)
    tables, _ = read_tables(tmp_path)
    assert list(tables["invoices"].columns)[0] == "invoice_id"
    assert tables["invoices"]["portfolio"].tolist() == ["North", "North", "South"]
    assert tables["payments"]["amount"].tolist() == [100.0, 50.5]


def test_blank_lines_do_not_shift_row_numbers(tmp_path):
    text = INVOICES_CSV.replace("\n0002", "\n\n0002")
    _write(tmp_path / "invoices.csv", text.replace("250.50", "2x"))
    _write(tmp_path / "payments.csv", PAYMENTS_CSV)
    _, findings = read_tables(tmp_path)
    (finding,) = findings
    assert (finding.code, finding.rows, finding.value) == ("bad_amount", (4,), "2x")


def test_load_ledger_through_the_ledger(ledger_dir):
    ledger = load_ledger(ledger_dir)
    assert len(ledger.invoices) == 3
    assert ledger.currency == "EUR"
    assert ledger.quality.reconciles()
    items = ledger.open_items("2024-03-31")
    assert items.set_index("invoice_id")["balance"].to_dict() == {
        "0002": 200.0,
        "0003": 80.0,
    }


def test_missing_source_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_tables(tmp_path / "nope")


def test_missing_payments_table_stops_the_load(tmp_path):
    _write(tmp_path / "invoices.csv", INVOICES_CSV)
    with pytest.raises(LedgerValidationError, match="required table 'payments'"):
        load_ledger(tmp_path)


def test_empty_payments_file_is_fine(tmp_path):
    _write(tmp_path / "invoices.csv", INVOICES_CSV)
    _write(tmp_path / "payments.csv", "invoice_id,payment_date,amount\n")
    ledger = load_ledger(tmp_path)
    assert len(ledger.payments) == 0


# ---------------------------------------------------------------- fatal findings
def test_bad_amount_names_table_row_column_and_value(tmp_path):
    _write(tmp_path / "invoices.csv", INVOICES_CSV.replace("250.50", '"250,50"'))
    _write(tmp_path / "payments.csv", PAYMENTS_CSV)
    with pytest.raises(LedgerValidationError, match="invoices row 3") as info:
        load_ledger(tmp_path)
    (finding,) = [f for f in info.value.findings if f.severity == "fatal"]
    assert (finding.table, finding.rows, finding.column, finding.value) == (
        "invoices",
        (3,),
        "amount",
        "250,50",
    )
    assert "decimal" in finding.message


def test_duplicate_invoice_id_in_a_file_names_both_rows(tmp_path):
    _write(tmp_path / "invoices.csv", INVOICES_CSV.replace("0003,", "0001,"))
    _write(tmp_path / "payments.csv", PAYMENTS_CSV)
    with pytest.raises(
        LedgerValidationError, match="duplicate|appears on 2 rows"
    ) as info:
        load_ledger(tmp_path)
    (finding,) = [f for f in info.value.findings if f.severity == "fatal"]
    assert finding.rows == (2, 4)


def test_stray_header_row_mid_file_is_an_error_naming_that_row(tmp_path):
    header, *lines = INVOICES_CSV.splitlines()
    text = "\n".join([header, lines[0], header, *lines[1:]]) + "\n"
    _write(tmp_path / "invoices.csv", text)
    _write(tmp_path / "payments.csv", PAYMENTS_CSV)
    with pytest.raises(LedgerValidationError, match="invoices row 3") as info:
        load_ledger(tmp_path)
    fatal = [f for f in info.value.findings if f.severity == "fatal"]
    assert [f.code for f in fatal] == ["repeated_header"]
    assert "repeats the column names" in fatal[0].message


def test_missing_required_column_is_named_in_source_terms(tmp_path):
    _write(
        tmp_path / "inv.csv", "Number,Customer,Date,Due\n1,C1,2024-01-01,2024-01-31\n"
    )
    mapping = {
        "invoices": {
            "columns": {
                "invoice_id": "Number",
                "customer_id": "Customer",
                "invoice_date": "Date",
                "due_date": "Due",
                "amount": "Total",
            }
        },
        "payments": {"source": "pay.csv"},
    }
    _write(tmp_path / "pay.csv", "invoice_id,payment_date,amount\n")
    with pytest.raises(LedgerValidationError, match="required column 'Total'"):
        load_ledger(tmp_path / "inv.csv", mapping)


def test_mapped_optional_column_that_is_absent_is_fatal(ledger_dir):
    mapping = {"invoices": {"columns": {"portfolio": "Region"}}}
    with pytest.raises(
        LedgerValidationError, match="column .Region. .mapped to .portfolio.. is not in"
    ):
        load_ledger(ledger_dir, mapping)


# ---------------------------------------------------------------- warnings
def test_warnings_do_not_stop_the_load_and_appear_in_findings(ledger_dir):
    _write(
        ledger_dir / "payments.csv",
        PAYMENTS_CSV + "P3,9999,2024-03-01,20\nP4,0003,2024-02-01,-5\n",
    )
    ledger = load_ledger(ledger_dir)
    codes = {f.code for f in ledger.quality.warnings}
    assert {"unknown_invoice", "payment_before_invoice", "negative_payment"} <= codes
    assert len(ledger.payments) == 4
    credit = ledger.unapplied_credit("2024-03-31")
    assert credit["amount_rc"].sum() == pytest.approx(-20.0)


# ---------------------------------------------------------------- mappings
UK_CSV = (
    "Ref;Client;Issued;Due;Total;Disputed;Region;Note\n"
    "00017;K1;03/09/2024;03/10/2024;1.250,00;Yes;North;first\n"
    "00018;K2;14/09/2024;14/10/2024;(500,00);No;South;second\n"
)
UK_MAPPING = """
description: a European export
date_format: "%d/%m/%Y"
decimal: ","
thousands: "."
negative_invoices: credit_note
invoices:
  source: uk.csv
  sep: ";"
  columns: {invoice_id: Ref, customer_id: Client, invoice_date: Issued,
            due_date: Due, amount: Total, disputed: Disputed}
  portfolio_from: Region
  values:
    disputed: {Yes: true, No: false}
  constants: {currency: GBP}
  keep: [Note]
payments:
  source: pay.csv
"""


@pytest.fixture()
def uk_dir(tmp_path: Path) -> Path:
    _write(tmp_path / "uk.csv", UK_CSV)
    _write(
        tmp_path / "pay.csv", "invoice_id,payment_date,amount\n00017,30/09/2024,1250\n"
    )
    _write(tmp_path / "uk.yaml", UK_MAPPING)
    return tmp_path


def test_uk_mapping_reads_dates_amounts_values_constants_and_kept_columns(uk_dir):
    tables, findings = read_tables(uk_dir, uk_dir / "uk.yaml")
    assert findings == []
    inv = tables["invoices"]
    assert [d.month for d in inv["invoice_date"]] == [9, 9]
    assert inv["amount"].tolist() == [1250.0, -500.0]
    assert inv["disputed"].tolist() == [True, False]
    assert inv["currency"].tolist() == ["GBP", "GBP"]
    assert inv["portfolio"].tolist() == ["North", "South"]
    assert inv["Note"].tolist() == ["first", "second"]
    assert inv["invoice_id"].tolist() == ["00017", "00018"]
    assert inv.attrs["source_columns"]["amount"] == "Total"


def test_uk_file_under_a_us_format_fails_naming_the_row(uk_dir):
    mapping = load_mapping(uk_dir / "uk.yaml")
    text = (uk_dir / "uk.yaml").read_text().replace("%d/%m/%Y", "%m/%d/%Y")
    _write(uk_dir / "us.yaml", text)
    _, findings = read_tables(uk_dir, uk_dir / "us.yaml")
    bad = [f for f in findings if f.code == "bad_date" and f.column == "Issued"]
    assert [(f.rows, f.value) for f in bad] == [((3,), "14/09/2024")]
    assert "'%m/%d/%Y'" in bad[0].message
    assert mapping.option("invoices", "date_format") == "%d/%m/%Y"
    with pytest.raises(LedgerValidationError, match="14/09/2024"):
        load_ledger(uk_dir, uk_dir / "us.yaml")


def test_negative_invoice_declared_as_credit_note_reaches_the_ledger(uk_dir):
    ledger = load_ledger(uk_dir, uk_dir / "uk.yaml")
    assert ledger.invoices["invoice_id"].tolist() == ["00017"]
    note = ledger.adjustments.iloc[0]
    assert (note["invoice_id"], note["kind"], note["amount"]) == (
        "00018",
        "credit_note",
        500.0,
    )
    recon = ledger.reconciliation.set_index("table")
    assert recon.loc[
        "invoices", ["rows_read", "rows_used", "rows_set_aside"]
    ].tolist() == [2, 1, 1]
    assert ledger.quality.set_aside_by_reason()["reason"].tolist() == [
        "converted_to_credit_note"
    ]


def test_per_column_date_formats_and_currency_symbols(tmp_path):
    _write(
        tmp_path / "invoices.csv",
        'id,cust,d1,d2,amt\nA,C,2024-01-05,05.02.2024,"$1,200.00"\nB,C,2024-01-06,06.02.2024,($15.00)\n',
    )
    _write(tmp_path / "payments.csv", "invoice_id,payment_date,amount\n")
    mapping = {
        "invoices": {
            "columns": {
                "invoice_id": "id",
                "customer_id": "cust",
                "invoice_date": "d1",
                "due_date": "d2",
                "amount": "amt",
            },
            "date_format": {"due_date": "%d.%m.%Y"},
            "currency_symbols": "$",
        }
    }
    tables, findings = read_tables(tmp_path, mapping)
    assert findings == []
    inv = tables["invoices"]
    assert inv["due_date"].tolist() == [
        pd.Timestamp("2024-02-05"),
        pd.Timestamp("2024-02-06"),
    ]
    assert inv["amount"].tolist() == [1200.0, -15.0]


def test_mapping_yaml_beside_the_data_is_used_automatically(uk_dir):
    (uk_dir / "mapping.yaml").write_text((uk_dir / "uk.yaml").read_text())
    tables, _ = read_tables(uk_dir)
    assert tables["invoices"]["amount"].tolist() == [1250.0, -500.0]


def test_payments_derived_from_settlement_dates(tmp_path):
    _write(
        tmp_path / "book.csv",
        "No,Cust,Inv,Due,Amt,Settled\n"
        "1,C,1/2/2013,2/1/2013,10.5,1/15/2013\n"
        "2,C,1/3/2013,2/2/2013,20,\n",
    )
    mapping = {
        "date_format": "%m/%d/%Y",
        "invoices": {
            "columns": {
                "invoice_id": "No",
                "customer_id": "Cust",
                "invoice_date": "Inv",
                "due_date": "Due",
                "amount": "Amt",
            }
        },
        "derive": {"payments_from_settlement": {"date_column": "Settled"}},
    }
    tables, findings = read_tables(tmp_path / "book.csv", mapping)
    assert findings == []
    pay = tables["payments"]
    assert pay[["invoice_id", "amount", "row"]].values.tolist() == [["1", 10.5, 2]]
    assert pay["payment_date"].tolist() == [pd.Timestamp("2013-01-15")]
    ledger = load_ledger(tmp_path / "book.csv", mapping, currency="USD")
    assert ledger.open_items("2013-03-01")["invoice_id"].tolist() == ["2"]


@pytest.mark.parametrize(
    ("mapping", "match"),
    [
        (
            {"invoice": {}},
            "unknown key 'invoice' in the mapping.*Did you mean 'invoices'",
        ),
        ({"invoices": {"colums": {}}}, "unknown key 'colums'.*Did you mean 'columns'"),
        ({"invoices": {"columns": {"invoice_no": "X"}}}, "Did you mean 'invoice_id'"),
        (
            {"derive": {"payments_from_settlements": {}}},
            "Did you mean 'payments_from_settlement'",
        ),
        ({"derive": {"payments_from_settlement": {}}}, "needs date_column"),
        ({"invoices": {"constants": {"curency": "USD"}}}, "Did you mean 'currency'"),
        ({"negative_invoices": "credit"}, "negative_invoices must be one of"),
        ({"invoices": {"date_format": 5}}, "date_format must be a str"),
    ],
    ids=[
        "table",
        "table-key",
        "canonical",
        "derive",
        "date-column",
        "constant",
        "policy",
        "type",
    ],
)
def test_invalid_mapping_is_a_config_error_listing_valid_keys(mapping, match):
    with pytest.raises(ConfigError, match=match):
        load_mapping(mapping)


def test_unknown_mapping_key_in_a_yaml_file(tmp_path):
    path = _write(tmp_path / "m.yaml", "invoices:\n  columns: {}\ndate_fromat: '%d'\n")
    with pytest.raises(ConfigError, match="valid keys are .*date_format"):
        load_mapping(path)


def test_unknown_profile_suggests_the_closest(tmp_path):
    with pytest.raises(ConfigError, match="Did you mean 'ibm_late_payments'"):
        load_mapping("ibm_late_payment")
    assert "ibm_late_payments" in list_profiles()


def test_parsers_are_exported_from_io():
    assert parse_amounts(pd.Series(["1.250,00"]), ",", ".")[0].tolist() == [1250.0]
    assert parse_dates(pd.Series(["14/09/2024"]), "%m/%d/%Y")[1].tolist() == [True]


# ---------------------------------------------------------------- round trips
def _load_tables(source):
    ledger = load_ledger(source)
    return _canonical(ledger.invoices), ledger.payments[
        ["invoice_id", "payment_date", "amount"]
    ].reset_index(drop=True)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "sqlite", "duckdb"])
def test_round_trip_through_every_format(ledger_dir, tmp_path, fmt):
    tables, _ = read_tables(ledger_dir)
    target = tmp_path / {"sqlite": "x.db", "duckdb": "x.duckdb"}.get(fmt, fmt)
    write_tables(tables, target, fmt=fmt)
    assert [
        df.equals(other)
        for df, other in zip(
            _load_tables(ledger_dir), _load_tables(target), strict=True
        )
    ] == [
        True,
        True,
    ]


def test_sqlalchemy_and_duckdb_urls_and_queries(ledger_dir, tmp_path):
    tables, _ = read_tables(ledger_dir)
    write_tables(tables, tmp_path / "x.db", fmt="sqlite")
    write_tables(tables, tmp_path / "x.duckdb", fmt="duckdb")
    expected = _load_tables(ledger_dir)
    for url in (f"sqlite:///{tmp_path / 'x.db'}", f"duckdb:///{tmp_path / 'x.duckdb'}"):
        assert _load_tables(url)[0].equals(expected[0])
    mapping = {"payments": {"query": "select * from payments where amount > 60"}}
    got, _ = read_tables(tmp_path / "x.duckdb", mapping)
    assert got["payments"]["invoice_id"].tolist() == ["0001"]
    got, _ = read_tables(f"sqlite:///{tmp_path / 'x.db'}", mapping)
    assert got["payments"]["invoice_id"].tolist() == ["0001"]


def test_excel_workbook_with_one_sheet_per_table(ledger_dir, tmp_path):
    tables, _ = read_tables(ledger_dir)
    book = tmp_path / "ledger.xlsx"
    with pd.ExcelWriter(book) as writer:
        for name, frame in tables.items():
            frame.drop(columns="row").to_excel(writer, sheet_name=name, index=False)
    got_inv, got_pay = _load_tables(book)
    want_inv, want_pay = _load_tables(ledger_dir)
    assert got_inv.equals(want_inv)
    assert got_pay.equals(want_pay)


def test_excel_sheet_with_declared_formats_accepts_real_date_cells(tmp_path):
    frame = pd.DataFrame(
        {
            "Ref": ["001"],
            "Client": ["K"],
            "Issued": [pd.Timestamp("2024-09-03")],  # a real date cell
            "Due": ["03/10/2024"],  # a text cell in the declared format
            "Total": ["1.250,00"],
        }
    )
    frame.to_excel(tmp_path / "book.xlsx", sheet_name="Export", index=False)
    mapping = {
        "date_format": "%d/%m/%Y",
        "decimal": ",",
        "invoices": {
            "sheet": "Export",
            "columns": {
                "invoice_id": "Ref",
                "customer_id": "Client",
                "invoice_date": "Issued",
                "due_date": "Due",
                "amount": "Total",
            },
        },
    }
    tables, findings = read_tables(tmp_path / "book.xlsx", mapping)
    assert findings == []
    inv = tables["invoices"]
    assert inv["invoice_date"].tolist() == [pd.Timestamp("2024-09-03")]
    assert inv["due_date"].tolist() == [pd.Timestamp("2024-10-03")]
    assert inv["amount"].tolist() == [1250.0]


def test_write_tables_rejects_an_unknown_format(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'parquet'"):
        write_tables({}, tmp_path, fmt="parquett")


# ---------------------------------------------------------------- reconciliation
def test_reconciliation_of_a_tiny_file_with_set_aside_rows(tmp_path):
    text = INVOICES_CSV + (
        "0004,C2,1900-01-01,1900-01-31,10,EUR,South\n"
        "0005,C2,2024-03-05,2024-03-01,20,EUR,South\n"
        "0006,C2,2024-03-05,2024-04-04,-5,EUR,South\n"
    )
    _write(tmp_path / "invoices.csv", text)
    _write(
        tmp_path / "payments.csv",
        PAYMENTS_CSV + "P3,0009,2099-12-31,5\nP4,0002,2300-01-01,1\n",
    )
    with pytest.raises(LedgerValidationError, match="payments row 5"):
        load_ledger(
            tmp_path
        )  # 2300 does not fit a datetime64[ns]: fatal, not set aside
    _write(
        tmp_path / "payments.csv",
        PAYMENTS_CSV + "P3,0009,2099-12-31,5\nP4,0002,2101-01-01,1\n",
    )
    ledger = load_ledger(tmp_path)
    recon = ledger.reconciliation.set_index("table")
    inv = recon.loc["invoices"]
    assert (inv["rows_read"], inv["rows_used"], inv["rows_set_aside"]) == (6, 3, 3)
    assert inv["amount_read"] == pytest.approx(455.5)
    assert inv["amount_used"] == pytest.approx(430.5)
    assert inv["amount_set_aside"] == pytest.approx(25.0)
    pay = recon.loc["payments"]
    assert (pay["rows_read"], pay["rows_used"], pay["rows_set_aside"]) == (4, 3, 1)
    assert pay["amount_set_aside"] == 1.0
    by_reason = ledger.quality.set_aside_by_reason()
    assert by_reason.groupby("table")["rows"].sum().to_dict() == {
        "invoices": 3,
        "payments": 1,
    }
    assert ledger.quality.reconciles()


# ---------------------------------------------------------------- the IBM sample
@pytest.mark.realdata
def test_ibm_profile_loads_every_invoice_and_reconciles(ibm_csv):
    ledger = load_ledger(ibm_csv, "ibm_late_payments")
    assert len(ledger.invoices) == 2466
    assert len(ledger.payments) == 2466
    recon = ledger.reconciliation.set_index("table")
    for table in ("invoices", "payments"):
        assert recon.loc[table, "rows_read"] == 2466
        assert recon.loc[table, "rows_set_aside"] == 0
        assert round(recon.loc[table, "amount_read"], 2) == 147703.18
        assert round(recon.loc[table, "amount_used"], 2) == 147703.18
    assert ledger.quality.fatal == []
    assert ledger.quality.reconciles()
    inv = ledger.invoices
    assert inv["invoice_id"].str.len().eq(10).all()
    assert inv["invoice_id"].iloc[0] == "0000611365"
    assert ledger.portfolios == ["391", "406", "770", "818", "897"]
    assert ledger.currency == "USD"
    assert inv["disputed"].mean() == pytest.approx(0.227, abs=0.001)
    assert inv["terms_days"].eq(30).all()
    assert {"PaperlessBill", "PaperlessDate", "DaysToSettle", "DaysLate"} <= set(
        inv.columns
    )
    assert ledger.open_items("2014-01-31").empty
    days = (ledger.payments["payment_date"] - inv["invoice_date"]).dt.days
    assert days.tolist() == inv["DaysToSettle"].astype(int).tolist()


def test_payments_file_and_settlement_derivation_together_are_rejected(ledger_dir):
    mapping = {"derive": {"payments_from_settlement": {"date_column": "due_date"}}}
    with pytest.raises(ConfigError, match="derives payments from settlement"):
        read_tables(ledger_dir, mapping)


def test_missing_sqlite_file_is_not_created(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_tables(f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()


def test_kept_columns_can_be_renamed_and_travel_with_the_table(ledger_dir):
    mapping = {"invoices": {"keep": [{"region_label": "portfolio"}]}}
    tables, _ = read_tables(ledger_dir, mapping)
    assert tables["invoices"]["region_label"].tolist() == ["North", "North", "South"]
    ledger = load_ledger(ledger_dir, mapping)
    assert "region_label" in ledger.invoices.columns


def test_database_dates_pass_under_a_declared_text_format(ledger_dir, tmp_path):
    tables, _ = read_tables(ledger_dir)
    write_tables(tables, tmp_path / "x.duckdb", fmt="duckdb")
    got, findings = read_tables(tmp_path / "x.duckdb", {"date_format": "%d/%m/%Y"})
    assert findings == []
    assert got["invoices"]["invoice_date"].iloc[0] == pd.Timestamp("2024-01-05")
