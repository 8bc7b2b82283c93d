"""Serve-mode configuration: YAML validated into typed dataclasses."""
