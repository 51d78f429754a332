"""arforecast: accounts-receivable KPIs, payment models and cash forecasts."""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("arforecast")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+unknown"

logging.getLogger(__name__).addHandler(logging.NullHandler())

# public name -> module; imported on first use so `import arforecast` stays fast
_LAZY = {
    "Ledger": "arforecast.ledger",
    "load_ledger": "arforecast.io",
    "generate_sample": "arforecast.sample",
    "write_sample": "arforecast.sample",
    "compute_kpis": "arforecast.kpis",
    "kpi_trend": "arforecast.kpis",
    "collector_worklist": "arforecast.kpis",
    "build_snapshots": "arforecast.features",
    "PaymentModel": "arforecast.payments",
    "fit_payment_model": "arforecast.payments",
    "forecast_cash": "arforecast.cashflow",
    "run_backtest": "arforecast.backtest",
    "load_params": "arforecast.config",
    "run_batch": "arforecast.runner",
    "ArforecastError": "arforecast.exceptions",
    "ArforecastWarning": "arforecast.exceptions",
    "DataError": "arforecast.exceptions",
    "LedgerValidationError": "arforecast.exceptions",
    "DataQuality": "arforecast.schema",
    "Finding": "arforecast.schema",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'arforecast' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
