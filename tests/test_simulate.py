"""Tests for stratify.simulate.cohort: reproducibility, planted truth, and the input contract."""

from __future__ import annotations

import gzip
import math

import numpy as np
import pandas as pd
import pytest
import yaml

from stratify.clinical.scores import instrument_totals
from stratify.config import load_config, load_resource
from stratify.errors import InputError
from stratify.inputs.validate import validate_inputs, validate_options
from stratify.pgx import call_diplotypes, load_definitions, read_vcf_genotypes
from stratify.simulate.cohort import NULL_INTERCEPT, simulate_cohort, write_cohort

N = 200


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """One planted cohort written to disk (n = 200, 100 common SNPs)."""
    out = tmp_path_factory.mktemp("sim")
    return write_cohort(out, n=N, seed=11, n_snps=100)


@pytest.fixture(scope="module")
def planted():
    return simulate_cohort(400, seed=3)


@pytest.fixture(scope="module")
def null():
    return simulate_cohort(400, seed=3, null=True)


def _vcf_body(path):
    with gzip.open(path, "rt") as fh:
        return fh.read()


def test_same_seed_same_tables(planted):
    again = simulate_cohort(400, seed=3)
    for name, df in planted["tables"].items():
        pd.testing.assert_frame_equal(df, again["tables"][name], obj=name)
    pd.testing.assert_frame_equal(planted["truth"], again["truth"])


def test_different_seed_differs(planted):
    other = simulate_cohort(400, seed=4)
    assert not planted["tables"]["symptoms"].equals(other["tables"]["symptoms"])
    assert not planted["truth"]["cyp2c19_diplotype"].equals(other["truth"]["cyp2c19_diplotype"])
    assert planted["truth"]["immune_metabolic"].tolist() != other["truth"]["immune_metabolic"].tolist()


def test_same_seed_same_files(tmp_path):
    a = write_cohort(tmp_path / "a", n=60, seed=5, n_snps=40)
    b = write_cohort(tmp_path / "b", n=60, seed=5, n_snps=40)
    body = _vcf_body(a["vcf"])
    assert body == _vcf_body(b["vcf"])
    data = [ln.split("\t") for ln in body.splitlines() if not ln.startswith("#")]
    pgx_pos = {p.pos for p in load_definitions("CYP2C19").positions}
    # every one of the 35 CYP2C19 definition positions, then the common SNPs (40, minus any
    # that happened to draw the same position)
    assert sum(int(f[1]) in pgx_pos for f in data if f[0] == "chr10") == 35
    assert 35 + 38 <= len(data) <= 35 + 40
    assert all(len(f) == 9 + 60 for f in data)  # 9 fixed columns + 60 samples
    for role in ("patients", "symptoms", "treatments", "biomarkers", "cyrius", "truth"):
        assert a[role].read_bytes() == b[role].read_bytes(), role
    c = write_cohort(tmp_path / "c", n=60, seed=6, n_snps=40)
    assert _vcf_body(c["vcf"]) != body


def test_null_has_no_subgroup_and_constant_response(null):
    t = null["truth"]
    assert (t["immune_metabolic"] == 0).all()
    # p = 1 / (1 + exp(0.15)) = 0.462570...
    assert t["p_response"].nunique() == 1
    assert t["p_response"].iloc[0] == pytest.approx(1 / (1 + math.exp(-NULL_INTERCEPT)), abs=1e-6)
    assert t["p_response"].iloc[0] == pytest.approx(0.46257, abs=1e-5)


def test_planted_subgroup_share(planted):
    share = planted["truth"]["immune_metabolic"].mean()
    # Binomial(400, 0.25): sd = sqrt(0.25 * 0.75 / 400) = 0.022; allow about 3 sd
    assert 0.18 <= share <= 0.32
    assert planted["truth"]["p_response"].nunique() > 50


def _crp_mg_l(c):
    units = load_resource("biomarker_units.yaml")["crp"]["units"]
    b = c["tables"]["biomarkers"]
    b = b[b["marker"] == "crp"].copy()
    b["mg_l"] = b["value"].str.lstrip("<").astype(float) * b["unit"].map(units)
    return b.merge(c["truth"][["patient_id", "immune_metabolic"]], on="patient_id")


def test_planted_subgroup_has_higher_crp(planted, null):
    b = _crp_mg_l(planted)
    med = b.groupby("immune_metabolic")["mg_l"].median()
    # planted shift 1.1 on the log scale: a median ratio near e^1.1 = 3.0; require at least 2
    assert med[1] / med[0] > 2.0
    assert med[0] == pytest.approx(1.2, rel=0.25)  # exp(log 1.2) outside the subgroup


def test_planted_subgroup_has_more_aes(planted):
    t = planted["truth"]
    d = t.groupby("immune_metabolic")["latent_aes"].mean()
    assert d[1] - d[0] == pytest.approx(1.6, abs=0.25)


