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


NORMALIZED_CACHE_SIZE = 4096  # texts (and, apart, templates) whose normalization is kept
RENEWAL_MISSES = 8 * NORMALIZED_CACHE_SIZE  # misses of a full cache after which it starts afresh
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_DIGIT = re.compile(r"[0-9]")


class BoundedCache:
    """A dict of at most `size` entries. Once full it takes no new ones (keys that differ every time would only
    churn it); RENEWAL_MISSES misses later it starts afresh, so a workload whose keys change is cached again.

    Threads share it without a lock: the GIL keeps each dict operation whole, and a race can at most put a few
    entries past `size` or count a miss twice."""

    def __init__(self, size: int):
        self.size = size
        self.items: dict[object, str] = {}
        self.full_misses = 0

    def put(self, key: object, value: str) -> None:
        """Keep `value` under `key` while there is room; count a miss of the full cache otherwise."""
        if len(self.items) < self.size:
            self.items[key] = value
            return
        self.full_misses += 1
        if self.full_misses >= RENEWAL_MISSES:
            self.full_misses = 0
            self.items.clear()


_NORMALIZED = BoundedCache(NORMALIZED_CACHE_SIZE)  # by the text itself
_TEMPLATES = BoundedCache(NORMALIZED_CACHE_SIZE)  # by the text's digit skeleton (ASCII texts)


def normalize_sql(sql: str) -> str:
    """SQL with string and number literals replaced by ?, IN-lists folded, spaces collapsed.

    Cached by the text, then (ASCII texts) by its template: the text with every digit made 0. Two texts with the
    same template differ only in the values of their digits, and a digit's value decides nothing here (whether
    it is part of a literal depends on where it is, not on which digit it is), so their literals lie in the same
    places and their normalizations differ only where a digit outlives normalization (`t1` vs `t2`). A template
    is therefore kept only for a normalization without digits: texts that differ only in their numbers then
    take one regex pass in all instead of one each.
    """
    text = _NORMALIZED.items.get(sql)
    if text is not None:
        return text
    if sql.isascii():
        template = sql.encode("ascii").translate(_ZERO_DIGITS)
        text = _TEMPLATES.items.get(template)
        if text is None:
            text = _normalize(sql)
            if _DIGIT.search(text) is None:
                _TEMPLATES.put(template, text)
    else:
        text = _normalize(sql)
    _NORMALIZED.put(sql, text)
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
