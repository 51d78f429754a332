"""Shared pytest fixtures: paths to the real data beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("ARFORECAST_SHARED", REPO_ROOT.parent / "shared"))
IBM_CSV = SHARED / "data" / "real" / "ibm_ar" / "WA_Fn-UseC_-Accounts-Receivable.csv"


@pytest.fixture(scope="session")
def ibm_csv() -> Path:
    """Path to the IBM accounts-receivable sample; skips the test when absent."""
    if not IBM_CSV.exists():
        pytest.skip(
            f"real data not found at {IBM_CSV}; set ARFORECAST_SHARED to the folder "
            "that holds data/real/ibm_ar to run this test"
        )
    return IBM_CSV
