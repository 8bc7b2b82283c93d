#!/usr/bin/env python3
"""Build the ByteDB Grafana dashboards from readable Python.

    python grafana/generate.py           # rewrite grafana/dashboards/*.json
    python grafana/generate.py --check   # exit 1 when a file on disk differs from the code

The JSON files are generated; edit this file, then run it. Every dashboard:

* can be imported through the UI (``__inputs`` asks for a Prometheus data source) and through
  file provisioning (grafana/provisioning/);
* selects its data source with the ``datasource`` template variable: every panel and query
  says ``{"type": "prometheus", "uid": "${datasource}"}``, no data source uid is hard-coded;
* uses ``$__rate_interval`` in every rate()/increase();
* dedups worker series, which can be scraped twice (worker exporter and coordinator), with
  ``max by (worker_id, ...)``.

For tests: :func:`panel_queries` lists every (dashboard, panel, expr) and :func:`render_expr`
replaces the Grafana variables with values a plain Prometheus accepts.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"

SCHEMA_VERSION = 39
GRAFANA_VERSION = "10.4.0"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
TAG = "bytedb"

# Values that make a panel expression evaluable by Prometheus itself (HTTP API, promtool):
# what Grafana would substitute with every worker / query type selected.
TEMPLATE_SUBSTITUTIONS: dict[str, str] = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$worker": ".*",
    "$query_type": ".*",
}


def render_expr(expr: str, values: dict[str, str] | None = None) -> str:
    """`expr` with Grafana variables replaced (defaults: TEMPLATE_SUBSTITUTIONS)."""
    substitutions = {**TEMPLATE_SUBSTITUTIONS, **(values or {})}
    # Longest names first so that "$__rate_interval" is not cut by a shorter variable.
    for name in sorted(substitutions, key=len, reverse=True):
        expr = expr.replace("${" + name[1:] + "}", substitutions[name]).replace(name, substitutions[name])
    return expr


# --------------------------------------------------------------------------- building blocks

@dataclass
class Target:
    expr: str
    legend: str = ""
    instant: bool = False
    table: bool = False
    exemplar: bool = False  # ask Prometheus for the series' exemplars (query_id on query durations)


@dataclass
class Panel:
    title: str
    kind: str  # timeseries | stat | gauge | table | row
    targets: list[Target] = field(default_factory=list)
    description: str = ""
    unit: str = "short"
    width: int = 8
    height: int = 8
    min: float | None = None
    max: float | None = None
    thresholds: list[tuple[float | None, str]] | None = None
    mappings: list[dict[str, Any]] | None = None
    stack: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    transformations: list[dict[str, Any]] = field(default_factory=list)


def timeseries(title: str, *targets: Target, unit: str = "short", **kw: Any) -> Panel:
    return Panel(title, "timeseries", list(targets), unit=unit, **kw)


def stat(title: str, *targets: Target, unit: str = "short", **kw: Any) -> Panel:
    kw.setdefault("width", 4)
    kw.setdefault("height", 5)
    return Panel(title, "stat", list(targets), unit=unit, **kw)


def gauge(title: str, *targets: Target, unit: str = "percent", **kw: Any) -> Panel:
    kw.setdefault("width", 4)
    kw.setdefault("height", 5)
    return Panel(title, "gauge", list(targets), unit=unit, **kw)


def table(title: str, *targets: Target, **kw: Any) -> Panel:
    kw.setdefault("width", 12)
    return Panel(title, "table", list(targets), **kw)


def row(title: str) -> Panel:
    return Panel(title, "row", width=24, height=1)


def q(expr: str, legend: str = "") -> Target:
    """A range query drawn as a time series."""
    return Target(expr, legend)


def instant_table(expr: str) -> Target:
    return Target(expr, "", instant=True, table=True)


def quantiles(metric: str, by: str = "", selector: str = "", qs: tuple[float, ...] = (0.5, 0.95, 0.99),
              legend_prefix: str = "") -> list[Target]:
    """histogram_quantile targets over sum by (le[, by]) of the metric's bucket rates."""
    group = f"{by}, le" if by else "le"
    targets = []
    for quantile in qs:
        name = f"p{int(round(quantile * 100))}"
        legend = f"{{{{{by}}}}} {name}" if by else f"{legend_prefix}{name}"
        targets.append(Target(
            f"histogram_quantile({quantile}, sum by ({group}) "
            f"(rate({metric}_bucket{selector}[$__rate_interval])))",
            legend.strip(), exemplar=metric in EXEMPLAR_METRICS,
        ))
    return targets


