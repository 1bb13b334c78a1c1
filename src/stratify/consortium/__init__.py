"""Consortia: several cohorts, each run on its own, compared and pooled (docs/consortia.md)."""
