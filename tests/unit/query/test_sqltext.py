"""normalize_sql: one pass over literals gives what the step-by-step substitutions gave."""
from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bytedb_exporter.query import sqltext
from bytedb_exporter.query.sqltext import normalize_sql

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")


def stepwise(sql: str) -> str:
    """The former normalizer (four substitutions in turn), kept here as the reference."""
    text = _STRING.sub("?", sql)
    text = _NUMBER.sub("?", text)
    text = _LIST.sub("(?)", text)
    return _SPACE.sub(" ", text).strip().rstrip(";").strip()


def test_known_texts():
    assert normalize_sql("SELECT * FROM t WHERE a = 'x''y' AND b > 42.5;") == "SELECT * FROM t WHERE a = ? AND b > ?"
    assert normalize_sql("select a from t where id in ( 1 , 2,3 )") == "select a from t where id in (?)"
    assert normalize_sql("SELECT c1, 'v1' FROM t2 WHERE x = -3e5") == "SELECT c1, ? FROM t2 WHERE x = ?"


SQL_PIECES = st.sampled_from(["SELECT", " ", "  ", "\t", "\n", "a", "t1", "x.5", "(", ")", ",", " , ", "'", "''",
                              "'it''s'", "12", "-3", "+4.5", "6e7", "in", "?", ";", " ;", "=", "_9", "1.2.3"])


@settings(max_examples=400, deadline=None)
@given(st.lists(SQL_PIECES, max_size=25).map("".join))
def test_equals_the_stepwise_substitutions(sql: str):
    assert normalize_sql(sql) == stepwise(sql)


def test_the_caches_stay_bounded():
    for n in range(sqltext.NORMALIZED_CACHE_SIZE * 2 + 7):
        assert normalize_sql(f"SELECT {n} FROM t{n}") == f"SELECT ? FROM t{n}"
    assert len(sqltext._NORMALIZED.items) <= sqltext.NORMALIZED_CACHE_SIZE
    assert len(sqltext._TEMPLATES.items) <= sqltext.NORMALIZED_CACHE_SIZE


def test_a_full_cache_keeps_its_texts_then_starts_afresh(monkeypatch):
    cache = sqltext.BoundedCache(3)
    monkeypatch.setattr(sqltext, "RENEWAL_MISSES", 5)
    for n in range(3):
        cache.put(f"k{n}", "v")
    kept = dict(cache.items)
    for n in range(3, 7):  # misses of the full cache: not kept
        cache.put(f"k{n}", "v")
    assert cache.items == kept
    cache.put("k7", "v")  # the fifth miss empties it
    assert cache.items == {}
    cache.put("k8", "v")
    assert list(cache.items) == ["k8"]


def test_texts_that_differ_only_in_numbers_share_one_regex_pass(monkeypatch):
    calls = []
    monkeypatch.setattr(sqltext, "_NORMALIZED", sqltext.BoundedCache(16))
    monkeypatch.setattr(sqltext, "_TEMPLATES", sqltext.BoundedCache(16))
    monkeypatch.setattr(sqltext, "_normalize", lambda sql: calls.append(sql) or stepwise(sql))
    for n in range(10, 40):
        assert normalize_sql(f"SELECT a FROM t WHERE b > {n} AND c = 'x{n}'") == "SELECT a FROM t WHERE b > ? AND c = ?"
    assert len(calls) == 1
    # A digit that outlives normalization (a name) keeps its template out: each text takes its own pass.
    assert [normalize_sql(f"SELECT c{n} FROM t") for n in (1, 2)] == ["SELECT c1 FROM t", "SELECT c2 FROM t"]
    assert len(calls) == 3


DIGITS = st.sampled_from("0123456789")


@settings(max_examples=400, deadline=None)
@given(st.lists(SQL_PIECES, max_size=25).map("".join), st.data())
def test_a_text_with_other_digits_in_the_same_places_equals_the_stepwise_substitutions(sql: str, data):
    """The template cache's claim: after one text, any text with the same digit skeleton normalizes right."""
    other = "".join(data.draw(DIGITS) if char.isdigit() else char for char in sql)
    assert normalize_sql(sql) == stepwise(sql)
    assert normalize_sql(other) == stepwise(other)


UNICODE_PIECES = st.sampled_from(["SELECT", " ", "\u00a0", "\u2003", "a", "é", "t\u0663", "\u0663\u0664", "-\u0665",
                                  "'\u00e9''x'", "12", "(", ",", "?", ";", "\u0131"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(SQL_PIECES, UNICODE_PIECES), max_size=25).map("".join))
def test_non_ascii_texts_equal_the_stepwise_substitutions(sql: str):
    """Unicode digits, letters and spaces count as \\d, \\w and \\s (texts that are not ASCII take the Unicode pass)."""
    assert normalize_sql(sql) == stepwise(sql)


_AGGREGATE = re.compile(r"\b(count|sum|avg|min|max)\s*\(|\bgroup\s+by\b", re.IGNORECASE)
_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)


def classify_by_regexes(sql: str) -> str:
    """The classification without substring tests, kept here as the reference."""
    words = sql.lstrip("( \t\r\n").split(None, 1)
    keyword = words[0].upper() if words else ""
    if keyword in ("SELECT", "WITH"):
        return "SELECT_JOIN" if _JOIN.search(sql) else "SELECT_AGGREGATE" if _AGGREGATE.search(sql) else "SELECT"
    if keyword in ("INSERT", "UPDATE", "DELETE"):
        return keyword
    return "DDL" if keyword in ("CREATE", "DROP", "ALTER", "TRUNCATE") else "OTHER"


CLASSIFY_PIECES = st.sampled_from(["SELECT", "select", "WITH", "insert", "Drop", " ", "\t", "\n", "(", ")", "*",
                                   "JOIN", "jOiN", "join1", "xjoin", "jo\u0131n", "COUNT", "count (", "Sum(",
                                   "\u017fum(", "max", "group", "GROUP BY", "group\tby", "byx", "t", "'a'", "1"])


@settings(max_examples=400, deadline=None)
@given(st.lists(CLASSIFY_PIECES, max_size=12).map("".join))
def test_classification_equals_the_regexes_alone(sql: str):
    assert sqltext.classify_sql(sql) == classify_by_regexes(sql)


def test_known_classifications():
    assert sqltext.classify_sql("SELECT a FROM t JOIN u ON t.id = u.id") == "SELECT_JOIN"
    assert sqltext.classify_sql("select dept, count(*) from t group by dept") == "SELECT_AGGREGATE"
    assert sqltext.classify_sql("SELECT a FROM t GROUP  BY a") == "SELECT_AGGREGATE"
    assert sqltext.classify_sql("SELECT a FROM t WHERE b = 'join'") == "SELECT_JOIN"  # as before: the raw text
    assert sqltext.classify_sql("SELECT a FROM t1 jo\u0131n t2") == "SELECT_JOIN"  # IGNORECASE: dotless i is i
    assert sqltext.classify_sql("SELECT name FROM employees WHERE salary > 7") == "SELECT"
