"""The /metrics response: an exposition registry in the format the scraper's Accept header asks for."""
from __future__ import annotations

from flask import Response
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder


def metrics_response(exposition: CollectorRegistry, accept: str) -> Response:
    """The exposition in the format the Accept header asks for (OpenMetrics or text 0.0.4)."""
    encoder, content_type = choose_encoder(accept)
    return Response(encoder(exposition), content_type=content_type)
