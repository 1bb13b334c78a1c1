"""Diplotype -> CPIC phenotype for CYP2C19 and CYP2D6.

* CYP2C19: lookup in CPIC's diplotype table as PharmCAT ships it
  (``resources/pgx/CYP2C19_phenotype.json``, CPIC version 2025-11-05; 666 diplotypes of 36
  alleles). An allele outside the table (e.g. ``*40``, ``*41``) gives "Indeterminate".
* CYP2D6: activity score (Caudle et al. 2020, Clin Transl Sci 13:116, CPIC/DPWG consensus),
  the sum of the two haplotypes' values from ``resources/pgx/CYP2D6_activity.tsv`` (PyPGx's
  copy of the CPIC allele-function table; ``*10`` = 0.25). ``*XxN`` scores N times the
  allele; a tandem or hybrid such as ``*36+*10`` scores the sum of its parts; an unknown copy
  number (``xN``, ``x≥3``) gives a lower bound with N = 3. Phenotype: 0 Poor; 0.25-1.0
  Intermediate; 1.25-2.25 Normal; > 2.25 Ultrarapid.

An ambiguous call keeps a phenotype only when every candidate diplotype gives the same one;
a no-call has phenotype "" (never Normal).

Examples
--------
>>> cyp2c19_phenotype("*2/*17")
'Intermediate Metabolizer'
>>> cyp2d6_activity("*1/*10x2")
(1.5, 'Normal Metabolizer', False)
"""

from __future__ import annotations

import csv
import json
import math
import re
from functools import lru_cache

import numpy as np
import pandas as pd

from stratify.errors import PgxError
from stratify.paths import resource_dir

__all__ = ["add_phenotypes", "cyp2c19_phenotype", "cyp2d6_activity", "cyp2d6_phenotype_from_score"]

POOR = "Poor Metabolizer"
INTERMEDIATE = "Intermediate Metabolizer"
NORMAL = "Normal Metabolizer"
ULTRARAPID = "Ultrarapid Metabolizer"
INDETERMINATE = "Indeterminate"

# Copy number assumed for "xN" / "x≥3": the smallest number such a name can mean.
_UNKNOWN_COPIES = 3
_PART = re.compile(r"^(?P<allele>\*\d+)(?:\.\d+)?(?:[xX](?P<n>\d+|N|n|≥\d+|>=\d+|>\d+))?$")
_SUPPORTED = ("CYP2C19", "CYP2D6")


@lru_cache(maxsize=1)
def _cyp2c19_table() -> dict[tuple[str, str], str]:
    path = resource_dir() / "pgx" / "CYP2C19_phenotype.json"
    raw = json.loads(path.read_text())
    table = {}
    for row in raw["diplotypes"]:
        a, b = row["diplotype"].split("/")
        table[tuple(sorted((a, b)))] = row["generesult"]
    return table


@lru_cache(maxsize=1)
def _cyp2d6_values() -> dict[str, float | None]:
    path = resource_dir() / "pgx" / "CYP2D6_activity.tsv"
    with open(path, newline="") as fh:
        return {
            r["allele"]: (float(r["activity_value"]) if r["activity_value"] else None)
            for r in csv.DictReader(fh, delimiter="\t")
        }


def _split(diplotype: str, gene: str) -> tuple[str, str]:
    """Split ``"*1/*2"`` (gene prefixes such as ``CYP2D6*1`` allowed) into its haplotypes."""
    text = diplotype.replace(gene, "").replace(" ", "")
    parts = text.split("/")
    if len(parts) != 2 or not all(parts):
        raise PgxError(f"{gene} diplotype {diplotype!r}: expected two haplotypes joined by '/', like '*1/*2'")
    return parts[0], parts[1]


@lru_cache(maxsize=1)
def _cyp2c19_alleles() -> frozenset[str]:
    return frozenset(a for pair in _cyp2c19_table() for a in pair)


