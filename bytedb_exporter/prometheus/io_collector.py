"""Storage IO of a watched process (psutil io_counters) as counters, from its last sample."""
from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from bytedb_exporter.cluster.sampling import ResourceSample
from bytedb_exporter.metrics.registry import NAMESPACE

IO_HELP = {"read": "Bytes a worker's process read from storage (psutil io_counters).",
           "write": "Bytes a worker's process wrote to storage (psutil io_counters)."}


class ProcessIOCollector(Collector):
    """bytedb_worker_io_{read,write}_bytes_total of one watched process, from its last sample."""

    def __init__(self, worker_id: str):
        self.worker_id = worker_id
        self.sample = ResourceSample()

    def collect(self) -> Iterator[Metric]:
        sample = self.sample
        for direction, value in (("read", sample.io_read_bytes), ("write", sample.io_write_bytes)):
            family = CounterMetricFamily(f"{NAMESPACE}_worker_io_{direction}_bytes", IO_HELP[direction],
                                         labels=["worker_id"])
            family.add_metric([self.worker_id], value)
            yield family
