"""The consortium report: every section from the consortium library's results on the simulated
cohorts, offline, missing values as "n/a" with the reason, cohort names escaped, and no crash
when nothing was claimed, leave-one-cohort-out did not run or no cohort has two arms."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape

import numpy as np
import pandas as pd
import pytest

from stratify.consortium.bundle import summarise
from stratify.consortium.pooling import pool_bundles, pool_raw, profile_match
from stratify.consortium.replication import read_cohort_subtypes, replicate_all, subtype_overview
from stratify.consortium.stage import write_report
from stratify.consortium.transport import CELL_COLUMNS, leave_one_cohort_out, transport_matrix
from stratify.errors import InputError
from stratify.model.cv import SEARCH_DEFAULTS
from stratify.model.fit import ModelOptions
from stratify.plots import bar_counts_png
from stratify.report.consortium import SECTIONS, render_consortium_report
from stratify.report.consortium_pooled import max_difference
from stratify.report.context import read_tsv

COHORTS = ("siteA", "siteB", "siteC", "siteD")  # planted, planted, null, two-arm planted


def _cohorts_table(names) -> pd.DataFrame:
    """cohorts.tsv as SPEC20b lists its columns (hand-made: the stage writes it)."""
    rows = []
    for i, n in enumerate(names):
        rows.append(
            {
                "cohort": n,
                "config": f"cohorts/consortium_demo/{n}.yaml",
                "n_patients": 700 - 100 * i,
                "n_with_endpoint": 680 - 100 * i,
                "sites": "S1;S2",
                "instruments": "QIDS_SR16;IDS_SR30" if i == 1 else "HAMD17;IDS_SR30",
                "endpoint": "HAMD17, week 8, response",
                "endpoint_converted": "QIDS_SR16 -> HAMD17: 600 patients" if i == 1 else "",
                "has_genotypes": False,
                "has_star_alleles": False,
                "has_biomarkers": i != 2,
                "two_arm": n == "siteD",
                "subtypes_claimed": n != "siteC",
                "n_subtypes": 2 if n != "siteC" else 0,
                "subtype_names": "immune-metabolic;unlabelled" if n != "siteC" else "",
                "model_auc": 0.70 - 0.05 * i,
                "lacks": "CRP; IL6" if i == 2 else "",
            }
        )
    return pd.DataFrame(rows)


def _harmonisation(names) -> pd.DataFrame:
    rows = [
        {"cohort": n, "from_instrument": "HAMD17", "to_instrument": "HAMD17", "n_patients": 700, "table": ""}
        for n in names
        if n != "siteB"
    ]
    rows.append(
        {
            "cohort": "siteB",
            "from_instrument": "QIDS_SR16",
            "to_instrument": "HAMD17",
            "n_patients": 600,
            "table": "resources/harmonisation/qids_sr16_to_hamd17.tsv",
        }
    )
    return pd.DataFrame(rows)


def _plots(folder) -> dict:
    """Only the transport matrix plot (any PNG will do: the stage draws the real one)."""
    counts = {"external AUC above 0.5": {"siteA": 3, "siteB": 3}}
    return {"transport_matrix": bar_counts_png(counts, folder / "transport_matrix.png")}


def _replication_rows(pairs) -> pd.DataFrame:
    """replication.tsv: one row per (cohort A, cohort B, cluster of A), as the stage writes it."""
    head = [
        "cohort_a",
        "cohort_b",
        "metric",
        "n_b",
        "b_claimed",
        "adjusted_rand",
        "prediction_strength",
        "not_testable",
    ]
    rows = []
    for p in pairs:
        h = {k: p.get(k) for k in head}
        rows += [{**h, **c} for c in p["clusters"]] or [h]
    return pd.DataFrame(rows)


def _summary(names) -> dict:
    """summary.json as the stage writes it (the keys the report reads)."""
    analyses = {
        a: {"run": True, "reason": ""}
        for a in ("replication", "profile_matches", "transport", "leave_one_cohort_out", "pooling")
    }
    analyses["leave_one_cohort_out"]["model_options_from"] = "the first cohort's config (siteA): its model settings"
    return {
        "name": "demo",
        "cohorts": list(names),
        "min_cell": 10,
        "n_boot": 30,
        "endpoints": dict.fromkeys(names, "HAMD17, week 8, response"),
        "common_endpoint": True,
        "analyses": analyses,
        "skipped": {},
    }


def _roundtrip(parts: dict, folder) -> dict:
    """The parts as the stage's files give them back: tables through TSV, documents through JSON."""
    out = dict(parts)
    for k, v in parts.items():
        if isinstance(v, pd.DataFrame):
            v.to_csv(folder / f"{k}.tsv", sep="\t", index=False)
            out[k] = read_tsv(folder / f"{k}.tsv")
            if out[k].empty:
                out[k] = pd.DataFrame(columns=v.columns)
        elif k in ("pooled", "pooled_raw", "summary"):
            out[k] = json.loads(json.dumps(v))
    return out


