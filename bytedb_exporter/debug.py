"""Debug logging switch for the whole package."""
from __future__ import annotations

import logging

LOGGER_NAME = "bytedb_exporter"


def set_debug_mode(enabled: bool) -> None:
    """Log the package at DEBUG (collection timing, health checks, coordination) or back to INFO."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(logging.DEBUG if enabled else logging.INFO)
    if enabled and not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def is_debug_mode() -> bool:
    """True when debug logging is on."""
    return logging.getLogger(LOGGER_NAME).isEnabledFor(logging.DEBUG)
