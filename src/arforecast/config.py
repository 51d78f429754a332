"""Run definitions: ``params/*.yaml`` loaded into frozen, validated settings."""

from __future__ import annotations

import calendar
import datetime as dt
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from arforecast.exceptions import ConfigError

__all__ = [
    "DEFAULT_HORIZONS",
    "ENV_PREFIX",
    "EmailSettings",
    "RecipientList",
    "RunConfig",
    "SmtpSettings",
    "load_params",
    "month_ends",
    "repo_root",
]

ENV_PREFIX = "ARFORECAST_"
DEFAULT_HORIZONS = (7, 14, 30, 60, 90)
DEFAULT_SUBJECT = "AR summary: {portfolios}, as of {as_of}"
PORTFOLIO_TOKENS = ("all", "each")
SECURITY_CHOICES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
SUBJECT_FIELDS = ("run", "as_of", "list", "portfolios")

_TOP_KEYS = (
    "run",
    "data",
    "mapping",
    "currency",
    "as_of",
    "portfolios",
    "notebooks",
    "horizons",
    "weeks",
    "window_days",
    "output",
    "workers",
    "timeout_seconds",
    "kernel",
    "email",
)
_EMAIL_KEYS = ("enabled", "recipients", "from", "subject", "smtp")
_RECIPIENT_KEYS = ("name", "to", "cc", "portfolios")
_SMTP_KEYS = ("host", "port", "security", "username_env", "password_env", "timeout")
_MONTH_END_KEYS = ("start", "end", "count")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SmtpSettings:
    """How to reach the mail server.

    Parameters
    ----------
    host : str, default="localhost"
        Server name or address.
    port : int or None, default=None
        TCP port; ``None`` means the usual port for ``security`` (587, 465, 25).
    security : {"starttls", "ssl", "none"}, default="starttls"
        ``none`` (plain SMTP) is meant for a local relay or test server.
    username_env, password_env : str or None
        Names of the environment variables holding the credentials. The
        credentials themselves never appear in a params file.
    timeout : float, default=30.0
        Socket timeout in seconds.
    """

    host: str = "localhost"
    port: int | None = None
    security: str = "starttls"
    username_env: str | None = None
    password_env: str | None = None
    timeout: float = 30.0

    @property
    def effective_port(self) -> int:
        """The port to connect to (the explicit one or the default for security)."""
        return self.port if self.port is not None else DEFAULT_PORTS[self.security]


@dataclass(frozen=True)
class RecipientList:
    """One distribution list: who gets which portfolios' reports.

    Parameters
    ----------
    name : str
        Short identifier, used in the ``email-<name>.eml`` file name.
    to, cc : tuple of str
        Addresses.
    portfolios : tuple of str or None
        Portfolios this list receives (``"all"`` = the whole-book job); ``None``
        means every portfolio in the batch.
    """

    name: str
    to: tuple[str, ...]
    cc: tuple[str, ...] = ()
    portfolios: tuple[str, ...] | None = None


@dataclass(frozen=True)
class EmailSettings:
    """E-mail delivery of the executive summary.

    Parameters
    ----------
    enabled : bool, default=False
        Build (and send, unless a dry run) messages after the batch.
    recipients : tuple of RecipientList
        Distribution lists.
    sender : str
        The ``From`` address (``from`` in the params file).
    subject : str
        A ``str.format`` template with the fields ``run``, ``as_of``, ``list``
        and ``portfolios``.
    smtp : SmtpSettings
        Server settings.
    """

    enabled: bool = False
    recipients: tuple[RecipientList, ...] = ()
    sender: str = "arforecast@localhost"
    subject: str = DEFAULT_SUBJECT
    smtp: SmtpSettings = field(default_factory=SmtpSettings)


