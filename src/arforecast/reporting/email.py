"""E-mail delivery: the executive summary as a lean multipart message, sent by SMTP."""

from __future__ import annotations

import contextlib
import html
import ipaddress
import json
import logging
import mimetypes
import os
import re
import smtplib
import ssl
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from arforecast.exceptions import ReportError

__all__ = [
    "MAX_HTML_BYTES",
    "JobFailure",
    "build_message",
    "deliver_batch_emails",
    "load_summary",
    "send_messages",
    "write_eml",
]

logger = logging.getLogger(__name__)

MAX_HTML_BYTES = 100_000
SUMMARY_FILE = "summary.json"
MAX_AT_RISK_ROWS = 15
_WIDTH = 640
_IMAGE_WIDTH = _WIDTH - 48
_FONT = "font-family:Helvetica,Arial,sans-serif;"
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class JobFailure:
    """A failed job, reported in the message instead of its portfolio's reports.

    Parameters
    ----------
    as_of, portfolio, notebook : str
        Which job.
    error : str
        The one-line error.
    path : str
        Where the executed notebook with the error is saved.
    """

    as_of: str
    portfolio: str
    notebook: str
    error: str
    path: str


# ---------------------------------------------------------------------------
# Reading summary.json (schema: arforecast.reporting.summary, version 1)

_RISK_KINDS = {"dispute": "Dispute", "broken_promise": "Broken promise"}
_ASSESSMENT_COLOURS = {"better": "#1f6f2b", "worse": "#a61b1b"}


