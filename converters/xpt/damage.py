"""An XPT file on disk -> why it cannot be trusted ("" when it can): empty, not SAS transport, truncated.

SAS transport v5 (and v8) files are sequences of 80-byte records: a library header, one member
header and its variable descriptors (namestr records), an `OBS` header, then the observations, each
`width` bytes (the sum of the variable lengths) written back to back and the last record padded
with blanks. v5 has no record count, so a file cut short is recognised by its arithmetic: a size
that is not a whole number of 80-byte records, or bytes after the last whole observation that are
not blank padding (a record cut in the middle). A file cut exactly at an observation boundary that
is also a record boundary cannot be told from a shorter file; nothing in the format says otherwise.
"""
from __future__ import annotations

from pathlib import Path

RECORD = 80
LIBRARY_V5 = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
LIBRARY_V8 = b"HEADER RECORD*******LIBV8   HEADER RECORD!!!!!!!"
OBS_V5 = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
OBS_V8 = b"HEADER RECORD*******OBSV8   HEADER RECORD!!!!!!!"
MEMBER = (b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!", b"HEADER RECORD*******MEMBV8  HEADER RECORD!!!!!!!")
HEAD_SCAN = 4 << 20  # bytes searched for the OBS header (4 MB: some 29,000 variables)


class XptDamaged(ValueError):
    """An XPT file that is empty, not SAS transport, or truncated; the message says which and where."""


def _excerpt(head: bytes) -> str:
    text = head[:24].decode("latin-1")
    return "".join(ch if " " <= ch <= "~" else f"\\x{ord(ch):02x}" for ch in text)


def damage_before_reading(path: Path) -> str:
    """What is wrong with the file before any parser sees it: empty, not XPT, not whole 80-byte records."""
    size = path.stat().st_size
    if size == 0:
        return "the file is empty (0 bytes)"
    with open(path, "rb") as handle:
        head = handle.read(RECORD)
    if not (head.startswith(LIBRARY_V5) or head.startswith(LIBRARY_V8)):
        return f"it is not a SAS transport file: it starts with '{_excerpt(head)}', not a library header record"
    if size % RECORD:
        return (f"it is truncated: {size:,} bytes is not a whole number of {RECORD}-byte records "
                f"({size % RECORD} byte(s) of a last record)")
    return ""


def damage_after_reading(path: Path, width: int) -> str:
    """With the observation width known: bytes after the last whole observation that are not padding."""
    if width <= 0:
        return ""
    with open(path, "rb") as handle:
        head = handle.read(HEAD_SCAN)
        if sum(head.count(marker) for marker in MEMBER) != 1:
            return ""                                   # several members: the arithmetic is per member
        start = max(head.find(OBS_V5), head.find(OBS_V8))
        if start < 0:
            return ""
        data_start = start + RECORD
        size = path.stat().st_size
        data = size - data_start
        whole, rest = divmod(data, width)
        if rest == 0:
            return ""
        handle.seek(data_start + whole * width)
        tail = handle.read(rest)
    if tail.strip(b" ") == b"":
        return ""
    return (f"it is truncated: the data after the headers is {data:,} bytes, {whole:,} whole observation(s) "
            f"of {width} bytes and {rest} byte(s) of a cut one")
