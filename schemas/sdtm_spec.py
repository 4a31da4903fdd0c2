"""The study's SDTM specification: SDTMIG 3.4 metadata + CDISC CT + `sdtm/study-spec.json` -> `StudySpec`.

The SDTMIG variable table (`standards/sdtmig-3.4/Variables.csv`) says what every variable is (label,
type, order, core, role, codelists). The study specification (`sdtm/study-spec.json`) only names which
variables each dataset carries and how the study fills them (origin, source, method, comment, a codelist
choice where SDTMIG lists several). The LB value-level metadata comes from the lab test catalogue
`sdtm/lab-tests.json`; the SUPP-- value-level metadata from the qualifiers listed in the study
specification. Nothing about a variable is written twice: the XPT writer, the checks and define.xml all
read this one `StudySpec`.

The CDISC SDTM controlled terminology (`standards/ct/SDTM_Terminology_2025-03-28.txt`) is read once into
a `Terminology`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from typing import Any, Sequence

import pandas as pd

from trialbridge.schemas.sdtm_model import class_variable

CT_VERSION = "2025-03-28"
SDTMIG_VERSION = "3.4"

ORIGINS: frozenset[str] = frozenset({"Collected", "Derived", "Assigned", "Protocol", "Predecessor"})
SPONSOR_CODELIST = "SPONSOR"  # a study-spec codelist value: the study's own terms (no CDISC codelist exists)
SUPP_MODEL = "SUPPQUAL"  # the SDTMIG rows every SUPP-- dataset takes its variables from


def _text(*parts: str) -> str:
    return resources.files("trialbridge.schemas").joinpath(*parts).read_text(encoding="utf-8-sig")


def _exists(*parts: str) -> bool:
    return resources.files("trialbridge.schemas").joinpath(*parts).is_file()


def _read_table(*parts: str, sep: str = ",") -> pd.DataFrame:
    path = resources.files("trialbridge.schemas").joinpath(*parts)
    with resources.as_file(path) as local:
        return pd.read_csv(local, sep=sep, dtype=str, keep_default_na=False, encoding="utf-8-sig")


# --------------------------------------------------------------------------------------------- SDTMIG
@lru_cache(maxsize=1)
def sdtmig_variables() -> pd.DataFrame:
    """The SDTMIG 3.4 Variables.csv, every cell a string ("" where empty)."""
    return _read_table("standards", "sdtmig-3.4", "Variables.csv")


@lru_cache(maxsize=1)
def sdtmig_datasets() -> pd.DataFrame:
    """The SDTMIG 3.4 Datasets.csv (class, name, label, structure), every cell a string."""
    return _read_table("standards", "sdtmig-3.4", "Datasets.csv")


# ---------------------------------------------------------------------------------------- terminology
class Terminology:
    """The CDISC SDTM controlled terminology of one release, looked up by codelist C-code."""

    def __init__(self, table: pd.DataFrame) -> None:
        heads = table[table["Codelist Code"] == ""]
        terms = table[table["Codelist Code"] != ""]
        self._names = dict(zip(heads["Code"], heads["Codelist Name"]))
        self._short = dict(zip(heads["Code"], heads["CDISC Submission Value"]))
        self._extensible = dict(zip(heads["Code"], heads["Codelist Extensible (Yes/No)"] == "Yes"))
        keys = list(zip(terms["Codelist Code"], terms["CDISC Submission Value"]))
        self._codes = dict(zip(keys, terms["Code"]))
        self._preferred = dict(zip(keys, terms["NCI Preferred Term"]))
        self._values = {
            code: frozenset(values)
            for code, values in terms.groupby("Codelist Code", sort=False)["CDISC Submission Value"]
        }
        self._terms = terms
        self._names_by_codelist: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    def _known(self, codelist: str) -> str:
        if codelist not in self._names:
            raise KeyError(f"codelist {codelist!r} is not in CDISC SDTM CT {CT_VERSION}")
        return codelist

    def has_codelist(self, codelist: str) -> bool:
        return codelist in self._names

    def codelist_name(self, codelist: str) -> str:
        """The codelist's name, e.g. C66731 -> "Sex"."""
        return self._names[self._known(codelist)]

    def codelist_short_name(self, codelist: str) -> str:
        """The codelist's CDISC submission value, e.g. C66731 -> "SEX"."""
        return self._short[self._known(codelist)]

    def is_extensible(self, codelist: str) -> bool:
        return self._extensible[self._known(codelist)]

    def submission_values(self, codelist: str) -> set[str]:
        return set(self._values.get(self._known(codelist), frozenset()))

    def term_code(self, codelist: str, value: str) -> str:
        """The NCI C-code of a submission value in a codelist, "" if the value is not in it."""
        return self._codes.get((self._known(codelist), value), "")

    def _term_names(self, codelist: str) -> tuple[dict[str, str], dict[str, str]]:
        """(casefolded submission value -> value, casefolded synonym or NCI preferred term -> value) of a
        codelist; a name that two terms share is left out (it decides nothing)."""
        if codelist not in self._names_by_codelist:
            rows = self._terms[self._terms["Codelist Code"] == codelist]
            values = dict(zip(rows["CDISC Submission Value"].str.casefold(), rows["CDISC Submission Value"]))
            names = pd.concat([
                pd.DataFrame({"name": rows["CDISC Synonym(s)"].str.split(";"), "value": rows["CDISC Submission Value"]})
                .explode("name"),
                pd.DataFrame({"name": rows["NCI Preferred Term"], "value": rows["CDISC Submission Value"]}),
            ], ignore_index=True)
            names["name"] = names["name"].fillna("").str.strip().str.casefold()
            names = names[names["name"] != ""].drop_duplicates()
            unique = names.drop_duplicates("name", keep=False)
            self._names_by_codelist[codelist] = (values, dict(zip(unique["name"], unique["value"])))
        return self._names_by_codelist[codelist]

    def match(self, codelist: str, text: str) -> tuple[str, str]:
        """The submission value a collected text stands for in `codelist`, and how it was known: the value
        in another case ("case"), else the one term whose CDISC synonym or NCI preferred term it is
        ("synonym", "preferred term"); ("", "") when none or several terms fit."""
        values, names = self._term_names(self._known(codelist))
        key = text.strip().casefold()
        if key in values:
            return values[key], "case"
        if key in names:
            value = names[key]
            preferred = self.decode(codelist, value).casefold() == key
            return value, "NCI preferred term" if preferred else "CDISC synonym"
        return "", ""

    def decode(self, codelist: str, value: str) -> str:
        """The NCI preferred term of a submission value, "" if the value is not in the codelist."""
        return self._preferred.get((self._known(codelist), value), "")


