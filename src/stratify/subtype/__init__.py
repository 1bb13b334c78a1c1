"""The subtype stage: clustering methods, the no-cluster null test, subtype profiles.

- :mod:`~stratify.subtype.subtyping`: :func:`~stratify.subtype.subtyping.run_subtyping`, the
  stage's analysis (standardise, cluster, test, check stability, name), with its options
  (:class:`~stratify.subtype.subtyping.SubtypeOptions`, built from a config by
  :func:`~stratify.subtype.subtyping.subtype_options`), and
  :func:`~stratify.subtype.subtyping.subtype_adds_to_severity`.
- :mod:`~stratify.subtype.methods`: the clustering methods by config name
  (:func:`~stratify.subtype.methods.make_method`), one module per family:
  :mod:`~stratify.subtype.mixture` (Gaussian mixture, k by BIC), :mod:`~stratify.subtype.kmeans`
  (k by silhouette), :mod:`~stratify.subtype.density` (HDBSCAN),
  :mod:`~stratify.subtype.consensus` (consensus clustering, k by PAC); what they share is in
  :mod:`~stratify.subtype.base`.
- :mod:`~stratify.subtype.stats`: the existence test against a no-cluster null (SigClust) and
  bootstrap stability (Jaccard per cluster).
- :mod:`~stratify.subtype.naming`: names for stable clusters from resources/subtypes.yaml.
"""
