"""Tests of the synthetic sample ledger (arforecast.sample)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from arforecast.exceptions import ConfigError
from arforecast.sample import (
    PORTFOLIOS,
    SEGMENTS,
    SPECIAL_NAME,
    describe_planted_issues,
    generate_sample,
    write_sample,
)

END = pd.Timestamp("2025-12-31")
COLUMNS = {
    "invoices": [
        "invoice_id",
        "customer_id",
        "invoice_date",
        "due_date",
        "amount",
        "currency",
        "portfolio",
        "disputed",
    ],
    "payments": ["payment_id", "invoice_id", "payment_date", "amount", "currency"],
    "adjustments": ["invoice_id", "date", "amount", "kind"],
    "activities": [
        "customer_id",
        "date",
        "kind",
        "invoice_id",
        "promised_amount",
        "promised_date",
        "collector",
    ],
    "customers": [
        "customer_id",
        "name",
        "portfolio",
        "country",
        "terms_days",
        "credit_limit",
    ],
    "fx_rates": ["date", "currency", "rate"],
}
DATE_COLUMNS = {
    "invoices": ["invoice_date", "due_date"],
    "payments": ["payment_date"],
    "adjustments": ["date"],
    "activities": ["date", "promised_date"],
    "fx_rates": ["date"],
}
TEXT_COLUMNS = {
    "invoices": ["invoice_id", "customer_id", "currency", "portfolio"],
    "payments": ["payment_id", "invoice_id", "currency"],
    "adjustments": ["invoice_id", "kind"],
    "activities": ["customer_id", "kind", "invoice_id", "collector"],
    "customers": ["customer_id", "name", "portfolio", "country"],
    "fx_rates": ["currency"],
}


@pytest.fixture(scope="module")
def book() -> dict[str, pd.DataFrame]:
    return generate_sample(customers=150, invoices=6_000, seed=7, include_segments=True)


@pytest.fixture(scope="module")
def issues(book: dict[str, pd.DataFrame]) -> dict[str, list[str]]:
    return describe_planted_issues(book)


@pytest.fixture(scope="module")
def settled(book: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Invoices with paid and adjusted totals, last payment and segment."""
    inv = book["invoices"].set_index("invoice_id")
    pay = book["payments"].groupby("invoice_id")
    adj = book["adjustments"].groupby("invoice_id")["amount"].sum()
    segment = book["customers"].set_index("customer_id")["segment"]
    out = inv.assign(
        paid=pay["amount"].sum().reindex(inv.index, fill_value=0.0),
        n_payments=pay.size().reindex(inv.index, fill_value=0),
        last_payment=pay["payment_date"].max().reindex(inv.index),
        adjusted=adj.reindex(inv.index, fill_value=0.0),
        segment=inv["customer_id"].map(segment),
    )
    out["balance"] = out["amount"] - out["paid"] - out["adjusted"]
    out["days_late"] = (out["last_payment"] - out["due_date"]).dt.days
    return out


@pytest.fixture(scope="module")
def mature(settled: pd.DataFrame) -> pd.DataFrame:
    """Invoices old enough (200+ days at the end) for their outcome to be known."""
    return settled[settled["invoice_date"] <= END - pd.Timedelta(days=200)]


# ----------------------------------------------------------------- determinism


def test_same_seed_gives_identical_tables() -> None:
    first = generate_sample(customers=40, invoices=800, seed=3)
    second = generate_sample(customers=40, invoices=800, seed=3)
    assert first.keys() == second.keys()
    for name in first:
        pd.testing.assert_frame_equal(first[name], second[name])


def test_different_seed_gives_different_tables() -> None:
    first = generate_sample(customers=40, invoices=800, seed=3)
    second = generate_sample(customers=40, invoices=800, seed=4)
    assert not first["invoices"]["amount"].equals(second["invoices"]["amount"])
    assert not first["payments"]["payment_date"].equals(
        second["payments"]["payment_date"]
    )


