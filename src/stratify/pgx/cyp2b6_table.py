"""CYP2B6 diplotype -> CPIC phenotype (interim, until the general phenotype tables cover CYP2B6).

Self-contained so that :mod:`stratify.pgx.phenotype` (owned elsewhere) need not change: drop
this module once ``phenotype.add_phenotypes`` knows CYP2B6, and call it directly.

Source: CPIC's CYP2B6 allele-function and diplotype tables as PharmCAT ships them
(PharmGKB/PharmCAT ``src/main/resources/org/pharmgkb/pharmcat/phenotype/CYP2B6.json``,
version 2025-11-05-00-25; CPIC data, CC0; see resources/SOURCES.md). CPIC's 1,176 diplotype
rows (every pair of its 48 alleles) give a phenotype that depends only on the pair of allele
functions, so :data:`FUNCTION` (48 alleles) and :data:`PAIR_PHENOTYPE` (15 function pairs)
reproduce every row; :func:`rules_from_cpic_json` re-derives both from the JSON and
tests/test_pgx_cyp2b6.py checks all 1,176 rows. CPIC guideline using it: Bousman et al. 2023,
Clin Pharmacol Ther 114:51 (SSRIs/SNRIs; sertraline).

Examples
--------
>>> cyp2b6_phenotype("*1/*6"), cyp2b6_phenotype("*4/*9"), cyp2b6_phenotype("*6/*6")
('Intermediate Metabolizer', 'Intermediate Metabolizer', 'Poor Metabolizer')
>>> cyp2b6_phenotype("*1/*22")
'Indeterminate'
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import PgxError

__all__ = ["FUNCTION", "PAIR_PHENOTYPE", "add_phenotypes_with_cyp2b6", "cyp2b6_phenotype", "cyp2b6_reason",
           "rules_from_cpic_json"]

_N, _D, _I, _X, _U = "Normal function", "Decreased function", "Increased function", "No function", "Uncertain function"

#: CPIC allele function per CYP2B6 allele (CYP2B6.json ``namedAlleles[].functionValue``).
FUNCTION: dict[str, str] = {
    "*1": _N, "*2": _N, "*3": _U, "*4": _I, "*5": _N, "*6": _D, "*7": _D, "*8": _X, "*9": _D, "*10": _U,
    "*11": _U, "*12": _X, "*13": _X, "*14": _U, "*15": _U, "*17": _N, "*18": _X, "*19": _D, "*20": _D,
    "*21": _U, "*22": _U, "*23": _U, "*24": _U, "*25": _U, "*26": _D, "*27": _U, "*28": _X, "*29": _D,
    "*30": _X, "*31": _N, "*32": _N, "*33": _U, "*34": _D, "*35": _U, "*36": _D, "*37": _D, "*38": _X,
    "*39": _D, "*40": _D, "*41": _D, "*42": _D, "*43": _D, "*44": _U, "*45": _U, "*46": _U, "*47": _U,
    "*48": _U, "*49": _U,
}  # fmt: skip

#: CPIC phenotype per unordered pair of allele functions (sorted alphabetically).
PAIR_PHENOTYPE: dict[tuple[str, str], str] = {
    (_D, _D): "Poor Metabolizer", (_D, _I): "Intermediate Metabolizer", (_D, _X): "Poor Metabolizer",
    (_D, _N): "Intermediate Metabolizer", (_D, _U): "Indeterminate", (_I, _I): "Ultrarapid Metabolizer",
    (_I, _X): "Intermediate Metabolizer", (_I, _N): "Rapid Metabolizer", (_I, _U): "Indeterminate",
    (_X, _X): "Poor Metabolizer", (_X, _N): "Intermediate Metabolizer", (_X, _U): "Indeterminate",
    (_N, _N): "Normal Metabolizer", (_N, _U): "Indeterminate", (_U, _U): "Indeterminate",
}  # fmt: skip

INDETERMINATE = "Indeterminate"


def rules_from_cpic_json(path: str | Path) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """(allele -> function, function pair -> phenotype) from CPIC's CYP2B6.json (PharmCAT copy).

    Raises
    ------
    PgxError
        Two diplotypes with the same function pair have different phenotypes (then a
        function-pair rule cannot represent the table).
    """
    raw = json.loads(Path(path).read_text())
    function = {a["name"]: a["functionValue"] for a in raw["namedAlleles"]}
    pairs: dict[tuple[str, str], str] = {}
    for row in raw["diplotypes"]:
        a, b = row["diplotype"].split("/")
        key = tuple(sorted((function[a], function[b])))
        if pairs.setdefault(key, row["generesult"]) != row["generesult"]:
            raise PgxError(f"{path}: diplotype {row['diplotype']} gives {row['generesult']}, another {key} pair "
                           f"gives {pairs[key]}; the table is not a function-pair rule")
    return function, pairs


def _split(diplotype: str) -> tuple[str, str]:
    parts = str(diplotype).replace(" ", "").split("/")
    if len(parts) != 2 or not all(parts):
        raise PgxError(f"CYP2B6 diplotype {diplotype!r} is malformed; expected two star alleles like '*1/*6'")
    return parts[0], parts[1]


def cyp2b6_phenotype(diplotype: str) -> str:
    """CPIC phenotype of a CYP2B6 diplotype; "Indeterminate" for an allele CPIC does not list.

    Raises
    ------
    PgxError
        The diplotype is not two alleles joined by "/".
    """
    a, b = _split(diplotype)
    if a not in FUNCTION or b not in FUNCTION:
        return INDETERMINATE
    return PAIR_PHENOTYPE[tuple(sorted((FUNCTION[a], FUNCTION[b])))]


def cyp2b6_reason(diplotype: str) -> str:
    """Why a CYP2B6 diplotype is Indeterminate ("" when it is not).

    Examples
    --------
    >>> cyp2b6_reason("*1/*99")
    "allele *99 is not in CPIC's CYP2B6 table"
    >>> cyp2b6_reason("*1/*22")
    '*22 has uncertain function (CPIC)'
    """
    a, b = _split(diplotype)
    unknown = [x for x in dict.fromkeys((a, b)) if x not in FUNCTION]
    if unknown:
        return "; ".join(f"PharmCAT combination {x} (one haplotype with several alleles' variants) has no CPIC "
                         "function" if x.startswith("[") else f"allele {x} is not in CPIC's CYP2B6 table"
                         for x in unknown)
    unc = [x for x in dict.fromkeys((a, b)) if FUNCTION[x] == _U]
    return "; ".join(f"{x} has uncertain function (CPIC)" for x in unc)


def _phenotype_rows(calls: pd.DataFrame) -> pd.DataFrame:
    """add_phenotypes' columns for CYP2B6 rows, by the same rules (ambiguous: shared phenotype or Indeterminate)."""
    out = calls.copy()
    phen = np.empty(len(out), dtype=object)
    reason = np.full(len(out), "", dtype=object)
    notes = out["note"] if "note" in out.columns else pd.Series("", index=out.index)
    for k, (dip, status, alts, note) in enumerate(zip(out["diplotype"], out["status"], out["alternatives"], notes)):
        dip = "" if _na(dip) else str(dip)
        if status == "no-call":
            note = "" if _na(note) else str(note)
            phen[k], reason[k] = "", (f"no call: {note}" if note else "no call")
            continue
        if status not in ("called", "ambiguous"):
            raise PgxError(f"calls table, row {k}: status {status!r}; expected one of called, ambiguous, no-call")
        options = [dip] + ([a for a in ("" if _na(alts) else str(alts)).split(";") if a] if status == "ambiguous"
                           else [])
        options = [d for d in options if d]
        if not options:
            phen[k], reason[k] = INDETERMINATE, "ambiguous call without candidate diplotypes"
            continue
        found = [(d, cyp2b6_phenotype(d)) for d in options]
        kinds = {p for _, p in found}
        if len(kinds) == 1:
            phen[k] = kinds.pop()
            reason[k] = cyp2b6_reason(options[0]) if phen[k] == INDETERMINATE else ""
        else:
            phen[k] = INDETERMINATE
            reason[k] = "ambiguous call whose candidates give different phenotypes: " + "; ".join(
                f"{d} {p}" for d, p in found)
    out["activity_score"] = math.nan
    out["activity_lower_bound"] = False
    out["phenotype"] = pd.Series(phen, index=out.index, dtype=str)
    out["reason"] = pd.Series(reason, index=out.index, dtype=str)
    return out


