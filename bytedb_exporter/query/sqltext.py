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
_LITERAL_REST = (r"(?:(?<=')[^']*(?:''[^']*)*'"
                 r"|(?<=[-+])(?<![\w.][-+])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b"
                 r"|(?<=\d)(?<![\w.]\d)\d*(?:\.\d+)?(?:[eE][-+]?\d+)?\b)")
_LITERAL = re.compile(r"[-+\d']" + _LITERAL_REST)
# The same pass for ASCII texts (nearly all): on ASCII, \d, \w and \b mean the same with re.ASCII, and an
# explicit [0-9] class lets the engine skip to the next candidate about a third faster.
_ASCII_LITERAL = re.compile(r"[-+0-9']" + _LITERAL_REST, re.ASCII)
_LIST = re.compile(r"\( ?\?(?: ?, ?\?)+ ?\)")
_AGGREGATE = re.compile(r"\b(count|sum|avg|min|max)\s*\(|\bgroup\s+by\b", re.IGNORECASE)
_JOIN = re.compile(r"\bjoin\b", re.IGNORECASE)
_DDL = ("CREATE", "DROP", "ALTER", "TRUNCATE")


_NORMALIZED: dict[str, str] = {}
NORMALIZED_CACHE_SIZE = 4096  # texts whose normalization is kept
RENEWAL_MISSES = 8 * NORMALIZED_CACHE_SIZE  # misses of the full cache after which it starts afresh
_full_misses = 0


def normalize_sql(sql: str) -> str:
    """SQL with string and number literals replaced by ?, IN-lists folded, spaces collapsed.

    Cached in a plain dict (cheaper than lru_cache on a miss). A full cache takes no new texts: texts differing
    only in their literals miss every time, and storing each would only churn it. RENEWAL_MISSES misses later
    it starts afresh, so a workload whose repeated texts change is cached again.
    """
    global _full_misses
    text = _NORMALIZED.get(sql)
    if text is None:
        text = _normalize(sql)
        if len(_NORMALIZED) < NORMALIZED_CACHE_SIZE:
            _NORMALIZED[sql] = text
        else:
            _full_misses += 1
            if _full_misses >= RENEWAL_MISSES:
                _full_misses = 0
                _NORMALIZED.clear()
    return text


def _normalize(sql: str) -> str:
    text = (_ASCII_LITERAL if sql.isascii() else _LITERAL).sub("?", sql)
    # Collapse whitespace only where there is some to collapse (isprintable() is False for any whitespace
    # other than the ASCII space).
    text = " ".join(text.split()) if "  " in text or not text.isprintable() else text.strip()
    if "(" in text and ("?," in text or "? ," in text):
        text = _LIST.sub("(?)", text)
    return text.rstrip(";").rstrip()


@lru_cache(maxsize=4096)
def classify_sql(sql: str) -> str:
    """One of QUERY_TYPES, from the statement's first keyword and shape."""
    words = sql.lstrip("( \t\r\n").split(None, 1)
    keyword = words[0].upper() if words else ""
    if keyword in ("SELECT", "WITH"):
        # On an ASCII text, substring tests rule the case-insensitive regexes out cheaply (texts differing in
        # their literals miss the cache); on others IGNORECASE also matches non-ASCII letters (ı, ſ, K).
        folded = sql.lower() if sql.isascii() else None
        if (folded is None or "join" in folded) and _JOIN.search(sql):
            return "SELECT_JOIN"
        if (folded is None or "(" in sql or "group" in folded) and _AGGREGATE.search(sql):
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
