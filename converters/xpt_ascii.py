"""The XPT ASCII transliteration policy, where the XPT writer and the tests have always imported it from.

The policy itself lives in `schemas/xpt_ascii.py`, so that the mappings can measure text as the XPT file
will hold it (a split at 200 bytes must count `oe` for `œ`); this module only re-exports it.
"""
from __future__ import annotations

from trialbridge.schemas.xpt_ascii import (
    CONTROL, NOT_PRINTABLE_ASCII, PLACEHOLDER, Transliteration, transliterate, written_width,
)

__all__ = ["CONTROL", "NOT_PRINTABLE_ASCII", "PLACEHOLDER", "Transliteration", "transliterate", "written_width"]
