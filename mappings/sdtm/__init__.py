"""SDTM domain mappings, one module per domain."""
