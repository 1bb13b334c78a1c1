"""The heterogeneity stage: variance ratios, arm pairing and individual treatment effects."""
