"""`trialbridge spec check` (check, check_inputs: a study mapping specification and its raw data -> every
problem at once) and `trialbridge spec init` (init, init_edc: raw extracts or an EDC export -> a starting spec)."""
