"""Time the sample generator and writer at benchmark size (1,000,000 invoices).

Prints the wall-clock and CPU seconds of `generate_sample` and of `write_sample`
(CSV and Parquet), the rows per table, the peak resident memory of this process
after each step (``resource.getrusage``), and the ratio of the generation time to
its 30 s budget from the design card. CPU seconds show what the code costs when
other processes compete for the two cores; the budget applies to wall time.

Usage: ``python benchmarks/bench_sample.py [--invoices N] [--customers N]
[--seed S] [--strict]``
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from arforecast.sample import generate_sample, write_sample

BUDGET_SECONDS = 30.0


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument(
        "--customers",
        type=int,
        default=None,
        help="number of customers (default: invoices / 50, at least 10)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when generation exceeds its budget",
    )
    args = parser.parse_args(argv)
    customers = args.customers or max(10, args.invoices // 50)
    kwargs = {"invoices": args.invoices, "customers": customers, "seed": args.seed}
    print(
        f"sample: {args.invoices:,} invoices, {customers:,} customers, seed {args.seed}"
    )

    # generation alone
    started, cpu = time.perf_counter(), time.process_time()
    tables = generate_sample(**kwargs)
    generate_s = time.perf_counter() - started
    generate_cpu = time.process_time() - cpu
    print(
        f"generate_sample        {generate_s:8.2f} s wall {generate_cpu:7.2f} s CPU"
        f"   peak RSS {peak_rss_mb():6.0f} MiB"
    )
    for name, frame in tables.items():
        print(f"  {name:<12} {len(frame):>12,} rows")
    del tables

    # writing: write_sample generates again, so the writing share is the difference
    with tempfile.TemporaryDirectory(prefix="bench_sample_") as tmp:
        for fmt in ("csv", "parquet"):
            out = Path(tmp) / fmt
            started, cpu = time.perf_counter(), time.process_time()
            summary = write_sample(out, fmt=fmt, **kwargs)
            took = time.perf_counter() - started
            took_cpu = time.process_time() - cpu
            size_mb = sum(Path(p).stat().st_size for p in summary["paths"].values())
            print(
                f"write_sample({fmt:<7}) {took:8.2f} s wall {took_cpu:7.2f} s CPU"
                f"   peak RSS {peak_rss_mb():6.0f} MiB"
                f"   (writing ~{max(took_cpu - generate_cpu, 0.0):.2f} s CPU, "
                f"{size_mb / 2**20:.0f} MiB on disk)"
            )

    ratio = generate_s / BUDGET_SECONDS
    print(
        f"generate_sample: {generate_s:.2f} s wall = {ratio:.2f} x the "
        f"{BUDGET_SECONDS:.0f} s budget ({'within' if ratio <= 1 else 'OVER'} budget; "
        f"{generate_cpu / BUDGET_SECONDS:.2f} x in CPU time)"
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MiB")
    return 1 if args.strict and ratio > 1 else 0


if __name__ == "__main__":
    sys.exit(main())
