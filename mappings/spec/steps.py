"""The algorithm vocabulary a spec names, bound to the vectorised algorithms of `mappings.sdtm.algorithms`.

Each entry takes the domain run and the step and returns the values of the step's target variable(s)
(one Series, or a tuple for algorithms with several results); domain-level entries (`DOMAIN_STEPS`)
change the run itself (start, stack or de-duplicate record sets, take SUPP-- rows, match a test
catalogue, build a whole dataset from the registry). Names follow sdtm.oak where it has one.
"""
from __future__ import annotations

from typing import Callable

import pandas as pd

from trialbridge.mappings.sdtm import algorithms as alg
from trialbridge.mappings.spec.dates import DateFormatError, combine_date_time, parse_layout
from trialbridge.mappings.spec.domain_steps import DOMAIN_STEPS
from trialbridge.mappings.spec.engine import DomainRun, RecordSet, SpecRunError
from trialbridge.mappings.spec.model import Step
from trialbridge.mappings.spec.step_inputs import (
    TEMPLATE_FIELD, filled_template, key_list, matches_package, other_domain, source_columns, source_frame, step_value,
    value_map,
)
from trialbridge.schemas.findings import finding


# ------------------------------------------------------------------------------ assign / hardcode
def hardcode_no_ct(run: DomainRun, step: Step) -> pd.Series:
    value = step_value(run, step)
    if TEMPLATE_FIELD.search(value):
        return filled_template(run, step, value)
    return alg.hardcode_no_ct(run.target, value)


def hardcode_ct(run: DomainRun, step: Step) -> pd.Series:
    return alg.hardcode_ct(run.target, step_value(run, step), step.codelist)


def assign_no_ct(run: DomainRun, step: Step) -> pd.Series:
    ref = source_columns(step)[0]
    return alg.assign_no_ct(source_frame(run, step, [ref]), ref, value_map(run, step))


def ct_lookup(ct: pd.DataFrame, name: str, values: pd.Series) -> dict[str, str]:
    """Collected value -> submission value for the distinct `values`, matched as sdtm.oak's ct_map does: on
    the study CT rows of codelist (or sponsor map) `name`, their collected_value, else term_value, else one of
    their term_synonyms (`;`-separated); exact first, then ignoring case. Values no row names are left out."""
    rows = ct[ct["codelist_code"] == name] if name else ct.iloc[0:0]
    if rows.empty:
        return {}
    synonyms = rows["term_synonyms"].str.split(";").explode().str.strip()
    pairs = pd.concat([
        pd.DataFrame({"from": rows["collected_value"], "to": rows["term_value"]}),
        pd.DataFrame({"from": rows["term_value"], "to": rows["term_value"]}),
        pd.DataFrame({"from": synonyms.fillna(""), "to": rows.loc[synonyms.index, "term_value"]}),
    ], ignore_index=True)
    pairs = pairs[pairs["from"] != ""]
    exact = pairs.drop_duplicates("from", keep="first")
    folded = pairs.assign(key=pairs["from"].str.casefold()).drop_duplicates("key", keep="first")
    distinct = pd.Series(pd.unique(alg._text(values)), dtype=object)
    found = distinct.map(dict(zip(exact["from"], exact["to"])))
    found = found.where(found.notna(), distinct.str.casefold().map(dict(zip(folded["key"], folded["to"]))))
    return {k: v for k, v in zip(distinct, found) if isinstance(v, str)}


def _ct_map(run: DomainRun, step: Step, values: pd.Series) -> dict[str, str] | None:
    return ct_lookup(run.mapping.ct, step.argument("map") or step.codelist, values) or None


def assign_ct(run: DomainRun, step: Step) -> pd.Series:
    ref = source_columns(step)[0]
    frame = source_frame(run, step, [ref])
    frame[ref] = alg._text(frame[ref]).str.strip()  # a blank-only cell is no value
    values, found = alg.assign_ct(frame, ref, step.codelist, _ct_map(run, step, frame[ref]),
                                  step.variables[0] if step.variables else ref, matches_package(run, step))
    run.findings += found
    return values