def mean(metric: str, by: str = "", selector: str = "") -> str:
    """Mean observation of a histogram over the rate interval."""
    by_clause = f"sum by ({by}) " if by else "sum "
    return (f"{by_clause}(rate({metric}_sum{selector}[$__rate_interval]))\n  /\n"
            f"{by_clause}(rate({metric}_count{selector}[$__rate_interval]))")


RED_ABOVE = lambda limit: [(None, "green"), (limit, "red")]  # noqa: E731
STATE_COLORS = {"healthy": "green", "degraded": "yellow", "unhealthy": "orange", "offline": "red",
                "critical": "red"}


# --------------------------------------------------------------------------- variables

# Histograms whose buckets carry {query_id} exemplars; their panels link an exemplar to the query's page.
EXEMPLAR_METRICS = ("bytedb_query_duration_seconds",)
QUERY_PAGE_LINK = {"title": "Open query ${__field.labels.query_id}", "targetBlank": True,
                   "url": "${exporter_url}/queries/${__field.labels.query_id}"}


def exporter_url_variable() -> dict[str, Any]:
    """The coordinator exporter's base URL, where exemplar links open /queries/<query_id>."""
    return {
        "name": "exporter_url", "label": "Exporter URL", "type": "textbox", "query": "http://127.0.0.1:8091",
        "current": {"text": "http://127.0.0.1:8091", "value": "http://127.0.0.1:8091"}, "hide": 0,
        "options": [{"selected": True, "text": "http://127.0.0.1:8091", "value": "http://127.0.0.1:8091"}],
        "skipUrlSync": False,
    }


def datasource_variable() -> dict[str, Any]:
    # `current` stays empty: Grafana then picks the default Prometheus data source, which works
    # both for UI import (where __inputs asks for one) and for provisioning (no __inputs).
    return {
        "name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
        "current": {}, "hide": 0, "includeAll": False, "multi": False, "options": [],
        "refresh": 1, "regex": "", "skipUrlSync": False,
    }


def query_variable(name: str, label: str, query: str) -> dict[str, Any]:
    """A multi-value variable from label_values(); "All" matches every value (regex .*)."""
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "definition": query, "query": {"query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "includeAll": True, "allValue": ".*", "multi": True, "hide": 0, "options": [],
        "refresh": 2, "regex": "", "skipUrlSync": False, "sort": 1,
    }


# --------------------------------------------------------------------------- dashboards

@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    panels: list[Panel]
    variables: list[dict[str, Any]] = field(default_factory=list)
    file_name: str = ""


W = '{worker_id=~"$worker"}'