def _cyp2c19_reason(diplotype: str) -> str:
    """Why a CYP2C19 diplotype is Indeterminate ("" when it is not)."""
    a, b = _split(diplotype, "CYP2C19")
    if (a, b) in _cyp2c19_table() or (b, a) in _cyp2c19_table():
        return ""
    unknown = [x for x in dict.fromkeys((a, b)) if x not in _cyp2c19_alleles()]
    if unknown:
        return "; ".join(f"allele {x} is not in CPIC's CYP2C19 table" for x in unknown)
    return f"diplotype {a}/{b} is not in CPIC's CYP2C19 table"


def cyp2c19_phenotype(diplotype: str) -> str:
    """CPIC phenotype of a CYP2C19 diplotype.

    Parameters
    ----------
    diplotype
        ``"*1/*2"`` in either order; ``""`` is a no-call.

    Returns
    -------
    str
        One of "Ultrarapid Metabolizer", "Rapid Metabolizer", "Normal Metabolizer",
        "Likely Intermediate Metabolizer", "Intermediate Metabolizer", "Likely Poor
        Metabolizer", "Poor Metabolizer", "Indeterminate" (also for an allele CPIC's table
        does not hold), or "" for a no-call.

    Raises
    ------
    PgxError
        The text is not two haplotypes joined by "/".

    Examples
    --------
    >>> cyp2c19_phenotype("*17/*1"), cyp2c19_phenotype("*2/*2"), cyp2c19_phenotype("*1/*99")
    ('Rapid Metabolizer', 'Poor Metabolizer', 'Indeterminate')
    >>> cyp2c19_phenotype("")
    ''
    """
    if diplotype == "":
        return ""
    a, b = _split(diplotype, "CYP2C19")
    return _cyp2c19_table().get(tuple(sorted((a, b))), INDETERMINATE)


def cyp2d6_phenotype_from_score(score: float) -> str:
    """CPIC CYP2D6 phenotype of an activity score (Caudle et al. 2020).

    Examples
    --------
    >>> [cyp2d6_phenotype_from_score(s) for s in (0, 0.25, 1.0, 1.25, 2.25, 2.5)]  # doctest: +NORMALIZE_WHITESPACE
    ['Poor Metabolizer', 'Intermediate Metabolizer', 'Intermediate Metabolizer',
     'Normal Metabolizer', 'Normal Metabolizer', 'Ultrarapid Metabolizer']
    """
    eps = 1e-9
    if score <= eps:
        return POOR
    if score <= 1.0 + eps:
        return INTERMEDIATE
    if score <= 2.25 + eps:
        return NORMAL
    return ULTRARAPID


def _haplotype_reason(haplotype: str) -> str:
    """Why one CYP2D6 haplotype has no activity score ("" when it has one)."""
    values = _cyp2d6_values()
    for part in haplotype.split("+"):
        m = _PART.match(part)
        if not m:
            return f"allele {part} is not in CPIC's CYP2D6 table"
        allele = m.group("allele")
        if allele not in values:
            return f"allele {allele} is not in CPIC's CYP2D6 table"
        if values[allele] is None:
            return f"allele {allele} has unknown or uncertain function in CPIC's CYP2D6 table (no activity value)"
    return ""


def _haplotype_score(haplotype: str) -> tuple[float | None, bool]:
    """(score, is_lower_bound) of one CYP2D6 haplotype; score None if an allele is unknown."""
    values = _cyp2d6_values()
    total = 0.0
    lower = False
    for part in haplotype.split("+"):
        m = _PART.match(part)
        if not m:
            return None, False
        value = values.get(m.group("allele"))
        if value is None:
            return None, False
        n = m.group("n")
        if n is None:
            copies = 1
        elif n.isdigit():
            copies = int(n)
        else:
            copies = _UNKNOWN_COPIES
            # More copies of a zero-value allele add nothing: the score is exact.
            lower = lower or value > 0
        total += copies * value
    return total, lower


