"""Tests for stratify.pgx.guidance: the CPIC antidepressant table and per-trial guidance.

Expected values are worked by hand from the CPIC rows quoted in resources/SOURCES.md
("CPIC antidepressant guidance").
"""

from __future__ import annotations

import itertools

import pandas as pd
import pytest

import stratify.pgx.guidance as guidance_mod
from stratify.errors import InputError, PgxError
from stratify.pgx.guidance import ACTIONS, load_guidance, patient_guidance

UM, RM, NM, LIM, IM, LPM, PM, IND = (
    "Ultrarapid Metabolizer",
    "Rapid Metabolizer",
    "Normal Metabolizer",
    "Likely Intermediate Metabolizer",
    "Intermediate Metabolizer",
    "Likely Poor Metabolizer",
    "Poor Metabolizer",
    "Indeterminate",
)
CYP2C19_PHENOTYPES = [UM, RM, NM, LIM, IM, LPM, PM, IND]
CYP2D6_PHENOTYPES = [UM, NM, IM, PM, IND]
CYP2B6_PHENOTYPES = [UM, RM, NM, IM, PM, IND]
PHENOTYPES = {"CYP2C19": CYP2C19_PHENOTYPES, "CYP2D6": CYP2D6_PHENOTYPES, "CYP2B6": CYP2B6_PHENOTYPES}
TERTIARY = ["amitriptyline", "clomipramine", "doxepin", "imipramine", "trimipramine"]
EXPECTED_PAIRS = {
    "CYP2C19": ["citalopram", "escitalopram", "sertraline", *TERTIARY],
    "CYP2D6": [
        "paroxetine",
        "fluvoxamine",
        "vortioxetine",
        "venlafaxine",
        *TERTIARY,
        "nortriptyline",
        "desipramine",
    ],
    "CYP2B6": ["sertraline"],
}


def trial(agent, outcome="nonresponse", *, pid="p1", trial_no=1, modality="medication", **extra):
    row = {
        "patient_id": pid,
        "episode": 1,
        "trial": trial_no,
        "modality": modality,
        "agent": agent,
        "dose_mg_day": 20.0,
        "duration_weeks": 8.0,
        "outcome": outcome,
        "prospective": False,
    }
    row.update(extra)
    return row


def phen(pid="p1", **by_gene):
    return pd.DataFrame(
        [{"patient_id": pid, "gene": g, "phenotype": p} for g, p in by_gene.items()],
        columns=["patient_id", "gene", "phenotype"],
    )


def one(out, gene):
    rows = out[out["gene"] == gene]
    assert len(rows) == 1, out
    return rows.iloc[0]


# --------------------------------------------------------------------------- the table


def test_table_has_every_drug_gene_phenotype_exactly_once():
    g = load_guidance()
    expected = {(drug, gene, p) for gene, drugs in EXPECTED_PAIRS.items() for drug in drugs for p in PHENOTYPES[gene]}
    got = list(zip(g["drug"], g["gene"], g["phenotype"]))
    assert len(got) == len(set(got))
    assert set(got) == expected
    assert len(g) == 8 * 8 + 11 * 5 + 6 == 125


def test_every_action_and_classification_is_allowed():
    g = load_guidance()
    assert set(g["action"]) <= set(ACTIONS)
    # issue 9: every row carries CPIC's classification (none left empty)
    assert set(g["classification"]) <= {"strong", "moderate", "optional", "no_recommendation"}
    assert set(g["verified"]) <= {"yes", "no"}
    assert (g["recommendation"].str.len() > 0).all()
    assert (g["source_url_or_ref"].str.len() > 0).all()


def test_indeterminate_is_never_actionable():
    g = load_guidance()
    assert set(g.loc[g["phenotype"] == IND, "action"]) == {"no_recommendation"}


def test_likely_phenotypes_share_the_definite_recommendation():
    g = load_guidance().set_index(["drug", "gene", "phenotype"])
    for drug in EXPECTED_PAIRS["CYP2C19"]:
        for likely, definite in ((LIM, IM), (LPM, PM)):
            a, b = g.loc[(drug, "CYP2C19", likely)], g.loc[(drug, "CYP2C19", definite)]
            assert a["action"] == b["action"], (drug, likely)


