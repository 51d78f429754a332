"""Tests for arforecast.features: snapshot features, labels and the as-of rule."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from arforecast import features as feat
from arforecast.exceptions import DataError
from arforecast.ledger import Ledger
from arforecast.sample import generate_sample


def _ledger(tables: dict[str, pd.DataFrame]) -> Ledger:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Ledger.from_frames(**tables, currency="EUR")


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pd.DataFrame]:
    return generate_sample(customers=40, invoices=1500, seed=3, end="2025-06-30")


@pytest.fixture(scope="module")
def sample_ledger(sample_tables) -> Ledger:
    return _ledger(sample_tables)


def _small_tables() -> dict[str, pd.DataFrame]:
    """Two customers; C1 has a paid history, an open invoice with events."""
    invoices = pd.DataFrame(
        {
            "invoice_id": ["A1", "A2", "A3", "B1"],
            "customer_id": ["C1", "C1", "C1", "C2"],
            "invoice_date": ["2024-01-01", "2024-02-01", "2024-03-01", "2024-03-01"],
            "due_date": ["2024-01-31", "2024-03-02", "2024-03-31", "2024-03-31"],
            "amount": [100.0, 200.0, 400.0, 50.0],
            "currency": "EUR",
        }
    )
    payments = pd.DataFrame(
        {
            "invoice_id": ["A1", "A2", "A3", "A3"],
            "payment_date": ["2024-02-10", "2024-03-01", "2024-03-20", "2024-04-20"],
            "amount": [100.0, 200.0, 100.0, 300.0],
        }
    )
    activities = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C1", "C1"],
            "date": ["2024-03-05", "2024-03-25", "2024-04-10", "2024-03-26"],
            "kind": ["call", "dispute_opened", "dispute_resolved", "promise_to_pay"],
            "invoice_id": [None, "A3", "A3", "A3"],
            "promised_date": [None, None, None, "2024-04-15"],
            "promised_amount": [None, None, None, 300.0],
        }
    )
    return {"invoices": invoices, "payments": payments, "activities": activities}


def test_snapshot_features_follow_the_events_known_at_the_snapshot():
    led = _ledger(_small_tables())
    snap = feat.build_snapshots(led, ["2024-03-28"], horizons=(7, 30))
    a3 = snap.set_index("invoice_id").loc["A3"]

    assert set(snap["invoice_id"]) == {"A3", "B1"}
    assert a3["age_days"] == 27
    assert a3["days_past_due"] == -3
    assert a3["balance"] == pytest.approx(300.0)
    assert a3["share_paid"] == pytest.approx(0.25)
    # history of C1: A1 paid 10 days late, A2 paid before due
    assert a3["cust_n_paid"] == 2
    assert a3["cust_late_share"] == pytest.approx(0.5)
    assert a3["cust_mean_days_late"] == pytest.approx(5.0)
    assert a3["cust_mean_days_to_pay"] == pytest.approx((40 + 29) / 2)
    assert a3["cust_open_count"] == 1
    assert a3["in_dispute"] == 1.0
    assert a3["promise_open"] == 1.0
    assert a3["days_since_contact"] == 2  # the promise on 26 March
    # paid in full on 20 April: 23 days after the snapshot
    assert a3["days_to_pay"] == 23
    assert a3["paid_within_7"] == 0.0
    assert a3["paid_within_30"] == 1.0
    assert a3["label_end_30"] == pd.Timestamp("2024-04-27")


def test_dispute_resolution_closes_the_dispute_after_its_date():
    led = _ledger(_small_tables())
    snap = feat.build_snapshots(led, ["2024-04-12"]).set_index("invoice_id")
    assert snap.loc["A3", "in_dispute"] == 0.0
    assert snap.loc["A3", "promise_open"] == 1.0  # 15 April + 3 grace days


def test_unpaid_invoice_labels_are_censored_at_the_data_end():
    led = _ledger(_small_tables())
    snap = feat.build_snapshots(led, ["2024-04-12"], horizons=(7, 30))
    b1 = snap.set_index("invoice_id").loc["B1"]
    # data end is 20 April: 7 days observed (not paid), 30 days not observed
    assert np.isnan(b1["days_to_pay"])
    assert b1["paid_within_7"] == 0.0
    assert np.isnan(b1["paid_within_30"])
    assert b1["observed_days"] == 8


def test_label_as_of_censors_outcomes_after_it():
    led = _ledger(_small_tables())
    snap = feat.build_snapshots(
        led, ["2024-03-28"], horizons=(7, 30), label_as_of="2024-04-10"
    )
    a3 = snap.set_index("invoice_id").loc["A3"]
    assert np.isnan(a3["days_to_pay"])
    assert a3["paid_within_7"] == 0.0
    assert np.isnan(a3["paid_within_30"])


def test_open_rows_and_balances_match_the_ledger_open_items(sample_ledger):
    dates = pd.date_range("2024-03-03", "2025-06-01", freq="10W")
    snap = feat.build_snapshots(sample_ledger, dates)
    for date in dates:
        items = sample_ledger.open_items(date).set_index("invoice_id")
        rows = snap[snap["snapshot_date"] == date].set_index("invoice_id")
        assert set(rows.index) == set(items.index)
        rows = rows.loc[items.index]
        np.testing.assert_allclose(rows["balance_rc"], items["balance_rc"], rtol=1e-9)
        np.testing.assert_array_equal(rows["days_past_due"], items["days_past_due"])
        np.testing.assert_array_equal(
            rows["in_dispute"].astype(bool), items["in_dispute"].astype(bool)
        )


def _with_future_events(tables, snapshot: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """Add outcome-revealing events dated after ``snapshot`` for open invoices."""
    led = _ledger(tables)
    items = led.open_items(snapshot)
    later = snapshot + pd.Timedelta(days=1)
    inv = tables["invoices"]
    pay = tables["payments"]
    act = tables["activities"]
    new_pay = pd.DataFrame(
        {
            "invoice_id": items["invoice_id"],
            "payment_date": later,
            "amount": items["balance"],
            "payment_id": "FUT-" + items["invoice_id"].astype(str),
            "currency": items["currency"],
        }
    )
    new_act = pd.DataFrame(
        {
            "customer_id": items["customer_id"],
            "date": later,
            "kind": "dispute_resolved",
            "invoice_id": items["invoice_id"],
        }
    )
    contact = new_act.assign(kind="call", invoice_id=None)
    # a new invoice of the same customer, dated after the snapshot, paid very late
    first = items.iloc[0]
    new_inv = (
        inv.iloc[:0]
        .reindex(range(1))
        .assign(
            invoice_id="FUT-INV",
            customer_id=first["customer_id"],
            invoice_date=later,
            due_date=later + pd.Timedelta(days=5),
            amount=123.0,
            currency=first["currency"],
            portfolio=inv.loc[
                inv["customer_id"] == first["customer_id"], "portfolio"
            ].iloc[0],
            disputed=False,
        )
    )
    late_pay = pd.DataFrame(
        {
            "invoice_id": ["FUT-INV"],
            "payment_date": [later + pd.Timedelta(days=2)],
            "amount": [123.0],
            "payment_id": ["FUT-PAY"],
            "currency": [first["currency"]],
        }
    )
    out = dict(tables)
    out["invoices"] = pd.concat([inv, new_inv], ignore_index=True)
    out["payments"] = pd.concat([pay, new_pay, late_pay], ignore_index=True)
    out["activities"] = pd.concat([act, new_act, contact], ignore_index=True)
    return out


def test_events_after_the_snapshot_do_not_change_its_features(sample_tables):
    snapshot = pd.Timestamp("2024-11-03")
    base = feat.build_snapshots(_ledger(sample_tables), [snapshot])
    planted = feat.build_snapshots(
        _ledger(_with_future_events(sample_tables, snapshot)), [snapshot]
    )
    cols = ["invoice_id", "balance", *feat.FEATURE_COLUMNS]
    pd.testing.assert_frame_equal(
        base[cols].reset_index(drop=True), planted[cols].reset_index(drop=True)
    )
    # while the labels do see them: everything is paid the next day
    assert (planted["days_to_pay"] == 1).all()


def test_issue_snapshots_ignore_same_day_events():
    tables = _small_tables()
    tables["payments"] = pd.concat(
        [
            tables["payments"],
            pd.DataFrame(
                {"invoice_id": ["B1"], "payment_date": ["2024-03-01"], "amount": [50.0]}
            ),
        ],
        ignore_index=True,
    )
    issue = feat.build_issue_snapshots(_ledger(tables), horizons=(7, 30))
    b1 = issue.set_index("invoice_id").loc["B1"]
    assert b1["share_paid"] == 0.0
    assert b1["balance"] == 50.0
    assert b1["days_to_pay"] == 0
    assert b1["paid_by_due"] == 1.0
    a3 = issue.set_index("invoice_id").loc["A3"]
    # A2 was paid on A3's invoice date: not yet in A3's history at issue
    assert a3["cust_n_paid"] == 1
    assert a3["paid_by_due"] == 0.0  # due 31 March, paid in full on 20 April
    assert a3["days_to_pay"] == 50


def test_extra_features_accept_numeric_columns_and_text_flags():
    tables = _small_tables()
    tables["invoices"] = tables["invoices"].assign(
        weight=[1.0, 2.0, 3.0, 4.0], bill=["Paper", "Electronic", "Electronic", "Paper"]
    )
    led = _ledger(tables)
    snap = feat.build_snapshots(
        led,
        ["2024-03-28"],
        extra_features={"weight": "weight", "is_electronic": ("bill", "Electronic")},
    ).set_index("invoice_id")
    assert snap.loc["A3", "extra_weight"] == 3.0
    assert snap.loc["A3", "extra_is_electronic"] == 1.0
    assert snap.loc["B1", "extra_is_electronic"] == 0.0
    assert "extra_weight" in feat.feature_columns(snap)


def test_text_extra_feature_without_a_value_is_rejected():
    tables = _small_tables()
    tables["invoices"] = tables["invoices"].assign(bill="Paper")
    with pytest.raises(DataError, match="not numeric or boolean"):
        feat.build_snapshots(_ledger(tables), ["2024-03-28"], extra_features=["bill"])


def test_unknown_extra_feature_column_lists_the_available_ones():
    with pytest.raises(DataError, match="available columns"):
        feat.build_snapshots(
            _ledger(_small_tables()), ["2024-03-28"], extra_features=["nope"]
        )


@pytest.mark.parametrize("horizons", [(), (0, 7), (-3,)], ids=["empty", "zero", "neg"])
def test_horizons_must_be_positive(horizons):
    with pytest.raises(ValueError, match="horizons must be positive"):
        feat.build_snapshots(
            _ledger(_small_tables()), ["2024-03-28"], horizons=horizons
        )


def test_probability_labels_never_decrease_with_the_horizon(sample_ledger):
    snap = feat.build_snapshots(
        sample_ledger, feat.snapshot_dates("2024-02-01", "2025-06-30", "MS")
    )
    labels = snap[[f"paid_within_{h}" for h in feat.DEFAULT_HORIZONS]].to_numpy()
    observed = ~np.isnan(labels).any(axis=1)
    assert observed.sum() > 100
    assert (np.diff(labels[observed], axis=1) >= 0).all()


def test_snapshot_dates_are_regular_and_inclusive():
    dates = feat.snapshot_dates("2024-01-01", "2024-03-01", "MS")
    assert list(dates) == list(
        pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])
    )
    assert len(feat.snapshot_dates("2024-02-01", "2024-01-01")) == 0
