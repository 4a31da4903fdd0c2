"""`trialbridge synth`: (number of subjects, seed) -> a native record folder that follows the REVALLO protocol.

The folder holds `registry.json` (the REVALLO registry record, `registry`) and the six CRF CSVs,
columns in the order of the form schemas. Subjects are simulated in fixed-size blocks, each with its
own random generator derived from (seed, block number) with `numpy.random.SeedSequence`, and appended
to the CSVs block by block, so memory stays flat whatever the number of subjects and the output is
byte-identical for the same (subjects, seed). The course of a block (enrolment, visits, doses, IMWG
responses, events) comes from `course`; laboratory rows from `labs`; adverse event rows
from `adverse_events`; this module turns the course into the other forms and writes the files.
"""
from __future__ import annotations

import math
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd

from trialbridge.converters.synth.adverse_events import NO_DATE, adverse_event_rows
from trialbridge.converters.synth.course import simulate_course
from trialbridge.converters.synth.protocol import (
    CHANGE_REASONS, CONDITIONING, DEATH_CAUSES, DOSES, EOS_REASONS, EOT_REASONS, Course,
)
from trialbridge.converters.synth.labs import INCLUSION, RESPONSES, VISITS, laboratory_rows
from trialbridge.converters.synth.registry import FRENCH_SITES, Site, build_registry, registry_json_text
from trialbridge.converters.synth.forms import FORM_NAMES, form_columns, form_file, spec_files
from trialbridge.schemas.native import REGISTRY_FILE

BLOCK_SIZE = 10_000
SUBJECTS_PER_SITE = 500
MAX_SUBJECTS = 999_999  # SUBJID holds 3 to 6 digits


def sites_for(n_subjects: int) -> tuple[Site, ...]:
    """REVALLO's site alone for a small study; about one French site per 500 subjects beyond that."""
    return FRENCH_SITES[: min(len(FRENCH_SITES), max(1, math.ceil(n_subjects / SUBJECTS_PER_SITE)))]


