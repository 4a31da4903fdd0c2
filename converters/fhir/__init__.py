"""FHIR outputs: SDTM hub + registry record -> checked resources -> Bundles and NDJSON (stage, chunk, bundle),
posted to a server (upload), and FHIR files checked (check: convert's outputs; validate: anyone's)."""