def test_guidelines_are_the_current_ones():
    g = load_guidance()
    ssri = g[
        g["drug"].isin(
            ["citalopram", "escitalopram", "sertraline", "paroxetine", "fluvoxamine", "vortioxetine", "venlafaxine"]
        )
    ]
    assert ssri["guideline"].str.contains("Bousman").all()
    assert g.loc[g["drug"].isin([*TERTIARY, "nortriptyline", "desipramine"]), "guideline"].str.contains("Hicks").all()
    # The superseded 2015 SSRI guideline said "consider an alternative" for CYP2C19 RM;
    # CPIC 2023 starts sertraline at the standard dose.
    rm = g.query("drug == 'sertraline' and gene == 'CYP2C19' and phenotype == @RM")
    assert rm["action"].item() == "standard"


def test_load_guidance_rejects_a_duplicate_and_an_unknown_action(tmp_path, monkeypatch):
    good = load_guidance()
    (tmp_path / "pgx").mkdir()
    monkeypatch.setattr(guidance_mod, "resource_dir", lambda: tmp_path)
    path = tmp_path / guidance_mod.GUIDANCE_FILE
    pd.concat([good, good.iloc[:1]]).to_csv(path, sep="\t", index=False)
    with pytest.raises(PgxError, match="more than once"):
        load_guidance()
    bad = good.copy()
    bad.loc[0, "action"] = "maybe"
    bad.to_csv(path, sep="\t", index=False)
    with pytest.raises(PgxError, match="maybe"):
        load_guidance()
    good.drop(columns="action").to_csv(path, sep="\t", index=False)
    with pytest.raises(PgxError, match="lacks column"):
        load_guidance()


# --------------------------------------------------------------------------- guidance


def test_escitalopram_failed_in_cyp2c19_ultrarapid_is_flagged():
    out = patient_guidance(pd.DataFrame([trial("escitalopram")]), phen(CYP2C19=UM))
    r = one(out, "CYP2C19")
    assert r["action"] == "alternative"
    assert r["classification"] == "strong"
    assert "Bousman" in r["guideline"]
    assert bool(r["failed"]) is True
    assert bool(r["possible_pk_nonresponse"]) is True
    assert bool(r["possible_pk_intolerance"]) is False


def test_escitalopram_response_in_ultrarapid_is_not_flagged():
    out = patient_guidance(pd.DataFrame([trial("escitalopram", "response")]), phen(CYP2C19=UM))
    r = one(out, "CYP2C19")
    assert r["action"] == "alternative"
    assert bool(r["possible_pk_nonresponse"]) is False


def test_scores_alone_can_show_failure():
    # outcome not recorded: 30 -> 24 is a 20% reduction (non-response), 30 -> 22 is 26.7%
    # (partial), 30 -> 15 is 50% (response).
    rows = [
        trial("escitalopram", None, trial_no=1, baseline_score=30, end_score=24),
        trial("escitalopram", None, trial_no=2, baseline_score=30, end_score=22),
        trial("escitalopram", None, trial_no=3, baseline_score=30, end_score=15),
    ]
    out = patient_guidance(pd.DataFrame(rows), phen(CYP2C19=UM))
    assert out.sort_values("trial")["possible_pk_nonresponse"].tolist() == [True, True, False]
    strict = patient_guidance(pd.DataFrame(rows), phen(CYP2C19=UM), failed_outcomes=("nonresponse",))
    assert strict.sort_values("trial")["possible_pk_nonresponse"].tolist() == [True, False, False]


def test_partial_counts_as_failed_by_default_but_is_configurable():
    tr = pd.DataFrame([trial("escitalopram", "partial")])
    assert bool(one(patient_guidance(tr, phen(CYP2C19=UM)), "CYP2C19")["possible_pk_nonresponse"])
    strict = patient_guidance(tr, phen(CYP2C19=UM), failed_outcomes=("nonresponse",))
    assert bool(one(strict, "CYP2C19")["possible_pk_nonresponse"]) is False


def test_escitalopram_poor_metabolizer_intolerance():
    out = patient_guidance(pd.DataFrame([trial("escitalopram", "intolerance")]), phen(CYP2C19=PM))
    r = one(out, "CYP2C19")
    assert r["action"] == "alternative"
    assert bool(r["possible_pk_intolerance"]) is True
    assert bool(r["possible_pk_nonresponse"]) is False
    assert bool(r["failed"]) is False