@lru_cache(maxsize=1)
def terminology() -> Terminology:
    """The CDISC SDTM CT release `CT_VERSION`, parsed once."""
    return Terminology(_read_table("standards", "ct", f"SDTM_Terminology_{CT_VERSION}.txt", sep="\t"))


# --------------------------------------------------------------------------------------- study spec
@dataclass(frozen=True)
class Variable:
    """One variable of one dataset as the study uses it."""

    dataset: str
    name: str
    label: str
    type: str  # "Char" | "Num"
    order: float  # SDTMIG's order; a variable the SDTM model adds sits between two (schemas/sdtm_model.py)
    core: str  # "Req" | "Exp" | "Perm"
    role: str
    codelist: str  # NCI C-code of the CDISC codelist the study uses, "" if none
    origin: str  # "Collected" | "Derived" | "Assigned" | "Protocol" | "Predecessor"
    source: str  # Collected: "<form file> <column>"; Predecessor: "<DATASET>.<VARIABLE>" copied; else ""
    method: str  # MethodDef id for Derived, else ""
    comment: str  # CommentDef text, else ""
    pages: str = ""  # Collected: annotated CRF pages (acrf.pdf) holding the field, space-separated, "" if none
    sponsor_terms: bool = False  # the study's own terms (no CDISC codelist): define.xml lists the values used


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    cls: str
    structure: str
    keys: tuple[str, ...]
    variables: tuple[Variable, ...]

    @property
    def names(self) -> list[str]:
        """The variable names in SDTMIG order: the column order of the dataset."""
        return [v.name for v in self.variables]

    def variable(self, name: str) -> Variable:
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(f"{self.name} does not carry {name}")


@dataclass(frozen=True)
class ValueLevel:
    """One value-level entry: `variable` when `where_variable` = `where_value` (e.g. LBORRES for PLAT).

    `type` is the Define-XML data type of the value ("text", "integer", "float", "date", ...), `unit`
    the unit the value is expressed in ("" if none). `codelist`, `source` and `comment` (optional,
    default "") play the same part as on `Variable`.
    """

    dataset: str
    variable: str
    where_variable: str
    where_value: str
    type: str
    label: str
    unit: str
    origin: str
    method: str
    codelist: str = ""
    source: str = ""
    comment: str = ""
    pages: str = ""


