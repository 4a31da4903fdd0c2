"""The in-memory trial: one registry record plus one table per CRF form, as read from a native folder."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

# Provenance columns every reader stamps on every form row (STYLE habit 3).
SOURCE_FILE = "_file"  # the CSV file name, e.g. "dosing.csv"
SOURCE_LINE = "_line"  # the physical line in that file, header = line 1, first data row = line 2


@dataclass(frozen=True)
class Trial:
    """A trial's native records, checked.

    `forms` maps a form name (see `trialbridge.schemas.native.FORM_NAMES`) to a table whose columns are
    the form's columns in schema order, every value a string ("" where the cell was empty), followed by
    the provenance columns `_file` and `_line`.
    """

    source: Path
    registry: dict[str, Any]
    forms: dict[str, pd.DataFrame]

    @property
    def subjects(self) -> list[str]:
        return list(self.forms["enrolment"]["SUBJID"])

    def row_counts(self) -> dict[str, int]:
        return {name: len(table) for name, table in self.forms.items()}