def cluster_overview() -> Dashboard:
    health = (
        '2 * max(bytedb_cluster_health{status="critical"})\n'
        '+ max(bytedb_cluster_health{status="degraded"})'
    )
    failed_ratio = (
        '(sum(rate(bytedb_queries_total{status="failed"}[$__rate_interval])) or vector(0))\n  /\n'
        'sum(rate(bytedb_queries_total[$__rate_interval]))'
    )
    panels = [
        row("Health"),
        stat("Cluster health", q(health),
             description="Cluster health reported by the coordinator (bytedb_cluster_health).",
             mappings=[{"type": "value", "options": {
                 "0": {"text": "healthy", "color": "green", "index": 0},
                 "1": {"text": "degraded", "color": "yellow", "index": 1},
                 "2": {"text": "critical", "color": "red", "index": 2}}}],
             thresholds=[(None, "green"), (1, "yellow"), (2, "red")]),
        stat("Workers by state", q("max by (state) (bytedb_cluster_workers)", "{{state}}"),
             width=6, description="Workers per state as counted by the coordinator.",
             options={"textMode": "value_and_name", "colorMode": "background"},
             thresholds=[(None, "blue")]),
        stat("Queries / s", q("sum(rate(bytedb_queries_total[$__rate_interval]))"), unit="reqps"),
        stat("Query error ratio", q(failed_ratio), unit="percentunit",
             description="Failed / finished queries. Alert BytedbHighQueryFailureRate above 5 %.",
             thresholds=[(None, "green"), (0.01, "yellow"), (0.05, "red")]),
        gauge("Load balance score", q("max(bytedb_cluster_load_balance_score)"), unit="none",
              min=0, max=100, thresholds=[(None, "red"), (70, "yellow"), (90, "green")],
              width=3, description="100 - 100 x stddev/mean of worker loads. Below 70 alerts."),
        gauge("Utilization", q("max(bytedb_cluster_utilization_percent)"), min=0, max=100,
              width=3, thresholds=[(None, "green"), (70, "yellow"), (85, "red")]),
        row("Queries"),
        timeseries("Query rate by status",
                   q("sum by (status) (rate(bytedb_queries_total[$__rate_interval]))", "{{status}}"),
                   unit="reqps", stack=True),
        timeseries("Query error ratio", q(failed_ratio, "failed / all"), unit="percentunit", min=0,
                   thresholds=RED_ABOVE(0.05)),
        timeseries("Query latency", *quantiles("bytedb_query_duration_seconds"), unit="s",
                   description="End-to-end query duration quantiles. Alert BytedbSlowQueries: p95 > 5 s.",
                   thresholds=RED_ABOVE(5)),
        timeseries("Active queries", q("sum(bytedb_queries_active)", "active"), min=0),
        timeseries("Load balance score",
                   q("max(bytedb_cluster_load_balance_score)", "exporter"),
                   q("bytedb:cluster_load_balance_score", "Prometheus (recording rule)"),
                   unit="none", min=0, max=100, thresholds=[(None, "red"), (70, "green")]),
        timeseries("Cluster utilization", q("max(bytedb_cluster_utilization_percent)", "utilization"),
                   unit="percent", min=0, max=100),
        timeseries("Workers by state", q("max by (state) (bytedb_cluster_workers)", "{{state}}"),
                   stack=True, min=0, width=12),
        timeseries("Worker CPU and memory (cluster average)",
                   q("avg(max by (worker_id) (bytedb_worker_cpu_usage_percent))", "CPU"),
                   q("avg(max by (worker_id) (bytedb_worker_memory_usage_percent))", "memory"),
                   unit="percent", min=0, max=100, width=12),
        row("Alerts"),
        table("Active alerts (exporter)",
              instant_table("max by (type, severity) (bytedb_cluster_alerts_active) > 0"),
              description="Alerts the coordinator raises itself (bytedb_cluster_alerts_active)."),
        table("Firing Prometheus alerts",
              instant_table('ALERTS{alertname=~"Bytedb.*", alertstate="firing"}'),
              description="Alerts from rules/bytedb-alerts.yml that fire right now."),
    ]
    return Dashboard("bytedb-cluster-overview", "ByteDB / Cluster overview",
                     "Health, traffic, latency, load balance and alerts of a ByteDB cluster.",
                     panels, [exporter_url_variable()], file_name="bytedb-cluster-overview.json")


