"""SQL text helpers: normalization for grouping (literals folded) and query classification."""
from __future__ import annotations

import re
from functools import lru_cache

QUERY_TYPES = ("SELECT", "SELECT_AGGREGATE", "SELECT_JOIN", "SELECT_JOIN_AGGREGATE",
               "INSERT", "UPDATE", "DELETE", "DDL", "OTHER")
"""The fixed set of `query_type` label values; anything else is counted as OTHER."""

# One pass replaces string and number literals (a string's digits are part of the string). Every match
# starts with one of -+0-9' so the regex engine skips other characters in C; the lookbehinds then say
# which literal it is and that a number does not continue a name (t1) or a number (1.2.3).
_LITERAL = re.compile(
    r"[-+\d'](?:(?<=')[^']*(?:''[^']*)*'"
    r"|(?<=[-+])(?<![\w.][-+])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b"
    r"|(?<=\d)(?<![\w.]\d)\d*(?:\.\d+)?(?:[eE][-+]?\d+)?\b)")
_LIST = re.compile(r"\( ?\?(?: ?, ?\?)+ ?\)")
_AGGREGATE = re.compile(r"\b(count|sum|avg|min|max)\s*\(|\bgroup\s+by\b", re.IGNORECASE)
_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)
_DDL = ("CREATE", "DROP", "ALTER", "TRUNCATE")


_NORMALIZED: dict[str, str] = {}
NORMALIZED_CACHE_SIZE = 4096  # texts whose normalization is kept; the cache starts afresh when full


def normalize_sql(sql: str) -> str:
    """SQL with string and number literals replaced by ?, IN-lists folded, spaces collapsed.

    Cached in a plain dict (cheaper than lru_cache on a miss, and texts differing only in their literals
    miss every time); when full it is emptied, so it stays bounded.
    """
    text = _NORMALIZED.get(sql)
    if text is None:
        if len(_NORMALIZED) >= NORMALIZED_CACHE_SIZE:
            _NORMALIZED.clear()
        text = _NORMALIZED[sql] = _normalize(sql)
    return text


def _normalize(sql: str) -> str:
    text = _LITERAL.sub("?", sql)
    # Collapse whitespace only where there is some to collapse (isprintable() is False for any whitespace
    # other than the ASCII space).
    text = " ".join(text.split()) if "  " in text or not text.isprintable() else text.strip()
    if "?," in text or "? ," in text:
        text = _LIST.sub("(?)", text)
    return text.rstrip(";").rstrip()


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
