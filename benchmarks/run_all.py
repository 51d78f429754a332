"""Run every benchmark script in this folder, one fresh process each.

Each ``bench_*.py`` prints its own figures and its ratio to a reference (the
budget in the design card, or a hand-written DuckDB query run beside it). This
script only runs them in turn and prints a one-line status per script, so that
``make bench`` shows everything at once.

Usage: ``python benchmarks/run_all.py [--only NAME] [--invoices N]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run only bench_<ONLY>.py")
    parser.add_argument(
        "--invoices",
        type=int,
        default=None,
        help="ledger size passed to scripts that take --invoices",
    )
    args = parser.parse_args(argv)

    scripts = sorted(HERE.glob("bench_*.py"))
    if args.only:
        scripts = [s for s in scripts if s.stem == f"bench_{args.only}"]
        if not scripts:
            parser.error(f"no benchmarks/bench_{args.only}.py")

    failures = 0
    for script in scripts:
        cmd = [sys.executable, str(script)]
        if args.invoices is not None:
            cmd += ["--invoices", str(args.invoices)]
        print(f"\n=== {script.name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call(cmd, cwd=HERE.parent)
        took = time.perf_counter() - started
        status = "ok" if code == 0 else f"exit {code}"
        print(f"=== {script.name}: {status} in {took:.1f} s ===", flush=True)
        failures += code != 0
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
