"""The algorithm vocabulary a spec names, bound to the vectorised algorithms of `mappings.sdtm.algorithms`.

Each entry takes the domain run and the step and returns the values of the step's target variable(s)
(one Series, or a tuple for algorithms with several results); domain-level entries (`DOMAIN_STEPS`)
change the run itself (start, stack or de-duplicate record sets, take SUPP-- rows, match a test
catalogue, build a whole dataset from the registry). Names follow sdtm.oak where it has one.
"""
from __future__ import annotations

import re

from typing import Callable

import pandas as pd

from trialbridge.mappings.sdtm import algorithms as alg
from trialbridge.mappings.spec.dates import DateFormatError, combine_date_time, parse_layout
from trialbridge.mappings.spec.engine import DomainRun, RecordSet, SpecRunError
from trialbridge.mappings.spec.model import Step
from trialbridge.schemas.findings import finding

SOURCE_FILE, SOURCE_LINE = alg.PROVENANCE


# ----------------------------------------------------------------------------------------- helpers
def _frame(run: DomainRun, step: Step, refs: list[str]) -> pd.DataFrame:
    """The referenced columns side by side on the current records, with their provenance; with a `pattern`
    argument, each column is the part of the value the pattern's first group captures."""
    target = run.target
    frame = pd.DataFrame({ref: run.column(ref, step) for ref in refs}, index=target.index)
    frame[SOURCE_FILE] = target[SOURCE_FILE]
    frame[SOURCE_LINE] = target[SOURCE_LINE]
    pattern = step.argument("pattern")
    if pattern:
        for ref in refs:
            frame[ref] = _captured(run, step, frame, ref, pattern)
    return frame


def _captured(run: DomainRun, step: Step, frame: pd.DataFrame, ref: str, pattern: str) -> pd.Series:
    """The first group of `pattern` in each value (the whole match without a group); a value the pattern
    does not match becomes empty and is reported, never passed on half-read."""
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise SpecRunError(step, f"pattern {pattern!r} is not a regular expression: {error}", "arguments") from None
    text = alg._text(frame[ref])
    found = text.str.extract(compiled if compiled.groups else re.compile(f"({pattern})"), expand=True)[0]
    missed = (text != "") & found.isna()
    if missed.any():
        run.findings += alg.report_values(frame, ref, missed, "SPEC-PATTERN-NO-MATCH", pattern=pattern,
                                          variable=step.variable)
    return found.fillna("").astype(object)


def _one(step: Step, count: int = 1) -> list[str]:
    refs = step.source_variables
    if len(refs) != count:
        raise SpecRunError(step, f"{step.algorithm} reads {count} source variable(s); the step names {len(refs)}",
                           "source_variable")
    return refs


TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def _value(run: DomainRun, step: Step) -> str:
    return step.value.replace("{STUDYID}", run.mapping.study.studyid)


def _template(run: DomainRun, step: Step, text: str) -> pd.Series:
    """A value written with `{COLUMN}` fields (`01-{PATNUM}`), filled per record; a record where any field
    is empty gets no value (never a half-built identifier)."""
    pieces = TEMPLATE_FIELD.split(text)  # literal, field, literal, field, ...
    index = run.target.index
    out = pd.Series(pieces[0], index=index, dtype=object)
    empty = pd.Series(False, index=index)
    for position, piece in enumerate(pieces[1:], start=1):
        if position % 2:
            values = alg._text(run.column(piece.strip(), step))
            empty |= values == ""
            out = out + values
        else:
            out = out + piece
    return out.where(~empty, "")


def _map(run: DomainRun, step: Step) -> dict[str, str] | None:
    name = step.argument("map") or step.codelist
    return run.mapping.value_map(name) or None if name else None


CT_MATCHING = ("cdisc", "exact")


def _matches_package(run: DomainRun, step: Step) -> bool:
    """Whether values the study CT does not map are matched to the CDISC terms they name (`match=` on the
    step, else the study's `ct_match`, else `cdisc`) or kept exactly as collected (`exact`)."""
    how = (step.argument("match") or run.mapping.study.extra.get("ct_match", "") or "cdisc").strip().lower()
    if how not in CT_MATCHING:
        raise SpecRunError(step, f"match={how!r}: expected cdisc or exact (also the study's ct_match)", "arguments")
    return how == "cdisc"