def add_phenotypes_with_cyp2b6(calls: pd.DataFrame) -> pd.DataFrame:
    """:func:`stratify.pgx.phenotype.add_phenotypes`, with CYP2B6 rows phenotyped here.

    Rows keep their order; columns are those of ``add_phenotypes``. Once the general
    phenotype module supports CYP2B6, call it instead of this.

    Raises
    ------
    PgxError
        As ``add_phenotypes`` (a missing column, an unsupported gene, a bad status or diplotype).
    """
    from stratify.pgx import phenotype

    if "CYP2B6" in getattr(phenotype, "_SUPPORTED", ()) or "gene" not in calls.columns:
        return phenotype.add_phenotypes(calls)   # the general module knows CYP2B6 (or names the missing column)
    missing = [c for c in ("diplotype", "status", "alternatives") if c not in calls.columns]
    if missing:
        return phenotype.add_phenotypes(calls)   # its named error for the missing column
    is_b6 = (calls["gene"] == "CYP2B6").to_numpy()
    if not is_b6.any():
        return phenotype.add_phenotypes(calls)
    flat = calls.reset_index(drop=True)
    parts = [_phenotype_rows(flat.loc[is_b6])]
    if (~is_b6).any():
        parts.append(phenotype.add_phenotypes(flat.loc[~is_b6]))
    out = pd.concat(parts).sort_index()
    out.index = calls.index
    return out


def _na(x) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))
