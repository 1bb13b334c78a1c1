"""Sharded VCF reading (stratify.genotypes.vcfscan), polygenic scores (stratify.genotypes.prs) and the sharded stage."""

from __future__ import annotations

import gzip
import shutil
import subprocess

import numpy as np
import pandas as pd
import pysam
import pytest

from stratify.errors import GenotypeError
from stratify.genotypes.pca import fit_pca
from stratify.genotypes.prs import ScoreAccumulator, match_allele, read_scoring_file
from stratify.genotypes.shards import genotype_stage, make_plan, merge, run_shard, settings
from stratify.genotypes.vcfscan import ScanStats, TabixIndex, plan_shards, scan
from stratify.simulate.cohort import write_cohort

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=248956422>
##contig=<ID=chr2,length=242193529>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\tD
"""


def _vcf(tmp_path, lines, name="x.vcf"):
    p = tmp_path / name
    p.write_text(HEADER + "".join(ln + "\n" for ln in lines))
    return pysam.tabix_index(str(p), preset="vcf", force=True, keep_original=False)


MIXED = [
    "chr1\t100\tfast\tA\tG\t.\tPASS\t.\tGT\t0/0\t0|1\t1/1\t./.",  # fixed-width fast path
    "chr1\t200\tdp\tC\tT\t.\tPASS\t.\tGT:DP\t0/1:12\t1|1:3\t./.:0\t0/0:30",  # extra FORMAT field
    "chr1\t300\tpartial\tG\tA\t.\tPASS\t.\tGT\t./1\t0/1\t1/.\t1/1",  # partly missing = missing
    "chr1\t400\tmulti\tA\tC,T\t.\tPASS\t.\tGT\t0/1\t1/2\t0/0\t2/2",  # multi-allelic: skipped
    "chr1\t500\tnoalt\tA\t.\t.\tPASS\t.\tGT\t0/0\t0/0\t0/0\t0/0",  # no ALT: skipped
    "chr2\t100\thap\tT\tC\t.\tPASS\t.\tGT\t0\t1\t0/1\t.",  # 3 haploid calls (0, 1, .): missing
    "chr2\t200\tindel\tAT\tA\t.\tPASS\t.\tGT:DP\t1/1:5\t0/0:5\t0/1:5\t0|0:5",
]


def test_scan_decodes_every_gt_layout(tmp_path):
    vcf = _vcf(tmp_path, MIXED)
    st = ScanStats()
    recs = {r.id: r.dosage.tolist() for r in scan(vcf, None, stats=st)}
    assert recs == {
        "fast": [0, 1, 2, -1],
        "dp": [1, 2, -1, 0],
        "partial": [-1, 1, -1, 2],
        "hap": [-1, -1, 1, -1],
        "indel": [2, 0, 1, 0],
    }
    assert (st.records, st.decoded, st.multiallelic, st.no_alt, st.haploid_calls) == (7, 5, 1, 1, 3)
    # the same through the index, by contig, and for a sample chunk or an arbitrary sample set
    by_region = {r.id: r.dosage.tolist() for r in scan(vcf, [("chr2", 1, 10**9), ("chr1", 150, 350)])}
    assert by_region == {"hap": [-1, -1, 1, -1], "indel": [2, 0, 1, 0], "dp": [1, 2, -1, 0], "partial": [-1, 1, -1, 2]}
    chunk = {r.id: r.dosage.tolist() for r in scan(vcf, None, columns=(1, 3))}
    assert chunk["fast"] == [1, 2] and chunk["dp"] == [2, -1]
    pick = {r.id: r.dosage.tolist() for r in scan(vcf, None, columns=np.array([3, 0]))}
    assert pick["fast"] == [-1, 0] and pick["indel"] == [0, 2]
    skipped = [(r.id, r.skipped) for r in scan(vcf, None, yield_skipped=True) if r.dosage is None]
    assert skipped == [("multi", "multi-allelic"), ("noalt", "no ALT allele")]


def test_scan_matches_cyvcf2_on_a_simulated_cohort(tmp_path):
    from cyvcf2 import VCF

    paths = write_cohort(tmp_path, n=60, seed=5, n_snps=200)
    mine = [(r.chrom, r.pos, r.dosage) for r in scan(paths["vcf"], None)]
    theirs = []
    for v in VCF(str(paths["vcf"]), gts012=True):
        if len(v.ALT) == 1:
            g = v.gt_types.astype(np.int8)
            g[g == 3] = -1
            theirs.append((v.CHROM, v.POS, g))
    assert len(mine) == len(theirs) > 200
    for (c1, p1, d1), (c2, p2, d2) in zip(mine, theirs):
        assert (c1, p1) == (c2, p2) and np.array_equal(d1, d2)


def test_scan_rejects_a_non_biallelic_gt_with_its_record_and_column(tmp_path):
    vcf = _vcf(tmp_path, ["chr1\t100\tbad\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/2\t0/1\t1/1"])
    with pytest.raises(GenotypeError) as e:
        list(scan(vcf, None))
    assert str(e.value) == (
        f"{vcf}, line 7, record chr1:100, sample column 2: GT '0/2' is not a biallelic call "
        "(expected 0, 1 or . alleles separated by / or |)"
    )


def test_fixed_width_words_decode_as_the_general_path():
    """The 4-byte-word fast path gives the general path's dosages on every valid call, in any
    sample subset, and declines (None) wherever a word is not a valid diploid call."""
    from stratify.genotypes.vcfscan import _decode_general, _decode_words

    rng = np.random.default_rng(3)
    calls = [a + s + b for a in "01." for s in "/|" for b in "01."]
    for trial in range(300):
        n = int(rng.integers(1, 40))
        gts = list(rng.choice(calls, n))
        if trial % 3 == 0:  # one word that is not a valid call: a bad allele or separator, any 3 bytes
            junk = bytes(rng.integers(0, 256, 3, dtype=np.uint8)).decode("latin-1")
            bad = ["0/2", "A/0", "0-1", "1:0", "2|2", "\0\0\0", junk]
            gts[int(rng.integers(n))] = bad[int(rng.integers(len(bad)))]
        body = ("\t".join(gts) + "\n").encode("latin-1")
        w = np.frombuffer(body, dtype="<u4", count=n)
        sel = np.sort(rng.choice(n, size=int(rng.integers(1, n + 1)), replace=False))
        last = np.flatnonzero(sel == n - 1)
        fast = _decode_words(w[sel], int(last[0]) if last.size else None)
        try:
            general, _, _ = _decode_general(np.frombuffer(body.rstrip(b"\n"), dtype=np.uint8), n, sel, "x")
        except GenotypeError:
            general = None
        if general is None:
            assert fast is None, gts
        elif fast is not None:
            assert np.array_equal(fast, general), gts
        else:  # the fast path may decline only for a bad word outside the selection
            assert trial % 3 == 0, gts


def test_bgzf_blocks_inflate_with_zlib_too_and_a_corrupt_block_is_named(tmp_path, monkeypatch):
    import stratify.genotypes.vcfio as vs

    paths = write_cohort(tmp_path, n=40, seed=9, n_snps=300)
    fast = [(r.pos, r.dosage.tolist()) for r in scan(paths["vcf"], None)]
    monkeypatch.setattr(vs, "_libdeflate", None)
    assert [(r.pos, r.dosage.tolist()) for r in scan(paths["vcf"], None)] == fast
    monkeypatch.undo()
    raw = bytearray(paths["vcf"].read_bytes())
    raw[len(raw) // 2] ^= 0xFF  # one flipped byte inside a block
    bad = tmp_path / "bad.vcf.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises(GenotypeError, match=r"bad\.vcf\.gz, byte offset \d+: a corrupt BGZF block"):
        list(scan(bad, None))


def test_scan_rejects_a_short_record(tmp_path):
    vcf = _vcf(tmp_path, ["chr1\t100\tbad\tA\tG\t.\tPASS\t.\tGT:DP\t0/0:1\t0/1:2\t0/1:3"])
    with pytest.raises(GenotypeError, match=r"record chr1:100: 3 sample columns, expected 4"):
        list(scan(vcf, None))


def test_tabix_index_and_shards_cover_every_record_once(tmp_path):
    paths = write_cohort(tmp_path, n=300, seed=2, n_snps=3000)
    tbi = TabixIndex.read(str(paths["vcf"]) + ".tbi")
    assert tbi.names[:2] == ["chr1", "chr2"]
    whole = [(r.chrom, r.pos) for r in scan(paths["vcf"], None)]
    shards = plan_shards(paths["vcf"], target_bytes=20_000)
    assert len(shards) > 5
    pieces = [(r.chrom, r.pos) for s in shards for r in scan(paths["vcf"], s.intervals)]
    assert pieces == whole  # same records, same order, none twice


def test_unset_linear_index_windows_read_from_the_next_offset():
    from stratify.genotypes.vcfscan import _fill_unset

    unset = np.iinfo(np.uint64).max
    lin = np.array([unset, unset, 70000, unset, 90000, unset, unset], dtype=np.uint64)
    assert _fill_unset(lin).tolist() == [70000, 70000, 70000, 90000, 90000]
    assert _fill_unset(np.array([unset], dtype=np.uint64)).tolist() == []


def test_missing_index_is_explained(tmp_path):
    (tmp_path / "y.vcf").write_text(HEADER)
    p = tmp_path / "y.vcf.gz"
    pysam.tabix_compress(str(tmp_path / "y.vcf"), str(p))
    with pytest.raises(GenotypeError, match="no .tbi or .csi index beside it; make one with `tabix -p vcf"):
        plan_shards(p)


# ---------------------------------------------------------------------------- allele matching


@pytest.mark.parametrize(
    "effect,other,ref,alt,expected",
    [
        ("G", "A", "A", "G", ("matched", 1)),  # effect = ALT
        ("A", "G", "A", "G", ("matched", -1)),  # effect = REF
        ("C", "T", "A", "G", ("matched_flipped", 1)),  # other strand: C/T = G/A complemented
        ("T", "C", "A", "G", ("matched_flipped", -1)),
        ("A", "T", "A", "T", ("ambiguous_dropped", 0)),  # A/T: strand cannot be told
        ("G", "C", "C", "G", ("ambiguous_dropped", 0)),
        ("A", "C", "A", "G", ("allele_mismatch", 0)),
        ("G", "", "A", "G", ("matched", 1)),  # no other allele given
        ("C", "", "A", "G", ("matched_flipped", 1)),
        ("T", "", "A", "T", ("ambiguous_dropped", 0)),
        ("G", "A/C", "A", "G", ("matched", 1)),  # hm_inferOtherAllele lists several
        ("A", "AT", "AT", "A", ("matched", 1)),  # indel: direct only
        ("T", "TA", "AT", "A", ("allele_mismatch", 0)),
    ],
)
def test_match_allele(effect, other, ref, alt, expected):
    assert match_allele(effect, other, ref, alt) == expected


def test_ambiguous_kept_on_request():
    assert match_allele("T", "A", "A", "T", keep_ambiguous=True) == ("ambiguous_used", 1)


# ---------------------------------------------------------------------------- scoring files


def _score_file(path, rows, build="GRCh38", extra_header=""):
    head = (
        f"###PGS CATALOG SCORING FILE\n#format_version=2.0\n#pgs_id=PGS999999\n#genome_build=GRCh37\n"
        f"{extra_header}#HmPOS_build={build}\n"
    )
    cols = "rsID\tchr_name\tchr_position\teffect_allele\tother_allele\teffect_weight\thm_chr\thm_pos\n"
    with gzip.open(path, "wt") as f:
        f.write(head + cols + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def test_read_scoring_file(tmp_path):
    p = _score_file(
        tmp_path / "PGS999999_hmPOS_GRCh38.txt.gz",
        [
            ("rs1", 1, 10, "G", "A", 0.5, "1", 100),
            ("rs2", 1, 20, "T", "C", -0.25, "", ""),  # harmonisation failed
            ("rs1", 1, 10, "G", "A", 0.5, "1", 100),  # listed twice
        ],
    )
    s = read_scoring_file(p)
    assert s.id == "PGS999999" and s.build == "GRCh38"
    assert s.variants["status"].tolist() == ["", "not_harmonised", "duplicate"]
    assert s.variants["weight"].tolist()[:2] == [0.5, -0.25]
    with pytest.raises(GenotypeError, match="positions are on GRCh37 but the cohort's genome_build is GRCh38"):
        read_scoring_file(_score_file(tmp_path / "b.txt.gz", [("rs1", 1, 10, "G", "A", 0.5, "1", 100)], build="GRCh37"))
    bad = tmp_path / "c.txt"
    bad.write_text("#pgs_id=X\nrsID\teffect_allele\nrs1\tA\n")
    with pytest.raises(GenotypeError, match="column 'effect_weight' missing"):
        read_scoring_file(bad)
    badw = tmp_path / "d.txt"
    badw.write_text("hm_chr\thm_pos\teffect_allele\teffect_weight\n1\t5\tA\t0.1\n1\t6\tC\tlots\n")
    with pytest.raises(
        GenotypeError, match=r"row 2 \(after the header\), column effect_weight: 'lots' is not a number"
    ):
        read_scoring_file(badw)


def test_score_sums_follow_the_stated_rules(tmp_path):
    vcf = _vcf(tmp_path, MIXED)
    p = _score_file(
        tmp_path / "s.txt.gz",
        [
            ("a", 1, 1, "G", "A", 1.0, "1", 100),  # effect ALT: 0,1,2,missing
            ("b", 1, 1, "G", "A", 10.0, "1", 200),  # flipped: C/T record, effect G = comp(C) = REF -> 2 - d
            ("c", 1, 1, "A", "G", 100.0, "1", 300),  # G>A record: effect A = ALT; partly missing calls
            ("d", 1, 1, "C", "A", 1000.0, "1", 400),  # multi-allelic in the VCF
            ("e", 1, 1, "G", "C", 5.0, "1", 999),  # not in the VCF
        ],
    )
    s = read_scoring_file(p)
    acc = ScoreAccumulator([s], 4)
    for r in scan(vcf, None, yield_skipped=True):
        acc.add(r)
    # a: d = [0,1,2,-]; b: C>T record d = [1,2,-,0], effect G = comp(C) = REF: 2 - d = [1,0,-,2];
    # c: d = [-,1,-,2]; a missing call adds nothing
    expected = np.array([0 + 10 * 1 + 0, 1 + 10 * 0 + 100 * 1, 2 + 0 + 0, 0 + 10 * 2 + 100 * 2])
    total, allele_ct, missing = acc.counts()
    assert total[:, 0].tolist() == expected.tolist()
    assert allele_ct[:, 0].tolist() == [4, 6, 2, 4]
    assert missing[:, 0].tolist() == [1, 0, 2, 1]
    status = dict(zip(acc.variant_table()["index"], acc.variant_table()["status"]))
    assert status == {0: "matched", 1: "matched_flipped", 2: "matched", 3: "multiallelic_in_vcf"}


# ---------------------------------------------------------------------------- the sharded stage


@pytest.fixture(scope="module")
def cohort_with_score(tmp_path_factory):
    d = tmp_path_factory.mktemp("sharded")
    paths = write_cohort(d, n=240, seed=11, n_snps=1500)
    rng = np.random.default_rng(0)
    rows = []
    for i, r in enumerate(scan(paths["vcf"], None)):
        if i % 3:
            continue
        flip = i % 2 == 0
        comp = str.maketrans("ACGT", "TGCA")
        e, o = (r.alt, r.ref) if i % 4 else (r.ref, r.alt)
        if flip and {r.ref, r.alt} not in ({"A", "T"}, {"C", "G"}):
            e, o = e.translate(comp), o.translate(comp)
        rows.append((f"rs{i}", 1, 1, e, o, round(float(rng.normal()), 6), r.chrom.removeprefix("chr"), r.pos))
    score = _score_file(d / "PGS999999_hmPOS_GRCh38.txt.gz", rows)
    return paths, score


def test_sharded_stage_equals_one_shard(cohort_with_score):
    paths, score = cohort_with_score
    smap = pd.read_csv(paths["sample_map"], sep="\t")
    pids = set(smap["patient_id"])
    one = genotype_stage(paths["vcf"], patient_ids=pids, sample_map=smap, pgs=[score], seed=1)
    many = genotype_stage(
        paths["vcf"], patient_ids=pids, sample_map=smap, pgs=[score], seed=1, cfg={"shard_mb": 0.02, "sample_chunk": 70}
    )
    s1, s2 = one["summary"], many["summary"]
    assert s1["shards"]["jobs"] == 1 and s2["shards"]["regions"] > 3 and s2["shards"]["sample_chunks"] == 4
    assert s1["records"]["records"] == s2["records"]["records"] > 1500
    pd.testing.assert_frame_equal(one["pcs"], many["pcs"], rtol=1e-9, atol=1e-9)
    pd.testing.assert_frame_equal(one["prs"], many["prs"], rtol=1e-9, atol=1e-12)
    pd.testing.assert_frame_equal(one["prs_report"], many["prs_report"])
    pd.testing.assert_frame_equal(
        one["pgx_genotypes"].sort_values(["patient_id", "pos"]).reset_index(drop=True),
        many["pgx_genotypes"].sort_values(["patient_id", "pos"]).reset_index(drop=True),
    )
    rep = one["prs_report"].iloc[0]
    assert rep["variants"] == rep["used"] + rep["ambiguous_dropped"] + rep["allele_mismatch"] + rep["not_in_vcf"]
    assert rep["matched_flipped"] > 50 and rep["matched"] > 50


def test_prs_equals_a_direct_computation(cohort_with_score):
    from stratify.genotypes.pca import read_dosages

    paths, score = cohort_with_score
    pids = {f"S{i:05d}" for i in range(1, 241)}
    res = genotype_stage(paths["vcf"], patient_ids=pids, pgs=[score], seed=1)
    samples, variants, _ = read_dosages(paths["vcf"], min_maf=0, min_call_rate=0)
    sc = read_scoring_file(score)
    dos = {(r.chrom.removeprefix("chr"), r.pos): r for r in scan(paths["vcf"], None)}
    total = np.zeros(len(samples))
    for _, v in sc.variants.iterrows():
        r = dos[(v["chrom"], int(v["pos"]))]
        st, orient = match_allele(v["effect_allele"], v["other_allele"], r.ref, r.alt)
        if orient:
            d = r.dosage.astype(float)
            eff = np.where(d < 0, 0, d if orient > 0 else 2 - d)
            total += v["weight"] * eff
    got = res["prs"].set_index("patient_id")["prs_PGS999999"]
    assert np.allclose(got.loc[samples].to_numpy(), total, atol=1e-9)


def test_pcs_fitted_on_a_reference_subset_project_every_sample(cohort_with_score):
    paths, _ = cohort_with_score
    pids = {f"S{i:05d}" for i in range(1, 241)}
    cfg = settings({"genotypes": {"pca": {"samples": 100}, "sample_chunk": 80}})
    plan = make_plan(paths["vcf"], patient_ids=pids, cfg=cfg, seed=3)
    assert len(plan["pca_columns"]) == 100
    pca = fit_pca(plan, seed=3)
    res = merge(
        plan, pca, {j: run_shard(plan, j, pca, []) for j in plan["jobs"]}, [], sample_map=None, patient_ids=pids
    )
    pcs = res["pcs"].set_index("patient_id")
    assert pcs.shape == (240, 10) and pcs.notna().all().all()
    # the simulator's two ancestry groups separate on pc1 for projected and reference samples alike
    from sklearn.metrics import roc_auc_score

    truth = pd.read_csv(paths["truth"], sep="\t").set_index("patient_id")
    smap = pd.read_csv(paths["sample_map"], sep="\t").set_index("sample_id")["patient_id"]
    anc = truth.loc[smap.loc[pcs.index], "ancestry"].to_numpy()
    ref_ids = {f"S{i + 1:05d}" for i in plan["pca_columns"]}
    proj = ~pcs.index.isin(ref_ids)
    assert proj.sum() == 140 and len(set(anc)) > 1
    for part in (proj, ~proj):
        auc = roc_auc_score(anc[part] == anc[0], pcs.loc[part, "pc1"])
        assert max(auc, 1 - auc) > 0.9


def test_plan_refuses_a_vcf_without_cohort_samples(cohort_with_score):
    paths, _ = cohort_with_score
    with pytest.raises(GenotypeError, match=r"none of its 240 samples maps to a patient"):
        make_plan(paths["vcf"], patient_ids={"P1"})


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 not installed (Debian package plink2)")
def test_prs_matches_plink2_score(cohort_with_score, tmp_path):
    """Cross-check: plink2 --score no-mean-imputation on the same VCF and the matched variants."""
    paths, score = cohort_with_score
    pids = {f"S{i:05d}" for i in range(1, 241)}
    res = genotype_stage(paths["vcf"], patient_ids=pids, pgs=[score], seed=1)
    v = res["prs_variants"]
    used = v[v["status"].isin(["matched", "matched_flipped"])]
    recs = {(r.chrom.removeprefix("chr"), r.pos): r for r in scan(paths["vcf"], None)}
    rows = []
    for _, u in used.iterrows():
        r = recs[(u["chrom"], int(u["pos"]))]
        _, orient = match_allele(u["effect_allele"], u["other_allele"], r.ref, r.alt)
        rows.append((f"{u['chrom']}:{r.pos}", r.alt if orient > 0 else r.ref, u["weight"]))  # plink2 writes chr1 as 1
    sf = tmp_path / "score.tsv"
    pd.DataFrame(rows, columns=["ID", "A1", "W"]).to_csv(sf, sep="\t", index=False)
    out = tmp_path / "p"
    subprocess.run(
        [
            "plink2",
            "--vcf",
            str(paths["vcf"]),
            "--set-all-var-ids",
            "@:#",
            "--score",
            str(sf),
            "1",
            "2",
            "3",
            "header",
            "no-mean-imputation",
            "cols=+scoresums",
            "--out",
            str(out),
            "--threads",
            "1",
            "--memory",
            "1000",
        ],
        check=True,
        capture_output=True,
    )
    p = pd.read_csv(f"{out}.sscore", sep="\t").set_index("#IID")
    got = res["prs"].set_index("patient_id")
    # plink2 prints 6 significant digits: the per-allele average (|avg| < 0.1 here) is compared to
    # 1e-6, the sum to plink2's printed precision
    assert (got.loc[p.index, "prs_PGS999999_allele_ct"] == p["ALLELE_CT"]).all()
    assert np.abs(got.loc[p.index, "prs_PGS999999_avg"] - p["SCORE1_AVG"]).max() < 1e-6
    assert np.allclose(got.loc[p.index, "prs_PGS999999"], p["SCORE1_SUM"], rtol=5e-6, atol=1e-6)


@pytest.mark.parametrize(
    "text, message",
    [
        ("", r"no header line after the # comments"),
        ("#pgs_id=X\n", r"no header line after the # comments"),
        ("rsID\teffect_allele\teffect_weight\nrs1\tA\n", r"c.txt, line 2: 2 fields, the header has 3"),
        (
            "rsID\teffect_allele\teffect_weight\nrs1\tA\t0.1\n#genome_build=GRCh38\n",
            r"c.txt, line 3: a '#' comment line after the header line",
        ),
    ],
)
def test_scoring_file_short_records_and_late_comments_are_named(tmp_path, text, message):
    """Found by tests/test_fuzz.py: pandas pads a short record with empty strings, which became a variant."""
    p = tmp_path / "c.txt"
    p.write_text(text)
    with pytest.raises(GenotypeError, match=message):
        read_scoring_file(p)


def test_scoring_file_blank_lines_are_not_variants(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text(
        "#pgs_id=X\n\n#genome_build=GRCh38\nchr_name\tchr_position\teffect_allele\teffect_weight\n"
        "1\t5\tA\t0.1\n   \n1\t6\tC\t0.2\n"
    )
    assert read_scoring_file(p).variants["weight"].tolist() == [0.1, 0.2]
