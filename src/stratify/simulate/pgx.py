"""Simulated pharmacogenes: CYP2C19 and CYP2D6 haplotypes by ancestry, and Cyrius's CYP2D6 calls.

CYP2C19 haplotypes become VCF genotypes at the positions of PharmCAT's allele definitions
(:mod:`stratify.simulate.genotypes`); CYP2D6 diplotypes are written as a star-allele caller's
output (Cyrius's TSV, :func:`write_cyrius`), as a study would get them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.io.paths import resource_dir

# CYP2C19 haplotype frequencies by ancestry (approximate CPIC frequency-table values).
CYP2C19_FREQ = {
    "EUR": {"*1": 0.632, "*2": 0.147, "*3": 0.002, "*17": 0.215, "*9": 0.002, "*4": 0.002},
    "EAS": {"*1": 0.604, "*2": 0.284, "*3": 0.089, "*17": 0.021, "*9": 0.001, "*4": 0.001},
    "AFR": {"*1": 0.592, "*2": 0.180, "*3": 0.003, "*17": 0.200, "*9": 0.024, "*4": 0.001},
}
# CYP2D6 haplotypes by ancestry (approximate; duplications as xN).
CYP2D6_FREQ = {
    "EUR": {
        "*1": 0.36,
        "*2": 0.27,
        "*4": 0.17,
        "*41": 0.09,
        "*5": 0.03,
        "*10": 0.02,
        "*9": 0.02,
        "*3": 0.01,
        "*2x2": 0.015,
        "*1x2": 0.01,
        "*6": 0.01,
        "*17": 0.005,
    },
    "EAS": {
        "*1": 0.28,
        "*2": 0.12,
        "*10": 0.42,
        "*5": 0.06,
        "*41": 0.03,
        "*36+*10": 0.06,
        "*4": 0.005,
        "*1x2": 0.005,
        "*2x2": 0.01,
        "*9": 0.01,
    },
    "AFR": {
        "*1": 0.29,
        "*2": 0.17,
        "*17": 0.20,
        "*29": 0.09,
        "*5": 0.06,
        "*4": 0.04,
        "*41": 0.03,
        "*2x2": 0.03,
        "*1x2": 0.02,
        "*10": 0.03,
        "*45": 0.04,
    },
}

_IUPAC = {
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}


@dataclass(frozen=True)
class Cyp2c19Alleles:
    """CYP2C19 allele definitions: the defining positions and each named allele's bases there."""

    chrom: str
    positions: list[int]
    rsids: list[str]
    ref: list[str]
    alt: list[str]
    alleles: dict[str, list[str]]
    function: dict[str, str]


@dataclass(frozen=True)
class PgxDraw:
    """The drawn pharmacogenes of a cohort, one entry per patient.

    ``h1`` and ``h2`` are the CYP2C19 haplotypes (written into the VCF), the diplotypes and the
    CYP2C19 phenotype are the truth; ``cyp2d6_diplotype`` is what Cyrius is made to call.
    """

    cyp2c19: Cyp2c19Alleles
    h1: np.ndarray
    h2: np.ndarray
    cyp2c19_diplotype: list[str]
    cyp2c19_phenotype: np.ndarray
    cyp2d6_diplotype: list[str]


def load_cyp2c19() -> Cyp2c19Alleles:
    """Allele definitions (PharmCAT CYP2C19_translation.json, shipped in resources/pgx)."""
    with open(resource_dir() / "pgx" / "CYP2C19_translation.json") as fh:
        d = json.load(fh)
    var = d["variants"]
    ref = [v["ref"] for v in var]
    alleles = {}
    for a in d["namedAlleles"]:
        bases = []
        for j, b in enumerate(a["alleles"]):
            b = b or ref[j]
            if b in _IUPAC:  # an ambiguous definition: the reference base where it is allowed
                b = ref[j] if ref[j] in _IUPAC[b] else _IUPAC[b][0]
            bases.append(b)
        alleles[a["name"]] = bases
    with open(resource_dir() / "pgx" / "CYP2C19_phenotype.json") as fh:
        ph = json.load(fh)
    func = (
        dict(ph["haplotypes"])
        if isinstance(ph["haplotypes"], dict)
        else {h["name"]: h["function"] for h in ph["haplotypes"]}
    )
    return Cyp2c19Alleles(
        d["chromosome"],
        [v["position"] for v in var],
        [v["rsid"] for v in var],
        ref,
        [v["alts"][0] for v in var],
        alleles,
        func,
    )


