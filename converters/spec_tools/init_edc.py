"""An EDC export (CDISC ODM 1.3 XML, or a REDCap CSV export / data dictionary) -> the rows of a starting
study mapping specification, pre-filled from what the export declares about itself (`spec init`).

The metadata (converters/readers/edc.py `source_metadata`: the ODM MetaDataVersion, or the REDCap data
dictionary) names the raw datasets exactly as the readers hand them on (one per ODM ItemGroup, one per
REDCap instrument), so every `sources` row (`format` odm / redcap, `sheet` = the raw dataset) and every
`source_variable` written here is one `convert` finds. Per raw dataset:
- the target domain: the ItemGroupDef's `Domain` (or SDTM Alias), else the domain most of its items'
  SDTM annotations belong to (`Alias Context="SDTM"` / `"CDASH/SDTM"`, `SDSVarName`: `SEX` -> DM,
  `SUPPDM.QNAM` -> DM, `VSORRES+VSORRESU` -> VS), else the dataset name's leading domain code;
- per item: an annotation (else the item name, else its CDASH Alias) naming one SDTMIG variable of that
  domain becomes a mapping (`assign_ct` with the variable's CDISC codelist, `assign_datetime` for ODM
  date/time types or --DTC targets, `assign_numeric`, `assign_no_ct`); every other item is a
  `not_submitted` row whose comment gives its question, type, annotation and (when the export holds
  data) how many values it has, for the data manager to decide;
- the ODM CodeLists (REDCap choices) of coded items become candidate `ct` rows: coded value -> the CDISC
  term matched by NCI code alias, coded value or decode (ignoring case), else the decode, marked for review;
- an export holding data: only the raw datasets with data (those the reader hands on); a raw dataset its
  metadata does not declare (ODM without a MetaDataVersion: Medidata Rave extracts) gets its item columns
  from the data; the subject column is the EDC's own subject label when every row has one
  (`OpenClinica:StudySubjectID`, Rave's `mdsol:SubjectName`, read as `SUBJECT` through `rename`), else
  ODM's SubjectKey; an item named `<FORM>.<FIELD>` (Rave) also matches an SDTMIG variable by its field;
- date layouts: ODM dates are ISO 8601 (`iso`); text items with data are screened like raw CSV columns;
- the study events become candidate `visits` rows (VISITNUM in protocol order) and a `VISIT` study map.
Nothing is written here (converters/spec_tools/init.py writes the tables).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trialbridge.converters.readers.edc import read_source as read_edc, source_metadata
from trialbridge.converters.readers.odm_meta import DECODE_SUFFIX, REDCAP_KEYS, UNIT_SUFFIX
from trialbridge.mappings.edc_metadata import EdcMetadata, ItemMeta, RawColumn, RawDatasetMeta
from trialbridge.schemas.findings import Finding
from trialbridge.schemas.sdtm_standards import terminology

DATE_TYPES = ("date", "datetime", "partialDate", "partialDatetime", "time", "partialTime", "incompleteDatetime")
NUMBER_TYPES = ("integer", "float", "double", "decimal")
SUBJECT = "SubjectKey"
# The subject label an EDC shows to people, beside ODM's SubjectKey (an internal OID or UUID in these exports)
SUBJECT_LABELS = ("OpenClinica:StudySubjectID", "mdsol:SubjectName")
LABEL_COLUMN = "SUBJECT"
VISIT_COLUMN = "StudyEventName"
VISIT_MAP = "VISIT"
IDENTIFIERS = ("STUDYID", "DOMAIN", "USUBJID")


@dataclass
class EdcParts:
    """The spec rows pre-filled from one EDC export."""

    sources: list[dict[str, str]] = field(default_factory=list)
    mappings: list[dict[str, str]] = field(default_factory=list)
    ct: list[dict[str, str]] = field(default_factory=list)
    variables: list[dict[str, str]] = field(default_factory=list)
    datasets: list[str] = field(default_factory=list)
    visits: list[dict[str, str]] = field(default_factory=list)
    matched: int = 0
    annotated: int = 0
    dated: int = 0
    studyid: str = ""
    system: str = ""


def is_edc_file(path: Path) -> bool:
    """An ODM XML file, or a REDCap CSV export / data dictionary (a data dictionary header, or one beside it)."""
    from trialbridge.converters.readers.edc import _is_dictionary
    from trialbridge.converters.readers.redcap import find_dictionary

    suffix = path.suffix.lower()
    if suffix == ".xml":
        return True
    return suffix == ".csv" and (_is_dictionary(path) or find_dictionary(path) is not None)


def skipped_dictionaries(paths: list[Path]) -> set[Path]:
    """REDCap data dictionaries that an export among `paths` reads beside it (the export stands for both)."""
    from trialbridge.converters.readers.edc import _is_dictionary
    from trialbridge.converters.readers.redcap import find_dictionary

    exports = [p for p in paths if p.suffix.lower() == ".csv" and not _is_dictionary(p)]
    return {d for d in (find_dictionary(p) for p in exports) if d is not None}


def _domain_votes(names: list[str], variables: dict[str, set[str]]) -> dict[str, int]:
    """SDTM annotation names -> votes per domain (a name found in many domains, like STUDYID, votes for none)."""
    votes: dict[str, int] = {}
    for name in names:
        for part in name.replace("+", " ").replace(",", " ").split():
            head, _, tail = part.partition(".")
            if head.startswith("SUPP") and head[4:] in variables:
                votes[head[4:]] = votes.get(head[4:], 0) + 1
                continue
            owners = [d for d, names_of in variables.items() if head in names_of]
            if 1 <= len(owners) <= 2:
                for owner in owners:
                    votes[owner] = votes.get(owner, 0) + 1
    return votes


def guess_domain(dataset: RawDatasetMeta, metadata: EdcMetadata, variables: dict[str, set[str]], by_name: str) -> str:
    """The target domain of a raw dataset: its declared domain, else its items' SDTM annotations, else its name."""
    if dataset.domain.upper() in variables:
        return dataset.domain.upper()
    names = [n for column in dataset.columns for n in _item(metadata, column.item).sdtm]
    votes = _domain_votes(names, variables)
    if votes:
        return sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
    return by_name


