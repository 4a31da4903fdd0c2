"""The REVALLO course of a block of synthetic subjects: a random generator -> enrolment, visits, doses, events.

Everything is simulated for all subjects of a block at once (numpy arrays, one entry per subject);
the only Python loop runs over the handful of monthly visits, in time order, so each month's decisions
can use what happened before:

1. events of the month between two visits: death, steroid-refractory GVHD, consent withdrawal or a
   grade 3 non-haematological toxicity (at most one of them), plus GVHD, infections and minor events;
2. one year after transplant (TXDAT + 365 at the latest) treatment stops;
3. the monthly visit: blood counts at the dose level in effect; a new grade 3-4 thrombocytopenia or
   neutropenia reduces the dose one level, or stops treatment at 5 mg/j;
4. every third month the IMWG response is assessed (PD stops treatment; a stringent CR confirmed
   3 months later stops it too) and the dose goes up one level if every platelet count of the
   preceding months was >= 75000 /mm3 and every neutrophil count >= 1000 /mm3.

Dates are day numbers since 1970-01-01 (int64), -1 where there is none.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trialbridge.converters.synth_ae import (
    ACN_NOT_APPLICABLE, ACN_NOT_CHANGED, ACN_REDUCED, ACN_WITHDRAWN, NO_DATE, EventBatch, concat_events,
    event_batch, TERM_INDEX,
)
from trialbridge.converters.synth_labs import (
    CR, EOT, INCLUSION, NEUTROPHIL_ESCALATION, NEUTROPHIL_GRADE_LIMITS, PD, PLATELET_ESCALATION,
    PLATELET_GRADE_LIMITS, PR, QUARTERLY, SCR, VGPR, VISITS, LabInputs, ctcae_grade, neutrophil_values,
    platelet_values,
)

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
# CTCAE grade of a GVHD grade (index into synth_ae.GVHD_GRADES: I II III IV MILD MODERATE SEVERE = 1..7).
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


def _pick(rng: np.random.Generator, n: int, weights: tuple[float, ...] | np.ndarray) -> np.ndarray:
    """Index of a category for each of n draws."""
    cumulative = np.cumsum(np.asarray(weights, dtype=float))
    return np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right").clip(0, len(cumulative) - 1)


def _days(rng: np.random.Generator, low: int, high: int, n: int) -> np.ndarray:
    """Whole days in [low, high]."""
    return rng.integers(low, high + 1, size=n)


class _Simulation:
    """Mutable state of one block while the months go by (every attribute is a per-subject array)."""

    def __init__(self, rng: np.random.Generator, global_index: np.ndarray, n_total: int) -> None:
        self.rng = rng
        n = self.n = len(global_index)
        self.global_index = global_index
        span = ENROLMENT_CLOSES - ENROLMENT_OPENS
        self.consent = ENROLMENT_OPENS + ((global_index + rng.random(n)) * span / n_total).astype(np.int64)
        self.inclusion = self.consent + _days(rng, 0, 7, n)
        self.first_dose = self.inclusion + _days(rng, 1, 14, n)
        self.transplant = self.first_dose - _days(rng, 100, 120, n)
        self.cap = self.transplant + 365 - _days(rng, 0, 2, n)  # one year after transplant, at the latest
        self.male = rng.random(n) < 0.6
        self.age = np.clip(np.round(rng.normal(54.0, 7.0, n)), 18, 65).astype(np.int64)
        consent_month = self.consent.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) + 1970 * 12
        self.birth_month = consent_month - 12 * self.age - _days(rng, 1, 11, n)
        self.schedule = self._schedule()
        self.events: list[EventBatch] = []
        # latent marrow reserve: platelets and neutrophils move together
        marrow = rng.normal(0.0, 1.0, n)
        self.platelet_base = np.maximum(150_000 * np.exp(0.5 * (0.7 * marrow + 0.71 * rng.normal(0, 1, n))), 60_000)
        self.neutrophil_base = np.maximum(2_900 * np.exp(0.45 * (0.7 * marrow + 0.71 * rng.normal(0, 1, n))), 1_200)
        shape = (n, len(VISITS))
        self.visit_date = np.full(shape, NO_DATE, dtype=np.int64)
        self.visit_level = np.full(shape, -1, dtype=np.int64)
        self.platelets = np.full(shape, np.nan)
        self.neutrophils = np.full(shape, np.nan)
        self.response = np.full(shape, -1, dtype=np.int64)
        self.response_row = np.zeros(shape, dtype=bool)
        self.period_start = np.full((n, MAX_PERIODS), NO_DATE, dtype=np.int64)
        self.period_level = np.full((n, MAX_PERIODS), -1, dtype=np.int64)
        self.period_reason = np.full((n, MAX_PERIODS), -1, dtype=np.int64)
        self.periods = np.zeros(n, dtype=np.int64)
        self.level = np.zeros(n, dtype=np.int64)
        self.reduced = np.zeros(n, dtype=bool)
        self.on = np.ones(n, dtype=bool)
        self.eot = np.full(n, NO_DATE, dtype=np.int64)
        self.eot_reason = np.full(n, -1, dtype=np.int64)
        self.death = np.full(n, NO_DATE, dtype=np.int64)
        self.death_cause = np.zeros(n, dtype=np.int64)
        self.had_gvhd = np.zeros(n, dtype=bool)
        self.refractory_onset = np.full(n, NO_DATE, dtype=np.int64)  # steroid-refractory GVHD that ended treatment
        self.refractory_type = np.zeros(n, dtype=np.int64)
        self.refractory_grade = np.zeros(n, dtype=np.int64)
        self.first_scr = np.full(n, NO_DATE, dtype=np.int64)
        self.kappa = rng.random(n) < 0.65
        self.mixed_chimerism = rng.random(n) < 0.08
        self.disease_status = np.where(rng.random(n) < 0.35, CR, PR)
        self._add_period(np.ones(n, dtype=bool), self.first_dose, START)
        self._inclusion_visit()

    # --- schedule and bookkeeping ---------------------------------------------------------------------

    def _schedule(self) -> np.ndarray:
        """Planned visit dates: monthly, small jitter; every third month at least 91 days after the last one."""
        rng, n, d1 = self.rng, self.n, self.first_dose
        plan = np.full((n, len(VISITS)), NO_DATE, dtype=np.int64)
        quarter = d1
        for q in range(3):
            monthly = [quarter + 30 + _days(rng, -3, 3, n), quarter + 61 + _days(rng, -3, 3, n)]
            quarter = quarter + 91 + _days(rng, 0, 4, n)
            plan[:, 3 * q + 1], plan[:, 3 * q + 2], plan[:, 3 * q + 3] = monthly[0], monthly[1], quarter
        return plan

    def _add_period(self, who: np.ndarray, start: np.ndarray, reason: int) -> None:
        rows = np.nonzero(who)[0]
        slot = self.periods[rows]
        self.period_start[rows, slot] = start[rows]
        self.period_level[rows, slot] = self.level[rows]
        self.period_reason[rows, slot] = reason
        self.periods[rows] += 1

    def _stop(self, who: np.ndarray, day: np.ndarray, reason: int) -> None:
        who = who & self.on
        self.eot[who] = day[who]
        self.eot_reason[who] = reason
        self.on &= ~who

    def _event(self, who: np.ndarray, term: str | np.ndarray, start: np.ndarray, end: np.ndarray, grade: np.ndarray | int,
               **fields: object) -> None:
        rows = np.nonzero(who)[0]
        if not len(rows):
            return

        def take(value: object) -> object:
            return value[rows] if isinstance(value, np.ndarray) and value.shape == (self.n,) else value

        self.events.append(event_batch(rows, take(term), take(start), take(end), take(grade),
                                       **{key: take(value) for key, value in fields.items()}))

    def _counts(self, who: np.ndarray, col: int, level: np.ndarray, months: np.ndarray) -> None:
        """Draw platelets and neutrophils at a visit, rounded as the laboratory prints them."""
        plt = platelet_values(self.rng, self.platelet_base, level, months)
        anc = neutrophil_values(self.rng, self.neutrophil_base, level, months)
        self.platelets[who, col] = (np.round(plt / 1000) * 1000)[who]
        self.neutrophils[who, col] = (np.round(anc / 10) * 10)[who]

    def _inclusion_visit(self) -> None:
        everyone = np.ones(self.n, dtype=bool)
        self.visit_date[:, INCLUSION] = self.inclusion
        self._counts(everyone, INCLUSION, np.full(self.n, -1), np.zeros(self.n))
        self.platelets[:, INCLUSION] = np.maximum(self.platelets[:, INCLUSION], 55_000)
        self.neutrophils[:, INCLUSION] = np.maximum(self.neutrophils[:, INCLUSION], 1_100)
        self.response[:, INCLUSION] = self.disease_status
        self.response_row[:, INCLUSION] = True

    # --- one month --------------------------------------------------------------------------------------

    def month(self, k: int) -> None:
        rng, n = self.rng, self.n
        previous = np.where(k == 1, self.first_dose, self.visit_date[:, k - 1])
        previous = np.where(previous == NO_DATE, self.first_dose, previous)
        planned = self.schedule[:, k]
        active = self.on.copy()
        capped = active & (planned >= self.cap)
        interval_end = np.where(capped, self.cap, planned)
        span = interval_end - previous
        day = previous + 1 + (rng.random(n) * np.maximum(span - 1, 1)).astype(np.int64)  # in [previous+1, end-1]
        stopper = _pick(rng, n, np.append(MONTHLY_STOPPERS, 1.0 - MONTHLY_STOPPERS.sum()))
        stopper = np.where(active & (span >= 2), stopper, NOTHING)
        stopper = np.where(self.had_gvhd & np.isin(stopper, (D_GVHD, GVHD_SR)), NOTHING, stopper)
        self._infection_death(stopper == D_INFECTION, day)
        self._gvhd_death(stopper == D_GVHD, day)
        self._refractory_gvhd(stopper == GVHD_SR, day)
        self._stop(stopper == WITHDRAWN, day, WITHDRAWAL)
        self._severe_toxicity(stopper == SEVERE_TOX, day)
        last_on_day = np.where(self.on, interval_end - 1, np.where(self.eot >= 0, self.eot, interval_end - 1))
        self._background_events(active & (span >= 2), previous, last_on_day, k)
        self._stop(capped, self.cap, ONE_YEAR)
        visit = self.on & ~capped
        self._monthly_visit(visit, k, planned)

    def _infection_death(self, who: np.ndarray, day: np.ndarray) -> None:
        rng, n = self.rng, self.n
        kind = _pick(rng, n, (0.4, 0.3, 0.3))  # septic shock, sepsis, pneumonia
        death = day + _days(rng, 2, 20, n)
        term = np.array([TERM_INDEX["septic_shock"], TERM_INDEX["sepsis"], TERM_INDEX["pneumonia"]])[kind]
        self._event(who, term, day, death, 5, action=ACN_WITHDRAWN, fatal=True)
        self.death[who] = death[who]
        self.death_cause[who] = 1 + kind[who]
        self._stop(who, day, DEATH)

    def _gvhd_death(self, who: np.ndarray, day: np.ndarray) -> None:
        rng, n = self.rng, self.n
        acute = rng.random(n) < 0.7
        onset = np.maximum(self.first_dose + 1, day - _days(rng, 5, 20, n))
        death = day + _days(rng, 1, 10, n)
        term = np.where(acute, TERM_INDEX["gvhd_acute"], TERM_INDEX["gvhd_chronic"])
        self._event(who, term, onset, death, 5, action=ACN_WITHDRAWN, fatal=True,
                    gvhd_type=np.where(acute, 1, 2), gvhd_grade=np.where(acute, 4, 7), gvhd_sr=True)
        self.death[who] = death[who]
        self.death_cause[who] = np.where(acute, 4, 5)[who]
        self.had_gvhd |= who
        self._stop(who, day, DEATH)

    def _refractory_gvhd(self, who: np.ndarray, day: np.ndarray) -> None:
        """Steroid-refractory GVHD ends treatment; its event is written once we know whether it kills."""
        rng, n = self.rng, self.n
        acute = rng.random(n) < 0.6
        grade = np.where(acute, 2 + _pick(rng, n, (0.25, 0.5, 0.25)), 6 + _pick(rng, n, (0.4, 0.6)))
        self.refractory_onset[who] = np.maximum(self.first_dose + 1, day - _days(rng, 10, 21, n))[who]
        self.refractory_type[who] = np.where(acute, 1, 2)[who]
        self.refractory_grade[who] = grade[who]
        self.had_gvhd |= who
        self._stop(who, day, GVHD)

    def _severe_toxicity(self, who: np.ndarray, day: np.ndarray) -> None:
        """A grade 3 DVT, rash or diarrhoea: one level down, or the end of treatment at 5 mg/j."""
        rng, n = self.rng, self.n
        kind = _pick(rng, n, (0.5, 0.25, 0.25))
        term = np.array([TERM_INDEX["dvt"], TERM_INDEX["rash"], TERM_INDEX["diarrhoea"]])[kind]
        length = np.array([[60, 180], [10, 30], [5, 20]])[kind]
        end = day + length[:, 0] + (rng.random(n) * (length[:, 1] - length[:, 0])).astype(np.int64)
        reduce = who & (self.level > 0)
        withdraw = who & (self.level == 0)
        self._event(who, term, day, end, 3, action=np.where(reduce, ACN_REDUCED, ACN_WITHDRAWN))
        self._reduce(reduce, day + 1)
        self._stop(withdraw, day, TOXICITY)

    def _reduce(self, who: np.ndarray, start: np.ndarray) -> None:
        self.level[who] -= 1
        self.reduced |= who
        self._add_period(who, start, REDUCTION)

    def _background_events(self, who: np.ndarray, previous: np.ndarray, last_day: np.ndarray, k: int) -> None:
        """GVHD that steroids control, infections and minor events of the month (no effect on dosing)."""
        rng, n = self.rng, self.n
        width = np.maximum(last_day - previous, 1)

        def onset() -> np.ndarray:
            return np.minimum(previous + 1 + (rng.random(n) * width).astype(np.int64), last_day)

        gvhd = who & ~self.had_gvhd & (rng.random(n) < GVHD_MONTHLY)
        acute = rng.random(n) < (0.7 if k <= 4 else 0.35)
        grade = np.where(acute, 1 + _pick(rng, n, (0.45, 0.4, 0.15)), 5 + _pick(rng, n, (0.55, 0.4, 0.05)))
        start = onset()
        self._event(gvhd, np.where(acute, TERM_INDEX["gvhd_acute"], TERM_INDEX["gvhd_chronic"]), start,
                    start + _days(rng, 20, 120, n), GVHD_CTCAE_GRADE[grade],
                    gvhd_type=np.where(acute, 1, 2), gvhd_grade=grade, gvhd_sr=False)
        self.had_gvhd |= gvhd

        infected = who & (rng.random(n) < INFECTION_MONTHLY)
        kind = _pick(rng, n, INFECTION_WEIGHTS)
        for i, term in enumerate(INFECTION_TYPES):
            grades, weights = zip(*INFECTION_GRADES[term])
            low, high = INFECTION_DAYS[term]
            start = onset()
            self._event(infected & (kind == i), term, start, start + _days(rng, low, high, n),
                        np.asarray(grades)[_pick(rng, n, weights)])
        for term, probability in MINOR_MONTHLY.items():
            start = onset()
            self._event(who & (rng.random(n) < probability), term, start, start + _days(rng, 5, 60, n),
                        1 + (rng.random(n) < 0.35))

    def _monthly_visit(self, visit: np.ndarray, k: int, planned: np.ndarray) -> None:
        """Counts at the visit, then the IMWG assessment and the dose decision of every third month."""
        self.visit_date[visit, k] = planned[visit]
        self.visit_level[visit, k] = self.level[visit]
        months = (planned - self.first_dose) / 30.44
        self._counts(visit, k, self.level, months)
        assessed = visit & (k in QUARTERLY)
        if k in QUARTERLY:
            self._assess(assessed, k, planned)
        self._cytopenias(visit, k, planned)
        if k in QUARTERLY[:2]:
            self._escalate(self.on & visit, k, planned)

    def _assess(self, who: np.ndarray, k: int, day: np.ndarray) -> None:
        rng, n = self.rng, self.n
        current = self._last_response()
        cumulative = RESPONSE_TRANSITIONS[current].cumsum(axis=1)
        new = (rng.random(n)[:, None] > cumulative).sum(axis=1).clip(0, 5)
        self.response[who, k] = new[who]
        self.response_row[who, k] = True
        confirmed = who & (new == SCR) & (self.first_scr != NO_DATE) & (day - self.first_scr >= SCR_CONFIRMATION_DAYS)
        self.first_scr = np.where(who & (new != SCR), NO_DATE, self.first_scr)
        self.first_scr = np.where(who & (new == SCR) & (self.first_scr == NO_DATE), day, self.first_scr)
        self._stop(who & (new == PD), day, PROGRESSION)
        self._stop(confirmed, day, SCR_SUSTAINED)

    def _last_response(self) -> np.ndarray:
        assessed = self.response >= 0
        last = len(VISITS) - 1 - np.argmax(assessed[:, ::-1], axis=1)
        return self.response[np.arange(self.n), last]

    def _cytopenias(self, visit: np.ndarray, k: int, day: np.ndarray) -> None:
        """A new or worse grade >= 2 count is an adverse event; grade 3-4 acts on the dose (or stops)."""
        rows = np.arange(self.n)
        acted = np.zeros(self.n, dtype=bool)
        for term, counts, limits in (("thrombocytopenia", self.platelets, PLATELET_GRADE_LIMITS),
                                     ("neutropenia", self.neutrophils, NEUTROPHIL_GRADE_LIMITS)):
            grades = ctcae_grade(counts[:, : k + 1], limits)
            now = grades[:, k]
            before = grades[rows, self._previous_visit(k)]
            new = visit & (now >= 2) & (now > before)
            severe = new & (now >= 3)
            still_on = self.on & severe & ~acted
            reduce = still_on & (self.level > 0)
            withdraw = still_on & (self.level == 0)
            action = np.where(reduce, ACN_REDUCED, np.where(withdraw, ACN_WITHDRAWN,
                                                            np.where(self.on | ~severe, ACN_NOT_CHANGED, ACN_NOT_APPLICABLE)))
            self._event(new, term, day, np.full(self.n, NO_DATE), now, action=action)
            self._reduce(reduce, day + 1)
            self._stop(withdraw, day, TOXICITY)
            acted |= reduce | withdraw

    def _previous_visit(self, k: int) -> np.ndarray:
        held = self.visit_date[:, :k] >= 0
        return k - 1 - np.argmax(held[:, ::-1], axis=1)

    def _escalate(self, who: np.ndarray, k: int, day: np.ndarray) -> None:
        """One level up if every count of the preceding 3 months allows it (never after a reduction)."""
        start = day + 1
        current_start = self.period_start[np.arange(self.n), self.periods - 1]
        dated = self.visit_date[:, : k + 1]
        window = (dated >= 0) & (dated >= start[:, None] - ESCALATION_WINDOW_DAYS) & (dated < start[:, None])
        low = (self.platelets[:, : k + 1] < PLATELET_ESCALATION) | (self.neutrophils[:, : k + 1] < NEUTROPHIL_ESCALATION)
        allowed = ~(window & low).any(axis=1)
        up = who & allowed & ~self.reduced & (self.level < 2) & (start - current_start >= ESCALATION_MIN_DAYS)
        self.level[up] += 1
        self._add_period(up, start, ESCALATION)

    # --- after the last month -----------------------------------------------------------------------------

    def finish(self) -> Course:
        rng, n = self.rng, self.n
        self._stop(self.on.copy(), self.cap, ONE_YEAR)  # no one is left, the cap comes before M09
        reason = self.eot_reason
        has_visit = ~np.isin(reason, (DEATH, WITHDRAWAL))
        eot_visit = np.where(has_visit, self.eot + _days(rng, 1, 10, n), NO_DATE)
        self._end_of_treatment_visit(has_visit, eot_visit)
        dies_later = ((reason == GVHD) & (rng.random(n) < 0.4)) | ((reason == PROGRESSION) & (rng.random(n) < 0.25))
        later_death = eot_visit + _days(rng, 3, 28, n)
        self.death = np.where(dies_later, later_death, self.death)
        self._write_refractory_gvhd(dies_later)
        progression_death = dies_later & (reason == PROGRESSION)
        shock = np.maximum(eot_visit + 1, self.death - _days(rng, 1, 6, n))
        self._event(progression_death, "septic_shock", shock, self.death, 5, action=ACN_NOT_APPLICABLE, fatal=True)
        self.death_cause = np.where(progression_death, 6, self.death_cause)
        self.death_cause = np.where(dies_later & (reason == GVHD), np.where(self.refractory_type == 1, 4, 5),
                                    self.death_cause)
        dead = self.death != NO_DATE
        lost = has_visit & ~dead & (rng.random(n) < 0.02)
        eos = np.where(dead, self.death,
                       np.where(reason == WITHDRAWAL, self.eot + _days(rng, 0, 7, n),
                                np.where(lost, eot_visit, eot_visit + _days(rng, 20, 35, n))))
        eos_reason = np.where(dead, 1, np.where(reason == WITHDRAWAL, 2, np.where(lost, 3, 0)))
        months = np.where(self.visit_date >= 0, (self.visit_date - self.first_dose[:, None]) / 30.44, 0.0)
        labs = LabInputs(self.visit_date, self.visit_level, months, self.platelets, self.neutrophils,
                         self.response, self.male, self.kappa, self.mixed_chimerism)
        events = concat_events(self.events)
        events.end = self._cytopenia_ends(events)
        related = rng.random(n) < 0.45
        mismatched = ~related & (rng.random(n) < 0.35)  # a sibling donor is 10/10 matched
        return Course(
            global_index=self.global_index, male=self.male, age=self.age, birth_month=self.birth_month,
            consent=self.consent, transplant=self.transplant, first_dose=self.first_dose,
            related_donor=related, mismatched=mismatched,
            conditioning=_pick(rng, n, (0.35, 0.25, 0.25, 0.15)), response_line=np.where(rng.random(n) < 0.7, 2, 3),
            prior_lenalidomide_months=np.where(rng.random(n) < 0.55, _days(rng, 1, 9, n), 0),
            period_start=self.period_start, period_level=self.period_level, period_reason=self.period_reason,
            eot=self.eot, eot_reason=reason, eos=eos, eos_reason=eos_reason, death=self.death,
            death_cause=self.death_cause, response_row=self.response_row, labs=labs, events=events,
        )

    def _end_of_treatment_visit(self, who: np.ndarray, day: np.ndarray) -> None:
        """Counts, M-protein and a response (unless PD or a confirmed sCR ended treatment) after the last dose."""
        rng, n = self.rng, self.n
        self.visit_date[who, EOT] = day[who]
        self.visit_level[who, EOT] = -1
        months = (day - self.first_dose) / 30.44
        self._counts(who, EOT, np.maximum(self.level - 1, -1), months)
        final = self._last_response()
        better = np.array([SCR, SCR, CR, VGPR, PR, PD])[final]
        final = np.where((rng.random(n) < 0.15) & (final != PD), better, final)
        self.response[who, EOT] = final[who]
        self.response_row[who, EOT] = ~np.isin(self.eot_reason[who], (PROGRESSION, SCR_SUSTAINED))

    def _write_refractory_gvhd(self, dies: np.ndarray) -> None:
        rng, n = self.rng, self.n
        who = self.refractory_onset != NO_DATE
        natural_end = self.eot + _days(rng, 30, 150, n)
        fatal = who & dies
        self._event(who, np.where(self.refractory_type == 1, TERM_INDEX["gvhd_acute"], TERM_INDEX["gvhd_chronic"]),
                    self.refractory_onset, np.where(fatal, self.death, natural_end),
                    np.where(fatal, 5, GVHD_CTCAE_GRADE[self.refractory_grade]),
                    action=ACN_WITHDRAWN, fatal=fatal, gvhd_type=self.refractory_type,
                    gvhd_grade=self.refractory_grade, gvhd_sr=True)

    def _cytopenia_ends(self, events: EventBatch) -> np.ndarray:
        """A cytopenia event ends at the first later count of a lower grade (else it outlives the record)."""
        end = events.end.copy()
        for term, counts, limits in (("thrombocytopenia", self.platelets, PLATELET_GRADE_LIMITS),
                                     ("neutropenia", self.neutrophils, NEUTROPHIL_GRADE_LIMITS)):
            mine = np.nonzero(events.term == TERM_INDEX[term])[0]
            if not len(mine):
                continue
            subject, grade = events.subject[mine], events.grade[mine]
            visit = np.argmax(self.visit_date[subject] == events.start[mine][:, None], axis=1)
            grades = ctcae_grade(counts[subject], limits)
            later = (np.arange(len(VISITS))[None, :] > visit[:, None]) & (grades >= 0) & (grades < grade[:, None])
            first = np.argmax(later, axis=1)
            end[mine] = np.where(later.any(axis=1), self.visit_date[subject, first], NO_DATE)
        return end


def simulate_course(rng: np.random.Generator, global_index: np.ndarray, n_total: int) -> Course:
    """The whole course of the subjects `global_index` (0-based) of a study of `n_total` subjects."""
    simulation = _Simulation(rng, global_index, n_total)
    for k in range(1, len(VISITS) - 1):
        simulation.month(k)
    return simulation.finish()