@dataclass(frozen=True)
class StudySpec:
    datasets: dict[str, Dataset]  # every dataset the study writes, in output order (DM first)
    value_level: tuple[ValueLevel, ...]
    methods: dict[str, str]  # MethodDef id -> description
    parents: dict[str, str] = field(default_factory=dict)  # SUPP-- dataset -> parent domain

    def dataset(self, name: str) -> Dataset:
        try:
            return self.datasets[name.upper()]
        except KeyError:
            raise KeyError(f"the study writes no dataset {name!r}") from None

    def values_of(self, dataset: str, variable: str | None = None) -> tuple[ValueLevel, ...]:
        """The value-level entries of one dataset (optionally of one variable), in declared order."""
        return tuple(
            v for v in self.value_level
            if v.dataset == dataset and (variable is None or v.variable == variable)
        )

    def qualifiers(self, supp: str) -> tuple[ValueLevel, ...]:
        """The QVAL value-level entries of a SUPP-- dataset, one per QNAM."""
        return self.values_of(supp, "QVAL")

    def supp_qvals(self, supp: str) -> list[tuple[str, str, str, str]]:
        """`to_supp` arguments for a SUPP-- dataset: (QNAM, QLABEL, column, QORIG) with column = QNAM."""
        return [(q.where_value, q.label, q.where_value, q.origin) for q in self.qualifiers(supp)]


def _order(text: str) -> float:
    number = float(text)
    return int(number) if number.is_integer() else number


def _variable(dataset: str, row: pd.Series, use: dict[str, Any]) -> Variable:
    codelists = [c.strip() for c in row["CDISC CT Codelist Code(s)"].split(";") if c.strip()]
    codelist = use.get("codelist", codelists[0] if codelists else "")
    sponsor_terms = codelist == SPONSOR_CODELIST
    return Variable(
        dataset=dataset,
        name=row["Variable Name"],
        label=row["Variable Label"],
        type=row["Type"],
        order=_order(row["Variable Order"]),
        core=row["Core"],
        role=row["Role"],
        codelist="" if sponsor_terms else codelist,
        origin=use["origin"],
        source=use.get("source", ""),
        method=use.get("method", ""),
        comment=use.get("comment", ""),
        pages=str(use.get("pages", "")),
        sponsor_terms=sponsor_terms,
    )


def _build_dataset(name: str, model: str, uses: list[dict[str, Any]], keys: list[str],
                   label: str | None = None) -> Dataset:
    ig = sdtmig_variables()
    rows = ig[ig["Dataset Name"] == model].set_index("Variable Name", drop=False)
    meta = sdtmig_datasets().set_index("Dataset Name").loc[model]
    added = {u["name"]: class_variable(ig, rows, model, meta["Class"], u["name"])
             for u in uses if u["name"] not in rows.index}
    if any(row is not None for row in added.values()):
        rows = pd.concat([rows, pd.DataFrame([r for r in added.values() if r is not None])
                          .set_index("Variable Name", drop=False)])
    unknown = [u["name"] for u in uses if u["name"] not in rows.index]
    if unknown:
        raise ValueError(f"the spec: {name} names variables SDTMIG {SDTMIG_VERSION} {model} lacks: {unknown}")
    bad = [u["name"] for u in uses if u["origin"] not in ORIGINS]
    if bad:
        raise ValueError(f"the spec: {name} variables with an origin outside {sorted(ORIGINS)}: {bad}")
    variables = sorted((_variable(name, rows.loc[u["name"]], u) for u in uses), key=lambda v: v.order)
    missing_keys = [k for k in keys if k not in {v.name for v in variables}]
    if missing_keys:
        raise ValueError(f"the spec: {name} keys {missing_keys} are not variables of the dataset")
    return Dataset(
        name=name,
        label=label or meta["Dataset Label"],
        cls=meta["Class"],
        structure=meta["Structure"],
        keys=tuple(keys),
        variables=tuple(variables),
    )


def _supp_value_level(name: str, qualifiers: list[dict[str, Any]]) -> list[ValueLevel]:
    too_long = [q["qnam"] for q in qualifiers if len(q["qnam"]) > 8 or len(q["qlabel"]) > 40]
    if too_long:
        raise ValueError(f"the spec: {name} QNAM over 8 or QLABEL over 40 characters: {too_long}")
    return [
        ValueLevel(
            dataset=name, variable="QVAL", where_variable="QNAM", where_value=q["qnam"],
            type=q.get("type", "text"), label=q["qlabel"], unit=q.get("unit", ""),
            origin=q["origin"], method=q.get("method", ""), codelist=q.get("codelist", ""),
            source=q.get("source", ""), comment=q.get("comment", ""), pages=str(q.get("pages", "")),
        )
        for q in qualifiers
    ]


