"""The subtype stage: clustering methods, the no-cluster null test, subtype profiles."""
