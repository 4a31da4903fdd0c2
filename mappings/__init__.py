"""Mappings: small pure functions from input tables to SDTM tables and FHIR resources (trialbridge.mappings)."""