def _declared_value_level(entries: list[dict[str, Any]]) -> list[ValueLevel]:
    return [
        ValueLevel(
            dataset=e["dataset"], variable=e["variable"], where_variable=e["where_variable"],
            where_value=e["where_value"], type=e.get("type", "text"), label=e.get("label", ""),
            unit=e.get("unit", ""), origin=e["origin"], method=e.get("method", ""),
            codelist=e.get("codelist", ""), source=e.get("source", ""), comment=e.get("comment", ""),
            pages=str(e.get("pages", "")),
        )
        for e in entries
    ]


def _test_value_level(tests: pd.DataFrame, orres_sources: dict[str, str]) -> list[ValueLevel]:
    """Per test of the study's test catalogue: --ORRES (as collected, in the CDISC spelling of the local
    unit) and --STRESN (standard unit), in the test's domain: its `domain` column, else the prefix of the
    catalogue's --TESTCD column (whose prefixed columns name the values in every domain)."""
    codes = [c for c in tests.columns if c.endswith("TESTCD") and len(c) == 8]
    if tests.empty or not codes:
        return []
    own = codes[0][:2]
    home = tests["domain"].where(tests["domain"] != "", own) if "domain" in tests.columns else pd.Series(own, index=tests.index)
    return [entry for domain in dict.fromkeys(home)
            for entry in _domain_test_value_level(tests.loc[home == domain], own, domain, orres_sources)]


def _domain_test_value_level(tests: pd.DataFrame, own: str, domain: str,
                             orres_sources: dict[str, str]) -> list[ValueLevel]:
    tests = tests.drop_duplicates(f"{own}TESTCD")
    codes = [f"{own}TESTCD"]
    column = lambda suffix: tests.get(f"{own}{suffix}", pd.Series("", index=tests.index))  # noqa: E731
    kinds = tests.get("result_type", pd.Series("", index=tests.index))
    collected = [
        ValueLevel(dataset=domain, variable=f"{domain}ORRES", where_variable=f"{domain}TESTCD", where_value=code,
                   type="text", label=label, unit=unit, origin="Collected", method="",
                   source=orres_sources.get(domain, ""))
        for code, label, unit in zip(tests[codes[0]], column("TEST"), column("ORRESU"))
    ]
    standard = [
        ValueLevel(dataset=domain, variable=f"{domain}STRESN", where_variable=f"{domain}TESTCD", where_value=code,
                   type=kind if kind in ("integer", "float") else "float", label=label, unit=unit,
                   origin="Derived", method=f"MT.{domain}STRESN")
        for code, label, unit, kind in zip(tests[codes[0]], column("TEST"), column("STRESU"), kinds)
    ]
    return [entry for pair in zip(collected, standard) for entry in pair]


def _ts_value_level() -> list[ValueLevel]:
    """TSVAL per TSPARMCD (`sdtm/ts-parameters.json` value_level): its data type and, for a parameter whose
    values are CDISC terms, its codelist (SDTMIG 3.4 TS codetable)."""
    entries = json.loads(_text("sdtm", "ts-parameters.json")).get("value_level", {})
    terms = terminology()
    names = {terms.term_code("C67152", n): n for n in terms.submission_values("C67152")}  # TSPARM by NCI code
    return [
        ValueLevel(dataset="TS", variable="TSVAL", where_variable="TSPARMCD", where_value=parmcd,
                   type=e.get("type", "text"), label=names.get(terms.term_code("C66738", parmcd), parmcd), unit="",
                   origin=e.get("origin", "Protocol"),
                   method=e.get("method", ""), codelist=e.get("codelist", ""), comment=e.get("comment", ""))
        for parmcd, e in entries.items()
    ]



def _records(frame: pd.DataFrame | None) -> list[dict[str, str]]:
    if frame is None:
        return []
    return [{k: str(v).strip() for k, v in row.items() if str(v).strip() != ""} for row in frame.to_dict("records")]


def _uses(rows: list[dict[str, str]], dataset: str) -> list[dict[str, Any]]:
    return [{"name": r["variable"], **{k: r[k] for k in ("origin", "source", "method", "comment", "codelist") if k in r}}
            for r in rows if r.get("dataset", "").upper() == dataset]