def assign_numeric(run: DomainRun, step: Step) -> pd.Series:
    ref = source_columns(step)[0]
    values, found = alg.assign_numeric(source_frame(run, step, [ref]), ref, step.variables[0] if step.variables else ref)
    run.findings += found
    return values


def copy(run: DomainRun, step: Step) -> pd.Series:
    """The column as it is (its type kept): e.g. RFSTDTC = DM.RFXSTDTC."""
    return run.column(source_columns(step)[0], step)


def assign_datetime(run: DomainRun, step: Step) -> pd.Series:
    """ISO 8601 from a date column (and an optional time column), each in its declared layout (`format`,
    `;`-separated per column: `dd-MMM-yyyy;HH:nn`), partial dates kept partial; bad values reported."""
    refs = step.source_variables
    if not 1 <= len(refs) <= 2:
        raise SpecRunError(step, "assign_datetime reads a date column and optionally a time column", "source_variable")
    layouts = [f.strip() for f in step.argument("format", "iso").split(";")] + ["iso", "HH:nn"]
    frame = source_frame(run, step, refs)
    parts = []
    for ref, layout in zip(refs, layouts if len(refs) > 1 or ";" in step.argument("format", "") else [layouts[0]]):
        try:
            iso, bad = parse_layout(frame[ref], layout)
        except DateFormatError as error:
            raise SpecRunError(step, str(error), "arguments") from None
        if bad.any():
            run.findings += alg.report_values(frame, ref, bad, "SPEC-DATE-FORMAT", layout=layout,
                                              variable=step.variable)
        parts.append(iso)
    return parts[0] if len(parts) == 1 else combine_date_time(parts[0], parts[1])


# ------------------------------------------------------------------------------------ identifiers
def derive_usubjid(run: DomainRun, step: Step) -> pd.Series:
    """STUDYID-<col1>-<col2>...: the study id and the named columns joined by `separator` (default -)."""
    separator = step.argument("separator", "-")
    out = alg._char(run.target.index, run.mapping.study.studyid)
    for ref in step.source_variables:
        out = out + separator + alg._text(run.column(ref, step))
    return out


def registry_arm(run: DomainRun, step: Step) -> pd.Series:
    """The single planned arm of the registry record (`value` code or label); a finding when not single."""
    arm = alg.registry_arm(run.registry)
    if arm.count != 1 and "arm" not in run.flags:
        run.flags.add("arm")
        run.findings.append(finding("SDTM-DM-ARM-NOT-SINGLE", "registry.json:armsInterventionsModule.armGroups",
                                    [arm.label], count=arm.count, label=arm.label))
    return alg.hardcode_no_ct(run.target, arm.code if step.value.lower() == "code" else arm.label)


# ------------------------------------------------------------------------------ per-subject dates
def derive_first_dtc(run: DomainRun, step: Step) -> pd.Series:
    if step.source:
        current, dates, by = _raw_dates(run, step)
        return alg.derive_first_dtc(current, dates, dates.columns[-1], by)
    frame, name = other_domain(run, step, source_columns(step)[0])
    return alg.derive_first_dtc(run.target, frame, name, key_list(step.argument("by"), ("USUBJID",)))


def derive_last_dtc(run: DomainRun, step: Step) -> pd.Series:
    if step.source:
        current, dates, by = _raw_dates(run, step)
        return alg.derive_last_dtc(current, dates, [c for c in dates.columns if c.startswith("_dtc")], by)
    pairs = [other_domain(run, step, ref) for ref in step.source_variables]
    frame = pairs[0][0]
    return alg.derive_last_dtc(run.target, frame, [name for _, name in pairs], key_list(step.argument("by"), ("USUBJID",)))


