"""The package version (one place: setup.cfg reads it, bytedb_build_info exports it)."""

__version__ = "0.1.0"
