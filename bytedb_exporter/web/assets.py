"""Where the dashboard's templates and static files are: inside the installed package, or the repo."""
from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent


def asset_dir(name: str) -> Path:
    """The `templates` or `static` folder: packaged copy first (wheel), then the source tree."""
    for candidate in (PACKAGE_DIR / name, PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"dashboard assets folder {name!r} not found next to {PACKAGE_DIR}")
