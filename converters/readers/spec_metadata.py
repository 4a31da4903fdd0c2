"""A spec's mappings -> the SDTM metadata tables it left out (`datasets`, `variables`, `methods`).

A data manager who writes only `study`, `sources` and `mappings` gets the metadata a reviewer needs, inferred
from what each step does, so that the first spec of a study is short and still gives a complete define.xml:

- `datasets`: every domain the mappings build, in their order, with the natural keys SDTMIG's class suggests
  (Findings: STUDYID, USUBJID, --TESTCD, VISITNUM, --TPTNUM, --DTC; Events: STUDYID, USUBJID, --DECOD or
  --TERM, --STDTC; Interventions: STUDYID, USUBJID, --TRT, --STDTC; others STUDYID, USUBJID, --SEQ), kept to
  the variables the domain has; a SUPP-- dataset for each domain with a `supp` step, and the SUPPQUAL row.
- `variables`: every SDTMIG variable some step fills, with its origin by the Define-XML 2.1 rules:
  Collected (`assign_*` from a raw column; its source names the raw file and column), Predecessor (a
  variable copied from a domain built before), Assigned (`hardcode_*`), Protocol (STUDYID, the registry's
  arm), Derived (every `derive_*` and other computed value, with a method that says what it does).
- `methods`: one per derived variable, its description written from the step (algorithm, sources, arguments
  and the step's comment).

Tables the spec does give are kept as written. A step filling a name that is neither an SDTMIG variable of
its domain nor a qualifier of the `supp` table is a finding at that mapping row.
"""
from __future__ import annotations

import pandas as pd

from trialbridge.schemas.findings import Finding, finding
from trialbridge.schemas.sdtm_checks_sdtmig import CODELIST_BY_CATEGORY
from trialbridge.schemas.sdtm_model import class_variable
from trialbridge.schemas.sdtm_standards import sdtmig_datasets, sdtmig_variables
from trialbridge.schemas.trial_design_spec import registry_spec

Tables = dict[str, tuple[pd.DataFrame, str]]
DOMAIN_LEVEL = frozenset({"record_set", "stack", "remove_dup", "supp", "not_submitted", "split_text", "report",
                          "match_tests", "registry_ts", "registry_ti", "relate"})
COLLECTED = frozenset({"assign_ct", "assign_no_ct", "assign_numeric", "assign_datetime"})
ASSIGNED = frozenset({"hardcode_ct", "hardcode_no_ct"})
TS_VARIABLES = (("STUDYID", "Protocol"), ("DOMAIN", "Assigned"), ("TSSEQ", "Derived"), ("TSPARMCD", "Assigned"),
                ("TSPARM", "Assigned"), ("TSVAL", "Protocol"), ("TSVALNF", "Assigned"), ("TSVALCD", "Assigned"),
                ("TSVCDREF", "Assigned"), ("TSVCDVER", "Assigned"))
SUPPQUAL = (("STUDYID", "Protocol"), ("RDOMAIN", "Assigned"), ("USUBJID", "Assigned"), ("IDVAR", "Assigned"),
            ("IDVARVAL", "Assigned"), ("QNAM", "Assigned"), ("QLABEL", "Assigned"), ("QVAL", "Collected"),
            ("QORIG", "Assigned"), ("QEVAL", "Assigned"))
SUPPQUAL_KEYS = "STUDYID;RDOMAIN;USUBJID;IDVAR;IDVARVAL;QNAM"
RELREC_VARIABLES = (("STUDYID", "Protocol", ""), ("RDOMAIN", "Assigned", ""), ("USUBJID", "Assigned", ""),
                    ("IDVAR", "Assigned", ""), ("IDVARVAL", "Derived", "MT.RELREC"), ("RELTYPE", "Assigned", ""),
                    ("RELID", "Derived", "MT.RELREC"))  # the `relate` step builds RELREC whole
KEYS_BY_CLASS = {
    "Findings": ("STUDYID", "USUBJID", "{D}TESTCD", "VISITNUM", "{D}TPTNUM", "{D}DTC"),
    "Findings About": ("STUDYID", "USUBJID", "{D}TESTCD", "{D}OBJ", "VISITNUM", "{D}DTC"),
    "Events": ("STUDYID", "USUBJID", "{D}DECOD", "{D}STDTC"),
    "Interventions": ("STUDYID", "USUBJID", "{D}TRT", "{D}STDTC"),
}
ORIGIN_RANK = {"Collected": 0, "Predecessor": 1, "Derived": 2, "Assigned": 3, "Protocol": 4}
VARIABLE_COLUMNS = ("dataset", "variable", "origin", "source", "method", "comment", "codelist")