def _raw_dates(run: DomainRun, step: Step) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """A raw dataset's date columns (`source`, `source_variable`, each in its `format` layout) beside the
    subject keys (`by`, default the source's subject column) of the raw rows and of the current records:
    reference dates straight from raw data (RFXSTDTC = first dose date of the exposure form), as sdtm.oak
    derives them, so DM needs no domain built before it."""
    raw = run.raw.get(step.source)
    if raw is None:
        raise SpecRunError(step, f"no raw dataset {step.source!r} (raw datasets: {', '.join(run.raw)})", "source")
    declared = run.mapping.source(step.source)
    by = key_list(step.argument("by"), (declared.subject,) if declared is not None and declared.subject else ())
    if not by:
        raise SpecRunError(step, "by=<subject column> is needed to read dates from a raw dataset", "arguments")
    missing = [k for k in by if k not in raw.columns]
    if missing:
        raise SpecRunError(step, f"raw dataset {step.source!r} has no column {', '.join(missing)}", "arguments")
    layouts = [f.strip() or "iso" for f in step.argument("format", "iso").split(";")]
    dates = raw[list(by)].copy()
    for n, ref in enumerate(step.source_variables):
        if ref not in raw.columns:
            raise SpecRunError(step, f"raw dataset {step.source!r} has no column {ref!r}", "source_variable")
        layout = layouts[min(n, len(layouts) - 1)]
        try:
            iso, bad = parse_layout(raw[ref], layout)
        except DateFormatError as error:
            raise SpecRunError(step, str(error), "arguments") from None
        if bad.any():
            run.findings += alg.report_values(raw, ref, bad, "SPEC-DATE-FORMAT", layout=layout, variable=step.variable)
        dates[f"_dtc{n}"] = iso
    current = pd.DataFrame({k: run.column(k, step) for k in by}, index=run.target.index)
    return current, dates, by


def derive_last_contact(run: DomainRun, step: Step) -> pd.Series:
    """The latest date any raw dataset holds for the subject: every column the spec reads with
    assign_datetime, in its layout (the last known contact, e.g. RFPENDTC without an end-of-study date)."""
    by = key_list(step.argument("by"), ("SUBJID",))
    layouts: dict[str, str] = {}
    for other in run.mapping.steps:
        if other.algorithm.lower() == "assign_datetime":
            for ref, layout in zip(other.source_variables[:1], [other.argument("format", "iso").split(";")[0]]):
                layouts.setdefault(ref, layout.strip() or "iso")
    dates = [
        rows[list(by)].assign(_dtc=parse_layout(rows[column], layouts[column])[0])
        for rows in run.raw.values() if all(k in rows.columns for k in by)
        for column in layouts if column in rows.columns
    ]
    if not dates:
        return alg._char(run.target.index)
    return alg.derive_last_dtc(run.target, pd.concat(dates, ignore_index=True), ("_dtc",), by)


def derive_age(run: DomainRun, step: Step) -> pd.Series:
    birth, reference = source_columns(step, 2)
    return alg.derive_age(run.column(birth, step), run.column(reference, step))


def derive_study_day(run: DomainRun, step: Step) -> pd.Series:
    return alg.derive_study_day(run.column(source_columns(step)[0], step),
                                run.column(step.argument("reference", "DM.RFSTDTC"), step))


def derive_epoch(run: DomainRun, step: Step) -> pd.Series:
    return alg.derive_epoch(run.column(source_columns(step)[0], step),
                            run.column(step.argument("first", "DM.RFXSTDTC"), step),
                            run.column(step.argument("last", "DM.RFXENDTC"), step))


def derive_seq(run: DomainRun, step: Step) -> pd.Series:
    order = key_list(step.argument("order"))
    frame = run.target
    missing = [c for c in order if c not in frame.columns]
    if missing:
        raise SpecRunError(step, f"derive_seq orders by {missing}, which this domain does not hold yet", "arguments")
    return alg.derive_seq(frame, key_list(step.argument("by"), ("USUBJID",)), order)


def derive_blfl(run: DomainRun, step: Step) -> pd.Series:
    result, dtc = (other_domain(run, step, ref)[1] for ref in source_columns(step, 2))
    return alg.derive_blfl(run.target, result, dtc, run.column(step.argument("reference", "DM.RFSTDTC"), step),
                           key_list(step.argument("by"), ("USUBJID",)), key_list(step.argument("order")))


def assign_visitnum(run: DomainRun, step: Step) -> pd.Series:
    ref = source_columns(step)[0]
    visits = run.mapping.visits
    schedule = dict(zip(visits["visit"], pd.to_numeric(visits["VISITNUM"]).astype("float64")))
    values, found = alg.assign_visitnum(source_frame(run, step, [ref]), ref, schedule)
    run.findings += found
    return values


