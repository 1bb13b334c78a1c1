"""Random-mutation fuzz of every star-allele call reader (issue 8: never a traceback).

Each example file of a caller format is mutated at random (byte flips, deleted, duplicated or
swapped lines, truncation, other encodings, NUL bytes, junk lines; for PyPGx archives also
corrupted or rewritten zip members; for PharmCAT JSON also structural corruption). Reading a
mutant must give the call table (then phenotyped without error) or a :class:`StratifyError`;
any other exception is a bug. The test runs a small fixed-seed sample; run this file as a
script for the large sweep (``uv run python tests/test_pgx_fuzz.py 250``).
"""

from __future__ import annotations

import io
import json
import random
import sys
import traceback
import zipfile
from pathlib import Path

import pytest

from stratify.errors import StratifyError
from stratify.pgx.callers import read_calls
from stratify.pgx.phenotype import add_phenotypes

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "pgx"
SHARED = REPO.parent / "shared" / "data" / "pgx" / "pharmcat"
# (tool, example file, read_calls keyword arguments)
EXAMPLES = [
    ("cyrius", DATA / "cyrius_calls.tsv", {}),
    ("plain", DATA / "plain_calls.tsv", {}),
    ("aldy", DATA / "callers" / "aldy_calls.aldy", {}),
    ("stellarpgx", DATA / "callers" / "SIM001_2d6.alleles", {}),
    ("stellarpgx", DATA / "callers" / "stellarpgx_summary.tsv", {"gene": "CYP2D6"}),
    ("pypgx", DATA / "callers" / "getrm-wgs70.CYP2D6.results.zip", {}),
    ("pharmcat_outside", SHARED / "examples" / "pharmcat.example.outsideCall.tsv", {}),
    ("pharmcat_outside", SHARED / "tests" / "golden" / "outside_CYP2D6.tsv", {}),
    ("pharmcat_report", SHARED / "examples" / "pharmcat.example.report.tsv", {}),
    ("pharmcat_report", SHARED / "examples" / "pharmcat.example2.report.tsv", {}),
    ("pharmcat_phenotype", SHARED / "examples" / "pharmcat.example.phenotype.json", {}),
]
JUNK = [
    "",
    "\t",
    "*1/*2",
    "*1-*2",
    "*1//*2",
    "1/2",
    "*1",
    "None",
    "Unknown/Unknown",
    "no call",
    "PASS",
    "ümlaut",
    "\x00",
    "#Solution 1: x",
    "Result:",
    "x" * 300,
    "*1/*2 or *1/*3",
    "[*1/*2]",
    "*1/*2\tDuplication present",
    "Sample\tGenotype\tFilter",
    "sample\tgene\tdiplotype",
    "\u2028",
    "\x0b",
    "*1xN/*2",
    "CYP2D6\t*1/*999",
]


def _lines_mutation(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    op = rng.choice(["delete", "duplicate", "swap", "insert", "field", "tabs"])
    i = rng.randrange(len(lines))
    if op == "delete":
        del lines[i]
    elif op == "duplicate":
        lines.insert(i, lines[i])
    elif op == "swap":
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "insert":
        lines.insert(i, rng.choice(JUNK).encode("utf-8"))
    elif op == "field":
        fields = lines[i].split(b"\t")
        fields[rng.randrange(len(fields))] = rng.choice(JUNK).encode("utf-8")
        lines[i] = b"\t".join(fields)
    else:
        lines[i] = lines[i].replace(b"\t", b"    ") if rng.random() < 0.5 else lines[i].replace(b" ", b"\t")
    return b"\n".join(lines)


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    """One to three random mutations of a text file's bytes."""
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(["flip", "lines", "lines", "truncate", "encoding", "nul", "bom", "crlf"])
        if not data:
            data = rng.choice(JUNK).encode()
            continue
        if op == "flip":
            b = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(len(b))] = rng.randrange(256)
            data = bytes(b)
        elif op == "lines":
            data = _lines_mutation(data, rng)
        elif op == "truncate":
            data = data[: rng.randrange(len(data))]
        elif op == "encoding":
            text = data.decode("utf-8", "replace") + "é"
            data = text.encode(rng.choice(["utf-16", "latin-1", "cp1252", "utf-32"]), "replace")
        elif op == "nul":
            i = rng.randrange(len(data))
            data = data[:i] + b"\x00" + data[i:]
        elif op == "bom":
            data = b"\xef\xbb\xbf" + data
        else:
            data = data.replace(b"\n", rng.choice([b"\r\n", b"\r"]))
    return data


