"""Tests for arforecast.backtest: metrics, fold averaging, time order, output shape."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from arforecast.backtest import (
    _average,
    backtest_payments,
    backtest_tables,
    backtest_verdicts,
    metrics_for,
    reliability_table,
    run_backtest,
)
from arforecast.io import load_ledger
from arforecast.ledger import Ledger
from test_payments import simulate_ledger

INVOICE_COLUMNS = [
    "invoice_id",
    "customer_id",
    "invoice_date",
    "due_date",
    "amount",
    "disputed",
]
PAYMENT_COLUMNS = ["invoice_id", "payment_date", "amount"]


@pytest.fixture(scope="module")
def simulated_result():
    led, _ = simulate_ledger(customers=80, invoices=2500, days=540, seed=3)
    # a smaller training subsample keeps the test fast; the metrics still separate
    return backtest_payments(led, horizons=(7, 30), n_folds=2, max_snapshots=5000)


def test_single_class_fold_reports_auc_as_missing_with_the_reason():
    out = metrics_for(np.ones(40), np.linspace(0.1, 0.9, 40))

    assert out["auc"] is None
    assert out["auc_missing"] == "only one class in the test rows (all paid)"
    assert out["brier"] == pytest.approx(np.mean((np.linspace(0.1, 0.9, 40) - 1) ** 2))


def test_fold_average_skips_missing_auc_instead_of_counting_it_as_zero():
    folds = [
        {"auc": 0.8, "brier": 0.1, "log_loss": 0.3, "n": 10},
        {"auc": None, "brier": 0.3, "log_loss": 0.5, "n": 5},
    ]

    out = _average(folds)

    assert out["auc"] == pytest.approx(0.8)
    assert out["brier"] == pytest.approx(0.2)
    assert out["folds_with_auc"] == 1 and out["n"] == 15


def test_no_fold_with_both_classes_gives_a_missing_auc_with_reason():
    out = _average([{"auc": None, "brier": 0.0, "log_loss": 0.0, "n": 3}])

    assert out["auc"] is None and out["auc_missing"] == "no fold had both classes"


def test_reliability_bins_count_every_row_once():
    p = np.array([0.0, 0.05, 0.1, 0.55, 0.99, 1.0])
    table = reliability_table(np.array([0, 0, 1, 1, 1, 1]), p, n_bins=10)

    assert sum(row["count"] for row in table) == len(p)
    assert table[0]["count"] == 2 and table[9]["count"] == 2
    assert table[3]["mean_predicted"] is None  # empty bins stay missing, not 0


def test_folds_are_time_ordered_and_test_after_their_cutoff(simulated_result):
    folds = simulated_result["folds"]
    cutoffs = [pd.Timestamp(f["cutoff"]) for f in folds]

    assert cutoffs == sorted(cutoffs) and len(set(cutoffs)) == len(cutoffs)
    for fold, nxt in zip(folds, folds[1:], strict=False):
        assert pd.Timestamp(fold["test_start"]) >= pd.Timestamp(fold["cutoff"])
        assert pd.Timestamp(fold["test_end"]) < pd.Timestamp(nxt["test_start"])
    assert [f["n_train"] for f in folds] == sorted(f["n_train"] for f in folds)


def test_model_beats_both_baselines_on_auc_and_brier(simulated_result):
    for h in ("7", "30"):
        entry = simulated_result["horizons"][h]
        for name, base in entry["baselines"].items():
            assert entry["model"]["auc"] > base["auc"], (h, name)
            assert entry["model"]["brier"] < base["brier"], (h, name)
    issue = simulated_result["at_issue"]["paid_by_due"]
    for base in issue["baselines"].values():
        assert issue["model"]["brier"] < base["brier"]


def test_result_is_strict_json_with_the_documented_keys(simulated_result):
    text = json.dumps(simulated_result, allow_nan=False)
    back = json.loads(text)

    assert set(back["horizons"]) == {"7", "30"}
    entry = back["horizons"]["30"]
    assert set(entry["baselines"]) == {"aging_bucket", "customer_history"}
    assert {"auc", "brier", "log_loss", "n"} <= set(entry["model"])
    assert {"mae_days", "n"} <= set(back["pay_date"]["model"])
    assert "due_plus_add" in back["pay_date"]


def test_tables_name_every_target_and_forecaster(simulated_result):
    tables = backtest_tables({"payment": simulated_result, "cash": None})

    pay = tables["payment"]
    assert set(pay["target"]) == {
        "paid within 7 days",
        "paid within 30 days",
        "paid by due date (at issue)",
    }
    assert set(pay["forecaster"]) == {"model", "aging_bucket", "customer_history"}
    assert list(tables["pay_date"]["forecaster"]) == ["model", "due_plus_add"]
    assert "cash" not in tables


@pytest.mark.realdata
def test_ibm_model_beats_both_baselines_and_the_trailing_mean(ibm_csv):
    ledger = load_ledger(ibm_csv, "ibm_late_payments")

    result = run_backtest(ledger, horizons=(7, 30))

    pay = result["payment"]
    for h in ("7", "30"):
        model = pay["horizons"][h]["model"]
        for base in pay["horizons"][h]["baselines"].values():
            assert model["auc"] > base["auc"] and model["brier"] < base["brier"]
    issue = pay["at_issue"]["paid_by_due"]
    assert issue["model"]["auc"] > 0.88  # "paid by due date" at issue
    weekly = result["cash"]["weekly"]
    for base in weekly["baselines"].values():
        assert weekly["combined"]["wape"] < base["wape"]


def test_backtest_ending_at_a_date_equals_the_backtest_of_the_data_cut_there():
    led, _ = simulate_ledger(customers=60, invoices=1500, days=420, seed=4)
    end = led.payments["payment_date"].sort_values().iloc[-200]  # a day with data
    cut = Ledger.from_frames(
        led.invoices.loc[led.invoices["invoice_date"] <= end, INVOICE_COLUMNS],
        led.payments.loc[led.payments["payment_date"] <= end, PAYMENT_COLUMNS],
        currency="EUR",
    )
    settings = dict(horizons=(7, 30), n_folds=2, at_issue=False, max_snapshots=3000)

    replay = backtest_payments(led, end=end, **settings)
    truth = backtest_payments(cut, **settings)

    assert replay["settings"]["data_end"] == end.date().isoformat()

    def forecasters(result, h):
        entry = result["horizons"][h]
        return {"model": entry["model"], **entry["baselines"]}

    for h in ("7", "30"):
        want = forecasters(truth, h)
        for name, got in forecasters(replay, h).items():
            # equal up to float summation order (cumulative sums over other rows)
            for key in ("auc", "brier", "log_loss", "n"):
                assert got[key] == pytest.approx(want[name][key], rel=1e-9), (h, key)
    assert replay["pay_date"] == truth["pay_date"]


def test_verdicts_say_plainly_where_the_model_loses():
    good = {"auc": 0.9, "brier": 0.1}
    result = {
        "payment": {
            "horizons": {
                "7": {"model": good, "baselines": {"a": {"auc": 0.6, "brier": 0.2}}},
                "90": {
                    "model": {"auc": None, "brier": 1e-6},
                    "baselines": {"a": {"auc": None, "brier": 0.0}},
                },
            },
            "pay_date": {
                "model": {"mae_days": 10.9},
                "due_plus_add": {"mae_days": 10.5},
            },
        },
        "cash": {
            "weekly": {
                "combined": {"wape": 0.15},
                "baselines": {"trailing_mean": {"wape": 0.16}},
            }
        },
    }

    lines = backtest_verdicts(result)

    assert lines == [
        "paid within 7 days: the model beats both baselines",
        "paid within 90 days: the model does NOT beat a",
        "payment date: model 10.9 days off on average, due date + days late 10.5 "
        "days (model NOT better)",
        "cash: the combined forecast beats every baseline on weekly WAPE",
    ]
