"""The study mapping specification: its in-memory model, conditions and the generic engine that runs it."""
