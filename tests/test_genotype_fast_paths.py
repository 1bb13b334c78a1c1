"""The fast paths of the pgen score (issue 21): each gives what the slower reading it stands in for gives.

* .pvar fields by Arrow == by pandas' parser with the same rules (tabs, quotes literal), and files
  Arrow refuses (another field count, an empty field, a blank line, a bad POS) are named by pandas;
* scoring files by Arrow == by pandas' C parser, in memory for a small .gz, with the same errors;
* numbers by Arrow's cast == ``pd.to_numeric(errors="coerce")`` on every string Arrow accepts;
* the integer-key join of score rows and variants == the pandas merge it replaces;
* ``score_source`` with a reading thread == without one.
"""

from __future__ import annotations

import gzip

import numpy as np
import pandas as pd
import pytest

from stratify.errors import GenotypeError
from stratify.genotypes import prs, pvarfields, sourcescore
from stratify.genotypes.sources import read_pvar

PVARS = {
    "plain.pvar": "#CHROM\tPOS\tID\tREF\tALT\n1\t10\trs1\tA\tG\n1\t20\trs2\tC\tT,G\nX\t5\t.\tAT\tA\n",
    "info.pvar": "##fileformat=PVARv1.0\n##contig=<ID=1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    + "".join(f"1\t{10 * i}\t1:{10 * i}\tA\tC\t.\tPASS\tAF=0.{i};X=a b\n" for i in range(1, 40)),
    "crlf.pvar": "#CHROM\tPOS\tID\tREF\tALT\r\n1\t10\trs1\tA\tG\r\n2\t7\trs2\tC\tT\r\n",
    "reordered.pvar": "#CHROM\tID\tPOS\tALT\tREF\n1\trs1\t10\tG\tA\n1\trs2\t20\tT\tC\n",
    "bim.bim": "1\trs1\t0\t10\tG\tA\n1\trs2\t0.5\t20\tT\tC\n",
    "spaced.bim": "1 rs1 0 10 G A\n1 rs2 0 20 T C\n",
    "space_in_field.pvar": "#CHROM\tPOS\tID\tREF\tALT\n1\t10\trs1 \tA\tG\n1\t20\trs2\tC\tT\n",
    "double_tab.pvar": "#CHROM\tPOS\tID\tREF\tALT\n1\t10\t\trs1\tA\tG\n",
    "blank_lines.pvar": "#CHROM\tPOS\tID\tREF\tALT\n1\t10\trs1\tA\tG\n\n1\t20\trs2\tC\tT\n",
}


def _both(path, rows=None, monkeypatch=None):
    """read_pvar with Arrow allowed, and with pandas alone: (result or error text) each."""
    out = []
    for arrow in (True, False):
        if not arrow:
            monkeypatch.setattr(pvarfields, "_arrow_fields", lambda *a, **k: None)
        try:
            out.append(read_pvar(path, rows))
        except GenotypeError as exc:
            out.append(str(exc))
        monkeypatch.undo()
    return out


@pytest.mark.parametrize("name", sorted(PVARS))
def test_pvar_fields_by_arrow_equal_pandas(name, tmp_path, monkeypatch):
    path = tmp_path / name
    path.write_text(PVARS[name])
    for rows in (None, (0, 1), (1, 2)):
        fast, slow = _both(path, rows, monkeypatch)
        if isinstance(fast, str) or isinstance(slow, str):
            assert fast == slow
        else:
            pd.testing.assert_frame_equal(fast, slow)
    if name == "plain.pvar":
        v = read_pvar(path)
        assert v["n_alleles"].tolist() == [2, 3, 2] and v["biallelic"].tolist() == [True, False, True]


