"""Linear parts of the response model, as plain numbers: the covariate model (genotype
principal components as adjustment, whose linear predictor is XGBoost's offset) and the
elastic-net learner whose covariates are (nearly) unpenalised.

A :class:`Linear` is median imputation, standardisation and one coefficient per column, stored
as lists so that ``model_features.json`` can carry it and :mod:`stratify.model.external` and
:mod:`stratify.explain` can predict and explain without pickle.

Covariates, not free predictors. Genotype principal components adjust for ancestry (Price et al.
2006, Nat Genet 38:904); they are not hypothesised to predict response. Left among XGBoost's
features they compete for splits, and with random SNPs they are pure noise that the trees fit
(issue 19). So they enter a small logistic (linear) model of their own, lightly penalised
(L2, C = 1 on standardised columns), whose linear predictor is XGBoost's ``base_margin``: the
trees start from the covariates' prediction and model only what the covariates do not
(boosting from an initial offset, Friedman 2001, Ann Stat 29:1189; XGBoost's ``base_margin``).
In the elastic net (Zou & Hastie 2005, J R Stat Soc B 67:301) the covariates are in the same
model, multiplied by :data:`UNPENALISED_SCALE` after standardisation, which divides their L1
penalty by that factor and their L2 penalty by its square: the documented equivalent of
glmnet's ``penalty.factor`` (Friedman, Hastie & Tibshirani 2010, J Stat Softw 33:1) in
scikit-learn, which has no per-feature penalty.

Categories coded as ranks. A metaboliser phenotype (poor ... ultrarapid) is a category that
the features stage codes as an ordinal rank for the trees; its effect need not be monotone
(poor metabolisers may stop for side effects, ultrarapid ones stay below therapeutic levels:
CPIC's guideline for SSRIs, Hicks et al. 2015, Clin Pharmacol Ther 98:127, and Bousman et al.
2023, Clin Pharmacol Ther 114:51). So the elastic net also gets one indicator per observed
level of such a feature (:class:`Design` ``categorical``; dummy coding under a penalty, no
reference level needed), beside the rank itself.

Treatment-modifier terms. A response model's premise in pharmacogenomic stratification is
effect modification: a feature (a metaboliser phenotype, an inflammatory profile) changes the
response *to the index treatment*, so its effect differs by treatment. A model additive in the
features cannot express that. The elastic net may therefore also carry the products of each
index-treatment feature (:class:`Design` ``treatments``) with every other non-covariate
feature and level indicator, the factors centred and the product standardised, penalised like
the main effects: the covariate-by-treatment interaction model of Tian, Alizadeh, Gentles &
Tibshirani (2014), J Am Stat Assoc 109:1517 ("A simple method for estimating interactions
between a treatment and a large number of covariates"), who centre the treatment and leave
the lasso to select among the products; and the standard effect-modification terms (Rothman,
Greenland & Lash, Modern Epidemiology, 3rd ed., ch. 15). Whether the products enter at all is
part of the elastic net's inner search (``interactions`` False or True, :func:`enet_search`),
so a cohort without such effects can keep the additive model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stratify.model.learners import CLASSIFICATION

#: Covariates are multiplied by this after standardisation in the elastic net (penalty / 10 for
#: L1, / 100 for L2).
UNPENALISED_SCALE = 10.0

#: The elastic net's inner grid: inverse penalty strength C (classification; alpha = 1 / (2 n C)
#: for regression is the same grid in scikit-learn's ElasticNet terms) and the L1 share.
ENET_C = (0.01, 0.03, 0.1, 0.3, 1.0)
ENET_L1 = (0.2, 0.8)
#: With and without the treatment-modifier products (when the model has treatment features).
ENET_INTERACTIONS = (False, True)
#: A categorical feature gets level indicators when it has 3 to this many levels.
MAX_LEVELS = 8


@dataclass(frozen=True)
class Design:
    """Roles of feature positions in the elastic net's design beyond the main effects:
    ``treatments`` (index-treatment features, factors of the treatment-modifier products) and
    ``categorical`` (categories coded as ranks, also given one indicator per level)."""

    treatments: tuple[int, ...] = ()
    categorical: tuple[int, ...] = ()


@dataclass
class Linear:
    """A fitted linear predictor on the columns ``cols`` of a feature matrix: NaN -> ``medians``,
    then ``(x - means) / sds``, then ``z @ coef + intercept`` (log-odds, or outcome units).

    ``held`` (positions in ``cols``) are adjustment covariates: they enter the fit, and are
    held at their training mean (z = 0) when predicting unless ``full=True``.

    ``terms`` are derived terms after the columns: each a list of factors ``[position in cols,
    level]``, the factor being the standardised column (level None) or the indicator that the
    (imputed) value equals the level; a term is the product of its factors, standardised with
    ``term_means`` and ``term_sds``. Their coefficients follow the columns' in ``coef``."""

    cols: list[int]
    medians: list[float]
    means: list[float]
    sds: list[float]
    coef: list[float]
    intercept: float
    held: list[int] = field(default_factory=list)
    terms: list[list[list]] = field(default_factory=list)
    term_means: list[float] = field(default_factory=list)
    term_sds: list[float] = field(default_factory=list)

    def imputed(self, X: np.ndarray) -> np.ndarray:
        """The columns after median imputation."""
        R = np.asarray(X, dtype=float)[:, self.cols]
        return np.where(np.isnan(R), np.asarray(self.medians), R)

    def standardised(self, X: np.ndarray) -> np.ndarray:
        """The standardised columns (after median imputation)."""
        return (self.imputed(X) - np.asarray(self.means)) / np.asarray(self.sds)

    def _z(self, X: np.ndarray, full: bool) -> np.ndarray:
        R = self.imputed(X)
        Z = (R - np.asarray(self.means)) / np.asarray(self.sds)
        if self.terms:  # derived terms never involve held covariates
            T = (_term_values(R, Z, self.terms) - np.asarray(self.term_means)) / np.asarray(self.term_sds)
        else:
            T = np.zeros((len(Z), 0))
        if not full and self.held:
            Z[:, self.held] = 0.0
        return np.hstack([Z, T])

    def margin(self, X: np.ndarray, *, full: bool = False) -> np.ndarray:
        """The linear predictor of every row of ``X`` (all features, model order); the
        ``held`` covariates at their training mean unless ``full``."""
        if not self.cols:
            return np.full(len(X), float(self.intercept))
        return self._z(X, full) @ np.asarray(self.coef) + float(self.intercept)

    def term_contributions(self, X: np.ndarray) -> np.ndarray:
        """Every term's contribution to :meth:`margin` relative to the mean over the rows of
        ``X``: coefficient times the term's deviation from its mean (columns, then ``terms``)."""
        Z = self._z(X, False) if self.cols else np.zeros((len(X), 0))
        return (Z - Z.mean(axis=0)) * np.asarray(self.coef)

    def term_columns(self) -> list[list[int]]:
        """The distinct positions in ``cols`` of every term (one for a column or a level
        indicator, two for a treatment-modifier product)."""
        return [[j] for j in range(len(self.cols))] + [sorted({int(f[0]) for f in t}) for t in self.terms]

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, float]:
        """SHAP values of the prediction (:meth:`margin`) with the rows of ``X`` as background,
        one column per ``cols`` entry (0 for ``held`` covariates), and the base value (the mean
        margin). A main effect's value is exact (coefficient times deviation from the background
        mean, independent features; Lundberg & Lee 2017); a level indicator's goes to its
        feature; a product term's is split equally between its two features, as SHAP interaction
        values split a pair's interaction between the two (Lundberg et al. 2020, Nat Mach Intell
        2:56), so every row still adds up to the prediction."""
        T = self.term_contributions(X)
        c = np.zeros((len(X), len(self.cols)))
        for j, owners in enumerate(self.term_columns()):
            for a in owners:
                c[:, a] += T[:, j] / len(owners)
        return c, float(self.margin(X).mean()) if len(X) else float(self.intercept)

    def interaction_matrix(self, X: np.ndarray) -> np.ndarray:
        """Mean |SHAP interaction value| on the ``cols`` x ``cols`` grid, as TreeExplainer's
        summary: on the diagonal each feature's own terms (column and level indicators), off it
        each product term's mean |contribution| split equally between (a, b) and (b, a)."""
        k = len(self.cols)
        T = np.abs(self.term_contributions(X)).mean(axis=0) if len(X) else np.zeros(len(self.coef))
        M = np.zeros((k, k))
        for j, owners in enumerate(self.term_columns()):
            if len(owners) == 1:
                M[owners[0], owners[0]] += T[j]
            else:
                a, b = owners
                M[a, b] += T[j] / 2
                M[b, a] += T[j] / 2
        return M

    def to_dict(self) -> dict[str, Any]:
        keys = ("cols", "medians", "means", "sds", "coef", "intercept", "held", "terms", "term_means", "term_sds")
        return {k: getattr(self, k) for k in keys}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Linear:
        keys = ("cols", "medians", "means", "sds", "coef", "intercept")
        extra = {k: list(d.get(k, [])) for k in ("held", "terms", "term_means", "term_sds")}
        return cls(**{k: d[k] for k in keys}, **extra)


