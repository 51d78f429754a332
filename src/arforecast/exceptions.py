"""Exception and warning classes shared by every arforecast module."""

from __future__ import annotations

__all__ = [
    "ArforecastError",
    "ArforecastWarning",
    "ConfigError",
    "DataError",
    "LedgerValidationError",
    "ModelError",
    "ReportError",
]


class ArforecastError(Exception):
    """Base class of every error arforecast raises on purpose."""


class ArforecastWarning(UserWarning):
    """A problem the caller can act on; the computation continued."""


class DataError(ArforecastError, ValueError):
    """The input data cannot be used as given."""


class LedgerValidationError(DataError):
    """Loading stopped on fatal data-quality findings.

    Attributes
    ----------
    findings : list of Finding
        Every fatal finding (and the non-fatal ones collected so far).
    """

    def __init__(self, message: str, findings: list | None = None) -> None:
        super().__init__(message)
        self.findings = list(findings or [])


class ConfigError(ArforecastError, ValueError):
    """A params file, mapping or option is invalid."""


class ModelError(ArforecastError):
    """A model could not be fitted or used."""


class ReportError(ArforecastError):
    """A report could not be executed, rendered or sent."""