def test_poor_metabolizer_nonresponse_is_not_pk_nonresponse():
    # Higher exposure does not explain lack of effect.
    out = patient_guidance(pd.DataFrame([trial("escitalopram", "nonresponse")]), phen(CYP2C19=PM))
    r = one(out, "CYP2C19")
    assert bool(r["possible_pk_nonresponse"]) is False
    assert bool(r["possible_pk_intolerance"]) is False


def test_intolerance_with_flat_scores_is_not_nonresponse():
    row = trial("escitalopram", "intolerance", baseline_score=30, end_score=29)
    out = patient_guidance(pd.DataFrame([row]), phen(CYP2C19=UM))
    r = one(out, "CYP2C19")
    assert bool(r["failed"]) is False
    assert bool(r["possible_pk_nonresponse"]) is False
    assert bool(r["possible_pk_intolerance"]) is False  # UM raises no exposure


def test_sertraline_cyp2c19_poor_metabolizer_dose_change():
    out = patient_guidance(pd.DataFrame([trial("sertraline", "intolerance")]), phen(CYP2C19=PM))
    r = one(out, "CYP2C19")
    assert r["action"] == "dose_change"
    assert "50% reduction" in r["recommendation"]
    assert bool(r["possible_pk_intolerance"]) is True
    assert list(out["gene"]) == ["CYP2C19", "CYP2B6"]
    assert one(out, "CYP2B6")["action"] == "no_result"  # CYP2B6 not called: never taken as normal


def test_sertraline_ultrarapid_failure_is_not_flagged():
    out = patient_guidance(pd.DataFrame([trial("sertraline")]), phen(CYP2C19=UM))
    r = one(out, "CYP2C19")
    assert r["action"] == "standard"
    assert bool(r["possible_pk_nonresponse"]) is False


def test_paroxetine_cyp2d6_ultrarapid_failed_is_flagged():
    out = patient_guidance(pd.DataFrame([trial("paroxetine")]), phen(CYP2D6=UM, CYP2C19=PM))
    assert list(out["gene"]) == ["CYP2D6"]
    r = one(out, "CYP2D6")
    assert r["action"] == "alternative"
    assert bool(r["possible_pk_nonresponse"]) is True


def test_venlafaxine_ultrarapid_has_no_cpic_action_so_no_flag():
    out = patient_guidance(pd.DataFrame([trial("venlafaxine")]), phen(CYP2D6=UM))
    r = one(out, "CYP2D6")
    assert r["action"] == "no_recommendation"
    assert bool(r["possible_pk_nonresponse"]) is False


def test_amitriptyline_cyp2c19_ultrarapid_avoid_and_both_genes():
    out = patient_guidance(pd.DataFrame([trial("amitriptyline")]), phen(CYP2C19=UM, CYP2D6=NM))
    assert sorted(out["gene"]) == ["CYP2C19", "CYP2D6"]
    c19, d6 = one(out, "CYP2C19"), one(out, "CYP2D6")
    assert c19["action"] == "avoid"
    assert "Hicks" in c19["guideline"]
    assert bool(c19["possible_pk_nonresponse"]) is True
    assert d6["action"] == "standard"
    assert bool(d6["possible_pk_nonresponse"]) is False


def test_nortriptyline_has_no_cyp2c19_row():
    g = load_guidance()
    assert g.query("drug == 'nortriptyline' and gene == 'CYP2C19'").empty
    out = patient_guidance(pd.DataFrame([trial("nortriptyline")]), phen(CYP2C19=UM, CYP2D6=UM))
    assert list(out["gene"]) == ["CYP2D6"]
    assert bool(one(out, "CYP2D6")["possible_pk_nonresponse"]) is True


@pytest.mark.parametrize("how", ["empty string", "nan", "absent"])
def test_no_call_gives_no_result_and_no_flag(how):
    if how == "absent":
        ph = phen(CYP2D6=NM)
    else:
        ph = phen(CYP2C19="" if how == "empty string" else float("nan"))
    out = patient_guidance(pd.DataFrame([trial("escitalopram")]), ph)
    r = one(out, "CYP2C19")
    assert r["action"] == "no_result"
    assert r["phenotype"] == ""
    assert r["recommendation"] == ""
    assert bool(r["possible_pk_nonresponse"]) is False
    assert bool(r["possible_pk_intolerance"]) is False


