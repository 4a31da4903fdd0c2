"""`trialbridge spec check SPEC [RAW_DIR]`: a study mapping specification (+ its raw datasets) -> every problem
at once, each a finding at the spec's file (or workbook sheet), row and column.

What is checked (rule ids in schemas/catalogue.json):
- the tables read (SPEC-UNREADABLE, SPEC-COLUMNS, SPEC-TABLE-MISSING) and the sdtm.oak translation;
- per mappings row: the algorithm is one the engine knows (SPEC-CHECK-ALGORITHM); each target variable is
  an SDTMIG 3.4 variable of the domain, a declared SUPP-- qualifier or a work column `_X`
  (SPEC-CHECK-VARIABLE); a `record_set` names a raw dataset or a domain built before (SPEC-CHECK-SOURCE);
  the codelist of assign_ct / hardcode_ct is in the CDISC CT package (SPEC-CHECK-CODELIST) and a
  hard-coded value is a term of a non-extensible one (SPEC-CHECK-HARDCODE); the condition follows the
  condition language (SPEC-CHECK-CONDITION); a date layout is one `dates` reads (SPEC-CHECK-LAYOUT);
- per variables / supp row: the variable is in SDTMIG 3.4 for the dataset, its codelist in the CT package,
  and some step fills it (SPEC-CHECK-UNFILLED);
- with the raw datasets: every column a step or condition reads exists where the step reads it
  (SPEC-CHECK-RAW-COLUMN), and every collected value of an assign_ct column is mapped by the study CT or
  is a term of the codelist (SPEC-CHECK-CT-UNMAPPED, a warning for an extensible codelist).

Nothing is written; the exit code is 2 when an error was found.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from trialbridge.converters.readers import spec_files
from trialbridge.converters.spec_tools.check_inputs import raw_datasets, sdtmig_names, spec_sources, spec_steps, spec_tables
from trialbridge.mappings.spec.conditions import ConditionError, columns_named, evaluate, parse_condition
from trialbridge.converters.readers.spec_metadata import model_allows
from trialbridge.mappings.spec.dates import ALTERNATIVES, DateFormatError, layout_pattern
from trialbridge.mappings.spec.model import Step
from trialbridge.mappings.spec.steps import ALGORITHMS, DOMAIN_STEPS, ct_lookup
from trialbridge.schemas.findings import Finding, finding, has_errors
from trialbridge.schemas.sdtm_spec import SPONSOR_CODELIST, SUPP_MODEL
from trialbridge.schemas.sdtm_standards import terminology

CT_STEPS = ("assign_ct", "hardcode_ct")
COLUMN_ARGUMENTS = ("reference", "first", "last", "factor")  # arguments that name a column
DESIGN_DOMAINS = ("TA", "TE", "TV", "SV", "SE")  # built by the trial design step after the mappings (mappings/sdtm/design.py)
WHOLE_DATASET_STEPS = ("registry_ts", "registry_ti")  # steps that build a whole dataset (its variables need no step each)

RAW_SOURCE_STEPS = frozenset({"derive_first_dtc", "derive_last_dtc"})  # may read a raw `source`


@dataclass
class CheckResult:
    findings: list[Finding]
    summary: str

    @property
    def exit_code(self) -> int:
        return 2 if has_errors(self.findings) else 0


@dataclass
class _Scope:
    """What a step of one domain can read: the current record set's columns, the domain's variables so far."""

    domain: str
    source: str = ""
    columns: set[str] = field(default_factory=set)
    filled: set[str] = field(default_factory=set)
    stacked: set[str] = field(default_factory=set)  # the columns of every record set so far (read after `stack`)
    unknown: bool = False  # the record set's source could not be read: its columns are not checked
    tests: bool = False
    condition: str = ""  # the record set's condition: only the raw rows it keeps are checked against CT


def _kept(table: pd.DataFrame, condition: str) -> pd.Series:
    """The raw rows a record set's condition keeps (every row when the condition reads more than raw columns)."""
    everything = pd.Series(True, index=table.index)
    if not condition.strip():
        return everything
    try:
        tree = parse_condition(condition)
        if not all(ref in table.columns for ref in columns_named(tree)):
            return everything
        return evaluate(tree, lambda ref: table[ref], lambda domain: everything & False, table.index).astype(bool)
    except (ConditionError, KeyError, ValueError, TypeError):
        return everything


