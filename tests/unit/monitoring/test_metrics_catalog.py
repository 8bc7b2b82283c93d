"""docs/metrics.md lists exactly the families a fully wired registry exposes."""
import os
import re
import tempfile
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bytedb_exporter.metrics.registry import MetricsRegistry
from bytedb_exporter.query.monitor import QueryMonitor

CATALOG = Path(__file__).resolve().parents[3] / "docs" / "metrics.md"
EXPOSED_SUFFIX = {"counter": "_total", "info": "_info"}


def catalog_rows():
    text = CATALOG.read_text()
    table = text.split("<!-- catalog:start -->")[1].split("<!-- catalog:end -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        name, kind, _unit, labels, help_text = cells[:5]
        rows[name] = (kind, tuple(sorted(label.strip() for label in labels.split(",") if label.strip())), help_text)
    return rows


def wired_registry():
    """A registry holding every monitor the exporter can run (those that exist so far)."""
    registry = MetricsRegistry()
    QueryMonitor(registry)
    try:
        from bytedb_exporter.cluster.coordinator import CoordinatorMonitor
        from bytedb_exporter.cluster.worker import WorkerMonitor
    except ImportError:
        return registry
    coordinator = CoordinatorMonitor(registry=registry)
    worker = WorkerMonitor("worker-1", registry=registry)
    for _ in range(2):  # resource series exist once read (this process, data path "."), the load after 2 samples
        worker.update_resource_metrics()
    worker.heartbeat()
    coordinator.register_worker("worker-1", worker)
    coordinator.record_query_start("q", 2, 1)
    coordinator.record_query_end("q", True)
    return registry


def serve_mode_families():
    """Families of a serve-mode coordinator (remote workers, ingest, a slow-query store) and worker (a watched
    process)."""
    from bytedb_exporter.config.loader import parse_config
    from bytedb_exporter.serve import Service

    with tempfile.TemporaryDirectory(prefix="catalog-") as store:
        coordinator = Service(parse_config({"role": "coordinator", "node_id": "c",
                                            "history": {"slow_query_db": os.path.join(store, "slow.db")},
                                            "workers": [{"id": "w1", "url": "http://127.0.0.1:9"}]}))
        worker = Service(parse_config({"role": "worker", "node_id": "w1", "process": {"pid": os.getpid()}}))
        worker.watch.sample_once()
        texts = [service.app.test_client().get("/metrics").get_data(as_text=True) for service in (coordinator, worker)]
        coordinator.stop()
    for text in texts:
        yield from (f for f in text_string_to_metric_families(text) if f.name.startswith("bytedb_"))


def live_families():
    families = {}
    for family in [*wired_registry().collector_registry.collect(), *serve_mode_families()]:
        name = family.name + EXPOSED_SUFFIX.get(family.type, "")
        labels = {key for sample in family.samples for key in sample.labels if key not in ("le", "quantile")}
        families.setdefault(name, (family.type, tuple(sorted(labels)), family.documentation))
    return families


def test_catalog_matches_live_registry():
    catalog, live = catalog_rows(), live_families()
    assert sorted(set(live) - set(catalog)) == [], "families missing from docs/metrics.md"
    assert sorted(set(catalog) - set(live)) == [], "catalog rows no registry exposes"
    for name, (kind, labels, help_text) in catalog.items():
        assert live[name] == (kind, labels, help_text), name


def test_catalog_names_follow_conventions():
    for name, (kind, _, help_text) in catalog_rows().items():
        assert re.fullmatch(r"bytedb_[a-z0-9_]+", name), name
        assert name.endswith("_total") == (kind == "counter"), name
        assert not re.search(r"_(ms|milliseconds|mb|kb)(_|$)", name), name
        assert help_text.endswith("."), name
