"""Tests of the cash-inflow forecast (arforecast.cashflow and its engine)."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from arforecast import cashflow
from arforecast._bottomup import (
    ALL,
    daily_actuals,
    empirical_timing,
    lag_profile,
    month_periods,
    period_sums,
    simulate_open,
    to_days,
    week_periods,
    weekly_history,
)
from arforecast._cash_engine import CashEngine
from arforecast._topdown import baseline_forecasts, fit_topdown, season_length_for
from arforecast.cashflow import backtest_cash, forecast_cash, track_record
from arforecast.exceptions import (
    ArforecastError,
    ArforecastWarning,
    ConfigError,
    DataError,
)
from arforecast.ledger import Ledger
from arforecast.sample import generate_sample

AS_OF = "2025-06-30"
WEEK_COLUMNS = ["week", "start", "end", "expected", "lo80", "hi80", "lo95", "hi95"]


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return generate_sample(customers=40, invoices=2500, seed=5)


@pytest.fixture(scope="module")
def ledger(tables) -> Ledger:
    return Ledger.from_frames(**tables)


@pytest.fixture(scope="module")
def forecast(ledger) -> cashflow.CashForecast:
    return forecast_cash(ledger, AS_OF, timing="empirical", n_sims=300)


def _scheduled_ledger() -> tuple[Ledger, pd.Timestamp, dict[str, pd.Timestamp]]:
    """Old open invoices, each paid in full on a known date after as_of."""
    rng = np.random.default_rng(11)
    n = 60
    as_of = pd.Timestamp("2024-09-30")
    issued = as_of - pd.to_timedelta(rng.integers(95, 200, n), unit="D")
    paid = as_of + pd.to_timedelta(rng.integers(1, 95, n), unit="D")
    ids = [f"I{i:03d}" for i in range(n)]
    inv = pd.DataFrame(
        {
            "invoice_id": ids,
            "customer_id": [f"C{i % 7}" for i in range(n)],
            "invoice_date": issued,
            "due_date": issued + pd.Timedelta(days=30),
            "amount": rng.uniform(100, 5000, n).round(2),
        }
    )
    pay = pd.DataFrame(
        {"invoice_id": ids, "payment_date": paid, "amount": inv["amount"]}
    )
    led = Ledger.from_frames(inv, pay, currency="EUR")
    return led, as_of, dict(zip(ids, paid, strict=True))


def _open_snapshots(ledger: Ledger, dates: list, **kw) -> pd.DataFrame:
    """Stand-in snapshot builder: the open items with their snapshot date."""
    items = ledger.open_items(dates[0])
    return items.assign(snapshot_date=pd.Timestamp(dates[0]))


class _ScheduleModel:
    """Stand-in payment model: each invoice is paid for certain on its date."""

    def __init__(self, schedule: dict[str, pd.Timestamp]) -> None:
        self.schedule = schedule

    def predict_timing(self, snaps: pd.DataFrame, weeks: int = 13) -> np.ndarray:
        due = pd.to_datetime(snaps["invoice_id"].map(self.schedule))
        days = (due - pd.to_datetime(snaps["snapshot_date"])).dt.days.to_numpy()
        week = np.clip((days - 1) // 7, 0, weeks)
        out = np.zeros((len(snaps), weeks + 1))
        out[np.arange(len(snaps)), week] = 1.0
        return out


# ------------------------------------------------------------------ bottom-up
def test_bottom_up_with_certain_timing_equals_scheduled_receipts(monkeypatch):
    led, as_of, schedule = _scheduled_ledger()
    import arforecast.features as features
    import arforecast.payments as payments

    monkeypatch.setattr(
        payments,
        "fit_payment_model",
        lambda ledger, cutoff, **kw: _ScheduleModel(schedule),
    )
    monkeypatch.setattr(features, "build_snapshots", _open_snapshots)
    fc = forecast_cash(led, as_of, method="bottom_up", timing="model")

    receipts = led.receipts(as_of + pd.Timedelta(days=1))
    week = (receipts["payment_date"] - as_of).dt.days.sub(1).floordiv(7) + 1
    scheduled = receipts.groupby(week)["amount_rc"].sum()
    scheduled = scheduled.reindex(range(1, 14), fill_value=0.0).to_numpy()
    assert fc.model["bottom_up"]["timing"] == "model"
    np.testing.assert_allclose(fc.weekly["expected"], scheduled, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(fc.weekly["new_invoices"], 0.0, atol=1e-9)


def test_empirical_timing_rows_are_distributions():
    share = np.zeros(728)
    share[[10, 30, 45]] = [0.3, 0.4, 0.2]
    probs = empirical_timing(np.array([0, 5, 12, 31, 46, 900]), share, weeks=13)
    assert probs.shape == (6, 14)
    assert (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    # age 0: 0.3 in week 2 (lag 10), 0.4 in week 5 (lag 30), 0.2 in week 7
    np.testing.assert_allclose(probs[0, [1, 4, 6]], [0.3, 0.4, 0.2])
    # age 46 is past every payment lag: nothing more is expected
    assert probs[4, -1] == pytest.approx(1.0)


def test_lag_profile_is_censoring_aware(ledger):
    origin = int(to_days([pd.Timestamp(AS_OF)])[0])
    engine = CashEngine(ledger, timing="empirical")
    share = lag_profile(engine.book, origin, ALL)
    assert (share >= 0).all()
    assert np.cumsum(share)[-1] <= 1.0 + 1e-9
    # most of the amount is paid within the first 120 days
    assert share[:120].sum() > 0.8


def test_monte_carlo_interval_coverage_near_nominal():
    rng = np.random.default_rng(3)
    n, weeks, trials = 400, 6, 300
    balance = rng.uniform(100, 1000, n)
    timing = rng.dirichlet(np.ones(weeks + 1), size=n)
    sims = simulate_open(balance, timing, 2000, np.random.default_rng(4))
    lo80, hi80, lo95, hi95 = np.quantile(sims, [0.1, 0.9, 0.025, 0.975], axis=0)
    # simulated "actual" weeks drawn from the same distributions
    actual = simulate_open(balance, timing, trials, np.random.default_rng(5))
    cover80 = np.mean((actual >= lo80) & (actual <= hi80))
    cover95 = np.mean((actual >= lo95) & (actual <= hi95))
    # tolerance: ±10 points over 1,800 simulated weeks
    assert abs(cover80 - 0.80) < 0.10
    assert abs(cover95 - 0.95) < 0.05


# ------------------------------------------------------------------ top-down
@pytest.mark.parametrize(
    ("y", "season", "name", "reason"),
    [
        (
            [5.0, 7.0, 0.0, 6.0, 8.0, 5.5, 7.5, 6.5],
            12,
            "trailing_mean",
            "fewer than 10 points",
        ),
        ([0.0] * 30, 52, "zero", "all-zero"),
        ([42.0] * 20, None, "constant", "flat series"),
        (
            [10.0, 12, 9, 14, 30, 11, 10, 13, 12, 28, 9, 11, 12.5],
            12,
            "ets_",
            "needs 2 full seasons",
        ),
        ([0.0, 100, 0, 120, 0, 90, 0, 110, 0, 105, 0, 95], None, "ets_", "zeros"),
    ],
    ids=["8-monthly-with-zero", "all-zero", "flat", "13-points-seasonal", "zeros"],
)
def test_topdown_fallback_chain_never_fails(y, season, name, reason):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fc = fit_topdown(np.array(y), 6, season_length=season)
    assert fc.name.startswith(name)
    assert reason in fc.reason
    for arr in (fc.mean, fc.lo80, fc.hi80, fc.lo95, fc.hi95):
        assert arr.shape == (6,)
        assert np.isfinite(arr).all()
        assert (arr >= 0).all()


def test_topdown_uses_seasonal_model_with_two_full_seasons():
    rng = np.random.default_rng(0)
    months = np.arange(48)
    y = 1000 + 400 * np.sin(2 * np.pi * months / 12) + rng.normal(0, 20, 48)
    fc = fit_topdown(y, 12, season_length=12)
    assert fc.name == "ets_seasonal_additive"
    expected = 1000 + 400 * np.sin(2 * np.pi * np.arange(48, 60) / 12)
    assert np.abs(fc.mean - expected).mean() < 80


def test_topdown_interval_coverage_on_white_noise():
    rng = np.random.default_rng(8)
    y = rng.normal(500, 50, 300)
    fc = fit_topdown(y[:100], 200)
    future = y[100:]
    cover80 = np.mean((future >= fc.lo80) & (future <= fc.hi80))
    # tolerance: 80% ± 10 points over 200 simulated weeks
    assert abs(cover80 - 0.80) < 0.10


def test_baselines_and_season_length():
    y = np.arange(1.0, 71.0)
    assert season_length_for(70, 52) == 52
    assert season_length_for(30, 52) == 13
    assert season_length_for(10, 52) == 1
    base = baseline_forecasts(y, 3, 52)
    np.testing.assert_allclose(base["last_value"], [70, 70, 70])
    np.testing.assert_allclose(base["trailing_mean"], np.full(3, y[-13:].mean()))
    np.testing.assert_allclose(base["seasonal_naive"], [19, 20, 21])


# ------------------------------------------------------------------ buckets
def test_week_and_month_buckets_match_raw_receipts(ledger):
    engine = CashEngine(ledger, timing="empirical")
    origin = int(to_days([pd.Timestamp(AS_OF)])[0])
    as_of = pd.Timestamp(AS_OF)

    history = weekly_history(engine.book, origin, ALL)
    raw = ledger.receipts(as_of - pd.Timedelta(days=7 * 13 - 1), as_of)
    assert history[-13:].sum() == pytest.approx(raw["amount_rc"].sum())

    daily = daily_actuals(engine.book, origin, 120, ALL)
    weekly = period_sums(daily, week_periods(13))
    months = month_periods(origin, 3)
    monthly = period_sums(daily, months)
    raw13 = ledger.receipts(as_of + pd.Timedelta(days=1), as_of + pd.Timedelta(days=91))
    assert weekly.sum() == pytest.approx(raw13["amount_rc"].sum())
    for period, total in zip(months, monthly, strict=True):
        got = ledger.receipts(
            as_of + pd.Timedelta(days=period.first),
            as_of + pd.Timedelta(days=period.last),
        )
        assert total == pytest.approx(got["amount_rc"].sum())


def test_forecast_periods_are_contiguous_and_labelled(forecast):
    weekly, monthly = forecast.weekly, forecast.monthly
    as_of = pd.Timestamp(AS_OF)
    assert list(weekly.columns[:8]) == WEEK_COLUMNS
    assert {"bottom_up", "open_items", "new_invoices", "top_down"} <= set(weekly)
    assert weekly["start"].iloc[0] == as_of + pd.Timedelta(days=1)
    assert weekly["end"].iloc[0] == as_of + pd.Timedelta(days=7)
    assert (
        weekly["start"].iloc[1:].to_numpy()
        == weekly["end"].iloc[:-1].add(pd.Timedelta(days=1)).to_numpy()
    ).all()
    assert list(monthly["month"]) == ["2025-07", "2025-08", "2025-09"]
    assert monthly["end"].iloc[0] == pd.Timestamp("2025-07-31")


def test_forecast_is_never_negative_and_bounds_nest(forecast):
    for frame in (forecast.weekly, forecast.monthly):
        values = frame[["expected", "lo80", "hi80", "lo95", "hi95"]]
        assert (values >= 0).all().all()
        assert (frame["lo95"] <= frame["lo80"]).all()
        assert (frame["lo80"] <= frame["expected"]).all()
        assert (frame["expected"] <= frame["hi80"]).all()
        assert (frame["hi80"] <= frame["hi95"]).all()


def test_bottom_up_is_open_items_plus_new_invoices(forecast):
    w = forecast.weekly
    np.testing.assert_allclose(w["bottom_up"], w["open_items"] + w["new_invoices"])


# ------------------------------------------------------------------ discipline
def test_adding_events_after_as_of_does_not_change_the_forecast(tables, forecast):
    extra = tables["payments"].head(50).copy()
    extra["payment_id"] = [f"LATE-{i}" for i in range(len(extra))]
    extra["payment_date"] = pd.Timestamp(AS_OF) + pd.Timedelta(days=3)
    more = tables["invoices"].head(20).copy()
    more["invoice_id"] = [f"NEW-{i}" for i in range(len(more))]
    more["invoice_date"] = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    more["due_date"] = pd.Timestamp(AS_OF) + pd.Timedelta(days=31)
    changed = dict(tables)
    changed["payments"] = pd.concat([tables["payments"], extra], ignore_index=True)
    changed["invoices"] = pd.concat([tables["invoices"], more], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ArforecastWarning)
        led2 = Ledger.from_frames(**changed)
    again = forecast_cash(led2, AS_OF, timing="empirical", n_sims=300)
    pd.testing.assert_frame_equal(again.weekly, forecast.weekly)
    pd.testing.assert_frame_equal(again.monthly, forecast.monthly)


def test_no_pandas_deprecation_warnings(ledger):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        warnings.simplefilter("error", DeprecationWarning)
        fc = forecast_cash(ledger, "2025-03-31", timing="empirical", n_sims=100)
        fc.to_dict()
        fc.frame("monthly")
        track_record(ledger, "2025-03-31", n_origins=2, timing="empirical")


# ------------------------------------------------------------------ output
def test_to_dict_has_the_design_shape(forecast):
    out = forecast.to_dict()
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    assert set(out) >= {"as_of", "currency", "model", "weeks", "months"}
    assert out["as_of"] == AS_OF
    assert out["currency"] == "EUR"
    assert len(out["weeks"]) == 13 and len(out["months"]) == 3
    first = out["weeks"][0]
    assert list(first) == ["start", "end", "expected", "lo80", "hi80", "lo95", "hi95"]
    assert first["start"] == "2025-07-01" and first["end"] == "2025-07-07"
    assert first["expected"] == round(first["expected"], 2)
    assert out["model"]["name"] == "combined"
    assert out["model"]["reason"]


def test_by_portfolio_gives_one_forecast_per_portfolio(ledger):
    fc = forecast_cash(
        ledger,
        AS_OF,
        by="portfolio",
        timing="empirical",
        n_sims=100,
        calibration_origins=4,
    )
    assert sorted(fc.groups) == ledger.portfolios
    total_open = sum(g.weekly["open_items"] for g in fc.groups.values())
    np.testing.assert_allclose(total_open, fc.weekly["open_items"], rtol=1e-9)
    long = fc.frame("weekly")
    assert set(long["portfolio"]) == {"all", *ledger.portfolios}
    out = fc.to_dict()
    assert [g["portfolio"] for g in out["groups"]] == ledger.portfolios


def test_short_history_uses_equal_weights_with_reason(tables):
    led = Ledger.from_frames(**tables)
    fc = forecast_cash(led, "2024-04-15", timing="empirical", n_sims=100)
    equal = {"bottom_up": 0.5, "top_down": 0.5}
    assert fc.model["weights"] == {"all_weeks": equal}
    assert "equal weights" in fc.model["reason"]
    assert "own model bounds" in fc.model["intervals"]["weekly"]


def test_bad_arguments_raise_with_hints(ledger):
    with pytest.raises(ConfigError, match="Did you mean 'combined'"):
        forecast_cash(ledger, AS_OF, method="combine")
    with pytest.raises(ConfigError, match="by must be None or 'portfolio'"):
        forecast_cash(ledger, AS_OF, by="customer")
    with pytest.raises(ConfigError, match="weeks must be a positive integer"):
        forecast_cash(ledger, AS_OF, weeks=0)
    with pytest.raises(DataError, match="must not precede the first invoice"):
        forecast_cash(ledger, "2020-01-01")


def test_as_of_after_the_data_warns(ledger):
    with pytest.warns(ArforecastWarning, match="after the last event"):
        fc = forecast_cash(ledger, "2026-02-15", timing="empirical", n_sims=100)
    assert (fc.weekly["expected"] >= 0).all()


# ------------------------------------------------------------------ backtest
@pytest.fixture(scope="module")
def backtest(ledger) -> dict:
    return backtest_cash(ledger, timing="empirical")


def test_backtest_has_the_design_shape(backtest):
    weekly = backtest["weekly"]
    assert set(weekly) == {"combined", "bottom_up", "top_down", "baselines"}
    assert set(weekly["baselines"]) == {"last_value", "trailing_mean", "seasonal_naive"}
    keys = {"wape", "mase", "bias", "coverage_80", "coverage_95", "total_13w_error"}
    for name in ("combined", "bottom_up", "top_down"):
        assert set(weekly[name]) == keys
    assert backtest["n_origins"] >= 10
    assert len(backtest["by_horizon"]["combined"]) == 13
    json.dumps(backtest, allow_nan=False)


def test_backtest_origins_leave_13_observed_weeks(backtest, ledger):
    last = pd.Timestamp(backtest["origins"][-1])
    first = pd.Timestamp(backtest["origins"][0])
    assert last + pd.Timedelta(weeks=13) <= ledger.data_end
    assert first - pd.Timedelta(weeks=26) >= ledger.data_start
    steps = np.diff(pd.to_datetime(backtest["origins"]).to_numpy()).astype(
        "timedelta64[D]"
    )
    assert (steps == np.timedelta64(28, "D")).all()


def test_combined_beats_every_baseline_on_the_sample(backtest):
    weekly = backtest["weekly"]
    best_baseline = min(b["wape"] for b in weekly["baselines"].values())
    assert weekly["combined"]["wape"] < best_baseline
    assert 0.6 <= weekly["combined"]["coverage_80"] <= 0.95


def test_backtest_without_usable_origin_warns(tables):
    inv = tables["invoices"]
    short = inv[inv["invoice_date"] < "2024-05-01"]
    pay = tables["payments"]
    pay = pay[pay["invoice_id"].isin(short["invoice_id"])]
    pay = pay[pay["payment_date"] < "2024-06-01"]
    led = Ledger.from_frames(short, pay, currency="EUR", fx_rates=tables["fx_rates"])
    with pytest.warns(ArforecastWarning, match="no origin has 26 weeks"):
        out = backtest_cash(led, timing="empirical")
    assert out["n_origins"] == 0
    assert out["weekly"]["combined"]["wape"] is None


# ------------------------------------------------------------------ track record
def test_track_record_compares_past_forecasts_with_receipts(ledger):
    frame = track_record(ledger, AS_OF, n_origins=3, timing="empirical")
    assert list(frame.columns[:11]) == [
        "origin",
        "week",
        "start",
        "end",
        "forecast",
        "lo80",
        "hi80",
        "lo95",
        "hi95",
        "actual",
        "error",
    ]
    assert frame["origin"].nunique() == 3
    as_of = pd.Timestamp(AS_OF)
    assert frame.loc[frame["end"] > as_of, "actual"].isna().all()
    seen = frame[frame["end"] <= as_of]
    row = seen.iloc[0]
    raw = ledger.receipts(row["start"], row["end"])["amount_rc"].sum()
    assert row["actual"] == pytest.approx(raw)
    np.testing.assert_allclose(seen["error"], seen["forecast"] - seen["actual"])
    summary = cashflow.summarize_track_record(frame)
    assert len(summary) == 3
    assert frame.attrs["summary"][0]["weeks_observed"] == 12
    # the first origin's forecast is what forecast_cash said at that origin
    first = forecast_cash(ledger, frame["origin"].iloc[0], timing="empirical")
    np.testing.assert_allclose(
        frame.loc[frame["origin"] == frame["origin"].iloc[0], "forecast"],
        first.weekly["expected"],
    )


def test_auto_timing_falls_back_to_empirical_with_the_reason(ledger, monkeypatch):
    import arforecast.payments as payments
    from arforecast.exceptions import ModelError

    def refuse(ledger, cutoff, **kw):
        raise ModelError("no training snapshots")

    monkeypatch.setattr(payments, "fit_payment_model", refuse)
    fc = forecast_cash(ledger, AS_OF, timing="auto", n_sims=100, calibration_origins=3)
    assert fc.model["bottom_up"]["timing"] == "empirical"
    assert "no training snapshots" in fc.model["bottom_up"]["reason"]
    with pytest.raises(ArforecastError, match="timing='model' was requested"):
        forecast_cash(ledger, AS_OF, timing="model", calibration_origins=1)


def test_track_record_reusing_the_forecast_engine_gives_the_same_frame(ledger):
    fresh = track_record(ledger, AS_OF, n_origins=3)
    made = forecast_cash(ledger, AS_OF)

    reused = track_record(ledger, AS_OF, n_origins=3, forecast=made)

    pd.testing.assert_frame_equal(fresh, reused)
    assert made._engine is not None