def _json_corrupt(node, rng: random.Random, depth=0):
    """Replace, delete or retype a random part of a JSON document."""
    if isinstance(node, dict) and node:
        k = rng.choice(list(node))
        if rng.random() < 0.3 or depth > 6:
            choice = rng.randrange(5)
            if choice == 0:
                del node[k]
            elif choice == 1:
                node[k] = rng.choice([None, 1, "x", [], {}, [1, "a"], {"name": 3}, True, 1.5, "Unknown"])
            elif choice == 2:
                node[k] = [node[k]]
            elif choice == 3:
                node[rng.choice(JUNK)] = node[k]
            else:
                node[k] = json.loads("[" * 200 + "]" * 200) if rng.random() < 0.2 else str(node[k])
        else:
            node[k] = _json_corrupt(node[k], rng, depth + 1)
    elif isinstance(node, list) and node:
        i = rng.randrange(len(node))
        if rng.random() < 0.3:
            node[i] = rng.choice([None, 0, "", {"allele1": "x"}, {"allele1": {"name": ["*1"]}}, []])
        else:
            node[i] = _json_corrupt(node[i], rng, depth + 1)
    elif rng.random() < 0.5:
        return rng.choice([None, 2, "", "*1-*2", [], {}])
    return node


def mutate(tool: str, data: bytes, rng: random.Random) -> bytes:
    if tool == "pypgx" and rng.random() < 0.7:
        return _mutate_zip(data, rng)
    if tool == "pharmcat_phenotype" and rng.random() < 0.6:
        doc = json.loads(data)
        for _ in range(rng.randint(1, 4)):
            doc = _json_corrupt(doc, rng)
        return json.dumps(doc).encode()
    return mutate_bytes(data, rng)


def _mutate_zip(data: bytes, rng: random.Random) -> bytes:
    op = rng.choice(["bytes", "member", "member", "truncate", "drop", "method"])
    if op == "bytes":
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if op == "truncate":
        return data[: rng.randrange(len(data))]
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    names = src.namelist()
    drop = rng.choice(names) if op == "drop" else None
    target = rng.choice(names)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for n in names:
            if n == drop:
                continue
            content = src.read(n)
            if op == "member" and n == target:
                content = mutate_bytes(content, rng)
            zf.writestr(n, content, compress_type=zipfile.ZIP_BZIP2 if op == "method" else zipfile.ZIP_DEFLATED)
    return out.getvalue()


def run_one(tool: str, path: Path, kwargs: dict) -> str:
    """'ok', 'error' (a StratifyError) or raise the unexpected exception."""
    try:
        calls = read_calls(path, tool, **kwargs)
        add_phenotypes(calls[calls["gene"].isin(["CYP2C19", "CYP2D6"])])
        return "ok"
    except StratifyError:
        return "error"


def fuzz(n_per_example: int, seed: int, workdir: Path) -> tuple[dict, list]:
    counts: dict[str, dict[str, int]] = {}
    failures = []
    for e, (tool, example, kwargs) in enumerate(EXAMPLES):
        data = example.read_bytes()
        rng = random.Random(seed * 1000 + e)
        for i in range(n_per_example):
            mutant = mutate(tool, data, rng)
            # keep the suffixes the readers name samples by (.report.tsv, .phenotype.json, .alleles)
            suffix = "".join(example.suffixes[-2:]) if tool.startswith("pharmcat_") else example.suffix
            p = workdir / f"m{e}_{i}{suffix}"
            p.write_bytes(mutant)
            try:
                r = run_one(tool, p, kwargs)
            except Exception:
                failures.append((tool, str(p), traceback.format_exc(limit=-3)))
                continue
            counts.setdefault(tool, {}).setdefault(r, 0)
            counts[tool][r] += 1
    return counts, failures


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/data/pgx")
def test_fixed_seed_fuzz_of_every_caller_format_gives_tables_or_named_errors(tmp_path):
    counts, failures = fuzz(12, seed=8, workdir=tmp_path)
    assert not failures, "\n\n".join(f"{t} {p}\n{tb}" for t, p, tb in failures[:3])
    # the mutants exercise both outcomes for the formats (not all rejected up front)
    assert sum(c.get("ok", 0) for c in counts.values()) > 20 and sum(c.get("error", 0) for c in counts.values()) > 20


if __name__ == "__main__":  # the large sweep
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 250
    with tempfile.TemporaryDirectory() as d:
        counts, failures = fuzz(n, seed=int(sys.argv[2]) if len(sys.argv) > 2 else 1, workdir=Path(d))
        print(json.dumps(counts, indent=1))
        seen = set()
        for t, p, tb in failures:
            key = tb.strip().splitlines()[-1][:150]
            if key not in seen:
                seen.add(key)
                print("----", t, p, "\n", tb)
        print(f"{len(failures)} failures, {len(seen)} distinct")
