"""Diplotype calling: each sample's genotypes matched against every pair of named alleles.

:func:`call_diplotypes` matches the way PharmCAT's NamedAlleleMatcher does, in named steps:
encode the genotypes (:func:`_encode`), group equal samples (:func:`_patterns`), test every
allele pair at every position (:func:`_match`), score and keep the top candidates
(:func:`_candidates`), choose each pattern's call (:func:`_choose`) and build the table
(:func:`_table`). Failed genotype calls are handled by :mod:`stratify.pgx.alleles.nocall`.

How the matching follows PharmCAT (PharmGKB/PharmCAT, ``haplotype/MatchData.java`` and
``definition/model/NamedAllele.java``, development branch 2025-11):

* A definition that is silent at a position (``null`` in the file's ``alleles``) takes the
  reference base there (PharmCAT's default ``assumeReference``). IUPAC codes such as ``Y``
  in ``*4`` match either base.
* An allele's score is the number of positions its definition specifies (non-null in the
  file's ``alleles``; the file's ``score`` field). Positions missing from the sample are
  dropped from every definition and from its score, and a definition left with score 0 is
  dropped. A diplotype scores the sum of its two alleles' scores; only the top-scoring
  diplotypes are kept, so the more specific definition wins (``*1/*2`` over ``*2/*11``).
* CYP2C19 ``*1`` is defined at all 35 positions (reference everywhere except rs3758581 G),
  ``*38`` is the all-reference haplotype. When rs3758581 is missing, ``*1`` and ``*38``
  cannot be told apart and both are reported.

One deliberate departure for CYP2B6 (``phase_alternatives``): where unphased genotypes
fit several *different haplotype pairs*, PharmCAT keeps only the top-scoring one (its
NamedAlleleMatcher-101 example: ``*1/*2`` over ``*3/*5``), because the reference allele
scores every position. stratify also keeps the other phasings as alternatives of an
``ambiguous`` call, first the PharmCAT one: CYP2B6 ``*6`` is ``*9``'s 516G>T plus ``*4``'s
785A>G, so a sample heterozygous at both is ``*1/*6`` (PharmCAT's call, score 50) or
``*4/*9``; both are Intermediate Metabolizers, but ``*1/*13`` vs ``*6/*8`` are not.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
import pandas as pd

from stratify.errors import PgxError
from stratify.pgx.alleles.definitions import (
    _IUPAC,
    DIPLOTYPE_COLUMNS,
    KEEP_OTHER_PHASINGS,
    AlleleDefinitions,
    Position,
    not_callable_text,
    star_sort_key,
)
from stratify.pgx.alleles.nocall import failed_call_flags, genotype_flags_text, undecided_pairs

__all__ = ["call_diplotypes"]


def call_diplotypes(
    genotypes: pd.DataFrame,
    definitions: AlleleDefinitions,
    *,
    gene: str | None = None,
    top_only: bool = True,
    phase_alternatives: bool | None = None,
) -> pd.DataFrame:
    """Call each sample's diplotype by PharmCAT-style matching.

    A candidate diplotype is an unordered pair of named alleles whose bases equal the
    sample's genotype at every non-missing position (unphased positions are compared as
    multisets; phased heterozygous positions must all fit one orientation, i.e. one phase
    set per sample). Missing positions, and half calls such as ``0/.``, are ignored for
    matching, dropped from the scores and reported.

    Parameters
    ----------
    genotypes
        Long table as from :func:`read_vcf_genotypes` (``sample, pos, allele1, allele2``;
        ``phased`` optional). Rows at positions outside the definitions are ignored; a
        definition position without a row is missing.
    definitions
        From :func:`~stratify.pgx.alleles.definitions.load_definitions`.
    gene
        Value of the output ``gene`` column (default ``definitions.gene``).
    top_only
        Keep only the top-scoring candidates (PharmCAT's default). ``False`` keeps every
        matching diplotype, best score first (PharmCAT with top-candidates-only off).
    phase_alternatives
        With ``top_only``, also keep every matching diplotype that is another pair of
        haplotypes than each top one (another phasing of unphased heterozygous positions,
        such as CYP2B6 ``*4/*9`` beside ``*1/*6``), after PharmCAT's candidates, best score
        first. A pair that is a top pair's haplotypes under less specific names stays
        dropped, as in PharmCAT. ``None`` (default): on for the genes in
        :data:`KEEP_OTHER_PHASINGS` (CYP2B6), off otherwise (CYP2C19 as PharmCAT calls it).
        ``False`` gives PharmCAT's calls exactly.

    Returns
    -------
    pandas.DataFrame
        One row per sample: ``sample, gene, diplotype`` (e.g. ``"*1/*2"``, alleles in
        star-number order), ``haplotype1, haplotype2``, ``status`` (``"called"``: one
        candidate, ``"ambiguous"``: several, ``"no-call"``: none or every position
        missing), ``alternatives`` (";"-joined other candidates, "" if none),
        ``missing_positions`` (";"-joined rsIDs, or positions where there is no rsID),
        ``n_candidates``, ``genotype_flags`` (failed genotype calls) and ``not_callable``
        (the gene's :data:`STRUCTURAL_ALLELES`, which a VCF cannot show; "" if none). An ambiguous row carries its first candidate (in star-number
        order) in ``diplotype``; a no-call row has ``diplotype`` "".

    Raises
    ------
    PgxError
        A required column is absent, or a sample has two rows at one position.

    Examples
    --------
    >>> import pandas as pd
    >>> from stratify.pgx.alleles.definitions import load_definitions
    >>> d = load_definitions()
    >>> g = pd.DataFrame({"sample": "S1", "pos": [p.pos for p in d.positions],
    ...     "allele1": [p.ref for p in d.positions], "allele2": [p.ref for p in d.positions]})
    >>> g.loc[g.pos == 94842866, ["allele1", "allele2"]] = "G"   # rs3758581 G/G
    >>> g.loc[g.pos == 94781859, "allele2"] = "A"                 # rs4244285 het
    >>> g.loc[g.pos == 94775367, "allele2"] = "G"                 # rs12769205 het
    >>> call_diplotypes(g, d)[["diplotype", "status"]].values.tolist()
    [['*1/*2', 'called']]
    """
    _check_columns(genotypes)
    names = sorted(definitions.alleles, key=star_sort_key)
    pairs = _pairs(names)
    vocab, accept = _vocabulary(definitions, names)
    codes = _encode(genotypes, definitions.positions, vocab)
    pat = _patterns(codes)
    match = _match(pat, accept, pairs)
    if phase_alternatives is None:
        phase_alternatives = definitions.gene in KEEP_OTHER_PHASINGS
    cand, matching, phasings, pair_score = _candidates(
        pat,
        match,
        pairs,
        _specified_mask(definitions, names),
        accept,
        top_only=top_only,
        phase_alternatives=phase_alternatives,
    )
    rsids = [p.rsid or str(p.pos) for p in definitions.positions]
    per_pattern, lone = _choose(pat, cand, matching, phasings, pair_score, pairs, rsids, top_only=top_only)
    return _table(codes, pat, per_pattern, lone, gene=gene or definitions.gene, definitions=definitions)


@dataclass(frozen=True)
class _Pairs:
    """Every unordered pair (i <= j) of named alleles, in star-number order: ``names[i[x]]/names[j[x]]``."""

    names: list[str]
    i: np.ndarray
    j: np.ndarray
    labels: list[str]


@dataclass(frozen=True)
class _Codes:
    """The genotype table as dense codes, samples x definition positions.

    ``c1``, ``c2``: vocabulary codes of the two alleles (-1 missing; ``len(vocab)`` a base no
    definition has; unordered genotypes canonicalised so equal genotypes share a pattern).
    ``hk``: the known base of a half call (./1), else -1. ``unc``: a record was there but its
    call failed (./., ./1, 1, 0/1/1). ``ph``: phased heterozygous. ``table`` and ``status``:
    the rows at definition positions and their ``gt_status`` ("" without the column).
    """

    table: pd.DataFrame
    status: np.ndarray
    samples: pd.Index
    c1: np.ndarray
    c2: np.ndarray
    hk: np.ndarray
    unc: np.ndarray
    ph: np.ndarray


@dataclass(frozen=True)
class _Patterns:
    """The distinct rows of :class:`_Codes` (``u*``; ``umiss``: missing positions); ``inverse``: sample -> row."""

    u1: np.ndarray
    u2: np.ndarray
    uph: np.ndarray
    uhk: np.ndarray
    uunc: np.ndarray
    umiss: np.ndarray
    inverse: np.ndarray


def _check_columns(genotypes: pd.DataFrame) -> None:
    needed = {"sample", "pos", "allele1", "allele2"}
    missing_cols = needed - set(genotypes.columns)
    if missing_cols:
        raise PgxError(
            f"genotype table lacks column(s) {', '.join(sorted(missing_cols))}; "
            "expected the columns of read_vcf_genotypes (sample, pos, rsid, allele1, allele2, phased)"
        )


def _pairs(names: list[str]) -> _Pairs:
    """Unordered pairs (i <= j) of allele indices, in star-number order."""
    pi, pj = zip(*combinations_with_replacement(range(len(names)), 2))
    pi, pj = np.array(pi), np.array(pj)
    return _Pairs(names, pi, pj, [f"{names[i]}/{names[j]}" for i, j in zip(pi, pj)])


def _vocabulary(definitions: AlleleDefinitions, names: list[str]) -> tuple[list[dict[str, int]], list[np.ndarray]]:
    """Per position: a vocabulary of observable bases, and which alleles accept each.

    ``accept[k]`` is ``(n_codes + 1, n_alleles)``; its last row is a base no definition has.
    """
    n_all = len(names)
    vocab: list[dict[str, int]] = []
    accept: list[np.ndarray] = []
    for k, p in enumerate(definitions.positions):
        bases: list[str] = []
        for b in [p.ref, *p.alts, *(definitions.alleles[a][k] for a in names)]:
            if b is None:
                continue
            for x in _IUPAC.get(b, b) if len(b) == 1 else (b,):
                if x not in bases:
                    bases.append(x)
        voc = {b: c for c, b in enumerate(bases)}
        acc = np.zeros((len(bases) + 1, n_all), dtype=bool)
        for ai, a in enumerate(names):
            b = definitions.alleles[a][k]
            if b is None:
                continue
            for x in _IUPAC.get(b, b) if len(b) == 1 else (b,):
                acc[voc[x], ai] = True
        vocab.append(voc)
        accept.append(acc)
    return vocab, accept


def _encode(genotypes: pd.DataFrame, positions: tuple[Position, ...], vocab: list[dict[str, int]]) -> _Codes:
    """The long genotype table as :class:`_Codes` (rows at other positions are ignored)."""
    n_pos = len(positions)
    pos_index = {p.pos: i for i, p in enumerate(positions)}
    g = genotypes
    pidx = g["pos"].map(pos_index)
    keep = pidx.notna().to_numpy()
    g = g.loc[keep]
    pidx = pidx[keep].astype(np.int64).to_numpy()
    s_codes, sample_names = pd.factorize(g["sample"].astype(str), sort=False)
    n_s = len(sample_names)
    if n_s and len(np.unique(s_codes * n_pos + pidx)) != len(pidx):
        dup = g.loc[pd.Series(s_codes * n_pos + pidx, index=g.index).duplicated(keep=False)]
        first = dup.iloc[0]
        raise PgxError(
            f"genotype table has several rows for sample {first['sample']} at position {first['pos']}; "
            "expected one row per sample per position"
        )
    C1 = np.full((n_s, n_pos), -1, dtype=np.int16)
    C2 = np.full((n_s, n_pos), -1, dtype=np.int16)
    HK = np.full((n_s, n_pos), -1, dtype=np.int16)
    UNC = np.zeros((n_s, n_pos), dtype=bool)
    PH = np.zeros((n_s, n_pos), dtype=bool)
    al1 = g["allele1"].to_numpy(dtype=object)
    al2 = g["allele2"].to_numpy(dtype=object)
    phased_col = g["phased"].fillna(False).to_numpy(dtype=bool) if "phased" in g else np.zeros(len(g), bool)
    status_col = (
        g["gt_status"].fillna("").astype(str).to_numpy() if "gt_status" in g else np.full(len(g), "", dtype=object)
    )
    for k in range(n_pos):
        rows = np.flatnonzero(pidx == k)
        if not len(rows):
            continue
        c1 = _codes(al1[rows], vocab[k])
        c2 = _codes(al2[rows], vocab[k])
        miss = (c1 < 0) | (c2 < 0)  # a half call is missing for the scores; its known base still has to fit
        HK[s_codes[rows], k] = np.where(miss & (c1 >= 0), c1, np.where(miss & (c2 >= 0), c2, -1))
        UNC[s_codes[rows], k] = (miss & ((c1 >= 0) | (c2 >= 0))) | ~np.isin(status_col[rows], ["", "called", "absent"])
        c1[miss] = -1
        c2[miss] = -1
        C1[s_codes[rows], k] = c1
        C2[s_codes[rows], k] = c2
        PH[s_codes[rows], k] = phased_col[rows] & ~miss
    het = C1 != C2
    PH &= het  # phase only constrains heterozygous positions
    # Unphased genotypes are unordered: canonicalise so equal genotypes share a pattern.
    swap = ~PH & (C1 > C2)
    C1[swap], C2[swap] = C2[swap], C1[swap]
    return _Codes(g, status_col, sample_names, C1, C2, HK, UNC, PH)


def _patterns(codes: _Codes) -> _Patterns:
    """Group samples with equal genotypes: each distinct pattern is matched once."""
    n_pos = codes.c1.shape[1]
    key = np.concatenate([codes.c1, codes.c2, codes.ph.astype(np.int16), codes.hk, codes.unc.astype(np.int16)], axis=1)
    if len(codes.samples):
        patterns, inverse = np.unique(key, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    else:
        patterns, inverse = key, np.zeros(0, dtype=np.int64)
    U1, U2, UPH = patterns[:, :n_pos], patterns[:, n_pos : 2 * n_pos], patterns[:, 2 * n_pos : 3 * n_pos].astype(bool)
    UHK, UUNC = patterns[:, 3 * n_pos : 4 * n_pos], patterns[:, 4 * n_pos :].astype(bool)
    return _Patterns(U1, U2, UPH, UHK, UUNC, U1 < 0, inverse)


def _match(pat: _Patterns, accept: list[np.ndarray], pairs: _Pairs) -> np.ndarray:
    """(patterns, pairs): the pair's bases equal the genotype at every non-missing position.

    Unphased positions compare as multisets; phased heterozygous positions must all fit one
    orientation (one phase set per sample); a half call's known base must be on one allele.
    """
    pi, pj = pairs.i, pairs.j
    n_u = len(pat.u1)
    unph_ok = np.ones((n_u, len(pi)), dtype=bool)
    fwd_ok = np.ones((n_u, len(pi)), dtype=bool)
    rev_ok = np.ones((n_u, len(pi)), dtype=bool)
    for k in range(len(accept)):
        acc = accept[k]
        h = pat.uhk[:, k] >= 0
        if h.any():  # half call: one of the two alleles carries the known base
            AH = acc[pat.uhk[h, k]]
            unph_ok[h] &= AH[:, pi] | AH[:, pj]
        m = ~pat.umiss[:, k]
        if not m.any():
            continue
        A1 = acc[pat.u1[m, k]]  # (m, n_alleles): allele accepts the first base
        A2 = acc[pat.u2[m, k]]
        fwd = A1[:, pi] & A2[:, pj]
        rev = A2[:, pi] & A1[:, pj]
        phased = pat.uph[m, k][:, None]
        unph_ok[m] &= np.where(phased, True, fwd | rev)
        fwd_ok[m] &= np.where(phased, fwd, True)
        rev_ok[m] &= np.where(phased, rev, True)
    return unph_ok & (fwd_ok | rev_ok)


def _candidates(
    pat: _Patterns,
    match: np.ndarray,
    pairs: _Pairs,
    defmask: np.ndarray,
    accept: list[np.ndarray],
    *,
    top_only: bool,
    phase_alternatives: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(candidates, every matching pair, other phasings, pair scores), each (patterns, pairs).

    Scores drop the positions the sample is missing; a definition left empty is dropped.
    """
    pi, pj = pairs.i, pairs.j
    full_score = defmask.sum(axis=0)
    allele_score = full_score[None, :] - pat.umiss.astype(np.int64) @ defmask
    valid = allele_score > 0
    pair_score = allele_score[:, pi] + allele_score[:, pj]
    cand = match & valid[:, pi] & valid[:, pj] & ~pat.umiss.all(axis=1)[:, None]
    matching = cand
    if top_only:
        best = np.where(cand, pair_score, -1).max(axis=1, initial=-1)
        top = cand & (pair_score == best[:, None])
        cand = top | undecided_pairs(top, cand, pat.uunc, accept, pi, pj)
    phasings = (
        _other_phasings(top, matching, pat.umiss, accept, pi, pj)
        if top_only and phase_alternatives
        else np.zeros_like(cand)
    )
    return cand, matching, phasings, pair_score


def _choose(
    pat: _Patterns,
    cand: np.ndarray,
    matching: np.ndarray,
    phasings: np.ndarray,
    pair_score: np.ndarray,
    pairs: _Pairs,
    rsids: list[str],
    *,
    top_only: bool,
) -> tuple[list[tuple], list[str]]:
    """Per pattern: (diplotype, haplotype1, haplotype2, status, alternatives, missing, n) and the lone match."""
    names, pi, pj, pair_names = pairs.names, pairs.i, pairs.j, pairs.labels
    per_pattern, lone = [], []
    for u in range(len(pat.u1)):
        idx = np.flatnonzero(cand[u])
        if not top_only and len(idx) > 1:
            idx = idx[np.argsort(-pair_score[u, idx], kind="stable")]
        miss_txt = ";".join(r for r, m in zip(rsids, pat.umiss[u]) if m)
        lone.append("")
        if len(idx) == 1 and pat.uunc[u].any():
            # A record whose call failed at a defining position is no evidence for the one
            # top diplotype: every matching pair stays a candidate; where the other positions
            # leave only one, it is a no-call (issue 8: never a confident call over a failed
            # genotype), the lone match named in genotype_flags.
            lone[-1] = pair_names[idx[0]]
            idx = np.flatnonzero(matching[u])
            idx = idx[np.argsort(-pair_score[u, idx], kind="stable")] if len(idx) > 1 else idx[:0]
        if len(idx) == 0:
            per_pattern.append(("", "", "", "no-call", "", miss_txt, 0))
            continue
        if phasings[u].any():  # after PharmCAT's candidates: the other phasings, best score first
            more = np.setdiff1d(np.flatnonzero(phasings[u]), idx)
            idx = np.concatenate([idx, more[np.argsort(-pair_score[u, more], kind="stable")]])
        lone[-1] = ""
        first = idx[0]
        per_pattern.append(
            (
                pair_names[first],
                names[pi[first]],
                names[pj[first]],
                "called" if len(idx) == 1 else "ambiguous",
                ";".join(pair_names[x] for x in idx[1:]),
                miss_txt,
                len(idx),
            )
        )
    return per_pattern, lone


def _table(
    codes: _Codes,
    pat: _Patterns,
    per_pattern: list[tuple],
    lone: list[str],
    *,
    gene: str,
    definitions: AlleleDefinitions,
) -> pd.DataFrame:
    """One row per sample (:data:`DIPLOTYPE_COLUMNS`) from its pattern's call."""
    n_s = len(codes.samples)
    inverse = pat.inverse
    cols = list(zip(*per_pattern)) if per_pattern else [()] * 7
    out = pd.DataFrame({"sample": pd.Series(np.asarray(codes.samples, dtype=object), dtype=str)})
    out["gene"] = gene
    for name, values in zip(
        ["diplotype", "haplotype1", "haplotype2", "status", "alternatives", "missing_positions", "n_candidates"],
        cols,
    ):
        arr = np.asarray(values, dtype=object)[inverse] if n_s else np.array([], dtype=object)
        out[name] = arr.astype(np.int64) if name == "n_candidates" else pd.Series(arr, dtype=str)
    flags = failed_call_flags(codes.table, codes.status, definitions.positions)
    flags = flags.reindex(out["sample"]).fillna("").to_numpy(dtype=object)
    lone_s = np.asarray(lone, dtype=object)[inverse] if n_s else np.array([], dtype=object)
    out["genotype_flags"] = genotype_flags_text(flags, lone_s)
    out["genotype_flags"] = out["genotype_flags"].astype(str)
    out["not_callable"] = pd.Series([not_callable_text(definitions.gene)] * len(out), index=out.index, dtype=str)
    return out[DIPLOTYPE_COLUMNS]


def _other_phasings(
    top: np.ndarray, matching: np.ndarray, umiss: np.ndarray, accept: list[np.ndarray], pi: np.ndarray, pj: np.ndarray
) -> np.ndarray:
    """Matching pairs that are other haplotype pairs than every top pair (other phasings).

    Two alleles are the same haplotype for a sample when they accept the same bases at every
    position the sample has; a pair of such classes that no top pair has is another way to
    split the unphased genotypes between the two chromosomes (CYP2B6 ``*4/*9`` beside
    ``*1/*6``). A pair with a top pair's classes is the same haplotypes under less specific
    names and stays dropped (PharmCAT's scoring).
    """
    out = np.zeros_like(top)
    ids: dict[bytes, int] = {}
    sig = np.array([[ids.setdefault(acc[:, a].tobytes(), len(ids)) for a in range(acc.shape[1])] for acc in accept])
    for u in np.flatnonzero(top.any(axis=1) & (matching & ~top).any(axis=1)):
        _, cls = np.unique(sig[~umiss[u]].T, axis=0, return_inverse=True)
        cls = cls.reshape(-1)
        t = np.flatnonzero(top[u])
        taken = {(cls[pi[x]], cls[pj[x]]) for x in t} | {(cls[pj[x]], cls[pi[x]]) for x in t}
        for x in np.flatnonzero(matching[u] & ~top[u]):
            out[u, x] = (cls[pi[x]], cls[pj[x]]) not in taken
    return out


def _specified_mask(definitions: AlleleDefinitions, names: list[str]) -> np.ndarray:
    """(n_positions, n_alleles) 0/1: the positions each allele's definition specifies."""
    ref = definitions.alleles[definitions.reference]
    mask = np.zeros((len(definitions.positions), len(names)), dtype=np.int64)
    for ai, a in enumerate(names):
        spec = definitions.specified.get(a)
        if spec is None:
            # Hand-built definitions: a base differing from the reference is specified.
            spec = tuple(a == definitions.reference or b != r for b, r in zip(definitions.alleles[a], ref))
        mask[:, ai] = spec
    return mask


def _codes(values: np.ndarray, voc: dict[str, int]) -> np.ndarray:
    """Vocabulary codes of observed alleles: -1 missing, ``len(voc)`` a base no allele has."""
    series = pd.Series(values, dtype=object)
    missing = series.isna() | series.isin(["", "."])
    codes = series.map(voc).astype(float).fillna(len(voc))
    codes[missing] = -1
    return codes.to_numpy(dtype=np.int16)