def _term_values(R: np.ndarray, Z: np.ndarray, terms: list[list[list]]) -> np.ndarray:
    """The raw (unstandardised) derived terms: products of standardised columns and level
    indicators of the imputed columns ``R``."""
    out = np.ones((len(R), len(terms)))
    for j, term in enumerate(terms):
        for pos, level in term:
            out[:, j] *= Z[:, int(pos)] if level is None else np.isclose(R[:, int(pos)], float(level))
    return out


def design_terms(
    R: np.ndarray, cols: list[int], design: Design, *, covariates: list[int], interactions: bool
) -> list[list[list]]:
    """The derived terms of a fit on the imputed training columns ``R`` (``cols`` of the
    feature matrix): level indicators of the ``categorical`` features with 3 to
    :data:`MAX_LEVELS` observed levels, and with ``interactions`` every treatment that varies
    (identical treatment columns once) times every other non-covariate column and level
    indicator.

    >>> R = np.array([[1, 0, 5.0], [0, 1, 6.0], [1, 2, 7.0]])
    >>> t = design_terms(R, [0, 1, 2], Design(treatments=(0,), categorical=(1,)), covariates=[2], interactions=True)
    >>> t[:3], t[3:5]
    ([[[1, 0.0]], [[1, 1.0]], [[1, 2.0]]], [[[0, None], [1, None]], [[0, None], [1, 0.0]]])
    """
    at = {c: j for j, c in enumerate(cols)}
    cov = {at[c] for c in covariates if c in at}
    treat_all = {at[t] for t in design.treatments if t in at}
    treat: list[int] = []
    for t in sorted(treat_all):
        if np.unique(R[:, t]).size > 1 and not any(np.array_equal(R[:, t], R[:, u]) for u in treat):
            treat.append(t)
    levels: list[list[list]] = []
    for c in design.categorical:
        j = at.get(c)
        if j is None or j in cov or j in treat_all:
            continue
        lv = np.unique(R[:, j])
        if 2 < lv.size <= MAX_LEVELS:
            levels += [[[j, float(v)]] for v in lv]
    terms = list(levels)
    if interactions:
        mods = [j for j in range(len(cols)) if j not in cov and j not in treat_all]
        for t in treat:
            terms += [[[t, None], [m, None]] for m in mods] + [[[t, None], *lv] for lv in levels]
    return terms


