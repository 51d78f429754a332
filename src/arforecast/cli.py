"""The ``arforecast`` command: a thin adapter from arguments to library calls.

Exit codes: 0 ok; 1 a job or check failed; 2 bad usage or bad input.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from arforecast import __version__
from arforecast.exceptions import (
    ArforecastError,
    ArforecastWarning,
    LedgerValidationError,
)

logger = logging.getLogger("arforecast.cli")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
REPO_ROOT = Path(__file__).resolve().parents[2]

_LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.captureWarnings(True)
    warnings.showwarning = _show_warning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings as one ``warning: ...`` line; others through logging."""
    if issubclass(category, ArforecastWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        logging.getLogger("py.warnings").warning(
            "%s", warnings.formatwarning(message, category, filename, lineno, line)
        )


def _json_default(value: Any) -> Any:
    """JSON for the few non-JSON types results may hold (dates, NumPy scalars)."""
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple, Path)):
        return list(value) if not isinstance(value, Path) else str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _clean_json(value: Any) -> Any:
    """Replace NaN/inf by None so the output is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    return value


def echo_json(payload: Any) -> None:
    """Print ``payload`` as strict, indented JSON on standard output."""
    text = json.dumps(
        _clean_json(payload), indent=2, default=_json_default, allow_nan=False
    )
    click.echo(text)


def echo_frame(frame: Any, fmt: str) -> None:
    """Print a DataFrame as an aligned table or as CSV."""
    if fmt == "csv":
        click.echo(frame.to_csv(index=False), nl=False)
    else:
        click.echo(frame.to_string(index=False))


_BACKTEST_HEADINGS = {
    "payment": "Payment model vs baselines (mean over time-ordered folds). AUC: how "
    "often a paid invoice ranks above an unpaid one, higher is better; Brier and "
    "log loss: probability errors, lower is better",
    "pay_date": "Predicted payment date: mean absolute error in days "
    "(due_plus_add = due date + the customer's average days late)",
    "cash": "Weekly cash forecast over 13-week horizons. WAPE: total absolute error "
    "/ total receipts; MASE: error relative to a seasonal-naive forecast; bias: "
    "total error / total receipts (lower is better for all three); coverage: "
    "share of weeks inside the 80% / 95% ranges (near 0.80 / 0.95 is right)",
}


def echo_backtest(tables: dict, result: dict) -> None:
    """Print the backtest tables under headings; missing values as ``—``."""
    for name, frame in tables.items():
        click.echo(_BACKTEST_HEADINGS.get(name, name))
        shown = frame.astype(object).where(frame.notna(), "—")
        for col in shown.columns:
            if col != "n" and frame[col].dtype.kind == "f":
                digits = 1 if col == "mae_days" else 4
                shown[col] = [
                    v if v == "—" else f"{float(v):.{digits}f}"
                    for v in shown[col].tolist()
                ]
            elif col == "n":
                shown[col] = [v if v == "—" else f"{int(v):,}" for v in shown[col]]
        click.echo(shown.to_string(index=False))
        click.echo("")
    if "payment" in tables and tables["payment"]["auc"].isna().any():
        click.echo(
            "AUC — : every test row had the same outcome in each fold (no ranking to "
            "score); see the JSON output per fold."
        )
    cash = result.get("cash") or {}
    if cash.get("n_origins"):
        click.echo(
            f"cash: {cash['n_origins']} forecast origins every "
            f"{cash.get('step_weeks')} weeks, {cash.get('origins', ['?'])[0]} to "
            f"{cash.get('origins', ['?'])[-1]}"
        )


def echo_vertical(frame: Any, key: str | None = None) -> None:
    """Print a wide one-row-per-group frame as one line per field (groups as columns).

    Missing values print as ``—``; the ``missing`` column, if any, is printed
    after the table as one reason per line.
    """
    import pandas as pd

    frame = frame.copy()
    reasons = frame.pop("missing") if "missing" in frame.columns else None
    labels = frame[key].astype(str).tolist() if key and key in frame.columns else None
    body = frame.drop(columns=[key]) if labels else frame.copy()
    for col in body.columns:
        if pd.api.types.is_datetime64_any_dtype(body[col]):
            body[col] = body[col].dt.strftime("%Y-%m-%d")
    table = body.T
    table.columns = labels or ["value"] * len(table.columns)
    table = table.astype(object).where(table.notna(), "—")
    click.echo(table.to_string())
    if reasons is not None:
        lines = sorted(
            {r for text in reasons.dropna() for r in str(text).split("; ") if r}
        )
        if lines:
            click.echo("\nmissing values:")
            for line in lines:
                click.echo(f"  {line}")


def _run(func: Callable[[], int | None]) -> None:
    """Call ``func``; turn our errors into exit code 2 with a readable message."""
    try:
        code = func()
    except LedgerValidationError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    except ArforecastError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_BAD_INPUT)
    sys.exit(code or EXIT_OK)


def _load(data: str, mapping: str | None, currency: str | None):
    from arforecast.io import load_ledger

    return load_ledger(data, mapping, currency=currency)


def _parse_horizons(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(
            f"horizons must be whole days separated by commas, e.g. 7,30,90; got {text!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise click.BadParameter(f"horizons must be positive days; got {text!r}")
    return values


data_option = click.option(
    "--data",
    required=True,
    help="Ledger folder, file, database file or SQLAlchemy URL.",
)
mapping_option = click.option(
    "--mapping",
    default=None,
    help="Mapping YAML file or the name of a shipped profile (e.g. ibm_late_payments).",
)
currency_option = click.option(
    "--currency", default=None, help="Reporting currency code, e.g. EUR."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="arforecast")
@click.option("--log-level", type=_LOG_LEVELS, default="WARNING", show_default=True)
def cli(log_level: str) -> None:
    """Accounts-receivable KPIs, payment models, cash forecasts and reports."""
    _configure_logging(log_level)


@cli.command()
@click.option("--out", "out", required=True, type=click.Path(file_okay=False))
@click.option("--customers", default=300, show_default=True, type=click.IntRange(1))
@click.option("--invoices", default=12_000, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--file-format",
    type=click.Choice(["csv", "parquet"]),
    default="csv",
    show_default=True,
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def sample(
    out: str, customers: int, invoices: int, seed: int, file_format: str, fmt: str
):
    """Write a synthetic ledger (the embedded default data) to OUT."""

    def go() -> None:
        from arforecast.sample import write_sample

        summary = write_sample(
            out, fmt=file_format, customers=customers, invoices=invoices, seed=seed
        )
        if fmt == "json":
            echo_json(summary)
        else:
            click.echo(f"sample ledger written to {Path(out).resolve()}")
            for key, value in summary.items():
                if key != "paths":
                    click.echo(f"  {key}: {value}")

    _run(go)


@cli.command()
@data_option
@mapping_option
@currency_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def validate(data: str, mapping: str | None, currency: str | None, fmt: str):
    """Load a ledger, print its findings and reconciliation (exit 2 if fatal)."""

    def go() -> int:
        try:
            ledger = _load(data, mapping, currency)
        except LedgerValidationError as exc:
            if fmt == "json":
                echo_json(
                    {
                        "valid": False,
                        "findings": [f.to_dict() for f in exc.findings],
                    }
                )
            else:
                click.echo(str(exc), err=True)
            return EXIT_BAD_INPUT
        except ArforecastError as exc:
            # unreadable source, unknown mapping, missing FX: still one JSON
            # document for scripts, the message on stderr for people
            if fmt == "json":
                echo_json({"valid": False, "error": str(exc), "findings": []})
            click.echo(f"error: {exc}", err=True)
            return EXIT_BAD_INPUT
        quality = ledger.quality
        if fmt == "json":
            payload = {
                "valid": True,
                "source": ledger.source,
                "currency": ledger.currency,
            }
            payload["tables"] = {
                name: len(getattr(ledger, name))
                for name in (
                    "invoices",
                    "payments",
                    "adjustments",
                    "activities",
                    "customers",
                )
            }
            payload.update(quality.to_dict())
            echo_json(payload)
        else:
            counts = ", ".join(
                f"{len(getattr(ledger, name)):,} {name}"
                for name in ("invoices", "payments", "adjustments", "activities")
            )
            portfolios = ", ".join(map(str, ledger.portfolios)) or "none"
            click.echo(
                f"loaded {ledger.source}: {counts}; reporting currency "
                f"{ledger.currency}; portfolios: {portfolios}"
            )
            click.echo(quality.summary())
            click.echo("")
            click.echo("Reconciliation (read = used + set aside):")
            recon = quality.reconciliation
            click.echo(
                recon.astype(object).where(recon.notna(), "—").to_string(index=False)
            )
        return EXIT_OK

    _run(go)


@cli.command()
@data_option
@mapping_option
@currency_option
@click.option("--as-of", "as_of", required=True, help="ISO date, e.g. 2024-03-31.")
@click.option("--by", default=None, help="Group by this column, e.g. portfolio.")
@click.option("--window-days", default=None, type=click.IntRange(1))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table"
)
def kpis(data, mapping, currency, as_of, by, window_days, fmt):
    """Collection KPIs as of a date (DSO, CEI, aging, ...)."""

    def go() -> None:
        from arforecast.kpis import compute_kpis, kpis_to_dict, kpis_to_frame

        ledger = _load(data, mapping, currency)
        result = compute_kpis(
            ledger, as_of, by=by, window_days=window_days, strict=True
        )
        if fmt == "json":
            echo_json(kpis_to_dict(result))
        elif fmt == "csv":
            echo_frame(kpis_to_frame(result), fmt)
        else:
            echo_vertical(kpis_to_frame(result), key=by)

    _run(go)


@cli.command()
@data_option
@mapping_option
@currency_option
@click.option("--horizons", default="7,30,90", show_default=True)
@click.option("--cash/--no-cash", default=True, show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
def backtest(data, mapping, currency, horizons, cash, seed, fmt):
    """Time-ordered backtest of the payment model and the cash forecast."""
    parsed = _parse_horizons(horizons)

    def go() -> None:
        from arforecast.backtest import backtest_tables, backtest_verdicts, run_backtest

        ledger = _load(data, mapping, currency)
        result = run_backtest(ledger, horizons=parsed, cash=cash, random_state=seed)
        if fmt == "json":
            echo_json(result)
        else:
            echo_backtest(backtest_tables(result), result)
            click.echo("\nVerdict:")
            for line in backtest_verdicts(result):
                click.echo(f"  {line}")

    _run(go)


@cli.command()
@data_option
@mapping_option
@currency_option
@click.option("--as-of", "as_of", required=True, help="ISO date, e.g. 2024-03-31.")
@click.option("--weeks", default=13, show_default=True, type=click.IntRange(1, 104))
@click.option("--by", default=None, help="Group by this column, e.g. portfolio.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table"
)
def forecast(data, mapping, currency, as_of, weeks, by, seed, fmt):
    """Cash-inflow forecast for the weeks after a date, with intervals."""

    def go() -> None:
        from arforecast.cashflow import forecast_cash

        ledger = _load(data, mapping, currency)
        result = forecast_cash(ledger, as_of, weeks=weeks, by=by, random_state=seed)
        if fmt == "json":
            echo_json(result.to_dict())
        else:
            echo_frame(result.weekly, fmt)

    _run(go)


def _batch(params_file: str, **kwargs: Any) -> int:
    from arforecast.config import load_params
    from arforecast.runner import check_portfolios, run_batch

    config = load_params(params_file)
    check_portfolios(config, kwargs.get("portfolio"))
    result = run_batch(config, **kwargs)
    click.echo(f"index: {result.index_path}")
    if result.failed:
        click.echo(f"{result.failed} job(s) failed; see the index.", err=True)
        return EXIT_FAILED
    return EXIT_OK


@cli.command()
@click.option("--params", "params_file", required=True, type=click.Path(exists=True))
@click.option("--as-of", "as_of", default=None, help="Only this as-of date.")
@click.option("--portfolio", default=None, help="Only this portfolio.")
@click.option("--force", is_flag=True, help="Run even if inputs are unchanged.")
@click.option("--dry-run", is_flag=True, help="Write .eml files instead of sending.")
@click.option("--progress/--no-progress", default=True)
def report(params_file, as_of, portfolio, force, dry_run, progress):
    """Run the jobs of a params file for one as-of date and/or portfolio."""
    _run(
        lambda: _batch(
            params_file,
            as_of=as_of,
            portfolio=portfolio,
            force=force,
            dry_run=dry_run,
            progress=progress,
        )
    )


@cli.command()
@click.argument("params_arg", required=False, type=click.Path(exists=True))
@click.option("--params", "params_file", default=None, type=click.Path(exists=True))
@click.option("--workers", default=None, type=click.IntRange(1))
@click.option("--force", is_flag=True, help="Run even if inputs are unchanged.")
@click.option("--dry-run", is_flag=True, help="Write .eml files instead of sending.")
@click.option("--progress/--no-progress", default=True)
def batch(params_arg, params_file, workers, force, dry_run, progress):
    """Run every job (as_of × portfolio × notebook) of a params file."""
    chosen = params_file or params_arg
    if not chosen:
        raise click.UsageError("give the params file: arforecast batch --params FILE")
    _run(
        lambda: _batch(
            chosen, workers=workers, force=force, dry_run=dry_run, progress=progress
        )
    )


@cli.command()
@click.option(
    "--params",
    "params_file",
    default=str(REPO_ROOT / "params" / "demo.yaml"),
    show_default=True,
    type=click.Path(),
)
@click.option("--force", is_flag=True, help="Re-run jobs even if unchanged.")
@click.option("--progress/--no-progress", default=True)
def demo(params_file, force, progress):
    """Generate the sample ledger and run the demo batch (e-mail as .eml files)."""

    def go() -> int:
        from arforecast.config import load_params
        from arforecast.sample import write_sample

        config = load_params(params_file)
        data_dir = Path(config.data)
        if not (data_dir / "invoices.csv").exists():
            click.echo(f"writing the sample ledger to {data_dir}")
            write_sample(data_dir)
        return _batch(params_file, force=force, dry_run=True, progress=progress)

    _run(go)


def main() -> None:
    """Entry point of the console script."""
    cli(prog_name="arforecast")


if __name__ == "__main__":
    main()
