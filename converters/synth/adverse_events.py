"""Adverse events of the synthetic REVALLO generator: simulated events (arrays) -> `adverse_events` rows.

The course simulation (`course`) decides *when* something happens, how severe it is and what
was done with lenalidomide; this module owns *how an EDC would hold it*: the French verbatim term, the
MedDRA coding, seriousness criteria, relationship, outcome, ongoing flag and partial dates.

MedDRA coding. MedDRA is licensed, so only codes found in public sources are used, and a level is left
empty when no public source gave its code (the EDC export then carries the levels the coder filled):

* LLT/PT names and codes: professional AE coding of German AML trials published with
  `DashtiN981/MedDRA` (`data/KI_Projekt_Dauno_AE_Codierung_2022_10_20.csv`,
  `RAG_Models/Dauno_output_v3_PT_enriched.csv`, MedDRA 25): Thrombocytopenia 10043554, Neutropenia
  10029354, Pneumonia 10035664 (LLT Lung infection 10061229), Bronchitis 10006451 (LLT Bronchial infection
  10055078), Cytomegalovirus infection 10011831, Herpes virus infection 10019973 (LLT Herpes viral
  infection NOS 10019971), Sepsis 10040047, Septic shock 10040070, Fatigue 10016256, Rash 10037844 (LLT
  Exanthem 10015585), Deep vein thrombosis 10051055, Nausea 10028813, Pyrexia 10037660 (LLT Fever 10016558).
* Full five-level hierarchies: PhUSE `phuse-org/MedDRAasRDF`, `data/rdf/MedDRA211-CDISCPILOT01-Subset-R.TTL`
  (MedDRA 21.1): Diarrhoea 10012735 / HLT Diarrhoea (excl infective) 10012736 / HLGT Gastrointestinal
  motility and defaecation conditions 10017977; Erythema 10015150 / HLT Erythemas 10015151 / HLGT
  Epidermal and dermal conditions 10014982.
* SOC codes: the same two sources plus a Norwegian SOC table; Immune system disorders 10021428,
  Musculoskeletal and connective tissue disorders 10028395.
* Muscle spasms 10028334: two public repositories (not an official source); Graft versus host disease
  10018651: not found in a public file, kept because the lead asked for GVHD coding (see the report).

MedDRA codes are never reused across versions, and these terms kept their place from 17.0 to 25.0, so
the rows are labelled version 17.0, the version current when REVALLO ran.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trialbridge.converters.synth.forms import form_columns

MEDDRA_VERSION = "17.0"

SOC_BLOOD = ("Blood and lymphatic system disorders", "10005329")
SOC_IMMUNE = ("Immune system disorders", "10021428")
SOC_INFECTIONS = ("Infections and infestations", "10021881")
SOC_GENERAL = ("General disorders and administration site conditions", "10018065")
SOC_SKIN = ("Skin and subcutaneous tissue disorders", "10040785")
SOC_GI = ("Gastrointestinal disorders", "10017947")
SOC_MUSCULO = ("Musculoskeletal and connective tissue disorders", "10028395")
SOC_VASCULAR = ("Vascular disorders", "10047065")


@dataclass(frozen=True)
class Term:
    """One codable adverse event: French verbatim variants and the MedDRA levels an EDC would store."""

    key: str
    verbatims: tuple[str, ...]
    llt: tuple[str, str]
    pt: tuple[str, str]
    soc: tuple[str, str]
    hlt: tuple[str, str] = ("", "")
    hlgt: tuple[str, str] = ("", "")
    relationship: tuple[float, float, float, float, float] = (0.2, 0.4, 0.3, 0.1, 0.0)  # NOT..RELATED
    partial_dates: bool = False  # minor events the site often dates to the month only


TERMS: tuple[Term, ...] = (
    Term("thrombocytopenia", ("Thrombopénie", "Thrombopénie sous lénalidomide", "Baisse des plaquettes"),
         ("Thrombocytopenia", "10043554"), ("Thrombocytopenia", "10043554"), SOC_BLOOD,
         relationship=(0.0, 0.1, 0.4, 0.4, 0.1)),
    Term("neutropenia", ("Neutropénie", "Neutropénie sous lénalidomide", "Baisse des polynucléaires neutrophiles"),
         ("Neutropenia", "10029354"), ("Neutropenia", "10029354"), SOC_BLOOD,
         relationship=(0.0, 0.1, 0.4, 0.4, 0.1)),
    Term("gvhd_acute", ("GVH aiguë cutanée", "GVH aiguë digestive", "GVH aiguë cutanée et digestive",
                        "GVH aiguë hépatique", "Réaction aiguë du greffon contre l'hôte"),
         ("Graft versus host disease", "10018651"), ("Graft versus host disease", "10018651"), SOC_IMMUNE,
         relationship=(0.0, 0.2, 0.6, 0.2, 0.0)),
    Term("gvhd_chronic", ("GVH chronique cutanée", "GVH chronique buccale et oculaire", "GVH chronique hépatique",
                          "GVH chronique sclérodermiforme", "Réaction chronique du greffon contre l'hôte"),
         ("Graft versus host disease", "10018651"), ("Graft versus host disease", "10018651"), SOC_IMMUNE,
         relationship=(0.0, 0.2, 0.6, 0.2, 0.0)),
    Term("cmv", ("Réactivation CMV", "Réplication à CMV", "Virémie CMV positive"),
         ("Cytomegalovirus infection", "10011831"), ("Cytomegalovirus infection", "10011831"), SOC_INFECTIONS,
         relationship=(0.5, 0.4, 0.1, 0.0, 0.0)),
    Term("pneumonia", ("Pneumopathie infectieuse", "Pneumopathie bactérienne", "Infection pulmonaire"),
         ("Lung infection", "10061229"), ("Pneumonia", "10035664"), SOC_INFECTIONS,
         relationship=(0.3, 0.5, 0.2, 0.0, 0.0)),
    Term("bronchitis", ("Bronchite", "Infection bronchique", "Bronchite aiguë"),
         ("Bronchial infection", "10055078"), ("Bronchitis", "10006451"), SOC_INFECTIONS,
         relationship=(0.5, 0.4, 0.1, 0.0, 0.0)),
    Term("herpes", ("Infection herpétique", "Récurrence herpétique labiale", "Poussée d'herpès"),
         ("Herpes viral infection NOS", "10019971"), ("Herpes virus infection", "10019973"), SOC_INFECTIONS,
         relationship=(0.5, 0.4, 0.1, 0.0, 0.0)),
    Term("sepsis", ("Sepsis", "Sepsis à point de départ pulmonaire", "Bactériémie avec sepsis"),
         ("Sepsis", "10040047"), ("Sepsis", "10040047"), SOC_INFECTIONS,
         relationship=(0.3, 0.5, 0.2, 0.0, 0.0)),
    Term("septic_shock", ("Choc septique", "Choc septique à Pseudomonas aeruginosa", "Choc septique à E. coli"),
         ("Septic shock", "10040070"), ("Septic shock", "10040070"), SOC_INFECTIONS,
         relationship=(0.3, 0.5, 0.2, 0.0, 0.0)),
    Term("fatigue", ("Fatigue", "Fatigue importante", "Grande fatigue"),
         ("Fatigue", "10016256"), ("Fatigue", "10016256"), SOC_GENERAL,
         relationship=(0.1, 0.2, 0.5, 0.2, 0.0), partial_dates=True),
    Term("fever", ("Fièvre", "Fébricule", "Fièvre isolée"),
         ("Fever", "10016558"), ("Pyrexia", "10037660"), SOC_GENERAL,
         relationship=(0.4, 0.4, 0.2, 0.0, 0.0), partial_dates=True),
    Term("rash", ("Éruption cutanée", "Exanthème", "Éruption maculo-papuleuse"),
         ("Exanthem", "10015585"), ("Rash", "10037844"), SOC_SKIN,
         relationship=(0.0, 0.1, 0.4, 0.4, 0.1), partial_dates=True),
    Term("erythema", ("Érythème", "Érythème du tronc", "Érythème des membres"),
         ("Erythema", "10015150"), ("Erythema", "10015150"), SOC_SKIN,
         hlt=("Erythemas", "10015151"), hlgt=("Epidermal and dermal conditions", "10014982"),
         relationship=(0.1, 0.2, 0.5, 0.2, 0.0), partial_dates=True),
    Term("diarrhoea", ("Diarrhée", "Diarrhées", "Diarrhée liquide"),
         ("Diarrhoea", "10012735"), ("Diarrhoea", "10012735"), SOC_GI,
         hlt=("Diarrhoea (excl infective)", "10012736"),
         hlgt=("Gastrointestinal motility and defaecation conditions", "10017977"),
         relationship=(0.1, 0.2, 0.5, 0.2, 0.0), partial_dates=True),
    Term("nausea", ("Nausées", "Nausées matinales", "Nausées sans vomissement"),
         ("Nausea", "10028813"), ("Nausea", "10028813"), SOC_GI,
         relationship=(0.1, 0.3, 0.5, 0.1, 0.0), partial_dates=True),
    Term("cramps", ("Crampes musculaires", "Crampes des mollets", "Crampes nocturnes"),
         ("Muscle spasms", "10028334"), ("Muscle spasms", "10028334"), SOC_MUSCULO,
         relationship=(0.0, 0.1, 0.5, 0.4, 0.0), partial_dates=True),
    Term("dvt", ("Thrombose veineuse profonde du membre inférieur", "Phlébite surale", "Thrombose veineuse profonde"),
         ("Deep vein thrombosis", "10051055"), ("Deep vein thrombosis", "10051055"), SOC_VASCULAR,
         relationship=(0.0, 0.1, 0.3, 0.5, 0.1)),
)
TERM_INDEX: dict[str, int] = {term.key: i for i, term in enumerate(TERMS)}
RELATIONSHIPS = np.array(["NOT RELATED", "UNLIKELY RELATED", "POSSIBLY RELATED", "PROBABLY RELATED", "RELATED"])
INFECTIONS = ("cmv", "pneumonia", "bronchitis", "herpes", "sepsis", "septic_shock")
GVHD_TERMS = ("gvhd_acute", "gvhd_chronic")

# AEACN codes the course simulation sets on an event.
ACN_NOT_CHANGED, ACN_REDUCED, ACN_WITHDRAWN, ACN_NOT_APPLICABLE = 0, 1, 2, 3
ACTIONS = np.array(["DOSE NOT CHANGED", "DOSE REDUCED", "DRUG WITHDRAWN", "NOT APPLICABLE"])
GVHD_TYPES = np.array(["", "ACUTE", "CHRONIC"])
GVHD_GRADES = np.array(["", "I", "II", "III", "IV", "MILD", "MODERATE", "SEVERE"])
NO_DATE = -1


@dataclass
class EventBatch:
    """Simulated adverse events, one array entry per event (dates are day numbers since 1970-01-01).

    `end` is the natural end (-1 while unknown: the event outlives the record); `gvhd_grade` indexes
    `GVHD_GRADES`; `gvhd_type` indexes `GVHD_TYPES`.
    """

    subject: np.ndarray
    term: np.ndarray
    start: np.ndarray
    end: np.ndarray
    grade: np.ndarray
    action: np.ndarray
    fatal: np.ndarray
    gvhd_type: np.ndarray
    gvhd_grade: np.ndarray
    gvhd_sr: np.ndarray


def event_batch(subject: np.ndarray, term: np.ndarray | str, start: np.ndarray, end: np.ndarray,
                grade: np.ndarray | int, action: np.ndarray | int = ACN_NOT_CHANGED, fatal: np.ndarray | bool = False,
                gvhd_type: np.ndarray | int = 0, gvhd_grade: np.ndarray | int = 0,
                gvhd_sr: np.ndarray | bool = False) -> EventBatch:
    """Events for the subjects in `subject`; scalars are broadcast, a term may be given by key."""
    n = len(subject)

    def full(value: object, dtype: type) -> np.ndarray:
        return np.broadcast_to(np.asarray(value, dtype=dtype), (n,)).copy()

    term_codes = full(TERM_INDEX[term], np.int64) if isinstance(term, str) else full(term, np.int64)
    return EventBatch(full(subject, np.int64), term_codes, full(start, np.int64), full(end, np.int64),
                      full(grade, np.int64), full(action, np.int64), full(fatal, bool), full(gvhd_type, np.int64),
                      full(gvhd_grade, np.int64), full(gvhd_sr, bool))


def concat_events(batches: list[EventBatch]) -> EventBatch:
    fields = EventBatch.__dataclass_fields__
    if not batches:
        return EventBatch(*(np.empty(0, dtype=bool if name in ("fatal", "gvhd_sr") else np.int64) for name in fields))
    return EventBatch(*(np.concatenate([getattr(b, name) for b in batches]) for name in fields))


def _term_column(attribute: str, level: int) -> np.ndarray:
    return np.array([getattr(term, attribute)[level] for term in TERMS], dtype=object)


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers -> 'YYYY-MM-DD' strings ('' for NO_DATE)."""
    text = days.astype("datetime64[D]").astype(str).astype(object)
    text[days == NO_DATE] = ""
    return text


def _months(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(str).astype(object)


def adverse_event_rows(events: EventBatch, subjects: pd.DataFrame, end_of_study: np.ndarray,
                       rng: np.random.Generator) -> pd.DataFrame:
    """The `adverse_events` form for one block of subjects.

    `subjects` holds SITEID and SUBJID by block-local subject index; `end_of_study` is each subject's
    EOSDAT (day number): an event whose natural end falls after it is still ongoing when the study ends.
    """
    order = np.lexsort((events.term, events.start, events.subject))
    ev = EventBatch(*(getattr(events, name)[order] for name in EventBatch.__dataclass_fields__))
    n = len(ev.subject)
    eos = end_of_study[ev.subject]
    ended = (ev.end != NO_DATE) & (ev.end <= eos)
    ended |= ev.fatal
    grade5 = ev.fatal
    severe = ev.grade >= 3
    term_keys = np.array([t.key for t in TERMS], dtype=object)[ev.term]
    infection_or_gvhd = np.isin(term_keys, INFECTIONS + GVHD_TERMS + ("dvt",))
    cytopenia = np.isin(term_keys, ("thrombocytopenia", "neutropenia"))
    serious = grade5 | (severe & infection_or_gvhd) | ((ev.grade == 4) & ~cytopenia)

    def yes_no(mask: np.ndarray) -> np.ndarray:
        out = np.where(mask, "Y", "N").astype(object)
        out[~serious] = ""
        return out

    variants = np.array([len(t.verbatims) for t in TERMS])
    verbatim_table = np.array([t.verbatims + ("",) * (variants.max() - len(t.verbatims)) for t in TERMS], dtype=object)
    verbatims = verbatim_table[ev.term, (rng.random(n) * variants[ev.term]).astype(np.int64)]
    rel_cum = np.cumsum(np.array([t.relationship for t in TERMS]), axis=1)[ev.term]
    relationship = RELATIONSHIPS[(rng.random(n)[:, None] > rel_cum).sum(axis=1).clip(0, 4)]

    partial_ok = np.array([t.partial_dates for t in TERMS])[ev.term] & ~serious & (ev.action == ACN_NOT_CHANGED)
    partial_start = partial_ok & (rng.random(n) < 0.25)
    partial_end = partial_start & (rng.random(n) < 0.5)
    start_text = np.where(partial_start, _months(ev.start), _dates(ev.start))
    end_days = np.where(ended, ev.end, NO_DATE)
    end_text = np.where(partial_end & ended, _months(np.where(ended, ev.end, 0)), _dates(end_days))

    outcome = np.where(rng.random(n) < 0.6, "NOT RECOVERED/NOT RESOLVED", "RECOVERING/RESOLVING").astype(object)
    sequelae = (term_keys == "dvt") & (rng.random(n) < 0.3)
    outcome[ended] = np.where(sequelae[ended], "RECOVERED/RESOLVED WITH SEQUELAE", "RECOVERED/RESOLVED")
    outcome[grade5] = "FATAL"

    columns = {
        "SITEID": subjects["SITEID"].to_numpy()[ev.subject],
        "SUBJID": subjects["SUBJID"].to_numpy()[ev.subject],
        "AESPID": (pd.Series(ev.subject).groupby(ev.subject).cumcount().to_numpy() + 1).astype(str),
        "AETERM": verbatims,
        "MEDDRAV": np.full(n, MEDDRA_VERSION, dtype=object),
        "AELLT": _term_column("llt", 0)[ev.term], "AELLTCD": _term_column("llt", 1)[ev.term],
        "AEDECOD": _term_column("pt", 0)[ev.term], "AEPTCD": _term_column("pt", 1)[ev.term],
        "AEHLT": _term_column("hlt", 0)[ev.term], "AEHLTCD": _term_column("hlt", 1)[ev.term],
        "AEHLGT": _term_column("hlgt", 0)[ev.term], "AEHLGTCD": _term_column("hlgt", 1)[ev.term],
        "AESOC": _term_column("soc", 0)[ev.term], "AESOCCD": _term_column("soc", 1)[ev.term],
        "AESTDAT": start_text,
        "AEENDAT": end_text,
        "AEONGO": np.where(ended, "N", "Y").astype(object),
        "AEGRADE": np.where(grade5, 5, ev.grade).astype(str).astype(object),
        "AESER": np.where(serious, "Y", "N").astype(object),
        "AESDTH": yes_no(grade5),
        "AESLIFE": yes_no((ev.grade == 4) & ~grade5),
        "AESHOSP": yes_no(serious & ((ev.grade >= 3) | grade5)),
        "AESDISAB": yes_no(np.zeros(n, dtype=bool)),
        "AESCONG": yes_no(np.zeros(n, dtype=bool)),
        "AESMIE": yes_no(serious & (term_keys == "dvt")),
        "AEREL": relationship.astype(object),
        "AEACN": ACTIONS[ev.action].astype(object),
        "AEOUT": outcome,
        "GVHDTYPE": GVHD_TYPES[ev.gvhd_type].astype(object),
        "GVHDGRADE": GVHD_GRADES[ev.gvhd_grade].astype(object),
        "GVHDSR": np.where(ev.gvhd_type > 0, np.where(ev.gvhd_sr, "Y", "N"), "").astype(object),
    }
    return pd.DataFrame(columns, columns=form_columns("adverse_events"))