def _keys(text: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.replace(";", ",").split(",") if k.strip()) or default


def _other(run: DomainRun, step: Step, ref: str) -> tuple[pd.DataFrame, str]:
    """A `DOMAIN.VAR` reference as (that domain's table, VAR); the current domain means its table so far."""
    prefix, _, name = ref.partition(".")
    frame = run.frame(prefix) if name else None
    if frame is None or name not in frame.columns:
        raise SpecRunError(step, f"{ref!r} must name a variable of this domain or of a domain built before it "
                                 f"(DOMAIN.VARIABLE)", "source_variable")
    return frame, name


# ------------------------------------------------------------------------------ assign / hardcode
def hardcode_no_ct(run: DomainRun, step: Step) -> pd.Series:
    value = _value(run, step)
    if TEMPLATE_FIELD.search(value):
        return _template(run, step, value)
    return alg.hardcode_no_ct(run.target, value)


def hardcode_ct(run: DomainRun, step: Step) -> pd.Series:
    return alg.hardcode_ct(run.target, _value(run, step), step.codelist)


def assign_no_ct(run: DomainRun, step: Step) -> pd.Series:
    ref = _one(step)[0]
    return alg.assign_no_ct(_frame(run, step, [ref]), ref, _map(run, step))


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
    ref = _one(step)[0]
    frame = _frame(run, step, [ref])
    frame[ref] = alg._text(frame[ref]).str.strip()  # a blank-only cell is no value
    values, found = alg.assign_ct(frame, ref, step.codelist, _ct_map(run, step, frame[ref]),
                                  step.variables[0] if step.variables else ref, _matches_package(run, step))
    run.findings += found
    return values


def assign_numeric(run: DomainRun, step: Step) -> pd.Series:
    ref = _one(step)[0]
    values, found = alg.assign_numeric(_frame(run, step, [ref]), ref, step.variables[0] if step.variables else ref)
    run.findings += found
    return values


def copy(run: DomainRun, step: Step) -> pd.Series:
    """The column as it is (its type kept): e.g. RFSTDTC = DM.RFXSTDTC."""
    return run.column(_one(step)[0], step)


def assign_datetime(run: DomainRun, step: Step) -> pd.Series:
    """ISO 8601 from a date column (and an optional time column), each in its declared layout (`format`,
    `;`-separated per column: `dd-MMM-yyyy;HH:nn`), partial dates kept partial; bad values reported."""
    refs = step.source_variables
    if not 1 <= len(refs) <= 2:
        raise SpecRunError(step, "assign_datetime reads a date column and optionally a time column", "source_variable")
    layouts = [f.strip() for f in step.argument("format", "iso").split(";")] + ["iso", "HH:nn"]
    frame = _frame(run, step, refs)
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
    frame, name = _other(run, step, _one(step)[0])
    return alg.derive_first_dtc(run.target, frame, name, _keys(step.argument("by"), ("USUBJID",)))


def derive_last_dtc(run: DomainRun, step: Step) -> pd.Series:
    if step.source:
        current, dates, by = _raw_dates(run, step)
        return alg.derive_last_dtc(current, dates, [c for c in dates.columns if c.startswith("_dtc")], by)
    pairs = [_other(run, step, ref) for ref in step.source_variables]
    frame = pairs[0][0]
    return alg.derive_last_dtc(run.target, frame, [name for _, name in pairs], _keys(step.argument("by"), ("USUBJID",)))


