"""Ingest events: validation at the boundary, then application to the monitors."""