def _item(metadata: EdcMetadata, oid: str) -> ItemMeta:
    return metadata.items.get(oid) or ItemMeta(oid=oid, name=oid)


def _target(item: ItemMeta, column: str, domain_variables: set[str]) -> tuple[str, str]:
    """(SDTMIG variable the item fills, how it was found): SDTM annotation, else the item name, else CDASH alias."""
    for name in item.sdtm:
        if name in domain_variables:
            return name, f"SDTM annotation {name}"
    if column.upper() in domain_variables:
        return column.upper(), "item name"
    field = column.rpartition(".")[2].upper()  # Medidata Rave names items <FORM>.<FIELD>: DM.SEX
    if field != column.upper() and field in domain_variables:
        return field, "item name after its form prefix"
    for context, name in item.aliases:
        if context.upper() == "CDASH" and name in domain_variables:
            return name, f"CDASH alias {name}"
    return "", ""


def _codelist_of(ig: pd.DataFrame, domain: str, variable: str) -> str:
    row = ig[(ig["Dataset Name"] == domain) & (ig["Variable Name"] == variable)]
    codes = row["CDISC CT Codelist Code(s)"].iloc[0].split(";") if len(row) else []
    return codes[0].strip() if codes and codes[0].strip() else ""


def _type_of(ig: pd.DataFrame, domain: str, variable: str) -> str:
    row = ig[(ig["Dataset Name"] == domain) & (ig["Variable Name"] == variable)]
    return row["Type"].iloc[0] if len(row) else "Char"


