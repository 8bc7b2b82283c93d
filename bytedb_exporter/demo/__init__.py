"""Demo query engine: a real sharded SQLite data set served by worker processes and a coordinator."""
from __future__ import annotations

from .cache import CacheStats, LRUCache, normalize_sql
from .dataset import DatasetSpec, build_shards
from .engine import DemoCluster, QueryResult, QueryStats, worker_names
from .planner import PlanError, QueryPlan, plan_query

__all__ = ["CacheStats", "DatasetSpec", "DemoCluster", "LRUCache", "PlanError", "QueryPlan", "QueryResult",
           "QueryStats", "build_shards", "normalize_sql", "plan_query", "worker_names"]