@dataclass(frozen=True)
class RunConfig:
    """Everything one batch needs, validated and with absolute paths.

    Parameters
    ----------
    run : str
        Run name; the output goes to ``<output>/<run>/``.
    data : Path
        The ledger folder or export file (absolute).
    mapping : str or None
        A shipped profile name, or an absolute path to a mapping file.
    currency : str or None
        Reporting currency (``None``: the data's or the mapping's).
    as_of : tuple of str
        ISO dates, sorted, unique.
    portfolios : tuple of str
        Portfolio names and the tokens ``"all"`` (one job over the whole book)
        and ``"each"`` (one job per portfolio found in the data).
    notebooks : tuple of Path
        Report templates (absolute paths to ``.ipynb`` files).
    horizons : tuple of int
        Payment-probability horizons in days.
    weeks : int
        Cash-forecast horizon in weeks.
    window_days : int or None
        KPI look-back window length; ``None``: the 3 calendar months ending at as_of.
    output : Path
        The reports root (absolute).
    workers : int
        Jobs run at the same time.
    timeout_seconds : float
        Per-cell execution timeout.
    kernel : str or None
        Jupyter kernel name; ``None``: a kernel running the current interpreter.
    email : EmailSettings
        E-mail delivery.
    source : Path or None
        The params file this came from.
    """

    run: str
    data: Path
    as_of: tuple[str, ...]
    notebooks: tuple[Path, ...]
    mapping: str | None = None
    currency: str | None = None
    portfolios: tuple[str, ...] = ("all",)
    horizons: tuple[int, ...] = DEFAULT_HORIZONS
    weeks: int = 13
    window_days: int | None = None
    output: Path = field(default_factory=lambda: repo_root() / "reports")
    workers: int = field(default_factory=lambda: default_workers())
    timeout_seconds: float = 600.0
    kernel: str | None = None
    email: EmailSettings = field(default_factory=EmailSettings)
    source: Path | None = None

    @property
    def run_dir(self) -> Path:
        """The folder of this run's reports: ``<output>/<run>``."""
        return self.output / self.run

    def with_overrides(self, **changes: Any) -> RunConfig:
        """Return a copy with some fields replaced (a thin ``dataclasses.replace``)."""
        return replace(self, **changes)


def repo_root() -> Path:
    """Return the source checkout holding this package, or the working directory.

    Returns
    -------
    Path
        The folder with ``pyproject.toml`` two levels above ``src/arforecast``
        when the package runs from a checkout, else ``Path.cwd()``.
    """
    candidate = Path(__file__).resolve().parents[2]
    if (candidate / "pyproject.toml").exists():
        return candidate
    return Path.cwd()


def default_workers() -> int:
    """Return the default worker count: ``min(2, cpu count)``."""
    return max(1, min(2, os.cpu_count() or 1))