def _steps(tables: Tables) -> list[tuple[dict[str, str], str]]:
    """The mapping rows with their place (`mappings.csv:12`), cells stripped."""
    frame, where = tables["mappings"]
    return [({c: str(v).strip() for c, v in row.items()}, f"{where}:{i + 2}")
            for i, row in enumerate(frame.to_dict("records"))]


def _files(tables: Tables) -> dict[str, str]:
    if "sources" not in tables:
        return {}
    frame = tables["sources"][0]
    return dict(zip(frame["dataset"].str.strip(), frame["file"].str.strip()))


def _qualifiers(tables: Tables) -> set[tuple[str, str]]:
    if "supp" not in tables:
        return set()
    frame = tables["supp"][0]
    return {(str(d).strip().upper(), str(q).strip()) for d, q in zip(frame["dataset"], frame["qnam"])}


def model_allows(domain: str, variable: str) -> bool:
    """Whether the SDTM model lets the domain take a variable its SDTMIG table does not list (VISITNUM in DS)."""
    ig = sdtmig_variables()
    own = ig[ig["Dataset Name"] == domain]
    classes = sdtmig_datasets().set_index("Dataset Name")["Class"]
    return not own.empty and class_variable(ig, own, domain, classes.get(domain, ""), variable) is not None


def _origin(row: dict[str, str], domain: str, variable: str, raw_file: str, built: list[str]) -> dict[str, str]:
    """origin, source and method of the variable a step fills first (`built`: the domains so far)."""
    algorithm = row.get("algorithm", "").lower()
    refs = [r.strip() for r in row.get("source_variable", "").split(";") if r.strip()]
    derived = {"origin": "Derived", "method": f"MT.{domain}.{variable}"}
    if variable == "STUDYID":
        return {"origin": "Protocol"}
    if row.get("condition"):  # a value chosen by a rule over the record is a derivation
        return derived
    if algorithm == "registry_arm":
        return {"origin": "Protocol"}
    if algorithm in ASSIGNED and "{" not in row.get("value", "").replace("{STUDYID}", ""):
        return {"origin": "Assigned"}
    if algorithm in COLLECTED and refs and refs[0].startswith("TEST."):
        return {"origin": "Assigned"}  # from the study's test catalogue (the `tests` table)
    if algorithm in COLLECTED | {"copy"} and len(refs) == 1:
        prefix, _, name = refs[0].partition(".")
        if name and prefix.upper() in built:
            return {"origin": "Predecessor", "source": f"{prefix.upper()}.{name}"}
        return {"origin": "Collected", "source": f"{raw_file} {refs[0]}".strip()}
    return derived


def _method_text(row: dict[str, str]) -> str:
    """A method's description from its step: what the algorithm does with which values."""
    parts = [row.get("algorithm", "")]
    if row.get("source_variable"):
        parts.append(f"of {row['source_variable'].replace(';', ', ')}")
    if row.get("value"):
        parts.append(f"value {row['value']}")
    if row.get("arguments"):
        parts.append(f"({row['arguments']})")
    if row.get("condition"):
        parts.append(f"where {row['condition']}")
    text = " ".join(parts)
    return f"{row['comment']}: {text}" if row.get("comment") else text


def _keys(domain: str, names: list[str]) -> str:
    """The natural keys SDTMIG's class suggests, kept to the variables the domain has."""
    classes = sdtmig_datasets().set_index("Dataset Name")["Class"]
    pattern = KEYS_BY_CLASS.get(classes.get(domain, ""), ("STUDYID", "USUBJID", "{D}SEQ"))
    keys = [k.format(D=domain) for k in pattern]
    if domain in ("DM",) or classes.get(domain, "") == "Special-Purpose":
        keys = ["STUDYID", "USUBJID"]
    if f"{domain}DECOD" in keys and f"{domain}DECOD" not in names:
        keys[keys.index(f"{domain}DECOD")] = f"{domain}TERM"
    if domain == "TS":
        keys = ["STUDYID", "TSPARMCD", "TSSEQ"]
    if domain == "TI":
        keys = ["STUDYID", "IETESTCD"]
    if domain == "RELREC":
        keys = ["STUDYID", "RDOMAIN", "USUBJID", "IDVAR", "IDVARVAL", "RELID"]
    return ";".join(k for k in keys if k in names)