def _add(out: list[Finding], rule: str, step_or_where: Step | str, at: str, shown: str, **fields: object) -> None:
    """A finding at a step's column `at` (or at a location given as text), showing the value `shown`."""
    where = step_or_where.where.at(at) if isinstance(step_or_where, Step) else step_or_where
    out.append(finding(rule, where, [shown], **fields))


class _Checker:
    def __init__(self, tables: dict[str, tuple[pd.DataFrame, str]], raw: dict[str, pd.DataFrame] | None) -> None:
        self.tables, self.raw = tables, raw
        self.ig = sdtmig_names()
        self.ct = terminology()
        study_ct = tables["ct"][0] if "ct" in tables else pd.DataFrame(columns=["codelist_code"])
        for column in ("codelist_code", "term_value", "collected_value", "term_synonyms"):
            if column not in study_ct.columns:
                study_ct = study_ct.assign(**{column: ""})
        self.study_ct = study_ct
        facts = tables["study"][0] if "study" in tables else pd.DataFrame(columns=["key", "value"])
        self.study_facts = {str(k).strip(): str(v).strip() for k, v in zip(facts["key"], facts["value"])}
        supp = tables["supp"][0] if "supp" in tables else pd.DataFrame(columns=["dataset", "qnam"])
        self.qualifiers = {(d.upper()[4:], q) for d, q in zip(supp.get("dataset", []), supp.get("qnam", []))}
        tests = tables["tests"][0] if "tests" in tables else pd.DataFrame()
        self.test_columns = {f"TEST.{c}" for c in [*tests.columns, "order"]}  # match_tests adds the catalogue order
        self.test_prefix = next((c[:-6] for c in tests.columns if c.endswith("TESTCD") and len(c) == 8), "")
        self.findings: list[Finding] = []
        self.built: dict[str, set[str]] = {}  # domain -> variables its steps filled

    # --------------------------------------------------------------------------------- one step
    def known(self, scope: _Scope, ref: str) -> bool:
        if scope.unknown or ref in scope.columns or ref in scope.filled or ref in self.test_columns and scope.tests:
            return True
        own = f"TEST.{scope.domain}"  # match_tests offers the catalogue's prefixed columns under the domain's
        if scope.tests and ref.startswith(own) and f"TEST.{self.test_prefix}{ref[len(own):]}" in self.test_columns:
            return True
        prefix, _, name = ref.partition(".")
        if not name:
            return False
        if prefix == scope.domain:
            return name in scope.filled
        if prefix in self.built:
            return name in self.built[prefix]
        if prefix == scope.source:
            return name in scope.columns
        if self.raw is not None and prefix in self.raw:
            return name in self.raw[prefix].columns
        return False

    def reads(self, step: Step, scope: _Scope, refs: list[str], column: str) -> None:
        if self.raw is None:
            return
        for ref in refs:
            if not self.known(scope, ref):
                _add(self.findings, "SPEC-CHECK-RAW-COLUMN", step, column, ref, column=ref,
                     dataset=scope.source or "(no record set)", domain=scope.domain)

    def reads_raw(self, step: Step) -> None:
        """derive_first_dtc / derive_last_dtc with a raw `source`: its columns and subject key must exist."""
        if self.raw is None:
            return
        table = self.raw.get(step.source)
        if table is None:
            _add(self.findings, "SPEC-CHECK-SOURCE", step, "source", step.source, source=step.source,
                 known=", ".join(self.raw))
            return
        for ref in step.source_variables:
            if ref not in table.columns:
                _add(self.findings, "SPEC-CHECK-RAW-COLUMN", step, "source_variable", ref, column=ref,
                     dataset=step.source, domain=step.domain)

    def target(self, step: Step) -> None:
        model = SUPP_MODEL if step.domain.startswith("SUPP") else step.domain
        for variable in step.variables:
            if variable.startswith("_") or variable in self.ig.get(model, set()) or (step.domain, variable) in self.qualifiers:
                continue
            if model in self.ig and model_allows(model, variable):  # SDTM-model variable (VISITNUM in DS)
                continue
            _add(self.findings, "SPEC-CHECK-VARIABLE", step, "variable", variable, variable=variable,
                 dataset=step.domain, where="the domain" if model in self.ig else "SDTMIG 3.4 (no such dataset)")

    def codelist(self, step: Step) -> None:
        if step.algorithm not in CT_STEPS:
            return
        if not step.codelist:
            _add(self.findings, "SPEC-CHECK-CODELIST", step, "codelist", "", codelist="(none)", algorithm=step.algorithm)
            return
        if not self.ct.has_codelist(step.codelist):
            _add(self.findings, "SPEC-CHECK-CODELIST", step, "codelist", step.codelist, codelist=step.codelist,
                 algorithm=step.algorithm)
            return
        if step.algorithm == "hardcode_ct" and "{" not in step.value and not self.ct.is_extensible(step.codelist) \
                and step.value not in self.ct.submission_values(step.codelist):
            _add(self.findings, "SPEC-CHECK-HARDCODE", step, "value", step.value, value=step.value,
                 codelist=step.codelist, name=self.ct.codelist_name(step.codelist))

    def condition(self, step: Step, scope: _Scope) -> None:
        if not step.condition.strip():
            return
        try:
            tree = parse_condition(step.condition)
        except ConditionError as error:
            _add(self.findings, "SPEC-CHECK-CONDITION", step, "condition", step.condition, detail=str(error))
            return
        self.reads(step, scope, columns_named(tree), "condition")

    def relate(self, step: Step) -> None:
        """A `relate` step reads two domains built before it: the keys, dates and each side's condition name
        their variables (`condition` the first domain's, `where=` the second's)."""
        domains = [d.strip().upper() for d in step.source.split(";") if d.strip()]
        for domain in domains:
            if domain not in self.built:
                _add(self.findings, "SPEC-CHECK-SOURCE", step, "source", domain, source=domain,
                     known=", ".join(self.built) or "none")
        if len(domains) != 2 or any(d not in self.built for d in domains):
            return
        dates = [d.strip() for d in step.argument("dates").split(";") if d.strip()]
        for i, domain in enumerate(domains):
            side = _Scope(domain, filled=self.built[domain], unknown="*" in self.built[domain])
            self.reads(step, side, step.source_variables[i:i + 1], "source_variable")
            self.reads(step, side, dates[i:i + 1], "arguments")
            text = step.condition if i == 0 else step.argument("where")
            try:
                self.reads(step, side, columns_named(parse_condition(text)) if text.strip() else [],
                           "condition" if i == 0 else "arguments")
            except ConditionError as error:
                _add(self.findings, "SPEC-CHECK-CONDITION", step, "condition" if i == 0 else "arguments", text,
                     detail=str(error))

    def layout(self, step: Step) -> None:
        if step.algorithm != "assign_datetime":
            return
        layouts = [alt for part in step.argument("format", "iso").split(";") for alt in ALTERNATIVES.split(part.strip())]
        for layout in layouts:
            try:
                if layout.strip() not in ("", "iso"):
                    layout_pattern(layout.strip())
            except DateFormatError as error:
                _add(self.findings, "SPEC-CHECK-LAYOUT", step, "arguments", layout.strip(), layout=layout.strip(),
                     detail=str(error))

    def collected(self, step: Step, scope: _Scope) -> None:
        """Every collected value of an assign_ct column: mapped by the study CT, or a term of the codelist."""
        if self.raw is None or step.algorithm != "assign_ct" or not self.ct.has_codelist(step.codelist):
            return
        refs = step.source_variables
        table = self.raw.get(scope.source)
        if len(refs) != 1 or table is None or refs[0] not in table.columns:
            return
        values = table[refs[0]].astype(str).str.strip()
        values = values[(values != "") & _kept(table, scope.condition)]
        mapped = ct_lookup(self.study_ct, step.argument("map") or step.codelist, values)
        terms = self.ct.submission_values(step.codelist)
        final = values.map(lambda v: mapped.get(v, v))
        how = (step.argument("match") or self.study_facts.get("ct_match", "") or "cdisc").strip().lower()
        if how == "cdisc":  # as convert: a value naming exactly one term of the codelist becomes that term
            final = final.map(lambda v: v if v in terms else (self.ct.match(step.codelist, v)[0] or v))
        unmapped = sorted(set(values[~final.isin(terms) & (final != "")]))  # mapped to "": left blank on purpose
        extensible = self.ct.is_extensible(step.codelist)
        for value in unmapped:
            lines = table.loc[values.index[values == value], "_line"].astype(str).tolist() if "_line" in table else []
            _add(self.findings, "SPEC-CHECK-CT-EXTENDED" if extensible else "SPEC-CHECK-CT-UNMAPPED", step,
                 "source_variable", value, value=value, column=refs[0], codelist=step.codelist,
                 name=self.ct.codelist_name(step.codelist), count=len(lines),
                 records=", ".join(lines[:5]) + (" ..." if len(lines) > 5 else ""))

    def run(self, steps: list[Step]) -> None:
        scopes: dict[str, _Scope] = {}
        for step in steps:
            scope = scopes.setdefault(step.domain, _Scope(step.domain))
            if step.algorithm not in ALGORITHMS and step.algorithm not in DOMAIN_STEPS:
                _add(self.findings, "SPEC-CHECK-ALGORITHM", step, "algorithm", step.algorithm, algorithm=step.algorithm,
                     known=", ".join(sorted({*ALGORITHMS, *DOMAIN_STEPS})))
                scope.filled.update(step.variables)  # meant to fill them: one finding for one fault
                continue
            if step.algorithm == "relate":
                self.relate(step)
                scope.filled.add("*")
                self.built[step.domain] = scope.filled
                continue
            if step.algorithm == "record_set":
                self.record_set(step, scope)
            elif step.algorithm == "stack":
                scope.source, scope.columns = "", set(scope.stacked)
            if step.algorithm in WHOLE_DATASET_STEPS:
                scope.filled.add("*")
            self.condition(step, scope)
            if step.algorithm in RAW_SOURCE_STEPS and step.source:
                self.reads_raw(step)
            elif step.algorithm not in ("record_set", "not_submitted", "remove_dup", "supp", "stack"):
                self.reads(step, scope, step.source_variables, "source_variable")
            elif step.algorithm == "not_submitted" and not step.source:
                self.reads(step, scope, step.source_variables, "source_variable")
            elif step.algorithm == "remove_dup":
                self.reads(step, scope, [k.strip() for k in step.argument("keys").replace(";", ",").split(",") if k.strip()],
                           "arguments")
            self.reads(step, scope, [step.argument(a) for a in COLUMN_ARGUMENTS if step.argument(a)], "arguments")
            self.codelist(step)
            self.layout(step)
            self.collected(step, scope)
            if step.algorithm == "match_tests":
                scope.tests = True
            if step.algorithm not in DOMAIN_STEPS or step.algorithm == "split_text":
                self.target(step)
                scope.filled.update(step.variables)
            self.built[step.domain] = scope.filled

    def record_set(self, step: Step, scope: _Scope) -> None:
        scope.unknown = self.raw is not None and step.source not in self.raw and step.source not in self.built
        if scope.unknown:
            _add(self.findings, "SPEC-CHECK-SOURCE", step, "source", step.source, source=step.source,
                 known=", ".join(sorted(self.raw or {})))
        scope.source, scope.condition = step.source, step.condition
        table = (self.raw or {}).get(step.source)
        columns = set(table.columns) if table is not None else set(self.built.get(step.source, set()))
        merge = step.argument("merge")
        if merge and self.raw is not None and merge in self.raw:
            columns |= set(self.raw[merge].columns)
        scope.columns = columns
        scope.stacked |= columns

    # ------------------------------------------------------------------------------ metadata rows
    def metadata(self) -> None:
        """variables and supp rows: in SDTMIG for the dataset, a CDISC codelist, filled by some step (TV, SV
        and SE: by the trial design step after the mappings, mappings/sdtm/design.py)."""
        filled = {**{d: {"*"} for d in DESIGN_DOMAINS}, **self.built}
        for row, where in spec_files._rows(self.tables, "variables"):
            dataset, variable = row.get("dataset", "").upper(), row.get("variable", "")
            model = SUPP_MODEL if dataset.startswith("SUPP") else dataset
            if variable not in self.ig.get(model, set()):
                _add(self.findings, "SPEC-CHECK-VARIABLE", where.at("variable"), "", variable, variable=variable,
                     dataset=dataset, where="the domain" if model in self.ig else "SDTMIG 3.4 (no such dataset)")
            elif model != SUPP_MODEL and dataset in filled and "*" not in filled[dataset] and variable not in filled[dataset]:
                _add(self.findings, "SPEC-CHECK-UNFILLED", where.at("variable"), "", variable, variable=variable,
                     dataset=dataset)
            elif model != SUPP_MODEL and dataset not in filled:
                _add(self.findings, "SPEC-CHECK-UNFILLED", where.at("dataset"), "", dataset, variable=variable,
                     dataset=dataset)
            self.metadata_codelist(row, where)
        for row, where in spec_files._rows(self.tables, "supp"):
            parent = row.get("dataset", "").upper()[4:]
            if parent in filled and row.get("qnam", "") not in filled[parent] and "*" not in filled[parent] \
                    and not row.get("qnam", "")[-1:].isdigit():
                _add(self.findings, "SPEC-CHECK-UNFILLED", where.at("qnam"), "", row.get("qnam", ""),
                     variable=row.get("qnam", ""), dataset=parent)
            self.metadata_codelist(row, where)

    def metadata_codelist(self, row: dict[str, str], where: spec_files.SpecLocation) -> None:
        code = row.get("codelist", "")
        if code and code != SPONSOR_CODELIST and not self.ct.has_codelist(code):
            _add(self.findings, "SPEC-CHECK-CODELIST", where.at("codelist"), "", code, codelist=code,
                 algorithm=f"{row.get('dataset', '')}.{row.get('variable') or row.get('qnam', '')}")


