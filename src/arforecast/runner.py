"""Batch execution of report notebooks (as_of × portfolio × notebook) with papermill."""

from __future__ import annotations

import ast
import atexit
import contextlib
import datetime as dt
import difflib
import hashlib
import json
import logging
import os
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arforecast.config import RunConfig
from arforecast.exceptions import ConfigError, ReportError

__all__ = [
    "BatchResult",
    "Job",
    "JobResult",
    "check_portfolios",
    "data_fingerprint",
    "declared_parameters",
    "ensure_kernel",
    "plan_jobs",
    "resolve_portfolios",
    "run_batch",
    "run_job",
]

logger = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"
ALL_LABEL = "all"
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL",)
START_TIMEOUT_SECONDS = 60
DEFAULT_RETRIES = 2

# Messages of errors raised while a kernel starts (port taken, slow start) that a
# new attempt can cure; an error inside a cell is never retried.
_RETRYABLE = re.compile(
    r"Kernel didn't respond|Kernel died before replying|Address already in use|"
    r"kernel_info|ZMQError|Kernel is not alive",
    re.IGNORECASE,
)
_SLUG_RE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Job:
    """One notebook to execute for one as-of date and portfolio.

    Parameters
    ----------
    as_of : str
        ISO date.
    portfolio : str or None
        Portfolio name, ``None`` for the whole book.
    notebook : Path
        The template.
    output_dir : Path
        The job's folder, ``<run>/<as_of>/<portfolio or "all">``.
    parameters : mapping
        What the template's ``parameters`` cell receives.
    """

    as_of: str
    portfolio: str | None
    notebook: Path
    output_dir: Path
    parameters: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        """The template name (file stem)."""
        return self.notebook.stem

    @property
    def portfolio_label(self) -> str:
        """The portfolio, or ``"all"`` for the whole book."""
        return ALL_LABEL if self.portfolio is None else self.portfolio

    @property
    def html_path(self) -> Path:
        """The rendered report."""
        return self.output_dir / f"{self.name}.html"

    @property
    def ipynb_path(self) -> Path:
        """The executed notebook."""
        return self.output_dir / f"{self.name}.ipynb"

    @property
    def manifest_path(self) -> Path:
        """Inputs and outcome of the last run of this job."""
        return self.output_dir / f"{self.name}.manifest.json"

    @property
    def label(self) -> str:
        """``as_of/portfolio/notebook``, for logs and messages."""
        return f"{self.as_of}/{self.portfolio_label}/{self.name}"


@dataclass
class JobResult:
    """The outcome of one job.

    Attributes
    ----------
    job : Job
    status : {"ok", "failed", "skipped"}
    error : str or None
        One line for a failed job.
    duration_seconds : float
        Execution plus rendering time (0 for a skipped job).
    attempts : int
        Kernel starts used (more than 1 after a retried start).
    """

    job: Job
    status: str
    error: str | None = None
    duration_seconds: float = 0.0
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True for a report that is complete (ran now or unchanged since)."""
        return self.status in (STATUS_OK, STATUS_SKIPPED)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready record (the index and the CLI use it)."""
        job = self.job
        return {
            "as_of": job.as_of,
            "portfolio": job.portfolio_label,
            "notebook": job.name,
            "status": self.status,
            "error": self.error,
            "duration_seconds": round(self.duration_seconds, 3),
            "attempts": self.attempts,
            "html": str(job.html_path) if job.html_path.exists() else None,
            "ipynb": str(job.ipynb_path) if job.ipynb_path.exists() else None,
            "output_dir": str(job.output_dir),
        }