def cyp2d6_activity(diplotype: str) -> tuple[float | None, str, bool]:
    """CYP2D6 activity score and phenotype of a diplotype (Caudle et al. 2020).

    Parameters
    ----------
    diplotype
        Two haplotypes joined by "/". A haplotype is an allele (``*4``, suballele
        ``*4.001``), a duplication ``*1x2``, an unknown copy number ``*1xN`` / ``*1x≥3``, or a
        tandem/hybrid arrangement ``*36+*10`` / ``*68+*4``. ``""`` is a no-call.

    Returns
    -------
    tuple
        ``(score, phenotype, is_lower_bound)``. With an unknown copy number the score is
        the lower bound for N = 3 copies, and the phenotype is given only where the bound
        decides it (> 2.25, Ultrarapid), otherwise "Indeterminate". An allele of unknown or
        uncertain function gives ``(None, "Indeterminate", False)``; a no-call
        ``(None, "", False)``.

    Raises
    ------
    PgxError
        The text is not two haplotypes joined by "/".

    Examples
    --------
    >>> cyp2d6_activity("*1/*4")
    (1.0, 'Intermediate Metabolizer', False)
    >>> cyp2d6_activity("*36+*10/*4x2")
    (0.25, 'Intermediate Metabolizer', False)
    >>> cyp2d6_activity("*1xN/*1")
    (4.0, 'Ultrarapid Metabolizer', True)
    >>> cyp2d6_activity("*10x≥3/*4")
    (0.75, 'Indeterminate', True)
    >>> cyp2d6_activity("*1/*22")
    (None, 'Indeterminate', False)
    """
    if diplotype == "":
        return None, "", False
    h1, h2 = _split(diplotype, "CYP2D6")
    s1, lb1 = _haplotype_score(h1)
    s2, lb2 = _haplotype_score(h2)
    if s1 is None or s2 is None:
        return None, INDETERMINATE, False
    score = s1 + s2
    lower = lb1 or lb2
    phenotype = cyp2d6_phenotype_from_score(score)
    if lower and phenotype != ULTRARAPID:
        # More copies could move the score into a higher band.
        phenotype = INDETERMINATE
    return score, phenotype, lower


def _one(gene: str, diplotype: str) -> tuple[float, bool, str, str]:
    """(activity score, lower bound, phenotype, reason) of one diplotype; the reason says why
    the phenotype is Indeterminate ("" otherwise)."""
    if gene == "CYP2C19":
        phenotype = cyp2c19_phenotype(diplotype)
        return math.nan, False, phenotype, (_cyp2c19_reason(diplotype) if phenotype == INDETERMINATE else "")
    score, phenotype, lower = cyp2d6_activity(diplotype)
    reason = ""
    if phenotype == INDETERMINATE:
        if score is None:
            h1, h2 = _split(diplotype, "CYP2D6")
            reason = "; ".join(dict.fromkeys(r for r in (_haplotype_reason(h1), _haplotype_reason(h2)) if r))
        else:
            reason = (f"unknown copy number in {diplotype}: the activity score is at least {score:g} (N = "
                      f"{_UNKNOWN_COPIES}), which does not decide the phenotype")
    return (math.nan if score is None else score), lower, phenotype, reason


