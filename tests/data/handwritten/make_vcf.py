"""Write genotypes.vcf.gz (+ .tbi) of the hand-written cohort: a small GATK-like joint-called VCF.

Run from anywhere: ``python tests/data/handwritten/make_vcf.py [OUT_DIR]`` (default: this folder).
Deterministic (seeded), so re-running it rewrites the same records.

What it holds, like a real HaplotypeCaller/GenotypeGVCFs export on GRCh38:

* the samples of ``sample_map.tsv`` in its order, plus two that belong to no patient of the
  cohort: ``NA12878`` (the sequencing run's control) and ``WGS00412`` (consent withdrawn after
  sequencing); they must be reported as not used;
* every CYP2C19 allele-definition position of the PharmCAT definitions, also where no sample
  carries the ALT allele (genotyped at given alleles, as PharmCAT asks of its input VCFs: a
  position absent from the VCF is missing, never assumed reference)
  (``shared/data/pgx/pharmcat/definitions/CYP2C19_translation.json`` beside the repository),
  each sample carrying the two haplotypes of its diplotype in ``EXPECTED_CYP2C19`` (written to
  ``cyp2c19_expected.tsv`` for the test to compare the pipeline's calls with); one sample has a
  no-call (``./.``) at rs4244285 (*2), as a low-coverage site would;
* 200 random common biallelic SNPs on chr1-chr22 (allele frequency 0.1-0.5, Hardy-Weinberg
  genotypes, about 1% missing calls), for the genotype principal components;
* ``chr``-prefixed contigs with GRCh38 lengths, FORMAT ``GT:AD:DP:GQ``, INFO ``AC;AF;AN;DP``,
  QUAL, and a VQSR tranche filter on a few records.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
DEFINITIONS = REPO.parent / "shared" / "data" / "pgx" / "pharmcat" / "definitions" / "CYP2C19_translation.json"
SEED = 20260612
EXTRA_SAMPLES = ["NA12878", "WGS00412"]
# GRCh38 primary assembly lengths (chr1-chr22), as in the header of any GATK resource-bundle VCF
LENGTHS = [
    248956422,
    242193529,
    198295559,
    190214555,
    181538259,
    170805979,
    159345973,
    145138636,
    138394717,
    133797422,
    135086622,
    133275309,
    114364328,
    107043718,
    101991189,
    90338345,
    83257441,
    80373285,
    58617616,
    64444167,
    46709983,
    50818468,
]
# diplotypes drawn for the cohort's samples, with European-like frequencies (*17 ~ 20%, *2 ~ 15%)
DIPLOTYPES = ["*1/*1"] * 9 + ["*1/*17"] * 5 + ["*1/*2"] * 4 + ["*2/*17", "*17/*17", "*2/*2", "*1/*3"]


def haplotype(defs: dict, name: str) -> list[str]:
    """The bases of allele ``name`` at every definition position: *1's base where it says nothing
    (or gives an IUPAC code, which *1's base satisfies)."""
    named = {a["name"]: a["alleles"] for a in defs["namedAlleles"]}
    base = named["*1"]
    return [b if b in ("A", "C", "G", "T") else base[i] for i, b in enumerate(named[name])]


def _call(rng: random.Random, gt: str) -> str:
    """GT:AD:DP:GQ for one genotype, with read depths a 30x genome would give."""
    if gt == "./.":
        return "./.:0,0:0:."
    dp = max(6, int(rng.gauss(31, 7)))
    if gt == "0/1":
        alt = max(1, int(rng.gauss(dp / 2, dp**0.5 / 2)))
        ad = f"{dp - alt},{alt}"
        gq = rng.randint(60, 99)
    else:
        err = rng.choice([0, 0, 0, 1])
        ad = f"{dp - err},{err}" if gt == "0/0" else f"{err},{dp - err}"
        gq = 99 if dp > 15 else rng.randint(30, 60)
    return f"{gt}:{ad}:{dp}:{gq}"


def _record(rng, chrom, pos, rsid, ref, alt, gts, filt="PASS") -> str:
    called = [g for g in gts if g != "./."]
    an = 2 * len(called)
    ac = sum(g.count("1") for g in called)
    calls = [_call(rng, g) for g in gts]
    dp = sum(int(c.split(":")[2]) for c in calls)
    info = f"AC={ac};AF={ac / an:.3f};AN={an};DP={dp}"
    qual = f"{rng.uniform(200, 90000):.2f}"
    return "\t".join([chrom, str(pos), rsid, ref, alt, qual, filt, info, "GT:AD:DP:GQ", *calls])


def main(out_dir: Path) -> Path:
    import pysam

    rng = random.Random(SEED)
    defs = json.loads(DEFINITIONS.read_text())
    samples = [ln.split("\t")[0] for ln in (HERE / "sample_map.tsv").read_text().splitlines()[1:] if ln.strip()]
    samples += EXTRA_SAMPLES
    expected = {s: rng.choice(DIPLOTYPES) for s in samples}
    haps = {s: [haplotype(defs, h) for h in d.split("/")] for s, d in expected.items()}
    nocall_sample = samples[5]
    records = []
    for i, v in enumerate(defs["variants"]):
        ref, alt = v["ref"], v["alts"][0]
        gts = []
        for s in samples:
            if s == nocall_sample and v["rsid"] == "rs4244285":
                gts.append("./.")
                continue
            a, b = (0 if h[i] == ref else 1 for h in haps[s])
            gts.append(f"{min(a, b)}/{max(a, b)}")
        records.append((10, v["position"], _record(rng, "chr10", v["position"], v["rsid"], ref, alt, gts)))
    for k in range(200):
        c = rng.randrange(22)
        pos = rng.randrange(1_000_000, LENGTHS[c] - 1_000_000)
        ref, alt = rng.sample("ACGT", 2)
        p = rng.uniform(0.1, 0.5)
        gts = []
        for _ in samples:
            if rng.random() < 0.01:
                gts.append("./.")
            else:
                n = (rng.random() < p) + (rng.random() < p)
                gts.append(("0/0", "0/1", "1/1")[n])
        filt = "VQSRTrancheSNP99.90to100.00" if k % 67 == 13 else "PASS"
        records.append(
            (c + 1, pos, _record(rng, f"chr{c + 1}", pos, f"rs{rng.randrange(10**6, 10**8)}", ref, alt, gts, filt))
        )
    records.sort()
    header = [
        "##fileformat=VCFv4.2",
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FILTER=<ID=VQSRTrancheSNP99.90to100.00,Description="Truth sensitivity tranche level for SNP model '
        'at VQS Lod: -9.8 <= x < -2.1">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt alleles in the '
        'order listed">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth (reads with MQ=255 or with '
        'bad mates are filtered)">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##GATKCommandLine=<ID=GenotypeGVCFs,CommandLine="GenotypeGVCFs --output cohort.vcf.gz --variant '
        'gendb://genomicsdb --reference Homo_sapiens_assembly38.fasta",Version="4.2.6.1">',
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count in genotypes, for each ALT allele">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele Frequency, for each ALT allele">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles in called genotypes">',
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth; some reads may have been filtered">',
    ]
    header += [f"##contig=<ID=chr{c + 1},length={ln},assembly=GRCh38>" for c, ln in enumerate(LENGTHS)]
    header += [
        "##reference=file:///ref/GRCh38/Homo_sapiens_assembly38.fasta",
        "\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *samples]),
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    plain = out_dir / "genotypes.vcf"
    plain.write_text("\n".join(header + [r for _, _, r in records]) + "\n")
    pysam.tabix_index(str(plain), preset="vcf", force=True)  # bgzip to genotypes.vcf.gz, write the .tbi
    with open(out_dir / "cyp2c19_expected.tsv", "w") as f:
        f.write("sample_id\tdiplotype\tnote\n")
        for s in samples:
            note = "no-call at rs4244285 (*2)" if s == nocall_sample else ""
            f.write(f"{s}\t{expected[s]}\t{note}\n")
    return out_dir / "genotypes.vcf.gz"


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE))
