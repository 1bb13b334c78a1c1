"""LD pruning by plink2 itself when it is installed: the field's tool for the heavy lifting.

:func:`prune_with_plink2` writes one chromosome's reference-sample hard calls as a temporary
PLINK 2 fileset (pgenlib's writer: every sample a founder, as for a VCF), runs
``plink2 --pfile T --indep-pairwise <kb>kb 1 <r2>`` and reads ``T.prune.in`` back. The port in
:mod:`stratify.genotypes.ldprune` gives the same set (tests/test_genotype_pca_plink2_stage.py and
tests/test_genotype_plink2prune.py check both against plink2); it is the fallback when plink2 is not
on the PATH, and what ``genotypes.pca.ld_engine: python`` asks for. plink2 prunes with packed
genotypes and bit counts, 5 to 60 times faster than numpy products on the same calls
(docs/performance.md).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from stratify.errors import GenotypeError

log = logging.getLogger(__name__)


def plink2_path(engine: str) -> str | None:
    """plink2's path for ``engine`` auto (when installed) or plink2 (required); None for python."""
    if engine == "python":
        return None
    exe = shutil.which("plink2")
    if exe is None and engine == "plink2":
        raise GenotypeError(
            "genotypes.pca.ld_engine is plink2 but plink2 is not on the PATH: install it (Debian/Ubuntu: "
            "apt-get install plink2; conda: bioconda plink2) or set ld_engine: auto"
        )
    return exe


def _write_fileset(prefix: Path, calls: np.ndarray, variants: pd.DataFrame) -> None:
    import pgenlib

    n_var, n_samples = calls.shape
    prefix.with_suffix(".psam").write_text("#IID\n" + "".join(f"s{i}\n" for i in range(n_samples)))
    pv = pd.DataFrame(
        {
            "#CHROM": variants["chrom"].astype(str).to_numpy(),
            "POS": variants["pos"].to_numpy(np.int64),
            "ID": [f"v{i}" for i in range(n_var)],
            "REF": variants["ref"].astype(str).to_numpy(),
            "ALT": variants["alt"].astype(str).to_numpy(),
        }
    )
    pv.to_csv(prefix.with_suffix(".pvar"), sep="\t", index=False)
    w = pgenlib.PgenWriter(bytes(prefix.with_suffix(".pgen")), n_samples, variant_ct=n_var, nonref_flags=False)
    w.append_biallelic_batch(np.ascontiguousarray(np.where(calls < 0, -9, calls).astype(np.int8)))
    w.close()


def prune_with_plink2(
    calls: np.ndarray, variants: pd.DataFrame, *, window_kb: float, r2: float, exe: str, threads: int = 1
) -> np.ndarray | None:
    """Which variants ``plink2 --indep-pairwise <window_kb>kb 1 <r2>`` keeps (bool per row) of hard calls
    ``calls`` (variants x samples, int8 0/1/2, -1 missing) at ``variants`` (chrom, pos, ref, alt);
    None when plink2 wrote no list (no two variants within a window)."""
    with tempfile.TemporaryDirectory(prefix="stratify-prune-") as tmp:
        prefix = Path(tmp) / "ref"
        _write_fileset(prefix, calls, variants)
        cmd = [
            exe,
            "--pfile",
            str(prefix),
            "--allow-extra-chr",
            "--indep-pairwise",
            f"{window_kb:g}kb",
            "1",
            f"{r2:.17g}",
            "--threads",
            str(threads),
            "--memory",
            str(max(1000, int(calls.nbytes * 4 / 2**20) + 500)),
            "--out",
            str(prefix),
        ]
        if calls.shape[1] < 50:
            # plink2 refuses LD from fewer than 50 samples unless told; the port computes it as plink2 --bad-ld
            log.warning("LD pruning on %d reference samples: r^2 from fewer than 50 is unreliable", calls.shape[1])
            cmd.append("--bad-ld")
        run = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"})
        if run.returncode != 0:
            raise GenotypeError(
                f"plink2 --indep-pairwise failed (exit {run.returncode}): {run.stderr.strip() or run.stdout.strip()}"
                f"; set genotypes.pca.ld_engine: python to prune without plink2"
            )
        out = Path(f"{prefix}.prune.in")
        if not out.exists():
            # plink2 2.00a3.5 writes no list when no two variants share a window (nothing to compare);
            # None: the caller's port decides (it keeps them all)
            log.info("plink2 --indep-pairwise wrote no list for %d variants: the port prunes them", len(variants))
            return None
        kept = out.read_text().split()
    keep = np.zeros(len(variants), dtype=bool)
    keep[[int(k[1:]) for k in kept]] = True
    return keep
