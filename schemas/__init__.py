"""Official schema files, standards metadata and the checkers that use them (trialbridge.schemas)."""
