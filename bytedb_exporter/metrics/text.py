"""Text that can always be encoded: what the library is given is kept, a lone surrogate becomes U+FFFD."""
from __future__ import annotations

import re

_SURROGATE = re.compile("[\ud800-\udfff]")


def encodable(text: object) -> str:
    """`text` as a str that encodes to UTF-8 (for JSON, /metrics, hashes and SQLite): each lone surrogate
    (which a bytes decode with surrogateescape leaves) is replaced by U+FFFD."""
    value = str(text)
    return value if value.isascii() else _SURROGATE.sub("\ufffd", value)


def is_encodable(text: str) -> bool:
    """True when `text` holds no lone surrogate."""
    return text.isascii() or _SURROGATE.search(text) is None
