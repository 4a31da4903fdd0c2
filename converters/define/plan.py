"""Planning define.xml: StudySpec + facts of the written datasets + StudyInfo -> Plan (with findings).

Every dataset written gets an ItemGroupDef plan, every variable an ItemDef whose shape comes from what
was written and whose label, role and origin come from SDTMIG and the study specification (Define-XML
2.1 section 4.3.2 origins: Collected with its CRF field and pages, Assigned for dictionary coding,
Predecessor, Derived with a method, Protocol); CDISC codelists list the terms actually used with their
NCI C-codes; value-level metadata (LB by LBTESTCD, SUPP-- QVAL by QNAM, ...) gets ValueListDefs and
WhereClauseDefs; every gap (a method or codelist the spec lacks, a dictionary without a version) is a finding.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import pandas as pd

from trialbridge.converters.define.facts import DatasetFacts, is_iso8601_variable
from trialbridge.converters.define.model import (
    ACRF_FILE, ACRF_LEAF, ASCII_COMMENT, ASCII_NOTE, GUIDE_LEAF, ORIGIN_SOURCE, CodeListPlan, GroupPlan, ItemPlan,
    Origin, Plan, RefPlan, WherePlan, codelist_oid, dictionary_codelist, dictionary_of, item_oid, oid_part,
    value_shape, variable_shape,
)
from trialbridge.converters.define.study import MEDDRA, StudyInfo
from trialbridge.schemas.define_measure import coded_values
from trialbridge.schemas.findings import finding
from trialbridge.schemas.sdtm_spec import (
    CT_VERSION, SUPP_MODEL, Dataset, StudySpec, ValueLevel, Variable, terminology,
)


def make_origin(origin: str, source: str, pages: str = "") -> Origin:
    """Define-XML 2.1 section 4.3.2: Collected names its CRF field (and annotated CRF pages when the
    specification gives them), Predecessor the variable whose value it copies."""
    description = ""
    if origin == "Collected" and source:
        file, _, column = source.partition(" ")
        description = f"CRF form {file}, column {column}" if column else f"CRF form {file}"
    elif origin == "Predecessor":
        description = source
    return Origin(origin, ORIGIN_SOURCE.get(origin, "Sponsor"), description,
                  " ".join(pages.split()) if origin == "Collected" else "")


def coded_origin(dictionary: str, version: str) -> Origin:
    """A term coded with an external dictionary: Assigned by the sponsor (Define-XML 2.1 section 4.3.2,
    CDISC's SDTM example: AEDECOD and the MedDRA hierarchy are Assigned)."""
    return Origin("Assigned", "Sponsor", f"Coded with {dictionary} {version}".rstrip())


class _Planner:
    """Builds the Plan from the specification and the facts, collecting findings on the way."""

    def __init__(self, spec: StudySpec, facts: Mapping[str, DatasetFacts], study: StudyInfo) -> None:
        self.spec, self.facts, self.study = spec, facts, study
        self.plan = Plan()
        self.ct_usage: dict[str, dict[str, None]] = {}  # C-code -> values used (ordered set)
        self.comment_by_text: dict[str, str] = {}
        self.unversioned: dict[str, list[str]] = {}  # dictionary -> variables left without its reference

    # -- helpers -----------------------------------------------------------------------------
    def _comment(self, texts: Iterable[str], owner: str) -> str:
        texts = [t for t in texts if t]
        if not texts:
            return ""
        text = "\n\n".join(texts)
        if text not in self.comment_by_text:
            oid = ASCII_COMMENT if texts == [ASCII_NOTE] else f"COM.{owner}"
            self.comment_by_text[text] = oid
            self.plan.comments[oid] = text
        return self.comment_by_text[text]

    def _method(self, method: str, location: str, origin: str) -> str:
        if not method:
            if origin == "Derived":
                self.plan.findings.append(finding("DEFINE-METHOD-MISSING", location, (), item=location))
            return ""
        if method not in self.spec.methods:
            self.plan.findings.append(finding("DEFINE-METHOD-MISSING", location, (method,), item=location))
            return ""
        self.plan.methods.setdefault(method, self.spec.methods[method])
        return method

    def _use_ct(self, c_code: str, values: Iterable[str], location: str) -> str:
        if not c_code:
            return ""
        if not terminology().has_codelist(c_code):
            self.plan.findings.append(finding("DEFINE-CODELIST-UNKNOWN", location, (c_code,), codelist=c_code,
                                              ct=CT_VERSION))
            return ""
        values = list(coded_values(pd.Series(list(values), dtype=object), terminology().submission_values(c_code)))
        if not values:
            return ""
        used = self.ct_usage.setdefault(c_code, {})
        used.update(dict.fromkeys(values))
        return codelist_oid(c_code)

    def _use_sponsor_terms(self, dataset: Dataset, variable: Variable, values: Iterable[str]) -> str:
        """A codelist of the study's own terms (no CDISC codelist exists, e.g. AEREL): the values used."""
        values = sorted(set(values))
        if not values:
            return ""
        oid = f"CL.{dataset.name}.{variable.name}"
        self.plan.codelists[oid] = CodeListPlan(
            oid=oid, name=f"{variable.label} (sponsor-defined)", data_type="text",
            items=tuple((value, value, "", False) for value in values))
        return oid

    def _use_dictionary(self, name: str, data_type: str, location: str) -> str:
        version = self.study.dictionaries.get(name, "")
        if not version:
            self.unversioned.setdefault(name, []).append(location)
            return ""
        codelist = dictionary_codelist(name, data_type, version)
        self.plan.codelists.setdefault(codelist.oid, codelist)
        return codelist.oid

    # -- datasets --------------------------------------------------------------------------------
    def run(self) -> Plan:
        unknown = sorted(set(self.facts) - set(self.spec.datasets))
        for name in unknown:
            self.plan.findings.append(finding("DEFINE-DATASET-NOT-IN-SPEC", name.lower(), (name,), dataset=name))
        for name, dataset in self.spec.datasets.items():
            if name in self.facts:
                self._dataset(dataset, self.facts[name])
        self._codelists()
        for name, locations in self.unversioned.items():
            self.plan.findings.append(finding("DEFINE-DICTIONARY-VERSION", locations[0], locations, dictionary=name,
                                              item=", ".join(loc.split(":", 1)[1] for loc in locations)))
        if len(self.study.meddra_versions) > 1:
            self.plan.findings.append(finding(
                "DEFINE-DICTIONARY-VERSIONS", "ae", self.study.meddra_versions,
                dictionary=MEDDRA, used=self.study.meddra_version))
        return self.plan

    def _dataset(self, dataset: Dataset, facts: DatasetFacts) -> None:
        parent = self.spec.parents.get(dataset.name, "")
        model = SUPP_MODEL if parent else dataset.name
        declared = {v.name for v in dataset.variables}
        for extra in [c for c in facts.variables if c not in declared]:
            self.plan.findings.append(finding("DEFINE-VARIABLE-NOT-IN-SPEC", f"{dataset.name.lower()}:{extra}",
                                              (extra,), dataset=dataset.name, variable=extra))
        written = [v for v in dataset.variables if v.name in facts.variables]
        for missing in [v.name for v in dataset.variables if v.name not in facts.variables]:
            self.plan.findings.append(finding("DEFINE-VARIABLE-NOT-WRITTEN", f"{dataset.name.lower()}:{missing}",
                                              (missing,), dataset=dataset.name, variable=missing))
        value_lists = self._value_lists(dataset, facts)
        refs = []
        for order, variable in enumerate(written, start=1):
            location = f"{dataset.name.lower()}:{variable.name}"
            var_facts = facts.variables[variable.name]
            oid = item_oid(dataset.name, variable.name)
            dictionary = dictionary_of(dataset, variable, model)
            value_list, sliced = value_lists.get(variable.name, ("", False))
            origin = make_origin(variable.origin, variable.source, variable.pages)
            if dictionary:
                data_type = "integer" if var_facts.type == "Num" else "text"
                cl = self._use_dictionary(dictionary, data_type, location) if var_facts.has_data else ""
                if dictionary == MEDDRA and variable.origin == "Collected":
                    origin = coded_origin(MEDDRA, self.study.meddra_version)
            elif sliced:  # the value-level slices name their own codelists (e.g. DSDECOD by DSCAT)
                cl = ""
            elif variable.sponsor_terms:
                cl = self._use_sponsor_terms(dataset, variable, var_facts.values)
            else:
                cl = self._use_ct(variable.codelist, var_facts.values, location)
            planned = (dict(self.study.planned_kinds).get(" ".join(variable.source.split()), "")
                       if is_iso8601_variable(variable.name) else "")
            data_type, length, digits = variable_shape(var_facts, planned)
            notes = [variable.comment, ASCII_NOTE if variable.name in facts.transliterated else ""]
            self.plan.items[oid] = ItemPlan(
                oid=oid, name=variable.name, label=variable.label, data_type=data_type, length=length,
                significant_digits=digits, origin=origin, codelist_oid=cl,
                comment_oid=self._comment(notes, f"{dataset.name}.{variable.name}"),
                value_list_oid=value_list,
            )
            key = dataset.keys.index(variable.name) + 1 if variable.name in dataset.keys else None
            refs.append(RefPlan(
                item_oid=oid, order=order, mandatory=variable.core == "Req", key_sequence=key,
                method_oid=self._method(variable.method, location, variable.origin), role=variable.role,
                has_no_data=not var_facts.has_data,
            ))
        alias = self.spec.datasets[parent].label if parent in self.spec.datasets else ""
        self.plan.groups.append(GroupPlan(dataset, facts, tuple(refs), domain=parent or dataset.name, alias=alias))

    # -- value level -------------------------------------------------------------------------
    def _value_lists(self, dataset: Dataset, facts: DatasetFacts) -> dict[str, tuple[str, bool]]:
        """ValueListDefs of one dataset: one per described variable, one entry per key value present.

        A variable may be described by several key variables (PRTRT by PRSCAT for the conditioning and by
        PRDECOD for the transplant): its one ValueListDef lists the entries of each in turn.
        Returns variable -> (ValueListDef OID, whether its entries name codelists of their own).
        """
        declared: dict[str, dict[str, dict[str, ValueLevel]]] = {}
        for entry in self.spec.values_of(dataset.name):
            declared.setdefault(entry.variable, {}).setdefault(entry.where_variable, {})[entry.where_value] = entry
        if "QVAL" in facts.variables and "QNAM" in facts.variables:
            declared.setdefault("QVAL", {}).setdefault("QNAM", {})
        oids: dict[str, tuple[str, bool]] = {}
        for variable, by_where in declared.items():
            wheres = [w for w in by_where if variable in facts.variables and w in facts.variables]
            refs: list[RefPlan] = []
            for where in wheres:
                entries, present = by_where[where], facts.where_values(where)
                ordered = [k for k in entries if k in present] + [k for k in present if k not in entries]
                for key in ordered:
                    ref = self._value_ref(dataset, facts, variable, where, key, entries.get(key), len(refs) + 1,
                                          len(wheres) > 1)
                    refs += [ref] if ref is not None else []
            if refs:
                oid = f"VL.{dataset.name}.{variable}"
                self.plan.value_lists[oid] = refs
                oids[variable] = (oid, any(e.codelist for w in wheres for e in by_where[w].values()))
        return oids

    def _value_ref(self, dataset: Dataset, facts: DatasetFacts, variable: str, where: str, key: str,
                   entry: ValueLevel | None, order: int, by_where: bool = False) -> RefPlan | None:
        """One value-level entry; `by_where`: the variable has several key variables, so the ItemDef OID
        names the key variable too (IT.PR.PRTRT.PRSCAT.<value>)."""
        slice_facts = facts.value_level.get((variable, where, key))
        if slice_facts is None:
            return None
        location = f"{dataset.name.lower()}:{variable}:{where}={key}"
        parent_var = dataset.variable(variable)
        if entry is None:  # a key the specification does not describe: describe it from the data
            label = facts.where_labels.get((where, key), "") or key
            origin = facts.where_origins.get((where, key), "") or parent_var.origin
            origin = origin if origin in ORIGIN_SOURCE else parent_var.origin
            entry = ValueLevel(dataset.name, variable, where, key, slice_facts.data_type, label, "", origin,
                               parent_var.method if origin == "Derived" else "")
            self.plan.findings.append(finding("DEFINE-VLM-UNSPECIFIED", location, (key,), dataset=dataset.name,
                                              variable=variable, where=f"{where} = {key}"))
        slice_key = f"{where}.{key}" if by_where else key
        oid = item_oid(dataset.name, variable, slice_key)
        data_type, length, digits = value_shape(entry, slice_facts)
        label = f"{entry.label} ({entry.unit})" if entry.unit else entry.label
        self.plan.items[oid] = ItemPlan(
            oid=oid, name=variable, label=label or key, data_type=data_type, length=length,
            significant_digits=digits, origin=make_origin(entry.origin, entry.source, entry.pages),
            codelist_oid=self._use_ct(entry.codelist, slice_facts.values, location),
            comment_oid=self._comment([entry.comment], f"{dataset.name}.{variable}.{oid_part(slice_key)}"),
        )
        where_oid = f"WC.{dataset.name}.{where}.{oid_part(key)}"
        self.plan.where_clauses[where_oid] = WherePlan(where_oid, item_oid(dataset.name, where), key)
        return RefPlan(
            item_oid=oid, order=order, mandatory=parent_var.core == "Req" and slice_facts.has_data,
            method_oid=self._method(entry.method, location, entry.origin),
            role=parent_var.role if dataset.name in self.spec.parents else "",
            where_clause_oid=where_oid,
        )

    # -- codelists ---------------------------------------------------------------------------
    def _codelists(self) -> None:
        ct = terminology()
        for c_code, used in self.ct_usage.items():
            extensible = ct.is_extensible(c_code)
            items = []
            for value in sorted(used):
                code = ct.term_code(c_code, value)
                if not code:
                    rule = "DEFINE-CT-EXTENDED" if extensible else "DEFINE-CT-TERM-UNKNOWN"
                    self.plan.findings.append(finding(rule, codelist_oid(c_code), (value,), value=value,
                                                      codelist=ct.codelist_name(c_code), c_code=c_code, ct=CT_VERSION))
                items.append((value, ct.decode(c_code, value) or value, code, not code and extensible))
            decoded = any(decode.casefold() != value.casefold() for value, decode, _, _ in items)
            plan = CodeListPlan(oid=codelist_oid(c_code), name=ct.codelist_name(c_code), data_type="text",
                                c_code=c_code, items=tuple(items), decoded=decoded)
            self.plan.codelists[plan.oid] = plan
        self.plan.codelists = dict(sorted(self.plan.codelists.items()))


def plan_define(spec: StudySpec, datasets: Mapping[str, DatasetFacts], study: StudyInfo,
                reviewers_guide: str = "") -> Plan:
    """What define.xml will say, from the specification and the facts of the written datasets; it refers to
    the annotated CRF when an origin names CRF pages, and to the reviewer's guide file `reviewers_guide`."""
    plan = _Planner(spec, datasets, study).run()
    if any(item.origin.pages for item in plan.items.values()):
        plan.documents[ACRF_LEAF] = (ACRF_FILE, "Annotated Case Report Form")
    if reviewers_guide:
        plan.documents[GUIDE_LEAF] = (reviewers_guide, "Clinical Study Data Reviewer's Guide")
    return plan

