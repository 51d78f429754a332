"""Tests for arforecast.reporting.render on hand-built executed notebooks."""

from __future__ import annotations

import base64
import re

import nbformat
import pytest
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
)

from arforecast.exceptions import ReportError
from arforecast.reporting.provenance import (
    PROVENANCE_MIMETYPE,
    TITLE_MIMETYPE,
    report_title,
)
from arforecast.reporting.render import find_errors, render_notebook_html

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


def _display(data: dict, metadata: dict | None = None):
    return new_output("display_data", data=data, metadata=metadata or {})


def _executed_notebook(*, error: bool = False) -> nbformat.NotebookNode:
    params = new_code_cell("as_of = '2025-01-01'\nSECRET_PARAM = 1")
    params.metadata.tags = ["parameters"]
    injected = new_code_cell("as_of = '2025-06-30'\nINJECTED_PARAM = 2")
    injected.metadata.tags = ["injected-parameters"]
    title = report_title("Collections review", as_of="2025-06-30", portfolio="DACH")
    hidden = new_code_cell("HIDDEN_SOURCE = 3", execution_count=3)
    hidden.metadata.tags = ["remove_cell"]
    hidden.outputs = [new_output("stream", name="stdout", text="HIDDEN_OUTPUT")]
    chart = new_code_cell("show_chart()", execution_count=4)
    chart.outputs = [
        new_output("stream", name="stderr", text="UserWarning: STDERR_NOISE"),
        _display(
            {"image/png": PNG, "text/plain": "[chart]"},
            {"image/png": {"width": 640, "alt": "Aging <chart>"}},
        ),
    ]
    table = new_code_cell("kpi_table()", execution_count=5)
    table.outputs = [
        new_output(
            "execute_result",
            data={"text/html": "<table class='arf-kpi'><tr><td>DSO</td></tr></table>"},
            execution_count=5,
        )
    ]
    cells = [
        params,
        injected,
        new_code_cell(
            "show_title()",
            outputs=[
                _display({"text/html": "<h1>t</h1>", TITLE_MIMETYPE: title.to_dict()})
            ],
        ),
        hidden,
        new_markdown_cell("## Aging"),
        chart,
        table,
    ]
    if error:
        failing = new_code_cell("1/0", execution_count=6)
        failing.metadata.tags = ["remove_output"]
        failing.outputs = [
            new_output(
                "error",
                ename="ZeroDivisionError",
                evalue="division by <zero>",
                traceback=["\x1b[0;31mZeroDivisionError\x1b[0m: division by <zero>"],
            )
        ]
        cells.extend([failing, new_markdown_cell("## NEVER_RAN section")])
    else:
        provenance = {
            "arforecast_version": "9.9",
            "parameters": {"as_of": "2025-06-30"},
            "parameters_source": "job",
            "fingerprint": "abc123",
            "generated_at": "2025-07-01T06:00:00Z",
            "data_quality": {"summary": "0 fatal, 1 set aside, 2 warnings"},
        }
        cells.append(
            new_code_cell(
                "show_provenance()",
                outputs=[
                    _display({"text/html": "<p>p</p>", PROVENANCE_MIMETYPE: provenance})
                ],
            )
        )
    nb = new_notebook(cells=cells)
    nb.metadata.papermill = {"parameters": {"as_of": "2025-06-30", "portfolio": "DACH"}}
    return nb


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("render")
    nbformat.write(_executed_notebook(), folder / "collections_review.ipynb")
    out = render_notebook_html(
        folder / "collections_review.ipynb", folder / "out" / "report.html"
    )
    return out.read_text(encoding="utf-8")


def test_report_has_no_code_prompts_or_parameters(rendered):
    for leaked in ("SECRET_PARAM", "INJECTED_PARAM", "HIDDEN_SOURCE", "show_chart"):
        assert leaked not in rendered
    assert "jp-InputArea" not in rendered
    assert "jp-InputPrompt" not in rendered and "In&nbsp;[" not in rendered
    assert "Out[" not in rendered


def test_report_drops_hidden_outputs_and_stderr(rendered):
    assert "HIDDEN_OUTPUT" not in rendered
    assert "STDERR_NOISE" not in rendered


