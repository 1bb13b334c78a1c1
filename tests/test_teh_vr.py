"""Variance-ratio meta-analysis (``stratify teh vr``): formulas, pooling, GRISELDA, metafor.

Reference values were computed with R 4.2.2 and metafor 3.8-1 (Debian r-base-core,
r-cran-metafor) by ``tests/data/teh/metafor_vr.R`` on the same arms files; the live test
at the end re-runs that script when ``Rscript`` and metafor are installed.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from stratify.cli import main
from stratify.errors import InputError, StratifyError
from stratify.heterogeneity.meta_analysis import (
    fixed_effect,
    lncvr,
    lnvr,
    pool_comparisons,
    random_effects,
    reml_loglik,
    reml_tau2,
)
from stratify.heterogeneity.trial_arms import pair_arms, read_arms
from stratify.heterogeneity.variance_ratio import griselda_arms, run_vr

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data" / "teh"
GRISELDA = REPO.parent / "shared" / "data" / "teh" / "cipriani2018_griselda_arms.csv"
R_SCRIPT = DATA / "metafor_vr.R"
SYNTHETIC = DATA / "synthetic_arms.tsv"
HEADER = "study\tarm\tgroup\tn\tmean\tsd"

# metafor 3.8-1: escalc(measure="VR"/"CVR") + rma(method="FE") / rma(method="REML"), default control.
# (measure, effect size, model) -> estimate, ci_low, ci_high (log scale), tau2
METAFOR_GRISELDA = {
    ("endpoint", "VR", "FE"): (-0.0190262908412205, -0.0386533031106438, 0.000600721428202878, 0.0),
    ("endpoint", "VR", "REML"): (-0.0190262908412205, -0.0386533031106438, 0.000600721428202878, 0.0),
    ("change", "VR", "FE"): (0.00575653371615624, -0.00624748822034321, 0.0177605556526557, 0.0),
    ("change", "VR", "REML"): (0.00575653371615624, -0.00624748822034321, 0.0177605556526557, 0.0),
    ("endpoint", "CVR", "FE"): (0.120576205397801, 0.0954499482757034, 0.145702462519899, 0.0),
    ("endpoint", "CVR", "REML"): (0.120576205397801, 0.0954499482757034, 0.145702462519899, 0.0),
    ("change", "CVR", "FE"): (-0.195988985949788, -0.213784413840848, -0.178193558058728, 0.0),
    ("change", "CVR", "REML"): (-0.19926427819117, -0.220407361991376, -0.178121194390964, 0.00622445308062684),
}
# Q and I2 (%) of the same fits
METAFOR_GRISELDA_Q_I2 = {
    ("endpoint", "VR", "REML"): (66.7036648070857, 0.0),
    ("change", "VR", "REML"): (183.67481948801, 0.0),
    ("change", "CVR", "FE"): (324.368486800535, 26.3183663871242),
    ("change", "CVR", "REML"): (324.368486800535, 23.9005192619773),
}
# tests/data/teh/synthetic_arms.tsv, endpoint subset (k = 6, heterogeneous): estimate, se, tau2, I2
METAFOR_SYNTHETIC = {
    ("VR", "FE"): (-0.0331139870536242, 0.0624600656245464, 0.0, 87.2082685785309),
    ("VR", "REML"): (0.0605140184786664, 0.177535892922017, 0.163388243714693, 87.2589269754672),
    ("CVR", "FE"): (0.140370500535987, 0.0777122123080566, 0.0, 82.1043635466111),
    ("CVR", "REML"): (0.256991943389117, 0.187785838719124, 0.169832405488037, 81.9692415297877),
}
# the same VR fit with control=list(threshold=1e-12): tau2, estimate, se
METAFOR_SYNTHETIC_VR_TIGHT = (0.163388239473097, 0.0605140181440787, 0.177535890926609)
MODEL = {"FE": "fixed", "REML": "random"}


# --------------------------------------------------------------------------- formulas
def test_lnvr_hand_computed():
    # sd 10 (n 21) vs 8 (n 11): ln(1.25) + 1/40 - 1/20, variance 1/40 + 1/20
    yi, vi = lnvr(10.0, 21, 8.0, 11)
    assert float(yi) == pytest.approx(math.log(1.25) - 0.025, abs=1e-15)
    assert float(vi) == pytest.approx(0.075, abs=1e-15)


def test_lncvr_hand_computed_and_sign_rules():
    # CV 0.5 vs 0.5: only the small-sample terms remain; variance adds sd²/(n m²) per arm
    yi, vi = lncvr(20.0, 10.0, 21, 16.0, 8.0, 11)
    assert float(yi) == pytest.approx(-0.025, abs=1e-15)
    assert float(vi) == pytest.approx(0.075 + 100 / (21 * 400) + 64 / (11 * 256), abs=1e-15)
    # lnCVR - lnVR = ln(m_c / m_t)
    m_t, m_c = 12.0, 15.0
    assert float(lncvr(m_t, 7.0, 30, m_c, 6.0, 33)[0] - lnvr(7.0, 30, 6.0, 33)[0]) == pytest.approx(
        math.log(m_c / m_t), abs=1e-14
    )
    # two negative means (change scores): same as their absolute values; opposite signs or 0: undefined
    assert np.allclose(lncvr(-12.0, 7.0, 30, -15.0, 6.0, 33), lncvr(12.0, 7.0, 30, 15.0, 6.0, 33), rtol=0, atol=0)
    assert np.isnan(lncvr(-12.0, 7.0, 30, 15.0, 6.0, 33)).all()
    assert np.isnan(lncvr(0.0, 7.0, 30, 15.0, 6.0, 33)).all()


def test_fixed_effect_is_inverse_variance_mean():
    yi = np.array([0.2, -0.1, 0.05, 0.3])
    vi = np.array([0.02, 0.05, 0.01, 0.1])
    fe = fixed_effect(yi, vi)
    w = 1 / vi
    assert fe["estimate"] == pytest.approx(np.sum(w * yi) / np.sum(w), abs=1e-15)
    assert fe["se"] == pytest.approx(np.sum(w) ** -0.5, abs=1e-15)
    assert fe["Q"] == pytest.approx(np.sum(w * (yi - fe["estimate"]) ** 2), abs=1e-12)
    assert fe["ci_low"] == pytest.approx(fe["estimate"] - 1.959963984540054 * fe["se"], abs=1e-12)
    assert fe["ratio"] == pytest.approx(math.exp(fe["estimate"]))


def _synthetic_endpoint():
    comp = pair_arms(read_arms(SYNTHETIC), path=SYNTHETIC)
    return comp[comp["measure"] == "endpoint"]


@pytest.mark.parametrize("es", ["VR", "CVR"])
@pytest.mark.parametrize("model", ["FE", "REML"])
def test_synthetic_heterogeneous_set_matches_metafor(es, model):
    sub = _synthetic_endpoint()
    y, v = sub[f"yi_{es.lower()}"], sub[f"vi_{es.lower()}"]
    fit = fixed_effect(y, v) if model == "FE" else random_effects(y, v)
    est, se, tau2, i2 = METAFOR_SYNTHETIC[(es, model)]
    assert fit["estimate"] == pytest.approx(est, abs=1e-10)
    assert fit["se"] == pytest.approx(se, abs=1e-10)
    assert fit.get("tau2", 0.0) == pytest.approx(tau2, abs=1e-10)
    assert fit["I2"] == pytest.approx(i2, abs=1e-8)
    if model == "REML":
        assert tau2 > 0.1  # the point of this data set: tau2 clearly above 0


def test_reml_converged_is_the_maximum_of_the_restricted_likelihood():
    sub = _synthetic_endpoint()
    y, v = sub["yi_vr"].to_numpy(), sub["vi_vr"].to_numpy()
    tau2, _ = reml_tau2(y, v, threshold=1e-13)
    direct = minimize_scalar(lambda t: -reml_loglik(t, y, v), bounds=(0, 5), method="bounded", options={"xatol": 1e-12})
    assert tau2 == pytest.approx(direct.x, abs=1e-8)
    assert tau2 == pytest.approx(METAFOR_SYNTHETIC_VR_TIGHT[0], abs=1e-12)
    # metafor's default stopping rule (a step below 1e-5) leaves tau2 within 1e-5 of the maximum
    assert abs(reml_tau2(y, v)[0] - tau2) < 1e-5
    # the REML estimating equation holds at the maximum: y'PPy = tr(P)
    w = 1 / (v + tau2)
    py = w * (y - np.sum(w * y) / np.sum(w))
    assert np.sum(py**2) == pytest.approx(np.sum(w) - np.sum(w**2) / np.sum(w), rel=1e-9)


def test_reml_non_convergence_and_bad_input_are_errors():
    sub = _synthetic_endpoint()
    with pytest.raises(StratifyError, match="did not converge in 1 Fisher scoring steps"):
        reml_tau2(sub["yi_vr"], sub["vi_vr"], max_iter=1)
    with pytest.raises(ValueError, match="variances finite and positive"):
        random_effects([0.1, 0.2], [0.01, 0.0])


def test_tau2_truncated_at_zero():
    # less spread than the sampling variances allow: the REML root is negative
    y = np.array([0.01, -0.01, 0.02, 0.0, -0.02])
    v = np.array([0.04, 0.05, 0.03, 0.06, 0.05])
    tau2, _ = reml_tau2(y, v)
    assert tau2 == 0.0
    re, fe = random_effects(y, v), fixed_effect(y, v)
    assert re["estimate"] == pytest.approx(fe["estimate"], abs=1e-15)
    assert re["I2"] == 0.0 and re["H2"] == 1.0
    assert fe["I2"] == 0.0  # Q < df
    # and the likelihood indeed decreases away from 0
    assert reml_loglik(0.0, y, v) > reml_loglik(1e-4, y, v)


def test_single_comparison():
    re = random_effects([0.1], [0.02])
    assert re["tau2"] == 0.0 and re["Q_df"] == 0 and re["Q_p"] is None and re["I2"] is None
    assert re["estimate"] == pytest.approx(0.1)


# --------------------------------------------------------------------------- GRISELDA
@pytest.fixture(scope="module")
def griselda(tmp_path_factory):
    d = tmp_path_factory.mktemp("griselda")
    arms, counts = griselda_arms(GRISELDA)
    arms_path = d / "griselda_arms.tsv"
    arms.to_csv(arms_path, sep="\t", index=False)
    paths = run_vr(arms_path, d / "vr")
    pooled = json.loads(paths["pooled"].read_text())
    return {"arms": arms_path, "counts": counts, "paths": paths, "pooled": {e["measure"]: e for e in pooled["subsets"]}}


def test_griselda_converter_counts(griselda):
    c = griselda["counts"]
    assert c["arms_in_file"] == 1199
    assert c["comparisons"] == 344
    assert c["treatment_arms_sign_differs_from_placebo"] == 0
    assert c["study_scales_with_several_placebo_arms"] == 0
    arms = read_arms(griselda["arms"])
    assert set(arms["scale"]) == {"HAMD17", "HAMD21", "MADRS"}
    assert arms.groupby(["study", "scale"])["group"].apply(lambda g: (g == "control").sum()).eq(1).all()


@pytest.mark.parametrize(
    "measure,k,n_studies,vr,lo,hi",
    [
        ("endpoint", 104, 75, 0.981, 0.962, 1.001),
        ("change", 240, 146, 1.006, 0.994, 1.018),
    ],
)
def test_griselda_reproduces_provenance(griselda, measure, k, n_studies, vr, lo, hi):
    # ../shared/data/teh/PROVENANCE.md, "Reference check"
    e = griselda["pooled"][measure]
    assert (e["k"], e["n_studies"]) == (k, n_studies)
    assert (e["lnVR"]["k"], e["lnVR"]["n_studies"]) == (k, n_studies)
    re = e["lnVR"]["random"]
    assert (round(re["ratio"], 3), round(re["ratio_ci_low"], 3), round(re["ratio_ci_high"], 3)) == (vr, lo, hi)
    assert re["tau2"] == 0.0
    assert round(re["I2"]) == 0


@pytest.mark.parametrize("key", sorted(METAFOR_GRISELDA))
def test_griselda_matches_metafor(griselda, key):
    measure, es, model = key
    fit = griselda["pooled"][measure][f"ln{es}"][MODEL[model]]
    est, lo, hi, tau2 = METAFOR_GRISELDA[key]
    for ours, ref in ((fit["estimate"], est), (fit["ci_low"], lo), (fit["ci_high"], hi), (fit.get("tau2", 0.0), tau2)):
        assert abs(ours - ref) < 1e-6, (key, ours, ref)
    if key in METAFOR_GRISELDA_Q_I2:
        q, i2 = METAFOR_GRISELDA_Q_I2[key]
        assert fit["Q"] == pytest.approx(q, rel=1e-9)
        assert fit["I2"] == pytest.approx(i2, abs=1e-6)


def test_griselda_outputs(griselda):
    comp = pd.read_csv(griselda["paths"]["comparisons"], sep="\t", keep_default_na=False)
    assert len(comp) == 344
    assert {"yi_vr", "vi_vr", "yi_cvr", "vi_cvr", "n_treatment", "sd_control", "cvr_note"} <= set(comp.columns)
    # change scores are negative means: lnCVR from |mean|, noted
    assert (comp.loc[comp["measure"] == "change", "cvr_note"] == "both means negative: |mean| used").all()
    assert griselda["paths"]["forest"].stat().st_size > 10_000


# --------------------------------------------------------------------------- live metafor
def _metafor_available() -> str | None:
    if shutil.which("Rscript") is None:
        return "Rscript is not on PATH (install r-base-core and r-cran-metafor to run this cross-check)"
    res = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('metafor', quietly = TRUE))"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if res.returncode != 0:
        return "the R package metafor is not installed (r-cran-metafor or install.packages('metafor'))"
    return None


_NO_METAFOR = _metafor_available()


@pytest.mark.skipif(_NO_METAFOR is not None, reason=str(_NO_METAFOR))
@pytest.mark.parametrize("which", ["synthetic", "griselda"])
def test_live_metafor_cross_check(which, griselda):
    if which == "synthetic":
        arms = SYNTHETIC
        pooled = {e["measure"]: e for e in pool_comparisons(pair_arms(read_arms(arms), path=arms))}
    else:
        arms, pooled = griselda["arms"], griselda["pooled"]
    res = subprocess.run(
        ["Rscript", str(R_SCRIPT), str(arms)], capture_output=True, text=True, timeout=300, check=False
    )
    assert res.returncode == 0, res.stderr
    n = 0
    for line in res.stdout.splitlines():
        if line.startswith("#"):
            continue
        measure, es, model, stat, value = line.split("\t")
        block = pooled[measure][f"ln{es}"]
        ours = block[stat] if stat == "n_studies" else block[MODEL[model]].get(stat, 0.0 if stat == "tau2" else None)
        ref = float(value)
        if stat in ("estimate", "se", "ci_low", "ci_high", "tau2", "pi_low", "pi_high"):
            assert abs(ours - ref) < 1e-6, (measure, es, model, stat, ours, ref)
        else:
            assert ours == pytest.approx(ref, rel=1e-6, abs=1e-9), (measure, es, model, stat, ours, ref)
        n += 1
    assert n >= 40


# --------------------------------------------------------------------------- command line and errors
def test_cli_writes_outputs_and_log(tmp_path):
    log = tmp_path / "teh.log"
    assert main(["teh", "vr", "--arms", str(SYNTHETIC), "--out", str(tmp_path / "out"), "--log", str(log)]) == 0
    for f in ("comparisons.tsv", "pooled.json", "forest.png"):
        assert (tmp_path / "out" / f).is_file()
    text = log.read_text()
    for step in (
        "read 18 arms from 8 studies",
        "paired arms into 9 comparisons",
        "endpoint lnVR (k = 6)",
        "lnCVR not computed for 1 comparisons",
        "wrote",
        "teh vr done",
    ):
        assert step in text
    doc = json.loads((tmp_path / "out" / "pooled.json").read_text())
    assert doc["provenance"]["arms_sha256"]
    change = {e["measure"]: e for e in doc["subsets"]}["change"]
    assert (change["lnVR"]["k"], change["lnCVR"]["k"], change["lnCVR"]["k_not_computed"]) == (3, 2, 1)


def test_cli_error_is_one_line(tmp_path, capsys):
    p = tmp_path / "arms.tsv"
    p.write_text(f"{HEADER}\nS1\tA\ttreatment\t20\t10\t0\nS1\tP\tcontrol\t20\t12\t5\n")
    assert main(["teh", "vr", "--arms", str(p), "--out", str(tmp_path / "out")]) == 2
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert err == [f"stratify: error: {p}, line 2, column 'sd': expected a value > 0, found '0'"]


def test_cli_griselda_arms(tmp_path):
    out = tmp_path / "g.tsv"
    assert main(["teh", "griselda-arms", "--csv", str(GRISELDA), "--out", str(out)]) == 0
    assert len(read_arms(out)) == 565


TWO = "S1\tA\ttreatment\t20\t10\t4\nS1\tP\tcontrol\t20\t12\t5\n"


@pytest.mark.parametrize(
    "text,match",
    [
        ("study\tarm\tgroup\tn\tmean\n" + "S1\tA\ttreatment\t20\t10\n", "missing required column 'sd'"),
        (HEADER + "\tdrug\n" + "S1\tA\ttreatment\t20\t10\t4\tx\n", "unknown column 'drug'"),
        (HEADER + "\nS1\tA\tactive\t20\t10\t4\n", r"line 2, column 'group': expected one of treatment, control"),
        (HEADER + "\nS1\tA\ttreatment\t1\t10\t4\n", r"line 2, column 'n': expected a value >= 2, found '1'"),
        (HEADER + "\nS1\tA\ttreatment\t20.5\t10\t4\n", r"line 2, column 'n': expected an integer"),
        (HEADER + "\n" + TWO + "S2\tA\ttreatment\t20\t10\t-3\n", r"line 4, column 'sd': expected a value > 0"),
        (HEADER + "\nS1\tA\ttreatment\t20\tten\t4\n", r"line 2, column 'mean': expected a number, found 'ten'"),
        (HEADER + "\nS1\tA\ttreatment\t20\tinf\t4\n", r"line 2, column 'mean': expected a finite number"),
        (HEADER + "\nS1\tA\ttreatment\t20\t10\t\n", r"line 2, column 'sd': expected a value"),
        (
            HEADER + "\n" + TWO + "S1\tA\ttreatment\t30\t11\t4\n",
            r"line 4: duplicate arm \(study=S1, arm=A\); first seen on line 2",
        ),
        (
            HEADER + "\tmeasure\nS1\tA\ttreatment\t20\t10\t4\tendpoint\nS1\tP\tcontrol\t20\t12\t5\t\n",
            r"line 3, column 'measure': expected a value \(the column is present",
        ),
        (
            HEADER + "\n" + TWO + "S2\tA\ttreatment\t20\t10\t4\n",
            r"line 4: study 'S2' has treatment arms but no control arm",
        ),
        (
            HEADER + "\n" + TWO + "S1\tP2\tcontrol\t20\t12\t5\n",
            r"line 4: study 'S1' has 2 control arms \(lines 3, 4\); expected exactly one",
        ),
        (
            HEADER + "\tscale\nS1\tA\ttreatment\t20\t10\t4\tMADRS\nS1\tP\tcontrol\t20\t12\t5\tHAMD17\n",
            r"study 'S1', scale 'MADRS' has treatment arms but no control arm",
        ),
        (HEADER + "\nS1\tP\tcontrol\t20\t12\t5\n", "no comparisons: no study has both"),
        (HEADER + "\n", "no arms"),
        (HEADER + "\nS1\tA\ttreatment\t20\t10\n", "line 2 has 5 fields, the header has 6"),
    ],
)
def test_bad_arms_files(tmp_path, text, match):
    p = tmp_path / "arms.tsv"
    p.write_text(text)
    with pytest.raises(InputError, match=match) as exc:
        pair_arms(read_arms(p), path=p)
    assert str(exc.value).startswith(str(p))
    assert "\n" not in str(exc.value)


def test_missing_file_and_csv(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        read_arms(tmp_path / "nope.tsv")
    p = tmp_path / "arms.csv"
    p.write_text(HEADER.replace("\t", ",") + "\n" + TWO.replace("\t", ","))
    comp = pair_arms(read_arms(p), path=p)
    assert len(comp) == 1 and comp["measure"].iloc[0] == "" and comp["line_control"].iloc[0] == 3


def test_griselda_converter_rejects_other_files(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("study_id,drug\nA,placebo\n")
    with pytest.raises(InputError, match="missing column 'scale', 'endpoint_n'"):
        griselda_arms(p)
    with pytest.raises(InputError, match="file not found"):
        griselda_arms(tmp_path / "none.csv")