def _ct_rows(item: ItemMeta, metadata: EdcMetadata, codelist: str, where: str) -> list[dict[str, str]]:
    """Candidate study CT rows of a coded item: its coded values -> the CDISC term (or the decode, for review)."""
    source = metadata.codelists.get(item.codelist)
    if source is None:
        return []
    ct = terminology()
    known = codelist and ct.has_codelist(codelist)
    values = sorted(ct.submission_values(codelist)) if known else []
    by_code = {ct.term_code(codelist, v): v for v in values}
    by_text = {v.casefold(): v for v in values}
    rows = []
    for term in source.terms:
        code = next((name for context, name in term.aliases if "nci" in context.lower() or "c-code" in context.lower()), "")
        match = by_code.get(code) or by_text.get(term.coded.casefold()) or by_text.get(term.decoded.casefold())
        rows.append({"codelist_code": codelist if known else item.codelist, "term_code": ct.term_code(codelist, match) if match else "",
                     "term_value": match or term.decoded or term.coded, "collected_value": term.coded,
                     "term_preferred_term": "", "term_synonyms": "",
                     "comment": ("matches the CDISC term" if match else "candidate: check the submission value") +
                     f" ({where}, ODM CodeList {source.oid} '{source.name}', decode '{term.decoded}')"})
    return rows


def _describe(item: ItemMeta, table: pd.DataFrame | None, column: str) -> str:
    parts = [f"'{item.question or item.label or item.name}'", item.data_type or "text"]
    if item.codelist:
        parts.append(f"coded ({item.codelist})" if item.field_type != "multi-select" else
                     f"multi-select ({item.codelist}: comma-separated codes, decoded in {column}_DECODE)")
    if item.sdtm:
        parts.append("SDTM annotation " + ", ".join(item.sdtm))
    if table is not None and column in table.columns:
        values = table[column]
        filled = values[values != ""]
        shown = ", ".join(repr(v) for v in pd.unique(filled)[:4])
        parts.append(f"{len(filled)} of {len(values)} values" + (f": {shown}" if shown else ""))
    elif table is None:
        parts.append("no data in the export")
    return "; ".join(parts)


def _advice(item: ItemMeta, domain: str) -> str:
    """What to do with an annotated item that is not one variable of the domain."""
    for name in item.sdtm:
        if name.startswith("SUPP"):
            return f" -> a {name.split('.')[0]} qualifier: declare its QNAM in supp.csv and map it (variable=<QNAM>)"
        if "+" in name or "ORRES" in name:
            return f" -> a findings result: one record_set per test ({domain}TESTCD, {domain}ORRES, {domain}ORRESU), then stack"
        if name:
            return f" -> {name}: several items, or not a variable of {domain or 'the domain'}: combine or map by hand"
    return ""


def subject_label(table: pd.DataFrame | None) -> str:
    """The vendor's subject label column of a raw table when every row has one (else "": use SubjectKey)."""
    if table is None or table.empty:
        return ""
    return next((c for c in SUBJECT_LABELS if c in table.columns and (table[c] != "").all()), "")


