"""Registry records (ClinicalTrials.gov API v2, classic v1 JSON, legacy XML) -> one model: the API v2 record."""
