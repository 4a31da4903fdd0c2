"""`trialbridge synth`: the REVALLO protocol simulated subject by subject -> a native record folder
(generator: the entry; protocol, course, block, labs, adverse_events, forms, registry: its parts;
revallo_spec/: the study specification it writes beside the data)."""
