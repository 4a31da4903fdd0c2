"""FHIR resource mappings, one module per resource."""