@pytest.mark.parametrize(
    ("customers", "invoices"),
    [(1, 1), (3, 10), (40, 700), (500, 400)],
    ids=["one-invoice", "tiny", "small", "more-customers-than-invoices"],
)
def test_sizes_are_honoured(customers: int, invoices: int) -> None:
    tables = generate_sample(customers=customers, invoices=invoices, seed=1)
    assert len(tables["invoices"]) == invoices
    assert len(tables["customers"]) == customers
    assert tables["invoices"]["invoice_id"].is_unique
    assert tables["customers"]["customer_id"].is_unique


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2025-12-01", "2025-12-31"),
        ("2025-12-27", "2025-12-28"),
        ("2020-02-01", "2026-01-31"),
    ],
    ids=["one-month", "one-weekend", "six-years"],
)
def test_any_period_gives_a_consistent_book(start: str, end: str) -> None:
    tables = generate_sample(customers=20, invoices=300, start=start, end=end)
    first, last = pd.Timestamp(start), pd.Timestamp(end)
    assert tables["invoices"]["invoice_date"].between(first, last).all()
    assert tables["payments"]["payment_date"].max() <= last
    assert tables["activities"]["date"].max() <= last
    assert tables["fx_rates"]["date"].min() <= first - pd.Timedelta(days=30)
    assert describe_planted_issues(tables)["unknown_invoice"]


def test_every_customer_bills_when_invoices_suffice(book) -> None:
    billed = set(book["invoices"]["customer_id"])
    assert billed == set(book["customers"]["customer_id"])


# ------------------------------------------------------------ columns, dtypes


def test_tables_have_canonical_columns(book) -> None:
    assert set(book) == set(COLUMNS)
    for name, columns in COLUMNS.items():
        expected = columns + (["segment"] if name == "customers" else [])
        assert list(book[name].columns) == expected, name


def test_segment_column_only_on_request() -> None:
    tables = generate_sample(customers=10, invoices=100)
    assert "segment" not in tables["customers"].columns


def test_columns_have_canonical_dtypes(book) -> None:
    for name, columns in DATE_COLUMNS.items():
        for col in columns:
            assert book[name][col].dtype == "datetime64[ns]", (name, col)
    for name, columns in TEXT_COLUMNS.items():
        for col in columns:
            # str dtype on pandas 3, object holding text (and NaN) on pandas 2
            column = book[name][col]
            assert pd.api.types.infer_dtype(column, skipna=True) == "string", col
    for name in ("invoices", "payments", "adjustments"):
        assert book[name]["amount"].dtype == np.float64
    assert book["activities"]["promised_amount"].dtype == np.float64
    assert book["invoices"]["disputed"].dtype == bool
    assert book["customers"]["terms_days"].dtype == np.int64
    assert book["fx_rates"]["rate"].dtype == np.float64


def test_dates_are_midnight_and_amounts_in_cents(book) -> None:
    dates = book["payments"]["payment_date"]
    assert (dates == dates.dt.normalize()).all()
    cents = book["invoices"]["amount"] * 100
    assert np.allclose(cents, cents.round())


# ------------------------------------------------------- referential integrity


def test_payments_refer_to_invoices_except_planted(book, issues) -> None:
    pay = book["payments"]
    unknown = ~pay["invoice_id"].isin(book["invoices"]["invoice_id"])
    assert sorted(pay.loc[unknown, "payment_id"]) == sorted(issues["unknown_invoice"])
    assert pay["payment_id"].is_unique


def test_other_tables_refer_to_known_keys(book) -> None:
    invoice_ids = set(book["invoices"]["invoice_id"])
    customer_ids = set(book["customers"]["customer_id"])
    assert set(book["adjustments"]["invoice_id"]) <= invoice_ids
    assert set(book["invoices"]["customer_id"]) <= customer_ids
    act = book["activities"]
    assert set(act["customer_id"]) <= customer_ids
    assert set(act["invoice_id"].dropna()) <= invoice_ids
    # an activity tied to an invoice names that invoice's customer
    owner = book["invoices"].set_index("invoice_id")["customer_id"]
    tied = act.dropna(subset=["invoice_id"])
    assert (tied["invoice_id"].map(owner) == tied["customer_id"]).all()


