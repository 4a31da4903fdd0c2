"""Registry design, outcomes, arms, interventions and eligibility (API v2 modules) -> the PRS elements
study_design (interventional, observational or expanded access), primary/secondary/other_outcome,
arm_group, intervention and eligibility, in the schema's order.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from lxml import etree

from trialbridge.mappings.prs_codes import (
    ALLOCATION, ARM_TYPE, ASSIGNMENT, INTERVENTION_TYPE, MASKED, OBSERVATIONAL_MODEL, PHASE, PURPOSE, RETENTION,
    SAMPLING, SEX, STUDY_TYPE, TIMING,
)
from trialbridge.mappings.prs_elements import Omitted, add_block, add_text, items_at, yes_no
from trialbridge.mappings.registry.common import value_at


def _interventional(design: etree._Element, d: Mapping[str, Any], arms: int, omitted: Omitted) -> None:
    info = d.get("designInfo", {})
    phase = PHASE.get(tuple(d.get("phases", [])))
    purpose, allocation = PURPOSE.get(info.get("primaryPurpose", "")), ALLOCATION.get(info.get("allocation", ""))
    if omitted.lacks("study_design/interventional_design", "designModule",
                     (("designInfo.primaryPurpose", purpose), ("phases", phase), ("designInfo.allocation", allocation))):
        return
    element = etree.SubElement(design, "interventional_design")
    add_text(element, "interventional_subtype", purpose)
    add_text(element, "phase", phase)
    add_text(element, "assignment", ASSIGNMENT.get(info.get("interventionModel", "")))
    add_block(element, "model_description", info.get("interventionModelDescription"))
    add_text(element, "allocation", allocation)
    masking = info.get("maskingInfo", {})
    if masking.get("masking"):
        who = set(masking.get("whoMasked", []))
        add_text(element, "no_masking", yes_no(masking["masking"] == "NONE"))
        for code, tag in MASKED:
            add_text(element, tag, yes_no(code in who))
    add_block(element, "masking_description", masking.get("maskingDescription"))
    add_text(element, "number_of_arms", str(arms) if arms else None)


def _observational(design: etree._Element, d: Mapping[str, Any], groups: int, omitted: Omitted) -> None:
    info = d.get("designInfo", {})
    model, timing = OBSERVATIONAL_MODEL.get(info.get("observationalModel", "")), TIMING.get(info.get("timePerspective", ""))
    retention = RETENTION.get(value_at(d, "bioSpec.retention", ""))
    if omitted.lacks("study_design/observational_design", "designModule",
                     (("designInfo.observationalModel", model), ("designInfo.timePerspective", timing),
                      ("bioSpec.retention", retention))):
        return
    element = etree.SubElement(design, "observational_design")
    add_text(element, "observational_study_design", model)
    add_text(element, "biospecimen_retention", retention)
    add_block(element, "biospecimen_description", value_at(d, "bioSpec.description"))
    add_text(element, "timing", timing)
    add_text(element, "number_of_groups", str(groups))
    add_text(element, "patient_registry", yes_no(d.get("patientRegistry")))
    duration = re.match(r"^\s*(\d+)\s+(Year|Month|Week|Day)s?\s*$", str(d.get("targetDuration", "")), re.I)
    if duration:
        add_text(element, "target_duration_quantity", duration.group(1))
        add_text(element, "target_duration_units", duration.group(2).capitalize() + "s")
    elif d.get("targetDuration"):
        omitted.note("observational_design/target_duration_*", f"designModule.targetDuration as a number of years, months, "
                                                                f"weeks or days ('{d['targetDuration']}')")


def study_design(study: etree._Element, p: Mapping[str, Any], omitted: Omitted) -> None:
    d = p.get("designModule", {})
    kind = d.get("studyType", "")
    if kind not in STUDY_TYPE:
        omitted.note("study_design", "designModule.studyType")
        return
    design = etree.SubElement(study, "study_design")
    add_text(design, "study_type", STUDY_TYPE[kind])
    arms = len(items_at(p, "armsInterventionsModule.armGroups"))
    if kind == "INTERVENTIONAL":
        _interventional(design, d, arms, omitted)
    elif kind == "OBSERVATIONAL":
        _observational(design, d, arms, omitted)
    else:
        types = d.get("expandedAccessTypes", {})
        if types:
            add_text(design, "no_exp_acc_type", yes_no(not any(types.values())))
            for key in ("individual", "intermediate", "treatment"):
                add_text(design, f"exp_acc_type_{key}", yes_no(bool(types.get(key))))


def outcomes(study: etree._Element, p: Mapping[str, Any]) -> None:
    for kind, tag in (("primaryOutcomes", "primary_outcome"), ("secondaryOutcomes", "secondary_outcome"),
                      ("otherOutcomes", "other_outcome")):
        for outcome in items_at(p, f"outcomesModule.{kind}"):
            if not outcome.get("measure"):
                continue
            element = etree.SubElement(study, tag)
            add_text(element, "outcome_measure", outcome["measure"])
            add_text(element, "outcome_time_frame", outcome.get("timeFrame"))
            add_block(element, "outcome_description", outcome.get("description"))


def arms_and_interventions(study: etree._Element, p: Mapping[str, Any]) -> None:
    interventional = value_at(p, "designModule.studyType") == "INTERVENTIONAL"
    for group in items_at(p, "armsInterventionsModule.armGroups"):
        element = etree.SubElement(study, "arm_group")
        add_text(element, "arm_group_label", group.get("label", "")) if group.get("label") else \
            etree.SubElement(element, "arm_group_label")
        if interventional:
            add_text(element, "arm_type", ARM_TYPE.get(group.get("type", "")))
        add_block(element, "arm_group_description", group.get("description"))
    for item in items_at(p, "armsInterventionsModule.interventions"):
        element = etree.SubElement(study, "intervention")
        add_text(element, "intervention_type", INTERVENTION_TYPE.get(item.get("type", "")))
        etree.SubElement(element, "intervention_name").text = str(item.get("name", ""))
        add_block(element, "intervention_description", item.get("description"))
        for label in item.get("armGroupLabels", []):
            add_text(element, "arm_group_label", label)
        for name in item.get("otherNames", []):
            add_text(element, "intervention_other_name", name)


def eligibility(study: etree._Element, p: Mapping[str, Any], omitted: Omitted) -> None:
    e = p.get("eligibilityModule", {})
    if not e:
        return
    if omitted.lacks("eligibility", "eligibilityModule", (("eligibilityCriteria", e.get("eligibilityCriteria")),
                                                          ("sex", bool(e.get("sex")) and e.get("sex") in SEX))):
        return
    element = etree.SubElement(study, "eligibility")
    add_block(element, "study_population", e.get("studyPopulation"))
    add_text(element, "sampling_method", SAMPLING.get(e.get("samplingMethod", "")))
    add_block(element, "criteria", e["eligibilityCriteria"])
    add_text(element, "healthy_volunteers", yes_no(e.get("healthyVolunteers")))
    add_text(element, "gender", SEX[e["sex"]])
    add_text(element, "gender_based", yes_no(e.get("genderBased")))
    add_block(element, "gender_description", e.get("genderDescription"))
    add_text(element, "minimum_age", e.get("minimumAge") or "N/A")
    add_text(element, "maximum_age", e.get("maximumAge") or "N/A")