def test_indeterminate_is_no_recommendation_not_no_result():
    out = patient_guidance(pd.DataFrame([trial("citalopram")]), phen(CYP2C19=IND))
    r = one(out, "CYP2C19")
    assert r["action"] == "no_recommendation"
    assert bool(r["possible_pk_nonresponse"]) is False


def test_drug_without_guideline_gets_a_visible_row_and_non_drugs_none():
    rows = [
        trial("mirtazapine", trial_no=1),
        trial("cbt", trial_no=2, modality="psychotherapy"),
        trial("aripiprazole", trial_no=3, modality="augmentation"),
    ]
    out = patient_guidance(pd.DataFrame(rows), phen(CYP2C19=UM, CYP2D6=UM))
    assert out["agent"].tolist() == ["mirtazapine", "aripiprazole"]
    assert set(out["action"]) == {"no_guideline"}
    assert set(out["gene"]) == {""}
    assert not out["possible_pk_nonresponse"].any()


def test_combination_agent_is_split_and_patients_kept_apart():
    rows = [trial("olanzapine+fluoxetine", pid="p1"), trial("escitalopram", pid="p2")]
    ph = pd.concat([phen("p1", CYP2C19=UM), phen("p2", CYP2C19=NM)])
    out = patient_guidance(pd.DataFrame(rows), ph)
    assert out["agent"].tolist() == ["olanzapine", "fluoxetine", "escitalopram"]
    r = out[out["patient_id"] == "p2"].iloc[0]
    assert r["phenotype"] == NM and r["action"] == "standard"
    assert bool(r["possible_pk_nonresponse"]) is False


def test_every_rapid_direction_row_flags_and_no_slow_row_does():
    # A failed trial at a dose above every starting dose: alternative/avoid rows for a
    # faster phenotype flag; "titrate if no response" rows (citalopram/escitalopram RM)
    # do not, because the trial went above the starting dose.
    g = load_guidance()
    lower = {("CYP2C19", UM), ("CYP2C19", RM), ("CYP2D6", UM), ("CYP2B6", UM), ("CYP2B6", RM)}
    for (drug, gene), sub in g.groupby(["drug", "gene"]):
        for p, action in zip(sub["phenotype"], sub["action"]):
            out = patient_guidance(pd.DataFrame([trial(drug, dose_mg_day=300.0)]), phen(**{gene: p}))
            flag = bool(one(out, gene)["possible_pk_nonresponse"])
            expected = (gene, p) in lower and action in {"alternative", "avoid"}
            assert flag is expected, (drug, gene, p, action)


def test_output_columns_and_types():
    out = patient_guidance(pd.DataFrame([trial("escitalopram")]), phen(CYP2C19=UM))
    for c in [
        "patient_id",
        "episode",
        "trial",
        "agent",
        "gene",
        "phenotype",
        "recommendation",
        "action",
        "guideline",
        "possible_pk_nonresponse",
    ]:
        assert c in out.columns
    assert out["possible_pk_nonresponse"].dtype == bool
    assert out["possible_pk_intolerance"].dtype == bool
    empty = patient_guidance(pd.DataFrame([trial("cbt", modality="psychotherapy")]), phen())
    assert empty.empty and list(empty.columns) == list(out.columns)


# --------------------------------------------------------------------------- errors


def test_missing_columns_raise():
    with pytest.raises(InputError, match="treatments table lacks column"):
        patient_guidance(pd.DataFrame([trial("escitalopram")]).drop(columns="agent"), phen(CYP2C19=UM))
    with pytest.raises(InputError, match="phenotypes table lacks column"):
        patient_guidance(pd.DataFrame([trial("escitalopram")]), phen(CYP2C19=UM).drop(columns="gene"))


def test_duplicate_phenotype_row_raises():
    ph = pd.concat([phen(CYP2C19=UM), phen(CYP2C19=PM)])
    with pytest.raises(InputError, match="more than one CYP2C19"):
        patient_guidance(pd.DataFrame([trial("escitalopram")]), ph)


def test_non_cpic_phenotype_raises():
    # CYP2D6 has no "Rapid Metabolizer" category; accepting it would invent guidance.
    with pytest.raises(InputError, match="not a CPIC category"):
        patient_guidance(pd.DataFrame([trial("paroxetine")]), phen(CYP2D6=RM))


