"""Simulated demo cohorts (``stratify simulate``)."""