def test_report_has_title_chart_table_and_footer(rendered):
    assert "<title>Collections review — DACH — as of 30 Jun 2025</title>" in rendered
    assert re.search(r'<h1 class="arf-title">Collections review — DACH', rendered)
    assert "Period 1 Apr 2025 – 30 Jun 2025" in rendered
    assert f'src="data:image/png;base64,{PNG}"' in rendered
    assert 'alt="Aging &lt;chart&gt;"' in rendered
    assert "arf-kpi" in rendered
    footer = rendered[rendered.index('<footer class="arf-provenance">') :]
    assert "abc123" in footer and "2025-07-01T06:00:00Z" in footer
    assert "1 set aside" in footer


def test_report_is_self_contained_and_printable(rendered):
    assert "<script" not in rendered
    assert "@media print" in rendered
    assert 'rel="stylesheet"' not in rendered
    assert len(rendered.encode()) < 40_000


def test_failed_notebook_renders_with_an_error_banner(tmp_path):
    nbformat.write(_executed_notebook(error=True), tmp_path / "cash_forecast.ipynb")
    out = render_notebook_html(tmp_path / "cash_forecast.ipynb", tmp_path / "r.html")
    text = out.read_text(encoding="utf-8")
    assert 'class="arf-error-banner"' in text
    assert "ZeroDivisionError: division by &lt;zero&gt;" in text
    assert 'id="arf-error"' in text and "\x1b[" not in text
    assert "Provenance unavailable" in text
    assert "NEVER_RAN" not in text
    assert (
        find_errors(nbformat.read(tmp_path / "cash_forecast.ipynb", 4))[0]["cell"] == 7
    )


def test_title_falls_back_to_the_run_parameters(tmp_path):
    nb = _executed_notebook()
    nb.cells = [c for c in nb.cells if "show_title" not in c.source]
    del nb.metadata.papermill["parameters"]["as_of"]
    nb.cells[0].source = "as_of = '2025-06-30'\nportfolio = None"
    nbformat.write(nb, tmp_path / "cash_forecast.ipynb")
    text = render_notebook_html(
        tmp_path / "cash_forecast.ipynb", tmp_path / "r.html"
    ).read_text(encoding="utf-8")
    assert "<title>Cash forecast — DACH — as of 30 Jun 2025</title>" in text


def test_explicit_title_wins_and_is_escaped(tmp_path):
    nbformat.write(_executed_notebook(), tmp_path / "x.ipynb")
    text = render_notebook_html(
        tmp_path / "x.ipynb", tmp_path / "r.html", title="Q2 <board> pack"
    ).read_text(encoding="utf-8")
    assert "<title>Q2 &lt;board&gt; pack</title>" in text


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    nbformat.write(_executed_notebook(), tmp_path / "x.ipynb")
    target = tmp_path / "r.html"
    target.write_text("old", encoding="utf-8")
    render_notebook_html(tmp_path / "x.ipynb", target)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "x.ipynb"]


def test_unreadable_notebook_raises_report_error(tmp_path):
    (tmp_path / "bad.ipynb").write_text("{not json", encoding="utf-8")
    with pytest.raises(ReportError, match="Cannot read the executed notebook"):
        render_notebook_html(tmp_path / "bad.ipynb", tmp_path / "r.html")


def test_job_parameters_read_as_a_definition_list_not_json():
    from arforecast.reporting.provenance import format_parameter, provenance_html

    footer = provenance_html(
        {
            "parameters": {
                "as_of": "2025-12-31",
                "portfolio": None,
                "horizons": [7, 14, 30],
                "weeks": 13,
                "run": "<b>board</b>",
                "mapping": "",
            },
            "parameters_source": "job",
        }
    )
    params = footer[footer.index('<dl class="arf-params">') :]

    assert "<dt>as_of</dt><dd>2025-12-31</dd>" in params
    assert "<dt>portfolio</dt><dd>—</dd>" in params
    assert "<dt>horizons</dt><dd>7, 14, 30</dd>" in params
    assert "<dt>weeks</dt><dd>13</dd>" in params
    assert "<dt>run</dt><dd>&lt;b&gt;board&lt;/b&gt;</dd>" in params
    assert "<dt>mapping</dt><dd>(empty)</dd>" in params
    assert "null" not in params and "&quot;" not in params and "<code>" not in params
    assert format_parameter({"a": [1, None], "b": True}) == "a: 1, —; b: yes"
