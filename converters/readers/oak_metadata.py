"""The SDTM metadata tables of a translated sdtm.oak spec (`oak_spec`): datasets, variables, supp, methods,
study and study CT, from the targets the sdtm.oak rows declare and the steps that fill them, with the
trialbridge tables beside the spec replacing translated rows of the same name."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from trialbridge.converters.readers import spec_files
from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_standards import terminology

Tables = dict[str, tuple[pd.DataFrame, str]]
Declared = dict[tuple[str, str], dict[str, str]]  # (domain or SUPP--, variable) -> origin, text, raw, file, ...
CT_FILE = "sdtm_ct.csv"
DOMAIN_LEVEL = {"record_set", "stack", "remove_dup", "supp", "not_submitted", "split_text", "report", "match_tests",
                "registry_ts", "registry_ti"}
SUPPQUAL = (("STUDYID", "Protocol", ""), ("RDOMAIN", "Assigned", ""), ("USUBJID", "Derived", "MT.SUPPQUAL.USUBJID"),
            ("IDVAR", "Assigned", ""), ("IDVARVAL", "Assigned", ""), ("QNAM", "Assigned", ""),
            ("QLABEL", "Assigned", ""), ("QVAL", "Collected", ""), ("QORIG", "Assigned", ""), ("QEVAL", "Assigned", ""))


def read_csv(path: Path) -> pd.DataFrame:
    """A CSV as written: text cells, stripped, UTF-8 with or without BOM."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda column: column.str.strip())


def table_rows(tables: Tables, key: str) -> pd.DataFrame:
    return tables[key][0].copy() if key in tables else pd.DataFrame(columns=list(spec_files.TABLES[key]))


