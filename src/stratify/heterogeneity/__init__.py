"""The heterogeneity stage: do treatment effects differ between patients?

Two questions, two kinds of data:

- From a cohort with two randomised arms (the stage, :mod:`~stratify.heterogeneity.cohort`):
  :func:`~stratify.heterogeneity.cohort.analyse_cohort` picks the arms and baseline features
  and runs :func:`~stratify.heterogeneity.ite.analyse_heterogeneity`, which combines

  - :mod:`~stratify.heterogeneity.learners`: cross-fitted T- and X-learners, each patient's
    predicted response under either arm and individual treatment-effect (CATE) estimates;
  - :mod:`~stratify.heterogeneity.blp`: the decision rule, the split-sample best-linear-predictor
    test of Chernozhukov et al. (2018);
  - :mod:`~stratify.heterogeneity.ite`: the Personalized Advantage Index and the summary with its
    plain statement.

  The stage also draws the PAI and CATE figures and runs the variance-ratio meta-analysis with
  the cohort's sites as studies (:func:`~stratify.heterogeneity.cohort.site_variance_ratios`).
- From published trial arms (``stratify teh vr``, :mod:`~stratify.heterogeneity.variance_ratio`):
  reading and pairing arms tables, lnVR and lnCVR pooled by fixed and random effects as R's
  metafor does, the forest plot, and the GRISELDA arms of Cipriani et al. 2018.
"""
