"""The rows the ODM reader collects, in, raw dataset tables out: the reader's state and the table builder.

`State` holds one row per ItemGroupData occurrence (REDCap: per form occurrence) keyed as the module
docstring of converters/readers/odm.py says, and the per-form ItemData accounting (`FormCount`).
`build_tables` turns the rows into one table per raw dataset: key columns, vendor columns, item columns
in ItemDef order with `_DECODE` / `_UNIT` companions, `_file`, `_line`; the ItemData handed on are
recounted from the tables into each form's `FormCount.handed`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from trialbridge.converters.readers.odm_meta import (
    DECODE_SUFFIX, GENERIC_KEYS, MULTI_SELECT, REDCAP_KEYS, UNIT_SUFFIX, column_names, dataset_names, declared_items,
    is_redcap,
)
from trialbridge.converters.readers.raw import SOURCE_FILE, SOURCE_LINE
from trialbridge.mappings.edc_metadata import EdcMetadata
from trialbridge.schemas.findings import Finding, finding


@dataclass
class FormCount:
    """What became of the ItemData of one form: read = handed + empty + superseded + removed + instructions."""

    read: int = 0
    empty: int = 0
    superseded: int = 0
    removed: int = 0
    instructions: int = 0
    keyed: int = 0  # REDCap's record-level redcap_data_access_group, moved into that key column of every row
    handed: int = 0  # recounted from the tables

    def balanced(self) -> bool:
        return self.read == self.handed + self.keyed + self.empty + self.superseded + self.removed + self.instructions


@dataclass
class Row:
    dataset: str  # source OID (ItemGroupDef, REDCap FormDef)
    form: str
    context: dict[str, str]
    line: int
    items: dict[str, str] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)


@dataclass
class State:
    file: str
    metadata: EdcMetadata
    snapshot: bool
    rows: dict[tuple, Row] = field(default_factory=dict)
    occurrences: dict[tuple, int] = field(default_factory=dict)
    counts: dict[str, FormCount] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    audits: int = 0
    notes: int = 0  # OpenClinica discrepancy notes (data queries): not data
    odm2: tuple[str, int] = ()  # type: ignore[assignment]  # an ODM 2.0 layout met (what, line): refused
    reached: int = 0
    noted: dict[tuple[str, str, str, str], list[int]] = field(default_factory=dict)  # one finding per kind of fault

    def note(self, rule: str, element: str, attribute: str, oid: str, line: int) -> None:
        self.noted.setdefault((rule, element, attribute, oid), []).append(line)

    def noted_findings(self) -> list[Finding]:
        return [finding(rule, f"{self.file}:{lines[0]}", [oid] + [f"line {n}" for n in lines[:10]], element=element,
                        attribute=attribute, oid=oid, count=len(lines), first=lines[0])
                for (rule, element, attribute, oid), lines in self.noted.items()]

    def count(self, form: str) -> FormCount:
        return self.counts.setdefault(form, FormCount())


# ------------------------------------------------------------------------------------------ tables
def decode(table: pd.DataFrame, column: str, oid: str, state: State, name: str) -> pd.Series | None:
    """The decoded text of a coded column (REDCap checkbox option: its label when ticked), or None."""
    meta = state.metadata
    item = meta.items.get(oid)
    if item is None:
        return None
    values = table[column]
    if item.field_type == "checkbox" and item.choices and "___" in oid:
        code = oid.rsplit("___", 1)[1]
        labels = {c.lower().replace("-", "_").replace(".", "_"): label for c, label in item.choices}
        label = dict(item.choices).get(code, labels.get(code.lower(), ""))
        return values.where(values == "1", "").replace("1", label) if label else None
    if not item.codelist or item.codelist not in meta.codelists:
        return None
    codes = meta.codelists[item.codelist].decodes()
    if item.field_type == MULTI_SELECT:  # OpenClinica: "1,2" are two ticked options, decoded one by one
        return _decode_many(values, codes, state, name, column, item.codelist)
    decoded = values.map(codes).fillna("")
    unknown = (values != "") & ~values.isin(list(codes))
    if unknown.any():
        state.findings.append(finding(
            "ODM-CODE-UNKNOWN", f"{state.file}:{name}:{column}", sorted(values[unknown].unique())[:20],
            count=int(unknown.sum()), column=column, dataset=name, codelist=item.codelist))
    return decoded


def _decode_many(values: pd.Series, codes: dict[str, str], state: State, name: str, column: str,
                 codelist: str) -> pd.Series:
    """Comma-separated codes -> their decodes joined by '; ' (an unknown code is reported, never guessed)."""
    parts = values[values != ""].str.split(",").explode().str.strip()
    parts = parts[parts != ""]
    unknown = parts[~parts.isin(list(codes))]
    if len(unknown):
        state.findings.append(finding(
            "ODM-CODE-UNKNOWN", f"{state.file}:{name}:{column}", sorted(unknown.unique())[:20],
            count=len(unknown), column=column, dataset=name, codelist=codelist))
    decoded = parts.map(codes).dropna()
    joined = decoded.groupby(level=0).agg("; ".join)
    return joined.reindex(values.index).fillna("").astype(object)


def build_tables(state: State) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    meta = state.metadata
    names = dataset_names(meta)
    keys = list(REDCAP_KEYS if is_redcap(meta) else GENERIC_KEYS)
    grouped: dict[str, list[Row]] = {}
    for row in state.rows.values():
        grouped.setdefault(row.dataset, []).append(row)
    order = {oid: n for n, oid in enumerate(names)}
    tables: dict[str, pd.DataFrame] = {}
    values: dict[str, int] = {}
    for source in sorted(grouped, key=lambda oid: (order.get(oid, len(order)), oid)):
        rows, name = grouped[source], names.get(source, source)
        vendor = list(dict.fromkeys(k for r in rows for k in r.context if k not in keys))
        declared = list(declared_items(source, meta))
        oids = declared + [o for o in dict.fromkeys(o for r in rows for o in r.items) if o not in declared]
        columns = column_names(oids, meta, tuple(keys + vendor))
        with_units = {oid for r in rows for oid in r.units}
        records = [[r.context.get(k, "") for k in keys + vendor] + [r.items.get(o, "") for o in oids]
                   + [r.units.get(o, "") for o in oids if o in with_units] for r in rows]
        header = keys + vendor + [columns[o] for o in oids] + [columns[o] + UNIT_SUFFIX for o in oids if o in with_units]
        table = pd.DataFrame(records, columns=header, dtype=object)
        count = int((table != "").to_numpy().sum())
        ordered = keys + vendor
        for oid in oids:
            ordered.append(columns[oid])
            decoded = decode(table, columns[oid], oid, state, name)
            if decoded is not None:
                table[columns[oid] + DECODE_SUFFIX] = decoded
                ordered.append(columns[oid] + DECODE_SUFFIX)
                count += int((decoded != "").sum())
            if oid in with_units:
                ordered.append(columns[oid] + UNIT_SUFFIX)
        table = table[ordered]
        table[SOURCE_FILE] = state.file
        table[SOURCE_LINE] = [r.line for r in rows]
        item_cells = table[[columns[o] for o in oids]].ne("").sum(axis=1)
        for form, handed in item_cells.groupby(table["FormOID"]).sum().items():
            state.count(str(form)).handed += int(handed)
        tables[name], values[name] = table.reset_index(drop=True), count
    return tables, values


REMOVED = frozenset({"removed", "auto-removed", "invalid", "deleted"})  # statuses EDCs give withdrawn data


def removed_rows(tables: dict[str, pd.DataFrame], file: str) -> list[Finding]:
    """A warning per raw dataset with rows a vendor status column (`OpenClinica:Status`, `Form.OpenClinica:Status`,
    ...) marks removed: they are handed on as exported, with their status, for the spec to keep or leave out."""
    found = []
    for name, table in tables.items():
        for column in (c for c in table.columns if str(c).endswith(":Status")):
            marked = table[column].str.strip().str.lower().isin(REMOVED)
            if marked.any():
                found.append(finding("ODM-STATUS-REMOVED", f"{file}:{name}:{column}",
                                     sorted(table.loc[marked, column].unique()), count=int(marked.sum()),
                                     dataset=name, column=column))
    return found
