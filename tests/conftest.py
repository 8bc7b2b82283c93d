"""Fixtures shared by every test folder; plain helpers live in support.py."""
from pathlib import Path

import pytest
from support import ARTIFACTS


@pytest.fixture
def artifacts_dir() -> Path:
    """Folder for screenshots and other files a test leaves for people to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