def month_ends(
    *, end: str, start: str | None = None, count: int | None = None
) -> list[str]:
    """List the month-end dates from ``start`` (or ``count`` months back) to ``end``.

    Parameters
    ----------
    end : str
        ISO date; the month containing it gives the last month end.
    start : str, optional
        ISO date; the month containing it gives the first month end.
    count : int, optional
        Number of month ends ending at ``end``'s month (instead of ``start``).

    Returns
    -------
    list of str
        ISO dates, ascending.

    Raises
    ------
    ConfigError
        When both or neither of ``start`` and ``count`` are given, when a date is
        not ISO, or when ``start`` is after ``end``.

    Examples
    --------
    >>> month_ends(start="2013-01-15", end="2013-03-31")
    ['2013-01-31', '2013-02-28', '2013-03-31']
    >>> month_ends(end="2025-12-31", count=2)
    ['2025-11-30', '2025-12-31']
    """
    if (start is None) == (count is None):
        raise ConfigError(
            "as_of.month_ends needs `end` and exactly one of `start` or `count`; "
            f"got start={start!r}, count={count!r}."
        )
    end_date = _parse_date(end, "as_of.month_ends.end")
    last = (end_date.year, end_date.month)
    if count is not None:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ConfigError(
                f"as_of.month_ends.count must be a positive integer; got {count!r}."
            )
        index = last[0] * 12 + last[1] - 1 - (count - 1)
        first = (index // 12, index % 12 + 1)
    else:
        start_date = _parse_date(start, "as_of.month_ends.start")
        first = (start_date.year, start_date.month)
        if first > last:
            raise ConfigError(
                f"as_of.month_ends.start ({start}) is after its end ({end}); swap them."
            )

    dates = []
    year, month = first
    while (year, month) <= last:
        day = calendar.monthrange(year, month)[1]
        dates.append(dt.date(year, month, day).isoformat())
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return dates


def load_params(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> RunConfig:
    """Load and validate a params file.

    Parameters
    ----------
    path : str or path-like
        The YAML file.
    env : mapping, optional
        Environment used for ``ARFORECAST_*`` overrides; default ``os.environ``.

    Returns
    -------
    RunConfig
        Frozen settings with absolute paths.

    Raises
    ------
    ConfigError
        For a missing file, malformed YAML, an unknown key (the message lists the
        valid keys and the closest match), a literal password, or a bad value.

    Notes
    -----
    Merge order, later wins: built-in defaults, the params file, then the
    environment (``ARFORECAST_OUTPUT``, ``ARFORECAST_WORKERS``,
    ``ARFORECAST_TIMEOUT_SECONDS``, ``ARFORECAST_KERNEL``, ``ARFORECAST_DATA``,
    ``ARFORECAST_EMAIL_ENABLED``, ``ARFORECAST_SMTP_HOST``,
    ``ARFORECAST_SMTP_PORT``, ``ARFORECAST_SMTP_SECURITY``), then the
    arguments of ``run_batch`` / the command-line options. Relative paths from
    the file resolve against the file's folder; relative paths from the
    environment resolve against the working directory.
    """
    source = Path(path).expanduser().resolve()
    if not source.is_file():
        raise ConfigError(f"params file not found: {source}")
    try:
        raw = yaml.load(source.read_text(encoding="utf-8"), Loader=_NoDatesLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: expected a mapping of settings at the top level; "
            f"got {type(raw).__name__}."
        )

    environ = os.environ if env is None else env
    return _build_config(raw, source, environ)


# ---------------------------------------------------------------------------
# YAML


class _NoDatesLoader(yaml.SafeLoader):
    """A safe loader that keeps ``2013-01-31`` as the string it was written as."""


_NoDatesLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


# ---------------------------------------------------------------------------
# Building


def _build_config(raw: dict, source: Path, env: Mapping[str, str]) -> RunConfig:
    base = source.parent
    _check_keys(raw, _TOP_KEYS, "params")

    run = _require(raw, "run", "params")
    if not isinstance(run, str) or not _NAME_RE.match(run):
        raise ConfigError(
            "run must be a name of letters, digits, '.', '_' or '-' (it names the "
            f"output folder); got {run!r}."
        )

    data_value = env.get(ENV_PREFIX + "DATA") or _require(raw, "data", "params")
    data_base = Path.cwd() if env.get(ENV_PREFIX + "DATA") else base
    # Existence is checked when a batch starts: `arforecast demo` loads the
    # params first and writes the sample ledger to `data` afterwards.
    data = _resolve_path(data_value, data_base, "data")

    output_value = env.get(ENV_PREFIX + "OUTPUT") or raw.get("output")
    if output_value is None:
        output = repo_root() / "reports"
    else:
        output_base = Path.cwd() if env.get(ENV_PREFIX + "OUTPUT") else base
        output = _resolve_path(output_value, output_base, "output")

    workers = _positive_int(
        env.get(ENV_PREFIX + "WORKERS", raw.get("workers", default_workers())),
        "workers",
    )
    timeout = _positive_number(
        env.get(ENV_PREFIX + "TIMEOUT_SECONDS", raw.get("timeout_seconds", 600)),
        "timeout_seconds",
    )
    kernel = env.get(ENV_PREFIX + "KERNEL") or raw.get("kernel")
    if kernel is not None and (not isinstance(kernel, str) or not kernel.strip()):
        raise ConfigError(f"kernel must be a kernel name; got {kernel!r}.")

    return RunConfig(
        run=run,
        data=data,
        mapping=_parse_mapping(raw.get("mapping"), base),
        currency=_parse_currency(raw.get("currency")),
        as_of=_parse_as_of(_require(raw, "as_of", "params")),
        portfolios=_parse_portfolios(raw.get("portfolios", ["all"]), "portfolios"),
        notebooks=_parse_notebooks(_require(raw, "notebooks", "params"), base),
        horizons=_parse_horizons(raw.get("horizons", list(DEFAULT_HORIZONS))),
        weeks=_positive_int(raw.get("weeks", 13), "weeks"),
        window_days=(
            None
            if raw.get("window_days") is None
            else _positive_int(raw["window_days"], "window_days")
        ),
        output=output,
        workers=workers,
        timeout_seconds=timeout,
        kernel=kernel,
        email=_parse_email(raw.get("email"), env),
        source=source,
    )


def _parse_email(raw: Any, env: Mapping[str, str]) -> EmailSettings:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"email must be a mapping; got {type(raw).__name__}.")
    _check_keys(raw, _EMAIL_KEYS, "email")

    enabled = _parse_bool(
        env.get(ENV_PREFIX + "EMAIL_ENABLED", raw.get("enabled", False)),
        "email.enabled",
    )
    recipients_raw = raw.get("recipients", [])
    if not isinstance(recipients_raw, list):
        raise ConfigError(
            "email.recipients must be a list of {name, to, cc, portfolios}; "
            f"got {type(recipients_raw).__name__}."
        )
    recipients = tuple(
        _parse_recipient(item, i) for i, item in enumerate(recipients_raw)
    )
    names = [r.name for r in recipients]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(
            f"email.recipients names must be unique; repeated: {duplicates}."
        )
    if enabled and not recipients:
        raise ConfigError(
            "email.enabled is true but email.recipients is empty; add a list or "
            "set enabled: false."
        )

    sender = raw.get("from", EmailSettings.sender)
    if enabled or "from" in raw:
        _check_address(sender, "email.from")
    subject = raw.get("subject", DEFAULT_SUBJECT)
    _check_subject(subject)

    return EmailSettings(
        enabled=enabled,
        recipients=recipients,
        sender=sender,
        subject=subject,
        smtp=_parse_smtp(raw.get("smtp"), env),
    )


def _parse_recipient(raw: Any, index: int) -> RecipientList:
    where = f"email.recipients[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where} must be a mapping with keys {list(_RECIPIENT_KEYS)}; got {raw!r}."
        )
    _check_keys(raw, _RECIPIENT_KEYS, where)
    name = _require(raw, "name", where)
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"{where}.name must be letters, digits, '.', '_' or '-' (it names the "
            f".eml file); got {name!r}."
        )
    to = _address_list(raw.get("to", []), f"{where}.to")
    if not to:
        raise ConfigError(f"{where} ({name}) needs at least one address in `to`.")
    cc = _address_list(raw.get("cc", []), f"{where}.cc")
    portfolios = raw.get("portfolios")
    parsed = None
    if portfolios is not None:
        parsed = _parse_portfolios(portfolios, f"{where}.portfolios")
    return RecipientList(name=name, to=to, cc=cc, portfolios=parsed)


def _parse_smtp(raw: Any, env: Mapping[str, str]) -> SmtpSettings:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"email.smtp must be a mapping; got {type(raw).__name__}.")
    _check_keys(raw, _SMTP_KEYS, "email.smtp")

    host = env.get(ENV_PREFIX + "SMTP_HOST") or raw.get("host", "localhost")
    if not isinstance(host, str) or not host.strip():
        raise ConfigError(f"email.smtp.host must be a host name; got {host!r}.")
    security = env.get(ENV_PREFIX + "SMTP_SECURITY") or raw.get("security", "starttls")
    if security not in SECURITY_CHOICES:
        raise ConfigError(
            f"email.smtp.security must be one of {list(SECURITY_CHOICES)}; got "
            f"{security!r}{_suggest(str(security), SECURITY_CHOICES)}"
        )
    port_value = env.get(ENV_PREFIX + "SMTP_PORT", raw.get("port"))
    port = None if port_value is None else _positive_int(port_value, "email.smtp.port")
    if port is not None and port > 65535:
        raise ConfigError(f"email.smtp.port must be ≤ 65535; got {port}.")

    names = {}
    for key in ("username_env", "password_env"):
        value = raw.get(key)
        if value is not None and (
            not isinstance(value, str) or not _ENV_NAME_RE.match(value)
        ):
            raise ConfigError(
                f"email.smtp.{key} must be the NAME of an environment variable "
                f"(e.g. ARFORECAST_SMTP_PASSWORD); got {value!r}."
            )
        names[key] = value
    if (names["username_env"] is None) != (names["password_env"] is None):
        raise ConfigError(
            "email.smtp needs both username_env and password_env, or neither."
        )

    return SmtpSettings(
        host=host,
        port=port,
        security=security,
        timeout=_positive_number(raw.get("timeout", 30), "email.smtp.timeout"),
        **names,
    )