def test_pvar_files_arrow_cannot_read_go_the_pandas_way(tmp_path):
    """A tab-separated .pvar is split on tabs, as plink2 splits it (a space or a quote is part of a
    field); where Arrow refuses it, pandas' reading names the line."""
    use = {"CHROM": 0, "POS": 1, "ID": 2, "REF": 3, "ALT": 4}
    head = "#CHROM\tPOS\tID\tREF\tALT\n"
    (tmp_path / "space.pvar").write_text(head + '1\t10\trs 1\tA\tG\n1\t20\t"rs2\tC\tT\n')
    assert read_pvar(tmp_path / "space.pvar")["id"].tolist() == ["rs 1", '"rs2']
    for name, body, message in (
        ("extra.pvar", "1\t10\t\trs1\tA\tG\n", r"variant 1: column ID is empty"),
        ("short.pvar", "1\t10\trs1\tA\tG\n1\t20\trs2\tC\n", r"variant 2: column ALT is empty"),
        ("empty_ref.pvar", "1\t10\trs1\t\tG\n", r"variant 1: column REF is empty"),
        ("blank.pvar", "1\t10\trs1\tA\tG\n\n1\t20\trs2\tC\tT\n", r"variant 2: a blank line"),
        ("pos.pvar", "1\t10\trs1\tA\tG\n1\t2x\trs2\tC\tT\n", r"variant 2, column POS: '2x' is not an integer"),
        ("no_pos.pvar", "1\t\trs1\tA\tG\n", r"variant 1: column POS is empty"),
    ):
        (tmp_path / name).write_text(head + body)
        assert pvarfields._arrow_fields(tmp_path / name, 1, use, None) is None
        with pytest.raises(GenotypeError, match=name.replace(".", r"\.") + ": " + message):
            read_pvar(tmp_path / name)
    (tmp_path / "ok.pvar").write_text(PVARS["plain.pvar"])
    got = pvarfields._arrow_fields(tmp_path / "ok.pvar", 1, use, 2)
    assert got["ID"].to_pylist() == ["rs1", "rs2"] and got["POS"].dtype == np.int64 and got["n_alt"].tolist() == [0, 1]


SCORING = {
    "plain.txt": "#pgs_id=P\nhm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n1\t10\ta\tg\t0.1\n2\t\tC\tT\t-1e-3\n",
    "quoted.txt": '#pgs_id=Q\n"hm_chr"\thm_pos\teffect_allele\tother_allele\teffect_weight\n1\t10\t"A"\tG\t0.1\n',
    "crlf.txt": "#pgs_id=C\r\nhm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\r\n1\t10\tA\tG\t0.1\r\n",
    "dup_names.txt": "hm_chr\thm_pos\teffect_allele\teffect_allele\teffect_weight\n1\t10\tA\tG\t0.1\n",
    "blanks.txt": "hm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n1\t10\tA\tG\t0.1\n\n\t\t\t\t\n2\t7\tC\tT\t.5\n",
    "ragged.txt": "hm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n1\t10\tA\tG\t0.1\n1\t11\tA\n",
    "quoted_tab.txt": 'hm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n1\t10\tA\tG\t"0.1\t2"\n',
    "hash_after.txt": "hm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n1\t10\tA\tG\t0.1\n#x\ty\tz\tw\tv\n",
    "bad_weight.txt": "hm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n1\t10\tA\tG\t1_000\n",
    "no_header.txt": "#pgs_id=N\n#x=y\n",
    "header_only.txt": "hm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n",
}


def _c_parser(path, source, n_skip, names):
    """The reading the fast path stands in for: pandas' C parser over the file."""
    return pd.read_csv(source, sep="\t", skiprows=n_skip, dtype=str, keep_default_na=False), False


def _read_both(path, monkeypatch):
    """read_scoring_file with the fast paths, and with pandas' C parser alone."""
    out = []
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(prs, "_in_memory", lambda p, opener: (None, opener))
            monkeypatch.setattr(prs, "_read_text", _c_parser)
        try:
            out.append(prs.read_scoring_file(path))
        except GenotypeError as exc:
            out.append(str(exc))
        monkeypatch.undo()
    return out


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("name", sorted(SCORING))
def test_scoring_file_fast_reading_equals_the_c_parser(name, gz, tmp_path, monkeypatch):
    path = tmp_path / (name + (".gz" if gz else ""))
    data = SCORING[name].encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    fast, slow = _read_both(path, monkeypatch)
    if isinstance(fast, str) or isinstance(slow, str):
        assert fast == slow and isinstance(fast, str)
        assert str(path) in fast
    else:
        pd.testing.assert_frame_equal(fast.variants, slow.variants)
        assert (fast.id, fast.build, fast.header) == (slow.id, slow.build, slow.header)
        if name == "blanks.txt":  # the empty line and the record of empty fields are not variants
            assert fast.variants["pos"].tolist() == [10, 7]


def test_a_quote_left_open_is_named_not_a_lost_record(tmp_path):
    """pandas' C parser reads an open quote on to the next quote, across line ends: two records
    become one. That is now a named error (found by bench/fuzz_inputs.py)."""
    body = "hm_chr\thm_pos\teffect_allele\tother_allele\teffect_weight\n"
    body += '1\t10\tA\tG\t"0.1\n1\t11\tC\tT\t0.2"\n2\t12\tC\tT\t0.3\n'
    for gz in (False, True):
        path = tmp_path / ("open.txt" + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(body.encode()) if gz else body.encode())
        with pytest.raises(GenotypeError, match=r"record 1 after the header, column effect_weight: a quote opens"):
            prs.read_scoring_file(path)


