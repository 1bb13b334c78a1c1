"""No-calls and failed genotype calls: what a caller must not call over.

* A record whose call failed at a definition position (``./.``, ``./1``, ``1``, ``0/1/1``) is no
  evidence: :func:`undecided_pairs` keeps every candidate it could turn into a top one, and
  :func:`failed_call_flags` names the failed calls in each sample's ``genotype_flags``.
* A sample whose other positions leave one match over a failed call is a no-call, the lone
  match named in ``genotype_flags`` (:func:`genotype_flags_text`; issue 8).
* A patient without a VCF sample gets a no-call row (:func:`not_genotyped`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from stratify.pgx.alleles.definitions import DIPLOTYPE_COLUMNS

__all__ = ["NOT_GENOTYPED", "not_genotyped"]

NOT_GENOTYPED = "not genotyped (no sample in the VCF)"


def not_genotyped(patients: list[str], gene: str) -> pd.DataFrame:
    """No-call rows (``genotype_flags`` = :data:`NOT_GENOTYPED`) for patients without a VCF sample."""
    n = len(patients)
    out = pd.DataFrame({"patient_id": pd.Series(list(patients), dtype=str), "sample": pd.Series([""] * n, dtype=str)})
    for c in DIPLOTYPE_COLUMNS[1:]:
        out[c] = 0 if c == "n_candidates" else ""
    out["gene"], out["status"], out["genotype_flags"] = gene, "no-call", NOT_GENOTYPED
    out["source_tool"] = "stratify-vcf"
    return out


def failed_call_flags(g: pd.DataFrame, status: np.ndarray, positions) -> pd.Series:
    """Per sample, the definition positions whose record was there but whose call failed."""
    bad = ~np.isin(status, ["", "called", "absent"])
    if not bad.any():
        return pd.Series(dtype=str)
    sub = g.loc[bad]
    name = {p.pos: p.rsid or str(p.pos) for p in positions}
    gt = sub["gt"].astype(str) if "gt" in sub else pd.Series("", index=sub.index)
    text = [f"{name[p]} {t!r} ({s})" for p, t, s in zip(sub["pos"], gt, status[bad])]
    return pd.Series(text, index=sub.index).groupby(sub["sample"].astype(str).to_numpy(), sort=False).agg(";".join)


def undecided_pairs(
    top: np.ndarray, cand: np.ndarray, unc: np.ndarray, accept: list[np.ndarray], pi: np.ndarray, pj: np.ndarray
) -> np.ndarray:
    """Candidates that a failed call (``unc``: a record there, but ./., ./1, 1 or 0/1/1) could turn into a top one.

    PharmCAT's scores prefer the more specific definition (CYP2C19 ``*1``, specified at every
    position) over one whose defining position is missing (``*17`` without rs12248560), so a
    sample whose rs12248560 call failed would be called ``*1/*1``. A failed call is no
    evidence: alleles that agree at every other position are indistinguishable, so every
    matching pair made of alleles indistinguishable from a top pair's is kept (PharmCAT's own
    test of this case, ``s1s1rs12248560missing``, lists ``*1/*1``, ``*1/*17``, ``*17/*17``).
    """
    out = np.zeros_like(top)
    ids: dict[bytes, int] = {}
    sig = np.array([[ids.setdefault(acc[:, a].tobytes(), len(ids)) for a in range(acc.shape[1])] for acc in accept])
    for u in np.flatnonzero(unc.any(axis=1) & top.any(axis=1)):
        _, cls = np.unique(sig[~unc[u]].T, axis=0, return_inverse=True)
        cls = cls.reshape(-1)
        t = np.flatnonzero(top[u])
        allowed = {(cls[pi[x]], cls[pj[x]]) for x in t} | {(cls[pj[x]], cls[pi[x]]) for x in t}
        for x in np.flatnonzero(cand[u]):
            out[u, x] = (cls[pi[x]], cls[pj[x]]) in allowed
    return out


def genotype_flags_text(flags, lone) -> list[str]:
    """Per sample, the failed calls and, where the other positions leave one match, that match.

    Examples
    --------
    >>> genotype_flags_text(["rs12248560 './.' (missing)", ""], ["*1/*1", ""])
    ["rs12248560 './.' (missing); only *1/*1 matches the other positions, not called over a failed genotype", '']
    """
    return [
        "; ".join(t for t in (f, x and f"only {x} matches the other positions, not called over a failed genotype") if t)
        for f, x in zip(flags, lone)
    ]