# ---------------------------------------------------------------------------
# Values


def _parse_as_of(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, (str, dt.date)):
        raw = [raw]
    if isinstance(raw, dict):
        _check_keys(raw, ("month_ends",), "as_of")
        spec = _require(raw, "month_ends", "as_of")
        if not isinstance(spec, dict):
            raise ConfigError(
                "as_of.month_ends must be {start, end} or {end, count}; "
                f"got {spec!r}."
            )
        _check_keys(spec, _MONTH_END_KEYS, "as_of.month_ends")
        dates = month_ends(
            end=_require(spec, "end", "as_of.month_ends"),
            start=spec.get("start"),
            count=spec.get("count"),
        )
    elif isinstance(raw, list) and raw:
        dates = [_parse_date(value, "as_of").isoformat() for value in raw]
    else:
        raise ConfigError(
            "as_of must be a list of ISO dates or {month_ends: {start, end}} / "
            f"{{month_ends: {{end, count}}}}; got {raw!r}."
        )
    return tuple(sorted(set(dates)))


def _parse_portfolios(raw: Any, where: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"{where} must be a list of portfolio names, 'all' (one job over the "
            f"whole book) or 'each' (one job per portfolio); got {raw!r}."
        )
    values: list[str] = []
    for item in raw:
        if isinstance(item, bool) or not isinstance(item, (str, int)):
            raise ConfigError(f"{where}: a portfolio name must be text; got {item!r}.")
        text = str(item).strip()
        if not text:
            raise ConfigError(f"{where}: empty portfolio name.")
        if text not in values:
            values.append(text)
    return tuple(values)


def _parse_notebooks(raw: Any, base: Path) -> tuple[Path, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"notebooks must be a list of template names or paths; got {raw!r}."
        )
    folders = _template_folders(base)
    paths = []
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"notebooks: expected a name or a path; got {item!r}.")
        path = _find_notebook(item, base, folders)
        if path not in paths:
            paths.append(path)
    return tuple(paths)


def _template_folders(base: Path) -> list[Path]:
    folders = [base.parent / "notebooks", repo_root() / "notebooks"]
    unique = []
    for folder in folders:
        if folder.resolve() not in unique:
            unique.append(folder.resolve())
    return unique


