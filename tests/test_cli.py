"""Tests of the command line: exit codes, formats, and the thin-adapter calls."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pandas as pd
import pytest
from click.testing import CliRunner

from arforecast import __version__
from arforecast.cli import cli
from arforecast.exceptions import ConfigError


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_version_is_printed(runner):
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output


def test_unknown_option_is_bad_usage(runner):
    result = runner.invoke(
        cli, ["kpis", "--data", "x", "--as-of", "2024-01-31", "--nope"]
    )
    assert result.exit_code == 2
    assert "No such option" in result.output


def test_bad_horizons_are_bad_usage(runner):
    result = runner.invoke(cli, ["backtest", "--data", "x", "--horizons", "7,thirty"])
    assert result.exit_code == 2
    assert "horizons must be whole days" in result.output


def test_library_error_exits_2_with_its_message(runner, monkeypatch):
    def fail(*args, **kwargs):
        raise ConfigError("unknown key 'portfolioz'; did you mean 'portfolios'?")

    monkeypatch.setattr("arforecast.cli._load", fail)
    result = runner.invoke(cli, ["kpis", "--data", "x", "--as-of", "2024-01-31"])
    assert result.exit_code == 2
    assert "did you mean 'portfolios'" in result.output


def test_sample_writes_tables_and_prints_json(runner, tmp_path):
    out = tmp_path / "ledger"
    result = runner.invoke(
        cli,
        [
            "sample",
            "--out",
            str(out),
            "--invoices",
            "300",
            "--customers",
            "20",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["rows"]["invoices"] == 300
    assert (out / "invoices.csv").exists() and (out / "payments.csv").exists()


def test_kpis_json_is_what_the_library_returns(runner, monkeypatch):
    calls = {}

    def fake_compute(ledger, as_of, *, by=None, window_days=None, strict=False):
        calls.update(as_of=as_of, by=by, window_days=window_days, strict=strict)
        return "result"

    monkeypatch.setattr("arforecast.cli._load", lambda *a: SimpleNamespace())
    monkeypatch.setattr("arforecast.kpis.compute_kpis", fake_compute)
    monkeypatch.setattr(
        "arforecast.kpis.kpis_to_dict", lambda r: {"dso": None, "as_of": "2024-01-31"}
    )
    result = runner.invoke(
        cli,
        [
            "kpis",
            "--data",
            "x",
            "--as-of",
            "2024-01-31",
            "--by",
            "portfolio",
            "--window-days",
            "30",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"dso": None, "as_of": "2024-01-31"}
    assert calls == {
        "as_of": "2024-01-31",
        "by": "portfolio",
        "window_days": 30,
        "strict": True,
    }


def test_forecast_csv_prints_the_weekly_frame(runner, monkeypatch):
    weekly = pd.DataFrame(
        {"start": ["2024-02-01"], "end": ["2024-02-07"], "expected": [1.5]}
    )
    monkeypatch.setattr("arforecast.cli._load", lambda *a: SimpleNamespace())
    monkeypatch.setattr(
        "arforecast.cashflow.forecast_cash",
        lambda *a, **k: SimpleNamespace(weekly=weekly, to_dict=lambda: {}),
    )
    result = runner.invoke(
        cli, ["forecast", "--data", "x", "--as-of", "2024-01-31", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "start,end,expected",
        "2024-02-01,2024-02-07,1.5",
    ]


def test_batch_exits_1_when_a_job_failed(runner, monkeypatch, tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("run: x\n")
    monkeypatch.setattr("arforecast.config.load_params", lambda path: "config")
    monkeypatch.setattr("arforecast.runner.check_portfolios", lambda *a: None)
    monkeypatch.setattr(
        "arforecast.runner.run_batch",
        lambda config, **kw: SimpleNamespace(
            index_path=tmp_path / "index.html", failed=1
        ),
    )
    result = runner.invoke(cli, ["batch", "--params", str(params), "--no-progress"])
    assert result.exit_code == 1
    assert "1 job(s) failed" in result.output


def test_batch_without_params_is_bad_usage(runner):
    result = runner.invoke(cli, ["batch"])
    assert result.exit_code == 2
    assert "give the params file" in result.output


def test_kpis_table_prints_one_line_per_kpi_with_missing_reasons(runner, monkeypatch):
    frame = pd.DataFrame(
        {
            "portfolio": ["North", "South"],
            "as_of": pd.to_datetime(["2024-01-31"] * 2),
            "dso": [41.5, None],
            "missing": [None, "dso: no net credit sales in the window"],
        }
    )
    monkeypatch.setattr("arforecast.cli._load", lambda *a: SimpleNamespace())
    monkeypatch.setattr("arforecast.kpis.compute_kpis", lambda *a, **k: "result")
    monkeypatch.setattr("arforecast.kpis.kpis_to_frame", lambda r: frame)
    result = runner.invoke(
        cli, ["kpis", "--data", "x", "--as-of", "2024-01-31", "--by", "portfolio"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["North", "South"]
    assert lines[1].split() == ["as_of", "2024-01-31", "2024-01-31"]
    assert lines[2].split() == ["dso", "41.5", "—"]
    assert "  dso: no net credit sales in the window" in lines


def test_backtest_table_prints_one_headed_table_per_section(runner, monkeypatch):
    metrics = {"auc": 0.9, "brier": 0.1, "log_loss": 0.3, "n": 1200}
    single = {"auc": None, "brier": 0.0, "log_loss": 0.0, "n": 1200}
    result = {
        "payment": {
            "horizons": {
                "30": {"model": metrics, "baselines": {"aging_bucket": single}}
            },
            "pay_date": {"model": {"mae_days": 5.5, "n": 10}},
        },
        "cash": {
            "weekly": {
                "combined": {"wape": 0.15, "mase": 0.5},
                "baselines": {"trailing_mean": {"wape": 0.17, "mase": 0.52}},
            },
            "n_origins": 3,
            "step_weeks": 4,
            "origins": ["2024-01-04", "2024-03-28"],
        },
    }
    monkeypatch.setattr("arforecast.cli._load", lambda *a: SimpleNamespace())
    monkeypatch.setattr("arforecast.backtest.run_backtest", lambda *a, **k: result)

    out = runner.invoke(cli, ["backtest", "--data", "x"])

    assert out.exit_code == 0, out.output
    assert "Payment model vs baselines" in out.output
    assert "paid within 30 days" in out.output and "1,200" in out.output
    assert "baseline: trailing_mean" in out.output and "0.1700" in out.output
    assert "AUC — : every test row had the same outcome" in out.output
    assert "nan" not in out.output.lower()
    assert "3 forecast origins every 4 weeks, 2024-01-04 to 2024-03-28" in out.output


# ------------------------------------------------------------- bad input, end to end
INVOICES_CSV = (
    "invoice_id,customer_id,invoice_date,due_date,amount,currency\n"
    "A,C1,2024-01-10,2024-02-09,100.00,EUR\n"
    "B,C2,2024-02-01,2024-03-02,250.00,EUR\n"
)
PAYMENTS_CSV = "invoice_id,payment_date,amount\nA,2024-02-05,100.00\n"


def _ledger_dir(tmp_path, invoices=INVOICES_CSV, payments=PAYMENTS_CSV, **extra):
    folder = tmp_path / "ledger"
    folder.mkdir()
    (folder / "invoices.csv").write_text(invoices, encoding="utf-8")
    (folder / "payments.csv").write_text(payments, encoding="utf-8")
    for name, text in extra.items():
        (folder / f"{name}.csv").write_text(text, encoding="utf-8")
    return folder


def test_header_only_invoices_is_a_fatal_finding_not_a_traceback(runner, tmp_path):
    folder = _ledger_dir(tmp_path, invoices=INVOICES_CSV.splitlines()[0] + "\n")

    result = runner.invoke(cli, ["validate", "--data", str(folder)])

    assert result.exit_code == 2
    assert "the invoices table has no data rows" in result.output
    assert "Traceback" not in result.output


def test_semicolon_file_read_with_commas_names_the_sep_setting(runner, tmp_path):
    folder = _ledger_dir(tmp_path, invoices=INVOICES_CSV.replace(",", ";"))

    result = runner.invoke(cli, ["validate", "--data", str(folder)])

    assert result.exit_code == 2
    assert "looks ';'-separated" in result.output and 'sep: ";"' in result.output


def test_validate_json_reports_an_unreadable_source_as_json(runner, tmp_path):
    result = runner.invoke(
        cli, ["validate", "--data", str(tmp_path / "absent"), "--format", "json"]
    )

    assert result.exit_code == 2
    payload = json.loads(result.stdout)
    assert payload["valid"] is False and "does not exist" in payload["error"]


def test_kpis_before_the_first_invoice_is_bad_usage(runner, tmp_path):
    folder = _ledger_dir(tmp_path)

    result = runner.invoke(
        cli, ["kpis", "--data", str(folder), "--as-of", "2023-12-31"]
    )

    assert result.exit_code == 2
    assert "precedes the first invoice in the data (2024-01-10)" in result.output


def test_two_currencies_without_rates_are_named(runner, tmp_path):
    invoices = INVOICES_CSV.replace("250.00,EUR", "250.00,CHF")
    fx = "date,currency,rate\n2024-01-01,USD,0.9\n"
    folder = _ledger_dir(tmp_path, invoices=invoices, fx_rates=fx)

    result = runner.invoke(
        cli, ["kpis", "--data", str(folder), "--as-of", "2024-03-31"]
    )

    assert result.exit_code == 2
    assert "fx_rates has no rates for CHF, EUR" in result.output
    assert "--currency CODE" in result.output


@pytest.mark.parametrize("as_of", ["03/09/2024", "20240309", "Mar 9 2024"])
def test_kpis_refuse_an_as_of_that_is_not_iso(runner, tmp_path, as_of):
    folder = _ledger_dir(tmp_path)

    result = runner.invoke(cli, ["kpis", "--data", str(folder), "--as-of", as_of])

    assert result.exit_code == 2
    assert "must be an ISO date (YYYY-MM-DD)" in result.output
