"""Demo query engine: a real sharded SQLite data set served by worker processes and a coordinator."""
from __future__ import annotations

from bytedb_exporter.demo.cache import CacheStats, LRUCache, normalize_sql
from bytedb_exporter.demo.dataset import DatasetSpec, build_shards
from bytedb_exporter.demo.engine import DemoCluster, QueryResult, QueryStats, worker_names
from bytedb_exporter.demo.planner import PlanError, QueryPlan, plan_query

__all__ = ["CacheStats", "DatasetSpec", "DemoCluster", "LRUCache", "PlanError", "QueryPlan", "QueryResult",
           "QueryStats", "build_shards", "normalize_sql", "plan_query", "worker_names"]
