"""bytedb-exporter: metrics, query and cluster monitoring, and a live dashboard for ByteDB."""
from __future__ import annotations

__version__ = "0.1.0"