def test_broken_gzip_scoring_files_are_named(tmp_path):
    good = gzip.compress(SCORING["plain.txt"].encode() * 50)
    (tmp_path / "cut.txt.gz").write_bytes(good[: len(good) // 2])
    (tmp_path / "fake.txt.gz").write_bytes(b"not gzip at all")
    for name in ("cut.txt.gz", "fake.txt.gz"):
        with pytest.raises(GenotypeError, match=rf"{name}: cannot be read as a PGS Catalog scoring file"):
            prs.read_scoring_file(tmp_path / name)


def test_numbers_by_arrow_equal_to_numeric():
    values = ["1", "1.5", "-1e-3", "+5", ".5", "5.", "inf", "-inf", "nan", "1e308", "2.5E-7", "0"]
    col = pd.Series(values, dtype="str")
    np.testing.assert_array_equal(prs._numbers(col).to_numpy(), pd.to_numeric(col, errors="coerce").to_numpy())
    odd = pd.Series(["1", " 2", "1_000", "", "0x10", "abc", None], dtype="str")  # Arrow refuses: the slow way
    np.testing.assert_array_equal(prs._numbers(odd).to_numpy(), [1.0, 2.0, np.nan, np.nan, np.nan, np.nan, np.nan])


@pytest.mark.parametrize("seed", range(6))
def test_join_equals_the_pandas_merge(seed):
    rng = np.random.default_rng(seed)
    for _ in range(40):
        nr, ns = rng.integers(0, 30, 2)
        rid, rpos = rng.integers(-1, 3, nr), rng.integers(0, 12, nr)
        sid, spos = rng.integers(0, 3, ns), rng.integers(0, 12, ns)
        if seed == 5 and nr:
            rpos[0] = -4  # a negative position: the merge itself decides
        r, j = sourcescore._join(rid, rpos, sid, spos)
        left = pd.DataFrame({"c": rid, "p": rpos, "r": np.arange(nr)})
        right = pd.DataFrame({"c": sid, "p": spos, "j": np.arange(ns)})
        m = left[left["c"] >= 0].merge(right, on=["c", "p"])
        assert sorted(zip(r.tolist(), j.tolist())) == sorted(zip(m["r"].tolist(), m["j"].tolist()))


def test_reads_in_turn_or_ahead_give_the_same_sequence():
    seen = []

    def read(i):
        seen.append(i)
        return i * 10

    from concurrent.futures import ThreadPoolExecutor

    assert list(sourcescore._reads(read, 5, None)) == [0, 10, 20, 30, 40]
    with ThreadPoolExecutor(1) as pool:
        assert list(sourcescore._reads(read, 5, pool)) == [0, 10, 20, 30, 40]
        assert list(sourcescore._reads(read, 0, pool)) == []
    assert sorted(seen) == sorted([0, 1, 2, 3, 4] * 2)


def test_threads_follow_the_cpus_this_process_may_use(monkeypatch):
    assert sourcescore._threads(1) == 1 and sourcescore._threads(8) == 2
    monkeypatch.setattr(sourcescore.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert sourcescore._threads(None) == 1  # a SLURM job given one CPU reads in turn
    monkeypatch.setattr(sourcescore.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert sourcescore._threads(None) == 2


@pytest.mark.parametrize("seed", range(4))
def test_repeated_rows_equal_pandas_duplicated(seed, monkeypatch):
    """The integer-key test for repeated scoring-file rows == DataFrame.duplicated, missing
    positions included, huge positions, and with the key renumbered between columns."""
    if seed % 2:
        monkeypatch.setattr(prs, "KEY_LIMIT", 8)
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n = int(rng.integers(0, 40))
        v = pd.DataFrame(
            {
                "chrom": pd.array(rng.choice(["1", "2", "X", ""], n).tolist(), dtype="str"),
                "pos": pd.array(rng.integers(0, 5, n) * (10**17 if seed == 3 else 1), dtype="Int64"),
                "effect_allele": pd.array(rng.choice(["A", "C"], n).tolist(), dtype="str"),
                "other_allele": pd.array(rng.choice(["G", "T", ""], n).tolist(), dtype="str"),
            }
        )
        if n:
            v.loc[rng.random(n) < 0.2, "pos"] = pd.NA
        p = v["pos"].to_numpy(float, na_value=np.nan)
        want = v.duplicated(["chrom", "pos", "effect_allele", "other_allele"], keep="first").to_numpy()
        np.testing.assert_array_equal(prs._repeated(v, p), want)