def test_planted_response_is_what_the_hamd_shows(planted):
    tot = instrument_totals(planted["tables"]["symptoms"])
    h = tot[tot["instrument"] == "HAMD17"].pivot(index="patient_id", columns="week", values="total")
    t = planted["truth"].set_index("patient_id")
    kept = t.index[t["dropout"] == 0]
    observed = ((h.loc[kept, 0.0] - h.loc[kept, 8.0]) / h.loc[kept, 0.0].clip(lower=1) >= 0.5).astype(int)
    assert (observed == t.loc[kept, "planned_responder"]).all()
    # dropouts have no week-8 scores at all
    assert h.loc[t.index[t["dropout"] == 1], 8.0].isna().all()


def test_tables_follow_the_contract(planted):
    tab = planted["tables"]
    assert len(tab["patients"]) == 400 and tab["patients"]["patient_id"].is_unique
    pro = tab["treatments"][tab["treatments"]["prospective"]]
    assert pro["patient_id"].is_unique and len(pro) == 400
    assert set(tab["symptoms"]["instrument"]) == {"HAMD17", "QIDS_SR16", "IDS_SR30"}
    below = tab["biomarkers"]["value"].str.startswith("<")
    assert below.any() and set(tab["biomarkers"].loc[below, "marker"]) == {"crp"}


def test_written_files_validate(written):
    cfg = load_config(written["config"])
    tables, manifest = validate_inputs(cfg["inputs"], **validate_options(cfg))
    assert manifest["n_patients"] == N
    assert manifest["skipped"] == {}
    assert len(tables["patients"]) == N
    truth = pd.read_csv(written["truth"], sep="\t")
    assert len(truth) == N
    doc = yaml.safe_load(written["truth_doc"].read_text())
    assert doc["immune_metabolic_share"] == 0.25 and "log_crp" in doc["planted_predictors"]


def _clustering_features(out, **kw) -> pd.DataFrame:
    """The subtype stage's default features of a simulated cohort (1,000 patients, seed 5), as the
    validate and clinical stages compute them."""
    from stratify.clinical.scores import clinical_options, clinical_tables

    cfg = load_config(write_cohort(out, n=1000, seed=5, n_snps=10, genotypes=False, **kw)["config"])
    tables, _ = validate_inputs(cfg["inputs"], **validate_options(cfg))
    p = clinical_tables(tables, **clinical_options(cfg))["patients"]
    return p[["inflammatory_index", "metabolic_index", "aes", "anhedonia"]]


def test_hard_null_has_skewed_bounded_correlated_features(tmp_path):
    from scipy.stats import kurtosis, skew

    hard = _clustering_features(tmp_path / "hard", null=True)
    gauss = _clustering_features(tmp_path / "gauss", null=True, null_kind="gaussian")
    # markers skewed even after the log; item sums bounded, rounded and flat
    assert skew(hard["inflammatory_index"].dropna()) > 0.5 and skew(hard["metabolic_index"].dropna()) > 0.5
    assert abs(skew(gauss["inflammatory_index"].dropna())) < 0.3
    assert kurtosis(hard["anhedonia"].dropna()) < -0.4 and hard["anhedonia"].nunique() <= 10
    # one continuum drives them all; in the Gaussian null markers and symptoms are independent
    r_hard, r_gauss = hard.corr(method="spearman").to_numpy(), gauss.corr(method="spearman").to_numpy()
    assert r_hard[~np.eye(4, dtype=bool)].min() > 0.2
    assert abs(r_gauss[0, 2]) < 0.1 and abs(r_gauss[1, 3]) < 0.1


def test_null_kind_is_checked_and_the_gaussian_null_is_the_old_twin():
    with pytest.raises(InputError, match="--null-kind"):
        simulate_cohort(50, seed=1, null=True, null_kind="flat")
    t = simulate_cohort(400, seed=3, null=True, null_kind="gaussian")["truth"]
    assert t["latent_aes"].std() == pytest.approx(0.5, abs=0.06)  # the old null's AES trait


def test_null_truth_doc(tmp_path):
    p = write_cohort(tmp_path, n=30, seed=2, null=True, n_snps=20)
    doc = yaml.safe_load(p["truth_doc"].read_text())
    assert doc["null_kind"] == "hard"
    assert doc["planted_predictors"] == [] and doc["response_model"] == {"intercept": NULL_INTERCEPT}
    assert load_config(p["config"])["cohort"] == "simnull_n30_s2"


def test_cyp2c19_truth_matches_the_vcf_calls(written):
    defs = load_definitions("CYP2C19")
    calls = call_diplotypes(read_vcf_genotypes(written["vcf"], defs), defs)
    smap = pd.read_csv(written["sample_map"], sep="\t")
    calls["patient_id"] = calls["sample"].map(dict(zip(smap["sample_id"], smap["patient_id"])))
    truth = pd.read_csv(written["truth"], sep="\t")
    m = truth.merge(calls, on="patient_id", validate="one_to_one")
    assert len(m) == N
    agree = (m["cyp2c19_diplotype"] == m["diplotype"]).mean()
    assert agree >= 0.98
    # the disagreements come from the few samples with a position left uncalled on purpose
    # (or definitions that the VCF cannot tell apart), never from most samples
    assert (m["status"] == "called").mean() >= 0.95


