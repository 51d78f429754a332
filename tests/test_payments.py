"""Tests for arforecast.payments: the hazard model, its contract and calibration."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from arforecast import features as feat
from arforecast.exceptions import ModelError
from arforecast.ledger import Ledger
from arforecast.payments import PaymentModel, fit_payment_model, training_snapshots

START = pd.Timestamp("2022-01-03")


def simulate_ledger(
    *,
    customers: int = 120,
    invoices: int = 6000,
    days: int = 720,
    on_time: tuple[float, ...] = (0.2, 0.55, 0.9),
    dispute_rate: float = 0.15,
    seed: int = 0,
) -> tuple[Ledger, pd.Series]:
    """A ledger whose P(paid by due date) per invoice is known by construction.

    Each customer pays on time with probability ``on_time[type]`` (a quarter of
    that for a disputed invoice); on time means 5..30 days after the 30-day-terms
    invoice, late means 1 + geometric(mean 15) days after the due date. Payments
    after the extraction date (``days + 30`` days after START) are unknown.
    """
    rng = np.random.default_rng(seed)
    cust_p = rng.choice(np.asarray(on_time), size=customers)
    cust = rng.integers(0, customers, size=invoices)
    inv_day = np.sort(rng.integers(0, days, size=invoices))
    disputed = rng.random(invoices) < dispute_rate
    p_true = np.where(disputed, 0.25, 1.0) * cust_p[cust]
    paid_on_time = rng.random(invoices) < p_true
    dtp = np.where(
        paid_on_time,
        rng.integers(5, 31, size=invoices),
        30 + rng.geometric(1 / 15, size=invoices),
    )
    ids = [f"I{i:05d}" for i in range(invoices)]
    invoice_date = START + pd.to_timedelta(inv_day, unit="D")
    inv = pd.DataFrame(
        {
            "invoice_id": ids,
            "customer_id": [f"C{c:03d}" for c in cust],
            "invoice_date": invoice_date,
            "due_date": invoice_date + pd.Timedelta(days=30),
            "amount": np.round(rng.uniform(50, 500, size=invoices), 2),
            "currency": "EUR",
            "disputed": disputed,
        }
    )
    pay_date = invoice_date + pd.to_timedelta(dtp, unit="D")
    known = pay_date <= START + pd.Timedelta(days=days + 30)
    pay = pd.DataFrame(
        {
            "invoice_id": np.asarray(ids)[known],
            "payment_date": pay_date[known],
            "amount": inv["amount"].to_numpy()[known],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        led = Ledger.from_frames(inv, pay, currency="EUR")
    return led, pd.Series(p_true, index=ids, name="p_true")


@pytest.fixture(scope="module")
def simulated():
    return simulate_ledger()


@pytest.fixture(scope="module")
def issue_fit(simulated):
    """At-issue model fitted before the cutoff, and the held-out invoices after it."""
    led, p_true = simulated
    cutoff = START + pd.Timedelta(days=450)
    model = fit_payment_model(led, cutoff, horizons=(30, 60), mode="issue")
    test = feat.build_issue_snapshots(led, horizons=(30, 60))
    test = test[(test["invoice_date"] >= cutoff) & test["paid_by_due"].notna()]
    return model, test, p_true.loc[test["invoice_id"]].to_numpy(), cutoff


@pytest.fixture(scope="module")
def open_model(simulated):
    led, _ = simulated
    return fit_payment_model(led, START + pd.Timedelta(days=400), horizons=(7, 30))


def test_calibrated_model_matches_observed_rates_per_decile(issue_fit):
    model, test, _, _ = issue_fit
    p = model.predict_proba(test)[:, 0]
    y = test["paid_by_due"].to_numpy()
    deciles = pd.qcut(p, 10, labels=False, duplicates="drop")
    table = pd.DataFrame({"p": p, "y": y, "d": deciles}).groupby("d").mean()
    # tolerance: 0.05 per decile on ~250 held-out invoices each (2 s.e. ~ 0.06)
    assert (table["p"] - table["y"]).abs().mean() < 0.05


def test_model_recovers_the_true_probabilities(issue_fit):
    model, test, p_true, _ = issue_fit
    p = model.predict_proba(test)[:, 0]
    # tolerance: customers are known from ~30 due invoices (s.e. of a share ~0.09)
    assert np.mean(np.abs(p - p_true)) < 0.1
    assert np.corrcoef(p, p_true)[0, 1] > 0.9


def test_model_beats_both_baselines_on_brier(issue_fit, simulated):
    model, test, _, cutoff = issue_fit
    led, _ = simulated
    y = test["paid_by_due"].to_numpy()
    p = model.predict_proba(test)[:, 0]
    train = training_snapshots(led, cutoff, horizons=(30, 60), mode="issue")
    overall = train["paid_by_due"].mean()
    rate = train.groupby("customer_id")["paid_by_due"].agg(["sum", "count"])
    cust = ((rate["sum"] + 10 * overall) / (rate["count"] + 10)).reindex(
        test["customer_id"]
    )
    p_cust = cust.fillna(overall).to_numpy()
    brier = np.mean((p - y) ** 2)
    assert brier < np.mean((overall - y) ** 2)  # aging bucket: all current at issue
    assert brier < np.mean((p_cust - y) ** 2)


def test_rare_late_payments_do_not_bias_the_mean_prediction():
    led, _ = simulate_ledger(on_time=(0.95,), dispute_rate=0.0, seed=5)
    cutoff = START + pd.Timedelta(days=450)
    model = fit_payment_model(led, cutoff, horizons=(30,), mode="issue")
    test = feat.build_issue_snapshots(led, horizons=(30,))
    test = test[(test["invoice_date"] >= cutoff) & test["paid_by_due"].notna()]
    observed = test["paid_by_due"].mean()
    assert 0.93 < observed < 0.97
    # tolerance 0.02 on ~2,000 held-out invoices (s.e. of the rate ~ 0.005)
    assert abs(model.predict_proba(test)[:, 0].mean() - observed) < 0.02


def _random_frame(model: PaymentModel, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    scale = rng.choice([1.0, 10.0, 1000.0], size=(n, len(model.feature_names_)))
    values = rng.normal(size=(n, len(model.feature_names_))) * scale
    values[rng.random(values.shape) < 0.1] = np.nan
    frame = pd.DataFrame(values, columns=model.feature_names_)
    frame["snapshot_date"] = pd.Timestamp("2024-01-01")
    return frame


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["s0", "s1", "s2"])
def test_probabilities_are_monotone_and_bounded_on_random_inputs(open_model, seed):
    frame = _random_frame(open_model, 500, seed)
    proba = open_model.predict_proba(frame)
    assert proba.shape == (500, 2)
    assert np.all((proba >= 0) & (proba <= 1))
    assert np.all(np.diff(proba, axis=1) >= 0)
    cum = open_model.predict_cumulative(frame)
    assert np.all(np.diff(cum, axis=1) >= -1e-12)


def test_timing_rows_are_distributions(open_model):
    frame = _random_frame(open_model, 200, 3)
    timing = open_model.predict_timing(frame, weeks=13)
    assert timing.shape == (200, 14)
    assert np.all(timing >= -1e-12)
    np.testing.assert_allclose(timing.sum(axis=1), 1.0)
    cum4 = open_model.predict_paid_within(frame, 28.0)
    np.testing.assert_allclose(timing[:, :4].sum(axis=1), cum4)


def test_timing_beyond_the_fitted_weeks_is_refused(open_model):
    frame = _random_frame(open_model, 5, 4)
    with pytest.raises(ModelError, match="weeks must be between 1 and 13"):
        open_model.predict_timing(frame, weeks=20)


def test_expected_payment_date_is_after_the_snapshot(open_model, simulated):
    led, _ = simulated
    snaps = feat.build_snapshots(led, ["2023-06-04"], horizons=(7, 30))
    for statistic in ("median", "mean"):
        dates = open_model.expected_payment_date(snaps, statistic=statistic)
        days = (dates - snaps["snapshot_date"]).dt.days
        assert days.between(0, open_model.bounds_[-1]).all()


def test_training_rows_never_see_past_the_cutoff(simulated):
    led, _ = simulated
    cutoff = START + pd.Timedelta(days=300)
    train = training_snapshots(led, cutoff, horizons=(7, 30, 90))
    assert (train["label_end_90"] <= cutoff).all()
    paid = train["days_to_pay"].notna()
    pay_date = train["snapshot_date"] + pd.to_timedelta(train["days_to_pay"], "D")
    assert (pay_date[paid] <= cutoff).all()
    # the same rows and values on a ledger cut at the cutoff: nothing after it leaks
    inv = led.invoices[led.invoices["invoice_date"] <= cutoff]
    pay = led.payments[led.payments["payment_date"] <= cutoff]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cut = Ledger.from_frames(
            inv[["invoice_id", "customer_id", "invoice_date", "due_date", "amount"]],
            pay[["invoice_id", "payment_date", "amount"]],
            currency="EUR",
        )
    train_cut = training_snapshots(cut, cutoff, horizons=(7, 30, 90))
    cols = ["invoice_id", "snapshot_date", "days_to_pay", "paid_within_90"]
    cols += [c for c in feat.FEATURE_COLUMNS if c != "in_dispute"]
    pd.testing.assert_frame_equal(train[cols], train_cut[cols])


def test_fit_before_any_complete_outcome_window_raises(simulated):
    led, _ = simulated
    with pytest.raises(ModelError, match="complete 90-day outcome window"):
        fit_payment_model(led, START + pd.Timedelta(days=60), horizons=(7, 90))


def test_save_and_load_round_trip_gives_identical_predictions(open_model, tmp_path):
    frame = _random_frame(open_model, 50, 6)
    path = open_model.save(tmp_path / "model.joblib")
    loaded = PaymentModel.load(path)
    np.testing.assert_array_equal(
        loaded.predict_proba(frame), open_model.predict_proba(frame)
    )
    meta = loaded.metadata_
    assert (
        meta["training_cutoff"] == (START + pd.Timedelta(days=400)).date().isoformat()
    )
    assert meta["feature_names"] == open_model.feature_names_
    assert meta["arforecast_version"] and meta["sklearn_version"]
    assert meta["metrics"]["n_payments"] > 0


def test_load_rejects_other_files(tmp_path):
    import joblib

    joblib.dump({"model": 1}, tmp_path / "x.joblib")
    with pytest.raises(ModelError, match="does not hold a PaymentModel"):
        PaymentModel.load(tmp_path / "x.joblib")


def test_estimator_contract_clone_and_unfitted_error():
    model = PaymentModel(horizons=(7, 30), C=0.5, random_state=3)
    twin = clone(model)
    assert twin.get_params() == model.get_params()
    assert not hasattr(twin, "logit_")
    frame = pd.DataFrame({"age_days": [1.0], "snapshot_date": [START]})
    with pytest.raises(NotFittedError, match="not fitted yet"):
        model.predict_proba(frame)


def test_fit_returns_self_and_sets_trailing_underscore_attributes(simulated):
    led, _ = simulated
    train = training_snapshots(led, START + pd.Timedelta(days=300), horizons=(7, 30))
    model = PaymentModel(horizons=(30, 7), max_snapshots=3000)
    assert model.fit(train) is model
    assert list(model.horizons_) == [7, 30]
    assert model.feature_names_ == feat.feature_columns(train)
    assert model.training_cutoff_ <= START + pd.Timedelta(days=300)


def test_fit_is_deterministic_for_a_seed(simulated):
    led, _ = simulated
    train = training_snapshots(led, START + pd.Timedelta(days=300), horizons=(7, 30))
    a = PaymentModel(horizons=(7, 30), max_snapshots=2000, random_state=1).fit(train)
    b = PaymentModel(horizons=(7, 30), max_snapshots=2000, random_state=1).fit(train)
    np.testing.assert_array_equal(a.predict_proba(train), b.predict_proba(train))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"calibration": "sigmoid"}, "calibration must be one of"),
        ({"calibration_fraction": 1.5}, "calibration_fraction must be in"),
        ({"timing_weeks": 0}, "timing_weeks must be"),
    ],
    ids=["calibration", "fraction", "weeks"],
)
def test_invalid_parameters_are_rejected_at_fit(simulated, params, message):
    led, _ = simulated
    train = training_snapshots(led, START + pd.Timedelta(days=300), horizons=(7, 30))
    with pytest.raises(ValueError, match=message):
        PaymentModel(**params).fit(train)


def test_isotonic_calibration_keeps_probabilities_monotone(simulated):
    led, _ = simulated
    train = training_snapshots(led, START + pd.Timedelta(days=400), horizons=(7, 30))
    model = PaymentModel(horizons=(7, 30), calibration="isotonic").fit(train)
    assert model.metrics_["calibration"]["method"] == "isotonic"
    proba = model.predict_proba(_random_frame(model, 300, 7))
    assert np.all(np.diff(proba, axis=1) >= 0)
    assert np.all((proba >= 0) & (proba <= 1))


def test_missing_feature_columns_are_named(open_model):
    with pytest.raises(ModelError, match="lacks the feature columns"):
        open_model.predict_proba(pd.DataFrame({"snapshot_date": [START]}))


def test_sampled_training_rows_are_a_seeded_subset_in_date_order(simulated):
    led, _ = simulated
    cutoff = START + pd.Timedelta(days=400)
    full = training_snapshots(led, cutoff, horizons=(7, 30))

    sample = training_snapshots(led, cutoff, horizons=(7, 30), max_rows=500)
    again = training_snapshots(led, cutoff, horizons=(7, 30), max_rows=500)

    assert len(full) > 500 and len(sample) == 500
    pd.testing.assert_frame_equal(sample, again)
    assert sample["snapshot_date"].is_monotonic_increasing
    keys = ["snapshot_date", "invoice_id"]
    merged = sample.merge(full, on=keys, suffixes=("", "_full"))
    assert len(merged) == 500  # every sampled row is a row of the full set
    for col in feat.feature_columns(full):  # features do not depend on the sample
        np.testing.assert_allclose(merged[col], merged[f"{col}_full"], err_msg=col)
    # spread over the whole history, not only its start or end
    assert sample["snapshot_date"].min() < full["snapshot_date"].quantile(0.2)
    assert sample["snapshot_date"].max() > full["snapshot_date"].quantile(0.8)
