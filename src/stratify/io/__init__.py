"""Input/output shared by every stage: typed Parquet tables with provenance, text tables, paths, result files."""
