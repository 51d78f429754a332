"""Tests for the summary e-mail: structure, size, escaping, SMTP delivery, .eml files."""

from __future__ import annotations

import base64
import email
import json
import logging
import re
import shutil
import socket
import ssl
import subprocess
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from arforecast.config import SmtpSettings
from arforecast.exceptions import ReportError
from arforecast.reporting.email import (
    MAX_HTML_BYTES,
    JobFailure,
    build_message,
    send_messages,
    write_eml,
)

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA"
    "60e6kgAAAABJRU5ErkJggg=="
)
USER, SECRET = "ar-bot", "s3cr3t-Pa55"

# The local test server takes AUTH over a plain socket on purpose.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Requiring AUTH while not requiring TLS:UserWarning"
)


RANKING = "Overdue accounts are ranked by past-due amount & <age>."


def write_summary(
    folder: Path, *, at_risk_rows: int = 3, changes: int = 2, note: str = RANKING
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "aging.png").write_bytes(PNG)
    (folder / "cash.png").write_bytes(PNG)
    summary = {  # the documented schema of arforecast.reporting.summary, version 1
        "schema_version": 1,
        "title": "Executive summary — EMEA — as of 31 Dec 2025",
        "subtitle": "Period 1 Oct 2025 – 31 Dec 2025 · amounts in EUR",
        "portfolio": "EMEA",
        "portfolio_label": "EMEA",
        "as_of": "2025-12-31",
        "currency": "EUR",
        "headline": [
            {
                "key": "open_ar",
                "label": "Open receivables",
                "value": 1234567.0,
                "unit": "currency",
                "display": "EUR 1,234,567",
                "definition": "What customers still owe.",
                "change": 37000.0,
                "change_display": "+EUR 37,000 vs 30 Nov 2025",
                "assessment": None,
            },
            {
                "key": "dso",
                "label": "DSO",
                "value": 48.2,
                "unit": "days",
                "display": "48.2 days",
                "definition": "Days of sales unpaid.",
                "change": 1.4,
                "change_display": "+1.4 days vs 30 Nov 2025",
                "assessment": "worse",
            },
        ],
        "what_changed": [f"Change number {i}" for i in range(changes)],
        "at_risk": [
            {
                "kind": "dispute" if i % 2 else "account",
                "customer_id": f"C{i:05d}",
                "name": f"<b>Acme & Sons {i}</b>",
                "amount": 1000.0 + i,
                "amount_display": f"EUR {1000 + i:,}",
                "detail": "Call the customer.",
            }
            for i in range(at_risk_rows)
        ],
        "at_risk_note": note,
        "notes": ["Benchmarks: CRF."],
        "charts": [
            {
                "file": "aging.png",
                "alt": "Aging buckets",
                "title": "Aging",
                "width": 640,
                "height": 350,
            },
            {
                "file": "cash.png",
                "alt": "13-week cash forecast",
                "title": "Cash",
                "width": 640,
                "height": 360,
            },
        ],
        "data_quality": {"summary": "0 fatal, 0 set aside, 4 warnings"},
    }
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


@pytest.fixture()
def summary_dir(tmp_path: Path) -> Path:
    return write_summary(tmp_path / "2025-12-31" / "EMEA")


@pytest.fixture()
def reports(summary_dir: Path) -> list[Path]:
    paths = []
    for name in ("collections_review", "cash_forecast"):
        path = summary_dir / f"{name}.html"
        path.write_text(f"<html><body>{name}</body></html>", encoding="utf-8")
        paths.append(path)
    return paths


def make_message(summary_dir: Path, reports: list[Path], **kwargs) -> EmailMessage:
    return build_message(
        summary_dir,
        to=["cfo@example.com"],
        cc=["controller@example.com"],
        sender="ar@example.com",
        subject="AR summary: EMEA, as of 2025-12-31",
        attachments=reports,
        **kwargs,
    )


def check_structure(message: EmailMessage, n_attachments: int) -> str:
    """Assert the multipart shape and return the HTML body."""
    html_part = message.get_body(("html",))
    text_part = message.get_body(("plain",))
    assert html_part is not None and text_part is not None
    body = html_part.get_content()
    assert len(body.encode("utf-8")) < MAX_HTML_BYTES
    assert "data:" not in body and "<script" not in body.lower()

    referenced = set(re.findall(r'<img src="cid:([^"]+)"', body))
    images = {
        part["Content-ID"].strip("<>"): part.get_content()
        for part in message.walk()
        if part.get_content_type() == "image/png"
    }
    assert referenced and referenced == set(images)
    assert all(data == PNG for data in images.values())

    attachments = list(message.iter_attachments())
    assert len(attachments) == n_attachments
    assert all(a.get_content_type() == "text/html" for a in attachments)
    return body


