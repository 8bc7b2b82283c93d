"""SQL text helpers: normalization for grouping (literals folded) and query classification."""
from __future__ import annotations

import re
from functools import lru_cache

QUERY_TYPES = ("SELECT", "SELECT_AGGREGATE", "SELECT_JOIN", "SELECT_JOIN_AGGREGATE",
               "INSERT", "UPDATE", "DELETE", "DDL", "OTHER")
"""The fixed set of `query_type` label values; anything else is counted as OTHER."""

_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)+\s*\)")
_SPACE = re.compile(r"\s+")
_AGGREGATE = re.compile(r"\b(count|sum|avg|min|max)\s*\(|\bgroup\s+by\b", re.IGNORECASE)
_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)
_DDL = ("CREATE", "DROP", "ALTER", "TRUNCATE")


@lru_cache(maxsize=4096)
def normalize_sql(sql: str) -> str:
    """SQL with string and number literals replaced by ?, IN-lists folded, spaces collapsed."""
    text = _STRING.sub("?", sql)
    text = _NUMBER.sub("?", text)
    text = _LIST.sub("(?)", text)
    return _SPACE.sub(" ", text).strip().rstrip(";").strip()


@lru_cache(maxsize=4096)
def classify_sql(sql: str) -> str:
    """One of QUERY_TYPES, from the statement's first keyword and shape."""
    words = sql.lstrip("( \t\r\n").split(None, 1)
    keyword = words[0].upper() if words else ""
    if keyword in ("SELECT", "WITH"):
        if _JOIN.search(sql):
            return "SELECT_JOIN"
        if _AGGREGATE.search(sql):
            return "SELECT_AGGREGATE"
        return "SELECT"
    if keyword in ("INSERT", "UPDATE", "DELETE"):
        return keyword
    if keyword in _DDL:
        return "DDL"
    return "OTHER"


def label_for_query_type(query_type: str) -> str:
    """The label value for a query type: itself when known, else OTHER."""
    upper = query_type.upper()
    return upper if upper in QUERY_TYPES else "OTHER"
