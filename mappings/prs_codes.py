"""ClinicalTrials.gov API v2 enumerations -> the display texts of the PRS protocol record schema, and `HELD`,
every registry field (v2 JSON path, list items as []) the PRS record holds.
"""
from __future__ import annotations

PRS_NS = "http://clinicaltrials.gov/prs"
STATUS = {"NOT_YET_RECRUITING": "Not yet recruiting", "RECRUITING": "Recruiting",
          "ACTIVE_NOT_RECRUITING": "Active, not recruiting", "ENROLLING_BY_INVITATION": "Enrolling by invitation",
          "COMPLETED": "Completed", "SUSPENDED": "Suspended", "TERMINATED": "Terminated", "WITHDRAWN": "Withdrawn"}
EXPANDED_STATUS = {"AVAILABLE": "Available", "NO_LONGER_AVAILABLE": "No longer available",
                   "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available", "APPROVED_FOR_MARKETING": "Approved for marketing"}
STUDY_TYPE = {"INTERVENTIONAL": "Interventional", "OBSERVATIONAL": "Observational", "EXPANDED_ACCESS": "Expanded Access"}
PURPOSE = {"TREATMENT": "Treatment", "PREVENTION": "Prevention", "DIAGNOSTIC": "Diagnostic", "BASIC_SCIENCE": "Basic Science",
           "SUPPORTIVE_CARE": "Supportive Care", "SCREENING": "Screening", "HEALTH_SERVICES_RESEARCH": "Health Services Research",
           "DEVICE_FEASIBILITY": "Device Feasibility", "ECT": "Educational/Counseling/Training", "OTHER": "Other"}
PHASE = {("EARLY_PHASE1",): "Early Phase 1", ("PHASE1",): "Phase 1", ("PHASE1", "PHASE2"): "Phase 1/Phase 2",
         ("PHASE2",): "Phase 2", ("PHASE2", "PHASE3"): "Phase 2/Phase 3", ("PHASE3",): "Phase 3", ("PHASE4",): "Phase 4",
         ("NA",): "N/A"}
ASSIGNMENT = {"SINGLE_GROUP": "Single Group Assignment", "PARALLEL": "Parallel Assignment", "CROSSOVER": "Crossover Assignment",
              "FACTORIAL": "Factorial Assignment", "SEQUENTIAL": "Sequential Assignment"}
ALLOCATION = {"RANDOMIZED": "Randomized", "NON_RANDOMIZED": "Non-randomized", "NA": "N/A"}
MASKED = (("PARTICIPANT", "masked_subject"), ("CARE_PROVIDER", "masked_caregiver"), ("INVESTIGATOR", "masked_investigator"),
          ("OUTCOMES_ASSESSOR", "masked_assessor"))
OBSERVATIONAL_MODEL = {"COHORT": "Cohort", "CASE_CONTROL": "Case-Control", "CASE_ONLY": "Case-Only", "CASE_CROSSOVER": "Case-Crossover",
                       "ECOLOGIC_OR_COMMUNITY": "Ecologic or Community", "FAMILY_BASED": "Family-Based",
                       "DEFINED_POPULATION": "Defined Population", "NATURAL_HISTORY": "Natural History", "OTHER": "Other"}
TIMING = {"RETROSPECTIVE": "Retrospective", "PROSPECTIVE": "Prospective", "CROSS_SECTIONAL": "Cross-Sectional", "OTHER": "Other"}
RETENTION = {"NONE_RETAINED": "None Retained", "SAMPLES_WITH_DNA": "Samples With DNA", "SAMPLES_WITHOUT_DNA": "Samples Without DNA"}
ARM_TYPE = {"EXPERIMENTAL": "Experimental", "ACTIVE_COMPARATOR": "Active Comparator", "PLACEBO_COMPARATOR": "Placebo Comparator",
            "SHAM_COMPARATOR": "Sham Comparator", "NO_INTERVENTION": "No Intervention", "OTHER": "Other"}