def query_performance() -> Dashboard:
    t = '{query_type=~"$query_type"}'
    failed_by_type = (
        'sum by (query_type) (rate(bytedb_queries_total{query_type=~"$query_type", status="failed"}[$__rate_interval]))'
        '\n  /\n'
        'sum by (query_type) (rate(bytedb_queries_total{query_type=~"$query_type"}[$__rate_interval]))'
    )
    panels = [
        row("By query type"),
        timeseries("Queries / s by type",
                   q(f"sum by (query_type) (rate(bytedb_queries_total{t}[$__rate_interval]))", "{{query_type}}"),
                   unit="reqps", stack=True),
        timeseries("Error ratio by type", q(failed_by_type, "{{query_type}}"), unit="percentunit", min=0,
                   thresholds=RED_ABOVE(0.05)),
        timeseries("p95 latency by type",
                   *quantiles("bytedb_query_duration_seconds", by="query_type", selector=t, qs=(0.95,)),
                   unit="s"),
        timeseries("p50 latency by type",
                   *quantiles("bytedb_query_duration_seconds", by="query_type", selector=t, qs=(0.5,)),
                   unit="s"),
        timeseries("p99 latency by type",
                   *quantiles("bytedb_query_duration_seconds", by="query_type", selector=t, qs=(0.99,)),
                   unit="s"),
        timeseries("Mean latency by type",
                   q(mean("bytedb_query_duration_seconds", by="query_type", selector=t), "{{query_type}}"),
                   unit="s"),
        row("Phases"),
        timeseries("Mean time per phase", q(mean("bytedb_query_phase_duration_seconds", by="phase"), "{{phase}}"),
                   unit="s", stack=True, width=12,
                   description="Planning, execution, aggregation and coordination, stacked."),
        timeseries("p95 per phase",
                   *quantiles("bytedb_query_phase_duration_seconds", by="phase", qs=(0.95,)),
                   unit="s", width=12),
        row("Data volume"),
        timeseries("Rows processed per query", *quantiles("bytedb_query_rows_processed", qs=(0.5, 0.95)),
                   q(mean("bytedb_query_rows_processed"), "mean"), unit="short"),
        timeseries("Bytes transferred per query", *quantiles("bytedb_query_transferred_bytes", qs=(0.5, 0.95)),
                   q(mean("bytedb_query_transferred_bytes"), "mean"), unit="bytes"),
        timeseries("Network latency per query", *quantiles("bytedb_query_network_latency_seconds", qs=(0.5, 0.95)),
                   unit="s"),
        timeseries("Workers and fragments per query (mean)",
                   q(mean("bytedb_query_workers"), "workers"),
                   q(mean("bytedb_query_fragments"), "fragments"), unit="short", width=12),
        timeseries("Query cache hit ratio",
                   q(mean("bytedb_query_cache_hit_ratio"), "mean per query"),
                   *quantiles("bytedb_query_cache_hit_ratio", qs=(0.5,), legend_prefix="per query "),
                   q('(sum(max by (worker_id) (rate(bytedb_worker_cache_hits_total[$__rate_interval]))) or vector(0))'
                     '\n  /\n'
                     '(\n  (sum(max by (worker_id) (rate(bytedb_worker_cache_hits_total[$__rate_interval])))'
                     ' or vector(0))\n'
                     '  + (sum(max by (worker_id) (rate(bytedb_worker_cache_misses_total[$__rate_interval])))'
                     ' or vector(0))\n)',
                     "worker cache lookups"),
                   unit="percentunit", min=0, max=1, width=12),
        row("Optimizer"),
        timeseries("Optimizations / s",
                   q("sum(rate(bytedb_query_optimizations_total[$__rate_interval]))", "optimized queries"),
                   q("sum by (result) (rate(bytedb_coordinator_optimizations_total[$__rate_interval]))",
                     "coordinator {{result}}"),
                   unit="reqps"),
        timeseries("Share of queries optimized",
                   q("sum(rate(bytedb_query_optimizations_total[$__rate_interval]))\n  /\n"
                     "sum(rate(bytedb_queries_total[$__rate_interval]))", "optimized / all"),
                   unit="percentunit", min=0, max=1),
        timeseries("Cost reduction",
                   q(mean("bytedb_query_cost_reduction_ratio"), "mean"),
                   *quantiles("bytedb_query_cost_reduction_ratio", qs=(0.5, 0.95)),
                   q(mean("bytedb_coordinator_cost_reduction_ratio"), "coordinator mean"),
                   unit="percentunit", min=0, max=1),
        row("Coordinator"),
        timeseries("Coordinator queries / s",
                   q("sum by (status) (rate(bytedb_coordinator_queries_total[$__rate_interval]))", "{{status}}"),
                   q("sum(bytedb_coordinator_queries_active)", "active"), unit="reqps"),
        timeseries("Planning and aggregation (p95)",
                   *quantiles("bytedb_coordinator_planning_duration_seconds", qs=(0.95,), legend_prefix="planning "),
                   *quantiles("bytedb_coordinator_aggregation_duration_seconds", qs=(0.95,),
                              legend_prefix="aggregation "),
                   unit="s"),
        timeseries("Coordinator fragments and workers per query (mean)",
                   q(mean("bytedb_coordinator_query_fragments"), "fragments"),
                   q(mean("bytedb_coordinator_query_workers"), "workers"), unit="short"),
    ]
    variables = [query_variable("query_type", "Query type", "label_values(bytedb_queries_total, query_type)"),
                 exporter_url_variable()]
    return Dashboard("bytedb-query-performance", "ByteDB / Query performance",
                     "Where ByteDB query time goes: by query type, phase, data volume, optimizer and cache.",
                     panels, variables, file_name="bytedb-query-performance.json")


