"""GET /api/sd: Prometheus HTTP SD target groups of the coordinator and its watched worker exporters."""
import pytest

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service
from bytedb_exporter.web.discovery import ExporterDirectory, sd_document, target_group


def coordinator(workers, auth=None):
    config = {"role": "coordinator", "node_id": "coord-a",
              "workers": [{"id": wid, "url": url} for wid, url in workers.items()]}
    if auth:
        config["auth"] = auth
    return Service(parse_config(config, "sd.yml"))


def test_lists_the_coordinator_and_every_configured_worker_exporter():
    service = coordinator({"worker-2": "http://10.0.0.2:9102", "worker-1": "https://w1.example:9443/exporter/"})
    groups = service.app.test_client().get("/api/sd", base_url="http://coord.example:8091").get_json()
    assert groups == [
        {"targets": ["coord.example:8091"], "labels": {"role": "coordinator", "node": "coord-a",
                                                       "__metrics_path__": "/metrics"}},
        {"targets": ["w1.example:9443"], "labels": {"role": "worker", "node": "worker-1",
                                                    "__metrics_path__": "/exporter/metrics", "__scheme__": "https"}},
        {"targets": ["10.0.0.2:9102"], "labels": {"role": "worker", "node": "worker-2",
                                                  "__metrics_path__": "/metrics"}},
    ]


def test_a_worker_the_coordinator_no_longer_watches_leaves_the_document():
    service = coordinator({"worker-1": "http://127.0.0.1:9101", "worker-2": "http://127.0.0.1:9102"})
    assert service.coordinator is not None
    service.coordinator.unregister_worker("worker-2")
    groups = service.app.test_client().get("/api/sd").get_json()
    assert [g["labels"]["node"] for g in groups] == ["coord-a", "worker-1"]


def test_needs_credentials_like_the_api_when_auth_is_on():
    client = coordinator({"worker-1": "http://127.0.0.1:9101"}, auth={"bearer_token": "s3cret"}).app.test_client()
    refused = client.get("/api/sd")
    assert refused.status_code == 401 and "targets" not in refused.get_data(as_text=True)
    allowed = client.get("/api/sd", headers={"Authorization": "Bearer s3cret"})
    assert allowed.status_code == 200 and len(allowed.get_json()) == 2


def test_directory_refuses_a_url_prometheus_could_not_scrape():
    directory = ExporterDirectory()
    with pytest.raises(ValueError, match="http"):
        directory.add("w", "ftp://host:21")
    assert directory.urls() == {}


def test_document_keeps_only_watched_workers_sorted_by_id():
    directory = ExporterDirectory("c")
    directory.add("b", "http://127.0.0.1:2")
    directory.add("a", "http://127.0.0.1:1")
    directory.add("gone", "http://127.0.0.1:3")
    document = sd_document("http://127.0.0.1:8091/", directory, {"a", "b"})
    assert [g["targets"][0] for g in document] == ["127.0.0.1:8091", "127.0.0.1:1", "127.0.0.1:2"]
    assert target_group("http://h:1/", "worker", "x")["labels"]["__metrics_path__"] == "/metrics"


def test_behind_a_path_prefix_the_coordinator_target_keeps_it():
    groups = coordinator({}).app.test_client().get("/api/sd", base_url="http://coord.example:8091/bytedb/").get_json()
    assert groups[0]["labels"]["__metrics_path__"] == "/bytedb/metrics"