def infer_metadata(tables: Tables) -> tuple[Tables, list[Finding]]:
    """`tables` with `datasets`, `variables` and `methods` inferred from the mappings where the spec has none
    (a `datasets` or `variables` table with no rows, as `spec init` writes them, counts as none)."""
    tables = {k: v for k, v in tables.items() if k not in ("datasets", "variables") or not v[0].empty}
    if "mappings" not in tables:
        return tables, []
    given = tables["variables"][0] if "variables" in tables else pd.DataFrame(columns=list(VARIABLE_COLUMNS))
    declared = set(zip(given["dataset"].astype(str).str.upper(), given["variable"].astype(str)))
    ig = sdtmig_variables()
    known = {(d, v) for d, v in zip(ig["Dataset Name"], ig["Variable Name"])}
    files, qualifiers = _files(tables), _qualifiers(tables)
    filled: dict[tuple[str, str], dict[str, str]] = {}
    methods: dict[str, str] = {}
    domains: list[str] = []
    supp_domains: list[str] = []
    findings: list[Finding] = []
    raw_file = ""
    fixed: set[tuple[str, str]] = set()  # variables a domain step fills whole (TS)
    in_set: set[tuple[str, str, int]] = set()  # (domain, variable, record set) already filled
    record_set = 0
    for row, where in _steps(tables):
        domain, algorithm = row.get("domain", "").upper(), row.get("algorithm", "").lower()
        if not domain:
            continue
        domains += [domain] if domain not in domains else []
        if algorithm == "record_set":
            raw_file = files.get(row.get("source", ""), "")
            record_set += 1
        elif algorithm == "supp":
            supp_domains += [domain] if domain not in supp_domains else []
        elif algorithm == "relate":
            for variable, origin, method in RELREC_VARIABLES:
                filled.setdefault((domain, variable), {"origin": origin, **({"method": method} if method else {})})
                fixed.add((domain, variable))
            methods["MT.RELREC"] = "; ".join(t for t in (methods.get("MT.RELREC", ""), _method_text(row)) if t)
        elif algorithm == "registry_ts":
            for variable, origin in TS_VARIABLES:
                filled.setdefault((domain, variable), {"origin": origin})
                fixed.add((domain, variable))
        elif algorithm == "registry_ti":  # the registry command's TI metadata: origins, method, comments
            ti = registry_spec()
            for variable in ti.dataset("TI").variables:
                filled.setdefault((domain, variable.name), {"origin": variable.origin, "method": variable.method,
                                                            "comment": variable.comment})
                fixed.add((domain, variable.name))
                if variable.method:
                    methods.setdefault(variable.method, ti.methods[variable.method])
        if algorithm in DOMAIN_LEVEL:
            continue
        for variable in (v.strip() for v in row.get("variable", "").split(";")):
            if not variable or variable.startswith("_") or (domain, variable) in fixed:
                continue
            if (f"SUPP{domain}", variable) in qualifiers:
                continue
            if (domain, variable) not in known and not model_allows(domain, variable) and (domain, variable) not in declared:
                findings.append(finding("SPEC-UNKNOWN-VARIABLE", f"{where}:variable", [variable], domain=domain,
                                        variable=variable))
                continue
            method = f"MT.{domain}.{variable}"
            if (domain, variable, record_set) in in_set:  # a later "else" row: the value is chosen among several
                filled[(domain, variable)] = {"origin": "Derived", "method": method}
                methods[method] = "; ".join(t for t in (methods.get(method, ""), _method_text(row)) if t)
                continue
            in_set.add((domain, variable, record_set))
            use = _origin(row, domain, variable, raw_file, domains)
            earlier = filled.get((domain, variable))
            if earlier is None or ORIGIN_RANK[use["origin"]] < ORIGIN_RANK[earlier["origin"]]:
                filled[(domain, variable)] = use  # across record sets, the most data-bound origin names it
            methods[method] = "; ".join(t for t in (methods.get(method, ""), _method_text(row)) if t)
    if findings:
        return tables, findings
    out = dict(tables)
    if "variables" in tables and "datasets" in tables:
        return _complement(out, filled, methods, domains, declared)
    if "variables" not in tables:
        blank = dict.fromkeys(VARIABLE_COLUMNS, "")
        rows = [{**blank, "dataset": d, "variable": v, **use} for (d, v), use in filled.items()]
        rows += [{**blank, "dataset": "SUPPQUAL", "variable": v, "origin": o} for v, o in SUPPQUAL] if supp_domains else []
        levels = []
        for row in rows:  # SDTMIG: the codelist of DSDECOD depends on DSCAT; one value-level entry per category
            category, by_value = CODELIST_BY_CATEGORY.get((row["dataset"], row["variable"]), ("", {}))
            if category and "value_level" not in tables:
                row["codelist"] = ""
                levels += [{"dataset": row["dataset"], "variable": row["variable"], "where_variable": category,
                            "where_value": value, "type": "text", "label": "", "unit": "", "origin": row["origin"],
                            "method": row["method"], "codelist": codelist, "source": row["source"], "comment": ""}
                           for value, codelist in by_value.items()]
        if levels:
            out["value_level"] = (pd.DataFrame(levels, dtype=object), "value_level (inferred from the mappings)")
        variables = pd.DataFrame(rows, columns=list(VARIABLE_COLUMNS), dtype=object)
        out["variables"] = (variables, "variables (inferred from the mappings)")
        given = tables.get("methods", (pd.DataFrame(columns=["id", "description"]), ""))[0]
        used = {use["method"] for use in filled.values() if use.get("method")}
        inferred = pd.DataFrame({"id": [m for m in methods if m in used],
                                 "description": [t for m, t in methods.items() if m in used]})
        out["methods"] = (pd.concat([given, inferred], ignore_index=True).drop_duplicates("id").fillna(""),
                          "methods (inferred from the mappings)")
    if "datasets" not in tables:
        names_of = {d: [v for (dd, v) in filled if dd == d] for d in domains}
        variables_frame = out["variables"][0]
        for d in domains:
            names_of[d] = names_of[d] or variables_frame.loc[variables_frame["dataset"].str.upper() == d,
                                                             "variable"].tolist()
        rows = [{"dataset": d, "parent": "", "keys": _keys(d, names_of[d]), "label": ""} for d in domains]
        rows += [{"dataset": f"SUPP{d}", "parent": d, "keys": "", "label": ""} for d in supp_domains]
        rows += [{"dataset": "SUPPQUAL", "parent": "", "keys": SUPPQUAL_KEYS, "label": ""}] if supp_domains else []
        out["datasets"] = (pd.DataFrame(rows, columns=["dataset", "parent", "keys", "label"]),
                           "datasets (inferred from the mappings)")
    return out, []