@pytest.fixture(scope="module")
def parts(consortium_runs, tmp_path_factory):
    """The report's parts from the consortium library on four simulated cohorts."""
    folder = tmp_path_factory.mktemp("consortium_report")
    paths = {n: consortium_runs[n]["results"] for n in COHORTS}
    pairs, verdicts = replicate_all([read_cohort_subtypes(n, p) for n, p in paths.items()])
    bundles = [summarise(p, min_cell=10, cohort=n) for n, p in paths.items()]
    options = ModelOptions(
        endpoint=consortium_runs["siteA"]["config"]["endpoint"],
        n_bootstrap=20,
        search={**SEARCH_DEFAULTS, "n_candidates": 0},
    )
    three = {n: paths[n] for n in COHORTS[:3]}
    matches = [
        profile_match(a, b).assign(cohort_a=a["cohort"], cohort_b=b["cohort"])
        for a in bundles
        for b in bundles
        if a is not b
    ]
    built = {
        "name": "demo",
        "summary": _summary(COHORTS),
        "cohorts": _cohorts_table(COHORTS),
        "harmonisation": _harmonisation(COHORTS),
        "transport": transport_matrix(paths, n_boot=30, seed=1),
        "loco": leave_one_cohort_out(three, options=options, n_boot=30, seed=1),
        "replication": _replication_rows(pairs),
        "verdicts": verdicts,
        "overview": subtype_overview(verdicts),
        "pooled": {**pool_bundles(bundles), "max_abs_difference_from_raw": 0.0},
        "pooled_raw": pool_raw(paths, min_cell=10),
        "profile_matches": pd.concat(matches, ignore_index=True),
        "plots": _plots(folder),
    }
    return _roundtrip(built, folder)


def _text(html: str) -> str:
    """The page without its embedded images and tags (what a reader sees)."""
    html = re.sub(r'src="data:image/png;base64,[^"]*"', "", html)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def test_every_section_is_there_and_the_page_is_offline(parts, tmp_path):
    out = render_consortium_report(parts, out=tmp_path / "report.html")
    html = out.read_text(encoding="utf-8")
    for sid, title in SECTIONS:
        assert f"<section id='{sid}'><h2>{title}</h2>" in html
    assert "data:image/png;base64," in html  # the transport matrix plot, embedded
    assert "(figure forest_auc.png was not produced)" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "<link" not in html
    assert "url(" not in html and "@import" not in html
    text = _text(html)
    assert "consortium demo" in text
    for phrase in (
        "Subtype 'immune-metabolic' (claimed in siteA): replicated in siteB, siteD; not replicated in siteC",
        "QIDS_SR16 -> HAMD17: 600 patients",
        "Every cohort's endpoint ends on one metric: HAMD17, week 8, response",
        "siteB + siteC",
        "Model options of the pooled fits: the first cohort's config (siteA)",
        "share of the matched cluster carried to it",
        "What needs individual data.",
        "Tibshirani R, Walther G",
        "Steyerberg EW, Harrell FE",
        "differs from this one by at most",
    ):
        assert phrase in text, phrase
    assert re.search(r"siteC\s*:\s*CRP; IL6", text) and re.search(r"siteA\s*:\s*nothing that another cohort has", text)