def spec_from_tables(tables: dict[str, pd.DataFrame], orres_sources: dict[str, str] | None = None) -> StudySpec:
    """The study's SDTM specification from a study spec's tables: `datasets` (output order; SUPP-- rows name
    their `parent`; `SUPPQUAL` gives the variables every SUPP-- dataset takes), `variables`, `supp`,
    `value_level`, `methods` and the findings test catalogue `tests`. Raises ValueError on an inconsistency."""
    variables = _records(tables.get("variables"))
    datasets_rows = _records(tables.get("datasets"))
    supp_rows = _records(tables.get("supp"))
    keys_of = {r["dataset"].upper(): [k.strip() for k in r.get("keys", "").split(";") if k.strip()] for r in datasets_rows}
    supp_uses, supp_keys = _uses(variables, SUPP_MODEL), keys_of.get(SUPP_MODEL, [])
    datasets: dict[str, Dataset] = {}
    parents: dict[str, str] = {}
    value_level: list[ValueLevel] = []
    for row in datasets_rows:
        name = row["dataset"].upper()
        if name == SUPP_MODEL:
            continue
        if row.get("parent"):
            parent = row["parent"].upper()
            if not supp_uses:
                raise ValueError(f"{name}: a SUPP-- dataset needs the SUPPQUAL variables (dataset SUPPQUAL in variables)")
            datasets[name] = _build_dataset(name, SUPP_MODEL, supp_uses, supp_keys,
                                            label=row.get("label") or f"Supplemental Qualifiers for {parent}")
            parents[name] = parent
            qualifiers = [{**{k: v for k, v in q.items() if k != "dataset"}} for q in supp_rows
                          if q.get("dataset", "").upper() == name]
            value_level += _supp_value_level(name, qualifiers)
        else:
            uses = _uses(variables, name)
            if not uses:
                raise ValueError(f"{name}: the variables table lists no variable for it")
            datasets[name] = _build_dataset(name, name, uses, keys_of.get(name, []), label=row.get("label") or None)
    value_level += _declared_value_level(_records(tables.get("value_level")))
    tests = tables.get("tests")
    if tests is not None and not tests.empty:
        value_level += _test_value_level(tests.fillna(""), orres_sources or {})
    if "TS" in datasets:
        value_level += _ts_value_level()
    methods = {r["id"]: r.get("description", "") for r in _records(tables.get("methods"))}
    undefined = sorted({v.method for d in datasets.values() for v in d.variables if v.method}
                       .union(v.method for v in value_level if v.method) - set(methods))
    if undefined:
        raise ValueError(f"methods used but not described in the methods table: {undefined}")
    return StudySpec(datasets=datasets, value_level=tuple(value_level), methods=methods, parents=parents)


# Text continuation columns: SDTMIG 3.4 TS assumption 8 continues a TSVAL over 200 characters in TSVAL1,
# TSVAL2, ... placed right after TSVAL. SDTMIG's metadata lists no such variables, so the study adds the
# ones the data needs, each copying TSVAL's facts (type, role, origin) with a numbered label.
CONTINUED_VARIABLES: dict[tuple[str, str], str] = {("TS", "TSVAL"): "Parameter Value {n}"}


def continuation_names(variable: str, columns: Sequence[str]) -> list[str]:
    """The continuation columns of `variable` present in `columns`, in order: TSVAL1, TSVAL2, ..."""
    found = []
    while f"{variable}{len(found) + 1}" in columns:
        found.append(f"{variable}{len(found) + 1}")
    return found


def with_continuations(spec: StudySpec, dataset: str, columns: Sequence[str]) -> StudySpec:
    """`spec` with the continuation variables (TSVAL1 ...) that `columns` hold declared after their base."""
    ds = spec.datasets.get(dataset)
    if ds is None:
        return spec
    variables: list[Variable] = []
    for variable in ds.variables:
        variables.append(variable)
        template = CONTINUED_VARIABLES.get((dataset, variable.name))
        if template is None:
            continue
        for n, name in enumerate(continuation_names(variable.name, columns), start=1):
            variables.append(replace(variable, name=name, label=template.format(n=n), core="Perm",
                                     comment=f"Continuation of {variable.name} (characters beyond 200), "
                                             "SDTMIG 3.4 TS assumption 8."))
    if len(variables) == len(ds.variables):
        return spec
    return replace(spec, datasets={**spec.datasets, dataset: replace(ds, variables=tuple(variables))})
