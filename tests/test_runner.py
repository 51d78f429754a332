"""Tests for the batch runner with tiny stand-in notebooks the tests write."""

from __future__ import annotations

import email
import json
import textwrap
import threading
from email import policy
from pathlib import Path

import nbformat
import pytest

from arforecast import runner
from arforecast.config import EmailSettings, RecipientList, RunConfig
from arforecast.exceptions import ConfigError, ReportError
from arforecast.runner import Job, plan_jobs, run_batch, run_job

STANDARD_PARAMETERS = textwrap.dedent(
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

# A 1×1 transparent PNG, so stand-in summaries carry a real image part.
PNG_B64 = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg=="
)

SUMMARY_CELL = textwrap.dedent(
    f"""\
    import base64, json, pathlib
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "aging.png").write_bytes(base64.b64decode("{PNG_B64}"))
    summary = {{
        "schema_version": 1, "title": f"Summary {{portfolio}}", "as_of": as_of,
        "portfolio": portfolio, "currency": "EUR",
        "headline": [{{"label": "Open AR", "display": "EUR 1,000"}}],
        "what_changed": ["DSO rose 2 days"],
        "at_risk": [{{"name": "<Acme & Sons>", "amount_display": "EUR 900",
                      "detail": "call"}}],
        "charts": [{{"file": "aging.png", "alt": "Aging", "width": 640,
                     "height": 350}}],
    }}
    (out / "summary.json").write_text(json.dumps(summary))
    """
)


def write_notebook(
    path: Path, body: str, parameters: str = STANDARD_PARAMETERS
) -> Path:
    """Write a two-cell stand-in template: tagged parameters, then ``body``."""
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def trivial_render(
    executed: Path, html_path: Path, *, title: str | None = None
) -> Path:
    """Stand-in for reporting.render: the title and the notebook's stdout."""
    nb = nbformat.read(executed, as_version=4)
    text = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    html_path.write_text(f"<html><body><h1>{title}</h1><pre>{text}</pre></body></html>")
    return html_path