def default_raw_folder(spec: Path) -> Path | None:
    """The input folder a spec sits in by convention (`<input>/spec/` or `<input>/spec.xlsx`), else None."""
    spec = Path(spec)
    if spec.name.lower() in (spec_files.SPEC_FOLDER, "spec.xlsx"):
        return spec.absolute().parent
    return None


def check_spec(spec: Path, raw_folder: Path | None = None) -> CheckResult:
    """Every problem of a spec (and, with the raw folder, of the raw data against it) at once."""
    spec = Path(spec)
    tables, findings = spec_tables(spec)
    if not tables:
        return CheckResult(findings, f"{spec}: not a study mapping specification")
    folder = Path(raw_folder) if raw_folder is not None else default_raw_folder(spec)
    sources = spec_sources(tables)
    raw, found = raw_datasets(folder, sources)
    findings += found
    steps, untargeted = spec_steps(tables)
    findings += untargeted
    checker = _Checker(tables, raw)
    checker.run(steps)
    checker.metadata()
    findings += checker.findings
    raw_note = (f"raw datasets of {folder}: {', '.join(f'{n} ({len(t)} rows)' for n, t in raw.items())}"
                if raw is not None else "no raw folder given: raw columns and collected values not checked")
    errors = sum(f.severity == "error" for f in findings)
    summary = (f"checked {spec}: {len(steps)} mapping steps, {len(sources)} raw sources; {raw_note}\n"
               f"{errors} error(s), {sum(f.severity == 'warning' for f in findings)} warning(s)")
    return CheckResult(findings, summary)
