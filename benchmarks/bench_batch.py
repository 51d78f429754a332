"""Batch benchmark: per-notebook overhead of the runner, and the demo batch wall time.

Figures printed:

1. Per-notebook overhead with a trivial notebook (parameters cell + ``pass``):
   - a fresh ``python -m papermill`` process per notebook (the naive way);
   - a fresh ``python -m nbconvert --to html`` process per notebook;
   - ``run_batch`` with 1 worker (kernel start + execution + HTML render inside
     one long-lived process) and with 2 workers (wall time / jobs).
2. The demo batch (``params/demo.yaml`` over a freshly written sample ledger,
   ``force=True``, ``dry_run=True``): wall time, jobs, slowest jobs, and the
   size of each e-mail's HTML body (budget 100 KB). The budget for 4 portfolios
   × 3 notebooks is 60 s on 2 cores; the script also times that subset.

Usage: ``python benchmarks/bench_batch.py [--repeat N] [--skip-demo]
[--invoices N]``. Results also go to ``benchmarks/results/bench_batch.json``.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from email import policy
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PARAMETERS = textwrap.dedent(
    """\
    as_of = "2000-01-31"
    portfolio = None
    data = ""
    mapping = None
    currency = None
    horizons = [7]
    weeks = 13
    window_days = None
    run_name = "x"
    output_dir = "."
    params_json = "{}"
    """
)


def write_trivial_notebook(path: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(PARAMETERS)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell("pass")]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)
    return path


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (kernels included)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def time_fresh_processes(notebook: Path, work: Path, repeat: int) -> dict[str, float]:
    """Median seconds per notebook for fresh papermill / nbconvert processes."""
    from arforecast.runner import ensure_kernel

    kernel = ensure_kernel()
    executed = work / "fresh_out.ipynb"
    papermill_times, nbconvert_times = [], []
    cpu_start = cpu_seconds()
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "papermill",
                str(notebook),
                str(executed),
                "-k",
                kernel,
                "--no-progress-bar",
                "--log-level",
                "ERROR",
            ],
            check=True,
            capture_output=True,
        )
        papermill_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "nbconvert",
                "--to",
                "html",
                "--no-input",
                str(executed),
                "--output-dir",
                str(work),
            ],
            check=True,
            capture_output=True,
        )
        nbconvert_times.append(time.perf_counter() - started)
    return {
        "fresh_papermill_s": statistics.median(papermill_times),
        "fresh_nbconvert_s": statistics.median(nbconvert_times),
        "fresh_cpu_s_per_nb": (cpu_seconds() - cpu_start) / repeat,
    }


def time_runner(
    notebook: Path, work: Path, jobs: int, workers: int
) -> tuple[float, float]:
    """Wall and CPU seconds per trivial job through run_batch (execute + render)."""
    from arforecast.config import RunConfig
    from arforecast.runner import run_batch

    data = work / "data.csv"
    data.write_text("x\n1\n", encoding="utf-8")
    config = RunConfig(
        run=f"trivial-w{workers}",
        data=data,
        as_of=("2025-12-31",),
        notebooks=(notebook,),
        portfolios=tuple(f"P{i}" for i in range(jobs)),
        output=work / "reports",
        workers=workers,
    )
    run_batch(config, force=True, progress=False)  # warm-up: imports, templates
    started, cpu_start = time.perf_counter(), cpu_seconds()
    result = run_batch(config, force=True, progress=False)
    wall = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_start
    assert result.failed == 0, [r.error for r in result.jobs if r.error]
    return wall / jobs, cpu / jobs


def run_demo(work: Path, invoices: int | None) -> dict[str, object]:
    """The demo batch over a fresh sample, and the 4 × 3 budget subset."""
    from arforecast.config import load_params
    from arforecast.runner import run_batch
    from arforecast.sample import write_sample

    sample_dir = REPO / "sample_data"
    kwargs = {} if invoices is None else {"invoices": invoices}
    write_sample(sample_dir, **kwargs)
    env = dict(os.environ, ARFORECAST_OUTPUT=str(work / "demo_reports"))
    config = load_params(REPO / "params" / "demo.yaml", env=env)

    started = time.perf_counter()
    result = run_batch(config, force=True, dry_run=True, progress=True)
    demo_wall = time.perf_counter() - started

    last = config.as_of[-1]
    started = time.perf_counter()
    subset = run_batch(
        config, force=True, dry_run=True, as_of=last, portfolio=None, progress=False
    )
    per_portfolio = [r for r in subset.jobs if r.job.portfolio is not None]
    subset_wall = time.perf_counter() - started

    sizes = {}
    for path in result.emails:
        if path.endswith(".eml"):
            message = email.message_from_bytes(
                Path(path).read_bytes(), policy=policy.default
            )
            html = message.get_body(("html",)).get_content()
            sizes[Path(path).name + "@" + Path(path).parent.name] = {
                "html_bytes": len(html.encode("utf-8")),
                "eml_bytes": Path(path).stat().st_size,
            }
    slowest = sorted(result.jobs, key=lambda r: r.duration_seconds, reverse=True)[:5]
    return {
        "demo_jobs": len(result.jobs),
        "demo_failed": result.failed,
        "demo_wall_s": demo_wall,
        "subset_jobs": len(subset.jobs),
        "subset_portfolio_jobs": len(per_portfolio),
        "subset_wall_s": subset_wall,
        "slowest": [(r.job.label, round(r.duration_seconds, 2)) for r in slowest],
        "emails": sizes,
        "errors": [(r.job.label, r.error) for r in result.jobs if r.error],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="fresh-process runs")
    parser.add_argument("--jobs", type=int, default=8, help="trivial jobs per batch")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--invoices", type=int, default=None, help="demo sample size")
    args = parser.parse_args(argv)

    figures: dict[str, object] = {"cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="arf-bench-") as tmp:
        work = Path(tmp)
        notebook = write_trivial_notebook(work / "trivial.ipynb")
        figures.update(time_fresh_processes(notebook, work, args.repeat))
        wall1, cpu1 = time_runner(notebook, work, args.jobs, 1)
        wall2, cpu2 = time_runner(notebook, work, args.jobs, 2)
        figures.update(
            runner_1_worker_s_per_nb=wall1,
            runner_1_worker_cpu_s_per_nb=cpu1,
            runner_2_workers_s_per_nb=wall2,
            runner_2_workers_cpu_s_per_nb=cpu2,
        )
        naive = figures["fresh_papermill_s"] + figures["fresh_nbconvert_s"]
        figures["naive_s_per_nb"] = naive
        load = os.getloadavg()[0]
        figures["load_average_1min"] = load

        print(
            f"Per-notebook overhead (trivial notebook; load average {load:.1f} on "
            f"{os.cpu_count()} CPUs, so wall times include contention):"
        )
        print(f"  fresh papermill process   {figures['fresh_papermill_s']:6.2f} s")
        print(f"  fresh nbconvert process   {figures['fresh_nbconvert_s']:6.2f} s")
        print(
            f"  naive total               {naive:6.2f} s wall, "
            f"{figures['fresh_cpu_s_per_nb']:.2f} s CPU"
        )
        print(
            f"  runner, 1 worker          {wall1:6.2f} s wall, {cpu1:.2f} s CPU "
            f"({naive / wall1:.1f}x faster than naive)"
        )
        print(f"  runner, 2 workers         {wall2:6.2f} s wall, {cpu2:.2f} s CPU")

        if not args.skip_demo:
            demo = run_demo(work, args.invoices)
            figures["demo"] = demo
            print(
                f"Demo batch: {demo['demo_jobs']} jobs, {demo['demo_failed']} failed, "
                f"{demo['demo_wall_s']:.1f} s wall (budget 120 s)"
            )
            print(
                f"  {demo['subset_jobs']} jobs at one as_of "
                f"({demo['subset_portfolio_jobs']} = 4 portfolios x 3 notebooks + the "
                f"whole book): {demo['subset_wall_s']:.1f} s wall (budget 60 s for "
                "4 x 3)"
            )
            print("  slowest jobs:", demo["slowest"])
            for name, size in demo["emails"].items():
                print(
                    f"  e-mail {name}: HTML body {size['html_bytes']:,} bytes "
                    f"(budget 100,000), .eml {size['eml_bytes']:,} bytes"
                )
            for label, error in demo["errors"]:
                print(f"  FAILED {label}: {error}")

    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "bench_batch.json").write_text(
        json.dumps(figures, indent=1, default=str)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