def workers() -> Dashboard:
    def per_worker(metric: str) -> str:
        return f"max by (worker_id) ({metric}{W})"

    def per_worker_rate(metric: str, extra: str = "") -> str:
        selector = '{worker_id=~"$worker"' + (", " + extra if extra else "") + "}"
        return f"max by (worker_id) (rate({metric}{selector}[$__rate_interval]))"

    def per_worker_p95(metric: str) -> str:
        """p95 per worker of a histogram, one copy per worker (max over sources) before the quantile."""
        return f"histogram_quantile(0.95, max by (worker_id, le) (rate({metric}_bucket{W}[$__rate_interval])))"

    hits = per_worker_rate("bytedb_worker_cache_hits_total")
    misses = per_worker_rate("bytedb_worker_cache_misses_total")
    panels = [
        row("State"),
        table("Worker state", instant_table(f'max by (worker_id, state) (bytedb_worker_state{W}) == 1'),
              description="Current state of every selected worker (healthy, degraded, unhealthy, offline).",
              transformations=[{"id": "organize", "options": {
                  "excludeByName": {"Time": True, "Value": True}}}]),
        table("Worker process up", instant_table(f"min by (worker_id) (bytedb_worker_process_up{W})"),
              description="1 = the ByteDB worker process runs (any source reporting 0 wins).",
              mappings=[{"type": "value", "options": {"0": {"text": "down", "color": "red", "index": 0},
                                                       "1": {"text": "up", "color": "green", "index": 1}}}]),
        timeseries("Heartbeat age", q(per_worker("bytedb_worker_heartbeat_age_seconds"), "{{worker_id}}"),
                   unit="s", min=0, width=12),
        timeseries("Load", q(per_worker("bytedb_worker_load"), "{{worker_id}}"), unit="short", min=0, width=12,
                   description="(CPU % + memory % + 10 x mean running queries) / 3, CPU and running queries "
                               "averaged over 60 s; the input of the load balance score. No line while the "
                               "worker's process is gone."),
        row("Resources"),
        timeseries("CPU usage", q(per_worker("bytedb_worker_cpu_usage_percent"), "{{worker_id}}"),
                   unit="percent", min=0, max=100, thresholds=RED_ABOVE(85)),
        timeseries("Memory usage", q(per_worker("bytedb_worker_memory_usage_percent"), "{{worker_id}}"),
                   unit="percent", min=0, max=100, thresholds=RED_ABOVE(80)),
        timeseries("Memory used", q(per_worker("bytedb_worker_memory_usage_bytes"), "{{worker_id}}"),
                   unit="bytes", min=0),
        timeseries("Disk usage", q(per_worker("bytedb_worker_disk_usage_percent"), "{{worker_id}}"),
                   unit="percent", min=0, max=100),
        timeseries("Disk used", q(per_worker("bytedb_worker_disk_usage_bytes"), "{{worker_id}}"),
                   unit="bytes", min=0),
        timeseries("Open files, connections, threads",
                   q(per_worker("bytedb_worker_open_fds"), "{{worker_id}} fds"),
                   q(per_worker("bytedb_worker_connections"), "{{worker_id}} connections"),
                   q(per_worker("bytedb_worker_threads"), "{{worker_id}} threads"), min=0),
        row("Queries"),
        timeseries("Queries / s",
                   q('sum by (worker_id) (max by (worker_id, status) '
                     '(rate(bytedb_worker_queries_total{worker_id=~"$worker"}[$__rate_interval])))', "{{worker_id}}"),
                   unit="reqps"),
        timeseries("Failed queries / s",
                   q(per_worker_rate("bytedb_worker_queries_total", 'status="failed"'), "{{worker_id}}"),
                   unit="reqps"),
        timeseries("Active queries", q(per_worker("bytedb_worker_queries_active"), "{{worker_id}}"), min=0),
        timeseries("Query duration p95",
                   q(per_worker_p95("bytedb_worker_query_duration_seconds"), "{{worker_id}}"), unit="s"),
        timeseries("Rows processed / s", q(per_worker_rate("bytedb_worker_rows_processed_total"), "{{worker_id}}"),
                   unit="short"),
        timeseries("Bytes processed / s", q(per_worker_rate("bytedb_worker_processed_bytes_total"), "{{worker_id}}"),
                   unit="Bps"),
        timeseries("Errors / s by severity",
                   q('max by (worker_id, severity) '
                     '(rate(bytedb_worker_errors_total{worker_id=~"$worker"}[$__rate_interval]))',
                     "{{worker_id}} {{severity}}"), unit="reqps", width=24),
        row("Cache"),
        timeseries("Cache hit ratio", q(f"{hits}\n  /\n({hits}\n  + {misses})", "{{worker_id}}"),
                   unit="percentunit", min=0, max=1, thresholds=[(None, "red"), (0.5, "green")]),
        timeseries("Cache size", q(per_worker("bytedb_worker_cache_size_bytes"), "{{worker_id}}"), unit="bytes", min=0),
        timeseries("Cache evictions / s", q(per_worker_rate("bytedb_worker_cache_evictions_total"), "{{worker_id}}"),
                   unit="reqps"),
        row("Network"),
        timeseries("Network received / sent",
                   q(per_worker_rate("bytedb_worker_network_received_bytes_total"), "{{worker_id}} received"),
                   q(per_worker_rate("bytedb_worker_network_sent_bytes_total"), "{{worker_id}} sent"),
                   unit="Bps"),
        timeseries("Network requests / s", q(per_worker_rate("bytedb_worker_network_requests_total"), "{{worker_id}}"),
                   unit="reqps"),
        timeseries("Network latency p95",
                   q(per_worker_p95("bytedb_worker_network_latency_seconds"), "{{worker_id}}"), unit="s"),
    ]
    variables = [query_variable("worker", "Worker", "label_values(bytedb_worker_cpu_usage_percent, worker_id)")]
    return Dashboard("bytedb-workers", "ByteDB / Workers",
                     "Per-worker resources, queries, cache and network of a ByteDB cluster.",
                     panels, variables, file_name="bytedb-workers.json")


