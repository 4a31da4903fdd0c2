"""SAS transport (XPORT) version 5 bytes: a prepared table plus its variable facts -> one `.xpt` file.

The format is the one SAS documents in technical note TS-140 ("The record layout of a data set in SAS
transport (XPORT) format"): 80-byte records; a library header, a member header with the dataset name,
label and a `ddMMMyy:hh:mm:ss` timestamp, one 140-byte NAMESTR per variable (type, length, number,
name, label, position), then the observations back to back, padded with blanks to a multiple of 80.
Character values are blank-padded ASCII of exactly the declared length; numbers are 8-byte IBM
System/370 hexadecimal floating point (a 56-bit mantissa holds every double's 53 bits, so in-range
values round-trip exactly); a missing number is `.` (0x2E) followed by seven zero bytes.

We write the bytes ourselves instead of calling `pyreadstat.write_xport` because pyreadstat stamps
the wall clock into both headers (files would differ on every run) and offers no way to declare a
character length. Nothing here judges the data: the stages in `converters/xpt/files.py` have already made
names, labels, lengths, types and characters valid; this module only refuses (ValueError) what it
could not encode faithfully, so a caller bug can never produce a silently wrong file.
"""
from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import pandas as pd

RECORD = 80
NAMESTR_LENGTH = 140
NUM_LENGTH = 8
SAS_VERSION = "9.4"      # the XPORT dialect written (SAS 9.4 writes the same v5 layout)
SAS_OS = "PYTHON"        # the "operating system" field: honest about the writer, ignored by readers
NAME_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]{0,7}$")
LABEL_MAX = 40
IBM_MAX = 16.0 ** 63 * (1 - 16.0 ** -14)   # largest IBM double (just under 16**63)
IBM_MIN = 16.0 ** -65                      # smallest normalised IBM double
CHUNK_ROWS = 200_000                        # observations encoded per block (bounds memory)

_PAD_OR_REFUSE = np.arange(256, dtype=np.uint8)   # printable ASCII kept, NUL (numpy's padding) -> blank,
_PAD_OR_REFUSE[0] = 0x20                           # other control bytes -> 0xFF, which no ASCII text holds
_PAD_OR_REFUSE[1:0x20] = _PAD_OR_REFUSE[0x7F] = 0xFF
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_PREFIX = "HEADER RECORD*******"
_SUFFIX = "HEADER RECORD!!!!!!!"


@dataclass(frozen=True)
class XptColumn:
    """One variable as the file declares it."""

    name: str
    label: str
    type: str     # "Char" | "Num"
    length: int   # bytes: longest value for Char, 8 for Num

    @property
    def is_char(self) -> bool:
        return self.type == "Char"


def sas_timestamp(moment: datetime) -> str:
    """`ddMMMyy:hh:mm:ss`, e.g. 21AUG20:09:14:29 (upper-case English month, two-digit year)."""
    return (f"{moment.day:02d}{_MONTHS[moment.month - 1]}{moment.year % 100:02d}:"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}")


def _text(value: str, width: int) -> bytes:
    """`value` as ASCII, blank-padded to `width`; refuses rather than truncates."""
    raw = value.encode("ascii")
    if len(raw) > width:
        raise ValueError(f"{value!r} does not fit in {width} bytes")
    return raw.ljust(width, b" ")


def _record(*fields: str) -> bytes:
    return _text("".join(fields), RECORD)


def _header(kind: str, digits: str) -> bytes:
    return _record(f"{_PREFIX}{kind:<8}{_SUFFIX}{digits}")


def _check_member(member: str, label: str, columns: Sequence[XptColumn]) -> None:
    for name in (member, *(c.name for c in columns)):
        if not NAME_PATTERN.match(name):
            raise ValueError(f"{name!r} is not a SAS v5 name")
    for text in (label, *(c.label for c in columns)):
        if len(text) > LABEL_MAX or not text.isascii():
            raise ValueError(f"label {text!r} is not at most {LABEL_MAX} ASCII characters")
    if len({c.name for c in columns}) != len(columns):
        raise ValueError("duplicate variable names")
    for c in columns:
        if c.type not in ("Char", "Num") or not 1 <= c.length <= (200 if c.is_char else NUM_LENGTH):
            raise ValueError(f"{c.name}: bad type/length {c.type}/{c.length}")
        if not c.is_char and c.length != NUM_LENGTH:
            raise ValueError(f"{c.name}: numbers are written with 8 bytes")


def _namestr(column: XptColumn, number: int, position: int) -> bytes:
    """The 140-byte NAMESTR record of TS-140 (big-endian shorts/long, no formats)."""
    return struct.pack(
        ">hhhh8s40s8shhh2s8shhl52s",
        2 if column.is_char else 1,   # ntype: 1 numeric, 2 character
        0,                            # nhfun
        column.length,                # nlng
        number,                       # nvar0: variable number, from 1
        _text(column.name, 8),
        _text(column.label, LABEL_MAX),
        _text("", 8),                 # nform: no format
        0, 0, 0,                      # nfl, nfd, nfj
        b"\0\0",                      # nfill
        _text("", 8),                 # niform: no informat
        0, 0,                         # nifl, nifd
        position,                     # npos: byte offset in the observation
        b"\0" * 52,                   # rest
    )


