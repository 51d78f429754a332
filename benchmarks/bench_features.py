"""Time snapshot features and the payment model on a 1,000,000-invoice ledger.

Reuses (or builds) the Parquet sample ledger of ``bench_kpis.py`` under
``benchmarks/data/`` and measures:

- ``build_snapshots`` for one as-of date (every open invoice, every feature);
- ``build_snapshots`` for 13 weekly dates (what a training run builds per quarter);
- ``build_issue_snapshots`` (one row per invoice, at its invoice date);
- ``fit_payment_model`` with a cutoff 120 days before the as-of date, and
  ``predict_proba`` / ``predict_timing`` on the as-of snapshot;
- the peak resident memory of this process.

The reference beside it is ``Ledger.open_items(as_of)``, the cheapest pass over
the same ledger (balances only): the ratio says what the features cost on top.

Usage: ``python benchmarks/bench_features.py [--invoices N] [--customers N]
[--seed S] [--as-of DATE]``
"""

from __future__ import annotations

import sys

import pandas as pd
from bench_kpis import (
    ensure_data,
    ledger_folder,
    ledger_parser,
    load_average,
    peak_rss_mb,
    timed,
)

from arforecast.features import build_issue_snapshots, build_snapshots
from arforecast.io import load_ledger
from arforecast.payments import fit_payment_model


def line(label: str, wall: float, cpu: float, extra: str = "") -> None:
    print(
        f"{label:<34} {wall:7.2f} s wall {cpu:7.2f} s CPU   "
        f"peak RSS {peak_rss_mb():6.0f} MiB   {extra}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    args = ledger_parser(__doc__.splitlines()[0]).parse_args(argv)
    data, customers = ledger_folder(args)
    ensure_data(data, args.invoices, customers, args.seed, False)

    print(f"load average at start: {load_average()} (2 cores budgeted)")
    walls, cpus, ledger = timed(lambda: load_ledger(data), 1)
    line("load_ledger", walls[0], cpus[0], f"{len(ledger.invoices):,} invoices")

    as_of = pd.Timestamp(args.as_of)
    walls, cpus, items = timed(lambda: ledger.open_items(as_of), 3)
    ref_s = sorted(walls)[1]
    line(
        "reference: open_items (median of 3)",
        ref_s,
        sorted(cpus)[1],
        f"{len(items):,} open",
    )

    walls, cpus, snap = timed(lambda: build_snapshots(ledger, [as_of]), 3)
    one_s = sorted(walls)[1]
    line(
        "build_snapshots, 1 date (median)",
        one_s,
        sorted(cpus)[1],
        f"{len(snap):,} rows",
    )

    weekly = pd.date_range(end=as_of, periods=13, freq="7D")
    walls, cpus, frame = timed(lambda: build_snapshots(ledger, weekly), 1)
    line("build_snapshots, 13 weekly dates", walls[0], cpus[0], f"{len(frame):,} rows")
    del frame

    walls, cpus, issue = timed(lambda: build_issue_snapshots(ledger), 1)
    line("build_issue_snapshots", walls[0], cpus[0], f"{len(issue):,} rows")
    del issue

    cutoff = as_of - pd.Timedelta(days=120)
    walls, cpus, model = timed(lambda: fit_payment_model(ledger, cutoff), 1)
    fit_rows = model.metrics_["n_snapshots"]
    line(
        "fit_payment_model (cutoff -120 d)",
        walls[0],
        cpus[0],
        f"{fit_rows:,} rows used",
    )

    walls, cpus, _ = timed(lambda: model.predict_proba(snap), 1)
    line("predict_proba on the as-of rows", walls[0], cpus[0])
    walls, cpus, _ = timed(lambda: model.predict_timing(snap), 1)
    line("predict_timing (13 weeks)", walls[0], cpus[0])

    print(
        f"features for one as-of: {one_s:.2f} s = {one_s / ref_s:.1f} x the open-items "
        f"pass ({ref_s:.2f} s) on {len(ledger.invoices):,} invoices"
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