INTERVENTION_TYPE = {"DRUG": "Drug", "DEVICE": "Device", "BIOLOGICAL": "Biological/Vaccine", "PROCEDURE": "Procedure/Surgery",
                     "RADIATION": "Radiation", "BEHAVIORAL": "Behavioral", "GENETIC": "Genetic",
                     "DIETARY_SUPPLEMENT": "Dietary Supplement", "COMBINATION_PRODUCT": "Combination Product",
                     "DIAGNOSTIC_TEST": "Diagnostic Test", "OTHER": "Other"}
SEX = {"ALL": "All", "FEMALE": "Female", "MALE": "Male"}
SAMPLING = {"PROBABILITY_SAMPLE": "Probability Sample", "NON_PROBABILITY_SAMPLE": "Non-Probability Sample"}
ROLE = {"PRINCIPAL_INVESTIGATOR": "Principal Investigator", "STUDY_CHAIR": "Study Chair", "STUDY_DIRECTOR": "Study Director",
        "SUB_INVESTIGATOR": "Sub-Investigator"}
RESPONSIBLE = {"SPONSOR": "Sponsor", "PRINCIPAL_INVESTIGATOR": "Principal Investigator", "SPONSOR_INVESTIGATOR": "Sponsor-Investigator"}
SECONDARY_ID = {"NIH": "NIH Grant Number", "OTHER_GRANT": "Other Grant/Funding Number", "REGISTRY": "Registry Identifier",
                "EUDRACT_NUMBER": "EudraCT Number", "CTIS": "EU Trial (CTIS) Number", "OTHER": "Other Identifier",
                "FDA": "Other Grant/Funding Number", "VA": "Other Grant/Funding Number", "CDC": "Other Grant/Funding Number",
                "AHRQ": "Other Grant/Funding Number", "SAMHSA": "Other Grant/Funding Number"}
IPD = {"YES": "Yes", "NO": "No", "UNDECIDED": "Undecided"}
IPD_TYPES = (("STUDY_PROTOCOL", "ipd_info_type_protocol"), ("SAP", "ipd_info_type_sap"), ("ICF", "ipd_info_type_icf"),
             ("CSR", "ipd_info_type_csr"), ("ANALYTIC_CODE", "ipd_info_type_analytic_code"))
DOCUMENT_TYPES = ("Individual Participant Data Set", "Study Protocol", "Statistical Analysis Plan", "Informed Consent Form",
                  "Clinical Study Report", "Analytic Code")

