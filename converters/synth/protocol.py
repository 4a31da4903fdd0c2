"""REVALLO's protocol and the simulation's rates -> the constants of the course simulation (dates, dose
levels, reasons, monthly probabilities, response transitions), the `Course` record a block's simulation
returns, and the two random draws it is made of (`pick` a category, `whole_days` in a range).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialbridge.converters.synth.adverse_events import EventBatch
from trialbridge.converters.synth.labs import LabInputs

DAY = np.datetime64("1970-01-01", "D")
ENROLMENT_OPENS = int((np.datetime64("2011-08-24") - DAY).astype(np.int64))
ENROLMENT_CLOSES = int((np.datetime64("2013-11-30") - DAY).astype(np.int64))  # last subject ends by Oct 2014
DOSES = np.array([5, 10, 15])
START, ESCALATION, REDUCTION = 0, 1, 2
CHANGE_REASONS = np.array(["START", "ESCALATION", "REDUCTION"])
MAX_PERIODS = 5  # start, two escalations, at most two reductions (no escalation after a reduction)

EOT_REASONS = np.array(["SCR_SUSTAINED", "PROGRESSION", "TOXICITY", "GVHD", "ONE_YEAR", "DEATH", "WITHDRAWAL"])
SCR_SUSTAINED, PROGRESSION, TOXICITY, GVHD, ONE_YEAR, DEATH, WITHDRAWAL = range(7)
EOS_REASONS = np.array(["", "DEATH", "WITHDRAWAL", "LOST_TO_FOLLOW_UP"])
CONDITIONING = np.array([
    "Fludarabine + busulfan IV (2 jours) + sérum anti-lymphocytaire",
    "Fludarabine + irradiation corporelle totale 2 Gy",
    "Fludarabine + melphalan 140 mg/m²",
    "Fludarabine + busulfan IV + thiotépa",
])
DEATH_CAUSES = np.array([
    "",
    "Choc septique",
    "Sepsis sévère à point de départ pulmonaire",
    "Pneumopathie infectieuse avec détresse respiratoire aiguë",
    "GVH aiguë grade IV réfractaire aux corticoïdes",
    "GVH chronique sévère réfractaire aux corticoïdes",
    "Progression du myélome compliquée d'un choc septique",
])

# Per-month probabilities while on treatment; the first five exclude each other within a month.
MONTHLY_STOPPERS = np.array([
    0.011,  # death from infection (transplant-related)
    0.004,  # death from GVHD (transplant-related)
    0.012,  # steroid-refractory GVHD: treatment ends (EOTREAS GVHD)
    0.003,  # consent withdrawn
    0.016,  # grade 3 non-haematological toxicity: dose reduced, or treatment ended at 5 mg/j
])
D_INFECTION, D_GVHD, GVHD_SR, WITHDRAWN, SEVERE_TOX, NOTHING = range(6)
GVHD_MONTHLY = 0.035
INFECTION_MONTHLY = 0.12
INFECTION_TYPES = ("cmv", "bronchitis", "pneumonia", "herpes", "sepsis")
INFECTION_WEIGHTS = (0.3, 0.25, 0.2, 0.15, 0.1)
INFECTION_GRADES = {  # grade: probability
    "cmv": ((2, 0.8), (3, 0.2)), "bronchitis": ((1, 0.4), (2, 0.6)), "pneumonia": ((2, 0.5), (3, 0.5)),
    "herpes": ((1, 0.3), (2, 0.7)), "sepsis": ((3, 0.8), (4, 0.2)),
}
INFECTION_DAYS = {"cmv": (14, 40), "bronchitis": (7, 21), "pneumonia": (10, 30), "herpes": (7, 15), "sepsis": (7, 21)}
MINOR_MONTHLY = {"fatigue": 0.09, "fever": 0.04, "rash": 0.05, "erythema": 0.03, "diarrhoea": 0.06,
                 "nausea": 0.04, "cramps": 0.08}
RESPONSE_TRANSITIONS = np.array([  # per quarter, from (row) -> to (column): sCR CR VGPR PR SD PD
    [0.88, 0.08, 0.00, 0.00, 0.00, 0.04],
    [0.30, 0.55, 0.05, 0.00, 0.00, 0.10],
    [0.00, 0.25, 0.55, 0.10, 0.00, 0.10],
    [0.00, 0.10, 0.25, 0.42, 0.08, 0.15],
    [0.00, 0.00, 0.00, 0.15, 0.60, 0.25],
    [0.00, 0.00, 0.00, 0.00, 0.00, 1.00],
])
SCR_CONFIRMATION_DAYS = 91  # a stringent CR must persist 3 months
ESCALATION_WINDOW_DAYS = 100  # counts looked at before a step up (a little more than 3 months)
ESCALATION_MIN_DAYS = 91  # never sooner than 3 months after the previous level started
# CTCAE grade of a GVHD grade (index into adverse_events.GVHD_GRADES: I II III IV MILD MODERATE SEVERE = 1..7).
GVHD_CTCAE_GRADE = np.array([0, 1, 2, 3, 4, 1, 2, 3])


@dataclass
class Course:
    """The simulated course of one block of subjects (arrays indexed by block-local subject number)."""

    global_index: np.ndarray
    male: np.ndarray
    age: np.ndarray
    birth_month: np.ndarray  # months since year 0 (year * 12 + month - 1)
    consent: np.ndarray
    transplant: np.ndarray
    first_dose: np.ndarray
    related_donor: np.ndarray
    mismatched: np.ndarray
    conditioning: np.ndarray
    response_line: np.ndarray
    prior_lenalidomide_months: np.ndarray  # 0 when none
    period_start: np.ndarray  # (n, MAX_PERIODS), -1 when unused
    period_level: np.ndarray
    period_reason: np.ndarray
    eot: np.ndarray
    eot_reason: np.ndarray
    eos: np.ndarray
    eos_reason: np.ndarray  # index into EOS_REASONS (0: completed)
    death: np.ndarray
    death_cause: np.ndarray  # index into DEATH_CAUSES
    response_row: np.ndarray  # (n, visits): a response form row exists at this visit
    labs: LabInputs
    events: EventBatch


def pick(rng: np.random.Generator, n: int, weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Index of a category for each of n draws."""
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    return np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right").clip(0, len(cumulative) - 1)


def whole_days(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """Whole days in [low, high]."""
    return rng.integers(low, high + 1, size=n)
