"""Readers of raw sources (CSV forms, XLSX, SAS7BDAT/XPT, CDISC ODM, REDCap) into raw datasets."""
