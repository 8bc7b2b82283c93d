from bytedb_exporter.metrics.scrape import consistent_scrape, scrape_vitals


class CountingMonitor:
    def __init__(self):
        self.reads = 0

    def vitals(self):
        self.reads += 1
        return self.reads


def test_one_reading_per_monitor_within_a_scrape():
    monitor = CountingMonitor()
    with consistent_scrape():
        assert scrape_vitals(monitor) == scrape_vitals(monitor) == 1
        with consistent_scrape():  # nested scopes share the outer reading
            assert scrape_vitals(monitor) == 1
    assert scrape_vitals(monitor) == 2 and scrape_vitals(monitor) == 3  # outside a scrape: fresh readings