def override(translated: pd.DataFrame, given: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The translated rows, with the supplement's rows replacing those with the same keys (and added)."""
    if given.empty:
        return translated.fillna("")
    if "variable" in keys or "qnam" in keys or keys == ["dataset"] and "parent" in given.columns:
        given = given.assign(dataset=given["dataset"].str.upper())  # SDTM dataset names, any case
    merged = pd.concat([given, translated], ignore_index=True).fillna("")
    return merged.drop_duplicates(keys, keep="first").reset_index(drop=True)


def filled_targets(mappings: pd.DataFrame) -> set[tuple[str, str]]:
    """(domain, variable) of every target a mapping step fills (work columns `_X` left out)."""
    steps = mappings[~mappings["algorithm"].str.lower().isin(DOMAIN_LEVEL)]
    return {(d, v.strip()) for d, text in zip(steps["domain"], steps["variable"]) for v in text.split(";")
            if v.strip() and not v.strip().startswith("_")}


def metadata_tables(declared: Declared, qualifiers: Declared, mappings: pd.DataFrame, supplement: Tables,
                    files: dict[str, str]) -> Tables:
    """datasets, variables, supp and methods: the declared targets some step fills (and those only the
    supplement's steps fill), with the supplement's rows replacing translated ones of the same name."""
    filled = filled_targets(mappings)
    ct = terminology()
    variables, methods, supp = [], [], []
    for (domain, variable), entry in declared.items():
        if (domain, variable) not in filled or (f"SUPP{domain}", variable) in qualifiers:
            continue
        origin = entry["origin"] or ("Protocol" if variable == "STUDYID" else "Derived")
        method = f"MT.{domain}.{variable}" if origin == "Derived" else ""
        if method:
            methods.append({"id": method, "description": entry["text"] or f"{domain}.{variable} derived."})
        source = f"{files.get(entry['file'], entry['file'])} {entry['raw']}" if origin == "Collected" and entry["raw"] else ""
        variables.append({"dataset": domain, "variable": variable, "origin": origin, "source": source, "method": method,
                          "comment": "" if method else entry["text"][:200] if origin != "Collected" else "",
                          "codelist": entry["codelist"] if ct.has_codelist(entry["codelist"]) else ""})
    for (domain, variable) in sorted(filled - set(declared)):  # filled by the supplement only
        step = mappings[(mappings["domain"] == domain) & (mappings["variable"] == variable)].iloc[0]
        origin = "Assigned" if step["algorithm"].startswith("hardcode") else "Derived"
        method = f"MT.{domain}.{variable}" if origin == "Derived" else ""
        if method:
            methods.append({"id": method, "description": step["comment"] or f"{step['algorithm']} {step['source_variable']}"})
        variables.append({"dataset": domain, "variable": variable, "origin": origin, "source": "", "method": method,
                          "comment": "", "codelist": step["codelist"] if ct.has_codelist(step["codelist"]) else ""})
    domains = list(dict.fromkeys(domain for domain, variable in declared if (domain, variable) in filled))
    for (name, qnam), entry in qualifiers.items():
        origin = entry["origin"] or "Collected"
        supp.append({"dataset": name, "qnam": qnam, "qlabel": (entry["label"] or qnam)[:40], "type": "text",
                     "origin": origin, "source": f"{files.get(entry['file'], entry['file'])} {entry['raw']}" if origin == "Collected" else "",
                     "method": "", "comment": entry["text"][:200], "codelist": entry["codelist"] if ct.has_codelist(entry["codelist"]) else "",
                     "unit": ""})
    parents = sorted({name[4:] for name, _ in qualifiers})
    datasets = [{"dataset": d, "parent": "", "keys": ";".join(_keys(d, {v for dd, v in filled if dd == d}, declared)),
                 "label": ""} for d in domains]
    if parents:
        datasets.insert(0, {"dataset": "SUPPQUAL", "parent": "", "keys": "STUDYID;RDOMAIN;USUBJID;IDVAR;IDVARVAL;QNAM",
                            "label": ""})
        datasets += [{"dataset": f"SUPP{p}", "parent": p, "keys": "", "label": ""} for p in parents]
        variables = [{"dataset": "SUPPQUAL", "variable": v, "origin": o, "source": "", "method": m, "comment": "",
                      "codelist": ""} for v, o, m in SUPPQUAL] + variables
        methods.append({"id": "MT.SUPPQUAL.USUBJID", "description": "The USUBJID of the parent record."})
    out: Tables = {}
    for key, rows, keys in (("datasets", datasets, ["dataset"]), ("variables", variables, ["dataset", "variable"]),
                            ("supp", supp, ["dataset", "qnam"]), ("methods", methods, ["id"])):
        frame = pd.DataFrame(rows, columns=list(rows[0]) if rows else list(spec_files.TABLES[key]))
        out[key] = (override(frame, table_rows(supplement, key), keys), key)
    return out


def _keys(domain: str, filled: set[str], declared: dict[tuple[str, str], dict[str, str]]) -> list[str]:
    topic = [v for (d, v), e in declared.items() if d == domain and e["role"].lower() == "topic variable"]
    wanted = ["STUDYID", "USUBJID", *topic[:1], f"{domain}STDTC", f"{domain}DTC", f"{domain}SEQ"]
    return [k for k in dict.fromkeys(wanted) if k in filled]


def study_table(specs: list[tuple[pd.DataFrame, str]], supplement: Tables) -> pd.DataFrame:
    given = table_rows(supplement, "study")
    numbers = [n for frame, _ in specs for n in frame.get("study_number", pd.Series(dtype=object)) if n]
    translated = pd.DataFrame({"key": ["STUDYID"], "value": [numbers[0] if numbers else ""]})
    return override(translated, given, ["key"])


def ct_table(folder: Path, supplement: Tables, findings: list[Finding]) -> pd.DataFrame:
    """The supplement's ct rows (matched first), then sdtm_ct.csv as it is."""
    frames = [table_rows(supplement, "ct")]
    path = folder / CT_FILE
    if path.is_file():
        try:
            frames.append(read_csv(path))
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            findings.append(finding("SPEC-UNREADABLE", path.name, [path.name], file=path.name, error=str(error)))
    ct = pd.concat(frames, ignore_index=True).fillna("")
    for column in ("codelist_code", "term_code", "term_value", "collected_value", "term_preferred_term", "term_synonyms"):
        if column not in ct.columns:
            ct[column] = ""
    return ct
