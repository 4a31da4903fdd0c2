"""A spec step + its domain run -> the step's inputs: the source columns side by side (a `pattern` argument
capturing part of each value), the step's value and `{COLUMN}` templates, the value map it names, how
unmapped values meet CDISC CT, key lists and `DOMAIN.VAR` references to a domain built before.
"""
from __future__ import annotations

import re

import pandas as pd

from trialbridge.mappings.sdtm import algorithms as alg
from trialbridge.mappings.spec.engine import DomainRun, SpecRunError
from trialbridge.mappings.spec.model import Step

SOURCE_FILE, SOURCE_LINE = alg.PROVENANCE


def source_frame(run: DomainRun, step: Step, refs: list[str]) -> pd.DataFrame:
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


def source_columns(step: Step, count: int = 1) -> list[str]:
    """The step's source variables, exactly `count` of them."""
    refs = step.source_variables
    if len(refs) != count:
        raise SpecRunError(step, f"{step.algorithm} reads {count} source variable(s); the step names {len(refs)}",
                           "source_variable")
    return refs


TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


def step_value(run: DomainRun, step: Step) -> str:
    """The step's `value` with {STUDYID} filled in."""
    return step.value.replace("{STUDYID}", run.mapping.study.studyid)


def filled_template(run: DomainRun, step: Step, text: str) -> pd.Series:
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


def value_map(run: DomainRun, step: Step) -> dict[str, str] | None:
    """The study's value map the step names (`map=` argument, else its codelist), None when none."""
    name = step.argument("map") or step.codelist
    return run.mapping.value_map(name) or None if name else None


CT_MATCHING = ("cdisc", "exact")


def matches_package(run: DomainRun, step: Step) -> bool:
    """Whether values the study CT does not map are matched to the CDISC terms they name (`match=` on the
    step, else the study's `ct_match`, else `cdisc`) or kept exactly as collected (`exact`)."""
    how = (step.argument("match") or run.mapping.study.extra.get("ct_match", "") or "cdisc").strip().lower()
    if how not in CT_MATCHING:
        raise SpecRunError(step, f"match={how!r}: expected cdisc or exact (also the study's ct_match)", "arguments")
    return how == "cdisc"


def key_list(text: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Names separated by commas or semicolons (`default` when there are none)."""
    return tuple(k.strip() for k in text.replace(";", ",").split(",") if k.strip()) or default


def other_domain(run: DomainRun, step: Step, ref: str) -> tuple[pd.DataFrame, str]:
    """A `DOMAIN.VAR` reference as (that domain's table, VAR); the current domain means its table so far."""
    prefix, _, name = ref.partition(".")
    frame = run.frame(prefix) if name else None
    if frame is None or name not in frame.columns:
        raise SpecRunError(step, f"{ref!r} must name a variable of this domain or of a domain built before it "
                                 f"(DOMAIN.VARIABLE)", "source_variable")
    return frame, name
