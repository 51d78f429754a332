"""End-to-end tests of the report notebooks: papermill execution and HTML output.

Executing a notebook is slow (a kernel start and the report's computations), so
one module-scoped fixture executes the collections review once on a small sample
ledger and every HTML check shares it; the other notebooks are checked statically
and through the library calls they make.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from arforecast.reporting.render import render_notebook_html

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
REPORTS = ("collections_review", "cash_forecast", "executive_summary")
RUNNER_PARAMETERS = {
    "as_of",
    "portfolio",
    "data",
    "mapping",
    "currency",
    "horizons",
    "weeks",
    "window_days",
    "run_name",
    "output_dir",
    "params_json",
}
XSS = "<script>alert(1)</script>"
AS_OF = "2025-12-31"


@pytest.fixture(scope="module")
def sample_ledger_dir(tmp_path_factory) -> Path:
    """A small sample ledger whose most urgent customer has a hostile name."""
    from arforecast.io import load_ledger
    from arforecast.kpis import collector_worklist
    from arforecast.sample import write_sample

    folder = tmp_path_factory.mktemp("ledger")
    write_sample(folder, customers=25, invoices=700, seed=7)
    worklist = collector_worklist(load_ledger(folder), AS_OF, top=1)
    customers = pd.read_csv(folder / "customers.csv", dtype=str)
    customers.loc[customers["customer_id"] == worklist["customer_id"][0], "name"] = XSS
    customers.to_csv(folder / "customers.csv", index=False)
    return folder


@pytest.fixture(scope="module")
def collections_html(sample_ledger_dir, tmp_path_factory) -> str:
    """The collections review executed with papermill and rendered to HTML."""
    import papermill

    out = tmp_path_factory.mktemp("report")
    params = {
        "as_of": AS_OF,
        "portfolio": None,
        "data": str(sample_ledger_dir),
        "run_name": "test",
        "output_dir": str(out),
        "params_json": json.dumps({"as_of": AS_OF, "run": "test"}),
    }
    executed = out / "collections_review.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "collections_review.ipynb"),
        str(executed),
        parameters=params,
        kernel_name="python3",
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    html_path = render_notebook_html(executed, out / "collections_review.html")
    return html_path.read_text(encoding="utf-8")


def _parameters_cell(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{name}: exactly one parameters cell"
    return tagged[0]


@pytest.mark.parametrize("name", REPORTS)
def test_template_declares_every_runner_parameter_with_literal_defaults(name):
    tree = ast.parse(_parameters_cell(name).source)
    defaults = {
        t.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    }
    assert set(defaults) == RUNNER_PARAMETERS
    assert defaults["horizons"] == [7, 14, 30, 60, 90] and defaults["weeks"] == 13
    assert defaults["data"] == "../sample_data"


@pytest.mark.parametrize("name", REPORTS)
def test_template_is_committed_without_outputs_and_ends_with_provenance(name):
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    assert "show_provenance(" in code[-1].source
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("name", REPORTS)
def test_template_calls_only_library_functions_that_exist(name):
    from arforecast.reporting import charts, summary, tables

    modules = {"charts": charts, "summary": summary, "tables": tables}
    nb = nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    calls = re.findall(r"\b(charts|summary|tables)\.(\w+)\(", source)
    assert calls
    for module, attr in calls:
        assert callable(getattr(modules[module], attr, None)), f"{module}.{attr}"


def test_cash_forecast_explains_its_model_in_plain_words():
    nb = nbformat.read(NOTEBOOKS / "cash_forecast.ipynb", as_version=4)
    source = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "tables.forecast_model_summary(forecast.model" in source
    assert "forecast_model_table" not in source


@pytest.mark.slow
def test_report_has_no_code_prompts_or_parameter_source(collections_html):
    assert "jp-InputArea" not in collections_html
    assert "In&nbsp;[" not in collections_html and "Out[" not in collections_html
    assert "load_report_ledger" not in collections_html
    assert "params_json =" not in collections_html
    assert "injected-parameters" not in collections_html


@pytest.mark.slow
def test_report_has_title_kpi_table_charts_and_provenance(collections_html):
    assert re.search(
        r"<title>Collections review — All portfolios — as of 31 Dec 2025</title>",
        collections_html,
    )
    assert "Period 1 Oct 2025 – 31 Dec 2025" in collections_html
    assert 'class="arf-table arf-kpi"' in collections_html
    assert "Days sales outstanding (DSO)" in collections_html
    images = re.findall(r'<img [^>]*src="data:image/png;base64,', collections_html)
    assert len(images) == 4  # aging, pipeline, DSO trend, CEI trend
    footer = collections_html[collections_html.index('class="arf-provenance"') :]
    assert "Input fingerprint" in footer and "Generated" in footer
    assert "<dt>run</dt><dd>test</dd>" in footer  # the job's params_json
    assert 'class="arf-error-banner"' not in collections_html
    assert "<script" not in collections_html.replace("&lt;script", "")


@pytest.mark.slow
def test_customer_names_are_escaped_in_the_report(collections_html):
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in collections_html
    assert "<script>alert(1)" not in collections_html


@pytest.mark.slow
def test_executive_summary_writes_its_email_assets(sample_ledger_dir, tmp_path):
    from arforecast.cashflow import forecast_cash
    from arforecast.io import load_ledger
    from arforecast.reporting.summary import build_executive_summary

    ledger = load_ledger(sample_ledger_dir)
    forecast = forecast_cash(ledger, AS_OF, weeks=13, timing="empirical", n_sims=200)
    summary = build_executive_summary(
        ledger, AS_OF, forecast=forecast, params_json='{"as_of": "2025-12-31"}'
    )
    path = summary.save(tmp_path)
    data = json.loads(path.read_text(encoding="utf-8"))

    assert data["schema_version"] == 1 and data["as_of"] == AS_OF
    keys = [h["key"] for h in data["headline"]]
    assert keys == ["open_ar", "percent_current", "dso", "add", "cei", "expected_cash"]
    for item in data["headline"]:
        assert {
            "label",
            "value",
            "unit",
            "display",
            "definition",
            "change_display",
        } <= set(item)
    cash = data["headline"][-1]
    assert cash["lo80"] <= cash["value"] <= cash["hi80"]
    parts = cash["from_open_invoices"] + cash["from_new_invoices"]
    assert parts == pytest.approx(cash["value"], abs=0.01)
    assert "from invoices not yet issued" in cash["definition"]
    assert data["at_risk_note"].startswith("Overdue accounts are ranked by")
    assert data["previous_as_of"] == "2025-11-30" and data["what_changed"]
    assert any(r["name"] == XSS for r in data["at_risk"])  # raw text, escaped later
    for chart in data["charts"]:
        assert (tmp_path / chart["file"]).read_bytes().startswith(b"\x89PNG")
        assert chart["alt"] and chart["title"]
    assert data["provenance"]["fingerprint"] == ledger.fingerprint
    assert set(data["data_quality"]["counts"]) == {"fatal", "set_aside", "warning"}
    assert "&lt;script&gt;" in summary.risks_html().html