P = "protocolSection."
# Every registry field the PRS record holds (v2 JSON paths, list items as []).
HELD: frozenset[str] = frozenset(P + p for p in (
    "identificationModule.orgStudyIdInfo.id", "identificationModule.organization.fullName",
    "identificationModule.secondaryIdInfos[].id", "identificationModule.secondaryIdInfos[].type",
    "identificationModule.secondaryIdInfos[].domain", "identificationModule.briefTitle",
    "identificationModule.officialTitle", "identificationModule.acronym",
    "oversightModule.isUnapprovedDevice", "oversightModule.oversightHasDmc", "oversightModule.isFdaRegulatedDrug",
    "oversightModule.isFdaRegulatedDevice", "oversightModule.isUsExport", "oversightModule.isPpsd",
    "statusModule.delayedPosting", "statusModule.overallStatus", "statusModule.whyStopped",
    "statusModule.statusVerifiedDate", "statusModule.startDateStruct.date", "statusModule.startDateStruct.type",
    "statusModule.completionDateStruct.date", "statusModule.completionDateStruct.type",
    "statusModule.primaryCompletionDateStruct.date", "statusModule.primaryCompletionDateStruct.type",
    "sponsorCollaboratorsModule.leadSponsor.name", "sponsorCollaboratorsModule.collaborators[].name",
    "sponsorCollaboratorsModule.responsibleParty.type", "sponsorCollaboratorsModule.responsibleParty.investigatorTitle",
    "sponsorCollaboratorsModule.responsibleParty.investigatorAffiliation",
    "sponsorCollaboratorsModule.responsibleParty.oldNameTitle", "sponsorCollaboratorsModule.responsibleParty.oldOrganization",
    "descriptionModule.briefSummary", "descriptionModule.detailedDescription",
    "designModule.studyType", "designModule.phases[]", "designModule.designInfo.primaryPurpose",
    "designModule.designInfo.interventionModel", "designModule.designInfo.interventionModelDescription",
    "designModule.designInfo.allocation", "designModule.designInfo.maskingInfo.masking",
    "designModule.designInfo.maskingInfo.whoMasked[]", "designModule.designInfo.maskingInfo.maskingDescription",
    "designModule.designInfo.observationalModel", "designModule.designInfo.timePerspective",
    "designModule.bioSpec.retention", "designModule.bioSpec.description", "designModule.patientRegistry",
    "designModule.targetDuration", "designModule.expandedAccessTypes.individual",
    "designModule.expandedAccessTypes.intermediate", "designModule.expandedAccessTypes.treatment",
    "designModule.enrollmentInfo.count", "designModule.enrollmentInfo.type",
    "outcomesModule.primaryOutcomes[].measure", "outcomesModule.primaryOutcomes[].description",
    "outcomesModule.primaryOutcomes[].timeFrame", "outcomesModule.secondaryOutcomes[].measure",
    "outcomesModule.secondaryOutcomes[].description", "outcomesModule.secondaryOutcomes[].timeFrame",
    "outcomesModule.otherOutcomes[].measure", "outcomesModule.otherOutcomes[].description",
    "outcomesModule.otherOutcomes[].timeFrame", "conditionsModule.conditions[]", "conditionsModule.keywords[]",
    "armsInterventionsModule.armGroups[].label", "armsInterventionsModule.armGroups[].type",
    "armsInterventionsModule.armGroups[].description", "armsInterventionsModule.armGroups[].interventionNames[]",
    "armsInterventionsModule.interventions[].type", "armsInterventionsModule.interventions[].name",
    "armsInterventionsModule.interventions[].description", "armsInterventionsModule.interventions[].armGroupLabels[]",
    "armsInterventionsModule.interventions[].otherNames[]",
    "eligibilityModule.studyPopulation", "eligibilityModule.samplingMethod", "eligibilityModule.eligibilityCriteria",
    "eligibilityModule.healthyVolunteers", "eligibilityModule.sex", "eligibilityModule.genderBased",
    "eligibilityModule.genderDescription", "eligibilityModule.minimumAge", "eligibilityModule.maximumAge",
    "contactsLocationsModule.overallOfficials[].name", "contactsLocationsModule.overallOfficials[].role",
    "contactsLocationsModule.overallOfficials[].affiliation", "contactsLocationsModule.centralContacts[].name",
    "contactsLocationsModule.centralContacts[].phone", "contactsLocationsModule.centralContacts[].phoneExt",
    "contactsLocationsModule.centralContacts[].email", "contactsLocationsModule.locations[].facility",
    "contactsLocationsModule.locations[].city", "contactsLocationsModule.locations[].state",
    "contactsLocationsModule.locations[].country", "contactsLocationsModule.locations[].zip",
    "contactsLocationsModule.locations[].status", "contactsLocationsModule.locations[].contacts[].name",
    "contactsLocationsModule.locations[].contacts[].role", "contactsLocationsModule.locations[].contacts[].phone",
    "contactsLocationsModule.locations[].contacts[].phoneExt", "contactsLocationsModule.locations[].contacts[].email",
    "ipdSharingStatementModule.ipdSharing", "ipdSharingStatementModule.description", "ipdSharingStatementModule.infoTypes[]",
    "ipdSharingStatementModule.timeFrame", "ipdSharingStatementModule.accessCriteria", "ipdSharingStatementModule.url",
    "referencesModule.seeAlsoLinks[].url", "referencesModule.seeAlsoLinks[].label", "referencesModule.references[].citation",
    "referencesModule.references[].pmid", "referencesModule.references[].type", "referencesModule.availIpds[].type",
    "referencesModule.availIpds[].url", "referencesModule.availIpds[].id", "referencesModule.availIpds[].comment",
))