def test_all_listed_phenotype_combinations_resolve():
    for gene, drugs in EXPECTED_PAIRS.items():
        phens = PHENOTYPES[gene]
        for drug, p in itertools.product(drugs, phens):
            out = patient_guidance(pd.DataFrame([trial(drug)]), phen(**{gene: p}))
            assert one(out, gene)["action"] in ACTIONS


def test_scores_win_over_a_recorded_outcome_as_in_every_stage():
    # recorded "response" although the scores fell only 10%: the scores count, as in
    # stratify.clinical.adequacy (one failed-trial rule for the clinical, trd and pgx stages)
    t = trial("escitalopram", "response", baseline_score=30, end_score=27)
    r = one(patient_guidance(pd.DataFrame([t]), phen(CYP2C19=UM)), "CYP2C19")
    assert bool(r["failed"]) is True and bool(r["possible_pk_nonresponse"]) is True
    # and recorded "nonresponse" with a 60% reduction is a response, not a failure
    t = trial("escitalopram", "nonresponse", baseline_score=30, end_score=12)
    r = one(patient_guidance(pd.DataFrame([t]), phen(CYP2C19=UM)), "CYP2C19")
    assert bool(r["failed"]) is False and bool(r["possible_pk_nonresponse"]) is False


def test_a_trial_shorter_than_four_weeks_is_not_a_failure():
    short = trial("escitalopram", "nonresponse", duration_weeks=3.0)
    r = one(patient_guidance(pd.DataFrame([short]), phen(CYP2C19=UM)), "CYP2C19")
    assert bool(r["failed"]) is False and bool(r["possible_pk_nonresponse"]) is False
    long = trial("escitalopram", "nonresponse", duration_weeks=4.0)
    assert bool(one(patient_guidance(pd.DataFrame([long]), phen(CYP2C19=UM)), "CYP2C19")["failed"]) is True


def test_pct_change_without_scores_decides_a_failed_trial():
    from stratify.pgx.guidance import patient_guidance

    tr = pd.DataFrame(
        {
            "patient_id": ["p1", "p1"],
            "episode": [1, 1],
            "trial": [1, 2],
            "modality": ["medication", "medication"],
            "agent": ["escitalopram", "citalopram"],
            "duration_weeks": [8, 8],
            "pct_change": [10.0, 70.0],
            "prospective": False,
        }
    )
    ph = pd.DataFrame({"patient_id": ["p1"], "gene": ["CYP2C19"], "phenotype": ["Ultrarapid Metabolizer"]})
    out = patient_guidance(tr, ph)
    assert out["failed"].tolist() == [True, False]
    assert out["possible_pk_nonresponse"].tolist() == [True, False]
    bad = tr.assign(baseline_score=[20.0, 20.0], end_score=[18.0, 6.0])
    bad.loc[1, "pct_change"] = 30.0  # the scores say 70%
    with pytest.raises(InputError, match="patient p1, episode 1, trial 2: pct_change 30 disagrees"):
        patient_guidance(bad, ph)


# --------------------------------------------------------------------------- issue 9


def test_tca_classifications_are_cpic_s():
    # PharmCAT's CPIC export (v1.28.0), single-gene rows (other gene "No Result"); Hicks
    # et al. 2017: amitriptyline/nortriptyline graded, the other tricyclics optional.
    g = load_guidance().set_index(["drug", "gene", "phenotype"])["classification"]
    assert g[("amitriptyline", "CYP2C19", UM)] == "optional"
    assert g[("amitriptyline", "CYP2C19", PM)] == "moderate"
    assert g[("amitriptyline", "CYP2D6", PM)] == "strong"
    assert g[("amitriptyline", "CYP2D6", IM)] == "moderate"
    assert g[("clomipramine", "CYP2C19", NM)] == "strong"
    assert g[("imipramine", "CYP2D6", IM)] == "optional"
    assert g[("desipramine", "CYP2D6", NM)] == "strong"
    assert (g != "").all()