def assign_visit(run: DomainRun, step: Step) -> pd.Series:
    """VISIT of the collected visit from the `visits` table (its name as submitted, e.g. `Week 2` -> `WEEK 2`);
    a visit the table does not list keeps its collected name (assign_visitnum reports it)."""
    ref = source_columns(step)[0]
    visits = run.mapping.visits
    names = dict(zip(visits["visit"], visits["VISIT"])) if "VISIT" in visits.columns else {}
    collected = alg._text(run.column(ref, step))
    return collected.map(names).where(collected.isin(list(names)), collected).astype(object)


# ------------------------------------------------------------------------------ findings results
def derive_std_result(run: DomainRun, step: Step) -> tuple[pd.Series, pd.Series]:
    """(--STRESC, --STRESN) of a collected result times `factor` (a column, e.g. TEST.factor)."""
    ref = source_columns(step)[0]
    frame = source_frame(run, step, [ref])
    return alg.derive_std_result(frame, ref, run.column(step.argument("factor", "TEST.factor"), step))


def derive_nrind(run: DomainRun, step: Step) -> pd.Series:
    refs = source_columns(step, 3)
    return alg.derive_nrind(source_frame(run, step, refs), *refs)


def derive_toxgr(run: DomainRun, step: Step) -> pd.Series:
    """The CTCAE grade of (--STRESN, --STNRLO, --STNRHI) from the test catalogue's ctcae_* columns."""
    names = [other_domain(run, step, ref)[1] for ref in source_columns(step, 3)]
    by = step.argument("by", "")
    tests = run.mapping.tests
    grading = tests[tests["ctcae_direction"] != ""].drop_duplicates(by)
    grading = pd.DataFrame({
        by: grading[by], "direction": grading["ctcae_direction"], "scale": grading["ctcae_scale"],
        **{f"grade{g}": pd.to_numeric(grading[f"ctcae_grade{g}"].replace("", None), errors="coerce")
           for g in (2, 3, 4)}})
    return alg.derive_toxgr(run.target, *names, grading, by=by)


def report(run: DomainRun, step: Step) -> None:
    """A finding (`rule` argument) per distinct value of the source column on the rows of the condition."""
    ref = source_columns(step)[0]
    mask = run.condition(step)
    frame = source_frame(run, step, [ref])
    run.findings += alg.report_values(frame, ref, mask if mask is not None else pd.Series(True, index=frame.index),
                                      step.argument("rule"))


def not_submitted(run: DomainRun, step: Step) -> None:
    """A raw column the study does not submit (declared, so that `spec check` knows it was considered); with
    a `source` and no column, a whole raw dataset read for reference only (e.g. a DM extract whose dates
    other steps read): its rows are accounted as rejected with the step's comment as the reason."""
    if step.source and not step.source_variables:
        table = run.raw.get(step.source)
        if table is None:
            raise SpecRunError(step, f"no raw dataset {step.source!r} (raw datasets: {', '.join(run.raw)})", "source")
        reason = f"not submitted: {step.comment or 'read for reference only'}"
        run.rejected.append(alg.reject(table, pd.Series(True, index=table.index), reason))


ALGORITHMS: dict[str, Callable[[DomainRun, Step], object]] = {
    "hardcode_no_ct": hardcode_no_ct, "hardcode_ct": hardcode_ct, "assign_no_ct": assign_no_ct,
    "assign_ct": assign_ct, "assign_numeric": assign_numeric, "assign_datetime": assign_datetime, "copy": copy,
    "derive_usubjid": derive_usubjid, "registry_arm": registry_arm, "derive_first_dtc": derive_first_dtc,
    "derive_last_dtc": derive_last_dtc, "derive_last_contact": derive_last_contact, "derive_age": derive_age,
    "derive_study_day": derive_study_day, "derive_epoch": derive_epoch, "derive_seq": derive_seq,
    "derive_blfl": derive_blfl, "assign_visitnum": assign_visitnum, "assign_visit": assign_visit, "derive_std_result": derive_std_result,
    "derive_nrind": derive_nrind, "derive_toxgr": derive_toxgr, "report": report, "not_submitted": not_submitted,
}

__all__ = ["ALGORITHMS", "DOMAIN_STEPS", "RecordSet"]