DASHBOARDS = (cluster_overview, query_performance, workers)


# --------------------------------------------------------------------------- JSON rendering

def _thresholds(steps: list[tuple[float | None, str]] | None) -> dict[str, Any]:
    steps = steps or [(None, "green")]
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def _panel_json(panel: Panel, panel_id: int, grid: dict[str, int]) -> dict[str, Any]:
    if panel.kind == "row":
        return {"type": "row", "id": panel_id, "title": panel.title, "collapsed": False,
                "gridPos": grid, "panels": []}
    color_mode = "thresholds" if panel.kind in ("stat", "gauge") else "palette-classic"
    defaults: dict[str, Any] = {"unit": panel.unit, "thresholds": _thresholds(panel.thresholds),
                                "color": {"mode": color_mode}}
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.mappings:
        defaults["mappings"] = panel.mappings
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line", "lineWidth": 1, "fillOpacity": 25 if panel.stack else 10,
            "showPoints": "never", "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stack else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line" if panel.thresholds else "off"},
        }
        options = {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                   "tooltip": {"mode": "multi", "sort": "desc"}}
    elif panel.kind in ("stat", "gauge"):
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "orientation": "auto"}
        if panel.kind == "stat":
            options.update({"colorMode": "value", "graphMode": "area", "justifyMode": "auto",
                            "textMode": "auto"})
        else:
            options.update({"showThresholdLabels": False, "showThresholdMarkers": True})
    else:  # table
        options = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}}
    options.update(panel.options)
    targets = []
    for index, target in enumerate(panel.targets):
        item: dict[str, Any] = {"datasource": DATASOURCE, "refId": chr(ord("A") + index),
                                "expr": target.expr, "legendFormat": target.legend or "__auto",
                                "range": not target.instant, "instant": target.instant,
                                "editorMode": "code"}
        if target.table:
            item["format"] = "table"
        if target.exemplar:
            item["exemplar"] = True
        targets.append(item)
    if any(target.exemplar for target in panel.targets):
        defaults["links"] = [QUERY_PAGE_LINK]
    result = {
        "type": panel.kind, "id": panel_id, "title": panel.title, "description": panel.description,
        "datasource": DATASOURCE, "gridPos": grid,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options, "targets": targets,
    }
    if panel.transformations:
        result["transformations"] = panel.transformations
    return result


