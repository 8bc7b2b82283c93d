"""Packaging: metadata lives in setup.cfg; this file ships the top-level
templates/ and static/ folders inside the wheel as bytedb_exporter/templates and
bytedb_exporter/static (see bytedb_exporter.assets)."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ASSET_DIRS = ("templates", "static")


class BuildPyWithAssets(build_py):
    """build_py that copies the dashboard's assets into the built package."""

    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        for name in ASSET_DIRS:
            source = root / name
            target = Path(self.build_lib) / "bytedb_exporter" / name
            if source.is_dir():
                shutil.rmtree(target, ignore_errors=True)
                shutil.copytree(source, target)


setup(cmdclass={"build_py": BuildPyWithAssets})
