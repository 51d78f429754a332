"""Time KPIs on a 1,000,000-invoice ledger and compare with a DuckDB query.

Builds (or reuses) a sample ledger as Parquet under ``benchmarks/data/`` (git-ignored;
generated in a child process so its memory does not count here), then measures:

- ``load_ledger`` of the Parquet folder (read, validate, convert currencies);
- one as-of ``compute_kpis`` (every KPI, aging, pipeline, roll rates);
- a 24-month ``kpi_trend`` (every month end);
- the peak resident memory of this process;
- a hand-written DuckDB SQL query over the same Parquet files computing the
  open balances, aging buckets, unapplied credit and standard DSO, with the
  ratio arforecast / DuckDB and a check that both give the same numbers.

Budgets (DESIGN.md): one as-of ≤ 3 s and ≤ 2.5 GB peak RSS; 24-month trend
≤ 20 s; within 2× of DuckDB.

Usage: ``python benchmarks/bench_kpis.py [--invoices N] [--customers N]
[--seed S] [--as-of DATE] [--months N] [--regenerate] [--strict]``
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from arforecast.io import load_ledger
from arforecast.kpis import compute_kpis, kpi_trend, month_ends

HERE = Path(__file__).resolve().parent
BUDGET_AS_OF_S = 3.0
BUDGET_RSS_MB = 2.5 * 1024
BUDGET_TREND_S = 20.0
BUDGET_DUCKDB_RATIO = 2.0

# Buckets, unapplied credit and DSO exactly as DESIGN.md defines them, on the raw
# Parquet tables: every document converted at the latest rate on or before its own
# date (the reporting currency has no fx rows: rate 1).
DUCKDB_SQL = """
WITH
fx AS (SELECT date, currency, rate FROM read_parquet('{d}/fx_rates.parquet')),
inv AS MATERIALIZED (
    SELECT i.invoice_id, i.invoice_date, i.due_date, i.amount,
           coalesce(i.currency, '{rc}') AS currency,
           CASE WHEN coalesce(i.currency, '{rc}') = '{rc}' THEN 1.0 ELSE r.rate END
               AS fx
    FROM read_parquet('{d}/invoices.parquet') i
    ASOF LEFT JOIN fx r
        ON coalesce(i.currency, '{rc}') = r.currency AND i.invoice_date >= r.date
),
pay AS (
    SELECT p.invoice_id, p.payment_date AS date, p.amount,
           coalesce(p.currency, inv.currency, '{rc}') AS currency,
           inv.invoice_id IS NOT NULL AS linked, inv.invoice_date, inv.fx AS inv_fx
    FROM read_parquet('{d}/payments.parquet') p
    LEFT JOIN inv USING (invoice_id)
    WHERE p.payment_date <= DATE '{as_of}'
),
adj AS (
    SELECT a.invoice_id, a.date, a.amount, a.kind,
           coalesce(inv.currency, '{rc}') AS currency,
           inv.invoice_id IS NOT NULL AS linked, inv.invoice_date, inv.fx AS inv_fx
    FROM read_parquet('{d}/adjustments.parquet') a
    LEFT JOIN inv USING (invoice_id)
),
docs AS MATERIALIZED (
    SELECT invoice_id, date, amount, currency, linked, invoice_date, inv_fx,
           'payment' AS kind FROM pay
    UNION ALL
    SELECT invoice_id, date, amount, currency, linked, invoice_date, inv_fx, kind
    FROM adj WHERE date <= DATE '{as_of}'
),
applied AS (
    SELECT invoice_id, sum(amount) AS applied FROM docs
    WHERE linked AND invoice_date <= DATE '{as_of}' GROUP BY invoice_id
),
bal AS (
    SELECT inv.fx, date_diff('day', inv.due_date, DATE '{as_of}') AS dpd,
           inv.amount - coalesce(applied.applied, 0) AS balance
    FROM inv LEFT JOIN applied USING (invoice_id)
    WHERE inv.invoice_date <= DATE '{as_of}'
),
orphan_rc AS (
    SELECT d.amount * CASE WHEN d.currency = '{rc}' THEN 1.0 ELSE r.rate END
        AS amount_rc
    FROM (SELECT * FROM docs WHERE NOT linked) d
    ASOF LEFT JOIN fx r ON d.currency = r.currency AND d.date >= r.date
),
unapplied AS (
    SELECT coalesce(sum(balance * fx) FILTER (WHERE balance < -0.005), 0)
         - (SELECT coalesce(sum(amount_rc), 0) FROM orphan_rc)
         - (SELECT coalesce(sum(amount * inv_fx), 0) FROM docs
            WHERE linked AND invoice_date > DATE '{as_of}') AS unapplied
    FROM bal
),
buckets AS (
    SELECT
        coalesce(sum(balance * fx) FILTER (WHERE dpd <= 0), 0) AS b_current,
        coalesce(sum(balance * fx) FILTER (WHERE dpd BETWEEN 1 AND 30), 0) AS b_1_30,
        coalesce(sum(balance * fx) FILTER (WHERE dpd BETWEEN 31 AND 60), 0)
            AS b_31_60,
        coalesce(sum(balance * fx) FILTER (WHERE dpd BETWEEN 61 AND 90), 0)
            AS b_61_90,
        coalesce(sum(balance * fx) FILTER (WHERE dpd BETWEEN 91 AND 120), 0)
            AS b_91_120,
        coalesce(sum(balance * fx) FILTER (WHERE dpd > 120), 0) AS b_120_plus
    FROM bal WHERE balance > 0.005
),
sales AS (
    SELECT (SELECT coalesce(sum(amount * fx), 0) FROM inv
            WHERE invoice_date BETWEEN DATE '{start}' AND DATE '{as_of}')
         - (SELECT coalesce(sum(a.amount
                * CASE WHEN a.currency = '{rc}' THEN 1.0 ELSE r.rate END), 0)
            FROM (SELECT * FROM adj WHERE kind = 'credit_note'
                  AND date BETWEEN DATE '{start}' AND DATE '{as_of}') a
            ASOF LEFT JOIN fx r ON a.currency = r.currency AND a.date >= r.date)
        AS net_sales
)
SELECT b.*, u.unapplied,
       b.b_current + b.b_1_30 + b.b_31_60 + b.b_61_90 + b.b_91_120 + b.b_120_plus
           + u.unapplied AS open_ar,
       s.net_sales,
       (b.b_current + b.b_1_30 + b.b_31_60 + b.b_61_90 + b.b_91_120 + b.b_120_plus
           + u.unapplied) / s.net_sales * {window_days} AS dso
