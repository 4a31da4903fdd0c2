"""SDTM SUPPAE (+ AE) -> per AE record: the verbatim term with its continuations, the qualifiers as R5
supportingInfo and the notes (AEACN, an AEREL no suspect entity holds, each other qualifier).
"""
from __future__ import annotations

import pandas as pd

from trialbridge.mappings.fhir.common import FhirInput, coding, concept, sdtm_columns, system
from trialbridge.mappings.fhir.observation import number_text

SYSTEM_QUALIFIER = "urn:trialbridge:suppae"  # + "/<qnam>": the values of a SUPPAE qualifier (sponsor-defined)
SUPP_TERM = "AETERM"  # SUPPAE AETERM1, AETERM2...: the verbatim term beyond 200 characters


def suppae(inp: FhirInput, ae: pd.DataFrame) -> pd.DataFrame:
    """SUPPAE rows with the AE row they qualify (`row`, -1 when none): matched on USUBJID and the value
    of IDVAR in the parent (AESEQ as text for a Num key)."""
    supp = sdtm_columns(inp, "SUPPAE", ("USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QLABEL", "QVAL"))
    supp = supp.loc[supp["QVAL"] != ""].copy()
    supp["row"] = -1
    table = inp.sdtm.get("AE")
    for idvar in supp["IDVAR"].unique():
        if table is None or idvar not in table.columns:
            continue
        values = table[idvar]
        key = number_text(values) if pd.api.types.is_numeric_dtype(values) else values.fillna("").astype(str)
        parents = pd.DataFrame({"USUBJID": ae["USUBJID"].to_numpy(), "IDVARVAL": key.to_numpy(),
                                "parent": range(len(ae))}).drop_duplicates(["USUBJID", "IDVARVAL"])
        rows = supp["IDVAR"] == idvar
        found = supp.loc[rows, ["USUBJID", "IDVARVAL"]].merge(parents, how="left", on=["USUBJID", "IDVARVAL"])
        supp.loc[rows, "row"] = found["parent"].fillna(-1).astype(int).to_numpy()
    return supp


def _per_record(supp: pd.DataFrame, n: int, texts: pd.Series) -> list[list[str]]:
    """The texts of the matched SUPPAE rows, gathered per AE row (SUPPAE order kept)."""
    out: list[list[str]] = [[] for _ in range(n)]
    for row, text in zip(supp["row"], texts):
        if row >= 0:
            out[row].append(text)
    return out


def _continued(supp: pd.DataFrame) -> pd.Series:
    return supp["QNAM"].str.fullmatch(SUPP_TERM + r"\d+")


def verbatim_terms(ae: pd.DataFrame, supp: pd.DataFrame) -> pd.Series:
    """The verbatim term: AETERM and its SUPPAE continuations, joined with a space (SDTM cut at a space)."""
    parts = supp.loc[_continued(supp)].copy()
    parts["order"] = parts["QNAM"].str[len(SUPP_TERM):].astype(int)
    parts = parts.sort_values(["row", "order"], kind="stable")
    tails = _per_record(parts, len(ae), parts["QVAL"])
    return pd.Series([" ".join([head, *tail]) for head, tail in zip(ae["AETERM"], tails)], index=ae.index,
                     dtype=object)


def supporting_info(inp: FhirInput, ae: pd.DataFrame, supp: pd.DataFrame) -> list[list[dict] | None]:
    """Each SUPPAE qualifier of a record (GVHD type, grade, steroid-refractory...) as R5 supportingInfo: a
    coded item, the qualifier's QNAM as a code system in the sponsor's namespace, QVAL its code, QLABEL the text."""
    qualifiers = supp.loc[~_continued(supp)]
    base = system(inp, SYSTEM_QUALIFIER)
    items = [{"itemCodeableConcept": concept(coding(f"{base}/{qnam.lower()}", qval), text=f"{label or qnam}: {qval}")}
             for qnam, label, qval in zip(qualifiers["QNAM"], qualifiers["QLABEL"], qualifiers["QVAL"])]
    return [found or None for found in _per_record(qualifiers, len(ae), pd.Series(items, dtype=object))]


def record_notes(ae: pd.DataFrame, supp: pd.DataFrame, untreated: pd.Series) -> list[list[str]]:
    """AEACN, AEREL when no suspect entity can hold it, then each other SUPPAE qualifier of the record as
    "<QLABEL>: <QVAL>"."""
    qualifiers = supp.loc[~_continued(supp)]
    texts = (qualifiers["QLABEL"].where(qualifiers["QLABEL"] != "", qualifiers["QNAM"]) + ": " + qualifiers["QVAL"])
    notes = _per_record(qualifiers, len(ae), texts)
    return [([f"Action taken with study treatment: {action}"] if action else [])
            + ([f"Relationship to study treatment: {relation} (no study treatment recorded for the subject)"]
               if relation and alone else []) + extra
            for action, relation, alone, extra in zip(ae["AEACN"], ae["AEREL"], untreated, notes)]
