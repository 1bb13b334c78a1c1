"""Simulated genotype files: a bgzipped, indexed GRCh38 VCF and a PGS Catalog scoring file.

The VCF holds the CYP2C19 positions of PharmCAT's allele definitions (genotypes from the
haplotypes of :func:`stratify.simulate.pgx.draw_pgx`) and common SNPs with
ancestry-specific frequencies; the scoring file weights a quarter of those SNPs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stratify.simulate.pgx import Cyp2c19Alleles

# GRCh38 autosome lengths (contig header lines; they also identify the build).
GRCH38_LENGTHS = {
    "chr1": 248956422,
    "chr2": 242193529,
    "chr3": 198295559,
    "chr4": 190214555,
    "chr5": 181538259,
    "chr6": 170805979,
    "chr7": 159345973,
    "chr8": 145138636,
    "chr9": 138394717,
    "chr10": 133797422,
    "chr11": 135086622,
    "chr12": 133275309,
    "chr13": 114364328,
    "chr14": 107043718,
    "chr15": 101991189,
    "chr16": 90338345,
    "chr17": 83257441,
    "chr18": 80373285,
    "chr19": 58617616,
    "chr20": 64444167,
    "chr21": 46709983,
    "chr22": 50818468,
}


def _pgx_lines(rng, cyp: Cyp2c19Alleles, h1, h2) -> list[tuple[str, int, str]]:
    """VCF data lines (chrom, pos, line) at the CYP2C19 positions, a few samples with one position
    not called."""
    n = len(h1)
    recs = []
    miss_pgx = rng.random(n) < 0.01  # a few samples with one PGx position not called
    miss_pos = rng.integers(0, len(cyp.positions), n)
    for j, pos in enumerate(cyp.positions):
        a1 = np.array([cyp.alleles[h][j] for h in h1])
        a2 = np.array([cyp.alleles[h][j] for h in h2])
        g1 = (a1 == cyp.alt[j]).astype(int)
        g2 = (a2 == cyp.alt[j]).astype(int)
        gts = np.char.add(np.char.add(g1.astype(str), "/"), g2.astype(str)).astype(object)
        gts[miss_pgx & (miss_pos == j)] = "./."
        line = "\t".join(
            [cyp.chrom, str(pos), cyp.rsids[j], cyp.ref[j], cyp.alt[j], ".", "PASS", ".", "GT"] + list(gts)
        )
        recs.append((cyp.chrom, pos, line))
    return recs


def _snp_lines(rng, cyp: Cyp2c19Alleles, anc, n_snps: int) -> list[tuple[str, int, str]]:
    """VCF data lines (chrom, pos, line) of common SNPs with ancestry-specific frequencies
    (Balding-Nichols, Fst 0.05), away from the CYP2C19 region."""
    n = len(anc)
    recs = []
    chroms = list(GRCH38_LENGTHS)
    weights = np.array([GRCH38_LENGTHS[c] for c in chroms], dtype=float)
    chrom_of = np.array(chroms)[rng.choice(len(chroms), size=n_snps, p=weights / weights.sum())]
    bases = np.array(list("ACGT"))
    pgx_lo, pgx_hi = min(cyp.positions) - 100_000, max(cyp.positions) + 100_000
    fst = 0.05
    ancestries = sorted(set(anc))
    for k in range(n_snps):
        c = chrom_of[k]
        while True:
            pos = int(rng.integers(1_000_000, GRCH38_LENGTHS[c] - 1_000_000))
            if not (c == cyp.chrom and pgx_lo <= pos <= pgx_hi):
                break
        ref, alt = rng.choice(bases, size=2, replace=False)
        p0 = rng.uniform(0.05, 0.5)
        a, b = p0 * (1 - fst) / fst, (1 - p0) * (1 - fst) / fst
        p = np.empty(n)
        for an in ancestries:
            m = anc == an
            p[m] = rng.beta(a, b)
        g = (rng.random(n) < p).astype(int) + (rng.random(n) < p).astype(int)
        gt = np.array(["0/0", "0/1", "1/1"], dtype=object)[g]
        gt[rng.random(n) < 0.005] = "./."
        line = "\t".join([c, str(pos), f"snp{k + 1}", ref, alt, ".", "PASS", ".", "GT"] + list(gt))
        recs.append((c, pos, line))
    return recs


def vcf_records(rng, cyp: Cyp2c19Alleles, h1, h2, anc, n_snps: int) -> list[tuple[str, int, str]]:
    """VCF data lines (chrom, pos, line) for the CYP2C19 positions and ``n_snps`` common SNPs,
    in genome order, one per position."""
    recs = _pgx_lines(rng, cyp, h1, h2) + _snp_lines(rng, cyp, anc, n_snps)
    order = {c: i for i, c in enumerate(GRCH38_LENGTHS)}
    recs.sort(key=lambda r: (order[r[0]], r[1]))
    dedup, seen = [], set()
    for r in recs:
        if (r[0], r[1]) not in seen:
            seen.add((r[0], r[1]))
            dedup.append(r)
    return dedup


def write_vcf(path: str | Path, sample_ids, records) -> Path:
    """Write a bgzipped, tabix-indexed GRCh38 VCF (pysam does the BGZF and the index)."""
    import pysam

    path = Path(path)
    plain = path.with_suffix("")  # x.vcf.gz -> x.vcf
    header = ["##fileformat=VCFv4.2", "##reference=GRCh38", "##source=stratify simulate"]
    header += [f"##contig=<ID={c},length={ln},assembly=GRCh38>" for c, ln in GRCH38_LENGTHS.items()]
    header += [
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *sample_ids]),
    ]
    with open(plain, "w") as fh:
        fh.write("\n".join(header) + "\n")
        for _, _, line in records:
            fh.write(line + "\n")
    out = pysam.tabix_index(str(plain), preset="vcf", force=True, keep_original=False)
    return Path(out)


def write_pgs_file(path: str | Path, records, *, seed: int) -> Path:
    """A PGS Catalog-format (harmonised) scoring file over a quarter of the simulated SNPs.

    Weights carry no planted effect (the response model must not profit from them). To
    exercise the matching, a third of the rows give the alleles on the other strand, and five
    extra rows cannot be used: a position absent from the VCF, an allele mismatch, and the
    strand-ambiguous ones the SNP panel happens to hold are dropped. Drawn from its own
    random stream, so the other simulated files do not change.
    """
    import gzip

    rng = np.random.default_rng([seed, 7001])
    comp = str.maketrans("ACGT", "TGCA")
    rows = []
    snps = [ln.split("\t") for _, _, ln in records if ln.split("\t")[2].startswith("snp")]
    for i, f in enumerate(snps[::4]):
        chrom, pos, _, ref, alt = f[:5]
        e, o = (alt, ref) if rng.random() < 0.5 else (ref, alt)
        if i % 3 == 0:
            e, o = e.translate(comp), o.translate(comp)
        rows.append((f"rs_sim{i}", chrom[3:], pos, e, o, f"{rng.normal(0, 0.05):.5f}", chrom[3:], pos))
    chrom, pos, _, ref, alt = snps[1][:5]
    bad = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows.append(
        ("rs_sim_mismatch", chrom[3:], pos, bad[ref] if bad[ref] != alt else bad[alt], ref, "0.1", chrom[3:], pos)
    )
    rows.append(("rs_sim_absent", "1", "1000", "A", "G", "0.1", "1", "1000"))
    header = (
        "###PGS CATALOG SCORING FILE - see https://www.pgscatalog.org/downloads/#dl_ftp_scoring\n"
        "#format_version=2.0\n#pgs_id=PGS_SIM\n#pgs_name=stratify_simulated\n"
        "#trait_reported=none (simulated weights, no effect)\n#genome_build=GRCh38\n"
        "#HmPOS_build=GRCh38\n"
        "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
    )
    path = Path(path)
    with gzip.GzipFile(path, "wb", mtime=0) as fh:
        fh.write((header + "".join("\t".join(r) + "\n" for r in rows)).encode())
    return path