def test_due_date_never_precedes_invoice_date(book) -> None:
    inv = book["invoices"]
    assert (inv["due_date"] >= inv["invoice_date"]).all()
    terms = (inv["due_date"] - inv["invoice_date"]).dt.days
    assert set(terms) <= {14, 30, 45, 60}


def test_nothing_is_dated_after_end(book) -> None:
    assert book["invoices"]["invoice_date"].max() <= END
    assert book["payments"]["payment_date"].max() <= END
    assert book["adjustments"]["date"].max() <= END
    assert book["activities"]["date"].max() <= END


def test_payments_never_exceed_amount_except_planted(settled, issues) -> None:
    over = settled.index[settled["paid"] > settled["amount"] + 0.005]
    assert sorted(over) == sorted(issues["overpayment"])
    # payments and adjustments together never take a balance below zero either
    negative = settled.index[settled["balance"] < -0.005]
    assert sorted(negative) == sorted(issues["overpayment"])


def test_payments_share_their_invoice_currency(book) -> None:
    pay = book["payments"]
    currency = pay["invoice_id"].map(
        book["invoices"].set_index("invoice_id")["currency"]
    )
    known = currency.notna()
    assert (pay.loc[known, "currency"] == currency[known]).all()


def test_payment_dates_follow_invoice_dates_except_planted(book, issues) -> None:
    pay = book["payments"]
    inv_date = pay["invoice_id"].map(
        book["invoices"].set_index("invoice_id")["invoice_date"]
    )
    early = pay.loc[pay["payment_date"] < inv_date, "payment_id"]
    assert sorted(early) == sorted(issues["payment_before_invoice"])


# ------------------------------------------------------------ planted problems


def test_planted_problems_are_present_and_few(issues) -> None:
    for kind, found in issues.items():
        assert 1 <= len(found) <= 5, kind


def test_no_planted_problems_when_disabled() -> None:
    tables = generate_sample(customers=60, invoices=2_000, data_quality_issues=False)
    assert not any(describe_planted_issues(tables).values())
    assert (tables["invoices"]["amount"] > 0).all()


def test_zero_amount_invoices_have_no_events(book, issues) -> None:
    zero = set(issues["zero_amount"])
    assert not zero & set(book["payments"]["invoice_id"])
    assert not zero & set(book["adjustments"]["invoice_id"])
    assert not zero & set(book["activities"]["invoice_id"].dropna())


# -------------------------------------------------------- currencies, FX, mix


def test_several_currencies_with_rates_on_every_document_date(book) -> None:
    fx = book["fx_rates"]
    currencies = set(book["invoices"]["currency"])
    assert {"EUR", "GBP", "SEK", "USD"} <= currencies
    assert "EUR" not in set(fx["currency"])  # the reporting currency is implicit
    first_rate = fx.groupby("currency")["date"].min()
    documents = [
        book["invoices"][["currency", "invoice_date"]].set_axis(["c", "d"], axis=1),
        book["payments"][["currency", "payment_date"]].set_axis(["c", "d"], axis=1),
    ]
    first_doc = pd.concat(documents).groupby("c")["d"].min()
    for code in currencies - {"EUR"}:
        assert first_rate[code] <= first_doc[code], code
    assert (fx["rate"] > 0).all()
    assert not fx.duplicated(["currency", "date"]).any()


def test_rates_move_around_realistic_levels_on_business_days(book) -> None:
    fx = book["fx_rates"]
    assert (fx["date"].dt.day_of_week < 5).all()
    level = fx.groupby("currency")["rate"].agg(["min", "max"])
    assert 1.0 < level.loc["GBP", "min"] and level.loc["GBP", "max"] < 1.4
    assert 0.07 < level.loc["SEK", "min"] and level.loc["SEK", "max"] < 0.11
    assert (level["max"] > level["min"]).all()


def test_rates_are_in_the_chosen_reporting_currency() -> None:
    tables = generate_sample(customers=30, invoices=400, currency="GBP")
    fx = tables["fx_rates"]
    assert "GBP" not in set(fx["currency"])
    eur = fx.loc[fx["currency"] == "EUR", "rate"]
    assert eur.between(0.7, 1.0).all()