def load_summary(summary_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Read ``summary.json`` from a job folder into what the e-mail shows.

    Parameters
    ----------
    summary_dir : path-like
        The executive summary's ``output_dir`` (``summary.json`` and its PNGs, as
        written by ``arforecast.reporting.summary.ExecutiveSummary.save``).

    Returns
    -------
    dict
        ``title``, ``subtitle``, ``as_of``, ``currency``; ``headline``: list of
        ``{label, value, change, definition, assessment}`` (display strings);
        ``changes`` and ``notes``: lists of str; ``at_risk``: ``{columns, rows,
        note}`` of display strings (``note``: how the list is ordered, from
        ``at_risk_note``; "" when absent); ``charts``: list of ``{path, alt,
        title, width, height}`` for the PNG files that exist. All text is still
        plain (the layout escapes it).

    Raises
    ------
    ReportError
        When the file is missing or not a JSON object.
    """
    folder = Path(summary_dir)
    path = folder / SUMMARY_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReportError(
            f"no {SUMMARY_FILE} in {folder}: the executive summary notebook writes "
            "it; include executive_summary in the params file's notebooks."
        ) from exc
    except ValueError as exc:
        raise ReportError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ReportError(f"{path}: expected a JSON object; got {type(raw).__name__}.")

    label = raw.get("portfolio_label") or raw.get("portfolio") or "All portfolios"
    as_of = _text(raw.get("as_of"))
    quality = raw.get("data_quality") or {}
    notes = _texts(raw.get("notes"))
    if quality.get("summary") and not any("ata quality" in n for n in notes):
        notes.append(f"Data quality: {quality['summary']}.")
    return {
        "title": _text(raw.get("title"))
        or f"Executive summary: {label}, as of {as_of}",
        "subtitle": _text(raw.get("subtitle")),
        "as_of": as_of,
        "currency": _text(raw.get("currency")),
        "headline": [_figure(item) for item in raw.get("headline") or []],
        "changes": _texts(raw.get("what_changed")),
        "notes": notes,
        "at_risk": _risk_rows(raw.get("at_risk") or [], raw.get("at_risk_note")),
        "charts": _charts(raw.get("charts") or [], folder),
    }


def _figure(item: Mapping[str, Any]) -> dict[str, str]:
    value = item.get("display")
    change = item.get("change_display")
    return {
        "label": _text(item.get("label") or item.get("key")),
        "value": _text(item.get("value") if value is None else value),
        "change": _text(item.get("change") if change is None else change),
        "definition": _text(item.get("definition")),
        "assessment": _text(item.get("assessment")),
    }


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return [_text(item) for item in value or [] if item not in (None, "")]


def _risk_rows(items: Sequence[Mapping[str, Any]], note: Any = None) -> dict[str, Any]:
    rows = []
    for item in items:
        who = _text(item.get("name") or item.get("customer_id"))
        kind = _RISK_KINDS.get(str(item.get("kind")), "")
        detail = _text(item.get("detail"))
        amount = item.get("amount_display")
        rows.append(
            [
                who,
                _text(item.get("amount") if amount is None else amount),
                f"{kind}: {detail}" if kind else detail,
            ]
        )
    return {
        "columns": ["Customer", "Amount", "Why it is listed"],
        "rows": rows,
        "note": _text(note) if rows else "",
    }


def _charts(items: Sequence[Any], folder: Path) -> list[dict[str, Any]]:
    charts = []
    for item in items:
        name = _text(item.get("file") if isinstance(item, Mapping) else item)
        path = (folder / name).resolve()
        if not name or not path.is_file():
            logger.warning("Chart %r listed in %s is missing; left out", name, folder)
            continue
        meta = item if isinstance(item, Mapping) else {}
        width = int(meta.get("width") or _IMAGE_WIDTH)
        height = int(meta.get("height") or 0)
        shown = min(width, _IMAGE_WIDTH)
        charts.append(
            {
                "path": str(path),
                "alt": _text(meta.get("alt") or meta.get("title") or "chart"),
                "title": _text(meta.get("title")),
                "width": shown,
                "height": round(height * shown / width) if height else 0,
            }
        )
    return charts


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


# ---------------------------------------------------------------------------
# Layout: nested tables, inline styles, 640 px, no scripts, no notebook CSS


def _render_html(
    summaries: Sequence[Mapping[str, Any]],
    failures: Sequence[JobFailure],
    cids: Mapping[str, str],
    heading: str,
    max_rows: int,
) -> str:
    esc = html.escape
    blocks = [
        f'<tr><td style="{_FONT}font-size:20px;font-weight:bold;color:#1f2933;'
        f'padding:20px 24px 4px">{esc(heading)}</td></tr>'
    ]
    if failures:
        blocks.append(_failure_block(failures))
    for summary in summaries:
        blocks.append(_summary_block(summary, cids, max_rows))
    blocks.append(
        f'<tr><td style="{_FONT}font-size:12px;color:#7b8794;padding:16px 24px 24px">'
        "The full reports are attached. Figures are as of the date shown, in the "
        "reporting currency. Generated by arforecast.</td></tr>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(heading)}</title></head>"
        '<body style="margin:0;padding:0;background:#f5f7fa">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'border="0" style="background:#f5f7fa"><tr><td align="center">'
        f'<table role="presentation" width="{_WIDTH}" cellpadding="0" cellspacing="0" '
        f'border="0" style="width:100%;max-width:{_WIDTH}px;background:#ffffff">'
        + "".join(blocks)
        + "</table></td></tr></table></body></html>"
    )


def _failure_block(failures: Sequence[JobFailure]) -> str:
    esc = html.escape
    items = "".join(
        f'<li style="margin:0 0 6px">{esc(f.as_of)} · {esc(f.portfolio)} · '
        f"{esc(f.notebook)}: {esc(f.error)}<br>"
        f'<span style="color:#7b8794;font-size:12px">{esc(f.path)}</span></li>'
        for f in failures
    )
    portfolios = ", ".join(dict.fromkeys(f.portfolio for f in failures))
    return (
        '<tr><td style="padding:12px 24px">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'border="0" style="background:#ffe3e3;border-left:4px solid #a61b1b">'
        f'<tr><td style="{_FONT}font-size:14px;color:#610404;padding:12px 16px">'
        f"<strong>Reports failed: {esc(portfolios)}.</strong> Their figures and "
        "reports are left out of this message, because they may be incomplete "
        f'or wrong. The saved notebooks show the error.<ul style="margin:8px 0 0;'
        f'padding-left:18px">{items}</ul></td></tr></table></td></tr>'
    )


def _summary_block(
    summary: Mapping[str, Any], cids: Mapping[str, str], max_rows: int
) -> str:
    esc = html.escape
    subtitle = (
        f'<div style="font-size:13px;font-weight:normal;color:#52606d;'
        f'padding-top:2px">{esc(summary["subtitle"])}</div>'
        if summary["subtitle"]
        else ""
    )
    parts = [
        f'<tr><td style="{_FONT}font-size:17px;font-weight:bold;color:#1f2933;'
        f'padding:18px 24px 6px;border-top:1px solid #e4e7eb">'
        f"{esc(summary['title'])}{subtitle}</td></tr>",
        _headline_block(summary["headline"]),
    ]
    for chart in summary["charts"]:
        cid = cids.get(chart["path"])
        if cid is not None:
            parts.append(_chart_block(chart, cid))
    parts.append(_list_block("What changed", summary["changes"]))
    parts.append(_risk_block(summary["at_risk"], max_rows))
    parts.append(_list_block("Notes", summary["notes"], small=True))
    return "".join(parts)


def _headline_block(figures: Sequence[Mapping[str, str]]) -> str:
    if not figures:
        return ""
    esc = html.escape
    columns = min(3, len(figures))
    cells = []
    for figure in figures:
        colour = _ASSESSMENT_COLOURS.get(figure["assessment"], "#52606d")
        change = (
            f'<div style="font-size:12px;color:{colour}">{esc(figure["change"])}</div>'
            if figure["change"]
            else ""
        )
        definition = (
            f'<div style="font-size:11px;color:#7b8794;padding-top:4px">'
            f"{esc(figure['definition'])}</div>"
            if figure["definition"]
            else ""
        )
        cells.append(
            f'<td valign="top" width="{100 // columns}%" style="{_FONT}'
            'padding:8px;border:1px solid #e4e7eb">'
            f'<div style="font-size:12px;color:#52606d">{esc(figure["label"])}</div>'
            '<div style="font-size:20px;font-weight:bold;color:#1f2933">'
            f"{esc(figure['value'])}</div>{change}{definition}</td>"
        )
    while len(cells) % columns:
        cells.append('<td style="border:0"></td>')
    rows = "".join(
        "<tr>" + "".join(cells[i : i + columns]) + "</tr>"
        for i in range(0, len(cells), columns)
    )
    return (
        '<tr><td style="padding:4px 20px">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="4" '
        f'border="0">{rows}</table></td></tr>'
    )


def _chart_block(chart: Mapping[str, Any], cid: str) -> str:
    esc = html.escape
    title = (
        f'<div style="{_FONT}font-size:14px;font-weight:bold;color:#1f2933;'
        f'padding-bottom:4px">{esc(chart["title"])}</div>'
        if chart["title"]
        else ""
    )
    height = f' height="{chart["height"]}"' if chart["height"] else ""
    return (
        f'<tr><td style="padding:10px 24px">{title}'
        f'<img src="cid:{esc(cid, quote=True)}" alt="{esc(chart["alt"], quote=True)}" '
        f'width="{chart["width"]}"{height} style="display:block;width:100%;'
        f'max-width:{chart["width"]}px;height:auto;border:0"></td></tr>'
    )


def _list_block(title: str, items: Sequence[str], *, small: bool = False) -> str:
    if not items:
        return ""
    esc = html.escape
    size = "12px" if small else "14px"
    lis = "".join(f'<li style="margin:0 0 4px">{esc(item)}</li>' for item in items)
    return (
        f'<tr><td style="{_FONT}font-size:{size};color:#1f2933;padding:8px 24px">'
        f"<strong>{esc(title)}</strong>"
        f'<ul style="margin:6px 0 0;padding-left:18px">{lis}</ul></td></tr>'
    )


def _risk_block(table: Mapping[str, Any], max_rows: int) -> str:
    rows = table["rows"]
    if not rows:
        return ""
    esc = html.escape
    cell = f"{_FONT}font-size:12px;padding:5px 6px;border-bottom:1px solid #e4e7eb;"
    header = "".join(
        f'<th align="left" style="{cell}color:#52606d">{esc(c)}</th>'
        for c in table["columns"]
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td valign="top" style="{cell}{"white-space:nowrap;" if i == 1 else ""}">'
            f"{esc(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for row in rows[:max_rows]
    )
    more = len(rows) - max_rows
    muted = f'<div style="{_FONT}font-size:12px;color:#52606d;padding-top:4px">'
    tail = f"{muted}and {more} more in the attached reports.</div>" if more > 0 else ""
    if table.get("note"):
        tail += f"{muted}{esc(table['note'])}</div>"
    return (
        f'<tr><td style="{_FONT}font-size:14px;padding:8px 24px">'
        "<strong>At risk</strong>"
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        f'border="0" style="margin-top:6px"><tr>{header}</tr>{body}</table>{tail}'
        "</td></tr>"
    )


def _render_text(
    summaries: Sequence[Mapping[str, Any]],
    failures: Sequence[JobFailure],
    heading: str,
    max_rows: int,
) -> str:
    lines = [heading, "=" * len(heading), ""]
    if failures:
        lines.append("REPORTS FAILED (left out of this message; they may be wrong):")
        for f in failures:
            lines.append(f"  - {f.as_of} {f.portfolio} {f.notebook}: {f.error}")
            lines.append(f"    saved notebook: {f.path}")
        lines.append("")
    for summary in summaries:
        lines += [summary["title"], "-" * len(summary["title"])]
        if summary["subtitle"]:
            lines += [summary["subtitle"], ""]
        for figure in summary["headline"]:
            change = f" ({figure['change']})" if figure["change"] else ""
            lines.append(f"  {figure['label']}: {figure['value']}{change}")
            if figure["definition"]:
                lines.append(f"    {figure['definition']}")
        if summary["changes"]:
            lines += ["", "What changed:"] + [f"  - {c}" for c in summary["changes"]]
        rows = summary["at_risk"]["rows"]
        if rows:
            lines += ["", "At risk:"]
            lines += [
                f"  - {who}, {amount}: {why}" for who, amount, why in rows[:max_rows]
            ]
            if len(rows) > max_rows:
                lines.append(
                    f"  and {len(rows) - max_rows} more in the attached reports"
                )
            if summary["at_risk"].get("note"):
                lines.append(f"  ({summary['at_risk']['note']})")
        if summary["charts"]:
            titles = ", ".join(c["title"] or c["alt"] for c in summary["charts"])
            lines += ["", f"Charts (in the HTML version): {titles}"]
        if summary["notes"]:
            lines += ["", "Notes:"] + [f"  - {n}" for n in summary["notes"]]
        lines.append("")
    lines.append("The full reports are attached.")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------
# The message


def build_message(
    summary_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    to: Sequence[str],
    cc: Sequence[str] = (),
    sender: str,
    subject: str,
    attachments: Sequence[str | os.PathLike[str]] = (),
    failures: Sequence[JobFailure] = (),
) -> EmailMessage:
    """Build the multipart e-mail for one recipient list.

    Parameters
    ----------
    summary_dir : path-like or sequence of path-like
        Folder(s) holding ``summary.json`` and its PNG charts; several folders
        give one section each (one per portfolio), in order. May be empty when
        every portfolio failed.
    to, cc : sequence of str
        Addresses.
    sender : str
        The ``From`` address.
    subject : str
        The subject line.
    attachments : sequence of path-like
        Full report HTML files to attach.
    failures : sequence of JobFailure
        Failed jobs, listed in a marked block at the top (their reports are not
        passed as attachments by the runner).

    Returns
    -------
    email.message.EmailMessage
        ``multipart/mixed`` → ``multipart/related`` (``multipart/alternative``
        with text and HTML, then the PNGs as CID parts referenced by
        ``<img src="cid:…">``) → the attachments.

    Raises
    ------
    ReportError
        When a summary is missing, or the HTML body exceeds ``MAX_HTML_BYTES``
        even with the at-risk tables shortened.
    """
    if isinstance(summary_dir, (str, os.PathLike)):
        folders = [Path(summary_dir)]
    else:
        folders = [Path(d) for d in summary_dir]
    if not folders and not failures and not attachments:
        raise ReportError(
            "build_message needs a summary folder, failures or attachments to send."
        )
    summaries = [load_summary(folder) for folder in folders]

    cids = {
        chart["path"]: make_msgid(domain="arforecast.local")[1:-1]
        for summary in summaries
        for chart in summary["charts"]
    }
    heading = subject
    body_html, rows = _fit_html(summaries, failures, cids, heading)
    body_text = _render_text(summaries, failures, heading, rows)

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="arforecast.local")
    message["X-Arforecast-Status"] = "failed" if failures else "ok"

    message.set_content(body_text, subtype="plain", charset="utf-8")
    message.add_alternative(body_html, subtype="html", charset="utf-8")
    html_part = message.get_payload()[1]
    for path, cid in cids.items():
        html_part.add_related(
            Path(path).read_bytes(),
            maintype="image",
            subtype="png",
            cid=f"<{cid}>",
            filename=Path(path).name,
            disposition="inline",
        )

    names: set[str] = set()
    for attachment in attachments:
        path = Path(attachment)
        maintype, subtype = (mimetypes.guess_type(path.name)[0] or "text/html").split(
            "/"
        )
        message.add_attachment(
            path.read_bytes(),
            maintype=maintype,
            subtype=subtype,
            filename=_attachment_name(path, names),
        )
    logger.info(
        "Built e-mail %r: HTML body %d bytes, %d image(s), %d attachment(s)",
        subject,
        len(body_html.encode("utf-8")),
        len(cids),
        len(attachments),
    )
    return message


def _fit_html(
    summaries: Sequence[Mapping[str, Any]],
    failures: Sequence[JobFailure],
    cids: Mapping[str, str],
    heading: str,
) -> tuple[str, int]:
    """Render the HTML body within MAX_HTML_BYTES, shortening tables if needed."""
    rows = MAX_AT_RISK_ROWS
    while True:
        body = _render_html(summaries, failures, cids, heading, rows)
        size = len(body.encode("utf-8"))
        if size <= MAX_HTML_BYTES:
            return body, rows
        if rows == 0:
            raise ReportError(
                f"the e-mail HTML body is {size:,} bytes, over the {MAX_HTML_BYTES:,} "
                "byte limit (clients clip larger bodies); send fewer portfolios per "
                "recipient list."
            )
        rows //= 2


def _attachment_name(path: Path, taken: set[str]) -> str:
    parts = [path.parent.name, path.name]
    if _DATE_RE.match(path.parent.parent.name):
        parts.insert(0, path.parent.parent.name)
    name = "_".join(parts) if path.parent.name else path.name
    stem, suffix = os.path.splitext(name)
    counter = 1
    while name in taken:
        counter += 1
        name = f"{stem}-{counter}{suffix}"
    taken.add(name)
    return name


def write_eml(message: EmailMessage, path: str | os.PathLike[str]) -> Path:
    """Write a message as an ``.eml`` file (atomically).

    Parameters
    ----------
    message : EmailMessage
    path : path-like

    Returns
    -------
    Path
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temp.write_bytes(message.as_bytes(policy=SMTP))
        os.replace(temp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    logger.info("Wrote %s", target)
    return target


# ---------------------------------------------------------------------------
# Sending


def send_messages(
    messages: Sequence[EmailMessage],
    smtp_settings: Any,
    *,
    env: Mapping[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> list[int]:
    """Send messages through one SMTP connection.

    Parameters
    ----------
    messages : sequence of EmailMessage
    smtp_settings : arforecast.config.SmtpSettings
        Host, port, ``security`` (starttls, ssl, none) and the names of the
        environment variables holding the credentials.
    env : mapping, optional
        Where to read the credentials; default ``os.environ``.
    ssl_context : ssl.SSLContext, optional
        For STARTTLS/SSL; default ``ssl.create_default_context()`` (the system's
        CAs, host name checked). Pass one that trusts an internal CA if needed.

    Returns
    -------
    list of int
        The number of recipients (To + Cc) of each message.

    Raises
    ------
    ReportError
        When a credential variable is unset, credentials would travel in clear
        text to a host that is not local, or the server refuses.

    Notes
    -----
    Only the host, port and recipient counts are logged; the credentials are
    read from the environment at the moment of sending and never logged.
    """
    settings = smtp_settings
    environ = os.environ if env is None else env
    host, port = settings.host, settings.effective_port
    username, password = _credentials(settings, environ)
    if username is not None and settings.security == "none" and not _is_loopback(host):
        raise ReportError(
            f"refusing to send SMTP credentials in clear text to {host}; use "
            "security: starttls or ssl."
        )

    logger.info(
        "Sending %d message(s) via %s:%d (%s)",
        len(messages),
        host,
        port,
        settings.security,
    )
    context = ssl_context
    if context is None and settings.security != "none":
        context = ssl.create_default_context()
    counts: list[int] = []
    try:
        if settings.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port, timeout=settings.timeout, context=context
            )
        else:
            client = smtplib.SMTP(host, port, timeout=settings.timeout)
        with client:
            client.ehlo()
            if settings.security == "starttls":
                client.starttls(context=context)
                client.ehlo()
            if username is not None:
                client.login(username, password or "")
            for message in messages:
                recipients = _recipients(message)
                client.send_message(message, to_addrs=recipients)
                counts.append(len(recipients))
                logger.info("Sent e-mail to %d recipient(s)", len(recipients))
    except (smtplib.SMTPException, OSError) as exc:
        raise ReportError(
            f"sending e-mail via {host}:{port} failed after {len(counts)} of "
            f"{len(messages)} message(s): {type(exc).__name__}"
            f"{_safe_reason(exc, password)}"
        ) from None
    return counts


def _credentials(
    settings: Any, env: Mapping[str, str]
) -> tuple[str | None, str | None]:
    if settings.username_env is None:
        return None, None
    missing = [
        name
        for name in (settings.username_env, settings.password_env)
        if not env.get(name)
    ]
    if missing:
        raise ReportError(
            f"SMTP credentials: environment variable(s) {missing} not set; export "
            "them before the batch (the params file names the variables, never "
            "the values)."
        )
    return env[settings.username_env], env[settings.password_env]


def _recipients(message: EmailMessage) -> list[str]:
    from email.utils import getaddresses

    fields = [str(v) for key in ("To", "Cc") for v in message.get_all(key, [])]
    return [address for _, address in getaddresses(fields) if address]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _safe_reason(exc: BaseException, secret: str | None) -> str:
    reason = str(exc)
    if secret:
        reason = reason.replace(secret, "***")
    return f": {reason}" if reason else ""


# ---------------------------------------------------------------------------
# A batch's e-mails


def deliver_batch_emails(
    config: Any,
    jobs: Sequence[Mapping[str, Any]],
    *,
    dry_run: bool = False,
    force: bool = False,
) -> tuple[list[str], list[str]]:
    """Build one message per as_of × recipient list, then write or send them.

    Parameters
    ----------
    config : arforecast.config.RunConfig
        Its ``email`` settings and ``run_dir``.
    jobs : sequence of mapping
        Job records (``JobResult.to_dict``): ``as_of``, ``portfolio`` (``"all"``
        for the whole book), ``notebook``, ``status``, ``error``, ``html``,
        ``ipynb``, ``output_dir``.
    dry_run : bool, default=False
        Write ``<run_dir>/<as_of>/email-<list>.eml`` instead of sending.
    force : bool, default=False
        Also build messages whose jobs were all skipped as unchanged.

    Returns
    -------
    (list of str, list of str)
        What was delivered (``.eml`` paths, or ``"<list>: <n> recipients"``), and
        the errors of messages that could not be built or sent.

    Notes
    -----
    A portfolio with any failed job at an as_of contributes no summary and no
    reports to that date's messages; a marked block lists its failed jobs
    *instead* (see :class:`JobFailure`), and the subject starts with
    ``[FAILED: n report(s)]``.
    """
    settings = config.email
    batch_labels = list(dict.fromkeys(str(j["portfolio"]) for j in jobs))
    outbox: list[tuple[str, EmailMessage]] = []
    delivered: list[str] = []
    errors: list[str] = []

    for as_of in dict.fromkeys(str(j["as_of"]) for j in jobs):
        at_date = [j for j in jobs if j["as_of"] == as_of]
        for recipients in settings.recipients:
            labels = _list_portfolios(recipients.portfolios, batch_labels)
            chosen = [j for j in at_date if j["portfolio"] in labels]
            if not chosen:
                continue
            if not force and all(j["status"] == "skipped" for j in chosen):
                logger.info(
                    "E-mail %s for %s not re-sent: its reports are unchanged",
                    recipients.name,
                    as_of,
                )
                continue
            try:
                message = _batch_message(config, recipients, as_of, chosen, labels)
            except (ReportError, OSError) as exc:
                errors.append(f"{as_of}/{recipients.name}: {exc}")
                logger.error(
                    "E-mail %s for %s not built: %s", recipients.name, as_of, exc
                )
                continue
            if dry_run:
                path = Path(config.run_dir) / as_of / f"email-{recipients.name}.eml"
                delivered.append(str(write_eml(message, path)))
            else:
                outbox.append((recipients.name, message))

    if outbox:
        try:
            counts = send_messages([m for _, m in outbox], settings.smtp)
        except ReportError as exc:
            errors.append(str(exc))
        else:
            delivered.extend(
                f"{name}: {count} recipients"
                for (name, _), count in zip(outbox, counts, strict=True)
            )
    return delivered, errors


def _list_portfolios(
    wanted: Sequence[str] | None, batch_labels: list[str]
) -> list[str]:
    if wanted is None:
        return batch_labels
    labels: list[str] = []
    for entry in wanted:
        names = [p for p in batch_labels if p != "all"] if entry == "each" else [entry]
        labels.extend(name for name in names if name not in labels)
    return labels


def _batch_message(
    config: Any,
    recipients: Any,
    as_of: str,
    chosen: Sequence[Mapping[str, Any]],
    labels: Sequence[str],
) -> EmailMessage:
    """One list's message: the good portfolios' summaries and reports, and a
    failure block instead of anything from a portfolio with a failed job."""
    summary_dirs: list[Path] = []
    attachments: list[Path] = []
    failures: list[JobFailure] = []
    for label in labels:
        group = [j for j in chosen if j["portfolio"] == label]
        broken = [j for j in group if j["status"] == "failed"]
        if broken:
            failures.extend(
                JobFailure(
                    as_of=as_of,
                    portfolio=label,
                    notebook=str(j["notebook"]),
                    error=str(j.get("error") or "failed"),
                    path=str(j.get("ipynb") or j.get("output_dir") or ""),
                )
                for j in broken
            )
            continue
        if group and (Path(group[0]["output_dir"]) / SUMMARY_FILE).exists():
            summary_dirs.append(Path(group[0]["output_dir"]))
        attachments.extend(Path(j["html"]) for j in group if j.get("html"))

    shown = [p for p in labels if any(j["portfolio"] == p for j in chosen)]
    subject = config.email.subject.format(
        run=config.run, as_of=as_of, list=recipients.name, portfolios=", ".join(shown)
    )
    if failures:
        subject = f"[FAILED: {len(failures)} report(s)] {subject}"
    return build_message(
        summary_dirs,
        to=recipients.to,
        cc=recipients.cc,
        sender=config.email.sender,
        subject=subject,
        attachments=attachments,
        failures=failures,
    )