def test_headline_numbers_are_those_of_the_tables(parts, tmp_path):
    text = _text(render_consortium_report(parts, out=tmp_path).read_text(encoding="utf-8"))
    t = parts["transport"]
    ext = t[t["kind"] == "external"]
    lo, hi = ext.loc[ext["auc"].idxmin()], ext.loc[ext["auc"].idxmax()]
    assert (
        f"ranged from {lo['auc']:.3f} ({lo['train']} -> {lo['test']}) to {hi['auc']:.3f} "
        f"({hi['train']} -> {hi['test']})"
    ) in text
    chance = ((ext["auc_ci_low"] <= 0.5) & (ext["auc_ci_high"] >= 0.5)).sum()
    assert chance >= 3  # the null cohort siteC, neither trained nor tested on, predicts nothing
    assert f"{chance} of {len(ext)} external cells have a 95% interval that includes 0.5" in text
    rate = parts["pooled"]["response"]["all patients"]["rate"]
    assert f"Response rate, all patients: {rate['estimate']:.3f} (95% CI {rate['ci_low']:.3f} to" in text
    vr = parts["pooled"]["variance_ratio"]["ratio"]
    assert f"Variance ratio (treatment vs control): {vr['estimate']:.3f}" in text
    # the drop from internal to external, per training cohort
    a = t[t["train"] == "siteA"]
    drop = a.loc[a["test"] == "siteA", "auc"].iloc[0] - a.loc[a["kind"] == "external", "auc"].median()
    assert f"{drop:+.3f}" in text


def test_missing_values_are_na_with_their_reason(parts, tmp_path):
    p = dict(parts)
    t = parts["transport"].astype({"reason": object})  # all blank in the TSV: read back as float
    reg = "the model predicts a regression endpoint; AUCs need a binary one"
    t.loc[(t["train"] == "siteA") & (t["test"] == "siteB"), ["run", "reason", "auc", "auc_ci_low", "auc_ci_high"]] = [
        False,
        reg,
        np.nan,
        np.nan,
        np.nan,
    ]
    t.loc[(t["train"] == "siteB") & (t["test"] == "siteB"), ["run", "reason", "auc"]] = [False, np.nan, np.nan]
    p["transport"] = t
    c = parts["cohorts"].copy()
    c.loc[0, "model_auc"] = None
    p["cohorts"] = c
    html = render_consortium_report(p, out=tmp_path / "r.html").read_text(encoding="utf-8")
    text = _text(html)
    assert f"n/a: {reg}" in text and "n/a (no reason recorded)" in text
    assert "1 external cell(s) were not scored" in text
    assert not re.search(r"\bnan\b|\bNone\b|\bNaN\b|\bNaT\b|<NA>", text)
    assert "<td>n/a</td>" in html  # siteA's model AUC in the cohorts table


