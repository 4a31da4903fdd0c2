"""The in-memory trial: its registry record, its raw datasets (one table per form or item group, with
provenance) and the study mapping specification that turns them into SDTM."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from trialbridge.mappings.spec.model import StudyMapping

from trialbridge.schemas.provenance import SOURCE_FILE, SOURCE_LINE  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class Trial:
    """A trial's records, read and checked.

    `forms` maps a raw dataset name (as the spec's sources table names it) to a table whose columns are
    the source's columns, every value a string ("" where the cell was empty), followed by the provenance
    columns `_file` and `_line`.
    """

    source: Path
    registry: dict[str, Any]
    forms: dict[str, pd.DataFrame]  # raw dataset name -> table (str cells + _file, _line)
    mapping: "StudyMapping | None" = None

    @property
    def subjects(self) -> list[str]:
        """The distinct subjects named by the raw datasets (each source's declared subject column)."""
        names: dict[str, None] = {}
        sources = {s.name: s.subject for s in self.mapping.sources} if self.mapping else {}
        for name, table in self.forms.items():
            column = sources.get(name) or ""
            if column in table.columns:
                names.update(dict.fromkeys(v for v in table[column] if v != ""))
        return list(names)

    def row_counts(self) -> dict[str, int]:
        return {name: len(table) for name, table in self.forms.items()}

    def meddra_versions(self) -> tuple[str, ...]:
        """The MedDRA versions the AE coding used, lowest first, as the spec's study table states them:
        `VERSION.MEDDRA` is a version (`26.0`), or `<raw dataset>.<column>` naming where each coded record
        carries its version (the versions found there); () when the spec says nothing."""
        stated = (self.mapping.study.extra.get("VERSION.MEDDRA", "") if self.mapping else "").strip()
        dataset, _, column = stated.partition(".")
        table = self.forms.get(dataset)
        if not column or table is None:
            return (stated,) if stated else ()
        if column not in table.columns:
            return ()
        present = {v for v in table[column].astype(str) if v.strip()}
        return tuple(sorted(present, key=_version_key))


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())
