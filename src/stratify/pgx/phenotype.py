"""Diplotype -> CPIC phenotype for CYP2B6, CYP2C19 and CYP2D6, from CPIC's own tables.

The tables are shipped in ``resources/pgx`` and rebuilt from CPIC's data by
``scripts/build_pgx_tables.py`` (provenance and checksums in ``resources/SOURCES.md``):

* CYP2C19, CYP2B6: a lookup in CPIC's diplotype table as PharmCAT ships it
  (``CYP2C19_phenotype.json``, ``CYP2B6_phenotype.json``; CPIC version 2025-11-05; 666 and 1,176
  diplotypes), in either allele order. A suballele counts as its core allele (``*2.001`` =
  ``*2``: PharmVar suballeles share the core allele's function-defining variants). An allele
  outside the table gives "Indeterminate", as does an allele of uncertain function (CPIC's rows).
* CYP2D6: the activity score (Caudle et al. 2020, Clin Transl Sci 13:116, CPIC/DPWG consensus)
  with CPIC's allele activity values, version 2024-08-27 (``CYP2D6_activity.tsv``: ``*9``,
  ``*10`` and ``*41`` are 0.25), and CPIC's phenotype bands (``CYP2D6_phenotype_bands.tsv``:
  0 Poor; 0.25-1.0 Intermediate; 1.25-2.25 Normal; 2.5 or more Ultrarapid). The score is the sum
  of the two haplotypes. A name CPIC's table lists (``*1x2``, ``*41x3``, ``*1x≥3``) takes CPIC's
  value; another duplication ``*XxK`` scores K times ``*X`` (CPIC's rule, which every duplication
  in its table follows); a tandem or hybrid ``*36+*10`` sums its parts.
* An unknown copy number makes the score a lower bound: ``xN`` means two or more copies,
  ``x≥3`` (also ``x>=3``) three or more, ``x>3`` four or more (CPIC scores ``*1x≥3`` as "≥3.0"). The
  phenotype is given when the bound decides it (the bound is already Ultrarapid, or the
  duplicated allele scores 0), otherwise it is "Indeterminate" with the reason: ``*1xN/*4`` is at
  least 2.0 (Normal) but 3.0 (Ultrarapid) with a third copy.

An ambiguous call keeps a phenotype only when every candidate diplotype gives the same one; its
``candidate_phenotypes`` lists each candidate's. A no-call has phenotype "" (never Normal).

Examples
--------
>>> cyp2c19_phenotype("*2/*17")
'Intermediate Metabolizer'
>>> cyp2d6_activity("*1x2/*41")
(2.25, 'Normal Metabolizer', False)
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np
import pandas as pd

from stratify.errors import PgxError
from stratify.io.paths import resource_dir

__all__ = [
    "GENES",
    "add_phenotypes",
    "cyp2b6_phenotype",
    "cyp2c19_phenotype",
    "cyp2d6_activity",
    "cyp2d6_phenotype_from_score",
]

POOR = "Poor Metabolizer"
INTERMEDIATE = "Intermediate Metabolizer"
NORMAL = "Normal Metabolizer"
ULTRARAPID = "Ultrarapid Metabolizer"
INDETERMINATE = "Indeterminate"

GENES = ("CYP2B6", "CYP2C19", "CYP2D6")
_LOOKUP_FILES = {"CYP2B6": "CYP2B6_phenotype.json", "CYP2C19": "CYP2C19_phenotype.json"}
_KNOWN_FUNCTION = ("Normal function", "Increased function", "Decreased function", "No function")
_PART = re.compile(r"^(?P<allele>\*\d+)(?:\.\d+)?(?:[xX](?P<n>\d+|N|n|≥\d+|>=\d+|>\d+))?$")
_SUBALLELE = re.compile(r"^(\*\d+)\.\d+$")
_EPS = 1e-9


def _split(diplotype: str, gene: str) -> tuple[str, str]:
    """Split ``"*1/*2"`` (gene prefixes such as ``CYP2D6*1`` and spaces allowed) into its haplotypes."""
    text = diplotype.replace(gene, "").replace(" ", "")
    parts = text.split("/")
    if len(parts) != 2 or not all(parts):
        raise PgxError(f"{gene} diplotype {diplotype!r}: expected two haplotypes joined by '/', like '*1/*2'")
    return parts[0], parts[1]


def _fmt(score: float) -> str:
    """A score as CPIC writes it (``1.0``, ``2.25``)."""
    return str(round(float(score), 4))


# --------------------------------------------------------------------------- CYP2C19, CYP2B6


@dataclass(frozen=True)
class _Lookup:
    phenotype: dict[tuple[str, str], str]  # sorted allele pair -> CPIC phenotype
    function: dict[str, str]  # allele -> CPIC function


@cache
def _lookup_table(gene: str) -> _Lookup:
    raw = json.loads((resource_dir() / "pgx" / _LOOKUP_FILES[gene]).read_text(encoding="utf-8"))
    table = {tuple(sorted(r["diplotype"].split("/"))): r["generesult"] for r in raw["diplotypes"]}
    return _Lookup(table, dict(raw["haplotypes"]))


def _lookup(gene: str, diplotype: str) -> tuple[str, str]:
    """(phenotype, reason) of a CYP2C19/CYP2B6 diplotype; reason "" unless Indeterminate."""
    a, b = _split(diplotype, gene)
    alleles = [_SUBALLELE.sub(r"\1", x) for x in (a, b)]
    t = _lookup_table(gene)
    unknown = [x for x in dict.fromkeys(alleles) if x not in t.function]
    if unknown:
        return INDETERMINATE, "; ".join(f"allele {x} is not in CPIC's {gene} table" for x in unknown)
    phenotype = t.phenotype.get(tuple(sorted(alleles)))
    if phenotype is None:
        return INDETERMINATE, f"diplotype {a}/{b} is not in CPIC's {gene} table"
    if phenotype != INDETERMINATE:
        return phenotype, ""
    why = [
        f"allele {x} has {t.function[x].lower()} in CPIC's {gene} table"
        for x in dict.fromkeys(alleles)
        if t.function[x] not in _KNOWN_FUNCTION
    ]
    return INDETERMINATE, "; ".join(why) or f"CPIC's {gene} table gives Indeterminate for {a}/{b}"


def cyp2c19_phenotype(diplotype: str) -> str:
    """CPIC phenotype of a CYP2C19 diplotype (CPIC's table, version 2025-11-05).

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
    return _lookup("CYP2C19", diplotype)[0] if diplotype else ""


def cyp2b6_phenotype(diplotype: str) -> str:
    """CPIC phenotype of a CYP2B6 diplotype (CPIC's table, version 2025-11-05).

    Same conventions as :func:`cyp2c19_phenotype`; CYP2B6 has no "Likely" categories.

    Examples
    --------
    >>> cyp2b6_phenotype("*6/*1"), cyp2b6_phenotype("*6/*6"), cyp2b6_phenotype("*1/*4")
    ('Intermediate Metabolizer', 'Poor Metabolizer', 'Rapid Metabolizer')
    >>> cyp2b6_phenotype("*1/*3")   # *3 has uncertain function
    'Indeterminate'
    """
    return _lookup("CYP2B6", diplotype)[0] if diplotype else ""


# --------------------------------------------------------------------------- CYP2D6


@lru_cache(maxsize=1)
def _cyp2d6_values() -> dict[str, tuple[float | None, bool, str]]:
    """CPIC allele name -> (activity value or None, value is a lower bound, function)."""
    with open(resource_dir() / "pgx" / "CYP2D6_activity.tsv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    return {
        r["allele"]: (
            None if r["activity_value"] == "n/a" else float(r["activity_value"].lstrip("≥")),
            r["activity_value"].startswith("≥"),
            r["function"],
        )
        for r in rows
    }


@lru_cache(maxsize=1)
def _cyp2d6_bands() -> tuple[tuple[str, float], ...]:
    """(phenotype, lowest score) in ascending order, from CPIC's diplotype table."""
    with open(resource_dir() / "pgx" / "CYP2D6_phenotype_bands.tsv", newline="", encoding="utf-8") as fh:
        rows = [(r["phenotype"], float(r["activity_score_min"])) for r in csv.DictReader(fh, delimiter="\t")]
    return tuple(sorted(rows, key=lambda r: r[1]))


def cyp2d6_phenotype_from_score(score: float) -> str:
    """CPIC CYP2D6 phenotype of an activity score: the band whose lowest score it reaches.

    Examples
    --------
    >>> [cyp2d6_phenotype_from_score(s) for s in (0, 0.25, 1.0, 1.25, 2.25, 2.5)]  # doctest: +NORMALIZE_WHITESPACE
    ['Poor Metabolizer', 'Intermediate Metabolizer', 'Intermediate Metabolizer',
     'Normal Metabolizer', 'Normal Metabolizer', 'Ultrarapid Metabolizer']
    """
    bands = _cyp2d6_bands()
    phenotype = bands[0][0]
    for name, lowest in bands:
        if score >= lowest - _EPS:
            phenotype = name
    return phenotype


@dataclass(frozen=True)
class _Haplotype:
    score: float | None  # None: an allele without an activity value
    step: float  # > 0: the score is a lower bound and each further copy adds at least this
    open_parts: tuple[str, ...]  # the parts with an unknown copy number, e.g. "*1xN: 2 or more copies"
    reason: str  # why there is no score


def _copies(n: str | None) -> tuple[int, bool]:
    """(least number of copies, copy number open) of a duplication suffix ``x2``, ``xN``, ``x≥3``."""
    if n is None:
        return 1, False
    if n.isdigit():
        return int(n), False
    if n in ("N", "n"):
        return 2, True  # xN: an unknown number of copies, two or more
    if n.startswith(">") and not n.startswith(">="):
        return int(n[1:]) + 1, True
    return int(n.lstrip("≥>=")), True


def _haplotype(haplotype: str) -> _Haplotype:
    values = _cyp2d6_values()
    total, step, open_parts = 0.0, 0.0, []
    for part in haplotype.split("+"):
        m = _PART.match(part)
        if not m or m.group("allele") not in values:
            allele = m.group("allele") if m else part
            return _Haplotype(None, 0.0, (), f"allele {allele} is not in CPIC's CYP2D6 table")
        allele, n = m.group("allele"), m.group("n")
        base, _, function = values[allele]
        if base is None:
            return _Haplotype(
                None, 0.0, (), f"allele {allele} has {function.lower()} in CPIC's CYP2D6 table (no activity value)"
            )
        copies, is_open = _copies(n)
        if copies == 0:
            return _Haplotype(None, 0.0, (), f"{part}: zero copies is not a haplotype (the gene deletion is *5)")
        suffix = "" if n is None else "x" + ("N" if n in ("N", "n") else n.replace(">=", "≥"))
        # CPIC's own row for this name (*1x2, *41x3, *1x≥3), else K copies of the allele
        if allele + suffix in values:
            value, bound = values[allele + suffix][:2]
        else:
            value, bound = copies * base, is_open and base > 0
        total += value
        if bound:
            step = base if step == 0 else min(step, base)
            open_parts.append(f"{part}: {copies} or more copies")
    return _Haplotype(total, step, tuple(open_parts), "")


def _undecided(score: float, step: float, open_parts: list[str]) -> str:
    """The reason a lower-bound score does not decide the phenotype."""
    at_bound = cyp2d6_phenotype_from_score(score)
    reach, last, s = [], at_bound, score
    while last != ULTRARAPID:
        s += step
        p = cyp2d6_phenotype_from_score(s)
        if p != last:
            reach.append(f"{_fmt(s)} ({p})")
            last = p
    return (
        f"copy number unknown ({'; '.join(open_parts)}): the activity score is at least {_fmt(score)} "
        f"({at_bound}) and more copies make it {' or '.join(reach)}, so the lower bound does not decide "
        "the phenotype"
    )


@lru_cache(maxsize=65536)
def _cyp2d6(diplotype: str) -> tuple[float | None, bool, str, str]:
    """(score, is a lower bound, phenotype, reason) of a CYP2D6 diplotype."""
    haps = [_haplotype(h) for h in _split(diplotype, "CYP2D6")]
    reasons = list(dict.fromkeys(h.reason for h in haps if h.reason))
    if reasons:
        return None, False, INDETERMINATE, "; ".join(reasons)
    score = haps[0].score + haps[1].score
    steps = [h.step for h in haps if h.step > 0]
    phenotype = cyp2d6_phenotype_from_score(score)
    if steps and phenotype != ULTRARAPID:
        # More copies raise the score, so every band from here up to Ultrarapid is possible.
        return score, True, INDETERMINATE, _undecided(score, min(steps), [p for h in haps for p in h.open_parts])
    return score, bool(steps), phenotype, ""


def cyp2d6_activity(diplotype: str) -> tuple[float | None, str, bool]:
    """CYP2D6 activity score and phenotype of a diplotype (Caudle et al. 2020; CPIC's values).

    Parameters
    ----------
    diplotype
        Two haplotypes joined by "/". A haplotype is an allele (``*4``, suballele ``*4.001``),
        a duplication ``*1x2``, an unknown copy number ``*1xN`` (two or more copies),
        ``*1x≥3`` / ``*1x>=3`` (three or more), or a tandem/hybrid arrangement ``*36+*10`` /
        ``*68+*4``. ``""`` is a no-call.

    Returns
    -------
    tuple
        ``(score, phenotype, is_lower_bound)``. With an unknown copy number the score is the
        least the name allows, and the phenotype is given only where that bound decides it,
        otherwise "Indeterminate". An allele of unknown or uncertain function gives
        ``(None, "Indeterminate", False)``; a no-call ``(None, "", False)``.

    Raises
    ------
    PgxError
        The text is not two haplotypes joined by "/".

    Examples
    --------
    >>> cyp2d6_activity("*1/*4"), cyp2d6_activity("*4/*41x3")
    ((1.0, 'Intermediate Metabolizer', False), (0.75, 'Intermediate Metabolizer', False))
    >>> cyp2d6_activity("*36+*10/*4x2")
    (0.25, 'Intermediate Metabolizer', False)
    >>> cyp2d6_activity("*1xN/*1"), cyp2d6_activity("*1xN/*4")
    ((3.0, 'Ultrarapid Metabolizer', True), (2.0, 'Indeterminate', True))
    >>> cyp2d6_activity("*1/*22")
    (None, 'Indeterminate', False)
    """
    if diplotype == "":
        return None, "", False
    score, lower, phenotype, _ = _cyp2d6(diplotype)
    return score, phenotype, lower


# --------------------------------------------------------------------------- tables of calls


@lru_cache(maxsize=65536)
def _one(gene: str, diplotype: str) -> tuple[float, bool, str, str]:
    """(activity score or NaN, lower bound, phenotype, reason) of one diplotype."""
    if gene == "CYP2D6":
        score, lower, phenotype, reason = _cyp2d6(diplotype)
        return (math.nan if score is None else score), lower, phenotype, reason
    phenotype, reason = _lookup(gene, diplotype)
    return math.nan, False, phenotype, reason


def _ambiguous(gene: str, options: list[str], at) -> tuple[float, bool, str, str, str]:
    """(score, lower bound, phenotype, reason, candidate_phenotypes) of an ambiguous call."""
    results = [(d, _checked(gene, d, at)) for d in dict.fromkeys(options) if d]
    if not results:
        return math.nan, False, INDETERMINATE, "ambiguous call without candidate diplotypes", ""
    listing = "; ".join(f"{d}: {r[2]}" for d, r in results)
    phens = {r[2] for _, r in results}
    if len(phens) == 1:
        phenotype = phens.pop()
        reason = "; ".join(dict.fromkeys(r[3] for _, r in results if r[3]))
    else:
        phenotype = INDETERMINATE
        reason = "ambiguous call whose candidates give different phenotypes: " + "; ".join(
            f"{d} {r[2]}" + (f" ({r[3]})" if r[3] else "") for d, r in results
        )
    scores = {(r[0], r[1]) for _, r in results}
    score, lower = results[0][1][:2] if len(scores) == 1 else (math.nan, False)
    return score, lower, phenotype, reason, listing


def _checked(gene: str, diplotype: str, at) -> tuple[float, bool, str, str]:
    try:
        return _one(gene, diplotype)
    except PgxError as e:
        raise PgxError(f"{at()}: {e}") from None


def add_phenotypes(calls: pd.DataFrame, *, source: str = "calls table") -> pd.DataFrame:
    """Add CPIC phenotypes (and CYP2D6 activity scores) to a table of calls.

    Parameters
    ----------
    calls
        At least ``gene, diplotype, status, alternatives`` (as from
        :func:`stratify.pgx.call_diplotypes` or :func:`stratify.pgx.read_calls`); genes
        :data:`GENES`. A ``note`` column, where present, goes into a no-call's reason; a
        ``sample`` column names the record in error messages.
    source
        What the table is (a file name), for error messages.

    Returns
    -------
    pandas.DataFrame
        A copy with ``activity_score`` (float; NaN for CYP2C19/CYP2B6, no-calls and alleles
        without a value), ``activity_lower_bound`` (bool: the score is the least an unknown copy
        number allows), ``phenotype``, ``reason`` and ``candidate_phenotypes``.
        "called": the diplotype's phenotype. "ambiguous": the phenotype shared by the diplotype
        and every alternative, else "Indeterminate" (the score likewise, else NaN), and
        ``candidate_phenotypes`` lists every candidate's, ``"*1/*4: Intermediate Metabolizer;
        *4/*4: Poor Metabolizer"`` ("" for other statuses). "no-call": phenotype "" and score NaN.
        ``reason`` says why a phenotype is Indeterminate or empty (e.g. "allele *999 is not in
        CPIC's CYP2D6 table", "no call: PharmCAT: 'Unknown/Unknown', no call"); "" otherwise.

    Raises
    ------
    PgxError
        A column is absent, a gene is not one of :data:`GENES`, a status is not
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
    >>> out["candidate_phenotypes"][1]
    '*1/*4: Intermediate Metabolizer; *1/*17: Rapid Metabolizer'
    >>> out["reason"].tolist()[2:]
    ['no call', "allele *999 is not in CPIC's CYP2D6 table"]
    """
    needed = ["gene", "diplotype", "status", "alternatives"]
    absent = [c for c in needed if c not in calls.columns]
    if absent:
        raise PgxError(f"{source} lacks column(s) {', '.join(absent)}; expected at least {', '.join(needed)}")
    out = calls.copy()
    n = len(out)
    scores, lowers = np.full(n, np.nan), np.zeros(n, dtype=bool)
    phenotypes, reasons, listings = (np.full(n, "", dtype=object) for _ in range(3))
    notes = out["note"] if "note" in out.columns else pd.Series("", index=out.index)
    samples = out["sample"] if "sample" in out.columns else pd.Series(None, index=out.index)
    for k, (gene, dip, status, alts, note, sample) in enumerate(
        zip(out["gene"], out["diplotype"], out["status"], out["alternatives"], notes, samples)
    ):

        def at(k=k, sample=sample, gene=gene) -> str:
            return f"{source}, call {k + 1}" + ("" if _isna(sample) else f" (sample {sample!r}, gene {gene})")

        if gene not in GENES:
            raise PgxError(
                f"{at()}: gene {gene!r} has no phenotype rules here; supported: {', '.join(GENES)} "
                "(filter the calls to these genes first)"
            )
        dip = "" if _isna(dip) else str(dip)
        if status == "no-call":
            note = "" if _isna(note) else str(note)
            reasons[k] = f"no call: {note}" if note else "no call"
        elif status == "called":
            scores[k], lowers[k], phenotypes[k], reasons[k] = _checked(gene, dip, at)
        elif status == "ambiguous":
            options = [dip] + ("" if _isna(alts) else str(alts)).split(";")
            scores[k], lowers[k], phenotypes[k], reasons[k], listings[k] = _ambiguous(gene, options, at)
        else:
            raise PgxError(f"{at()}: status {status!r}; expected one of called, ambiguous, no-call")
    out["activity_score"] = scores
    out["activity_lower_bound"] = lowers
    for name, values in (("phenotype", phenotypes), ("reason", reasons), ("candidate_phenotypes", listings)):
        out[name] = pd.Series(values, index=out.index, dtype=str)
    return out


def _isna(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))