def test_nothing_claimed_no_loco_no_two_arm_no_plots(parts, consortium_runs, tmp_path):
    three = ("siteA", "siteB", "siteC")
    p = dict(parts)
    p["overview"] = parts["overview"].iloc[0:0]
    p["verdicts"] = parts["verdicts"].iloc[0:0]
    p["loco"] = pd.DataFrame(columns=[*CELL_COLUMNS, "features"])
    p["pooled"] = json.loads(
        json.dumps(pool_bundles([summarise(consortium_runs[n]["results"], cohort=n) for n in three]))
    )
    p["pooled_raw"] = {}
    p["plots"] = {}
    p["summary"] = {"name": "demo", "skipped": {"loco": "it needs at least three cohorts with the same features"}}
    p["cohorts"] = parts["cohorts"].assign(subtypes_claimed=False)
    text = _text(render_consortium_report(p, out=tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "No cohort claimed a named subtype, so there was nothing to replicate." in text
    assert "Leave-one-cohort-out was not run: it needs at least three cohorts with the same features." in text
    assert "loco: it needs at least three cohorts" in text  # the headline's "not analysed" box
    assert "Variance ratio: not pooled (no two-arm cohort" in text
    assert "(figure transport_matrix.png was not produced)" in text
    assert "pooled_raw.json) was not given" in text
    p["loco"] = pd.DataFrame()  # a table with not even a header
    p["summary"] = {}
    text = _text(render_consortium_report(p, out=tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "Leave-one-cohort-out was not run: loco.tsv has no rows (4 cohorts" in text


def test_a_subtype_claimed_in_one_cohort_only_is_shown_first(parts, tmp_path):
    v = pd.DataFrame(
        {
            "cohort_a": ["siteC", "siteC", "siteA"],
            "cohort_b": ["siteA", "siteB", "siteB"],
            "subtype": ["melancholic", "melancholic", "immune-metabolic"],
            "cluster_a": [0, 0, 1],
            "verdict": ["not replicated", "not replicated", "replicated"],
            "why": ["siteA: prediction strength 0.41 < 0.8", "siteB: no cluster matched", "ok"],
            "adjusted_rand": [0.1, 0.2, 0.9],
            "prediction_strength": [0.41, 0.5, 0.93],
        }
    )
    p = {**parts, "verdicts": v, "overview": subtype_overview(v)}
    html = render_consortium_report(p, out=tmp_path / "r.html").read_text(encoding="utf-8")
    box = html.index("Claimed in one cohort only")
    assert html.index("melancholic (claimed in siteC; not replicated in siteA, siteB)") > box
    assert box < html.index("<h3>Subtype melancholic</h3>")
    assert "Subtype &#39;melancholic&#39; (claimed in siteC): found in this cohort only" in html


def _rename(obj, old, new):
    """Every string equal to (or containing) ``old`` in nested parts, renamed."""
    if isinstance(obj, pd.DataFrame):
        return obj.map(lambda v: v.replace(old, new) if isinstance(v, str) else v)
    if isinstance(obj, dict):
        return {k: _rename(v, old, new) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rename(v, old, new) for v in obj]
    return obj.replace(old, new) if isinstance(obj, str) else obj


def test_cohort_names_are_escaped(parts, tmp_path):
    evil = "<b>A&B</b>"
    p = {k: (_rename(v, "siteA", evil) if k != "plots" else v) for k, v in parts.items()}
    p["name"] = "<script>x</script>"
    html = render_consortium_report(p, out=tmp_path / "r.html").read_text(encoding="utf-8")
    assert evil not in html and "<script>" not in html
    assert "&lt;b&gt;A&amp;B&lt;/b&gt;" in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_bad_parts_give_a_clear_error(parts, tmp_path):
    with pytest.raises(InputError, match="parts lack transport"):
        render_consortium_report({k: v for k, v in parts.items() if k != "transport"}, out=tmp_path / "r.html")
    with pytest.raises(InputError, match=r"table 'cohorts' \(cohorts.tsv .*\) lacks column\(s\) lacks"):
        render_consortium_report({**parts, "cohorts": parts["cohorts"].drop(columns="lacks")}, out=tmp_path / "r.html")
    t = parts["transport"].astype({"auc": object})
    t.loc[2, "auc"] = "high"
    with pytest.raises(InputError, match=r"table 'transport' \(transport.tsv\), row 3, column auc: expected a number"):
        render_consortium_report({**parts, "transport": t}, out=tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_max_difference_between_pooled_documents():
    a = {"source": "site bundles", "auc": {"k": 2, "random": {"estimate": 0.5}, "studies": [{"yi": 1.0}]}}
    b = {"source": "patient-level data", "auc": {"k": 2, "random": {"estimate": 0.5 + 3e-9}, "studies": [{"yi": 1.0}]}}
    assert max_difference(a, a) == 0.0
    assert max_difference(a, b) == pytest.approx(3e-9, rel=1e-3)
    assert max_difference(a, {**b, "auc": {**b["auc"], "studies": []}}) is None


def test_endpoints_on_different_metrics_skip_what_needs_one(parts, tmp_path):
    why = (
        "the cohorts' endpoints are not one metric (siteA: HAMD17, week 8, response; siteB: QIDS_SR16, week 8, "
        "response); set clinical.harmonise in siteB's config"
    )
    summary = _summary(COHORTS)
    summary["endpoints"]["siteB"] = "QIDS_SR16, week 8, response"
    summary["common_endpoint"] = False
    for a in ("transport", "leave_one_cohort_out", "pooling"):
        summary["analyses"][a] = {"run": False, "reason": why}
    summary["skipped"] = dict.fromkeys(("transport", "leave_one_cohort_out", "pooling"), why)
    p = {
        **parts,
        "summary": summary,
        "transport": pd.DataFrame(columns=CELL_COLUMNS),
        "loco": pd.DataFrame(columns=[*CELL_COLUMNS, "features"]),
        "pooled": {"skipped": True, "reason": why},
        "pooled_raw": {"skipped": True, "reason": why},
    }
    text = _text(render_consortium_report(p, out=tmp_path / "r.html").read_text(encoding="utf-8"))
    assert "The cohorts' endpoints do not end on one metric: siteA: HAMD17, week 8, response;" in text
    assert "siteB: QIDS_SR16, week 8, response" in text
    assert f"Transportability was not computed ({why})." in text  # headline
    assert f"Transportability was not computed: {why}." in text  # its section
    assert f"Leave-one-cohort-out was not run: {why}." in text
    assert f"Pooled estimates were not computed: {why}." in text
    assert f"Leave-one-cohort-out: {why}" in text  # the headline's list of what was not analysed
    assert "Every cohort's endpoint ends on one metric" not in text


def test_no_auc_anywhere_says_why(parts, tmp_path):
    t = parts["transport"].astype({"reason": object})
    t["run"], t["auc"] = False, np.nan
    t["reason"] = np.where(
        t["kind"] == "external", "the model predicts a regression endpoint; AUCs need a binary one", ""
    )
    text = _text(render_consortium_report({**parts, "transport": t}, out=tmp_path / "r.html").read_text("utf-8"))
    assert (
        "No external AUC could be computed (the model predicts a regression endpoint; AUCs need a binary one)." in text
    )
    assert "0 of 3" in text  # external cells scored per training cohort


def test_the_stage_folder_renders(consortium_stage_run, tmp_path):
    """The consortium stage's own folder (siteA, siteB, siteC: no two-arm cohort), read back by
    load_consortium_results and rendered by the stage's write_report hook."""
    out = shutil.copytree(consortium_stage_run[0], tmp_path / "three")
    report = write_report(out)
    assert report == out / "report.html"
    html = report.read_text(encoding="utf-8")
    for sid, title in SECTIONS:
        assert f"<section id='{sid}'><h2>{title}</h2>" in html
    assert html.count("data:image/png;base64,") == 3  # transport matrix, response and AUC forests
    text = _text(html)
    assert "Variance ratio: not pooled (no two-arm cohort" in text
    assert "Subtype 'immune-metabolic' (claimed in siteA): replicated in siteB; not replicated in siteC." in text
    assert re.search(r"differs from this one by at most \d\.\de-(1\d|[89])", text)
    assert "Model options of the pooled fits: the first cohort's config (siteA)" in text
    assert not re.search(r"\bnan\b|\bNone\b|\bNaN\b|<NA>", text)