def _complement(tables: Tables, filled: dict[tuple[str, str], dict[str, str]], methods: dict[str, str],
                domains: list[str], declared: set[tuple[str, str]]) -> tuple[Tables, list[Finding]]:
    """A spec that gives `variables` and `datasets` (as `spec init` writes them, for the variables it could
    map) keeps them as written, plus what its steps fill that they leave out: never a mapped variable
    silently dropped. Each addition is inferred as above and said in one note."""
    added = [(d, v) for (d, v) in filled if (d, v) not in declared and d in domains]
    frame, where = tables["variables"]
    datasets, dataset_where = tables["datasets"]
    listed = set(datasets["dataset"].astype(str).str.upper())
    new_domains = [d for d in domains if d not in listed and any(dd == d for dd, _ in filled)]
    if not added and not new_domains:
        return tables, []
    blank = dict.fromkeys(VARIABLE_COLUMNS, "")
    rows = pd.DataFrame([{**blank, "dataset": d, "variable": v, **filled[(d, v)]} for d, v in added],
                        columns=list(VARIABLE_COLUMNS), dtype=object)
    out = dict(tables)
    out["variables"] = (pd.concat([frame, rows], ignore_index=True).fillna(""), where)
    if new_domains:
        names_of = {d: [v for (dd, v) in filled if dd == d] for d in new_domains}
        extra = pd.DataFrame([{"dataset": d, "parent": "", "keys": _keys(d, names_of[d]), "label": ""}
                              for d in new_domains])
        out["datasets"] = (pd.concat([datasets, extra], ignore_index=True).fillna(""), dataset_where)
    used = {filled[k].get("method", "") for k in added} - {""}
    if used:
        given = tables.get("methods", (pd.DataFrame(columns=["id", "description"]), ""))
        inferred = pd.DataFrame({"id": sorted(used), "description": [methods.get(m, "") for m in sorted(used)]})
        out["methods"] = (pd.concat([given[0], inferred], ignore_index=True).drop_duplicates("id").fillna(""),
                          given[1] or "methods (inferred from the mappings)")
    note = finding("SPEC-VARIABLES-ADDED", where, [f"{d}.{v}" for d, v in added] + new_domains,
                   count=len(added), domains=len(new_domains))
    return out, [note]
