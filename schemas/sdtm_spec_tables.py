"""A study mapping specification's tables (datasets, variables, supp, value_level, methods, tests) + SDTMIG 3.4
metadata + CDISC CT -> the study's `StudySpec`: each dataset's variables in SDTMIG order with the study's
origins, and the value-level entries (SUPP-- qualifiers, declared entries, test results, TS parameters).
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from trialbridge.schemas.sdtm_model import class_variable
from trialbridge.schemas.sdtm_spec import (
    ORIGINS, SPONSOR_CODELIST, SUPP_MODEL, Dataset, StudySpec, ValueLevel, Variable,
)
from trialbridge.schemas.sdtm_standards import SDTMIG_VERSION, schema_text, sdtmig_datasets, sdtmig_variables, terminology


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


def build_dataset(name: str, model: str, uses: list[dict[str, Any]], keys: list[str],
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


def ts_value_level() -> list[ValueLevel]:
    """TSVAL per TSPARMCD (`sdtm/ts-parameters.json` value_level): its data type and, for a parameter whose
    values are CDISC terms, its codelist (SDTMIG 3.4 TS codetable)."""
    entries = json.loads(schema_text("sdtm", "ts-parameters.json")).get("value_level", {})
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
            datasets[name] = build_dataset(name, SUPP_MODEL, supp_uses, supp_keys,
                                            label=row.get("label") or f"Supplemental Qualifiers for {parent}")
            parents[name] = parent
            qualifiers = [{**{k: v for k, v in q.items() if k != "dataset"}} for q in supp_rows
                          if q.get("dataset", "").upper() == name]
            value_level += _supp_value_level(name, qualifiers)
        else:
            uses = _uses(variables, name)
            if not uses:
                raise ValueError(f"{name}: the variables table lists no variable for it")
            datasets[name] = build_dataset(name, name, uses, keys_of.get(name, []), label=row.get("label") or None)
    value_level += _declared_value_level(_records(tables.get("value_level")))
    tests = tables.get("tests")
    if tests is not None and not tests.empty:
        value_level += _test_value_level(tests.fillna(""), orres_sources or {})
    if "TS" in datasets:
        value_level += ts_value_level()
    methods = {r["id"]: r.get("description", "") for r in _records(tables.get("methods"))}
    undefined = sorted({v.method for d in datasets.values() for v in d.variables if v.method}
                       .union(v.method for v in value_level if v.method) - set(methods))
    if undefined:
        raise ValueError(f"methods used but not described in the methods table: {undefined}")
    return StudySpec(datasets=datasets, value_level=tuple(value_level), methods=methods, parents=parents)