@pytest.fixture(autouse=True)
def fast_render(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patch in the trivial renderer, and pin the package-code fingerprint (other
    work on the source tree must not make a re-run look changed)."""
    monkeypatch.setattr(runner, "_render_html", trivial_render)
    monkeypatch.setattr(runner, "_code_fingerprint", lambda: "pinned")


@pytest.fixture()
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "ledger" / "invoices.csv"
    path.parent.mkdir()
    path.write_text("invoice_id,amount\n1,10\n", encoding="utf-8")
    return path


def make_config(
    tmp_path: Path, data: Path, notebooks: list[Path], **changes
) -> RunConfig:
    settings = dict(
        run="test",
        data=data,
        as_of=("2025-12-31",),
        notebooks=tuple(notebooks),
        portfolios=("A", "B"),
        output=tmp_path / "reports",
        workers=2,
        timeout_seconds=60,
    )
    settings.update(changes)
    return RunConfig(**settings)


def test_parameters_arrive_with_their_types(tmp_path: Path) -> None:
    parameters_cell = (
        'as_of = "2000-01-01"\nportfolio = "x"\nhorizons = [1]\noffset = 0\n'
        'output_dir = "."\n'
    )
    body = textwrap.dedent(
        """\
        import json, os, pathlib
        seen = {k: [repr(v), type(v).__name__] for k, v in
                dict(as_of=as_of, portfolio=portfolio, horizons=horizons,
                     offset=offset).items()}
        seen["cwd"] = os.getcwd()
        pathlib.Path(output_dir, "types.json").write_text(json.dumps(seen))
        """
    )
    template = write_notebook(tmp_path / "nb" / "typed.ipynb", body, parameters_cell)
    out = tmp_path / "out"
    job = Job(
        "2025-12-31",
        None,
        template,
        out,
        {
            "as_of": "2025-12-31",
            "portfolio": None,
            "horizons": [7, 30],
            "offset": -5,
            "output_dir": str(out),
        },
    )

    result = run_job(job, timeout_seconds=60)

    assert result.status == "ok", result.error
    seen = json.loads((out / "types.json").read_text())
    assert seen["as_of"] == ["'2025-12-31'", "str"]
    assert seen["portfolio"] == ["None", "NoneType"]
    assert seen["horizons"] == ["[7, 30]", "list"]
    assert seen["offset"] == ["-5", "int"]
    assert Path(seen["cwd"]) == template.parent
    assert job.ipynb_path.exists() and job.html_path.exists()
    assert not list(out.glob(".*.tmp*"))


def test_template_without_parameters_cell_is_refused(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1")]
    path = tmp_path / "untagged.ipynb"
    nbformat.write(nb, path)
    job = Job("2025-12-31", None, path, tmp_path / "out", {"x": 2})

    with pytest.raises(
        ReportError, match=r"untagged\.ipynb has no cell tagged 'parameters'"
    ):
        run_job(job)


def test_undeclared_parameter_is_refused_listing_declared_ones(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb.ipynb", "pass", 'as_of = "x"\nweeks = 13\n')
    job = Job(
        "2025-12-31", None, path, tmp_path / "out", {"as_of": "d", "horizon": [7]}
    )

    with pytest.raises(
        ReportError,
        match=r"does not declare the parameter\(s\) \['horizon'\].*\['as_of', 'weeks'\]",
    ):
        run_job(job)


def test_batch_refuses_undeclared_parameters_before_running(
    tmp_path: Path, data_file: Path
) -> None:
    path = write_notebook(tmp_path / "nb" / "short.ipynb", "pass", 'as_of = "x"\n')
    config = make_config(tmp_path, data_file, [path])

    with pytest.raises(ReportError, match=r"short\.ipynb does not declare"):
        run_batch(config, progress=False)
    assert not (tmp_path / "reports" / "test" / "index.html").exists()


def test_batch_with_missing_data_is_refused(tmp_path: Path) -> None:
    path = write_notebook(tmp_path / "nb" / "one.ipynb", "pass")
    config = make_config(tmp_path, tmp_path / "absent", [path])

    with pytest.raises(ConfigError, match=r"data not found: .*absent"):
        run_batch(config, progress=False)


def test_failed_job_is_isolated_saved_indexed_and_never_mailed(
    tmp_path: Path, data_file: Path
) -> None:
    body = SUMMARY_CELL + 'if portfolio == "B":\n    raise ValueError("boom in B")\n'
    template = write_notebook(tmp_path / "nb" / "executive_summary.ipynb", body)
    mail = EmailSettings(
        enabled=True,
        sender="ar@example.com",
        recipients=(
            RecipientList("both", ("both@example.com",)),
            RecipientList("only-a", ("a@example.com",), portfolios=("A",)),
        ),
    )
    config = make_config(tmp_path, data_file, [template], email=mail)

    result = run_batch(config, dry_run=True, progress=False)

    by_portfolio = {r.job.portfolio: r for r in result.jobs}
    assert result.failed == 1 and result.exit_code == 1
    assert by_portfolio["A"].status == "ok"
    assert by_portfolio["B"].status == "failed"
    assert "ValueError: boom in B" in by_portfolio["B"].error
    assert by_portfolio["A"].job.html_path.exists()
    assert not by_portfolio["B"].job.html_path.exists()
    saved = nbformat.read(by_portfolio["B"].job.ipynb_path, as_version=4)
    assert any(
        o.get("ename") == "ValueError"
        for c in saved.cells
        for o in c.get("outputs", [])
    )

    index = json.loads((result.run_dir / "index.json").read_text())
    statuses = {(j["portfolio"], j["status"]) for j in index["jobs"]}
    assert statuses == {("A", "ok"), ("B", "failed")}
    assert "boom in B" in result.index_path.read_text()

    both = email.message_from_bytes(
        (result.run_dir / "2025-12-31" / "email-both.eml").read_bytes(),
        policy=policy.default,
    )
    assert both["Subject"].startswith("[FAILED")
    names = [part.get_filename() for part in both.iter_attachments()]
    assert names == ["2025-12-31_A_executive_summary.html"]
    assert "boom in B" in both.get_body(("plain",)).get_content()
    only_a = email.message_from_bytes(
        (result.run_dir / "2025-12-31" / "email-only-a.eml").read_bytes(),
        policy=policy.default,
    )
    assert not only_a["Subject"].startswith("[FAILED")


def test_parallel_workers_produce_distinct_correct_outputs(
    tmp_path: Path, data_file: Path
) -> None:
    body = textwrap.dedent(
        """\
        import json, pathlib, time
        time.sleep(0.1)
        out = pathlib.Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "echo.json").write_text(json.dumps([as_of, portfolio]))
        print(f"{as_of}|{portfolio}")
        """
    )
    template = write_notebook(tmp_path / "nb" / "echo.ipynb", body)
    config = make_config(
        tmp_path,
        data_file,
        [template],
        as_of=("2025-11-30", "2025-12-31"),
        portfolios=("P1", "P2", "P3", "P4"),
        workers=4,
    )

    for _ in range(2):
        result = run_batch(config, force=True, progress=False)

        assert [r.status for r in result.jobs] == ["ok"] * 8
        seen = set()
        for r in result.jobs:
            assert json.loads((r.job.output_dir / "echo.json").read_text()) == [
                r.job.as_of,
                r.job.portfolio,
            ]
            assert f"{r.job.as_of}|{r.job.portfolio}" in r.job.html_path.read_text()
            seen.add(r.job.html_path)
        assert len(seen) == 8


def test_unchanged_jobs_are_skipped_until_inputs_change_or_force(
    tmp_path: Path, data_file: Path
) -> None:
    template = write_notebook(tmp_path / "nb" / "tiny.ipynb", "print(as_of)")
    config = make_config(tmp_path, data_file, [template], portfolios=("all",))

    first = run_batch(config, progress=False)
    again = run_batch(config, progress=False)
    data_file.write_text("invoice_id,amount\n1,11\n", encoding="utf-8")
    changed = run_batch(config, progress=False)
    forced = run_batch(config, force=True, progress=False)

    assert [r.status for r in first.jobs] == ["ok"]
    assert [r.status for r in again.jobs] == ["skipped"]
    assert [r.status for r in changed.jobs] == ["ok"]
    assert [r.status for r in forced.jobs] == ["ok"]
    assert first.jobs[0].job.output_dir.name == "all"


def test_kernel_start_failure_is_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill

    real = papermill.execute_notebook
    calls = []
    lock = threading.Lock()

    def flaky(*args, **kwargs):
        with lock:
            calls.append(1)
            first = len(calls) == 1
        if first:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        return real(*args, **kwargs)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    template = write_notebook(tmp_path / "retry.ipynb", "pass", 'as_of = "x"\n')
    job = Job("2025-12-31", None, template, tmp_path / "out", {"as_of": "2025-12-31"})

    result = run_job(job, timeout_seconds=60)

    assert result.status == "ok" and result.attempts == 2


def test_plan_jobs_lays_out_as_of_portfolio_notebook(
    tmp_path: Path, data_file: Path
) -> None:
    a = write_notebook(tmp_path / "nb" / "one.ipynb", "pass")
    b = write_notebook(tmp_path / "nb" / "two.ipynb", "pass")
    config = make_config(tmp_path, data_file, [a, b], portfolios=("all", "EMEA/South"))

    jobs = plan_jobs(config)

    assert len(jobs) == 4
    assert (
        jobs[0].html_path
        == tmp_path / "reports" / "test" / "2025-12-31" / "all" / "one.html"
    )
    assert jobs[2].output_dir.name == "EMEA_South"
    params = jobs[2].parameters
    assert params["portfolio"] == "EMEA/South" and params["horizons"] == [
        7,
        14,
        30,
        60,
        90,
    ]
    assert json.loads(params["params_json"])["notebook"] == "one.ipynb"
    assert plan_jobs(config, as_of="2025-06-30", portfolio="all")[0].portfolio is None


def test_portfolio_folders_stay_distinct_when_slugs_collide(
    tmp_path: Path, data_file: Path
) -> None:
    nb = write_notebook(tmp_path / "nb" / "one.ipynb", "pass")
    config = make_config(tmp_path, data_file, [nb], portfolios=("UK&I", "UK I"))

    folders = [job.output_dir.name for job in plan_jobs(config)]

    assert len(set(folders)) == 2 and all(f.startswith("UK_I-") for f in folders)


def test_each_expands_to_the_data_portfolios(
    tmp_path: Path, data_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_data_portfolios", lambda config: ["EU", "US"])
    nb = write_notebook(tmp_path / "nb" / "one.ipynb", "pass")
    config = make_config(tmp_path, data_file, [nb], portfolios=("all", "each"))

    assert runner.resolve_portfolios(config) == [None, "EU", "US"]


def test_cell_timeout_fails_the_job_and_keeps_the_notebook(tmp_path: Path) -> None:
    template = write_notebook(
        tmp_path / "slow.ipynb", "import time\ntime.sleep(3)", 'as_of = "x"\n'
    )
    job = Job("2025-12-31", None, template, tmp_path / "out", {"as_of": "2025-12-31"})

    result = run_job(job, timeout_seconds=1)

    assert result.status == "failed" and result.attempts == 1
    assert result.error.startswith("CellTimeoutError: A cell timed out")
    assert "\n" not in result.error
    assert job.ipynb_path.exists() and not job.html_path.exists()


def test_unknown_portfolio_is_refused_before_any_job_runs(tmp_path: Path) -> None:
    from arforecast.sample import write_sample

    data = tmp_path / "ledger"
    write_sample(data, customers=20, invoices=300, seed=1)
    nb = write_notebook(tmp_path / "nb" / "one.ipynb", "pass")
    config = make_config(tmp_path, data, [nb], portfolios=("all", "Nordcs"))

    with pytest.raises(ConfigError, match=r"\['Nordcs'\] not in the data.*Nordics"):
        runner.check_portfolios(config)
    runner.check_portfolios(config, "Nordics")  # a known one passes
    runner.check_portfolios(make_config(tmp_path, data, [nb], portfolios=("each",)))
