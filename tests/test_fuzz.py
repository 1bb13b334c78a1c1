"""Property-based fuzzing of every input reader (issue 8): a randomly mutated valid input must
end in a valid result or a named :class:`stratify.errors.StratifyError`, never another
exception, and a valid result must keep every record (no lost rows).

The readers, their seed files and the checks are in ``tests/fuzz_targets.py``; the mutation
operators in ``tests/fuzz_mutators.py``; ``bench/fuzz_inputs.py`` runs the same harness at
scale and writes a catalog of failing cases. Each reader's examples are drawn by hypothesis
from a fixed seed (the reader's name), without shrinking (the bench minimises failing
inputs), so CI runs the same cases every time.

Example count per reader: ``STRATIFY_FUZZ_EXAMPLES`` (default 20; the slow readers, the
genotype stage and ``model apply``, get a half or a third of it), e.g.::

    STRATIFY_FUZZ_EXAMPLES=500 STRATIFY_FUZZ_SHRINK=1 uv run pytest tests/test_fuzz.py -q
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from fuzz_mutators import OPERATORS, OPS, mutate, random_plan
from fuzz_targets import Outcome, Seed, Target, Workspace, count_records, run_case

EXAMPLES = int(os.environ.get("STRATIFY_FUZZ_EXAMPLES", "20"))
SHRINK = os.environ.get("STRATIFY_FUZZ_SHRINK", "") not in ("", "0")
#: Readers that take 0.1-0.3 s per case get a share of the examples, so the whole file stays
#: under a minute on 2 cores at the default.
COST = {
    "vcf_stage_text": 2,
    "vcf_stage_bgzf": 2,
    "model_features_json": 3,
    "model_xgboost_json": 3,
    "model_metrics_json": 3,
}
TARGETS = [
    "patients",
    "symptoms",
    "treatments",
    "biomarkers",
    "sample_map",
    "dose_table",
    "link_table",
    "config",
    "teh_arms",
    "pgs_scoring",
    "vcf_stage_text",
    "vcf_stage_bgzf",
    "pgx_call_text",
    "pgx_call_tabix",
    "pgx_call_bgzf",
    "calls_cyrius",
    "calls_plain",
    "calls_pharmcat_outside",
    "calls_pharmcat_report",
    "calls_pharmcat_phenotype",
    "calls_pypgx_zip",
    "calls_pypgx_tsv",
    "calls_aldy",
    "calls_stellarpgx_alleles",
    "calls_stellarpgx_summary",
    "model_features_json",
    "model_xgboost_json",
    "model_metrics_json",
]
#: Readers that fail on the current code (bench/fuzz_catalog.md); empty until the lead decides.
KNOWN_FAILURES: dict[str, str] = {}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("fuzz_workspace"))


def plans(fmt: str):
    """A mutation plan: 1-3 operators of the file family, each with the seed of its choices."""
    return st.lists(st.tuples(st.sampled_from(OPS[fmt]), st.integers(0, 2**31 - 1)), min_size=1, max_size=3)


def _explain(name: str, target: Target, k: int, plan, out: Outcome) -> str:
    return (
        f"{name}: {out.kind}: {out.error}\n  at {out.where}\n  seed file {k} ({target.seeds[k].label}), "
        f"plan {plan!r}\n  replay: uv run python bench/fuzz_inputs.py --replay {name} {k} '{json.dumps(plan)}'\n"
        f"{out.traceback}"
    )


def _params():
    for name in TARGETS:
        marks = [pytest.mark.xfail(strict=False, reason=KNOWN_FAILURES[name])] if name in KNOWN_FAILURES else []
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(_params()))
def test_mutated_input_ends_in_valid_result_or_named_error(name, workspace, tmp_path):
    target = workspace.targets[name]
    phases = [Phase.explicit, Phase.generate] + ([Phase.shrink] if SHRINK else [])

    @seed(zlib.crc32(name.encode()))
    @settings(
        max_examples=max(3, EXAMPLES // COST.get(name, 1)),
        deadline=None,
        database=None,
        phases=phases,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(k=st.integers(0, len(target.seeds) - 1), plan=plans(target.fmt))
    def one(k, plan):
        case = Path(tempfile.mkdtemp(dir=tmp_path))
        try:
            out, _ = run_case(target, k, plan, case)
        finally:
            shutil.rmtree(case, ignore_errors=True)
        assert out.kind in ("valid", "named"), _explain(name, target, k, plan, out)

    one()


# ---------------------------------------------------------------------------------- the harness itself


def test_every_reader_is_fuzzed_and_every_seed_is_valid(workspace, tmp_path):
    """The seeds are valid inputs (so a mutation's outcome is the mutation's doing); the list
    above names every reader of the workspace."""
    assert sorted(workspace.targets) == sorted(TARGETS)
    for name, target in workspace.targets.items():
        assert target.fmt in OPS and target.seeds, name
        for k, s in enumerate(target.seeds):
            out, _ = run_case(target, k, [], tmp_path / name / str(k))
            # two PGx seeds are valid VCFs that the caller must refuse by name (REF mismatch, GRCh37)
            want = "named" if s.name.startswith(("cyp2c19_ref_mismatch.", "cyp2c19_grch37.")) else "valid"
            assert out.kind == want, f"{name} seed {k} ({s.label}): {out.kind} {out.error}"


def test_mutation_plans_are_deterministic_and_change_the_bytes():
    import random

    data = b"patient_id\tsite\tage\nP1\tA\t40\nP2\tB\t55\n"
    for fmt, ops in OPS.items():
        for op in set(ops):
            assert mutate(data, fmt, [(op, 7)]) == mutate(data, fmt, [(op, 7)]), (fmt, op)
    changed = sum(mutate(data, "tsv", [(op, s)]) != data for op in set(OPS["tsv"]) for s in range(20))
    assert changed >= 0.9 * 20 * len(set(OPS["tsv"]))
    r = random.Random(0)
    assert all(1 <= len(random_plan(f, r)) <= 3 and all(op in OPERATORS for op, _ in random_plan(f, r)) for f in OPS)


def test_count_records_counts_what_a_person_sees():
    assert count_records(b"a\tb\n1\t2\n\n\t \n3\t4", "\t") == 2
    assert count_records(b"a,b\r1,2\r\n3,4\r", ",") == 2
    assert count_records(b"\xef\xbb\xbfa\n1\n", "\t") == 1
    assert count_records(b"a\n\xe9\n", "\t") is None


def test_run_case_names_every_outcome(tmp_path):
    from fuzz_targets import InvariantViolation
    from stratify.errors import InputError

    def make(exc):
        def check(path, data, s):
            if exc is not None:
                raise exc

        return Target("t", "tsv", [Seed("s", b"a\n", "a.tsv")], check)

    kinds = {
        k: run_case(make(e), 0, [], tmp_path / k)[0]
        for k, e in [
            ("valid", None),
            ("named", InputError("a.tsv: bad")),
            ("traceback", KeyError("x")),
            ("invariant", InvariantViolation("lost")),
        ]
    }
    assert {k: o.kind for k, o in kinds.items()} == {k: k for k in kinds}
    assert kinds["traceback"].error == "builtins.KeyError: 'x'" and "in check" in kinds["traceback"].where

    def slow(path, data, s):
        import time

        time.sleep(5)

    assert (
        run_case(Target("t", "tsv", [Seed("s", b"a\n", "a.tsv")], slow), 0, [], tmp_path / "h", time_limit=0.2)[0].kind
        == "hang"
    )