def test_message_is_multipart_with_cid_images_text_and_attachments(
    summary_dir: Path, reports: list[Path]
) -> None:
    message = make_message(summary_dir, reports)

    assert message.get_content_type() == "multipart/mixed"
    body = check_structure(message, n_attachments=2)
    assert "EUR 1,234,567" in body and "max-width:640px" in body
    assert "What customers still owe." in body
    text = message.get_body(("plain",)).get_content()
    assert "Open receivables: EUR 1,234,567 (+EUR 37,000 vs 30 Nov 2025)" in text
    assert "Data quality: 0 fatal, 0 set aside, 4 warnings." in text
    assert "Dispute: Call the customer." in text
    names = [a.get_filename() for a in message.iter_attachments()]
    assert names == [
        "2025-12-31_EMEA_collections_review.html",
        "2025-12-31_EMEA_cash_forecast.html",
    ]
    assert message["Cc"] == "controller@example.com"


def test_text_from_the_data_is_html_escaped(
    summary_dir: Path, reports: list[Path]
) -> None:
    body = make_message(summary_dir, reports).get_body(("html",)).get_content()

    assert "&lt;b&gt;Acme &amp; Sons 0&lt;/b&gt;" in body
    assert "<b>Acme" not in body


def test_at_risk_list_says_how_it_is_ranked(
    summary_dir: Path, reports: list[Path]
) -> None:
    message = make_message(summary_dir, reports)

    body = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    escaped = "Overdue accounts are ranked by past-due amount &amp; &lt;age&gt;."
    assert escaped in body and RANKING not in body
    assert body.index("At risk") < body.index(escaped)
    assert f"  ({RANKING})" in text
    assert "    What customers still owe." in text  # definitions in the text part


def test_at_risk_note_is_left_out_when_absent_or_nothing_is_listed(
    tmp_path: Path, reports: list[Path]
) -> None:
    for folder in (
        write_summary(tmp_path / "none", note=""),
        write_summary(tmp_path / "empty", at_risk_rows=0),
    ):
        body = make_message(folder, reports).get_body(("html",)).get_content()
        assert "ranked by" not in body


def test_long_at_risk_list_is_shortened_to_fit_the_size_budget(
    tmp_path: Path, reports: list[Path]
) -> None:
    folder = write_summary(tmp_path / "big", at_risk_rows=5000)

    body = make_message(folder, reports).get_body(("html",)).get_content()

    assert len(body.encode("utf-8")) <= MAX_HTML_BYTES
    assert "and 4985 more in the attached reports" in body


def test_body_over_the_budget_raises(tmp_path: Path) -> None:
    folder = write_summary(tmp_path / "huge", changes=4000)

    with pytest.raises(ReportError, match=r"over the 100,000 byte limit"):
        make_message(folder, [])


def test_failure_notice_replaces_the_failed_portfolio(
    summary_dir: Path, reports: list[Path]
) -> None:
    failure = JobFailure(
        "2025-12-31", "APAC", "cash_forecast", "ValueError: x", "/r/a.ipynb"
    )

    message = make_message(summary_dir, reports, failures=[failure])

    body = message.get_body(("html",)).get_content()
    assert "Reports failed: APAC" in body and "ValueError: x" in body
    assert message["X-Arforecast-Status"] == "failed"
    assert "REPORTS FAILED" in message.get_body(("plain",)).get_content()


def test_missing_summary_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"no summary\.json in .*empty"):
        make_message(tmp_path / "empty", [])


def test_dry_run_eml_parses_back(
    tmp_path: Path, summary_dir: Path, reports: list[Path]
) -> None:
    path = write_eml(make_message(summary_dir, reports), tmp_path / "email-cfo.eml")

    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    check_structure(parsed, n_attachments=2)
    assert parsed["To"] == "cfo@example.com"


