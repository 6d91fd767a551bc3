"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the checkout; the test is skipped when it is absent."""
    data = SHARED / "data"
    if not data.is_dir():
        pytest.skip(f"real-data check: no shared data folder at {data} (it lies beside the checkout)")
    return data