def test_portfolios_terms_and_countries_vary(book) -> None:
    assert set(book["invoices"]["portfolio"]) == set(PORTFOLIOS)
    assert book["customers"]["terms_days"].nunique() >= 3
    assert book["customers"]["country"].nunique() >= 8
    assert book["activities"]["collector"].nunique() >= 4


def test_customer_names_include_one_that_needs_escaping(book) -> None:
    names = book["customers"]["name"]
    assert (names == SPECIAL_NAME).sum() == 1
    assert names.is_unique
    assert set("<>&'") <= set(SPECIAL_NAME)


def test_billing_has_a_year_end_peak(book) -> None:
    month = book["invoices"]["invoice_date"].dt.month
    per_month = month.value_counts()
    assert per_month[12] > 1.2 * per_month.drop(12).mean()
    assert per_month[8] < per_month.drop(8).mean()


def test_invoices_are_billed_on_business_days(book) -> None:
    assert (book["invoices"]["invoice_date"].dt.day_of_week < 5).all()


# --------------------------------------------------------- book content mix


def test_partial_payments_present(settled) -> None:
    counts = settled["n_payments"].value_counts()
    assert counts.get(2, 0) > 0
    assert counts.get(3, 0) > 0


def test_adjustment_kinds_present(book) -> None:
    kinds = book["adjustments"]["kind"].value_counts()
    assert set(kinds.index) == {"credit_note", "write_off", "other"}
    assert (book["adjustments"]["amount"] > 0).all()


def test_write_offs_hit_old_unpaid_items(book) -> None:
    adj = book["adjustments"]
    write_off = adj[adj["kind"] == "write_off"]
    inv_date = write_off["invoice_id"].map(
        book["invoices"].set_index("invoice_id")["invoice_date"]
    )
    age = (write_off["date"] - inv_date).dt.days
    assert age.min() >= 180
    assert age.max() <= 245


def test_disputes_open_and_resolve_on_invoices(book) -> None:
    act = book["activities"]
    opened = act[act["kind"] == "dispute_opened"]
    resolved = act[act["kind"] == "dispute_resolved"]
    assert len(opened) > 0
    assert 0 < len(resolved) <= len(opened)
    assert opened["invoice_id"].notna().all()
    assert set(resolved["invoice_id"]) <= set(opened["invoice_id"])
    flagged = book["invoices"].loc[book["invoices"]["disputed"], "invoice_id"]
    assert set(flagged) == set(opened["invoice_id"])
    when = opened.set_index("invoice_id")["date"]
    assert (resolved["date"].to_numpy() > when[resolved["invoice_id"]].to_numpy()).all()


def test_disputed_invoices_pay_later(mature) -> None:
    paid = mature[mature["last_payment"].notna()]
    late = paid.groupby("disputed")["days_late"].mean()
    assert late[True] > late[False] + 10


def test_dunning_follows_due_date(book) -> None:
    act = book["activities"]
    dunning = act[act["kind"].isin(["email", "call", "letter"])]
    due = dunning["invoice_id"].map(
        book["invoices"].set_index("invoice_id")["due_date"]
    )
    assert ((dunning["date"] - due).dt.days >= 3).all()
    assert set(dunning["kind"]) == {"email", "call", "letter"}
    notes = act[act["kind"] == "note"]
    assert len(notes) > 0
    assert notes["invoice_id"].isna().all()


def test_promises_carry_amounts_and_dates_and_are_kept_or_broken(book) -> None:
    act = book["activities"]
    ptp = act[act["kind"] == "promise_to_pay"]
    other = act[act["kind"] != "promise_to_pay"]
    assert len(ptp) > 20
    assert (ptp["promised_amount"] > 0).all()
    assert (ptp["promised_date"] > ptp["date"]).all()
    assert other["promised_amount"].isna().all()
    assert other["promised_date"].isna().all()

    # kept: the invoice's payments from the promise to promised date + 3 days
    pay = book["payments"].merge(ptp[["invoice_id", "date", "promised_date"]])
    window = (pay["payment_date"] >= pay["date"]) & (
        pay["payment_date"] <= pay["promised_date"] + pd.Timedelta(days=3)
    )
    covered = pay[window].groupby("invoice_id")["amount"].sum()
    promised = ptp.set_index("invoice_id")["promised_amount"]
    judged = ptp[ptp["promised_date"] + pd.Timedelta(days=3) <= END]
    kept = covered.reindex(judged["invoice_id"], fill_value=0.0) >= (
        promised[judged["invoice_id"]] - 0.005
    )
    assert 0.3 < kept.mean() < 0.9