def _dataset_rows(name: str, ds: RawDatasetMeta, metadata: EdcMetadata, table: pd.DataFrame | None, domain: str,
                  ig: pd.DataFrame, file: str, parts: EdcParts) -> None:
    from trialbridge.converters.spec_tools.init import MAPPINGS, _layout

    label = subject_label(table)
    subject = LABEL_COLUMN if label else SUBJECT
    blank = dict.fromkeys(MAPPINGS, "")
    domain_vars = set(ig.loc[ig["Dataset Name"] == domain, "Variable Name"]) if domain else set()
    rows = [{**blank, "domain": domain, "algorithm": "record_set", "source": name,
             "comment": f"one record per {ds.label or ds.source} ({'repeating' if ds.repeating else 'once per form'})"
             + ("" if domain else ": set the target domain")}]
    declared: list[dict[str, str]] = []
    if domain:
        rows += [{**blank, "domain": domain, "variable": "STUDYID", "algorithm": "hardcode_no_ct", "value": "{STUDYID}"},
                 {**blank, "domain": domain, "variable": "DOMAIN", "algorithm": "hardcode_no_ct", "value": domain},
                 {**blank, "domain": domain, "variable": "USUBJID", "algorithm": "derive_usubjid", "source_variable": subject,
                  "comment": "STUDYID-<ODM SubjectKey>: use the EDC's subject label column if it differs"
                  if subject == SUBJECT else f"STUDYID-<the EDC's subject label, {label}>"}]
        declared += [{"dataset": domain, "variable": "STUDYID", "origin": "Protocol"},
                     {"dataset": domain, "variable": "DOMAIN", "origin": "Assigned"},
                     {"dataset": domain, "variable": "USUBJID", "origin": "Derived", "method": "MT.USUBJID"}]
        if f"{domain}SEQ" in domain_vars:
            rows.append({**blank, "domain": domain, "variable": f"{domain}SEQ", "algorithm": "derive_seq",
                         "arguments": "order=_line", "comment": "1, 2, ... per subject in the export's order"})
            declared.append({"dataset": domain, "variable": f"{domain}SEQ", "origin": "Derived", "method": "MT.SEQ"})
        if "VISITNUM" in domain_vars and metadata.events:
            rows += [{**blank, "domain": domain, "variable": "VISITNUM", "algorithm": "assign_visitnum",
                      "source_variable": VISIT_COLUMN, "comment": "the study event, numbered in visits.csv"},
                     {**blank, "domain": domain, "variable": "VISIT", "algorithm": "assign_no_ct",
                      "source_variable": VISIT_COLUMN, "arguments": f"map={VISIT_MAP}"}]
            declared += [{"dataset": domain, "variable": "VISITNUM", "origin": "Assigned"},
                         {"dataset": domain, "variable": "VISIT", "origin": "Assigned"}]
    targets = {c.name: _target(_item(metadata, c.item), c.name, domain_vars - set(IDENTIFIERS)) for c in ds.columns}
    claimed = pd.Series([t for t, _ in targets.values() if t]).value_counts()
    for column in ds.columns:
        item = _item(metadata, column.item)
        parts.annotated += bool(item.sdtm)
        target, how = targets[column.name]
        comment = _describe(item, table, column.name)
        values = table[column.name] if table is not None and column.name in table.columns else pd.Series([], dtype=object)
        layout = "iso" if item.data_type in DATE_TYPES else _layout(values.astype(str).str.strip())[0] \
            if (values != "").any() and item.data_type in ("", "text", "string") else ""
        parts.dated += bool(layout)
        row = {**blank, "domain": domain, "source_variable": column.name}
        if target and claimed.get(target, 0) == 1 and target not in declared_names(declared):
            parts.matched += 1
            codelist = _codelist_of(ig, domain, target)
            algorithm = ("assign_datetime" if layout or target.endswith("DTC") else "assign_ct" if codelist else
                         "assign_numeric" if _type_of(ig, domain, target) == "Num" or item.data_type in NUMBER_TYPES
                         and target.endswith("N") else "assign_no_ct")
            row.update(variable=target, algorithm=algorithm, codelist=codelist if algorithm == "assign_ct" else "",
                       arguments=f"format={layout or 'iso'}" if algorithm == "assign_datetime" else "",
                       comment=f"{how}; {comment}")
            declared.append({"dataset": domain, "variable": target, "origin": "Collected",
                             "source": f"{file} {name}.{column.name}"})
            parts.ct += _ct_rows(item, metadata, codelist if algorithm == "assign_ct" else "", f"{name}.{column.name}")
        else:
            row.update(algorithm="not_submitted", source=name, comment=comment + _advice(item, domain),
                       arguments=f"format={layout}" if layout else "")
            parts.ct += _ct_rows(item, metadata, "", f"{name}.{column.name}")
        rows.append(row)
    parts.mappings += rows
    parts.variables += [{**dict.fromkeys(("dataset", "variable", "origin", "source", "method", "comment", "codelist"), ""),
                         **d} for d in declared]
    if domain and declared and domain not in parts.datasets:
        parts.datasets.append(domain)


def declared_names(declared: list[dict[str, str]]) -> set[str]:
    return {d["variable"] for d in declared}