def header_bytes(member: str, label: str, columns: Sequence[XptColumn], created: datetime) -> bytes:
    """Library header, member header and NAMESTR records, up to and including the OBS header."""
    _check_member(member, label, columns)
    stamp = sas_timestamp(created)
    library = (
        _header("LIBRARY", "0" * 30)
        + _record("SAS     SAS     SASLIB  ", f"{SAS_VERSION:<8}{SAS_OS:<8}", " " * 24, stamp)
        + _record(stamp)
    )
    member_header = (
        _header("MEMBER", "0" * 17 + "160" + "0" * 7 + f"{NAMESTR_LENGTH:03d}")
        + _header("DSCRPTR", "0" * 30)
        + _record("SAS     ", f"{member:<8}", "SASDATA ", f"{SAS_VERSION:<8}{SAS_OS:<8}", " " * 24, stamp)
        + _record(stamp, " " * 16, f"{label:<40}", " " * 8)
    )
    positions = np.concatenate([[0], np.cumsum([c.length for c in columns])[:-1]]).astype(int)
    namestrs = b"".join(_namestr(c, i + 1, int(p)) for i, (c, p) in enumerate(zip(columns, positions)))
    namestrs += b" " * (-len(namestrs) % RECORD)
    return (
        library
        + member_header
        + _header("NAMESTR", f"000000{len(columns):04d}" + "0" * 20)
        + namestrs
        + _header("OBS", "0" * 30)
    )


def file_size(rows: int, columns: Sequence[XptColumn]) -> int:
    """Exact size in bytes of the file `write_member` produces for `rows` observations."""
    headers = RECORD * (3 + 5 + 1) + -(-NAMESTR_LENGTH * len(columns) // RECORD) * RECORD
    data = rows * sum(c.length for c in columns)
    return headers + -(-data // RECORD) * RECORD


def ibm_from_float(values: np.ndarray) -> np.ndarray:
    """IEEE doubles -> IBM System/370 doubles as big-endian uint64 bit patterns (NaN -> SAS missing `.`).

    |x| = m * 2**e (0.5 <= m < 1) becomes f * 16**E with E = ceil(e / 4) and f = m * 2**(e - 4E) in
    [1/16, 1); the 56-bit mantissa is the 53-bit integer m * 2**53 shifted left by 3 - (4E - e).
    """
    x = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(x)
    if np.any(~finite & ~np.isnan(x)) or np.any(np.abs(x[finite]) > IBM_MAX):
        raise ValueError("a number is too large for SAS transport format")
    nonzero = finite & (x != 0)
    if np.any(np.abs(x[nonzero]) < IBM_MIN):
        raise ValueError("a number is too small for SAS transport format")
    bits = np.zeros(x.shape, dtype=np.uint64)
    bits[np.isnan(x)] = np.uint64(0x2E) << np.uint64(56)
    v = x[nonzero]
    mantissa, exponent = np.frexp(np.abs(v))
    ibm_exponent = -((-exponent) // 4)
    shift = (3 - (4 * ibm_exponent - exponent)).astype(np.uint64)
    fraction = np.ldexp(mantissa, 53).astype(np.uint64) << shift
    sign = (v < 0).astype(np.uint64) << np.uint64(63)
    bits[nonzero] = sign | ((ibm_exponent + 64).astype(np.uint64) << np.uint64(56)) | fraction
    return bits.astype(">u8")


def _char_block(values: np.ndarray, out: np.ndarray) -> None:
    """Printable ASCII strings -> the blank-padded bytes of `out` (rows, width); anything else is refused.

    Each distinct value is encoded and checked once, then its bytes are copied to its rows.
    """
    width = out.shape[1]
    codes, distinct = pd.factorize(values, use_na_sentinel=False)
    encoded = np.asarray(distinct, dtype=object).astype("S")  # itemsize = the longest value (raises on non-ASCII)
    if encoded.dtype.itemsize > width and np.any(np.char.str_len(encoded) > width):
        raise ValueError(f"a value is longer than its declared length {width}")
    used = min(encoded.dtype.itemsize, width)
    raw = encoded.astype(f"S{used}", copy=False).view(np.uint8).reshape(len(encoded), used)
    padded = np.take(_PAD_OR_REFUSE, raw)   # NUL padding -> blank; a control byte -> 0xFF
    if np.any(padded == 0xFF):
        raise ValueError("a character value holds a control character")
    out[:, :used] = padded[codes]
    out[:, used:] = 0x20


def observation_blocks(table: pd.DataFrame, columns: Sequence[XptColumn]) -> Iterator[bytes]:
    """The observations of `table` (columns by name), `CHUNK_ROWS` at a time, then the final padding."""
    width = sum(c.length for c in columns)
    total = 0
    for start in range(0, len(table), CHUNK_ROWS):
        chunk = table.iloc[start:start + CHUNK_ROWS]
        block = np.empty((len(chunk), width), dtype=np.uint8)
        position = 0
        for c in columns:
            values = chunk[c.name].to_numpy()
            if c.is_char:
                _char_block(values.astype(object), block[:, position:position + c.length])
            else:
                bits = ibm_from_float(values.astype(np.float64))
                block[:, position:position + NUM_LENGTH] = bits.view(np.uint8).reshape(len(chunk), NUM_LENGTH)
            position += c.length
        total += block.size
        yield block.tobytes()
    yield b" " * (-total % RECORD)


def write_member(path: Path, member: str, label: str, columns: Sequence[XptColumn],
                 table: pd.DataFrame, created: datetime) -> None:
    """Write one dataset as an XPT v5 file, whole or not at all (temporary file, then rename)."""
    head = header_bytes(member, label, columns, created)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("wb") as out:
            out.write(head)
            for block in observation_blocks(table, columns):
                out.write(block)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