def test_too_few_patients_is_a_user_error():
    from stratify.errors import InputError

    with pytest.raises(InputError, match="--n 5 is too small; simulate at least 20 patients"):
        simulate_cohort(5, seed=1)


@pytest.fixture(scope="module")
def demo_histories():
    """The demo cohort's (seed 7, 800 patients) trials judged and staged by every definition."""
    from stratify.clinical.adequacy import assess_trials
    from stratify.trd import stage_all

    c = simulate_cohort(800, seed=7)
    t = c["tables"]["treatments"].assign(prospective=lambda d: d["prospective"].astype("boolean"))
    trials = assess_trials(t).merge(
        t[["patient_id", "episode", "trial", "sessions"]], on=["patient_id", "episode", "trial"]
    )
    sy = c["tables"]["symptoms"]
    h0 = instrument_totals(sy[sy["week"] == 0]).query("instrument == 'HAMD17'").set_index("patient_id")["total"]
    p = c["tables"]["patients"].assign(baseline_severity=lambda d: d["patient_id"].map(h0))
    return c, t, stage_all(trials, p)


def stage_all_after_index(demo_histories):
    """The demo's staging with the index (prospective) trial counted, as trd/after_index.parquet."""
    from stratify.clinical.adequacy import assess_trials
    from stratify.trd import stage_all

    c, t, _ = demo_histories
    trials = assess_trials(t).merge(
        t[["patient_id", "episode", "trial", "sessions"]], on=["patient_id", "episode", "trial"]
    )
    sy = c["tables"]["symptoms"]
    h0 = instrument_totals(sy[sy["week"] == 0]).query("instrument == 'HAMD17'").set_index("patient_id")["total"]
    p = c["tables"]["patients"].assign(baseline_severity=lambda d: d["patient_id"].map(h0))
    return stage_all(trials, p, include_prospective=True)


def test_histories_exercise_every_trd_definition(demo_histories):
    _, t, s = demo_histories
    assert set(t["modality"]) >= {"medication", "augmentation", "psychotherapy", "ECT"}
    assert set(s["sforzini_2021"]) == {"TRD", "PRD", "responder", "not TRD", "not evaluable"}
    assert set(s["thase_rush_1997"].dropna()) == {0, 1, 2, 3, 4, 5} and s["thase_rush_1997"].isna().any()
    assert set(s["msm_band"]) == {"not staged", "mild", "moderate", "severe", "not evaluable"}
    assert set(s["conway_2017"].dropna()) == {0, 1, 2}
    # Markowitz needs two *prospective* medication failures (measured outcomes, docs/trd.md): in
    # the demo that happens once the index trial counts (the endpoint kind trd's staging)
    assert False in set(s["markowitz_2022"].dropna())
    after = stage_all_after_index(demo_histories)
    assert set(after["markowitz_2022"].dropna()) == {True, False}
    # Markowitz needs psychotherapy: some patients are TRD by Sforzini and not by Markowitz
    both = s.dropna(subset=["markowitz_2022"])
    assert ((both["sforzini_2021"] == "TRD") & ~both["markowitz_2022"].astype(bool)).sum() > 50
    # bipolar patients are not evaluable by any definition
    bip = s["patient_id"].isin(demo_histories[0]["tables"]["patients"].query("diagnosis == 'bipolar'")["patient_id"])
    assert bip.sum() > 5 and (s.loc[bip, "sforzini_2021"] == "not evaluable").all()


def test_pipeline_failed_trial_count_matches_the_planted_one(demo_histories):
    from stratify.clinical.scores import treatment_summary

    c, t, _ = demo_histories
    ts = treatment_summary(t).set_index("patient_id")
    truth = c["truth"].set_index("patient_id")["prior_failed_trials"]
    agree = (ts["n_failed_trials"] == truth.reindex(ts.index)).mean()
    # all disagreements are augmentations the dose table cannot judge (lithium, aripiprazole)
    assert agree > 0.95
    off = ts.index[ts["n_failed_trials"] != truth.reindex(ts.index)]
    assert (ts.loc[off, "n_uncertain_failures"] > 0).all()


def test_no_genotypes_writes_the_same_cohort_without_genetic_files(tmp_path):
    from stratify.cli import main

    a = write_cohort(tmp_path / "a", n=60, seed=5, n_snps=40)
    assert (
        main(["simulate", "--n", "60", "--seed", "5", "--snps", "40", "--no-genotypes", "--out", str(tmp_path / "b")])
        == 0
    )
    b = tmp_path / "b"
    assert not (b / "genotypes.vcf.gz").exists() and not (b / "cyp2d6.cyrius.tsv").exists()
    for role in ("patients", "symptoms", "treatments", "biomarkers", "sample_map", "truth"):
        assert a[role].read_bytes() == (b / a[role].name).read_bytes(), role
    cfg = load_config(b / "config.yaml")
    assert "genotypes" not in cfg["inputs"] and "star_alleles" not in cfg["inputs"]
    # writing a cohort without genetic files over one with them removes the old ones
    write_cohort(tmp_path / "a", n=60, seed=5, genotypes=False)
    assert not a["vcf"].exists() and not a["cyrius"].exists()