def block_rng(seed: int, block: int) -> np.random.Generator:
    """The random generator of one block, independent of every other block."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))


def write_synthetic(out: Path, n_subjects: int, seed: int) -> dict[str, int]:
    """Write a complete native record folder for `n_subjects` into the existing folder `out`.

    Returns the number of records written per file (data rows for the CSVs, 1 for `registry.json`).
    """
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, int) or not 1 <= n_subjects <= MAX_SUBJECTS:
        raise ValueError(f"n_subjects must be a whole number from 1 to {MAX_SUBJECTS}, got {n_subjects!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a whole number >= 0, got {seed!r}")
    out = Path(out)
    sites = sites_for(n_subjects)
    counts = {form_file(form): 0 for form in FORM_NAMES}
    with ExitStack() as stack:
        files: dict[str, TextIO] = {
            form: stack.enter_context(open(out / form_file(form), "w", encoding="utf-8", newline=""))
            for form in FORM_NAMES
        }
        for form, handle in files.items():
            handle.write(",".join(form_columns(form)) + "\n")
        for block, first in enumerate(range(0, n_subjects, BLOCK_SIZE)):
            rng = block_rng(seed, block)
            course = simulate_course(rng, np.arange(first, min(first + BLOCK_SIZE, n_subjects)), n_subjects)
            for form, table in block_forms(course, sites, n_subjects, rng).items():
                table.to_csv(files[form], header=False, index=False, lineterminator="\n")
                counts[form_file(form)] += len(table)
    (out / REGISTRY_FILE).write_text(registry_json_text(build_registry(n_subjects, sites)), encoding="utf-8")
    counts[REGISTRY_FILE] = 1
    counts.update(write_spec(out / "spec"))
    return counts


def write_spec(folder: Path) -> dict[str, int]:
    """REVALLO's study mapping specification (the generator's package data, `revallo_spec/`) into `folder`:
    its tables (rows written per table) and the row schemas of its forms (`forms/`, 1 per schema)."""
    folder.mkdir()
    written = {}
    for entry in sorted(spec_files().iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".csv"):
            (folder / entry.name).write_bytes(entry.read_bytes())
            written[f"spec/{entry.name}"] = entry.read_text(encoding="utf-8").count("\n") - 1
    forms = spec_files().joinpath("forms")
    (folder / "forms").mkdir()
    for entry in sorted(forms.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            (folder / "forms" / entry.name).write_bytes(entry.read_bytes())
            written[f"spec/forms/{entry.name}"] = 1
    return written


def block_forms(course: Course, sites: tuple[Site, ...], n_subjects: int,
                rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """The six forms of one block, in FORM_NAMES order."""
    subjects = subject_keys(course, sites, n_subjects)
    tables = {
        "enrolment": enrolment_rows(course, subjects),
        "dosing": dosing_rows(course, subjects),
        "adverse_events": adverse_event_rows(course.events, subjects, course.eos, rng),
        "response": response_rows(course, subjects),
        "laboratory": laboratory_rows(rng, course.labs, subjects),
        "end_of_study": end_of_study_rows(course, subjects),
    }
    return {form: tables[form] for form in FORM_NAMES}


def subject_keys(course: Course, sites: tuple[Site, ...], n_subjects: int) -> pd.DataFrame:
    """SITEID, SUBJID, SITENAME and SITECTRY of each subject of the block (sites in turn)."""
    site = course.global_index % len(sites)
    width = max(3, len(str(n_subjects)))
    return pd.DataFrame({
        "SITEID": np.array([s.siteid for s in sites], dtype=object)[site],
        "SUBJID": np.char.zfill((course.global_index + 1).astype(str), width).astype(object),
        "SITENAME": np.array([s.facility for s in sites], dtype=object)[site],
        "SITECTRY": np.array([s.country_code for s in sites], dtype=object)[site],
    })


def dates(days: np.ndarray) -> np.ndarray:
    """Day numbers -> 'YYYY-MM-DD' ('' for no date)."""
    text = np.asarray(days).astype("datetime64[D]").astype(str).astype(object)
    text[np.asarray(days) == NO_DATE] = ""
    return text


def _yes_no(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, "Y", "N").astype(object)


def enrolment_rows(course: Course, subjects: pd.DataFrame) -> pd.DataFrame:
    """Consent, demography (birth month and year only, as French CRFs hold it), transplant and disease."""
    birth_year, birth_month = np.divmod(course.birth_month, 12)
    brthdat = np.char.add(np.char.add("UNK-", np.char.zfill((birth_month + 1).astype(str), 2)),
                          np.char.add("-", birth_year.astype(str)))
    prior = course.prior_lenalidomide_months
    table = subjects.assign(
        CONSDAT=dates(course.consent),
        BRTHDAT=brthdat.astype(object),
        AGE=course.age.astype(str).astype(object),
        SEX=np.where(course.male, "M", "F").astype(object),
        TXDAT=dates(course.transplant),
        DONOR=np.where(course.related_donor, "RELATED", "UNRELATED").astype(object),
        HLAMATCH=np.where(course.mismatched, "9/10", "10/10").astype(object),
        CONDIT=CONDITIONING[course.conditioning].astype(object),
        DISSTAT=RESPONSES[course.labs.response[:, INCLUSION]].astype(object),
        RESPLINE=course.response_line.astype(str).astype(object),
        PRLEN=_yes_no(prior > 0),
        PRLENMO=np.where(prior > 0, prior.astype(str), "").astype(object),
        LENREFR="N",
    )
    return table[form_columns("enrolment")]


def dosing_rows(course: Course, subjects: pd.DataFrame) -> pd.DataFrame:
    """One row per period of constant dose; each period ends the day before the next one starts."""
    used = course.period_start != NO_DATE
    subject, slot = np.nonzero(used)
    following = np.concatenate([course.period_start[:, 1:], np.full((len(used), 1), NO_DATE)], axis=1)
    end = np.where(following != NO_DATE, following - 1, course.eot[:, None])
    table = pd.DataFrame({
        "SITEID": subjects["SITEID"].to_numpy()[subject],
        "SUBJID": subjects["SUBJID"].to_numpy()[subject],
        "EXLINE": (slot + 1).astype(str).astype(object),
        "EXSTDAT": dates(course.period_start[subject, slot]),
        "EXENDAT": dates(end[subject, slot]),
        "DOSE": DOSES[course.period_level[subject, slot]].astype(str).astype(object),
        "DOSEU": "mg/j",
        "CHGREAS": CHANGE_REASONS[course.period_reason[subject, slot]].astype(object),
    })
    return table[form_columns("dosing")]


def response_rows(course: Course, subjects: pd.DataFrame) -> pd.DataFrame:
    """IMWG responses at inclusion, every third month and at the end-of-treatment visit."""
    subject, visit = np.nonzero(course.response_row)
    table = pd.DataFrame({
        "SITEID": subjects["SITEID"].to_numpy()[subject],
        "SUBJID": subjects["SUBJID"].to_numpy()[subject],
        "VISIT": np.array(VISITS, dtype=object)[visit],
        "RSDAT": dates(course.labs.visit_date[subject, visit]),
        "RESP": RESPONSES[course.labs.response[subject, visit]].astype(object),
    })
    return table[form_columns("response")]


def end_of_study_rows(course: Course, subjects: pd.DataFrame) -> pd.DataFrame:
    """End of treatment (last dose and why), end of study, death."""
    dead = course.death != NO_DATE
    table = subjects[["SITEID", "SUBJID"]].assign(
        EOTDAT=dates(course.eot),
        EOTREAS=EOT_REASONS[course.eot_reason].astype(object),
        EOSDAT=dates(course.eos),
        EOSSTAT=np.where(course.eos_reason == 0, "COMPLETED", "DISCONTINUED").astype(object),
        EOSREAS=EOS_REASONS[course.eos_reason].astype(object),
        DTHDAT=dates(course.death),
        DTHCAUSE=DEATH_CAUSES[course.death_cause].astype(object),
        DTHTRM=np.where(dead, np.where(course.death_cause <= 5, "Y", "N"), "").astype(object),
    )
    return table[form_columns("end_of_study")]
