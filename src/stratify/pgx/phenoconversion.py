"""Phenoconversion: a concurrent CYP inhibitor changes the phenotype a genotype predicts.

Rules (each from ``resources/pgx/cyp_inhibitors.tsv``, sources in resources/SOURCES.md):

* CYP2D6, the CPIC convention stated in the CPIC opioid guideline (Crews et al., Clin
  Pharmacol Ther 2021;110:888-896) and the phenoconversion tutorial of Cicali et al.
  (Clin Pharmacol Ther 2021;110:677-687): with a **strong** inhibitor the activity score
  becomes 0 (Poor Metabolizer); with a **moderate** one it is multiplied by 0.5 and
  translated again with the CPIC consensus bands (Caudle et al., Clin Transl Sci
  2020;13:116): 0 Poor; 0 < score < 1.25 Intermediate; 1.25-2.25 Normal; > 2.25 Ultrarapid.
  The bands are written out here because a halved score can fall between CPIC's
  0.25 steps (2.25 x 0.5 = 1.125: Intermediate).
  Weak inhibitors change nothing. Strong/moderate classes follow the FDA's table of
  clinical CYP inhibitors.
* CYP2C19 has no activity score and no CPIC adjustment rule. stratify extends the
  strong-inhibitor convention: a **strong** CYP2C19 inhibitor (fluvoxamine, fluconazole,
  ticlopidine) makes the phenotype Poor Metabolizer. A moderate one is reported, not applied.

CPIC's 2023 SSRI/SNRI guideline (Bousman et al.) states that consensus approaches for
adjusting CYP2D6, CYP2C19 or CYP2B6 phenotypes for inhibitors have not been established:
the converted phenotype is therefore always reported next to the genotype one.

Examples
--------
>>> convert("CYP2D6", "Normal Metabolizer", 2.0, False, [("fluoxetine", "strong", 0.0)])
('Poor Metabolizer', 'fluoxetine (strong CYP2D6 inhibitor): activity score 2 x 0 = 0')
>>> convert("CYP2D6", "Normal Metabolizer", 1.5, False, [("duloxetine", "moderate", 0.5)])[0]
'Intermediate Metabolizer'
"""

from __future__ import annotations

import math
from functools import lru_cache

import pandas as pd

from stratify.errors import PgxError
from stratify.io.paths import read_reference_tsv, resource_dir

INHIBITOR_FILE = "pgx/cyp_inhibitors.tsv"
INHIBITOR_COLUMNS = ["agent", "gene", "strength", "activity_factor", "source", "verified", "notes"]
STRENGTHS = ("strong", "moderate", "weak")
POOR = "Poor Metabolizer"
INDETERMINATE = "Indeterminate"
#: The activity scores a CYP2D6 phenotype covers (CPIC: multiples of 0.25), used when a
#: call has a phenotype but no score (a caller's phenotype, or one candidate diplotype).
CYP2D6_BANDS = {
    "Poor Metabolizer": (0.0, 0.0),
    "Intermediate Metabolizer": (0.25, 1.0),
    "Normal Metabolizer": (1.25, 2.25),
    "Ultrarapid Metabolizer": (2.5, math.inf),
    INDETERMINATE: (0.0, math.inf),
}


@lru_cache(maxsize=1)
def load_inhibitors() -> pd.DataFrame:
    """The shipped table of CYP2D6/CYP2C19 inhibitors.

    Returns
    -------
    pandas.DataFrame
        Columns ``agent, gene, strength, activity_factor, source, verified, notes``;
        ``activity_factor`` is a float for CYP2D6 (0, 0.5, 1) and NaN for CYP2C19.

    Raises
    ------
    PgxError
        A column is missing, a strength is unknown or an (agent, gene) repeats (a
        corrupted installation).

    Examples
    --------
    >>> t = load_inhibitors()
    >>> t.query("agent == 'fluoxetine' and gene == 'CYP2D6'")["strength"].item()
    'strong'
    """
    path = resource_dir() / INHIBITOR_FILE
    t = read_reference_tsv(path, INHIBITOR_COLUMNS, error=PgxError)
    bad = sorted(set(t["strength"]) - set(STRENGTHS))
    if bad:
        raise PgxError(f"{path}: strength(s) {', '.join(bad)}; expected one of {', '.join(STRENGTHS)}")
    if t.duplicated(["agent", "gene"]).any():
        first = t[t.duplicated(["agent", "gene"])].iloc[0]
        raise PgxError(f"{path}: ({first.agent}, {first.gene}) appears more than once")
    t["activity_factor"] = pd.to_numeric(t["activity_factor"].replace("", None), errors="raise")
    return t[INHIBITOR_COLUMNS]


def inhibitors_of(gene: str, agents) -> list[tuple[str, str, float]]:
    """(agent, strength, activity factor) of each strong or moderate `gene` inhibitor in `agents`."""
    t = load_inhibitors()
    t = t[(t["gene"] == gene) & t["agent"].isin(set(agents)) & (t["strength"] != "weak")]
    return sorted(zip(t["agent"], t["strength"], t["activity_factor"]))