@dataclass
class BatchResult:
    """The outcome of a batch.

    Attributes
    ----------
    run_dir : Path
        ``<output>/<run>``.
    index_path : Path
        ``<run_dir>/index.html`` (``index.json`` beside it).
    jobs : list of JobResult
    emails : list of str
        ``.eml`` paths (dry run) or ``"<list>: <n> recipients"`` for sent lists.
    email_errors : list of str
        Messages that could not be built or sent.
    wall_seconds : float
        Batch wall time.
    """

    run_dir: Path
    index_path: Path
    jobs: list[JobResult]
    emails: list[str] = field(default_factory=list)
    email_errors: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0

    @property
    def failed(self) -> int:
        """Number of failed jobs."""
        return sum(result.status == STATUS_FAILED for result in self.jobs)

    @property
    def exit_code(self) -> int:
        """0 when every job and e-mail succeeded, else 1."""
        return 1 if self.failed or self.email_errors else 0

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready summary of the batch."""
        counts = {s: 0 for s in (STATUS_OK, STATUS_FAILED, STATUS_SKIPPED)}
        for result in self.jobs:
            counts[result.status] += 1
        return {
            "run_dir": str(self.run_dir),
            "index": str(self.index_path),
            "counts": counts,
            "failed": self.failed,
            "wall_seconds": round(self.wall_seconds, 3),
            "jobs": [result.to_dict() for result in self.jobs],
            "emails": list(self.emails),
            "email_errors": list(self.email_errors),
        }


# ---------------------------------------------------------------------------
# Planning


def resolve_portfolios(config: RunConfig) -> list[str | None]:
    """Expand the ``portfolios`` setting into job portfolios.

    Parameters
    ----------
    config : RunConfig

    Returns
    -------
    list of str or None
        ``None`` is the whole-book job (``"all"``); ``"each"`` expands into the
        portfolios found in the data, in sorted order.
    """
    resolved: list[str | None] = []
    for entry in config.portfolios:
        if entry == "all":
            names: list[str | None] = [None]
        elif entry == "each":
            names = list(_data_portfolios(config))
        else:
            names = [entry]
        resolved.extend(name for name in names if name not in resolved)
    return resolved


def _data_portfolios(config: RunConfig) -> list[str]:
    """Return the portfolios in the configured data (loads the ledger once)."""
    try:
        from arforecast.io import load_ledger
    except ImportError as exc:
        raise ConfigError(
            "portfolios: 'each' needs arforecast.io.load_ledger to read the data; "
            f"it is not available ({exc}). List the portfolios by name instead."
        ) from exc
    ledger = load_ledger(config.data, config.mapping, currency=config.currency)
    portfolios = [str(p) for p in ledger.portfolios]
    if not portfolios:
        raise ConfigError(
            f"portfolios: 'each' found no portfolio column values in {config.data}; "
            "use 'all' for one job over the whole book."
        )
    logger.info("Portfolios in %s: %s", config.data, portfolios)
    return portfolios


def check_portfolios(
    config: RunConfig, portfolio: str | Sequence[str] | None = None
) -> None:
    """Refuse portfolios named in the run (or ``portfolio``) that the data lacks.

    ``all`` and ``each`` need no check. Loads the ledger once when a portfolio is
    named, so a typo is bad input before any notebook starts rather than a
    failed job per as-of date.

    Raises
    ------
    ConfigError
        Naming the unknown portfolios, the ones in the data, and the closest.
    """
    entries = config.portfolios if portfolio is None else _as_list(portfolio)
    named = [p for p in entries if p not in ("all", "each", ALL_LABEL)]
    if not named:
        return
    from arforecast.io import load_ledger

    ledger = load_ledger(config.data, config.mapping, currency=config.currency)
    known = [str(p) for p in ledger.portfolios]
    unknown = [p for p in named if p not in known]
    if unknown:
        close = difflib.get_close_matches(unknown[0], known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        raise ConfigError(
            f"portfolios: {unknown!r} not in the data {config.data}; the data has "
            f"{known!r} (or use 'all' / 'each'){hint}"
        )


def plan_jobs(
    config: RunConfig,
    *,
    as_of: str | Sequence[str] | None = None,
    portfolio: str | Sequence[str] | None = None,
) -> list[Job]:
    """List the jobs of a batch: every as_of × portfolio × notebook.

    Parameters
    ----------
    config : RunConfig
    as_of : str or list of str, optional
        Replace the configured dates (``arforecast report --as-of``).
    portfolio : str or list of str, optional
        Replace the configured portfolios (``"all"`` = whole book).

    Returns
    -------
    list of Job
        Ordered by as_of, then portfolio, then notebook.
    """
    dates = list(config.as_of) if as_of is None else _as_list(as_of)
    for value in dates:
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"as_of must be an ISO date (YYYY-MM-DD); got {value!r}."
            ) from exc
    if portfolio is None:
        portfolios = resolve_portfolios(config)
    else:
        portfolios = [None if p == ALL_LABEL else p for p in _as_list(portfolio)]

    run_dir = config.run_dir
    folders = _portfolio_folders(portfolios)
    jobs = []
    for date in dates:
        for name in portfolios:
            folder = run_dir / date / folders[name]
            for notebook in config.notebooks:
                parameters = _job_parameters(config, date, name, notebook, folder)
                jobs.append(Job(date, name, notebook, folder, parameters))
    return jobs


def _job_parameters(
    config: RunConfig, as_of: str, portfolio: str | None, notebook: Path, folder: Path
) -> dict[str, Any]:
    parameters: dict[str, Any] = {
        "as_of": as_of,
        "portfolio": portfolio,
        "data": str(config.data),
        "mapping": config.mapping,
        "currency": config.currency,
        "horizons": list(config.horizons),
        "weeks": config.weeks,
        "window_days": config.window_days,
        "run_name": config.run,
        "output_dir": str(folder),
    }
    provenance = dict(parameters, notebook=notebook.name)
    if config.source is not None:
        provenance["params_file"] = str(config.source)
    parameters["params_json"] = json.dumps(provenance, sort_keys=True)
    return parameters


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _slug(name: str) -> str:
    slug = _SLUG_RE.sub("_", name).strip("._") or "_"
    return slug


def _portfolio_folders(portfolios: Sequence[str | None]) -> dict[str | None, str]:
    """Folder names per portfolio: a file-safe slug, made unique with a short hash
    when two names share one (``UK&I`` and ``UK I``)."""
    slugs = {p: _slug(ALL_LABEL if p is None else p) for p in portfolios}
    counts: dict[str, int] = {}
    for slug in slugs.values():
        counts[slug] = counts.get(slug, 0) + 1
    for name, slug in slugs.items():
        if counts[slug] > 1 and name is not None:
            digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:6]
            slugs[name] = f"{slug}-{digest}"
    return slugs


# ---------------------------------------------------------------------------
# Templates and kernels


def declared_parameters(notebook: str | os.PathLike[str]) -> list[str]:
    """Return the names a template declares in its ``parameters``-tagged cell.

    Parameters
    ----------
    notebook : path-like
        A ``.ipynb`` template.

    Returns
    -------
    list of str
        Names assigned at the top level of the cell, in order.

    Raises
    ------
    ReportError
        When the file is not a notebook or has no cell tagged ``parameters``.
    """
    import nbformat

    path = Path(notebook)
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError) as exc:
        raise ReportError(f"cannot read notebook template {path}: {exc}") from exc

    cells = [
        cell
        for cell in nb.cells
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", [])
    ]
    if not cells:
        raise ReportError(
            f"{path} has no cell tagged 'parameters'. Add the tag to the cell that "
            "holds the defaults (JupyterLab: property inspector → Cell tags → "
            "'parameters'), so the runner can inject the job's values after it."
        )

    names: list[str] = []
    source = cells[0].source
    try:
        tree = ast.parse(source)
    except SyntaxError:
        import papermill

        names = list(papermill.inspect_notebook(str(path)))
    else:
        for node in tree.body:
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                elements = target.elts if isinstance(target, ast.Tuple) else [target]
                names.extend(e.id for e in elements if isinstance(e, ast.Name))
    return list(dict.fromkeys(names))


def check_parameters(notebook: Path, parameters: Mapping[str, Any]) -> None:
    """Refuse parameters the template does not declare.

    Raises
    ------
    ReportError
        Naming the undeclared parameters and listing the declared ones.
    """
    declared = declared_parameters(notebook)
    unknown = [name for name in parameters if name not in declared]
    if unknown:
        raise ReportError(
            f"{notebook} does not declare the parameter(s) {unknown} in its "
            f"'parameters' cell; it declares {declared}. Add them to that cell "
            "(with a default) or stop passing them."
        )


_kernel_lock = threading.Lock()
_kernel_cache: dict[str | None, str] = {}


def ensure_kernel(name: str | None = None) -> str:
    """Return a usable kernel name, creating a kernelspec when needed.

    Parameters
    ----------
    name : str, optional
        A kernel that must exist. ``None`` asks for a kernel running the current
        interpreter (``sys.executable``).

    Returns
    -------
    str
        The kernel name to pass to papermill.

    Raises
    ------
    ReportError
        When a named kernel does not exist (the message lists the installed ones).

    Notes
    -----
    Without a name, the ``python3`` kernelspec is used when it runs this
    interpreter (ipykernel's built-in spec does); otherwise a spec
    ``arforecast-<hash>`` for ``sys.executable`` is written to
    ``<sys.prefix>/share/jupyter/kernels`` (or the user's Jupyter data folder
    when that is not writable), so a fresh machine works.
    """
    with _kernel_lock:
        if name in _kernel_cache:
            return _kernel_cache[name]
        from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

        manager = KernelSpecManager()
        if name is not None:
            try:
                manager.get_kernel_spec(name)
            except NoSuchKernel as exc:
                available = sorted(manager.find_kernel_specs())
                raise ReportError(
                    f"kernel {name!r} is not installed; available: {available}. "
                    "Remove `kernel` from the params file to use this interpreter."
                ) from exc
            _kernel_cache[name] = name
            return name

        chosen = _interpreter_kernel(manager)
        _kernel_cache[None] = chosen
        return chosen


def _interpreter_kernel(manager: Any) -> str:
    from jupyter_client.kernelspec import NoSuchKernel

    executable = Path(sys.executable).resolve()
    with contextlib.suppress(NoSuchKernel):
        spec = manager.get_kernel_spec("python3")
        argv0 = spec.argv[0] if spec.argv else ""
        if argv0 in ("python", "python3") or Path(argv0).resolve() == executable:
            return "python3"

    digest = hashlib.sha256(str(executable).encode()).hexdigest()[:10]
    name = f"arforecast-{digest}"
    with contextlib.suppress(NoSuchKernel):
        manager.get_kernel_spec(name)
        return name

    from jupyter_core.paths import jupyter_data_dir

    spec = {
        "argv": [
            str(executable),
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": f"Python (arforecast, {executable})",
        "language": "python",
        "metadata": {"debugger": False},
    }
    for root in (Path(sys.prefix) / "share" / "jupyter", Path(jupyter_data_dir())):
        folder = root / "kernels" / name
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write_atomic(folder / "kernel.json", json.dumps(spec, indent=1))
        except OSError:
            continue
        logger.info("Created kernelspec %s for %s in %s", name, executable, folder)
        return name
    raise ReportError(
        f"no writable Jupyter kernels folder for a kernelspec for {executable}; "
        "install one with `python -m ipykernel install --user`."
    )


# Kernel shutdown off the critical path. A finished notebook's kernel is asked to
# shut down and a reaper thread waits for the process (killing it after the
# manager's shutdown_wait_time), so the worker starts its next job at once
# instead of idling ~0.5 s per notebook in jupyter_client's graceful shutdown.
_reapers: list[threading.Thread] = []
_reapers_lock = threading.Lock()
_manager_class: list[Any] = []
_reapers_registered: list[bool] = []


def _kernel_manager_option() -> dict[str, Any]:
    """``kernel_manager_class`` for nbclient, or nothing when unsupported."""
    with _reapers_lock:
        if not _manager_class:
            _manager_class.append(_detached_shutdown_manager())
    return (
        {} if _manager_class[0] is None else {"kernel_manager_class": _manager_class[0]}
    )


def _detached_shutdown_manager() -> Any:
    """An AsyncKernelManager whose graceful shutdown does not wait for the exit."""
    try:
        from jupyter_client.manager import AsyncKernelManager
    except ImportError:
        return None
    needed = ("_async_request_shutdown", "_async_cleanup_resources", "stop_restarter")
    if not all(hasattr(AsyncKernelManager, name) for name in needed):
        logger.debug("jupyter_client lacks %s; standard kernel shutdown used", needed)
        return None

    class DetachedShutdownKernelManager(AsyncKernelManager):
        """Request shutdown, hand the process to a reaper thread, return."""

        async def _detached_shutdown(
            self, now: bool = False, restart: bool = False
        ) -> None:
            process = getattr(getattr(self, "provisioner", None), "process", None)
            if now or restart or process is None or not self.owns_kernel:
                await AsyncKernelManager._async_shutdown_kernel(
                    self, now=now, restart=restart
                )
                return
            self.shutting_down = True
            self.stop_restarter()
            await self._async_request_shutdown(restart=False)
            _start_reaper(process, float(self.shutdown_wait_time))
            self.provisioner.process = None  # the reaper owns it now
            await self._async_cleanup_resources(restart=False)

        shutdown_kernel = _detached_shutdown

    return DetachedShutdownKernelManager


def _start_reaper(process: Any, wait_seconds: float) -> None:
    import subprocess

    def reap() -> None:
        try:
            process.wait(timeout=wait_seconds)
        except subprocess.TimeoutExpired:
            logger.debug(
                "kernel %s did not exit in %.0f s; killed", process.pid, wait_seconds
            )
            process.kill()
            process.wait()

    thread = threading.Thread(target=reap, name="arforecast-reaper", daemon=True)
    thread.start()
    with _reapers_lock:
        if not _reapers_registered:
            atexit.register(_wait_for_kernels)
            _reapers_registered.append(True)
        _reapers[:] = [t for t in _reapers if t.is_alive()]
        _reapers.append(thread)


def _wait_for_kernels(timeout: float = 10.0) -> None:
    """Wait until the kernels of finished jobs have exited."""
    deadline = time.monotonic() + timeout
    with _reapers_lock:
        threads = list(_reapers)
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


# ---------------------------------------------------------------------------
# Fingerprints and manifests


def data_fingerprint(*paths: str | os.PathLike[str] | None) -> str:
    """Hash the bytes of the input files (folders are walked in sorted order).

    Parameters
    ----------
    *paths : path-like or None
        Data files or folders; ``None`` and non-paths (profile names) are hashed
        as text.

    Returns
    -------
    str
        A sha256 hex digest over file names and contents.
    """
    digest = hashlib.sha256()
    for value in paths:
        path = Path(value) if value is not None else None
        if path is None or not path.exists():
            digest.update(f"name:{value}\n".encode())
            continue
        files = (
            sorted(p for p in path.rglob("*") if p.is_file())
            if path.is_dir()
            else [path]
        )
        for file in files:
            relative = file.relative_to(path) if path.is_dir() else Path(file.name)
            digest.update(f"file:{relative.as_posix()}\n".encode())
            with file.open("rb") as handle:
                for chunk in iter(lambda h=handle: h.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def _code_fingerprint() -> str:
    """Hash the arforecast package sources, so a code change re-runs reports."""
    package = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*")):
        if file.is_file() and file.suffix in {
            ".py",
            ".yaml",
            ".csv",
            ".html",
            ".j2",
            ".css",
        }:
            digest.update(file.relative_to(package).as_posix().encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _job_key(job: Job, inputs: Mapping[str, str]) -> dict[str, Any]:
    from arforecast import __version__

    return {
        "template_sha256": hashlib.sha256(job.notebook.read_bytes()).hexdigest(),
        "parameters": json.loads(json.dumps(dict(job.parameters), sort_keys=True)),
        "data_fingerprint": inputs.get("data", ""),
        "code_fingerprint": inputs.get("code", ""),
        "kernel": inputs.get("kernel", ""),
        "arforecast_version": __version__,
    }


def _is_unchanged(job: Job, key: Mapping[str, Any]) -> bool:
    try:
        manifest = json.loads(job.manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        manifest.get("key") == key
        and manifest.get("status") == STATUS_OK
        and job.html_path.exists()
        and job.ipynb_path.exists()
    )


def _write_manifest(job: Job, key: Mapping[str, Any] | None, result: JobResult) -> None:
    record = {
        "job": job.label,
        "key": key,
        "status": result.status,
        "error": result.error,
        "duration_seconds": round(result.duration_seconds, 3),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    _write_atomic(job.manifest_path, json.dumps(record, indent=1, sort_keys=True))


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        temp.write_text(text, encoding="utf-8")
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


# ---------------------------------------------------------------------------
# Executing one job


def _render_html(executed: Path, html_path: Path, *, title: str | None = None) -> Path:
    """Render an executed notebook with ``reporting.render`` (nbconvert fallback).

    The title defaults to the one the notebook shows (report, portfolio, as-of).
    """
    try:
        from arforecast.reporting.render import render_notebook_html
    except ImportError:
        render_notebook_html = _render_fallback
    return render_notebook_html(executed, html_path, title=title)


def _render_fallback(
    executed: Path, html_path: Path, *, title: str | None = None
) -> Path:
    """Plain nbconvert HTML without code, used while reporting.render is absent."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(executed, as_version=4)
    parameters = nb.metadata.get("papermill", {}).get("parameters", {})
    nb.metadata["title"] = title or _report_title(
        executed.stem, parameters.get("portfolio"), parameters.get("as_of")
    )
    exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True)
    exporter.exclude_output_prompt = True
    body, _ = exporter.from_notebook_node(nb)
    _write_atomic(html_path, body)
    return html_path