FROM buckets b, unapplied u, sales s
"""


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def ensure_data(
    out: Path, invoices: int, customers: int, seed: int, force: bool
) -> None:
    """Write the sample ledger as Parquet in a child process, unless present."""
    if (out / "invoices.parquet").exists() and not force:
        print(f"reusing {out}")
        return
    code = (
        "import sys; from arforecast.sample import write_sample; "
        "write_sample(sys.argv[1], fmt='parquet', invoices=int(sys.argv[2]), "
        "customers=int(sys.argv[3]), seed=int(sys.argv[4]))"
    )
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            str(out),
            str(invoices),
            str(customers),
            str(seed),
        ],
        check=True,
    )
    print(f"generated {out} in {time.perf_counter() - started:.1f} s")


def run_duckdb(data: Path, as_of: str, start: str, days: int, rc: str) -> dict:
    """The hand-written query, on a fresh connection; returns the one row."""
    sql = DUCKDB_SQL.format(d=data, as_of=as_of, start=start, window_days=days, rc=rc)
    con = duckdb.connect()
    try:
        cur = con.execute(sql)
        names = [c[0] for c in cur.description]
        row = cur.fetchone()
    finally:
        con.close()
    return dict(zip(names, row, strict=True))


def timed(fn, repeat: int) -> tuple[list[float], list[float], object]:
    """Run ``fn`` ``repeat`` times: wall seconds and CPU seconds of each run (CPU
    time of this process, all threads), and the last value."""
    walls, cpus = [], []
    value = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        value = fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, cpus, value


def load_average() -> str:
    """The 1-minute load average: other processes on the machine skew timings."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "n/a"


