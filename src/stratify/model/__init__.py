"""The model stage: a response model in nested cross-validation, its files and external validation.

- :mod:`~stratify.model.fit`: :func:`~stratify.model.fit.fit_response_model`, the stage's
  orchestration, with its options (:class:`~stratify.model.fit.ModelOptions`, built from a
  config by :func:`~stratify.model.fit.model_options`).
- :mod:`~stratify.model.learners`: the task of an endpoint, the XGBoost model and the linear baselines.
- :mod:`~stratify.model.cv`: outer folds (leave-one-site-out or k-fold) and the inner
  hyperparameter search.
- :mod:`~stratify.model.metrics`: AUC (within sites), Brier, balanced accuracy, R², RMSE, MAE
  with bootstrap intervals; :mod:`~stratify.model.calibration`: calibration slope and intercept;
  :mod:`~stratify.model.bootstrap`: the resampling they share.
- :mod:`~stratify.model.permutation`: the permutation test of the main model.
- :mod:`~stratify.model.io`: the model folder (``xgboost.json``, ``model_features.json``),
  written and read without pickle; :mod:`~stratify.model.card`: the model card.
- :mod:`~stratify.model.external`: a trained model applied to another cohort (``stratify model apply``).
"""