@pytest.mark.parametrize(
    "drug,dose,flagged,why",
    [
        ("escitalopram", 10.0, True, "not above the standard starting dose 10 mg/day"),
        ("escitalopram", 20.0, False, "titrated to 20 mg/day"),
        ("escitalopram", None, False, "dose is not recorded"),
        ("citalopram", 20.0, True, "starting dose 20 mg/day"),
        ("citalopram", 40.0, False, "above the standard starting dose 20"),
    ],
)
def test_rapid_metabolizer_flag_needs_a_trial_at_the_starting_dose(drug, dose, flagged, why):
    r = one(patient_guidance(pd.DataFrame([trial(drug, dose_mg_day=dose)]), phen(CYP2C19=RM)), "CYP2C19")
    assert r["action"] == "dose_change" and r["classification"] == "optional"
    assert bool(r["possible_pk_nonresponse"]) is flagged
    assert why in r["flag_reason"]


def test_ultrarapid_flag_does_not_depend_on_dose():
    r = one(patient_guidance(pd.DataFrame([trial("escitalopram", dose_mg_day=20.0)]), phen(CYP2C19=UM)), "CYP2C19")
    assert bool(r["possible_pk_nonresponse"]) is True
    assert r["flag_reason"].startswith("failed trial; CYP2C19 Ultrarapid Metabolizer")


def d6(pid="p1", phenotype=NM, score=2.0, **extra):
    return pd.DataFrame(
        [{"patient_id": pid, "gene": "CYP2D6", "phenotype": phenotype, "activity_score": score, **extra}]
    )


def test_fluoxetine_makes_a_normal_metabolizer_poor_for_a_concurrent_nortriptyline():
    # acceptance test of issue 9: fluoxetine augmenting nortriptyline, and the two in one row
    aug = [trial("nortriptyline", trial_no=1), trial("fluoxetine", trial_no=2, modality="augmentation")]
    for rows in (aug, [trial("nortriptyline+fluoxetine")]):
        out = patient_guidance(pd.DataFrame(rows), d6())
        r = out[(out["agent"] == "nortriptyline")].iloc[0]
        assert r["genotype_phenotype"] == NM
        assert r["phenotype"] == PM
        assert r["action"] == "avoid"
        assert "fluoxetine (strong CYP2D6 inhibitor): activity score 2 x 0 = 0" in r["phenoconversion"]


def test_a_switch_is_not_concurrent():
    rows = [trial("fluoxetine", trial_no=1), trial("nortriptyline", trial_no=2)]
    r = one(patient_guidance(pd.DataFrame(rows), d6()).query("agent == 'nortriptyline'"), "CYP2D6")
    assert r["phenotype"] == NM and r["phenoconversion"] == ""


def test_augmentation_belongs_to_the_latest_medication_trial_before_it():
    from stratify.pgx.phenoconversion import concurrent_agents

    tr = pd.DataFrame(
        [
            trial("sertraline", trial_no=1),
            trial("nortriptyline", trial_no=2),
            trial("bupropion", trial_no=3, modality="augmentation"),
            trial("lithium", trial_no=4, modality="augmentation"),
            trial("venlafaxine", trial_no=1, pid="p2", episode=2),
        ]
    )
    c = concurrent_agents(tr)
    assert c[("p1", 1, 1)] == {"sertraline"}
    assert c[("p1", 1, 2)] == c[("p1", 1, 3)] == {"nortriptyline", "bupropion", "lithium"}
    assert c[("p2", 2, 1)] == {"venlafaxine"}


def test_moderate_inhibitor_halves_the_activity_score():
    for score, genotype, expected in ((2.0, NM, IM), (3.0, UM, NM), (2.25, NM, IM), (1.0, IM, IM)):
        out = patient_guidance(pd.DataFrame([trial("nortriptyline+duloxetine")]), d6(phenotype=genotype, score=score))
        r = one(out.query("agent == 'nortriptyline'"), "CYP2D6")
        assert (r["genotype_phenotype"], r["phenotype"]) == (genotype, expected), score
    # without a score, an ultrarapid band (2.5 or more) halves to 1.25 or more: not one phenotype
    out = patient_guidance(pd.DataFrame([trial("nortriptyline+duloxetine")]), d6(phenotype=UM, score=None))
    r = one(out.query("agent == 'nortriptyline'"), "CYP2D6")
    assert r["phenotype"] == IND and r["action"] == "no_recommendation"