def _prepare(X: np.ndarray, cols: list[int]) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """Median-imputed columns, the same standardised, and the numbers that reproduce them."""
    R = np.asarray(X, dtype=float)[:, cols]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(R, axis=0)
    med = np.where(np.isnan(med), 0.0, med)
    R = np.where(np.isnan(R), med, R)
    mu, sd = R.mean(axis=0), R.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return R, (R - mu) / sd, {"medians": med.tolist(), "means": mu.tolist(), "sds": sd.tolist()}


def fit_linear(
    X: np.ndarray,
    y: np.ndarray,
    cols: list[int],
    *,
    task: str,
    C: float = 1.0,
    l1_ratio: float = 0.0,
    unpenalised: list[int] | None = None,
    design: Design | None = None,
    interactions: bool = False,
    hold_all: bool = False,
    seed: int = 0,
) -> Linear:
    """Fit a penalised logistic (classification) or linear (regression) model on ``cols``.

    ``l1_ratio`` 0 is ridge (L2), above 0 the elastic net. ``unpenalised`` (a subset of
    ``cols``) are scaled by :data:`UNPENALISED_SCALE` so that their penalty is negligible.
    ``design`` adds the derived terms of :func:`design_terms` (level indicators, and with
    ``interactions`` the treatment-modifier products), standardised and penalised like the
    columns. Without columns the model is the intercept alone (the outcome's log-odds or mean).
    """
    y = np.asarray(y, dtype=float)
    if not cols:
        m = y.mean()
        icpt = float(np.log(m / (1 - m))) if task == CLASSIFICATION and 0 < m < 1 else float(m)
        return Linear([], [], [], [], [], icpt)
    R, Z, prep = _prepare(X, cols)
    terms = design_terms(R, cols, design, covariates=unpenalised or [], interactions=interactions) if design else []
    tprep: dict[str, list[float]] = {"term_means": [], "term_sds": []}
    if terms:
        T = _term_values(R, Z, terms)
        tm, ts = T.mean(axis=0), T.std(axis=0)
        ts = np.where(ts > 0, ts, 1.0)
        Z = np.hstack([Z, (T - tm) / ts])
        tprep = {"term_means": tm.tolist(), "term_sds": ts.tolist()}
    scale = np.array([UNPENALISED_SCALE if c in set(unpenalised or []) else 1.0 for c in cols] + [1.0] * len(terms))
    coef, icpt = _penalised_fit(Z * scale, y, task=task, C=C, l1_ratio=l1_ratio, seed=seed)
    held = list(range(len(cols))) if hold_all else [j for j, c in enumerate(cols) if c in set(unpenalised or [])]
    return Linear(
        list(map(int, cols)), **prep, coef=(coef * scale).tolist(), intercept=icpt, held=held, terms=terms, **tprep
    )


