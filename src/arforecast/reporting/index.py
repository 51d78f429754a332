"""The run index: ``reports/<run>/index.html`` (and ``index.json``) listing every job."""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["write_index"]

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2rem;
color:#1f2933;background:#fff}
h1{font-size:1.4rem;margin:0 0 .3rem}
p.meta{color:#52606d;margin:0 0 1.2rem;font-size:.9rem}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.4rem .6rem;border-bottom:1px solid #e4e7eb;
vertical-align:top}
th{background:#f5f7fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.status{font-weight:600;padding:.1rem .45rem;border-radius:3px;font-size:.8rem}
.ok{background:#e3f9e5;color:#1f6f2b}
.failed{background:#ffe3e3;color:#a61b1b}
.skipped{background:#eef2f7;color:#3e4c59}
.error{color:#a61b1b;font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:.8rem;white-space:pre-wrap;margin-top:.2rem}
ul.emails{font-size:.85rem;color:#3e4c59}
@media print{body{margin:0}a{color:inherit}}
"""


def write_index(
    run_dir: str | os.PathLike[str],
    jobs: Sequence[Mapping[str, Any]],
    *,
    title: str | None = None,
    emails: Sequence[str] = (),
) -> Path:
    """Write ``index.html`` and ``index.json`` for a run.

    Parameters
    ----------
    run_dir : path-like
        ``reports/<run>``; links are made relative to it.
    jobs : sequence of mapping
        One record per job with the keys ``as_of``, ``portfolio``, ``notebook``,
        ``status`` (ok, failed, skipped), ``error``, ``duration_seconds``,
        ``html`` and ``ipynb`` (absolute paths or None), as produced by
        ``JobResult.to_dict``.
    title : str, optional
        Page heading; default ``"Reports: <run folder name>"``.
    emails : sequence of str, optional
        E-mail outcomes (``.eml`` paths or sent lists) to list below the table.

    Returns
    -------
    Path
        The ``index.html`` path. The page is self-contained (inline CSS, no
        scripts) and every value from the jobs is HTML-escaped.
    """
    root = Path(run_dir)
    root.mkdir(parents=True, exist_ok=True)
    records = sorted(
        (dict(job) for job in jobs),
        key=lambda r: (
            str(r.get("as_of")),
            str(r.get("portfolio")),
            str(r.get("notebook")),
        ),
    )
    generated = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    heading = title or f"Reports: {root.name}"

    counts: dict[str, int] = {}
    for record in records:
        status = str(record.get("status"))
        counts[status] = counts.get(status, 0) + 1

    payload = {
        "title": heading,
        "generated_at": generated,
        "counts": counts,
        "jobs": [_relative_record(record, root) for record in records],
        "emails": [_relative(e, root) for e in emails],
    }
    _write_atomic(root / "index.json", json.dumps(payload, indent=1))
    index = root / "index.html"
    _write_atomic(
        index, _render(heading, generated, counts, payload["jobs"], payload["emails"])
    )
    return index


def _render(
    heading: str,
    generated: str,
    counts: Mapping[str, int],
    records: Sequence[Mapping[str, Any]],
    emails: Sequence[str],
) -> str:
    esc = html.escape
    summary = ", ".join(f"{n} {esc(status)}" for status, n in sorted(counts.items()))
    rows = [_render_row(record) for record in records]
    email_items = "".join(f"<li>{esc(str(item))}</li>" for item in emails)
    email_block = (
        f'<h2 style="font-size:1.1rem">E-mail</h2><ul class="emails">{email_items}</ul>'
        if emails
        else ""
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(heading)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(heading)}</h1>"
        f'<p class="meta">{len(records)} reports: {summary or "none"}. '
        f"Generated {esc(generated)}.</p>"
        "<table><thead><tr><th>As of</th><th>Portfolio</th><th>Report</th>"
        "<th>Status</th><th>Files</th><th>Duration (s)</th></tr></thead><tbody>"
        + "".join(rows)
        + f"</tbody></table>{email_block}</body></html>\n"
    )


def _render_row(record: Mapping[str, Any]) -> str:
    esc = html.escape
    status = str(record.get("status") or "unknown")
    css = status if status in {"ok", "failed", "skipped"} else "skipped"
    links = []
    if record.get("html"):
        links.append(f'<a href="{esc(record["html"], quote=True)}">HTML</a>')
    if record.get("ipynb"):
        links.append(f'<a href="{esc(record["ipynb"], quote=True)}">notebook</a>')
    error = record.get("error")
    error_html = f'<div class="error">{esc(str(error))}</div>' if error else ""
    duration = record.get("duration_seconds")
    duration_text = f"{float(duration):.1f}" if duration else ""
    return (
        f"<tr><td>{esc(str(record.get('as_of', '')))}</td>"
        f"<td>{esc(str(record.get('portfolio', '')))}</td>"
        f"<td>{esc(str(record.get('notebook', '')))}</td>"
        f'<td><span class="status {css}">{esc(status)}</span>{error_html}</td>'
        f"<td>{' · '.join(links)}</td>"
        f'<td class="num">{duration_text}</td></tr>'
    )


def _relative_record(record: Mapping[str, Any], root: Path) -> dict[str, Any]:
    out = dict(record)
    for key in ("html", "ipynb", "output_dir"):
        if out.get(key):
            out[key] = _relative(out[key], root)
    return out


def _relative(value: str, root: Path) -> str:
    path = Path(value)
    if not path.is_absolute():
        return str(value)
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(value)


def _write_atomic(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
