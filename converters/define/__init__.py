"""Define-XML 2.1 for an SDTM package (writer: the entry; study, model, plan, facts, document: its parts)."""