def _penalised_fit(Zs: np.ndarray, y: np.ndarray, *, task: str, C: float, l1_ratio: float, seed: int):
    """Coefficients and intercept of the penalised logistic or linear model on ``Zs``."""
    if task == CLASSIFICATION:
        from sklearn.linear_model import LogisticRegression

        solver = "saga" if l1_ratio > 0 else "lbfgs"
        m = LogisticRegression(C=C, l1_ratio=l1_ratio, solver=solver, max_iter=5000, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # saga's convergence notes on tiny folds
            m.fit(Zs, y.astype(int))
        return m.coef_[0], float(m.intercept_[0])
    from sklearn.linear_model import ElasticNet, Ridge

    alpha = 1.0 / (2 * len(y) * C)
    m = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, max_iter=20000) if l1_ratio > 0 else Ridge(alpha=alpha * len(y))
    mu, sd = y.mean(), y.std() or 1.0
    m.fit(Zs, (y - mu) / sd)  # penalties on the standardised outcome, whatever its units
    return np.ravel(m.coef_) * sd, float(m.intercept_) * sd + mu


def loss(y: np.ndarray, margin: np.ndarray, *, task: str) -> float:
    """Log loss of log-odds ``margin`` (classification) or RMSE (regression): the inner
    selection's criterion, the same as XGBoost's early-stopping metric."""
    y = np.asarray(y, dtype=float)
    if task == CLASSIFICATION:
        p = np.clip(1 / (1 + np.exp(-margin)), 1e-15, 1 - 1e-15)
        return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(np.sqrt(np.mean((y - margin) ** 2)))


def enet_search(
    X: np.ndarray,
    y: np.ndarray,
    splits,
    *,
    task: str,
    covariates: list[int],
    seed: int,
    design: Design | None = None,
) -> dict[str, Any]:
    """Choose the elastic net's C, L1 share and whether the treatment-modifier products of
    ``design`` enter, over :data:`ENET_C` x :data:`ENET_L1` x :data:`ENET_INTERACTIONS` (only
    without products when no treatment feature varies), by the mean inner-validation loss on
    ``splits`` (the XGBoost search's inner folds); all columns in, ``covariates`` unpenalised."""
    cols = list(range(X.shape[1]))
    results = []
    for inter in ENET_INTERACTIONS if has_treatment_terms(X, design) else (False,):
        for C in ENET_C:
            for l1 in ENET_L1:
                losses = [
                    loss(
                        y[va],
                        fit_linear(
                            X[tr],
                            y[tr],
                            cols,
                            task=task,
                            C=C,
                            l1_ratio=l1,
                            unpenalised=covariates,
                            design=design,
                            interactions=inter,
                            seed=seed,
                        ).margin(X[va]),
                        task=task,
                    )
                    for tr, va in splits
                ]
                results.append({"C": C, "l1_ratio": l1, "interactions": inter, "inner_loss": float(np.mean(losses))})
    best = min(results, key=lambda r: r["inner_loss"])
    return {
        "params": {"C": best["C"], "l1_ratio": best["l1_ratio"], "interactions": best["interactions"]},
        "inner_loss": best["inner_loss"],
        "results": results,
    }


def has_treatment_terms(X: np.ndarray, design: Design | None) -> bool:
    """Whether a treatment feature of ``design`` varies in ``X`` (so products can be formed)."""
    if not design:
        return False
    return any(np.unique(X[:, t][~np.isnan(X[:, t])]).size > 1 for t in design.treatments)
