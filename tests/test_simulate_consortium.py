"""`stratify simulate --consortium`: several cohorts that differ in sites, instruments, sizes and
ids, planted and null, each valid and runnable on its own; and plain `stratify simulate` unchanged."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from stratify.config import load_config, validate_config
from stratify.consortium.config import load_consortium
from stratify.errors import ConfigError, InputError
from stratify.io.layout import config_slice
from stratify.simulate.cohort import simulate_cohort, write_cohort
from stratify.simulate.consortium import consortium_plan, write_consortium, write_consortium_configs

REPO = Path(__file__).resolve().parent.parent
SIZES = (200, 150, 120)


@pytest.fixture(scope="module")
def consortium(tmp_path_factory):
    out = tmp_path_factory.mktemp("cons")
    paths = write_consortium(out, seed=3, name="tc", sizes=SIZES, n_snps=40)
    return out, paths, load_consortium(paths["consortium"])


def _table(cohort, name: str) -> pd.DataFrame:
    return pd.read_csv(cohort.config["inputs"][name], sep="\t", dtype={"patient_id": str})


def test_written_consortium_is_valid_and_each_cohort_on_its_own(consortium):
    out, paths, cons = consortium
    assert cons.name == "tc" and cons.cohort_names == ["tc_a", "tc_b", "tc_c"] and cons.min_cell == 10
    assert yaml.safe_load(paths["consortium"].read_text())["consortium"]["cohorts"] == [
        "tc_a/config.yaml",
        "tc_b/config.yaml",
        "tc_c/config.yaml",
    ]
    for c in cons.cohorts:
        assert c.source == (out / c.name / "config.yaml").resolve()
        assert load_config(c.source) == c.config  # valid on its own, every file present


def test_cohorts_differ_in_size_sites_ids_and_instruments(consortium):
    _, _, cons = consortium
    pts = {c.name: _table(c, "patients") for c in cons.cohorts}
    assert [len(pts[n]) for n in cons.cohort_names] == list(SIZES)
    sites = {n: set(p["site"]) for n, p in pts.items()}
    assert sites["tc_a"] == {"site_a1", "site_a2", "site_a3", "site_a4"}
    assert not (sites["tc_a"] & sites["tc_b"]) and not (sites["tc_b"] & sites["tc_c"])
    ids = {n: set(p["patient_id"]) for n, p in pts.items()}
    assert not (ids["tc_a"] & ids["tc_b"]) and not (ids["tc_a"] & ids["tc_c"])
    assert min(ids["tc_b"]) == "B-P00001"
    inst = {c.name: set(_table(c, "symptoms")["instrument"]) for c in cons.cohorts}
    assert inst == {
        "tc_a": {"HAMD17", "IDS_SR30"},
        "tc_b": {"QIDS_SR16", "IDS_SR30"},
        "tc_c": {"HAMD17", "QIDS_SR16", "IDS_SR30"},
    }
    b = cons.cohorts[1]
    # genotype files carry the cohort's sample ids; the sample map links them to its patients
    with gzip.open(b.config["inputs"]["genotypes"]["vcf"], "rt") as fh:
        header = next(ln for ln in fh if ln.startswith("#CHROM")).rstrip("\n").split("\t")
    assert header[9] == "B-S00001"
    smap = pd.read_csv(b.config["inputs"]["genotypes"]["sample_map"], sep="\t")
    assert set(smap["patient_id"]) == ids["tc_b"] and set(smap["sample_id"]) >= set(header[9:])


def test_endpoint_on_one_metric_and_shared_features(consortium):
    _, _, cons = consortium
    a, b, c = cons.cohorts
    for x in cons.cohorts:
        assert x.config["endpoint"] == {"kind": "response", "instrument": "HAMD17", "week": 8}
    # the cohort without HAMD-17 items converts QIDS-SR16 with the shipped table
    assert b.config["clinical"]["harmonise"]["from"] == ["QIDS_SR16"]
    assert "harmonise" not in a.config["clinical"] and "harmonise" not in c.config["clinical"]
    # one feature set every cohort can form: no HAMD-17 dimension, since cohort b rated none
    assert a.config["features"] == b.config["features"] == c.config["features"]
    assert "anxiety_somatization" not in a.config["features"]["clinical"]
    assert {"aes", "anhedonia"} <= set(a.config["features"]["clinical"])
    assert a.config["subtype"]["features"] == ["inflammatory_index", "metabolic_index", "aes", "anhedonia"]


def test_truth_says_which_cohort_is_planted_and_which_null(consortium):
    out, paths, cons = consortium
    truth = yaml.safe_load(paths["truth"].read_text())
    assert truth["planted_cohorts"] == ["tc_a", "tc_b"] and truth["null_cohorts"] == ["tc_c"]
    assert truth["null_kind"] == "hard"
    assert truth["cohorts"]["tc_b"]["endpoint_converted_from"] == ["QIDS_SR16"]
    assert truth["cohorts"]["tc_c"]["sites"] == ["site_c1", "site_c2", "site_c3", "site_c4"]
    for c in cons.cohorts:
        own = yaml.safe_load((out / c.name / "truth.yaml").read_text())
        assert own["null"] == (c.name == "tc_c") and own["n"] == truth["cohorts"][c.name]["n"]
        assert own["instruments"] == truth["cohorts"][c.name]["instruments"]
        im = pd.read_csv(out / c.name / "truth.tsv", sep="\t")["immune_metabolic"]
        if c.name == "tc_c":
            assert im.sum() == 0
        else:
            assert 0.15 < im.mean() < 0.35


def test_relabelling_changes_labels_not_values(consortium):
    out, _, cons = consortium
    plan = consortium_plan(name="tc", seed=3, sizes=SIZES)[1]
    raw = simulate_cohort(plan.n, seed=plan.seed)["tables"]
    b = cons.cohorts[1]
    pts = _table(b, "patients")
    assert pts["patient_id"].tolist() == ["B-" + p for p in raw["patients"]["patient_id"]]
    assert pts["age"].tolist() == raw["patients"]["age"].tolist()
    rename = dict(zip(["site_A", "site_B", "site_C", "site_D"], plan.sites, strict=True))
    assert pts["site"].tolist() == raw["patients"]["site"].map(rename).tolist()
    qids = _table(b, "symptoms")
    want = raw["symptoms"][raw["symptoms"]["instrument"] == "QIDS_SR16"]
    assert qids[qids["instrument"] == "QIDS_SR16"]["score"].tolist() == want["score"].tolist()


@pytest.mark.parametrize("index", [0, 1, 2])
def test_each_cohort_runs_validate_and_clinical(consortium, tmp_path, index):
    from stratify.clinical.stage import run_clinical
    from stratify.inputs.stage import run_validate

    cohort = consortium[2].cohorts[index]
    cfg = cohort.config
    run_validate(config_slice(cfg, "validate"), tmp_path)
    run_clinical(config_slice(cfg, "clinical"), tmp_path)
    summary = json.loads((tmp_path / "clinical" / "summary.json").read_text())
    n = SIZES[index]
    assert summary["endpoint"]["instrument"] == "HAMD17"
    assert summary["endpoint_status"]["ok"] >= 0.9 * n
    assert summary["endpoint_converted"] == ({"QIDS_SR16": n} if index == 1 else {})
    pts = pd.read_parquet(tmp_path / "clinical" / "patients.parquet")
    assert pts["aes"].notna().mean() > 0.9 and pts["anhedonia"].notna().mean() > 0.9


def test_plan_defaults_and_errors():
    plans = consortium_plan(name="x", seed=10)
    assert [(p.kind, p.n, p.seed, p.id_prefix) for p in plans] == [
        ("planted", 1200, 10, "A-"),
        ("planted", 1000, 11, "B-"),
        ("null", 800, 12, "C-"),
    ]
    assert all(800 <= p.n <= 1500 for p in plans)
    assert len({p.instruments for p in plans}) == 3
    five = consortium_plan(name="x", seed=1, kinds=["planted"] * 4 + ["null"])
    assert [p.name for p in five][-1] == "x_e" and five[3].instruments == five[0].instruments
    with pytest.raises(InputError, match=r"--kinds planted: expected at least two of planted, null"):
        consortium_plan(name="x", seed=1, kinds=["planted"])
    with pytest.raises(InputError, match=r"--kinds planted,maybe: expected"):
        consortium_plan(name="x", seed=1, kinds=["planted", "maybe"])
    with pytest.raises(InputError, match=r"--sizes 900,900: expected 3 numbers of patients .* each at least 50"):
        consortium_plan(name="x", seed=1, sizes=[900, 900])
    with pytest.raises(InputError, match=r"--sizes 900,900,10: expected 3"):
        consortium_plan(name="x", seed=1, sizes=[900, 900, 10])
    with pytest.raises(InputError, match=r"--name 'a b': expected a name"):
        consortium_plan(name="a b", seed=1)


def test_write_cohort_option_errors(tmp_path):
    with pytest.raises(InputError, match=r"--instruments MADRS: expected one or more of HAMD17, QIDS_SR16, IDS_SR30"):
        write_cohort(tmp_path, n=30, seed=1, instruments=["MADRS"])
    with pytest.raises(InputError, match=r"--instruments \(none\): expected"):
        write_cohort(tmp_path, n=30, seed=1, instruments=[])
    with pytest.raises(InputError, match=r"--sites a,b: expected 4 distinct site names"):
        write_cohort(tmp_path, n=30, seed=1, sites=["a", "b"])
    with pytest.raises(InputError, match=r"--sites a,a,b,c: expected 4 distinct"):
        write_cohort(tmp_path, n=30, seed=1, sites=["a", "a", "b", "c"])
    with pytest.raises(InputError, match=r"--id-prefix 'B/': expected letters"):
        write_cohort(tmp_path, n=30, seed=1, id_prefix="B/")
    assert not any(tmp_path.iterdir())  # nothing written before the options were checked


def test_ids_only_self_report_cohort_keeps_its_own_endpoint(tmp_path):
    paths = write_cohort(tmp_path, n=60, seed=2, n_snps=20, instruments=["IDS_SR30"])
    cfg = load_config(paths["config"])
    assert cfg["endpoint"]["instrument"] == "IDS_SR30" and "harmonise" not in cfg["clinical"]
    assert "anxiety_somatization" not in cfg["features"]["clinical"]
    assert "no HAMD-17 items" in yaml.safe_load(paths["truth_doc"].read_text())["endpoint_note"]


def test_simulate_block_instruments_must_leave_an_endpoint():
    cfg = yaml.safe_load((REPO / "cohorts" / "consortium_demo" / "consortium_demo_b.yaml").read_text())
    del cfg["clinical"]
    with pytest.raises(ConfigError, match=r"key simulate.instruments: QIDS_SR16, IDS_SR30 leaves no HAMD17 total"):
        validate_config(cfg, source="b.yaml")


# Plain `stratify simulate` writes what it wrote before consortia existed (n = 200, seed 11,
# 100 SNPs): sha256 of each file (the gzipped ones of their text). If you change the simulator on
# purpose, update these and say so in docs/simulation.md.
GOLDEN = {
    "patients.tsv": "9338eefa3fc30fcc6b20a063baba453a26c1764bd1820817333fee4cbce004d9",
    "symptoms.tsv": "795a329b5d5e15f78c211f334b8581d49da9c18c3fdc3d698acb143d95b30eee",
    "treatments.tsv": "e3ad6e3a4aa6ffc091fee4c4d16d95e75749a9f16c4fc729442024b43979f4c0",
    "biomarkers.tsv": "312dd3bc898014a5ae0a28fa2cdcaeadb90218e84449f053e835c03026b019a9",
    "sample_map.tsv": "8a82f5dc4e951cd1dfaf83ad7c30923830985bdd5ac1a1b85012e8dddd369d76",
    "truth.tsv": "34e5bb444eade9370cea44eeb75cea47dd3d1903546fa59bb371389f2296bb8b",
    "truth.yaml": "be81f6237c7eac4292cc14f568b1becac47bd15ceb31427975f4b57d94f061a8",
    "cyp2d6.cyrius.tsv": "868b9235feff90b4224606529e93edbe97b1fd0cd2b3cfce721295546045daef",
    "genotypes.vcf.gz": "93e8f891bf4d45c415f044e4123a48a5d80224779f81fcb920499439ff9c7e42",
    "PGS_SIM_hmPOS_GRCh38.txt.gz": "03bcfd6ebd0da1fef670748c55f3f9d992132b9d4d46e8af44491abb9229f6eb",
}


def _sha(path: Path) -> str:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return hashlib.sha256(data).hexdigest()


def test_plain_simulate_defaults_are_unchanged(tmp_path):
    paths = write_cohort(tmp_path, n=200, seed=11, n_snps=100)
    assert {name: _sha(tmp_path / name) for name in GOLDEN} == GOLDEN
    cfg = yaml.safe_load(paths["config"].read_text())
    assert list(cfg) == ["cohort", "genome_build", "seed", "inputs", "endpoint"]
    assert cfg["endpoint"] == {"kind": "response", "instrument": "HAMD17", "week": 8}
    # the relabelling options at their defaults are the same call
    again = write_cohort(tmp_path / "again", n=200, seed=11, n_snps=100, instruments=None, sites=None, id_prefix="")
    assert _sha(again["symptoms"]) == GOLDEN["symptoms.tsv"]


def _stratify(*args, cwd):
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return subprocess.run(
        [sys.executable, "-m", "stratify.cli", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_writes_a_consortium(tmp_path):
    res = _stratify(
        "simulate", "--consortium", "out", "--seed", "5", "--sizes", "80,60", "--kinds", "planted,null", "--snps", "20",
        cwd=tmp_path,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    cons = load_consortium(tmp_path / "out" / "consortium.yaml")
    assert cons.cohort_names == ["simconsortium_a", "simconsortium_b"]
    assert yaml.safe_load((tmp_path / "out" / "truth.yaml").read_text())["null_cohorts"] == ["simconsortium_b"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--consortium", "o", "--n", "100"], "--consortium OUT cannot be combined with --n"),
        (["--consortium", "o", "--null", "--sites", "a,b,c,d"], "cannot be combined with --null, --sites"),
        (["--consortium", "o", "--sizes", "100,x"], "--sizes 100,x: expected whole numbers"),
        (["--consortium", "o", "--kinds", "null"], "--kinds null: expected at least two"),
        (["--out", "o"], "stratify simulate needs --n and --out (or --consortium OUT"),
        (["--n", "50", "--out", "o", "--configs-only"], "--configs-only applies to a consortium"),
        (["--n", "50", "--out", "o", "--kinds", "null,null"], "--kinds applies to a consortium: give --consortium OUT"),
        (["--n", "50", "--out", "o", "--instruments", "HAMD17,PHQ9"], "--instruments HAMD17,PHQ9: expected"),
    ],
)
def test_cli_errors(tmp_path, args, expected):
    res = _stratify("simulate", "--seed", "1", *args, cwd=tmp_path)
    assert res.returncode == 2
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("stratify: error:")]
    assert len(lines) == 1 and expected in lines[0], res.stderr
    assert not (tmp_path / "o").exists()


def test_shipped_demo_is_what_configs_only_writes(tmp_path, monkeypatch):
    # cohorts/consortium_demo.yaml and cohorts/consortium_demo/ were written by
    #   stratify simulate --consortium cohorts --configs-only --name consortium_demo --seed 20
    # in the repository root; they must not drift from the simulator's consortium
    monkeypatch.chdir(tmp_path)
    paths = write_consortium_configs("cohorts", seed=20, name="consortium_demo")
    written = sorted(p.relative_to(tmp_path / "cohorts") for p in (tmp_path / "cohorts").rglob("*.yaml"))
    shipped = sorted(p.relative_to(REPO / "cohorts") for p in (REPO / "cohorts").rglob("consortium_demo*.yaml"))
    shipped += [Path("consortium_demo/truth.yaml")]
    assert sorted(written) == sorted(shipped)
    for rel in written:
        assert (tmp_path / "cohorts" / rel).read_text() == (REPO / "cohorts" / rel).read_text(), rel
    assert paths["consortium"] == Path("cohorts/consortium_demo.yaml")


def test_snakemake_simulate_rule_writes_the_consortium_cohort(tmp_path):
    """The demo's cohort b, written by its simulate block through Snakemake, is cohort b of the
    simulated consortium (same files, byte for byte)."""
    from test_workflow import _snakemake

    (tmp_path / "cohorts" / "consortium_demo").mkdir(parents=True)
    cfg = tmp_path / "cohorts" / "consortium_demo" / "consortium_demo_b.yaml"
    cfg.write_text((REPO / "cohorts" / "consortium_demo" / "consortium_demo_b.yaml").read_text())
    res = _snakemake("--cores", "1", "--directory", str(tmp_path), "simulate", "--configfile", str(cfg))
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    plan = consortium_plan(name="consortium_demo", seed=20)[1]
    ref = write_cohort(
        tmp_path / "ref",
        n=plan.n,
        seed=plan.seed,
        cohort=plan.name,
        instruments=plan.instruments,
        sites=plan.sites,
        id_prefix=plan.id_prefix,
    )
    got = tmp_path / "results" / "consortium_demo_b" / "cohort"
    for role, path in ref.items():
        if role != "config":
            assert _sha(got / path.name) == _sha(path), path.name
