"""Executed notebook → one self-contained HTML report (nbconvert, our template).

`render_notebook_html` is what the runner calls after papermill has executed a
report notebook. The page it writes:

- shows outputs only: no input cells, no prompts, no ``parameters`` or
  ``injected-parameters`` cell, no cells tagged ``remove_cell`` or ``hide``
  (outputs of cells tagged ``remove_output`` are dropped too), no stderr streams
  or warnings;
- is one file: our small stylesheet inline (with ``@media print`` rules), charts
  as base64 PNG ``<img>`` elements, no scripts;
- starts with a title naming the report, portfolio, period and as-of date (from the
  notebook's `arforecast.reporting.provenance.show_title` output, else from the
  papermill parameters), and an error banner when any cell failed;
- ends with the provenance footer produced by
  `arforecast.reporting.provenance.show_provenance`;
- is written atomically as UTF-8 (temp file in the target folder, then
  `os.replace`).

The template lives in ``arforecast/reporting/templates/arforecast_report`` and
extends nbconvert's ``lab`` templates by name.
"""

from __future__ import annotations

import ast
import copy
import logging
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import nbformat

from arforecast.exceptions import ReportError
from arforecast.reporting.provenance import (
    PROVENANCE_MIMETYPE,
    TITLE_MIMETYPE,
    provenance_html,
    report_title,
)

logger = logging.getLogger(__name__)

__all__ = [
    "REMOVE_CELL_TAGS",
    "TEMPLATE_DIR",
    "TEMPLATE_NAME",
    "find_errors",
    "prepare_notebook",
    "render_notebook_html",
    "render_html",
]

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
TEMPLATE_NAME = "arforecast_report"

#: Cells with any of these tags are left out of the report.
REMOVE_CELL_TAGS = frozenset(
    {
        "parameters",
        "injected-parameters",
        "remove_cell",
        "remove-cell",
        "hide",
        "papermill-error-cell-tag",
    }
)
#: Cells with these tags keep nothing but are still executed.
REMOVE_OUTPUT_TAGS = frozenset({"remove_output", "remove-output"})

#: Report names by notebook file stem, used when a notebook has no title output.
REPORT_NAMES = {
    "collections_review": "Collections review",
    "cash_forecast": "Cash forecast",
    "executive_summary": "Executive summary",
}


# ---------------------------------------------------------------------------
# notebook preparation
# ---------------------------------------------------------------------------