def _one_line(text: str, limit: int = 300) -> str:
    """The first two non-empty lines of a message, joined and shortened."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    joined = " ".join(lines[:2])
    return joined if len(joined) <= limit else joined[: limit - 1] + "…"


def _report_title(name: str, portfolio: str | None, as_of: str | None) -> str:
    subject = name.replace("_", " ").capitalize()
    scope = "all portfolios" if portfolio is None else portfolio
    return f"{subject}: {scope}, as of {as_of}"


def run_job(
    job: Job,
    *,
    kernel: str | None = None,
    timeout_seconds: float = 600.0,
    retries: int = DEFAULT_RETRIES,
    render: bool = True,
    check: bool = True,
) -> JobResult:
    """Execute one job with papermill and render its HTML.

    Parameters
    ----------
    job : Job
    kernel : str, optional
        Kernel name; default: a kernel running this interpreter (see
        :func:`ensure_kernel`).
    timeout_seconds : float, default=600.0
        Per-cell execution timeout.
    retries : int, default=2
        Extra attempts when the kernel fails to start (port collision, a kernel
        dying before it replies); errors inside cells are not retried.
    render : bool, default=True
        Render ``<notebook>.html`` beside the executed ``.ipynb``.
    check : bool, default=True
        Check the template's ``parameters`` cell first (a batch checks once per
        template and passes False).

    Returns
    -------
    JobResult
        ``status="failed"`` with a one-line ``error`` when a cell raised, timed
        out or rendering failed; the executed notebook (with papermill's error
        banner) is saved either way.

    Raises
    ------
    ReportError
        When the template has no ``parameters`` cell or does not declare a
        parameter passed to it.

    Notes
    -----
    The kernel's working directory is the template's folder. It is set on the
    kernel process (not with ``os.chdir``), so jobs running in threads of one
    process cannot disturb each other.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    if check:
        check_parameters(job.notebook, job.parameters)
    kernel_name = ensure_kernel(kernel)
    job.output_dir.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    temp = job.output_dir / f".{job.name}.{uuid.uuid4().hex[:8]}.tmp.ipynb"
    error: str | None = None
    attempts = 0
    try:
        while True:
            attempts += 1
            try:
                papermill.execute_notebook(
                    str(job.notebook),
                    str(temp),
                    parameters=dict(job.parameters),
                    kernel_name=kernel_name,
                    progress_bar=False,
                    log_output=False,
                    start_timeout=START_TIMEOUT_SECONDS,
                    execution_timeout=timeout_seconds,
                    extra_arguments=list(KERNEL_ARGUMENTS),
                    resources={"metadata": {"path": str(job.notebook.parent)}},
                    **_kernel_manager_option(),
                )
            except PapermillExecutionError as exc:
                error = _one_line(f"{exc.ename}: {exc.evalue}") + (
                    f" (cell {exc.exec_count})"
                )
            except Exception as exc:  # a kernel or timeout problem, not a cell error
                if attempts <= retries and _RETRYABLE.search(str(exc)):
                    delay = 0.5 * 2 ** (attempts - 1) + random.uniform(0, 0.25)
                    logger.warning(
                        "%s: kernel start failed (%s); retrying in %.1f s",
                        job.label,
                        exc,
                        delay,
                    )
                    time.sleep(delay)
                    continue
                error = _one_line(f"{type(exc).__name__}: {exc}")
            break

        if temp.exists():
            os.replace(temp, job.ipynb_path)
        if error is None and render:
            try:
                _render_html(job.ipynb_path, job.html_path)
            except Exception as exc:
                error = f"rendering failed: {type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()

    if error is not None:
        # A stale report from an earlier run must not pass for this one.
        with contextlib.suppress(FileNotFoundError):
            job.html_path.unlink()
        logger.error("%s failed: %s", job.label, error)
        status = STATUS_FAILED
    else:
        status = STATUS_OK
        logger.info("%s done in %.1f s", job.label, time.perf_counter() - started)
    return JobResult(job, status, error, time.perf_counter() - started, attempts)