def ledger_parser(description: str) -> argparse.ArgumentParser:
    """Arguments shared by the benchmarks on the sample ledger under data/."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--as-of", default="2025-12-31")
    return parser


def ledger_folder(args: argparse.Namespace) -> tuple[Path, int]:
    """The Parquet folder of the sample ledger these arguments describe."""
    customers = args.customers or max(10, args.invoices // 50)
    return HERE / "data" / f"kpis_{args.invoices}_{customers}_{args.seed}", customers


def main(argv: list[str] | None = None) -> int:
    parser = ledger_parser(__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--regenerate", action="store_true")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 on a missed budget"
    )
    args = parser.parse_args(argv)
    data, customers = ledger_folder(args)

    ensure_data(data, args.invoices, customers, args.seed, args.regenerate)

    print(f"load average at start: {load_average()} (2 cores budgeted)")
    load_walls, load_cpus, ledger = timed(lambda: load_ledger(data), 1)
    load_s = load_walls[0]
    print(
        f"load_ledger            {load_s:7.2f} s wall {load_cpus[0]:7.2f} s CPU   "
        f"{len(ledger.invoices):,} invoices, {len(ledger.payments):,} payments   "
        f"peak RSS {peak_rss_mb():6.0f} MiB"
    )

    walls, cpus, result = timed(lambda: compute_kpis(ledger, args.as_of), args.repeat)
    as_of_s = statistics.median(walls)
    rss_as_of = peak_rss_mb()
    print(
        f"compute_kpis (as-of)   {as_of_s:7.2f} s wall {statistics.median(cpus):7.2f} s "
        f"CPU   median of {args.repeat} (first {walls[0]:.2f} s)   "
        f"peak RSS {rss_as_of:6.0f} MiB"
    )

    dates = month_ends(args.as_of, args.months)
    trend_walls, trend_cpus, trend = timed(lambda: kpi_trend(ledger, dates), 1)
    trend_s = trend_walls[0]
    print(
        f"kpi_trend ({args.months} months) {trend_s:7.2f} s wall {trend_cpus[0]:7.2f} s "
        f"CPU   {len(trend)} rows   peak RSS {peak_rss_mb():6.0f} MiB"
    )

    # DuckDB reference on the same files
    start = result.window_start.date().isoformat()
    duck_walls, duck_cpus, duck = timed(
        lambda: run_duckdb(
            data, args.as_of, start, result.window_days, ledger.currency
        ),
        args.repeat,
    )
    duck_s = statistics.median(duck_walls)
    ratio = as_of_s / duck_s
    ratio_load = (load_s + as_of_s) / duck_s
    print(
        f"duckdb query           {duck_s:7.2f} s wall {statistics.median(duck_cpus):7.2f} "
        f"s CPU   median of {args.repeat} (all threads)"
    )
    print(f"ratio arforecast/duckdb, wall (one as-of compute) {ratio:6.2f}x")
    print(f"ratio arforecast/duckdb, wall (load + one as-of)  {ratio_load:6.2f}x")
    print(f"load average at end: {load_average()}")

    # same numbers?
    pairs = {
        "current": (result.aging["current"], duck["b_current"]),
        "1-30": (result.aging["1-30"], duck["b_1_30"]),
        "31-60": (result.aging["31-60"], duck["b_31_60"]),
        "61-90": (result.aging["61-90"], duck["b_61_90"]),
        "91-120": (result.aging["91-120"], duck["b_91_120"]),
        "120+": (result.aging["120+"], duck["b_120_plus"]),
        "unapplied_credit": (result.unapplied_credit, duck["unapplied"]),
        "open_ar": (result.open_ar, duck["open_ar"]),
        "net_credit_sales": (result.totals["net_credit_sales"], duck["net_sales"]),
        "dso": (result.dso, duck["dso"]),
    }
    agree = True
    for name, (ours, theirs) in pairs.items():
        same = abs(float(ours) - float(theirs)) <= max(0.01, 1e-9 * abs(float(theirs)))
        agree &= same
        flag = "ok" if same else "DIFFERENT"
        print(
            f"  {name:18s} arforecast {ours:18,.2f}   duckdb {theirs:18,.2f}   {flag}"
        )
    print(f"same numbers: {'yes' if agree else 'NO'}")

    budgets = {
        f"as-of {as_of_s:.2f} s <= {BUDGET_AS_OF_S} s": as_of_s <= BUDGET_AS_OF_S,
        f"peak RSS {rss_as_of:.0f} MiB <= {BUDGET_RSS_MB:.0f} MiB": rss_as_of
        <= BUDGET_RSS_MB,
        f"trend {trend_s:.2f} s <= {BUDGET_TREND_S} s": trend_s <= BUDGET_TREND_S,
        f"ratio {ratio:.2f}x <= {BUDGET_DUCKDB_RATIO}x": ratio <= BUDGET_DUCKDB_RATIO,
    }
    for text, ok in budgets.items():
        print(f"budget {'met   ' if ok else 'MISSED'} {text}")
    failed = not agree or (args.strict and not all(budgets.values()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