def _raw_dates(run: DomainRun, step: Step) -> tuple[pd.DataFrame, pd.DataFrame, tuple[str, ...]]:
    """A raw dataset's date columns (`source`, `source_variable`, each in its `format` layout) beside the
    subject keys (`by`, default the source's subject column) of the raw rows and of the current records:
    reference dates straight from raw data (RFXSTDTC = first dose date of the exposure form), as sdtm.oak
    derives them, so DM needs no domain built before it."""
    raw = run.raw.get(step.source)
    if raw is None:
        raise SpecRunError(step, f"no raw dataset {step.source!r} (raw datasets: {', '.join(run.raw)})", "source")
    declared = run.mapping.source(step.source)
    by = _keys(step.argument("by"), (declared.subject,) if declared is not None and declared.subject else ())
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
    by = _keys(step.argument("by"), ("SUBJID",))
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
    birth, reference = _one(step, 2)
    return alg.derive_age(run.column(birth, step), run.column(reference, step))


def derive_study_day(run: DomainRun, step: Step) -> pd.Series:
    return alg.derive_study_day(run.column(_one(step)[0], step),
                                run.column(step.argument("reference", "DM.RFSTDTC"), step))


def derive_epoch(run: DomainRun, step: Step) -> pd.Series:
    return alg.derive_epoch(run.column(_one(step)[0], step),
                            run.column(step.argument("first", "DM.RFXSTDTC"), step),
                            run.column(step.argument("last", "DM.RFXENDTC"), step))


def derive_seq(run: DomainRun, step: Step) -> pd.Series:
    order = _keys(step.argument("order"))
    frame = run.target
    missing = [c for c in order if c not in frame.columns]
    if missing:
        raise SpecRunError(step, f"derive_seq orders by {missing}, which this domain does not hold yet", "arguments")
    return alg.derive_seq(frame, _keys(step.argument("by"), ("USUBJID",)), order)


def derive_blfl(run: DomainRun, step: Step) -> pd.Series:
    result, dtc = (_other(run, step, ref)[1] for ref in _one(step, 2))
    return alg.derive_blfl(run.target, result, dtc, run.column(step.argument("reference", "DM.RFSTDTC"), step),
                           _keys(step.argument("by"), ("USUBJID",)), _keys(step.argument("order")))


def assign_visitnum(run: DomainRun, step: Step) -> pd.Series:
    ref = _one(step)[0]
    visits = run.mapping.visits
    schedule = dict(zip(visits["visit"], pd.to_numeric(visits["VISITNUM"]).astype("float64")))
    values, found = alg.assign_visitnum(_frame(run, step, [ref]), ref, schedule)
    run.findings += found
    return values


def assign_visit(run: DomainRun, step: Step) -> pd.Series:
    """VISIT of the collected visit from the `visits` table (its name as submitted, e.g. `Week 2` -> `WEEK 2`);
    a visit the table does not list keeps its collected name (assign_visitnum reports it)."""
    ref = _one(step)[0]
    visits = run.mapping.visits
    names = dict(zip(visits["visit"], visits["VISIT"])) if "VISIT" in visits.columns else {}
    collected = alg._text(run.column(ref, step))
    return collected.map(names).where(collected.isin(list(names)), collected).astype(object)


# ------------------------------------------------------------------------------ findings results
def derive_std_result(run: DomainRun, step: Step) -> tuple[pd.Series, pd.Series]:
    """(--STRESC, --STRESN) of a collected result times `factor` (a column, e.g. TEST.factor)."""
    ref = _one(step)[0]
    frame = _frame(run, step, [ref])
    return alg.derive_std_result(frame, ref, run.column(step.argument("factor", "TEST.factor"), step))


def derive_nrind(run: DomainRun, step: Step) -> pd.Series:
    refs = _one(step, 3)
    return alg.derive_nrind(_frame(run, step, refs), *refs)


def derive_toxgr(run: DomainRun, step: Step) -> pd.Series:
    """The CTCAE grade of (--STRESN, --STNRLO, --STNRHI) from the test catalogue's ctcae_* columns."""
    names = [_other(run, step, ref)[1] for ref in _one(step, 3)]
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
    ref = _one(step)[0]
    mask = run.condition(step)
    frame = _frame(run, step, [ref])
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

from trialbridge.mappings.spec.domain_steps import DOMAIN_STEPS  # noqa: E402  (they use the helpers above)

__all__ = ["ALGORITHMS", "DOMAIN_STEPS", "RecordSet"]