# ---------------------------------------------------------------------------
# The batch


def run_batch(
    config: RunConfig,
    *,
    workers: int | None = None,
    force: bool = False,
    dry_run: bool = False,
    as_of: str | Sequence[str] | None = None,
    portfolio: str | Sequence[str] | None = None,
    progress: bool = True,
) -> BatchResult:
    """Run every job of a params file, write the index and deliver the e-mails.

    Parameters
    ----------
    config : RunConfig
        From :func:`arforecast.config.load_params`.
    workers : int, optional
        Jobs at the same time; default ``config.workers``.
    force : bool, default=False
        Re-run jobs whose inputs are unchanged (and re-send their e-mail).
    dry_run : bool, default=False
        Write e-mails as ``<run>/<as_of>/email-<list>.eml`` instead of sending.
    as_of, portfolio : str or list of str, optional
        Replace the configured dates / portfolios (see :func:`plan_jobs`).
    progress : bool, default=True
        Show a tqdm progress bar on stderr.

    Returns
    -------
    BatchResult
        ``failed`` counts failed jobs; ``exit_code`` is 1 when any job or
        e-mail failed.

    Raises
    ------
    ReportError
        Before anything runs, when a template lacks a ``parameters`` cell or does
        not declare a parameter, or the kernel is missing.

    Notes
    -----
    Jobs run in a pool of threads inside this process; each thread drives its
    own kernel process through papermill, and renders the HTML itself, so
    papermill, nbconvert and their templates load once per batch instead of once
    per notebook. A job is skipped when its manifest shows the same template
    bytes, parameters, data fingerprint, package code and version and a
    complete earlier run.
    """
    wall_start = time.perf_counter()
    if not config.data.exists():
        source = f" (from {config.source})" if config.source else ""
        raise ConfigError(f"data not found: {config.data}{source}.")
    jobs = plan_jobs(config, as_of=as_of, portfolio=portfolio)
    pool_size = max(1, workers if workers is not None else config.workers)
    pool_size = min(pool_size, max(1, len(jobs)))

    # Validate every template and the kernel before starting anything.
    for notebook in dict.fromkeys(job.notebook for job in jobs):
        sample = next(job for job in jobs if job.notebook == notebook)
        check_parameters(notebook, sample.parameters)
    kernel_name = ensure_kernel(config.kernel)
    inputs = {
        "data": data_fingerprint(config.data, config.mapping),
        "code": _code_fingerprint(),
        "kernel": kernel_name,
    }
    logger.info(
        "Batch %s: %d jobs, %d workers, output %s",
        config.run,
        len(jobs),
        pool_size,
        config.run_dir,
    )

    try:
        results = _run_pool(jobs, inputs, config, pool_size, force, progress)
    finally:
        _wait_for_kernels()

    from arforecast.reporting.index import write_index

    emails: list[str] = []
    email_errors: list[str] = []
    if config.email.enabled:
        from arforecast.reporting.email import deliver_batch_emails

        emails, email_errors = deliver_batch_emails(
            config, [r.to_dict() for r in results], dry_run=dry_run, force=force
        )
    index_path = write_index(
        config.run_dir,
        [result.to_dict() for result in results],
        title=f"arforecast run {config.run}",
        emails=emails,
    )
    batch = BatchResult(
        config.run_dir,
        index_path,
        results,
        emails,
        email_errors,
        time.perf_counter() - wall_start,
    )
    logger.info(
        "Batch %s finished in %.1f s: %d failed of %d; index %s",
        config.run,
        batch.wall_seconds,
        batch.failed,
        len(results),
        index_path,
    )
    return batch


