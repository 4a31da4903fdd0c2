"""sdtm.oak's study specification (`*_sdtm_oak_spec.csv`) and study CT (`sdtm_ct.csv`), read as they are,
-> the tables of a trialbridge study mapping specification (the shape `spec_files.read_tables` returns).

One sdtm.oak row says, for one raw variable of one raw dataset, which SDTM variable it fills and with
which algorithm. The translation (README "sdtm.oak specifications"):

| sdtm.oak | trialbridge |
|---|---|
| raw_dataset | a `record_set` per raw dataset and target domain (topic variable first), file `<raw>.csv` |
| DATASET_LEVEL HARDCODE_CT / HARDCODE_NO_CT | `hardcode_ct` / `hardcode_no_ct` of the domain-level variable (DOMAIN) |
| DATASET_LEVEL REMOVE_DUP (unduplicate_keys) | `remove_dup` with `keys=` |
| DATASET_LEVEL MERGE left_join (merge_right, merge_condition) | `record_set` with `merge=` and `by=` |
| ASSIGN_NO_CT / ASSIGN_CT | `assign_no_ct` / `assign_ct` (codelist = target_sdtm_variable_codelist_code) |
| ASSIGN_DATETIME, or ASSIGN_NO_CT into an ISO 8601 target | one `assign_datetime` per target from its date and time raw variables, `format=` from raw_data_format |
| HARDCODE_CT / HARDCODE_NO_CT | `hardcode_ct` / `hardcode_no_ct` where the raw variable holds a value (as sdtm.oak does) |
| IF_THEN_ELSE / CONDITION_ADD + entity_sub_algorithm | the sub-algorithm with a condition from the condition_* columns |
| NOTSUBMITTED | `not_submitted` (so that `spec check` knows the raw column was considered) |
| OTHER "split ... into ...n in SUPP--" | `split_text` (into SUPP--, prefix = the QNAM stem) |
| target role Supplemental ... | a qualifier of SUPP<domain> (`supp` table) filled as a work column, then the `supp` step |
| origin CRF / eDT / Derived / Assigned / Protocol | variables.origin Collected / Collected / Derived / Assigned / Protocol |
| annotation_text of a Derived target | its method description |

Condition operators: Checked, Not_checked, is_numeric, is_character, Different_to, Equal_to, Not_equal_to,
is_null, is_not_null, In, Greater_than, Less_than (left: condition_left_raw_variable or the SDTM variable,
right: condition_right_text_value, or the right SDTM or raw variable).

What the sdtm.oak spec does not say (USUBJID, --SEQ, --DY, the study identifier to submit, where each raw
dataset's file is, a column exported under another name) comes from the trialbridge tables beside it (same
names and columns as a trialbridge spec): `study.csv` and `sources.csv` rows take precedence, `mappings.csv`
rows run after the sdtm.oak steps of their domain (before its split and SUPP-- steps; a domain the sdtm.oak
spec does not target runs first), `ct.csv` rows are matched before `sdtm_ct.csv`, and `datasets.csv`,
`variables.csv`, `supp.csv` and `methods.csv` rows replace the translated ones of the same name.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd

from trialbridge.converters.readers import spec_files
from trialbridge.converters.readers.oak_metadata import (
    CT_FILE, DOMAIN_LEVEL, Declared, Tables, ct_table, filled_targets, metadata_tables, override, read_csv, study_table,
    table_rows,
)
from trialbridge.mappings.spec.dates import DateFormatError, layout_pattern
from trialbridge.schemas.findings import Finding, finding

SPEC_GLOB = "*sdtm_oak_spec*.csv"
REQUIRED = ("raw_dataset", "raw_variable", "target_sdtm_domain", "target_sdtm_variable", "mapping_algorithm", "origin")
ORIGINS = {"crf": "Collected", "edt": "Collected", "collected": "Collected", "derived": "Derived",
           "assigned": "Assigned", "protocol": "Protocol", "predecessor": "Derived"}
SIMPLE = {"assign_no_ct", "assign_ct", "assign_datetime", "hardcode_ct", "hardcode_no_ct", "notsubmitted"}
CONDITIONAL = {"if_then_else", "condition_add"}
MAPPING_COLUMNS = ("domain", "variable", "algorithm", "source", "source_variable", "codelist", "value", "condition",
                   "arguments", "comment", spec_files.WHERE, spec_files.ALIASES)
OAK_COLUMNS = ("domain=target_sdtm_domain; variable=target_sdtm_variable; algorithm=mapping_algorithm; "
               "source=raw_dataset; source_variable=raw_variable; codelist=target_sdtm_variable_codelist_code; "
               "value=target_term_value; condition=condition_operator; arguments=raw_data_format")


def is_oak_folder(location: Path) -> bool:
    """A folder holding an sdtm.oak spec CSV (trialbridge tables beside it only supplement it)."""
    return location.is_dir() and any(location.glob(SPEC_GLOB))


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _layout(fmt: str) -> str:
    """An sdtm.oak raw_data_format as a layout: spaces around separators dropped; a `yyyy` year also takes two
    digits (EDC exports write `15-Sep-20` under a `dd-MMM-yyyy` field format, as create_iso8601's `y` reads)."""
    layout = re.sub(r"\s*([-/:.])\s*", r"\1", fmt.strip())
    return re.sub(r"(?<!y)yyyy(?!y)", "yy", layout)


class _Translation:
    """The state of one translation: the tables being built and the findings on the way."""

    def __init__(self, spec: pd.DataFrame, where: str, supplement: Tables, folder: Path) -> None:
        self.spec, self.where, self.supplement, self.folder = spec, where, supplement, folder
        self.findings: list[Finding] = []
        self.declared: dict[tuple[str, str], dict[str, str]] = {}  # (domain, variable) -> origin, method text
        self.qualifiers: dict[tuple[str, str], dict[str, str]] = {}  # (SUPPxx, QNAM) -> supp row

    def at(self, index: int, column: str = "") -> str:
        return f"{self.where}:{index + 2}" + (f":{column}" if column else "")

    def row_where(self, index: int) -> str:
        return f"{self.where}:{index + 2}"

    def warn(self, index: int, column: str, detail: str, rule: str = "SPEC-OAK-UNSUPPORTED") -> None:
        self.findings.append(finding(rule, self.at(index, column), [detail], detail=detail))

    # --------------------------------------------------------------------------------- conditions
    def operand(self, row: pd.Series, side: str, raw: str) -> str:
        variable = row.get(f"condition_{side}_raw_variable", "")
        dataset = row.get(f"condition_{side}_raw_dataset", "")
        if variable:
            return variable if dataset in ("", raw) else f"{dataset}.{variable}"
        domain, name = row.get(f"condition_{side}_sdtm_domain", ""), row.get(f"condition_{side}_sdtm_variable", "")
        return f"{domain}.{name}" if domain and name else name

    def condition(self, index: int, row: pd.Series, raw: str) -> str | None:
        """The condition language text of a row's condition_* columns ("" when none, None when untranslatable)."""
        operator = row.get("condition_operator", "").strip().lower().replace(" ", "_")
        if not operator:
            return ""
        left = self.operand(row, "left", raw) or row.get("raw_variable", "")
        right_text = row.get("condition_right_text_value", "")
        right = self.operand(row, "right", raw) or (_quote(right_text) if right_text else "")
        unary = {"checked": f"{left} is checked", "not_checked": f"not {left} is checked",
                 "is_numeric": f"{left} is numeric", "is_character": f"{left} is present and not {left} is numeric",
                 "is_null": f"{left} is empty", "is_missing": f"{left} is empty", "is_not_null": f"{left} is present",
                 "not_null": f"{left} is present"}
        binary = {"different_to": "!=", "not_equal_to": "!=", "!=": "!=", "equal_to": "=", "equals": "=", "=": "=",
                  "==": "=", "greater_than": ">", ">": ">", "less_than": "<", "<": "<"}
        if operator in unary:
            return unary[operator]
        if operator in binary and right:
            return f"{left} {binary[operator]} {right}"
        if operator == "in" and right_text:
            values = ", ".join(_quote(v.strip()) for v in re.split(r"[;,]", right_text) if v.strip())
            return f"{left} in ({values})"
        self.findings.append(finding("SPEC-OAK-OPERATOR", self.at(index, "condition_operator"), [operator],
                                     operator=row.get("condition_operator", "")))
        return None

    # ------------------------------------------------------------------------------------- steps
    def step(self, index: int, **fields: str) -> dict[str, str]:
        row = {c: "" for c in MAPPING_COLUMNS}
        row.update(fields)
        row[spec_files.WHERE] = self.row_where(index)
        row[spec_files.ALIASES] = OAK_COLUMNS
        return row

    def declare(self, domain: str, variable: str, row: pd.Series, file: str) -> None:
        if not domain or not variable or (domain, variable) in self.declared:
            return
        origin = ORIGINS.get(row.get("origin", "").strip().lower(), "")
        role = row.get("target_sdtm_variable_role", "")
        entry = {"origin": origin, "text": row.get("annotation_text", ""), "raw": row.get("raw_variable", ""),
                 "file": file, "codelist": row.get("target_sdtm_variable_codelist_code", ""), "role": role,
                 "label": row.get("raw_variable_label", "")}
        if role.lower().startswith("supplemental"):
            self.qualifiers[(f"SUPP{domain}", variable)] = entry
        self.declared[(domain, variable)] = entry

    def variable_step(self, index: int, row: pd.Series, domain: str, raw: str) -> dict[str, str] | None:
        """The trialbridge step of one sdtm.oak variable row (None when it has none)."""
        algorithm = row["mapping_algorithm"].strip().lower()
        sub = row.get("entity_sub_algorithm", "").strip().lower()
        condition = ""
        if algorithm in CONDITIONAL:
            found = self.condition(index, row, raw)
            if found is None:
                return None
            condition, algorithm = found, sub
        if algorithm == "notsubmitted":
            return self.step(index, domain=domain, algorithm="not_submitted", source=raw,
                             source_variable=row["raw_variable"], comment="NOT SUBMITTED")
        if algorithm == "other":
            if "split" in row.get("annotation_text", "").lower() and row["target_sdtm_variable"]:
                variable = row["target_sdtm_variable"]
                return self.step(index, domain=domain, variable=variable, algorithm="split_text",
                                 arguments=f"into=supp | prefix={variable[:7]}", comment=row.get("annotation_text", ""))
            self.warn(index, "mapping_algorithm", f"OTHER: {row.get('annotation_text', '')[:120]}")
            return None
        if algorithm not in SIMPLE:
            self.warn(index, "mapping_algorithm", f"{row['mapping_algorithm']} {sub}".strip())
            return None
        target, codelist = row["target_sdtm_variable"], row.get("target_sdtm_variable_codelist_code", "")
        comment = row.get("annotation_text", "")
        if algorithm.startswith("hardcode"):
            value = row.get("target_term_value", "") or row.get("target_hardcoded_value", "")
            present = f"{row['raw_variable']} is present" if row.get("raw_variable") else ""
            return self.step(index, domain=domain, variable=target, algorithm=algorithm, value=value,
                             codelist=codelist if algorithm == "hardcode_ct" else "",
                             condition=condition or present, comment=comment)
        return self.step(index, domain=domain, variable=target, algorithm=algorithm, source_variable=row["raw_variable"],
                         codelist=codelist if algorithm == "assign_ct" else "", condition=condition, comment=comment)

    def datetime_steps(self, steps: list[dict[str, str]], rows: pd.DataFrame) -> list[dict[str, str]]:
        """Date and time raw variables filling one ISO 8601 target: one assign_datetime step, date first."""
        out: list[dict[str, str]] = []
        groups: dict[tuple[str, str, str], dict[str, str]] = {}
        for step, (index, row) in zip(steps, rows.iterrows()):
            dated = (row.get("target_sdtm_variable_controlled_terms_or_format", "").upper() == "ISO 8601"
                     or row.get("raw_variable_type", "").lower() in ("datetime", "date", "time"))
            if step["algorithm"] not in ("assign_no_ct", "assign_datetime") or not dated:
                out.append(step)
                continue
            layout = _layout(row.get("raw_data_format", "")) or "iso"
            try:
                layout_pattern(layout) if layout != "iso" else None
            except DateFormatError as error:
                self.findings.append(finding("SPEC-OAK-FORMAT", self.at(index, "raw_data_format"),
                                             [row.get("raw_data_format", "")], detail=str(error)))
                continue
            key = (step["domain"], step["variable"], step["condition"])
            if key in groups:
                group = groups[key]
                parts = list(zip(group["source_variable"].split(";"), group["arguments"][7:].split(";")))
                parts.append((row["raw_variable"], layout))
                parts.sort(key=lambda p: "y" not in p[1] and p[1] != "iso")  # the date before the time
                group["source_variable"] = ";".join(p[0] for p in parts)
                group["arguments"] = "format=" + ";".join(p[1] for p in parts)
                continue
            step.update(algorithm="assign_datetime", arguments=f"format={layout}")
            groups[key] = step
            out.append(step)
        return out

    def domain_steps(self, raw: str, domain: str, rows: pd.DataFrame, level: pd.DataFrame) -> list[dict[str, str]]:
        """record_set, dataset-level steps and variable steps of one raw dataset into one domain."""
        arguments, closing = [], []
        for index, row in level.iterrows():
            sub = row.get("entity_sub_algorithm", "").strip().lower()
            if sub == "merge" or row.get("merge_type"):
                right = row.get("merge_right", "")
                keys = [part.split("=")[0].strip().split(".")[-1] for part in re.split(r"[,;]| and ", row.get("merge_condition", ""))
                        if "=" in part]
                if row.get("merge_type", "left_join").lower() not in ("left_join", "") or not right or not keys:
                    self.warn(index, "merge_type", f"MERGE {row.get('merge_type', '')} {right}")
                else:
                    arguments.append(f"merge={right} | by={','.join(keys)}")
        steps = [self.step(int(level.index[0]) if len(level) else int(rows.index[0]), domain=domain,
                           algorithm="record_set", source=raw, arguments=" | ".join(arguments),
                           comment=f"one record per row of {raw} (sdtm.oak spec)")]
        for index, row in level.iterrows():
            sub = row.get("entity_sub_algorithm", "").strip().lower()
            if sub in ("hardcode_ct", "hardcode_no_ct") and row.get("target_sdtm_variable"):
                steps.append(self.step(index, domain=domain, variable=row["target_sdtm_variable"], algorithm=sub,
                                       value=row.get("target_term_value", "") or row.get("target_hardcoded_value", ""),
                                       codelist=row.get("target_sdtm_variable_codelist_code", "") if sub == "hardcode_ct" else "",
                                       comment=row.get("annotation_text", "")))
                self.declare(domain, row["target_sdtm_variable"], row, raw)
            elif sub == "remove_dup":
                steps.append(self.step(index, domain=domain, algorithm="remove_dup",
                                       arguments=f"keys={row.get('unduplicate_keys', '')}", comment="REMOVE_DUP"))
            elif sub != "merge" and not row.get("merge_type"):
                self.warn(index, "entity_sub_algorithm", f"DATASET_LEVEL {row.get('entity_sub_algorithm', '')}")
        topic = rows["target_sdtm_variable_role"].str.lower().eq("topic variable")
        ordered = pd.concat([rows[topic], rows[~topic]])
        made, kept = [], []
        for index, row in ordered.iterrows():
            step = self.variable_step(index, row, domain, raw)
            if step is None:
                continue
            if row["target_sdtm_variable"] and step["algorithm"] not in DOMAIN_LEVEL:
                self.declare(domain, row["target_sdtm_variable"], row, raw)
            (closing if step["algorithm"] == "split_text" else made).append(step)
            if step["algorithm"] != "split_text":
                kept.append(index)
        return steps + self.datetime_steps(made, ordered.loc[kept]) + closing


def _domain_of(rows: pd.DataFrame) -> str:
    named = [d for d in rows["target_sdtm_domain"] if d]
    return Counter(named).most_common(1)[0][0] if named else ""


def _supplement(folder: Path) -> tuple[Tables, list[Finding]]:
    tables, findings = spec_files.read_tables(folder)
    return tables, [f for f in findings if f.rule != "SPEC-TABLE-MISSING"]


def oak_tables(folder: Path) -> tuple[Tables, list[Finding]]:
    """sdtm.oak's spec CSV(s) and study CT in `folder`, with the trialbridge tables beside them, as the tables of
    a trialbridge spec; every problem is a finding at the sdtm.oak file's row and column."""
    folder = Path(folder)
    supplement, findings = _supplement(folder)
    specs = []
    for path in sorted(folder.glob(SPEC_GLOB)):
        try:
            frame = read_csv(path)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
            findings.append(finding("SPEC-UNREADABLE", path.name, [path.name], file=path.name, error=str(error)))
            continue
        where = f"{folder.name}/{path.name}"
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            findings.append(finding("SPEC-COLUMNS", f"{where}:1", missing, table="sdtm.oak spec",
                                    missing=", ".join(missing), found=", ".join(frame.columns)))
            continue
        specs.append((frame, where))
    tables: Tables = {}
    steps, first = [], []
    supplement_steps = table_rows(supplement, "mappings").assign(**{spec_files.WHERE: ""})
    if "mappings" in supplement:
        name = supplement["mappings"][1]
        supplement_steps[spec_files.WHERE] = [f"{name}:{i + 2}" for i in range(len(supplement_steps))]
        supplement_steps["domain"] = supplement_steps["domain"].str.upper()
    given_sources = table_rows(supplement, "sources")
    files = dict(zip(given_sources["dataset"], given_sources["file"]))
    translations = []
    for frame, where in specs:
        work = _Translation(frame, where, supplement, folder)
        translations.append(work)
        for raw in dict.fromkeys(r for r in frame["raw_dataset"] if r):
            rows = frame[frame["raw_dataset"] == raw]
            level = rows[rows.get("mapping_is_dataset", pd.Series("", index=rows.index)).str.upper().eq("TRUE")
                         | rows["mapping_algorithm"].str.upper().eq("DATASET_LEVEL")]
            variables = rows.drop(level.index)
            domain = _domain_of(rows)
            if not domain:
                continue
            steps.append((domain, work.domain_steps(raw, domain, variables, level)))
            files.setdefault(raw, _raw_file(folder, raw))
        for index, row in frame[frame["raw_dataset"] == ""].iterrows():  # targets with no raw source: derived
            domain, variable = row["target_sdtm_domain"].upper(), row["target_sdtm_variable"]
            if variable == "STUDYID":
                first.append((domain, work.step(index, domain=domain, variable="STUDYID", algorithm="hardcode_no_ct",
                                                value="{STUDYID}", comment="the study identifier")))
            work.declare(domain, variable, row, "")
        findings += work.findings
    with_supp = {name[4:] for work in translations for name, _ in work.qualifiers}
    tables["mappings"] = (_mappings(steps, first, supplement_steps, with_supp),
                          translations[0].where if translations else folder.name)
    declared: Declared = {}
    for work in translations:
        for key, entry in work.declared.items():
            declared.setdefault(key, entry)
    qualifiers = {key: entry for work in translations for key, entry in work.qualifiers.items()}
    tables.update(metadata_tables(declared, qualifiers, tables["mappings"][0], supplement, files))
    tables["sources"] = (override(pd.DataFrame({"dataset": list(files), "file": list(files.values())}),
                                   given_sources, ["dataset"]), "sources")
    tables["study"] = (study_table(specs, supplement), "study")
    tables["ct"] = (ct_table(folder, supplement, findings), f"{folder.name}/{CT_FILE}")
    for key in ("treatments", "conditions", "tests", "visits", "value_level"):
        if key in supplement:
            tables[key] = supplement[key]
    findings += _unfilled(translations, tables["variables"][0])
    return tables, findings


def _raw_file(folder: Path, raw: str) -> str:
    """`<raw>.csv` in the input folder (the spec folder's parent) or beside the spec, any case."""
    for place, prefix in ((folder.parent, ""), (folder, f"{folder.name}/")):
        for path in sorted(place.glob("*.csv")):
            if path.stem.lower() == raw.lower():
                return prefix + path.name
    return f"{raw}.csv"


def _mappings(steps: list[tuple[str, list[dict[str, str]]]], first: list[tuple[str, dict[str, str]]],
              supplement: pd.DataFrame, with_supp: set[str]) -> pd.DataFrame:
    """Steps in execution order: supplement domains the sdtm.oak spec does not target, then per oak domain its
    record sets, STUDYID, the supplement's rows, its splits and its SUPP-- step."""
    domains = list(dict.fromkeys(d for d, _ in steps))
    rows = [r for r in supplement.to_dict("records") if r["domain"] not in domains]
    for domain in domains:
        made = [s for d, group in steps if d == domain for s in group]
        body = [s for s in made if s["algorithm"] != "split_text"]
        body[1:1] = [s for d, s in first if d == domain]
        rows += body + [r for r in supplement.to_dict("records") if r["domain"] == domain]
        rows += [s for s in made if s["algorithm"] == "split_text"]
        if domain in with_supp:
            filled = filled_targets(pd.DataFrame(rows, columns=list(MAPPING_COLUMNS)).fillna(""))
            idvar = f"idvar={domain}SEQ" if (domain, f"{domain}SEQ") in filled else ""
            rows.append({**{c: "" for c in MAPPING_COLUMNS}, "domain": domain, "algorithm": "supp", "arguments": idvar,
                         "comment": "SUPP-- qualifiers of the sdtm.oak spec", spec_files.WHERE: body[0][spec_files.WHERE]})
    return pd.DataFrame(rows, columns=list(MAPPING_COLUMNS)).fillna("")


def _unfilled(translations: list[_Translation], variables: pd.DataFrame) -> list[Finding]:
    """A target of the sdtm.oak spec that no step fills is left out of its dataset: a warning at its row."""
    written = set(zip(variables["dataset"], variables["variable"]))
    out = []
    for work in translations:
        for index, row in work.spec.iterrows():
            domain, variable = row["target_sdtm_domain"].upper(), row["target_sdtm_variable"]
            if (domain and variable and (domain, variable) not in written and (f"SUPP{domain}", variable) not in work.qualifiers
                    and not row["mapping_algorithm"]):
                out.append(finding("SPEC-OAK-UNFILLED", work.at(index, "target_sdtm_variable"), [f"{domain}.{variable}"],
                                   variable=f"{domain}.{variable}"))
    return out