def _visits(metadata: EdcMetadata) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Candidate visits rows (protocol order) and the VISIT study map (event name -> VISIT)."""
    visits, ct = [], []
    for number, event in enumerate(metadata.events.values(), start=1):
        name = event.name or event.oid
        visits.append({"visit": name, "VISITNUM": str(number), "VISIT": name.upper()[:200], "VISITDY": ""})
        ct.append({"codelist_code": VISIT_MAP, "term_code": "", "term_value": name.upper()[:200], "collected_value": name,
                   "term_preferred_term": "", "term_synonyms": "",
                   "comment": f"study event {event.oid} ({'repeating' if event.repeating else 'once'}): check the visit name"})
    return visits, ct


def from_table(name: str, table: pd.DataFrame) -> RawDatasetMeta:
    """A raw dataset the export's metadata does not declare (ODM ClinicalData without a MetaDataVersion, as
    Medidata Rave's clinical-data extracts come): its item columns as the reader handed them on, named by
    ItemOID, after the key and vendor (`prefix:name`) columns and without the reader's companion columns."""
    columns = [str(c) for c in table.columns]
    keys = set(REDCAP_KEYS)
    items = [c for c in columns if c not in keys and ":" not in c and not c.startswith("_")
             and not (c.endswith(DECODE_SUFFIX) and c[:-len(DECODE_SUFFIX)] in columns)
             and not (c.endswith(UNIT_SUFFIX) and c[:-len(UNIT_SUFFIX)] in columns)]
    context = tuple(c for c in columns if c not in items and not c.startswith("_"))
    return RawDatasetMeta(name, name, name, False, "", context, tuple(RawColumn(c, c) for c in items))


def edc_parts(path: Path, relative: str, ig: pd.DataFrame, by_name) -> tuple[EdcParts, list[Finding]]:
    """The spec rows of one EDC export (`relative`: its path as the sources table names it)."""
    metadata, findings = source_metadata(path)
    parts = EdcParts()
    if metadata is None:
        return parts, findings
    tables: dict[str, pd.DataFrame] = {}
    if path.suffix.lower() == ".csv" or metadata.system == "REDCap" or _has_data(path):
        from trialbridge.converters.readers.edc import _is_dictionary

        if not (path.suffix.lower() == ".csv" and _is_dictionary(path)):
            read = read_edc(path)
            findings += [f for f in read.findings if f.severity == "error" or f.rule == "ODM-NO-METADATA"]
            tables = read.datasets
    fmt = "redcap" if path.suffix.lower() == ".csv" else "odm"
    if fmt == "redcap" and not tables:
        relative = ""  # a data dictionary alone: the export's file name is for the data manager to give
    variables = {d: set(g["Variable Name"]) for d, g in ig.groupby("Dataset Name")}
    declared = {**metadata.datasets, **{n: from_table(n, t) for n, t in tables.items() if n not in metadata.datasets}}
    for name, ds in declared.items():
        if tables and name not in tables:
            continue  # an item group with no data in this export: the reader hands on no such dataset
        domain = guess_domain(ds, metadata, variables, by_name(name))
        spec_name = _spec_name(name)
        label = subject_label(tables.get(name) if tables else None)
        parts.sources.append({"dataset": spec_name, "file": relative, "format": fmt, "delimiter": ",", "decimal": ".",
                              "encoding": "utf-8", "sheet": name, "subject": LABEL_COLUMN if label else SUBJECT,
                              "schema": "", "rename": f"{label}={LABEL_COLUMN}" if label else ""})
        _dataset_rows(spec_name, ds, metadata, tables.get(name) if tables else None, domain, ig, relative, parts)
    visits, visit_ct = _visits(metadata)
    if any(r["variable"] == "VISITNUM" for r in parts.mappings):
        parts.visits, parts.ct = visits, parts.ct + visit_ct
    parts.ct = list({(r["codelist_code"], r["collected_value"]): r for r in parts.ct}.values())
    parts.studyid = metadata.protocol_name or metadata.study_name or metadata.study_oid
    parts.system = metadata.system or fmt.upper()
    return parts, findings


def _spec_name(name: str) -> str:
    from trialbridge.converters.spec_tools.init import _name

    return _name(name)


def _has_data(path: Path) -> bool:
    from trialbridge.schemas.safe_xml import KIND_ODM_DATA, XmlError, xml_kind

    try:
        return xml_kind(path) == KIND_ODM_DATA
    except XmlError:
        return False
