"""The fitted response model: the learner the nested selection chose (XGBoost on a covariate
offset, or the elastic net), with everything it needs to predict from the features in model
order, and nothing pickled.

* ``xgboost``: a covariate model (:class:`stratify.model.linear.Linear` on the genotype
  principal components, :func:`covariate_columns`) gives each training patient a linear
  predictor; the trees are fitted on the other features with that predictor as
  ``base_margin`` (offset), so they model only what the covariates do not. A prediction is
  the trees plus the covariate model at the covariates' training mean (its intercept).
* ``elastic_net``: one :class:`~stratify.model.linear.Linear` on every feature, covariates
  unpenalised in the fit and held at their training mean when predicting
  (:func:`stratify.model.linear.fit_linear`); when its inner search chose ``interactions``,
  also the products of the index-treatment features with the other non-covariate features
  (treatment-by-feature interactions); metaboliser ranks also as level indicators
  (:func:`linear_design`, :func:`stratify.model.linear.design_terms`).

Why the covariates are held at their mean when predicting: they adjust the fit (ancestry),
they are not predictors. Principal components computed within one cohort have no meaning in
another, and under leave-one-site-out a held-out site's components lie where the training
sites' do not, so a linear offset extrapolates a site-level shift: with the offset applied at
prediction, the pooled cross-validated AUC of planted cohort 500 (1,000 patients) was 0.61
against 0.69 for XGBoost without genetic features (docs/model.md).

:class:`ResponseModel` holds both fitted learners of the final model (the chosen one predicts;
the other is kept so that the saved folder shows both) and turns into and out of
``model_features.json`` (:meth:`ResponseModel.to_meta`, :meth:`ResponseModel.from_meta`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from stratify.model.learners import CLASSIFICATION, make_xgb
from stratify.model.linear import Design, Linear, fit_linear

XGBOOST, ELASTIC_NET = "xgboost", "elastic_net"
LEARNERS = (XGBOOST, ELASTIC_NET)
#: Features whose role is adjustment: genotype principal components (pc1, pc2, ...).
COVARIATE_PATTERN = re.compile(r"^pc\d+$")
#: Features that describe the index treatment (the clinical stage's index_ssri_snri,
#: index_escitalopram_citalopram, ...): the elastic net's treatment-modifier products use them.
TREATMENT_PATTERN = re.compile(r"^index_")
#: Categories coded as ordinal ranks (metaboliser phenotypes, stratify.features.table.PHENOTYPE_RANK):
#: the elastic net also gets one indicator per level.
CATEGORICAL_PATTERN = re.compile(r"^cyp\w+_rank$")


def covariate_columns(features: list[str]) -> list[int]:
    """Positions of the adjustment covariates (genotype PCs) among ``features``.

    >>> covariate_columns(["age", "pc1", "pc12", "prs_mdd"])
    [1, 2]
    """
    return [i for i, f in enumerate(features) if COVARIATE_PATTERN.match(f)]


def linear_design(features: list[str]) -> Design:
    """The elastic net's :class:`~stratify.model.linear.Design` for ``features``: the
    index-treatment features and the categories coded as ranks, by position.

    >>> linear_design(["age", "index_ssri_snri", "cyp2c19_rank", "index_escitalopram_citalopram"])
    Design(treatments=(1, 3), categorical=(2,))
    """
    return Design(
        treatments=tuple(i for i, f in enumerate(features) if TREATMENT_PATTERN.match(f)),
        categorical=tuple(i for i, f in enumerate(features) if CATEGORICAL_PATTERN.match(f)),
    )


def _xgb_offset_params(params: dict[str, Any], task: str) -> dict[str, Any]:
    """XGBoost's base score at zero margin: the offset carries the intercept."""
    return {**params, "base_score": 0.5 if task == CLASSIFICATION else 0.0}


def fit_offset_xgb(
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    *,
    task: str,
    seed: int,
    covariates: list[int],
    eval_X: np.ndarray | None = None,
    eval_y: np.ndarray | None = None,
    early_stopping_rounds: int | None = None,
):
    """The covariate model on ``covariates`` and XGBoost on the other columns with its
    linear predictor as offset; with ``eval_X``, early stopping on that set, scored as the
    model predicts (covariates at their training mean: the offset is the covariate model's
    intercept). Returns (covariate model, fitted XGBoost, booster columns)."""
    cov = fit_linear(X, y, covariates, task=task, C=1.0, l1_ratio=0.0, hold_all=True, seed=seed)
    rest = [i for i in range(X.shape[1]) if i not in set(covariates)]
    m = make_xgb(_xgb_offset_params(params, task), seed=seed, task=task, early_stopping_rounds=early_stopping_rounds)
    kw: dict[str, Any] = {"base_margin": cov.margin(X, full=True)}
    if eval_X is not None:
        kw.update(eval_set=[(eval_X[:, rest], eval_y)], base_margin_eval_set=[cov.margin(eval_X)], verbose=False)
    m.fit(X[:, rest], y, **kw)
    return cov, m, rest


