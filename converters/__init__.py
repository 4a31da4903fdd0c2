"""Readers of native records, writers of standard outputs, the pipeline and the CLI (trialbridge.converters)."""
