"""Metric types over prometheus_client, the registry, statistics and JSON/text export (ground floor)."""