def _find_notebook(item: str, base: Path, folders: list[Path]) -> Path:
    looks_like_path = "/" in item or "\\" in item or item.endswith(".ipynb")
    if looks_like_path:
        path = _resolve_path(item, base, "notebooks")
        if not path.is_file():
            raise ConfigError(f"notebook not found: {path} (from {item!r}).")
        return path

    for folder in folders:
        path = folder / f"{item}.ipynb"
        if path.is_file():
            return path
    available = sorted(
        {
            p.stem
            for folder in folders
            if folder.is_dir()
            for p in folder.glob("*.ipynb")
        }
    )
    raise ConfigError(
        f"no notebook template named {item!r} in {[str(f) for f in folders]}; "
        f"available: {available}{_suggest(item, available)}"
    )


def _parse_mapping(raw: Any, base: Path) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"mapping must be a profile name or a path; got {raw!r}.")
    looks_like_path = "/" in raw or "\\" in raw or raw.endswith((".yaml", ".yml"))
    candidate = _resolve_path(raw, base, "mapping")
    if looks_like_path or candidate.is_file():
        if not candidate.is_file():
            raise ConfigError(f"mapping file not found: {candidate} (from {raw!r}).")
        return str(candidate)
    return raw


def _parse_currency(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z]{3}", raw):
        raise ConfigError(
            f"currency must be a 3-letter ISO 4217 code such as EUR; got {raw!r}."
        )
    return raw.upper()


def _parse_horizons(raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(
            f"horizons must be a list of positive day counts; got {raw!r}."
        )
    values = sorted({_positive_int(v, "horizons") for v in raw})
    return tuple(values)


def _parse_date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
                return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}: expected an ISO date (YYYY-MM-DD); got {value!r}.")


def _parse_bool(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{where} must be true or false; got {value!r}.")


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{where} must be a positive integer; got {value!r}.")
    return value


def _positive_number(value: Any, where: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number > 0:
        raise ConfigError(f"{where} must be a positive number; got {value!r}.")
    return number


def _address_list(raw: Any, where: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(f"{where} must be a list of addresses; got {raw!r}.")
    for address in raw:
        _check_address(address, where)
    return tuple(raw)


def _check_address(value: Any, where: str) -> None:
    if not isinstance(value, str) or not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", value):
        raise ConfigError(
            f"{where}: expected an e-mail address such as ar-team@example.com; "
            f"got {value!r}."
        )


def _check_subject(subject: Any) -> None:
    if not isinstance(subject, str) or not subject.strip():
        raise ConfigError(f"email.subject must be text; got {subject!r}.")
    try:
        subject.format(**{name: "x" for name in SUBJECT_FIELDS})
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"email.subject {subject!r} is not a valid template ({exc}); use the "
            f"fields {{{'}, {'.join(SUBJECT_FIELDS)}}} only."
        ) from exc


def _resolve_path(value: Any, base: Path, where: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} must be a path; got {value!r}.")
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    return path.resolve()


def _require(raw: dict, key: str, where: str) -> Any:
    if key not in raw or raw[key] is None:
        raise ConfigError(f"{where}: missing required key `{key}`.")
    return raw[key]


def _check_keys(raw: dict, valid: tuple[str, ...], where: str) -> None:
    for key in raw:
        if not isinstance(key, str):
            raise ConfigError(f"{where}: keys must be text; got {key!r}.")
        if "pass" in key.lower() and key not in valid:
            raise ConfigError(
                f"{where}: `{key}` is not allowed: never put a password in a params "
                "file. Set `password_env` under email.smtp to the NAME of an "
                "environment variable (e.g. password_env: ARFORECAST_SMTP_PASSWORD) "
                "and export the password in that variable."
            )
        if key not in valid:
            raise ConfigError(
                f"{where}: unknown key `{key}`{_suggest(key, valid)} "
                f"Valid keys: {', '.join(valid)}."
            )


def _suggest(value: str, choices: Any) -> str:
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.5)
    return f"; did you mean `{close[0]}`?" if close else "."
