"""The /metrics response: the cached exposition in the format the scraper's Accept header asks for,
gzipped when its Accept-Encoding allows (as prometheus_client's own exporter does)."""
from __future__ import annotations

from flask import Response

from bytedb_exporter.prometheus.cache import ExpositionCache


def metrics_response(cache: ExpositionCache, accept: str, accept_encoding: str = "") -> Response:
    """The exposition in the format the Accept header asks for (OpenMetrics or text 0.0.4)."""
    exposition = cache.get(accept)
    if "gzip" in accept_encoding:
        response = Response(cache.gzipped(exposition), content_type=exposition.content_type)
        response.headers["Content-Encoding"] = "gzip"
    else:
        response = Response(exposition.body, content_type=exposition.content_type)
    response.headers["Vary"] = "Accept, Accept-Encoding"
    return response