def concurrent_agents(treatments: pd.DataFrame) -> dict[tuple, set[str]]:
    """Agents taken together with each drug trial, keyed by (patient, episode, trial).

    The treatments table has trial order but no dates, so "concurrent" is defined from
    its structure: the agents of one row (``a+b``) are taken together; an ``augmentation``
    trial is added to the most recent ``medication`` trial before it in the same episode,
    so the two are concurrent with each other (and with any other augmentation of that
    trial). Consecutive medication trials are switches, not combinations; an inhibitor's
    effect lasting after it stops (fluoxetine: weeks) is not modelled.
    """
    keys = list(zip(treatments["patient_id"].astype(str), treatments["episode"], treatments["trial"]))
    agents = {
        k: {a.strip() for a in str(ag).lower().split("+") if a.strip()} for k, ag in zip(keys, treatments["agent"])
    }
    modality = dict(zip(keys, treatments["modality"]))
    base_of: dict[tuple, tuple] = {}
    anchor: dict[tuple, tuple] = {}
    for k in sorted(keys, key=lambda k: (k[0], str(k[1]), _order(k[2]))):
        if modality[k] == "medication":
            anchor[(k[0], k[1])] = k
        elif modality[k] == "augmentation" and (k[0], k[1]) in anchor:
            base_of[k] = anchor[(k[0], k[1])]
    groups: dict[tuple, set[tuple]] = {}
    for aug, base in base_of.items():
        groups.setdefault(base, {base}).add(aug)
    together = {k: set(v) for k, v in agents.items()}
    for members in groups.values():
        union = set().union(*(agents[m] for m in members))
        for m in members:
            together[m] = set(union)
    return together


def _order(trial) -> float:
    try:
        return float(trial)
    except (TypeError, ValueError):
        return math.inf


def _interval(gene: str, phenotype: str, score: float, lower_bound: bool) -> tuple[float, float]:
    if gene == "CYP2D6" and not math.isnan(score):
        return score, (math.inf if lower_bound else score)
    return CYP2D6_BANDS.get(phenotype, (0.0, math.inf))


def convert(
    gene: str, phenotype: str, score: float, lower_bound: bool, inhibitors: list[tuple[str, str, float]]
) -> tuple[str, str]:
    """The phenotype after phenoconversion and a note saying what was done.

    Parameters
    ----------
    gene, phenotype
        The genotype-predicted CPIC phenotype ("" = no call, never converted).
    score, lower_bound
        CYP2D6 activity score (NaN if unknown: the phenotype's band is used) and whether
        it is only a lower bound (unknown copy number).
    inhibitors
        From :func:`inhibitors_of`; with several, the strongest decides (the smallest factor).

    Returns
    -------
    tuple of str
        (phenotype, note); with no inhibitor, (`phenotype`, "").
    """
    if not phenotype or not inhibitors:
        return phenotype, ""
    names = ", ".join(f"{a} ({s} {gene} inhibitor)" for a, s, _ in inhibitors)
    if gene == "CYP2C19":
        if any(s == "strong" for _, s, _ in inhibitors):
            return POOR, f"{names}: strong inhibitor, phenotype taken as Poor Metabolizer (stratify's extension)"
        return phenotype, f"{names}: no established CYP2C19 adjustment, phenotype unchanged"
    factor = min(f for _, _, f in inhibitors)
    lo, hi = _interval(gene, phenotype, score, lower_bound)
    if factor == 0:
        new_lo = new_hi = 0.0
    else:
        new_lo, new_hi = lo * factor, hi * factor
    a, b = cyp2d6_band(new_lo), cyp2d6_band(new_hi)
    new = a if a == b else INDETERMINATE
    arith = f"activity score {_span(lo, hi)} x {factor:g} = {_span(new_lo, new_hi)}"
    return new, f"{names}: {arith}" + ("" if a == b else " (spans phenotypes: Indeterminate)")


def cyp2d6_band(score: float) -> str:
    """CPIC consensus CYP2D6 phenotype of any activity score (Caudle et al. 2020).

    >>> [cyp2d6_band(s) for s in (0, 0.125, 1.125, 1.25, 2.25, 2.3)]  # doctest: +NORMALIZE_WHITESPACE
    ['Poor Metabolizer', 'Intermediate Metabolizer', 'Intermediate Metabolizer',
     'Normal Metabolizer', 'Normal Metabolizer', 'Ultrarapid Metabolizer']
    """
    eps = 1e-9
    if score <= eps:
        return POOR
    if score < 1.25 - eps:
        return "Intermediate Metabolizer"
    if score <= 2.25 + eps:
        return "Normal Metabolizer"
    return "Ultrarapid Metabolizer"


def _span(lo: float, hi: float) -> str:
    if lo == hi:
        return f"{lo:g}"
    return f"{lo:g}+" if math.isinf(hi) else f"{lo:g}-{hi:g}"
