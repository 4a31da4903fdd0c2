"""Findings -> the terminal table and findings.json (findings); the run's report document (document) ->
report.json, report.html (page) and report.xlsx (workbook)."""