def _layout(panels: list[Panel]) -> Iterator[tuple[Panel, dict[str, int]]]:
    """Left to right, wrapping at Grafana's 24 columns; a row starts a new line."""
    x = y = line_height = 0
    for panel in panels:
        if panel.kind == "row" or x + panel.width > 24:
            y += line_height
            x = line_height = 0
        yield panel, {"h": panel.height, "w": panel.width, "x": x, "y": y}
        x += panel.width
        line_height = max(line_height, panel.height)
        if panel.kind == "row":
            y += panel.height
            x = line_height = 0


def build(dashboard: Dashboard) -> dict[str, Any]:
    """Grafana dashboard JSON. Panel ids count up in the order panels are declared."""
    panels = [_panel_json(panel, panel_id, grid)
              for panel_id, (panel, grid) in enumerate(_layout(dashboard.panels), start=1)]
    kinds = sorted({p["type"] for p in panels if p["type"] != "row"})
    return {
        "__inputs": [{"name": "DS_PROMETHEUS", "label": "Prometheus", "type": "datasource",
                      "pluginId": "prometheus", "pluginName": "Prometheus",
                      "description": "Prometheus that scrapes bytedb-exporter (see prometheus.yml)"}],
        "__requires": [{"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
                       {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"}]
                      + [{"type": "panel", "id": kind, "name": kind, "version": ""} for kind in kinds],
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts",
            "type": "dashboard"}]},
        "description": dashboard.description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [{"title": "ByteDB dashboards", "type": "dashboards", "tags": [TAG], "asDropdown": True,
                   "includeVars": True, "keepTime": True, "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "panels": panels,
        "refresh": "10s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": [TAG],
        "templating": {"list": [datasource_variable(), *dashboard.variables]},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
        "weekStart": "",
    }


def render(dashboard: Dashboard) -> str:
    return json.dumps(build(dashboard), indent=2, sort_keys=False) + "\n"


def all_dashboards() -> list[Dashboard]:
    return [make() for make in DASHBOARDS]


# --------------------------------------------------------------------------- for tests

@dataclass(frozen=True)
class PanelQuery:
    dashboard_uid: str
    dashboard_title: str
    panel_id: int
    panel_title: str
    ref_id: str
    expr: str
    instant: bool
    variables: tuple[str, ...]  # template variables the dashboard defines, e.g. ("datasource", "worker")

    def rendered(self, values: dict[str, str] | None = None) -> str:
        """The expression with Grafana variables replaced (see TEMPLATE_SUBSTITUTIONS)."""
        return render_expr(self.expr, values)


def panel_queries() -> list[PanelQuery]:
    """Every query of every panel of every dashboard, as generated."""
    result = []
    for dashboard in all_dashboards():
        data = build(dashboard)
        variables = tuple(v["name"] for v in data["templating"]["list"])
        for panel in data["panels"]:
            for target in panel.get("targets", []):
                result.append(PanelQuery(dashboard.uid, dashboard.title, panel["id"], panel["title"],
                                         target["refId"], target["expr"], target["instant"], variables))
    return result


def variable_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, variable name, label_values(...) query) of every query variable."""
    return [(dashboard.uid, v["name"], v["definition"])
            for dashboard in all_dashboards() for v in dashboard.variables if v["type"] == "query"]


# --------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a dashboard file differs from what this script generates")
    parser.add_argument("--out", type=Path, default=DASHBOARD_DIR, help="folder of the JSON files")
    args = parser.parse_args(argv)
    stale = []
    for dashboard in all_dashboards():
        path = args.out / dashboard.file_name
        text = render(dashboard)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        for path in stale:
            print(f"out of date: {path} (run: python grafana/generate.py)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
