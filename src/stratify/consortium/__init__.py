"""Consortia: several cohorts, each run on its own, compared and pooled (issue 20).

- :mod:`~stratify.consortium.config`: the consortium config (a list of cohort configs, each valid
  on its own).
- :mod:`~stratify.consortium.replication`: do the subtypes of one cohort replicate in another?
  (cohort A's saved clustering labels B's patients; adjusted Rand, centroid match, prediction
  strength; a verdict per named subtype). Needs individual data of B.
- :mod:`~stratify.consortium.transport`: the response model of each cohort tested on every
  other, and leave-one-cohort-out with the rest pooled. Needs individual data.
- :mod:`~stratify.consortium.bundle`: a site bundle of aggregates only (``stratify summarise``).
- :mod:`~stratify.consortium.pooling`: random-effects pooling of subtype response rates, AUCs
  and variance ratios, from bundles or from the raw data (the same numbers).
- :mod:`~stratify.consortium.stage`: ``stratify consortium``, all of the above over every
  cohort's results folder into ``results/consortium/<name>/`` (with :mod:`~stratify.consortium.tables`
  for what each cohort has and lacks, :mod:`~stratify.consortium.plots` for the figures).
"""