@dataclass
class ResponseModel:
    """A fitted response model. ``learner`` is the one that predicts; ``covariates`` and
    ``booster`` (on ``booster_cols``) are the XGBoost learner, ``linear`` the elastic net; the
    one not chosen may be None. ``covariates`` None: a booster without offset (a model folder
    written before the covariate offset)."""

    task: str
    learner: str
    covariates: Linear | None = None
    booster: Any = None
    booster_cols: list[int] | None = None
    linear: Linear | None = None

    def margin(self, X: np.ndarray) -> np.ndarray:
        """Log-odds (classification) or the predicted value (regression)."""
        X = np.asarray(X, dtype=float)
        if self.learner == ELASTIC_NET:
            return self.linear.margin(X)
        if self.covariates is None:
            return self.booster.predict(X[:, self.booster_cols], output_margin=True)
        off = self.covariates.margin(X)
        return self.booster.predict(X[:, self.booster_cols], output_margin=True, base_margin=off)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Probability of the outcome (classification) or the predicted value (regression)."""
        z = self.margin(X)
        return 1 / (1 + np.exp(-z)) if self.task == CLASSIFICATION else z

    def to_meta(self, features: list[str]) -> dict[str, Any]:
        """What ``model_features.json`` holds to predict again (with ``xgboost.json``)."""
        out: dict[str, Any] = {"learner": self.learner}
        if self.covariates is not None:
            out["covariate_model"] = {
                **self.covariates.to_dict(),
                "features": [features[i] for i in self.covariates.cols],
            }
            out["booster_features"] = [features[i] for i in self.booster_cols]
        if self.linear is not None:
            out["linear_model"] = {**self.linear.to_dict(), "features": [features[i] for i in self.linear.cols]}
        return out

    @classmethod
    def from_meta(cls, meta: dict[str, Any], booster) -> ResponseModel:
        """The model again from ``model_features.json`` and the loaded ``xgboost.json``."""
        feats = meta["features"]
        cov = meta.get("covariate_model")
        lin = meta.get("linear_model")
        if cov is None:  # a folder from before the covariate offset: the booster on every feature, no offset
            return cls(meta["task"], XGBOOST, None, booster, list(range(len(feats))))
        return cls(
            meta["task"],
            meta.get("learner", XGBOOST),
            Linear.from_dict(cov),
            booster,
            [feats.index(f) for f in meta["booster_features"]],
            Linear.from_dict(lin) if lin else None,
        )


def fit_learner(
    learner: str,
    X: np.ndarray,
    y: np.ndarray,
    params: dict[str, Any],
    *,
    task: str,
    seed: int,
    covariates: list[int],
    design: Design | None = None,
) -> ResponseModel:
    """Fit one learner with its chosen ``params`` on all of ``X`` (the elastic net with the
    derived terms of ``design``, the treatment-modifier products when ``params["interactions"]``)."""
    if learner == ELASTIC_NET:
        lin = fit_linear(
            X,
            y,
            list(range(X.shape[1])),
            task=task,
            C=params["C"],
            l1_ratio=params["l1_ratio"],
            unpenalised=covariates,
            design=design,
            interactions=bool(params.get("interactions", False)),
            seed=seed,
        )
        return ResponseModel(task, ELASTIC_NET, linear=lin)
    cov, m, rest = fit_offset_xgb(X, y, params, task=task, seed=seed, covariates=covariates)
    return ResponseModel(task, XGBOOST, covariates=cov, booster=m, booster_cols=rest)


@dataclass(frozen=True)
class LearnerSpec:
    """A learner with fixed parameters, fitted by ``.fit(X, y)`` like a scikit-learn
    estimator (for :func:`stratify.model.cv.cross_validated_predictions` and the permutation
    test)."""

    learner: str
    params: dict[str, Any]
    task: str
    seed: int
    covariates: tuple[int, ...]
    design: Design | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> ResponseModel:
        return fit_learner(
            self.learner,
            X,
            y,
            self.params,
            task=self.task,
            seed=self.seed,
            covariates=list(self.covariates),
            design=self.design,
        )
