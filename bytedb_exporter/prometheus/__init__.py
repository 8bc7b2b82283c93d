"""Exposition: the registries an exporter serves merged at scrape time, and extra collectors."""