def test_open_items_remain_at_end(settled) -> None:
    recent = settled[settled["invoice_date"] >= END - pd.Timedelta(days=30)]
    assert (recent["balance"] > 0.005).mean() > 0.7
    old_open = settled[
        (settled["invoice_date"] <= END - pd.Timedelta(days=120))
        & (settled["balance"] > 0.005)
    ]
    assert len(old_open) > 0


# ----------------------------------------------------------- payment behaviour


def test_most_invoices_pay_within_terms_plus_fifteen_days(mature) -> None:
    in_time = (mature["last_payment"] <= mature["due_date"] + pd.Timedelta(days=15)) & (
        mature["balance"].abs() < 0.005
    )
    assert 0.70 <= in_time.mean() <= 0.82
    # a meaningful late tail: paid a month or more late, or not by two months
    assert (mature["days_late"] > 30).mean() > 0.05
    assert ((mature["days_late"] > 60) | (mature["paid"] == 0)).mean() > 0.025


def test_a_few_percent_are_never_paid(mature) -> None:
    unpaid = (mature["paid"] == 0) & (mature["amount"] > 0)
    assert 0.005 < unpaid.mean() < 0.06


def test_behaviour_segments_really_differ(mature) -> None:
    late = mature.groupby("segment")["days_late"].mean()
    assert set(late.index) == set(SEGMENTS)
    assert late["prompt"] < late["standard"] < late["slow"] < late["chronically_late"]
    assert late["chronically_late"] > late["prompt"] + 25
    disputes = mature.groupby("segment")["disputed"].mean()
    assert disputes["disputer"] > 3 * disputes.drop("disputer").max()


def test_customer_history_predicts_later_behaviour(settled) -> None:
    paid = settled[
        settled["days_late"].notna() & (settled["segment"] != "deteriorating")
    ]
    year = paid["invoice_date"].dt.year
    late = paid.groupby([paid["customer_id"], year])["days_late"].mean().unstack()
    both = late.dropna()
    assert len(both) > 50
    assert both[2024].rank().corr(both[2025].rank()) > 0.5  # Spearman


def test_deteriorating_customers_get_later(settled) -> None:
    det = settled[
        (settled["segment"] == "deteriorating") & settled["days_late"].notna()
    ]
    split = det["invoice_date"].quantile(0.5)
    early = det.loc[det["invoice_date"] <= split, "days_late"].mean()
    later = det.loc[det["invoice_date"] > split, "days_late"].mean()
    assert later > early + 5


def test_larger_invoices_pay_later_within_a_customer(mature) -> None:
    paid = mature[mature["last_payment"].notna() & ~mature["disputed"]]
    relative = paid["amount"] / paid.groupby("customer_id")["amount"].transform(
        "median"
    )
    big = paid.loc[relative > 2, "days_late"].mean()
    small = paid.loc[relative < 0.5, "days_late"].mean()
    assert big > small


# ------------------------------------------------------------------- writing


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_sample_writes_every_table_and_a_readme(tmp_path, fmt: str) -> None:
    summary = write_sample(tmp_path / "ledger", fmt=fmt, customers=30, invoices=500)
    json.dumps(summary)  # the CLI prints it as JSON
    assert set(summary["paths"]) == set(COLUMNS)
    for name, path in summary["paths"].items():
        assert path.endswith(f"{name}.{fmt}")
    assert summary["rows"]["invoices"] == 500
    assert summary["seed"] == 0
    assert summary["totals"]["invoices"]["EUR"] > 0
    readme = (tmp_path / "ledger" / "README.md").read_text(encoding="utf-8")
    for values in summary["data_quality_issues"].values():
        assert values
        for value in values:
            assert value in readme

    if fmt == "csv":
        inv = pd.read_csv(summary["paths"]["invoices"], dtype=str)
    else:
        inv = pd.read_parquet(summary["paths"]["invoices"])
    assert len(inv) == 500
    assert list(inv.columns) == COLUMNS["invoices"]