def test_phenoconversion_removes_an_ultrarapid_flag_and_the_drug_does_not_convert_itself():
    out = patient_guidance(pd.DataFrame([trial("nortriptyline+bupropion")]), d6(phenotype=UM, score=3.0))
    r = one(out.query("agent == 'nortriptyline'"), "CYP2D6")
    assert r["phenotype"] == PM and bool(r["possible_pk_nonresponse"]) is False
    # paroxetine inhibits CYP2D6 itself; CPIC's paroxetine rows already are about that drug
    r = one(patient_guidance(pd.DataFrame([trial("paroxetine")]), d6(phenotype=UM, score=3.0)), "CYP2D6")
    assert r["phenotype"] == UM and bool(r["possible_pk_nonresponse"]) is True


def test_fluvoxamine_is_a_strong_cyp2c19_inhibitor_only():
    ph = pd.concat([phen(CYP2C19=UM), d6()])
    out = patient_guidance(pd.DataFrame([trial("amitriptyline+fluvoxamine")]), ph)
    c19 = one(out.query("agent == 'amitriptyline'"), "CYP2C19")
    assert (c19["genotype_phenotype"], c19["phenotype"]) == (UM, PM)
    assert bool(c19["possible_pk_nonresponse"]) is False
    d = one(out.query("agent == 'amitriptyline'"), "CYP2D6")
    assert d["phenotype"] == NM and d["phenoconversion"] == ""  # weak CYP2D6 inhibitor


def test_moderate_cyp2c19_inhibitor_is_reported_not_applied():
    out = patient_guidance(pd.DataFrame([trial("escitalopram+fluoxetine")]), phen(CYP2C19=UM))
    r = one(out.query("agent == 'escitalopram'"), "CYP2C19")
    assert r["phenotype"] == UM and "no established CYP2C19 adjustment" in r["phenoconversion"]


def both(c19, b6, pid="p1"):
    return pd.DataFrame(
        [
            {"patient_id": pid, "gene": "CYP2C19", "phenotype": c19},
            {"patient_id": pid, "gene": "CYP2B6", "phenotype": b6},
        ]
    )


def test_sertraline_cyp2b6_alone_and_with_cyp2c19():
    # CPIC 2023 via PharmCAT sertraline.json: CYP2B6 PM alone or with CYP2C19 NM -> 25%
    # lower maintenance (optional); with CYP2C19 IM -> 50%; both PM -> alternative.
    r = one(patient_guidance(pd.DataFrame([trial("sertraline")]), phen(CYP2B6=PM)), "CYP2B6")
    assert r["action"] == "dose_change" and r["classification"] == "optional"
    assert "25% reduction" in r["recommendation"] and r["lookup"] == ""
    out = patient_guidance(pd.DataFrame([trial("sertraline", "intolerance")]), both(NM, PM))
    b6, c19 = one(out, "CYP2B6"), one(out, "CYP2C19")
    assert "25% reduction" in b6["recommendation"] and b6["recommendation"] == c19["recommendation"]
    assert b6["lookup"] == "CYP2C19=Normal Metabolizer; CYP2B6=Poor Metabolizer"
    assert bool(b6["possible_pk_intolerance"]) is True and bool(c19["possible_pk_intolerance"]) is False
    r = one(patient_guidance(pd.DataFrame([trial("sertraline")]), both(IM, PM)), "CYP2B6")
    assert "50% reduction" in r["recommendation"]
    r = one(patient_guidance(pd.DataFrame([trial("sertraline")]), both(PM, PM)), "CYP2C19")
    assert r["action"] == "alternative"


def test_sertraline_both_rapid_is_flagged_only_at_the_starting_dose():
    at_start = patient_guidance(pd.DataFrame([trial("sertraline", dose_mg_day=50.0)]), both(RM, UM))
    assert at_start["possible_pk_nonresponse"].all()
    titrated = patient_guidance(pd.DataFrame([trial("sertraline", dose_mg_day=150.0)]), both(RM, UM))
    assert not titrated["possible_pk_nonresponse"].any()
    # CYP2C19 PM with CYP2B6 RM: a dose reduction, not a reason for non-response
    out = patient_guidance(pd.DataFrame([trial("sertraline", dose_mg_day=50.0)]), both(PM, RM))
    assert not out["possible_pk_nonresponse"].any()


