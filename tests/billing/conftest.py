"""Billing fixtures: the packaged reference data for the test day, and a writable copy of it."""

import shutil
from pathlib import Path

import pytest

from pump_service.billing import DATA_DIR, ReferenceData, load_reference
from tests.billing.builders import DAY


@pytest.fixture(scope="session")
def reference() -> ReferenceData:
    return load_reference(on=DAY)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A copy of the packaged data that a test may edit."""
    target = tmp_path / "data"
    shutil.copytree(DATA_DIR, target)
    return target