class Recorder:
    """aiosmtpd handler that keeps what it received."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802
        self.received.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 OK"


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER.encode()
        and auth_data.password == SECRET.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def smtp_server():
    """A real SMTP server on 127.0.0.1 (AUTH PLAIN over a plain socket: test only)."""
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=check_login,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()


def settings_for(controller: Controller) -> SmtpSettings:
    return SmtpSettings(
        host="127.0.0.1",
        port=controller.port,
        security="none",
        username_env="TEST_SMTP_USER",
        password_env="TEST_SMTP_PASSWORD",
        timeout=10,
    )


def test_send_through_local_smtp_with_env_credentials(
    smtp_server, summary_dir: Path, reports: list[Path], monkeypatch, caplog
) -> None:
    controller, recorder = smtp_server
    monkeypatch.setenv("TEST_SMTP_USER", USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", SECRET)
    caplog.set_level(logging.DEBUG)

    counts = send_messages(
        [make_message(summary_dir, reports)], settings_for(controller)
    )

    assert counts == [2]
    assert len(recorder.received) == 1
    rcpts, raw = recorder.received[0]
    assert sorted(rcpts) == ["cfo@example.com", "controller@example.com"]
    received = email.message_from_bytes(raw, policy=policy.default)
    check_structure(received, n_attachments=2)
    assert SECRET not in caplog.text and USER not in caplog.text
    assert "127.0.0.1" in caplog.text


def test_wrong_password_is_reported_without_the_password(
    smtp_server, summary_dir: Path, reports: list[Path], monkeypatch
) -> None:
    controller, _ = smtp_server
    monkeypatch.setenv("TEST_SMTP_USER", USER)
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-one")

    with pytest.raises(ReportError, match=r"SMTPAuthenticationError") as info:
        send_messages([make_message(summary_dir, reports)], settings_for(controller))
    assert "wrong-one" not in str(info.value)


def test_missing_credential_variable_is_named(
    summary_dir: Path, reports: list[Path], monkeypatch
) -> None:
    monkeypatch.delenv("TEST_SMTP_USER", raising=False)
    monkeypatch.delenv("TEST_SMTP_PASSWORD", raising=False)
    settings = SmtpSettings(
        host="127.0.0.1",
        port=1,
        security="none",
        username_env="TEST_SMTP_USER",
        password_env="TEST_SMTP_PASSWORD",
    )

    with pytest.raises(
        ReportError, match=r"\['TEST_SMTP_USER', 'TEST_SMTP_PASSWORD'\] not set"
    ):
        send_messages([make_message(summary_dir, reports)], settings)


def test_clear_text_credentials_to_a_remote_host_are_refused(
    summary_dir: Path, reports: list[Path]
) -> None:
    settings = SmtpSettings(
        host="mail.example.com", security="none", username_env="U", password_env="P"
    )

    with pytest.raises(
        ReportError, match=r"refusing to send SMTP credentials in clear text"
    ):
        send_messages(
            [make_message(summary_dir, reports)], settings, env={"U": "u", "P": "p"}
        )


@pytest.fixture()
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    """A throw-away self-signed certificate for 127.0.0.1 (needs the openssl CLI)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl command not available to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_starttls_sends_credentials_only_over_tls(
    tls_files, summary_dir: Path, reports: list[Path]
) -> None:
    cert, key = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    recorder = Recorder()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_context,
        require_starttls=True,
        authenticator=check_login,
        auth_required=True,
    )
    controller.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=controller.port,
            security="starttls",
            username_env="U",
            password_env="P",
            timeout=10,
        )
        counts = send_messages(
            [make_message(summary_dir, reports)],
            settings,
            env={"U": USER, "P": SECRET},
            ssl_context=ssl.create_default_context(cafile=str(cert)),
        )
    finally:
        controller.stop()

    assert counts == [2] and len(recorder.received) == 1
    check_structure(
        email.message_from_bytes(recorder.received[0][1], policy=policy.default), 2
    )


def test_untrusted_certificate_is_refused(
    tls_files, summary_dir: Path, reports: list[Path]
) -> None:
    cert, key = tls_files
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    controller = Controller(
        Recorder(), hostname="127.0.0.1", port=free_port(), tls_context=server_context
    )
    controller.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1", port=controller.port, security="starttls", timeout=10
        )
        with pytest.raises(ReportError, match=r"SSLCertVerificationError"):
            send_messages([make_message(summary_dir, reports)], settings, env={})
    finally:
        controller.stop()