def test_combined_table_covers_every_called_pair():
    from stratify.pgx.guidance import load_combined

    c = load_combined()
    assert set(c) == set(itertools.product(CYP2C19_PHENOTYPES, CYP2B6_PHENOTYPES))


def test_candidates_that_differ_are_listed_and_that_agree_are_used():
    cand = "*1/*4: Intermediate Metabolizer; *4/*4: Poor Metabolizer"
    ph = d6(phenotype=IND, score=None, candidate_phenotypes=cand)
    r = one(patient_guidance(pd.DataFrame([trial("nortriptyline")]), ph), "CYP2D6")
    assert r["action"] == "ambiguous" and r["recommendation"] == ""
    assert "*1/*4: Intermediate Metabolizer -> dose_change (moderate)" in r["candidates"]
    assert "*4/*4: Poor Metabolizer -> avoid (strong)" in r["candidates"]
    assert bool(r["possible_pk_intolerance"]) is False
    # a strong inhibitor makes both candidates poor metabolizers: one answer
    r = one(
        patient_guidance(pd.DataFrame([trial("nortriptyline+paroxetine")]), ph).query("agent == 'nortriptyline'"),
        "CYP2D6",
    )
    assert r["phenotype"] == PM and r["action"] == "avoid"
    agree = d6(
        phenotype=IND,
        score=None,
        candidate_phenotypes="*1/*4: Intermediate Metabolizer; *1/*5: Intermediate Metabolizer",
    )
    r = one(patient_guidance(pd.DataFrame([trial("nortriptyline")]), agree), "CYP2D6")
    assert (r["genotype_phenotype"], r["phenotype"], r["action"]) == (IM, IM, "dose_change")
    assert r["candidates"] == ""


def test_candidates_flag_only_when_every_candidate_does():
    ph = phen(CYP2C19=IND).assign(candidate_phenotypes="*1/*17: Rapid Metabolizer; *17/*17: Ultrarapid Metabolizer")
    r = one(patient_guidance(pd.DataFrame([trial("amitriptyline")]), ph), "CYP2C19")
    assert r["action"] == "avoid" and bool(r["possible_pk_nonresponse"]) is True  # same CPIC text
    r = one(patient_guidance(pd.DataFrame([trial("escitalopram", dose_mg_day=20.0)]), ph), "CYP2C19")
    assert r["action"] == "ambiguous" and bool(r["possible_pk_nonresponse"]) is False


def test_malformed_candidate_phenotypes_raise():
    ph = d6(phenotype=IND, score=None, candidate_phenotypes="*1/*4 Intermediate")
    with pytest.raises(InputError, match="candidate_phenotypes entry"):
        patient_guidance(pd.DataFrame([trial("nortriptyline")]), ph)
    ph = d6(phenotype=IND, score=None, candidate_phenotypes="*1/*4: Rapid Metabolizer; *4/*4: Poor Metabolizer")
    with pytest.raises(InputError, match="not 'diplotype: CPIC phenotype'"):
        patient_guidance(pd.DataFrame([trial("nortriptyline")]), ph)


def test_corrupted_new_tables_raise(tmp_path, monkeypatch):
    import stratify.pgx.phenoconversion as pc
    from stratify.pgx.guidance import load_combined, load_starting_doses

    (tmp_path / "pgx").mkdir()
    monkeypatch.setattr(pc, "resource_dir", lambda: tmp_path)
    monkeypatch.setattr(guidance_mod, "resource_dir", lambda: tmp_path)
    pc.load_inhibitors.cache_clear()
    try:
        (tmp_path / pc.INHIBITOR_FILE).write_text(
            "agent\tgene\tstrength\tactivity_factor\tsource\tverified\tnotes\nx\tCYP2D6\tvery\t0\ts\tyes\t\n"
        )
        with pytest.raises(PgxError, match="very"):
            pc.load_inhibitors()
    finally:
        pc.load_inhibitors.cache_clear()
    (tmp_path / guidance_mod.COMBINED_FILE).write_text("cyp2c19_phenotype\tcyp2b6_phenotype\n")
    with pytest.raises(PgxError, match="lacks column"):
        load_combined()
    (tmp_path / guidance_mod.STARTING_DOSE_FILE).write_text("drug\tstarting_dose_mg_day\nx\tten\n")
    with pytest.raises(PgxError, match="numeric starting_dose_mg_day"):
        load_starting_doses()
