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

The constants and the `Course` record are in `protocol`, the block's state and bookkeeping in `block`.
"""
from __future__ import annotations

import numpy as np

from trialbridge.converters.synth.adverse_events import (
    ACN_NOT_APPLICABLE, ACN_NOT_CHANGED, ACN_REDUCED, ACN_WITHDRAWN, NO_DATE, EventBatch, concat_events, TERM_INDEX,
)
from trialbridge.converters.synth.block import BlockState
from trialbridge.converters.synth.labs import (
    CR, EOT, NEUTROPHIL_ESCALATION, NEUTROPHIL_GRADE_LIMITS, PD, PLATELET_ESCALATION, PLATELET_GRADE_LIMITS, PR,
    QUARTERLY, SCR, VGPR, VISITS, LabInputs, ctcae_grade,
)
from trialbridge.converters.synth.protocol import (
    D_GVHD, D_INFECTION, DEATH, ESCALATION, ESCALATION_MIN_DAYS, ESCALATION_WINDOW_DAYS, GVHD, GVHD_CTCAE_GRADE,
    GVHD_MONTHLY, GVHD_SR, INFECTION_DAYS, INFECTION_GRADES, INFECTION_MONTHLY, INFECTION_TYPES, INFECTION_WEIGHTS,
    MINOR_MONTHLY, MONTHLY_STOPPERS, NOTHING, ONE_YEAR, PROGRESSION, RESPONSE_TRANSITIONS, SCR_CONFIRMATION_DAYS,
    SCR_SUSTAINED, SEVERE_TOX, TOXICITY, WITHDRAWAL, WITHDRAWN, Course, pick, whole_days,
)


class _Simulation(BlockState):
    """The course of one block, month by month: events, visits, responses and dose decisions."""

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
        stopper = pick(rng, n, np.append(MONTHLY_STOPPERS, 1.0 - MONTHLY_STOPPERS.sum()))
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
        kind = pick(rng, n, (0.4, 0.3, 0.3))  # septic shock, sepsis, pneumonia
        death = day + whole_days(rng, 2, 20, n)
        term = np.array([TERM_INDEX["septic_shock"], TERM_INDEX["sepsis"], TERM_INDEX["pneumonia"]])[kind]
        self._event(who, term, day, death, 5, action=ACN_WITHDRAWN, fatal=True)
        self.death[who] = death[who]
        self.death_cause[who] = 1 + kind[who]
        self._stop(who, day, DEATH)

    def _gvhd_death(self, who: np.ndarray, day: np.ndarray) -> None:
        rng, n = self.rng, self.n
        acute = rng.random(n) < 0.7
        onset = np.maximum(self.first_dose + 1, day - whole_days(rng, 5, 20, n))
        death = day + whole_days(rng, 1, 10, n)
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
        grade = np.where(acute, 2 + pick(rng, n, (0.25, 0.5, 0.25)), 6 + pick(rng, n, (0.4, 0.6)))
        self.refractory_onset[who] = np.maximum(self.first_dose + 1, day - whole_days(rng, 10, 21, n))[who]
        self.refractory_type[who] = np.where(acute, 1, 2)[who]
        self.refractory_grade[who] = grade[who]
        self.had_gvhd |= who
        self._stop(who, day, GVHD)

    def _severe_toxicity(self, who: np.ndarray, day: np.ndarray) -> None:
        """A grade 3 DVT, rash or diarrhoea: one level down, or the end of treatment at 5 mg/j."""
        rng, n = self.rng, self.n
        kind = pick(rng, n, (0.5, 0.25, 0.25))
        term = np.array([TERM_INDEX["dvt"], TERM_INDEX["rash"], TERM_INDEX["diarrhoea"]])[kind]
        length = np.array([[60, 180], [10, 30], [5, 20]])[kind]
        end = day + length[:, 0] + (rng.random(n) * (length[:, 1] - length[:, 0])).astype(np.int64)
        reduce = who & (self.level > 0)
        withdraw = who & (self.level == 0)
        self._event(who, term, day, end, 3, action=np.where(reduce, ACN_REDUCED, ACN_WITHDRAWN))
        self._reduce(reduce, day + 1)
        self._stop(withdraw, day, TOXICITY)

    def _background_events(self, who: np.ndarray, previous: np.ndarray, last_day: np.ndarray, k: int) -> None:
        """GVHD that steroids control, infections and minor events of the month (no effect on dosing)."""
        rng, n = self.rng, self.n
        width = np.maximum(last_day - previous, 1)

        def onset() -> np.ndarray:
            return np.minimum(previous + 1 + (rng.random(n) * width).astype(np.int64), last_day)

        gvhd = who & ~self.had_gvhd & (rng.random(n) < GVHD_MONTHLY)
        acute = rng.random(n) < (0.7 if k <= 4 else 0.35)
        grade = np.where(acute, 1 + pick(rng, n, (0.45, 0.4, 0.15)), 5 + pick(rng, n, (0.55, 0.4, 0.05)))
        start = onset()
        self._event(gvhd, np.where(acute, TERM_INDEX["gvhd_acute"], TERM_INDEX["gvhd_chronic"]), start,
                    start + whole_days(rng, 20, 120, n), GVHD_CTCAE_GRADE[grade],
                    gvhd_type=np.where(acute, 1, 2), gvhd_grade=grade, gvhd_sr=False)
        self.had_gvhd |= gvhd

        infected = who & (rng.random(n) < INFECTION_MONTHLY)
        kind = pick(rng, n, INFECTION_WEIGHTS)
        for i, term in enumerate(INFECTION_TYPES):
            grades, weights = zip(*INFECTION_GRADES[term])
            low, high = INFECTION_DAYS[term]
            start = onset()
            self._event(infected & (kind == i), term, start, start + whole_days(rng, low, high, n),
                        np.asarray(grades)[pick(rng, n, weights)])
        for term, probability in MINOR_MONTHLY.items():
            start = onset()
            self._event(who & (rng.random(n) < probability), term, start, start + whole_days(rng, 5, 60, n),
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
        eot_visit = np.where(has_visit, self.eot + whole_days(rng, 1, 10, n), NO_DATE)
        self._end_of_treatment_visit(has_visit, eot_visit)
        dies_later = ((reason == GVHD) & (rng.random(n) < 0.4)) | ((reason == PROGRESSION) & (rng.random(n) < 0.25))
        later_death = eot_visit + whole_days(rng, 3, 28, n)
        self.death = np.where(dies_later, later_death, self.death)
        self._write_refractory_gvhd(dies_later)
        progression_death = dies_later & (reason == PROGRESSION)
        shock = np.maximum(eot_visit + 1, self.death - whole_days(rng, 1, 6, n))
        self._event(progression_death, "septic_shock", shock, self.death, 5, action=ACN_NOT_APPLICABLE, fatal=True)
        self.death_cause = np.where(progression_death, 6, self.death_cause)
        self.death_cause = np.where(dies_later & (reason == GVHD), np.where(self.refractory_type == 1, 4, 5),
                                    self.death_cause)
        dead = self.death != NO_DATE
        lost = has_visit & ~dead & (rng.random(n) < 0.02)
        eos = np.where(dead, self.death,
                       np.where(reason == WITHDRAWAL, self.eot + whole_days(rng, 0, 7, n),
                                np.where(lost, eot_visit, eot_visit + whole_days(rng, 20, 35, n))))
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
            conditioning=pick(rng, n, (0.35, 0.25, 0.25, 0.15)), response_line=np.where(rng.random(n) < 0.7, 2, 3),
            prior_lenalidomide_months=np.where(rng.random(n) < 0.55, whole_days(rng, 1, 9, n), 0),
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
        natural_end = self.eot + whole_days(rng, 30, 150, n)
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
