"""The features stage: one table of clinical, PGx and genotype features per patient."""
