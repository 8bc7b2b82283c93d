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


def test_the_cache_stays_bounded():
    for n in range(sqltext.NORMALIZED_CACHE_SIZE * 2 + 7):
        assert normalize_sql(f"SELECT {n} FROM t") == "SELECT ? FROM t"
    assert len(sqltext._NORMALIZED) <= sqltext.NORMALIZED_CACHE_SIZE
