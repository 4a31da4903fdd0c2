"""sdtm.oak's study specification (`*_sdtm_oak_spec.csv`) and study CT (`sdtm_ct.csv`), read as they are,
-> the tables of a trialbridge study mapping specification."""
from __future__ import annotations

from pathlib import Path


def is_oak_folder(location: Path) -> bool:
    """A folder holding an sdtm.oak spec CSV (and no trialbridge mappings table)."""
    return location.is_dir() and not (location / "mappings.csv").exists() and any(location.glob("*sdtm_oak_spec*.csv"))
