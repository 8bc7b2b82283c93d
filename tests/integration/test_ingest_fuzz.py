"""Property-based fuzzing of POST /api/v1/events on a serve-mode coordinator: no answer is a 5xx, a refused
batch leaves /metrics unchanged, an accepted one leaves it parsable (by prometheus_client and promtool)."""
import json
import subprocess

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from support import require_binary

from bytedb_exporter.config.loader import parse_config
from bytedb_exporter.serve import Service

EXAMPLES = 500
WORKERS = ["w1", "w2", "w3"]
QUERIES = ["q1", "q2", "q3"]
# Lines that change with the clock alone, not with ingest: the process collector's CPU and memory, the seconds since
# a worker's heartbeat, and the request counter (it counts refused batches by design). `_created` series are off.
CLOCK_LINES = ("process_", "bytedb_worker_heartbeat_age_seconds", "bytedb_ingest_requests_total")

PRINTABLE = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=24)
NASTY_NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-2 ** 70, 2 ** 70),
    st.sampled_from([10 ** 400, 1e308, -0.0, -1, 2 ** 53, 2 ** 53 + 1, 100, 100.5, 10_001]), st.booleans())
# hypothesis's text() never holds a lone surrogate: one is put in explicitly.
SURROGATE = st.builds(lambda a, code, b: a + chr(code) + b, st.text(max_size=3), st.integers(0xD800, 0xDFFF),
                      st.text(max_size=3))
NASTY_TEXT = st.one_of(
    SURROGATE, st.text(max_size=12), st.text(st.characters(categories=("Cc", "Zl", "Zs", "Lo")), min_size=1,
                                             max_size=6),
    st.sampled_from(["pw-\udc80", "w\n1", "w\x00", "x" * 129, "", "y" * 5000]))
NASTY = st.one_of(SURROGATE, NASTY_TEXT, NASTY_NUMBER, st.none(), st.just([]), st.just({"a": 1}),
                  st.just([[[[["deep"]]]]]))
AMOUNT = st.integers(0, 10 ** 6)
MS = st.floats(0, 10_000, allow_nan=False)
FIELDS = ["type", "worker_id", "query_id", "sql", "query_type", "count", "size_bytes", "rows", "bytes", "error",
          "severity", "latency_ms", "duration_ms", "phases", "cache_hit_rate", "original_cost", "optimized_cost",
          "bytes_received", "bytes_sent", "success", "query", "workers", "fragments", "user", "fragment_timings",
          "plan"]
FRAGMENT = st.fixed_dictionaries({"worker_id": st.one_of(st.sampled_from(WORKERS), st.sampled_from(WORKERS), NASTY),
                                  "duration_ms": st.one_of(MS, MS, NASTY)},
                                 optional={"rows": AMOUNT, "bytes": AMOUNT, "queued_ms": MS})


def worker_event(kind, **fields):
    return st.fixed_dictionaries({"type": st.just(kind), "worker_id": st.sampled_from(WORKERS), **fields})


VALID = st.one_of(
    worker_event("heartbeat"),
    worker_event("cache_hit", count=st.integers(0, 100)),
    worker_event("cache_size", size_bytes=AMOUNT),
    worker_event("network", bytes_received=AMOUNT, bytes_sent=AMOUNT, latency_ms=MS),
    worker_event("worker_error", error=PRINTABLE, severity=st.sampled_from(["info", "warning", "error", "critical"])),
    worker_event("worker_query_start", query_id=st.sampled_from(QUERIES)),
    worker_event("worker_query_end", query_id=st.sampled_from(QUERIES), rows=AMOUNT, bytes=AMOUNT),
    st.fixed_dictionaries({"type": st.just("query_start"), "query_id": st.sampled_from(QUERIES), "sql": PRINTABLE},
                          optional={"query_type": st.sampled_from(["SELECT", "insert", "DDL"]), "workers": AMOUNT}),
    st.fixed_dictionaries({"type": st.just("query_update"), "query_id": st.sampled_from(QUERIES), "rows": AMOUNT},
                          optional={"phases": st.fixed_dictionaries({"planning_ms": MS}),
                                    "cache_hit_rate": st.floats(0, 100), "plan": PRINTABLE,
                                    "fragment_timings": st.lists(FRAGMENT, max_size=4)}),
    st.fixed_dictionaries({"type": st.just("query_end"), "query_id": st.sampled_from(QUERIES)},
                          optional={"duration_ms": MS, "error": PRINTABLE}),
)


@st.composite
def mutated(draw):
    """A valid event with one of its fields (or, sometimes, another field) set to a nasty value."""
    event = dict(draw(VALID))
    event[draw(st.one_of(st.sampled_from(sorted(event)), st.sampled_from(FIELDS)))] = draw(NASTY)
    return event


EVENTS = st.lists(st.one_of(VALID, VALID, mutated()), max_size=6)


@st.composite
def bodies(draw):
    """(body bytes, content type): mostly JSON arrays of events, some NDJSON, some not JSON at all."""
    events = draw(EVENTS)
    form = draw(st.sampled_from(["json", "json", "json", "ndjson", "bytes"]))
    if form == "bytes":
        return draw(st.binary(max_size=40)), "application/json"
    if form == "ndjson":
        return "\n".join(json.dumps(e) for e in events).encode(), "application/x-ndjson"
    return json.dumps(events).encode(), "application/json"  # NaN/Infinity as tokens, surrogates as \\udc80


def steady(text):
    return [line for line in text.splitlines() if not line.startswith(CLOCK_LINES)]


def coordinator():
    """scrape_cache_seconds 0: each example compares /metrics right before and right after its batch."""
    return Service(parse_config({
        "role": "coordinator", "node_id": "coordinator", "scrape_cache_seconds": 0,
        "workers": [{"id": "remote-1", "url": "http://127.0.0.1:9"}],
        "limits": {"max_workers": 60, "max_open_queries": 50, "max_batch_events": 20},
        "thresholds": {"offline_after_seconds": 3600}}, "fuzz.yml"))


def test_no_batch_breaks_the_exporter():
    promtool = require_binary("promtool", "prometheus")
    client = coordinator().app.test_client()
    tally = {"accepted": 0, "rejected": 0}
    expositions = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(body=bodies())
    def post_one(body):
        before = client.get("/metrics")
        assert before.status_code == 200
        data, content_type = body
        response = client.post("/api/v1/events", data=data, content_type=content_type)
        assert response.status_code < 500, response.get_data(as_text=True)
        after = client.get("/metrics")
        assert after.status_code == 200
        text = after.get_data(as_text=True)
        if response.status_code == 200:
            tally["accepted"] += 1
            assert any(f.name == "bytedb_ingest_events" for f in text_string_to_metric_families(text))
            if len(expositions) < 5 or tally["accepted"] % 50 == 0:
                expositions.append(text)
        else:
            tally["rejected"] += 1
            document = response.get_json()
            assert document["error"] and document["detail"]
            assert steady(text) == steady(before.get_data(as_text=True))
        for path in ("/api/workers", "/api/cluster", "/api/queries", "/api/overview"):
            assert client.get(path).status_code == 200, path

    post_one()
    assert tally["accepted"] > EXAMPLES // 10 and tally["rejected"] > EXAMPLES // 10, tally
    expositions.append(client.get("/metrics").get_data(as_text=True))
    for text in expositions:
        checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True,
                                 timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    print(f"\ningest fuzz: {sum(tally.values())} batches, {tally['accepted']} accepted, {tally['rejected']} "
          f"refused (4xx), 0 answered 5xx; promtool passed {len(expositions)} expositions")
