"""The inputs stage: read, harmonise and validate the cohort's tables."""