def add_phenotypes(calls: pd.DataFrame) -> pd.DataFrame:
    """Add CPIC phenotypes (and CYP2D6 activity scores) to a table of calls.

    Parameters
    ----------
    calls
        At least ``gene, diplotype, status, alternatives`` (as from
        :func:`stratify.pgx.call_diplotypes` or :func:`stratify.pgx.read_calls`); genes
        CYP2C19 and CYP2D6. A ``note`` column, where present, goes into a no-call's reason.

    Returns
    -------
    pandas.DataFrame
        A copy with ``activity_score`` (float; NaN for CYP2C19, no-calls and unknown
        alleles), ``activity_lower_bound`` (bool), ``phenotype`` and ``reason``.
        "called": the diplotype's phenotype. "ambiguous": the phenotype shared by the
        diplotype and every alternative, else "Indeterminate" (the score likewise, else
        NaN). "no-call": phenotype "" and score NaN. ``reason`` says, in the row, why a
        phenotype is Indeterminate or empty (e.g. "allele *999 is not in CPIC's CYP2D6
        table", "no call: PharmCAT: 'Unknown/Unknown', no call"); "" for a phenotype.

    Raises
    ------
    PgxError
        A column is absent, a gene is not CYP2C19/CYP2D6, a status is not
        called/ambiguous/no-call, or a diplotype is malformed.

    Examples
    --------
    >>> import pandas as pd
    >>> calls = pd.DataFrame({"gene": ["CYP2C19", "CYP2C19", "CYP2D6", "CYP2D6"],
    ...     "diplotype": ["*1/*2", "*1/*4", "", "*1/*999"], "status": ["called", "ambiguous", "no-call", "called"],
    ...     "alternatives": ["", "*1/*17", "", ""]})
    >>> out = add_phenotypes(calls)
    >>> out["phenotype"].tolist()
    ['Intermediate Metabolizer', 'Indeterminate', '', 'Indeterminate']
    >>> out["reason"].tolist()[2:]
    ['no call', "allele *999 is not in CPIC's CYP2D6 table"]
    """
    needed = ["gene", "diplotype", "status", "alternatives"]
    absent = [c for c in needed if c not in calls.columns]
    if absent:
        raise PgxError(
            f"calls table lacks column(s) {', '.join(absent)}; expected at least {', '.join(needed)}"
        )
    out = calls.copy()
    scores = np.full(len(out), np.nan)
    lowers = np.zeros(len(out), dtype=bool)
    phenotypes = np.empty(len(out), dtype=object)
    reasons = np.full(len(out), "", dtype=object)
    cache: dict[tuple[str, str], tuple[float, bool, str, str]] = {}

    def lookup(gene: str, dip: str) -> tuple[float, bool, str, str]:
        key = (gene, dip)
        if key not in cache:
            cache[key] = _one(gene, dip)
        return cache[key]

    notes = out["note"] if "note" in out.columns else pd.Series("", index=out.index)
    for k, (gene, dip, status, alts, note) in enumerate(
        zip(out["gene"], out["diplotype"], out["status"], out["alternatives"], notes)
    ):
        if gene not in _SUPPORTED:
            raise PgxError(
                f"calls table, row {k}: gene {gene!r} has no phenotype rules here; supported: "
                f"{', '.join(_SUPPORTED)} (filter the calls to these genes first)"
            )
        dip = "" if _isna(dip) else str(dip)
        if status == "no-call":
            phenotypes[k] = ""
            note = "" if _isna(note) else str(note)
            reasons[k] = f"no call: {note}" if note else "no call"
            continue
        if status == "called":
            scores[k], lowers[k], phenotypes[k], reasons[k] = lookup(gene, dip)
        elif status == "ambiguous":
            options = [dip] + [a for a in ("" if _isna(alts) else str(alts)).split(";") if a]
            results = [(d, lookup(gene, d)) for d in options if d]
            if not results:
                phenotypes[k], reasons[k] = INDETERMINATE, "ambiguous call without candidate diplotypes"
                continue
            phens = {r[2] for _, r in results}
            if len(phens) == 1:
                phenotypes[k] = phens.pop()
                reasons[k] = results[0][1][3]
            else:
                phenotypes[k] = INDETERMINATE
                reasons[k] = "ambiguous call whose candidates give different phenotypes: " + "; ".join(
                    f"{d} {r[2]}" + (f" ({r[3]})" if r[3] else "") for d, r in results)
            vals = {(r[0], r[1]) for _, r in results}
            if len(vals) == 1 and not math.isnan(results[0][1][0]):
                scores[k], lowers[k] = results[0][1][0], results[0][1][1]
        else:
            raise PgxError(
                f"calls table, row {k}: status {status!r}; expected one of called, ambiguous, no-call"
            )
    out["activity_score"] = scores
    out["activity_lower_bound"] = lowers
    out["phenotype"] = pd.Series(phenotypes, index=out.index, dtype=str)
    out["reason"] = pd.Series(reasons, index=out.index, dtype=str)
    return out


def _isna(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))