def test_csv_has_iso_dates_and_text_ids(tmp_path) -> None:
    summary = write_sample(tmp_path, customers=20, invoices=300, seed=5)
    text = (tmp_path / "activities.csv").read_text(encoding="utf-8")
    header, first = text.splitlines()[:2]
    assert header.split(",") == COLUMNS["activities"]
    assert re.search(r",\d{4}-\d{2}-\d{2},", first)
    pay = pd.read_csv(summary["paths"]["payments"], dtype=str)
    assert pay["payment_id"].str.fullmatch(r"PAY-\d{7}").all()
    assert pay["payment_date"].str.fullmatch(r"\d{4}-\d{2}-\d{2}").all()
    back = generate_sample(customers=20, invoices=300, seed=5)["payments"]
    assert np.allclose(pay["amount"].astype(float), back["amount"])


def test_readme_says_when_no_problems_were_planted(tmp_path) -> None:
    summary = write_sample(
        tmp_path, customers=10, invoices=200, seed=2, data_quality_issues=False
    )
    assert not any(summary["data_quality_issues"].values())
    readme = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert "data_quality_issues=False" in readme
    assert "seed 2" in readme


def test_write_sample_rejects_unknown_format(tmp_path) -> None:
    with pytest.raises(ConfigError, match="fmt must be 'csv' or 'parquet'"):
        write_sample(tmp_path, fmt="xlsx")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"invoices": 0}, "invoices must be a whole number >= 1"),
        ({"customers": 2.5}, "customers must be a whole number >= 1"),
        ({"seed": None}, "seed must be a whole number >= 0"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"start": "2024-13-01"}, "must be ISO dates"),
        ({"start": "2025-01-01", "end": "2024-12-31"}, "must be after start"),
        ({"currency": "eur"}, "Did you mean 'EUR'"),
    ],
    ids=[
        "no-invoices",
        "fractional-customers",
        "no-seed",
        "negative-seed",
        "bad-date",
        "reversed",
        "currency",
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        generate_sample(**kwargs)


# ------------------------------------------------------------ ledger loading


def test_sample_loads_with_only_the_planted_warnings(book, issues) -> None:
    ledger_mod = pytest.importorskip("arforecast.ledger")
    try:
        ledger = ledger_mod.Ledger.from_frames(**book)
    except ImportError as exc:  # ledger present, schema validation not yet
        pytest.skip(f"ledger validation unavailable: {exc}")
    quality = ledger.quality
    assert not quality.fatal
    assert not quality.set_aside
    codes = {f.code for f in quality.warnings}
    assert codes == {
        "zero_amount",
        "unknown_invoice",
        "payment_before_invoice",
        "overpayment",
    }
    assert ledger.currency == "EUR"

    credit = ledger.unapplied_credit(END)
    sources = credit.groupby("source").size()
    assert sources["overpayment"] == len(issues["overpayment"])
    assert sources.sum() == len(issues["overpayment"]) + len(issues["unknown_invoice"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_written_sample_loads_with_only_the_planted_warnings(tmp_path, fmt) -> None:
    io = pytest.importorskip("arforecast.io")
    summary = write_sample(tmp_path, fmt=fmt, customers=40, invoices=1_500, seed=9)
    ledger = io.load_ledger(tmp_path)
    assert not ledger.quality.fatal
    assert not ledger.quality.set_aside
    codes = {f.code for f in ledger.quality.warnings}
    assert codes == {
        "zero_amount",
        "unknown_invoice",
        "payment_before_invoice",
        "overpayment",
    }
    assert len(ledger.invoices) == summary["rows"]["invoices"]
    assert len(ledger.payments) == summary["rows"]["payments"]
    assert ledger.invoices["amount"].sum() == pytest.approx(
        sum(summary["totals"]["invoices"].values())
    )
    names = ledger.customers.set_index("customer_id")["name"]
    assert names["C00001"] == SPECIAL_NAME
