"""Fixtures of the telemetry tests: the real 2023 Bahrain race, imported from the project's copy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from telemetry.services import race_import

ROOT = Path(__file__).resolve().parents[2]
BAHRAIN = ROOT / "telemetry" / "data" / "f1_2023_bahrain"
EVENT_KEY = "2023-bahrain-grand-prix"


@pytest.fixture
def bahrain(db):
    """The 2023 Bahrain Grand Prix in the database; returns the import report."""
    return race_import(path=BAHRAIN)


@pytest.fixture
def race_copy(tmp_path) -> Path:
    """A writable copy of the race folder, for tests that damage or rename it."""
    folder = tmp_path / "race"
    shutil.copytree(BAHRAIN, folder)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder
