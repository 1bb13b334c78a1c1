"""The input readers under fuzz: their valid seed files, how a mutated file is written, and the
call that reads it (tests/test_fuzz.py, bench/fuzz_inputs.py).

A :class:`Workspace` holds the valid inputs every reader needs beside the mutated file (the
other tables of a cohort, a VCF's sample map, a trained model's folder). A :class:`Target`
is one reader: its seed files, the mutation family (:data:`fuzz_mutators.OPS`), how the
mutated bytes become files (a VCF's text is bgzipped and indexed) and the check. The only
acceptable ends of :func:`run_case` are a valid result that passes the reader's invariants
(``valid``) and a :class:`stratify.errors.StratifyError` (``named``); anything else is a bug:
``traceback`` (another exception), ``invariant`` (a valid-looking result that lost or
invented records) or ``hang``.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import signal
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fuzz_mutators import bgzf_compress, mutate

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
DATA = REPO / "tests" / "data"
PHARMCAT = SHARED / "data" / "pgx" / "pharmcat"


class InvariantViolation(Exception):
    """A reader returned a result that contradicts its input (records lost or invented)."""


class Hang(Exception):
    """A reader ran past the per-case time limit."""


@dataclass
class Seed:
    label: str  # where it came from (shown in reports)
    data: bytes
    name: str  # the file name it is written under (readers look at suffixes and stems)
    ctx: dict = field(default_factory=dict)


@dataclass
class Target:
    name: str
    fmt: str
    seeds: list[Seed]
    check: Callable[[Path, bytes, Seed], None]  # reads the file; raises InvariantViolation on a bad result
    write: Callable[[Path, bytes, Seed], Path] | None = None  # default: the bytes under seed.name


@dataclass
class Outcome:
    kind: str  # valid, named, traceback, invariant, hang
    error: str = ""  # exception type and message (first line)
    where: str = ""  # the deepest frame in src/stratify (else the deepest frame): file:line in function
    traceback: str = ""

    @property
    def signature(self) -> str:
        return f"{self.error.split(':', 1)[0]} at {self.where}"


# ---------------------------------------------------------------------------------- helpers


def count_records(data: bytes, sep: str) -> int | None:
    """Data records of a text table as a person counts them: lines after the header (split at
    CRLF, CR or LF) with at least one non-blank cell. None when the bytes are not UTF-8 (a valid
    result is then impossible and there is nothing to compare)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    lines = re.split(r"\r\n|\r|\n", text)
    return sum(1 for ln in lines[1:] if any(c.strip() for c in ln.split(sep)))


def _expect_rows(got: int, data: bytes, sep: str, what: str) -> None:
    want = count_records(data, sep)
    if want is not None and got != want:
        raise InvariantViolation(f"{what}: {got} rows read, the file has {want} non-blank data lines")


def _sep_of(path: Path) -> str:
    return "," if path.suffix.lower() == ".csv" else "\t"


def _vcf_samples(text: bytes) -> list[str] | None:
    for line in re.split(rb"\r\n|\r|\n", text):
        if line.startswith(b"#CHROM"):
            try:
                return line.decode().split("\t")[9:]
            except UnicodeDecodeError:
                return None
        if line and not line.startswith(b"#"):
            return None
    return None


def _write_plain(case: Path, data: bytes, seed: Seed) -> Path:
    p = case / seed.name
    p.write_bytes(data)
    return p


def _write_tabix(case: Path, data: bytes, seed: Seed) -> Path:
    """The VCF text bgzipped and indexed by pysam (as bgzip + tabix would); text tabix refuses
    is bgzipped without an index, as a user would be left with."""
    import pysam

    plain = case / seed.name.removesuffix(".gz")
    plain.write_bytes(data)
    try:
        return Path(pysam.tabix_index(str(plain), preset="vcf", force=True, keep_original=False))
    except (OSError, ValueError):
        out = case / (plain.name + ".gz")
        out.write_bytes(bgzf_compress(data))
        plain.unlink(missing_ok=True)
        return out


def _write_bgzf(case: Path, data: bytes, seed: Seed) -> Path:
    """The mutated bgzipped bytes beside the index of the original file (now stale)."""
    p = case / seed.name
    p.write_bytes(data)
    shutil.copy(seed.ctx["tbi"], str(p) + ".tbi")
    return p


def _write_gzip(case: Path, data: bytes, seed: Seed) -> Path:
    p = case / seed.name
    p.write_bytes(gzip.compress(data, mtime=0))
    return p


def _seed_file(path: Path, label: str | None = None, name: str | None = None, **ctx) -> Seed:
    return Seed(label or str(path.relative_to(path.parents[1])), path.read_bytes(), name or path.name, ctx)


# ---------------------------------------------------------------------------------- workspace


class Workspace:
    """Valid inputs for every reader, written once into ``root`` (a few seconds)."""

    def __init__(self, root: Path):
        from stratify.config import load_config
        from stratify.inputs.stage import run_validate
        from stratify.simulate.cohort import write_cohort

        self.root = root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        self.tiny = root / "tiny"  # tests/data/inputs, the hand-written cohort
        shutil.copytree(DATA / "inputs", self.tiny, dirs_exist_ok=True)
        self.sim = write_cohort(root / "sim", n=20, seed=3, n_snps=40)  # one BGZF block
        self.big = write_cohort(root / "big", n=20, seed=3, n_snps=1500)  # several BGZF blocks
        self.sim_config = load_config(self.sim["config"])
        self.sim_results = root / "sim_results"
        run_validate(self.sim_config, self.sim_results)
        self.model_dir, self.model_b = _train_model(root / "model")
        self.targets = {t.name: t for t in _targets(self)}


def _train_model(root: Path) -> tuple[Path, Path]:
    """A small model folder as the model stage writes it, and a cohort B features table."""
    import numpy as np
    import pandas as pd

    from stratify.io.tables import write_table
    from stratify.model.fit import fit_response_model, model_options
    from stratify.model.io import model_metadata

    def cohort(n, seed):
        rng = np.random.default_rng(seed)
        x = rng.normal(0, 1, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-2.5 * x))).astype(float)
        return pd.DataFrame(
            {
                "patient_id": [f"P{seed}_{i}" for i in range(n)],
                "site": np.where(np.arange(n) % 2, "A", "B"),
                "y": y,
                "strong": x,
                "noise1": rng.normal(0, 1, n),
                "gen1": rng.normal(0, 1, n),
            }
        )

    fsum = {
        "model_features": ["strong", "noise1", "gen1"],
        "feature_groups": {"clinical": ["strong", "noise1"], "biomarker": [], "genetic": ["gen1"]},
    }
    d = root / "A"
    d.mkdir(parents=True, exist_ok=True)
    df = cohort(120, 1)
    res = fit_response_model(df, fsum, options=model_options(_model_config("A")))
    res["model"].booster.save_model(str(d / "xgboost.json"))
    meta = model_metadata(res, df, fsum, cohort="A", endpoint=_model_config("A")["endpoint"], seed=0)
    (d / "model_features.json").write_text(json.dumps(meta, indent=1))
    (d / "metrics.json").write_text(json.dumps({"metrics": res["metrics"], **res["info"]}, default=float, indent=1))
    write_table(cohort(60, 2), root / "B" / "features" / "features.parquet", kind="features")
    return d, root / "B"


def _model_config(cohort: str) -> dict:
    return {
        "cohort": cohort,
        "seed": 0,
        "endpoint": {"kind": "response", "instrument": "HAMD17", "week": 8},
        "model": {
            "folds": 3,
            "n_bootstrap": 10,
            "n_estimators": 10,
            "max_depth": 2,
            "learning_rate": 0.2,
            "n_permutations": 0,
            "search": {"n_candidates": 0},
        },
    }


# ---------------------------------------------------------------------------------- the checks


def _table_target(ws: Workspace, name: str) -> Target:
    seeds = [
        _seed_file(ws.tiny / f"{name}.tsv", f"tests/data/inputs/{name}.tsv", dir=ws.tiny),
        _seed_file(ws.sim[name], f"simulated n=20 {name}.tsv", dir=ws.sim[name].parent),
    ]
    tsv = (ws.tiny / f"{name}.tsv").read_text()
    seeds.append(
        Seed(
            f"tests/data/inputs/{name}.tsv as CSV",
            tsv.replace(",", ";").replace("\t", ",").encode(),
            f"{name}.csv",
            {"dir": ws.tiny},
        )
    )

    def check(path: Path, data: bytes, seed: Seed) -> None:
        from stratify.inputs.validate import TABLES, validate_inputs

        inputs = {t: str(seed.ctx["dir"] / f"{t}.tsv") for t in TABLES}
        inputs[name] = str(path)
        tables, manifest = validate_inputs(inputs, cohort="fuzz")
        _expect_rows(len(tables[name]), data, _sep_of(path), f"validate_inputs: {name}")
        if manifest["inputs"][name]["rows"] != len(tables[name]):
            raise InvariantViolation(f"manifest rows {manifest['inputs'][name]['rows']} != {len(tables[name])}")

    return Target(name, "tsv", seeds, check)


