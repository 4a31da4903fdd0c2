"""`trialbridge registry`: ClinicalTrials.gov records -> one trial design package per study (command: the
entry and the summary; package: one record's TS/TA/TE/TI + define.xml, FHIR ResearchStudy bundles, PRS XML)."""