def find_errors(nb: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """Error outputs of an executed notebook, in cell order.

    Returns
    -------
    list of dict
        ``{"cell": index, "ename": ..., "evalue": ...}`` per error output.
    """
    errors = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(
                    {
                        "cell": index,
                        "ename": str(output.get("ename", "Error")),
                        "evalue": str(output.get("evalue", "")),
                    }
                )
    return errors


def _keep_output(output: dict[str, Any]) -> bool:
    kind = output.get("output_type")
    if kind == "stream":
        return output.get("name") == "stdout"
    return True


def _is_error(output: dict[str, Any]) -> bool:
    return output.get("output_type") == "error"


def prepare_notebook(
    nb: nbformat.NotebookNode,
) -> tuple[nbformat.NotebookNode, dict[str, Any] | None, dict[str, Any] | None]:
    """Strip a notebook down to what the report shows.

    Removes tagged cells (`REMOVE_CELL_TAGS`), outputs of cells tagged
    `REMOVE_OUTPUT_TAGS`, stderr streams and code of every cell, and lifts out the
    title and provenance outputs. Error outputs are always kept, whatever the
    cell's tags, and nothing after the first failing cell is shown (it never ran).

    Parameters
    ----------
    nb : NotebookNode
        An executed notebook (left unchanged).

    Returns
    -------
    (NotebookNode, dict or None, dict or None)
        The stripped copy, the title data and the provenance data.
    """
    out = copy.deepcopy(nb)
    title: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    cells = []
    for cell in out.cells:
        tags = set(cell.get("metadata", {}).get("tags", []))
        outputs = cell.get("outputs", []) if cell.get("cell_type") == "code" else []
        failed = any(_is_error(o) for o in outputs)
        if tags & REMOVE_CELL_TAGS and not failed:
            continue
        if cell.get("cell_type") == "code":
            cell["source"] = ""
            hidden = bool(tags & (REMOVE_OUTPUT_TAGS | REMOVE_CELL_TAGS))
            kept = []
            for output in outputs:
                if _is_error(output):
                    kept.append(output)
                    continue
                if hidden or not _keep_output(output):
                    continue
                data = output.get("data", {})
                if TITLE_MIMETYPE in data:
                    title = title or dict(data[TITLE_MIMETYPE])
                    continue
                if PROVENANCE_MIMETYPE in data:
                    provenance = dict(data[PROVENANCE_MIMETYPE])
                    continue
                kept.append(output)
            cell["outputs"] = kept
            if kept:
                cells.append(cell)
            if failed:
                break
            continue
        cells.append(cell)
    out.cells = cells
    return out, title, provenance


def _notebook_parameters(nb: nbformat.NotebookNode) -> dict[str, Any]:
    """The parameter values a run used: the template's defaults, then papermill's."""
    values: dict[str, Any] = {}
    for cell in nb.cells:
        if "parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        try:
            tree = ast.parse(cell.get("source", ""))
        except SyntaxError:
            break
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name):
                    try:
                        values[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        logger.debug("parameter %s is not a literal", target.id)
        break
    papermill = nb.get("metadata", {}).get("papermill", {}).get("parameters") or {}
    values.update(papermill)
    return values


def _fallback_title(nb: nbformat.NotebookNode, stem: str) -> dict[str, Any]:
    """Title data from the papermill parameters when the notebook made none."""
    meta = nb.get("metadata", {})
    params = _notebook_parameters(nb)
    report = meta.get("arforecast", {}).get("report") or REPORT_NAMES.get(
        stem, stem.replace("_", " ").capitalize()
    )
    as_of = params.get("as_of")
    if as_of:
        try:
            block = report_title(
                report,
                as_of=as_of,
                portfolio=params.get("portfolio"),
                window_days=params.get("window_days"),
                currency=params.get("currency"),
            )
            return block.to_dict()
        except (ValueError, TypeError):
            logger.debug("as_of %r does not parse; plain title used", as_of)
    portfolio = params.get("portfolio") or "All portfolios"
    return {"title": f"{report} \u2014 {portfolio}", "subtitle": ""}


# ---------------------------------------------------------------------------
# export
# ---------------------------------------------------------------------------


def _exporter() -> Any:
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.HTMLExporter.exclude_input = True
    config.HTMLExporter.exclude_input_prompt = True
    config.HTMLExporter.exclude_output_prompt = True
    config.HTMLExporter.embed_images = True
    config.HTMLExporter.anchor_link_text = ""
    config.HTMLExporter.exclude_anchor_links = True
    exporter = HTMLExporter(
        config=config,
        template_name=TEMPLATE_NAME,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
    )
    return exporter


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; reports are shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_html(
    nb: nbformat.NotebookNode,
    *,
    title: str | None = None,
    name: str = "report",
) -> str:
    """Render an executed notebook to report HTML (a string).

    Parameters
    ----------
    nb : NotebookNode
        Executed notebook.
    title : str, optional
        Page title, overriding the notebook's own.
    name : str, default="report"
        Notebook file stem, used for a fallback title.

    Returns
    -------
    str
        The complete HTML document.
    """
    from arforecast.reporting.provenance import _version

    errors = find_errors(nb)
    stripped, title_data, provenance = prepare_notebook(nb)
    title_data = title_data or _fallback_title(nb, name)
    rendered_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    resources = {
        "metadata": {"name": name},
        "arf": {
            "title": title or title_data.get("title") or name,
            "subtitle": title_data.get("subtitle", ""),
            "error": errors[0] if errors else None,
            "provenance_html": provenance_html(provenance) if provenance else "",
            "rendered_at": rendered_at.replace("+00:00", "Z"),
            "version": _version(),
        },
    }
    body, _ = _exporter().from_notebook_node(stripped, resources=resources)
    return body


def render_notebook_html(
    executed_ipynb: Path | str,
    html_path: Path | str,
    *,
    title: str | None = None,
) -> Path:
    """Render an executed report notebook to a self-contained HTML file.

    Parameters
    ----------
    executed_ipynb : Path or str
        The notebook papermill wrote (with outputs; it may hold an error).
    html_path : Path or str
        Where to write the report; written atomically (temp file in the same
        folder, then renamed), UTF-8.
    title : str, optional
        Page title; by default the notebook's title (report, portfolio, as-of
        date), else one built from the papermill parameters.

    Returns
    -------
    Path
        ``html_path``.

    Raises
    ------
    ReportError
        If the notebook cannot be read or converted.

    Notes
    -----
    A notebook with an error output still renders, with a banner at the top that
    names the error and links to where the report stopped; the caller decides
    whether the job failed (see `find_errors`).
    """
    source = Path(executed_ipynb)
    target = Path(html_path)
    try:
        nb = nbformat.read(source, as_version=4)
    except (OSError, ValueError) as exc:
        raise ReportError(
            f"Cannot read the executed notebook {source}: {exc}. Check that papermill "
            "finished writing it."
        ) from exc
    try:
        text = render_html(nb, title=title, name=source.stem)
    except Exception as exc:  # nbconvert/jinja raise many kinds
        raise ReportError(f"Cannot render {source} to HTML: {exc}") from exc
    _atomic_write(target, text)
    logger.info("rendered %s -> %s (%d bytes)", source, target, len(text.encode()))
    return target