def _check_sample_map(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.inputs.validate import read_sample_map

    _expect_rows(len(read_sample_map(path)), data, _sep_of(path), "read_sample_map")


def _check_doses(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.clinical.adequacy import load_doses

    _expect_rows(len(load_doses(path)), data, _sep_of(path), "load_doses")


def _check_link(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.inputs.harmonise import load_link

    link = load_link(path, from_instrument="QIDS_SR16", to_instrument="HAMD17", source="fuzz seed")
    if len(link.table) != 28:  # QIDS-SR16 totals 0..27, one row each
        raise InvariantViolation(f"load_link: {len(link.table)} rows, expected 28")
    _expect_rows(len(link.table), data, _sep_of(path), "load_link")


def _check_config(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.config import load_config

    cfg = load_config(path)
    if not isinstance(cfg, dict) or not {"cohort", "inputs", "endpoint"} <= set(cfg):
        raise InvariantViolation(f"load_config returned {type(cfg).__name__} without cohort/inputs/endpoint")


def _check_arms(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.heterogeneity.trial_arms import pair_arms, read_arms

    arms = read_arms(path)
    _expect_rows(len(arms), data, _sep_of(path), "read_arms")
    pair_arms(arms, path=path)


def _check_pgs(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.genotypes.prs import read_scoring_file

    score = read_scoring_file(path, genome_build="GRCh38")
    # blank = blank as text (a line holding only U+2028 is whitespace to the reader too)
    lines = [
        ln for ln in re.split(rb"\r\n|\r|\n", data) if ln.decode("utf-8", "replace").strip() and not ln.startswith(b"#")
    ]
    if lines and len(score.variants) != len(lines) - 1:
        raise InvariantViolation(
            f"read_scoring_file: {len(score.variants)} variants, the file has {len(lines) - 1} rows"
        )


def _genotype_stage_check(ws: Workspace) -> Callable[[Path, bytes, Seed], None]:
    def check(path: Path, data: bytes, seed: Seed) -> None:
        from stratify.genotypes.stage import run_genotypes

        cfg = json.loads(json.dumps(ws.sim_config))
        cfg["inputs"]["genotypes"]["vcf"] = str(path)
        results = path.parent / "results"
        shutil.copytree(ws.sim_results / "validate", results / "validate", dirs_exist_ok=True)
        summary = run_genotypes(cfg, results)
        samples = _vcf_samples(data) if seed.ctx.get("text") else None
        if samples is not None and summary["samples"] != len(samples):
            raise InvariantViolation(
                f"genotypes: summary says {summary['samples']} samples, the #CHROM line has {len(samples)}"
            )
        if summary["samples_used"] + summary["n_samples_not_in_cohort"] != summary["samples"]:
            raise InvariantViolation(
                f"genotypes: {summary['samples_used']} used + {summary['n_samples_not_in_cohort']} "
                f"not in the cohort != {summary['samples']} samples"
            )

    return check


def _check_pgx_call(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.pgx.api import call_vcf

    calls = call_vcf(path, gene="CYP2C19")
    samples = _vcf_samples(data) if seed.ctx.get("text") else None
    if samples is not None and len(calls) != len(samples):
        raise InvariantViolation(f"call_vcf: {len(calls)} rows, the #CHROM line names {len(samples)} samples")
    if not calls["status"].isin(["called", "ambiguous", "no-call"]).all():
        raise InvariantViolation(f"call_vcf: status {sorted(set(calls['status']))}")


def _caller_check(tool: str, **kw) -> Callable[[Path, bytes, Seed], None]:
    def check(path: Path, data: bytes, seed: Seed) -> None:
        from stratify.pgx.callers import CALL_COLUMNS, STATUSES, read_calls

        out = read_calls(path, tool, **{**kw, **seed.ctx.get("kw", {})})
        if list(out.columns) != CALL_COLUMNS:
            raise InvariantViolation(f"read_calls({tool}): columns {list(out.columns)}")
        if not out["status"].isin(STATUSES).all():
            raise InvariantViolation(f"read_calls({tool}): status {sorted(set(out['status']))}")
        called = out[out["status"] != "no-call"]
        if (called["diplotype"] == "").any():
            raise InvariantViolation(f"read_calls({tool}): a called/ambiguous row without a diplotype")
        if tool in ("cyrius", "plain"):  # one row per data line
            _expect_rows(len(out), data, "\t", f"read_calls({tool})")

    return check


def _check_model(path: Path, data: bytes, seed: Seed) -> None:
    from stratify.model.external import apply_model

    model_dir = path.parent
    for f in ("xgboost.json", "model_features.json", "metrics.json"):
        if not (model_dir / f).exists():
            shutil.copy(seed.ctx["model_dir"] / f, model_dir / f)
    b = _model_config("B")
    s = apply_model(
        model_dir,
        seed.ctx["b"] / "features" / "features.parquet",
        model_dir / "out",
        cohort="B",
        endpoint=b["endpoint"],
        seed=b["seed"],
        n_boot=5,
    )
    if s["n_patients"] != 60:
        raise InvariantViolation(f"apply_model: {s['n_patients']} patients scored, cohort B has 60")


# ---------------------------------------------------------------------------------- the targets


def _phenotype_json_seeds() -> list[Seed]:
    """PharmCAT's example phenotype.json cut to four genes (the whole file is 490 kB), PharmCAT's
    golden Sample_1 cut the same way, and a PharmCAT 2 per-source file as in tests/test_pgx_callers.py."""
    seeds = []
    for rel, genes in (
        ("examples/pharmcat.example.phenotype.json", ("CYP2C19", "CYP2D6", "HLA-A", "DPYD")),
        ("tests/golden/Sample_1.phenotype.json", ("UGT1A1", "CYP2C9", "DPYD", "TPMT")),
    ):
        p = PHARMCAT / rel
        if not p.exists():
            continue
        d = json.loads(p.read_text())
        gr = d["geneReports"]
        d["geneReports"] = {g: gr[g] for g in genes if g in gr}
        d.pop("unannotatedGeneCalls", None)
        for rep in d["geneReports"].values():  # the parts the reader never looks at, dropped for size
            for k in ("variants", "variantsOfInterest", "relatedDrugs", "messages", "uncalledHaplotypes"):
                rep.pop(k, None)
        seeds.append(Seed(f"shared pharmcat/{rel}, 4 genes", json.dumps(d, indent=1).encode(), p.name))

    def dip(a1, a2=None):
        return {
            "allele1": {"name": a1},
            "allele2": {"name": a2} if a2 else None,
            "phenotypes": ["Normal Metabolizer"],
            "activityScore": None,
        }

    v2 = {
        "geneReports": {
            "CPIC": {
                "CYP2C19": {"callSource": "MATCHER", "sourceDiplotypes": [dip("*17", "*1")]},
                "CYP2D6": {"callSource": "OUTSIDE", "sourceDiplotypes": [dip("*4", "*1"), dip("*1", "*10")]},
            },
            "DPWG": {"CYP2C19": {"callSource": "MATCHER", "sourceDiplotypes": [dip("*2", "*2")]}},
        }
    }
    seeds.append(
        Seed("PharmCAT 2 per-source JSON (as tests/test_pgx_callers.py)", json.dumps(v2).encode(), "X7.phenotype.json")
    )
    return seeds


def _pypgx_tsv_seed() -> Seed:
    import zipfile

    with zipfile.ZipFile(DATA / "pgx" / "callers" / "getrm-wgs70.CYP2D6.results.zip") as z:
        name = next(n for n in z.namelist() if n.endswith("data.tsv"))
        lines = z.read(name).splitlines(keepends=True)
    return Seed(
        "data.tsv of getrm-wgs70.CYP2D6.results.zip, 12 samples",
        b"".join(lines[:13]),
        "data.tsv",
        {"kw": {"gene": "CYP2D6"}},
    )


def _targets(ws: Workspace) -> list[Target]:
    pgx = DATA / "pgx"
    callers = pgx / "callers"
    sim_vcf = ws.sim["vcf"]
    big_vcf = ws.big["vcf"]
    vcf_text = [
        Seed(
            "simulated n=20, 40 SNPs (text)", gzip.decompress(sim_vcf.read_bytes()), "genotypes.vcf.gz", {"text": True}
        )
    ]
    pgx_text = [
        _seed_file(pgx / n, text=True)
        for n in ("cyp2c19_edgecases.nochr.vcf", "cyp2c19_ref_mismatch.vcf", "cyp2c19_grch37.vcf")
    ]
    pgx_text.append(Seed("simulated n=20 (text)", vcf_text[0].data, "sim.vcf", {"text": True}))
    if (PHARMCAT / "examples" / "pharmcat.example.vcf").exists():
        pgx_text.append(
            _seed_file(PHARMCAT / "examples" / "pharmcat.example.vcf", "shared pharmcat.example.vcf", text=True)
        )
    bgzf = [
        Seed(
            "simulated n=20, 1500 SNPs (bgzip, several blocks)",
            big_vcf.read_bytes(),
            "genotypes.vcf.gz",
            {"tbi": str(big_vcf) + ".tbi"},
        ),
        Seed(
            "simulated n=20, 40 SNPs (bgzip, one block)",
            sim_vcf.read_bytes(),
            "genotypes.vcf.gz",
            {"tbi": str(sim_vcf) + ".tbi"},
        ),
    ]
    outside = [
        Seed(
            "pharmcat outside call (as tests/test_pgx_callers.py)",
            b"# outside calls\n\nCYP2C19\t*17/*2\tIntermediate Metabolizer\nCYP2D6\t*1/*4\t\t1.0\n",
            "P7.outside.tsv",
        )
    ]
    if (PHARMCAT / "examples").exists():
        outside.append(
            _seed_file(PHARMCAT / "examples" / "pharmcat.example.outsideCall.tsv", "shared pharmcat outsideCall")
        )
    report = [
        _seed_file(PHARMCAT / "examples" / n, f"shared pharmcat {n}")
        for n in ("pharmcat.example.report.tsv", "pharmcat.example2.report.tsv")
        if (PHARMCAT / "examples" / n).exists()
    ]
    report.append(
        Seed(
            "PharmCAT report, Sample ID column",
            (
                b"PharmCAT v3.0.0\nSample ID\tGene\tSource Diplotype\tPhenotype\tActivity Score\tOutside Call\tMissing positions\n"
                b"S1\tCYP2C19\t*1/*2\tIntermediate Metabolizer\tn/a\tno\tno\nS1\tCYP2D6\t*1/*4 OR *1/*10\tIntermediate Metabolizer"
                b"\t1.0\tno\tno\nS2\tCYP2C19\tno call\t\t\tno\tyes\nS2\tDPYD\tc.1898delC AND c.295_298delTCAT\t\t\tno\tno\n"
            ),
            "cohort.report.tsv",
        )
    )
    model = {"model_dir": ws.model_dir, "b": ws.model_b}
    return [
        *(_table_target(ws, n) for n in ("patients", "symptoms", "treatments", "biomarkers")),
        Target(
            "sample_map",
            "tsv",
            [
                _seed_file(ws.tiny / "sample_map.tsv", "tests/data/inputs/sample_map.tsv"),
                _seed_file(ws.sim["sample_map"], "simulated sample_map.tsv"),
            ],
            _check_sample_map,
        ),
        Target("dose_table", "tsv", [_seed_file(REPO / "resources" / "adequate_doses.tsv")], _check_doses),
        Target(
            "link_table",
            "tsv",
            [_seed_file(REPO / "resources" / "harmonisation" / "qids_sr16_hamd17.tsv")],
            _check_link,
        ),
        Target(
            "config",
            "yaml",
            [
                _seed_file(ws.sim["config"], "simulated cohort config.yaml"),
                _seed_file(REPO / "config.yaml", "config.yaml"),
                _seed_file(REPO / "cohorts" / "demo_null_noVCF.yaml"),
            ],
            _check_config,
        ),
        Target("teh_arms", "tsv", [_seed_file(DATA / "teh" / "synthetic_arms.tsv")], _check_arms),
        Target(
            "pgs_scoring",
            "tsv",
            [
                Seed(
                    "simulated PGS scoring file (text, gzipped when written)",
                    gzip.decompress(ws.sim["pgs"].read_bytes()),
                    ws.sim["pgs"].name,
                )
            ],
            _check_pgs,
            _write_gzip,
        ),
        Target("vcf_stage_text", "vcf", vcf_text, _genotype_stage_check(ws), _write_tabix),
        Target("vcf_stage_bgzf", "bgzf", bgzf, _genotype_stage_check(ws), _write_bgzf),
        Target("pgx_call_text", "vcf", pgx_text, _check_pgx_call),
        Target(
            "pgx_call_tabix",
            "vcf",
            [
                Seed(s.label, s.data, s.name.removesuffix(".gz").removesuffix(".vcf") + ".vcf.gz", s.ctx)
                for s in pgx_text
            ],
            _check_pgx_call,
            _write_tabix,
        ),
        Target("pgx_call_bgzf", "bgzf", bgzf, _check_pgx_call, _write_bgzf),
        Target(
            "calls_cyrius",
            "tsv",
            [_seed_file(pgx / "cyrius_calls.tsv"), _seed_file(ws.sim["cyrius"], "simulated cyrius calls")],
            _caller_check("cyrius"),
        ),
        Target("calls_plain", "tsv", [_seed_file(pgx / "plain_calls.tsv")], _caller_check("plain")),
        Target("calls_pharmcat_outside", "tsv", outside, _caller_check("pharmcat_outside")),
        Target("calls_pharmcat_report", "tsv", report, _caller_check("pharmcat_report")),
        Target("calls_pharmcat_phenotype", "json", _phenotype_json_seeds(), _caller_check("pharmcat_phenotype")),
        Target(
            "calls_pypgx_zip", "zip", [_seed_file(callers / "getrm-wgs70.CYP2D6.results.zip")], _caller_check("pypgx")
        ),
        Target("calls_pypgx_tsv", "tsv", [_pypgx_tsv_seed()], _caller_check("pypgx")),
        Target("calls_aldy", "tsv", [_seed_file(callers / "aldy_calls.aldy")], _caller_check("aldy")),
        Target(
            "calls_stellarpgx_alleles", "tsv", [_seed_file(callers / "SIM001_2d6.alleles")], _caller_check("stellarpgx")
        ),
        Target(
            "calls_stellarpgx_summary",
            "tsv",
            [_seed_file(callers / "stellarpgx_summary.tsv", kw={"gene": "CYP2D6"})],
            _caller_check("stellarpgx"),
        ),
        Target(
            "model_features_json",
            "json",
            [_seed_file(ws.model_dir / "model_features.json", "trained model", **model)],
            _check_model,
        ),
        Target(
            "model_xgboost_json",
            "json",
            [_seed_file(ws.model_dir / "xgboost.json", "trained model", **model)],
            _check_model,
        ),
        Target(
            "model_metrics_json",
            "json",
            [_seed_file(ws.model_dir / "metrics.json", "trained model", **model)],
            _check_model,
        ),
    ]


# ---------------------------------------------------------------------------------- running a case


def _alarm(signum, frame):
    raise Hang("the reader ran past the time limit")


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/src/stratify/" in f.filename.replace("\\", "/")]
    f = (ours or frames or [None])[-1]
    if f is None:
        return "?"
    name = f.filename.replace("\\", "/")
    name = name.split("/src/", 1)[1] if "/src/stratify/" in name else "/".join(name.split("/")[-2:])
    return f"{name}:{f.lineno} in {f.name}"


def run_case(
    target: Target,
    seed_index: int,
    plan: list[tuple[str, int]],
    case_dir: Path,
    *,
    time_limit: float = 120.0,
    data: bytes | None = None,
) -> tuple[Outcome, bytes]:
    """Mutate seed ``seed_index`` of ``target`` by ``plan`` (or take ``data`` as the mutated
    bytes), write it under ``case_dir`` and run the reader. Returns the outcome and the bytes."""
    from stratify.errors import StratifyError

    seed = target.seeds[seed_index]
    if data is None:
        data = mutate(seed.data, target.fmt, plan)
    case_dir.mkdir(parents=True, exist_ok=True)
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        path = (target.write or _write_plain)(case_dir, data, seed)
        target.check(path, data, seed)
        out = Outcome("valid")
    except StratifyError as exc:
        out = Outcome("named", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
    except (InvariantViolation, Hang) as exc:
        kind = "invariant" if isinstance(exc, InvariantViolation) else "hang"
        out = Outcome(kind, f"{type(exc).__name__}: {exc}", _where(exc), traceback.format_exc())
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        out = Outcome(
            "traceback",
            f"{type(exc).__module__}.{type(exc).__qualname__}: {first}"[:300],
            _where(exc),
            traceback.format_exc(),
        )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return out, data