def _run_pool(
    jobs: list[Job],
    inputs: Mapping[str, str],
    config: RunConfig,
    pool_size: int,
    force: bool,
    progress: bool,
) -> list[JobResult]:
    from tqdm.auto import tqdm

    results: dict[int, JobResult] = {}
    to_run: list[tuple[int, Job, dict[str, Any]]] = []
    for position, job in enumerate(jobs):
        key = _job_key(job, inputs)
        if not force and _is_unchanged(job, key):
            logger.debug("%s unchanged since its last run; skipped", job.label)
            results[position] = JobResult(job, STATUS_SKIPPED)
        else:
            to_run.append((position, job, key))

    bar = tqdm(
        total=len(jobs),
        initial=len(results),
        desc=config.run,
        unit="job",
        file=sys.stderr,
        disable=not progress,
        leave=True,
    )

    def execute(job: Job, key: dict[str, Any]) -> JobResult:
        result = run_job(
            job,
            kernel=inputs["kernel"],
            timeout_seconds=config.timeout_seconds,
            check=False,
        )
        _write_manifest(job, key, result)
        return result

    with (
        bar,
        ThreadPoolExecutor(
            max_workers=pool_size, thread_name_prefix="arforecast-job"
        ) as pool,
    ):
        futures = {
            pool.submit(execute, job, key): (position, job)
            for position, job, key in to_run
        }
        try:
            done = as_completed(futures)
            for future in done:
                position, job = futures[future]
                results[position] = _collect(future, job)
                failed = sum(r.status == STATUS_FAILED for r in results.values())
                bar.set_postfix(failed=failed, refresh=False)
                bar.update(1)
        except KeyboardInterrupt:
            # Queued jobs never start; running ones stop with their kernels.
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return [results[position] for position in range(len(jobs))]


def _collect(future: Any, job: Job) -> JobResult:
    try:
        return future.result()
    except Exception as exc:  # a bug outside papermill must not stop the others
        logger.error("%s failed outside the notebook: %s", job.label, exc)
        return JobResult(job, STATUS_FAILED, f"{type(exc).__name__}: {exc}")
