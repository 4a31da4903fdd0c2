"""The in-memory study mapping specification: what a spec folder or workbook says, as typed records.

A `StudyMapping` gathers everything study-specific: the study facts (`StudyInfo`), the raw sources to read,
the mapping steps (one per target variable, in execution order), the study controlled terminology
(collected value -> submission value per codelist or per sponsor map), the value-level catalogue of
findings tests (units, factors, grading), the visit schedule, the trial design (elements and arms), and the
SDTM metadata the outputs follow (`StudySpec`). Readers in `trialbridge.converters.readers.spec_files` build it; `mappings.spec.engine`
runs it. Every record keeps the spec location it came from, so a problem is reported at file:row:column.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from trialbridge.mappings.study import StudyInfo
from trialbridge.schemas.native import FormSchema
from trialbridge.schemas.sdtm_spec import StudySpec


@dataclass(frozen=True)
class SpecLocation:
    """Where a spec record was written: `mappings.csv` row 12 (header = row 1), or a workbook sheet."""

    file: str
    row: int
    aliases: tuple[tuple[str, str], ...] = ()  # spec column -> the column of the file as written (sdtm.oak's names)

    def at(self, column: str = "") -> str:
        column = dict(self.aliases).get(column, column)
        return f"{self.file}:{self.row}" + (f":{column}" if column else "")


@dataclass(frozen=True)
class Source:
    """One raw dataset the study reads: a file and how to read it."""

    name: str  # the raw dataset name the steps use, e.g. sdtm.oak's "MD1"
    file: str  # path relative to the input folder
    format: str = "csv"  # csv | xlsx | sas7bdat | xpt | odm | redcap | native
    delimiter: str = ","
    decimal: str = "."
    encoding: str = "utf-8"
    sheet: str = ""  # xlsx sheet, or the ODM item group / REDCap instrument
    subject: str = ""  # the column that names the subject
    schema: str = ""  # optional JSON Schema of one row (relative to the spec folder)
    rename: tuple[tuple[str, str], ...] = ()  # (column as exported, name the spec uses), e.g. MODIFY -> CMMODIFY
    where: SpecLocation = SpecLocation("sources.csv", 0)
    site: str = ""  # the column that names the subject's site
    enrols: bool = False  # the dataset enrols subjects (one row per subject: the subject register)
    form: FormSchema | None = field(default=None, compare=False)  # the row schema, read and checked


@dataclass(frozen=True)
class Step:
    """One mapping step: fill `variable` of `domain` with `algorithm` applied to its sources."""

    domain: str
    variable: str  # target variable(s) (";" separated for algorithms with several results) or "" for a domain step
    algorithm: str
    source: str = ""  # the raw dataset (or SDTM domain) a record set starts from
    source_variable: str = ""  # source column(s), ";" separated; DOMAIN.VAR names an SDTM column
    codelist: str = ""
    value: str = ""
    condition: str = ""
    arguments: tuple[tuple[str, str], ...] = ()
    comment: str = ""
    where: SpecLocation = SpecLocation("mappings.csv", 0)

    def argument(self, name: str, default: str = "") -> str:
        return dict(self.arguments).get(name, default)

    @property
    def variables(self) -> list[str]:
        return [v.strip() for v in self.variable.split(";") if v.strip()]

    @property
    def source_variables(self) -> list[str]:
        return [v.strip() for v in self.source_variable.split(";") if v.strip()]


@dataclass(frozen=True)
class StudyMapping:
    """A whole study mapping specification, read and cross-checked."""

    study: StudyInfo
    sources: tuple[Source, ...]
    steps: tuple[Step, ...]
    ct: pd.DataFrame  # codelist_code, term_code, term_value, collected_value, ... (sdtm.oak study CT columns)
    tests: pd.DataFrame  # value-level catalogue of findings tests (code, unit, factor, --TESTCD, ...)
    visits: pd.DataFrame  # visit (as collected), VISITNUM, VISIT, VISITDY, window, TVSTRL, TVENRL, planned
    sdtm: StudySpec  # the SDTM metadata of every dataset the study writes
    origin: str = ""  # the folder or workbook it was read from
    registry: str = ""  # the registry record file, relative to the input folder ("" = none)
    extra: dict[str, str] = field(default_factory=dict)
    elements: pd.DataFrame = field(default_factory=pd.DataFrame)  # ETCD, ELEMENT, TESTRL, TEENRL, TEDUR, EXDOSE
    arms: pd.DataFrame = field(default_factory=pd.DataFrame)  # ARMCD, ARM, TAETORD, ETCD, EPOCH, TABRANCH, TATRANS

    def source(self, name: str) -> Source | None:
        return next((s for s in self.sources if s.name == name), None)

    @property
    def domains(self) -> list[str]:
        """The domains the steps build, in the order they are first named (the execution order)."""
        return list(dict.fromkeys(step.domain for step in self.steps))

    def steps_of(self, domain: str) -> list[Step]:
        return [step for step in self.steps if step.domain == domain]

    def epoch_dates(self) -> dict[str, str]:
        """Per domain, the date variable its `derive_epoch` step reads (`AE.AESTDTC` -> AESTDTC): the date
        EPOCH is taken from SE by once the trial design is built."""
        found: dict[str, str] = {}
        for step in self.steps:
            if step.algorithm == "derive_epoch" and step.source_variables and step.domain not in found:
                found[step.domain] = step.source_variables[0].rpartition(".")[2]
        return found

    def value_map(self, name: str) -> dict[str, str]:
        """Collected value -> submission value for one codelist (or sponsor map) of the study CT."""
        rows = self.ct[self.ct["codelist_code"] == name]
        rows = rows[rows["collected_value"] != ""]
        return dict(zip(rows["collected_value"], rows["term_value"]))
