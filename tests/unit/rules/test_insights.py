import pytest

from bytedb_exporter.rules.health import Thresholds
from bytedb_exporter.rules.insights import skew_insights, statement_insights


def row(fingerprint, calls, errors, mean):
    return {"fingerprint": fingerprint, "calls": calls, "errors": errors, "mean_seconds": mean}


def test_slow_and_error_prone_statements_by_the_configured_limits():
    t = Thresholds(slow_statement_seconds=0.5, statement_error_percent=10.0, statement_min_calls=20)
    found = statement_insights([row("a", 100, 0, 0.6), row("b", 100, 11, 0.1), row("c", 19, 19, 0.1),
                                row("d", 100, 10, 0.5), row("e", 10, 0, 6.0)], t)
    assert [(i.type, i.subject, i.severity) for i in found] == [
        ("slow_statement", "a", "warning"), ("error_prone_statement", "b", "warning"),
        ("slow_statement", "e", "critical")]
    assert "0.5 s" in found[0].message and found[1].value == 11.0 and found[1].threshold == 10.0


def test_skewed_queries_above_the_ratio():
    found = skew_insights([("q1", 2.9), ("q2", 3.5), ("q3", 12.0)], Thresholds(fragment_skew_ratio=3.0))
    assert [(i.subject, i.severity) for i in found] == [("q2", "warning"), ("q3", "critical")]
    assert found[0].id == "skewed_fragments:q2" and "/queries/" in found[0].recommendation


def test_critical_cut_offs_come_from_the_thresholds():
    t = Thresholds(fragment_skew_ratio=2.0, critical_fragment_skew_ratio=4.0, slow_statement_seconds=0.1,
                   critical_slow_statement_seconds=0.2, statement_error_percent=1.0,
                   critical_statement_error_percent=20.0, statement_min_calls=1)
    assert [i.severity for i in skew_insights([("q1", 3.9), ("q2", 4.1)], t)] == ["warning", "critical"]
    found = statement_insights([row("a", 10, 1, 0.15), row("b", 10, 3, 0.25)], t)
    assert [(i.type, i.subject, i.severity) for i in found] == [
        ("slow_statement", "a", "warning"), ("error_prone_statement", "a", "warning"),
        ("slow_statement", "b", "critical"), ("error_prone_statement", "b", "critical")]
    with pytest.raises(ValueError, match="critical_fragment_skew_ratio must not be below fragment_skew_ratio"):
        Thresholds(fragment_skew_ratio=10.0)