def cyp2c19_phenotype(f1: str, f2: str) -> str:
    """CPIC function-pair rule for CYP2C19 (facts.md section 1); used for the truth only.

    >>> cyp2c19_phenotype("Increased function", "Normal function")
    'Rapid Metabolizer'
    """
    fs = sorted([f1, f2])
    nf, dec, norm, inc = "No function", "Decreased function", "Normal function", "Increased function"
    if any(f not in (nf, dec, norm, inc) for f in fs):
        return "Indeterminate"
    if fs == [inc, inc]:
        return "Ultrarapid Metabolizer"
    if set(fs) == {norm, inc}:
        return "Rapid Metabolizer"
    if fs == [norm, norm]:
        return "Normal Metabolizer"
    if nf in fs and (norm in fs or inc in fs):
        return "Intermediate Metabolizer"
    if fs == [nf, nf]:
        return "Poor Metabolizer"
    if dec in fs and nf in fs:
        return "Likely Poor Metabolizer"
    return "Likely Intermediate Metabolizer"


def _draw(rng: np.random.Generator, freq: dict[str, float], size: int) -> np.ndarray:
    names = list(freq)
    p = np.array([freq[k] for k in names], dtype=float)
    return np.array(names, dtype=object)[rng.choice(len(names), size=size, p=p / p.sum())]


def _star_key(a: str) -> tuple:
    head = a.split("x")[0].split("+")[0].lstrip("*")
    return (int(head) if head.isdigit() else 999, a)


def _diplotypes(h1, h2) -> list[str]:
    return ["/".join(sorted([a, b], key=_star_key)) for a, b in zip(h1, h2)]


def draw_pgx(rng: np.random.Generator, ancestry: np.ndarray) -> PgxDraw:
    """Two CYP2C19 and two CYP2D6 haplotypes per patient from the frequencies of their ancestry.

    Per ancestry (in the order of :data:`CYP2C19_FREQ`): both CYP2C19 haplotypes, then both
    CYP2D6 haplotypes, of that ancestry's patients.
    """
    cyp = load_cyp2c19()
    n = len(ancestry)
    h1, h2, d6a, d6b = (np.empty(n, dtype=object) for _ in range(4))
    for a in CYP2C19_FREQ:
        m = ancestry == a
        h1[m], h2[m] = _draw(rng, CYP2C19_FREQ[a], m.sum()), _draw(rng, CYP2C19_FREQ[a], m.sum())
        d6a[m], d6b[m] = _draw(rng, CYP2D6_FREQ[a], m.sum()), _draw(rng, CYP2D6_FREQ[a], m.sum())
    pheno = np.array([cyp2c19_phenotype(cyp.function[a], cyp.function[b]) for a, b in zip(h1, h2)], dtype=object)
    return PgxDraw(cyp, h1, h2, _diplotypes(h1, h2), pheno, _diplotypes(d6a, d6b))


def write_cyrius(path: str | Path, sample_ids, diplotypes, rng) -> Path:
    """CYP2D6 calls in Cyrius's TSV format (Sample, Genotype, Filter), with a few
    ambiguous and failed calls as Cyrius writes them."""
    rows = []
    for s, d in zip(sample_ids, diplotypes):
        u = rng.random()
        if u < 0.01:
            rows.append((s, "None", "None"))
        elif u < 0.03:
            rows.append((s, f"{d};*1/*4", "More_than_one_possible_genotype"))
        else:
            rows.append((s, d, "PASS"))
    pd.DataFrame(rows, columns=["Sample", "Genotype", "Filter"]).to_csv(path, sep="\t", index=False)
    return Path(path)
