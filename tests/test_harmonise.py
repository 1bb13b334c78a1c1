"""Cross-instrument harmonisation (stratify.inputs.harmonise).

Expected values are worked by hand from the QIDS-SR16 -> HRSD17 table of ids-qids.org
(resources/SOURCES.md, "Cross-instrument linking").
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from stratify.errors import InputError
from stratify.inputs.harmonise import (
    INSTRUMENT_RANGE,
    Link,
    available_links,
    convert,
    harmonise_totals,
    load_link,
    reverse_link,
    shipped_links,
)
from stratify.inputs.validate import sha256

REPO = Path(__file__).resolve().parent.parent
SHIPPED_TSV = REPO / "resources" / "harmonisation" / "qids_sr16_hamd17.tsv"

# transcribed independently of the TSV from ids-qids.org/interpretation.html: QIDS-SR: HRSD17 low-high
PAGE = (
    "0:0-0 1:1-2 2:3-3 3:4-4 4:5-6 5:7-7 6:8-8 7:9-10 8:11-11 9:12-12 10:13-13 11:14-15 12:16-16 "
    "13:17-17 14:18-19 15:18-19 16:20-20 17:21-22 18:23-23 19:24-24 20:25-25 21:26-27 22:28-28 "
    "23:29-29 24:30-31 25:32-32 26:33-35 27:36-52"
)


def _q2h(x):
    return convert(x, from_instrument="QIDS_SR16", to_instrument="HAMD17")


def _h2q(x):
    return convert(x, from_instrument="HAMD17", to_instrument="QIDS_SR16")


def _write(path: Path, rows, header="from_score\tto_low\tto_high") -> Path:
    path.write_text(header + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def _hamd_madrs_rows():
    """A made-up HAMD17 -> MADRS table for the tests (not a published one): round(1.3 * h) +- 1."""
    rows = []
    for h in range(53):
        m = min(60, round(h * 60 / 52))
        rows.append((h, max(0, m - 1), min(60, m + 1)) if 0 < h < 52 else (h, m, m))
    return rows


# ---------------------------------------------------------------- the shipped table


def test_instrument_ranges():
    assert INSTRUMENT_RANGE["HAMD17"] == (0, 52)
    assert INSTRUMENT_RANGE["QIDS_SR16"] == (0, 27)
    assert INSTRUMENT_RANGE["MADRS"] == (0, 60)


def test_shipped_table_matches_the_page():
    t = shipped_links()["QIDS_SR16", "HAMD17"].table
    page = [tuple(int(v) for v in re.split("[:-]", item)) for item in PAGE.split()]
    assert list(t[["from_score", "to_low", "to_high"]].itertuples(index=False, name=None)) == page


def test_shipped_sha256_is_recorded_in_sources():
    text = (REPO / "resources" / "SOURCES.md").read_text()
    section = text.split("## Cross-instrument linking (`harmonisation/`)", 1)[1]
    line = next(ln for ln in section.splitlines() if "qids_sr16_hamd17.tsv" in ln and re.search(r"[0-9a-f]{64}", ln))
    assert re.search(r"[0-9a-f]{64}", line).group(0) == sha256(SHIPPED_TSV)


def test_shipped_links_only_qids_to_hamd():
    links = shipped_links()
    assert set(links) == {("QIDS_SR16", "HAMD17")}
    link = links["QIDS_SR16", "HAMD17"]
    assert "Rush" in link.source and "ids-qids.org" in link.source
    assert set(available_links()) == {("QIDS_SR16", "HAMD17"), ("HAMD17", "QIDS_SR16")}
    assert available_links()["HAMD17", "QIDS_SR16"].reverse


# ---------------------------------------------------------------- hand-checked values


@pytest.mark.parametrize(
    "qids, hamd",
    [(5, 7.0), (4, 5.5), (1, 1.5), (0, 0.0), (14, 18.5), (15, 18.5), (26, 34.0), (27, 44.0), (4.5, 6.25), (11.6, 15.4)],
)
def test_qids_to_hamd(qids, hamd):
    assert _q2h(qids) == pytest.approx(hamd)


@pytest.mark.parametrize(
    "hamd, qids",
    [
        (19, 14.5),
        (18, 14.5),
        (8, 6.0),
        (2, 1.0),
        (5, 4.0),
        (6, 4.0),
        (40, 27.0),
        (52, 27.0),
        (35, 26.0),
        (0, 0.0),
        (18.5, 14.5),
        (7.5, 5.5),
    ],
)
def test_hamd_to_qids(hamd, qids):
    assert _h2q(hamd) == pytest.approx(qids)


def test_shape_and_nan_preserved():
    out = _q2h(np.array([[1.0, np.nan], [27.0, 0.0]]))
    assert out.shape == (2, 2)
    assert np.isnan(out[0, 1]) and out[0, 0] == 1.5 and out[1, 0] == 44.0
    assert np.isnan(_h2q(float("nan")))


def test_identity_is_unchanged():
    x = np.array([0, 11.6, np.nan, 60])
    out = convert(x, from_instrument="MADRS", to_instrument="MADRS")
    np.testing.assert_array_equal(out, x)
    assert out is not x


# ---------------------------------------------------------------- properties


def test_round_trip_within_table_resolution():
    t = shipped_links()["QIDS_SR16", "HAMD17"].table
    half = (t["to_high"] - t["to_low"]) / 2
    q = np.arange(28)
    back = _h2q(_q2h(q))
    # QIDS 14 and 15 share one HAMD range, so they come back as 14.5: at most half a point off
    assert np.abs(back - q).max() == pytest.approx(0.5)
    assert set(q[np.abs(back - q) > 0]) == {14, 15}
    h = np.arange(53)
    again = _q2h(_h2q(h))
    for s in h:  # never further than half the widest range that holds the score
        covering = half[(t["to_low"] <= s) & (s <= t["to_high"])]
        assert abs(again[s] - s) <= covering.max() + 1e-12, s


@pytest.mark.parametrize("src, dst", [("QIDS_SR16", "HAMD17"), ("HAMD17", "QIDS_SR16")])
def test_monotone_over_the_whole_range(src, dst):
    grid = np.linspace(*INSTRUMENT_RANGE[src], 2001)
    out = convert(grid, from_instrument=src, to_instrument=dst)
    assert not np.isnan(out).any()
    assert (np.diff(out) >= 0).all()
    assert out[0] == INSTRUMENT_RANGE[dst][0]
    assert INSTRUMENT_RANGE[dst][0] <= out.min() and out.max() <= INSTRUMENT_RANGE[dst][1]


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("value", [-1, 27.5, 28])
def test_out_of_range(value):
    with pytest.raises(InputError, match=rf"QIDS_SR16 total {value:g} .*range 0\.\.27"):
        _q2h([3, value])


def test_unknown_instrument():
    with pytest.raises(InputError, match="unknown instrument 'BDI'"):
        convert(3, from_instrument="BDI", to_instrument="HAMD17")


def test_missing_pair_names_it_and_how_to_supply():
    with pytest.raises(InputError) as e:
        convert(10, from_instrument="HAMD17", to_instrument="MADRS")
    msg = str(e.value)
    assert "no linking table from HAMD17 to MADRS" in msg
    assert "load_link(" in msg and "from_score, to_low, to_high" in msg and "0..52" in msg
    assert "Leucht" in msg and "\n" not in msg
    with pytest.raises(InputError, match="from QIDS_SR16 to MADRS.*Carmody"):
        convert(10, from_instrument="QIDS_SR16", to_instrument="MADRS")


def _madrs_link(tmp_path, rows=None) -> Link:
    p = _write(tmp_path / "hamd_madrs.tsv", rows or _hamd_madrs_rows())
    return load_link(p, from_instrument="HAMD17", to_instrument="MADRS", source="test table")


BAD_TABLES = [
    # (rows, header, expected message pieces)
    ([(0, 0)], "from_score\tto_low", ["line 1", "missing column 'to_high'", "expected exactly the columns"]),
    ([(0, 0, 0, "x")], "from_score\tto_low\tto_high\tnote", ["line 1", "unexpected column 'note'"]),
    ([(0, 0, 0), ("1.5", 1, 2)], None, ["line 3", "column 'from_score'", "expected an integer", "'1.5'"]),
    ([(0, 0, 0), ("x", 1, 2)], None, ["line 3", "column 'from_score'", "expected an integer", "'x'"]),
    ([(0, 0, 0), (1, "", 2)], None, ["line 3", "column 'to_low'", "expected a number", "''"]),
    (
        [(0, 0, 0), (1, 1, 2), (1, 1, 2)],
        None,
        ["line 4", "column 'from_score'", "duplicate from_score 1", "first on line 3"],
    ),
    ([(h, h, h) for h in range(52)], None, ["must list every HAMD17 score 0..52", "missing 52"]),
    ([(h, h, h) for h in range(53) if h not in (7, 9)], None, ["missing 7, 9"]),
    (
        [(h, h, h) for h in range(54)],
        None,
        ["line 55", "column 'from_score'", "HAMD17 score within its range 0..52", "'53'"],
    ),
    ([(0, 0, 0), (1, 3, 2)], None, ["line 3", "column 'to_low'", "to_low <= to_high", "to_low 3 > to_high 2"]),
    ([(0, 0, 0), (1, 1, 61)], None, ["line 3", "column 'to_high'", "MADRS score within its range 0..60", "'61'"]),
    ([(0, -1, 0)], None, ["line 2", "column 'to_low'", "range 0..60", "'-1'"]),
    (
        [(h, max(0, h - (h == 10) * 3), h) for h in range(53)],
        None,
        [
            "line 12",
            "column 'to_low'",
            "non-decreasing",
            "found 7 for from_score 10 after 9 for from_score 9",
            "line 11",
        ],
    ),
    ([(h, 0, h - (h == 20) * 2) for h in range(53)], None, ["line 22", "column 'to_high'", "non-decreasing"]),
]


@pytest.mark.parametrize("rows, header, pieces", BAD_TABLES)
def test_user_table_errors(tmp_path, rows, header, pieces):
    p = _write(tmp_path / "t.tsv", rows or [(h, h, h) for h in range(53)], header or "from_score\tto_low\tto_high")
    with pytest.raises(InputError) as e:
        load_link(p, from_instrument="HAMD17", to_instrument="MADRS", source="test")
    msg = str(e.value)
    assert msg.startswith(str(p)), msg
    assert "\n" not in msg
    for piece in pieces:
        assert piece in msg, (piece, msg)


def test_user_table_unsorted_rows_are_fine(tmp_path):
    rows = _hamd_madrs_rows()
    link = _madrs_link(tmp_path, rows[::-1])
    assert link.table["from_score"].tolist() == list(range(53))


def test_user_table_needs_source_and_two_instruments(tmp_path):
    p = _write(tmp_path / "t.tsv", _hamd_madrs_rows())
    with pytest.raises(InputError, match="citation"):
        load_link(p, from_instrument="HAMD17", to_instrument="MADRS", source=" ")
    with pytest.raises(InputError, match="two different instruments"):
        load_link(p, from_instrument="HAMD17", to_instrument="HAMD17", source="x")
    with pytest.raises(InputError, match="file not found"):
        load_link(tmp_path / "nope.tsv", from_instrument="HAMD17", to_instrument="MADRS", source="x")


# ---------------------------------------------------------------- user tables in use


def test_user_madrs_table_forward_and_reverse(tmp_path):
    link = _madrs_link(tmp_path)
    links = available_links([link])
    assert {("HAMD17", "MADRS"), ("MADRS", "HAMD17"), ("QIDS_SR16", "HAMD17")} <= set(links)
    # HAMD 20 -> round(23.08)=23 +- 1 -> 22-24 -> 23; HAMD 0 -> 0; HAMD 52 -> 60
    out = convert([0, 20, 52, 20.5], from_instrument="HAMD17", to_instrument="MADRS", links=[link])
    m21 = round(21 * 60 / 52)
    assert m21 == 24
    np.testing.assert_allclose(out, [0, 23, 60, 23.5])
    # reverse: MADRS 23 lies in the rows of HAMD 19 (21-23), 20 (22-24) and 21 (23-25): mean 20
    covering = [h for h, lo, hi in _hamd_madrs_rows() if lo <= 23 <= hi]
    assert covering == [19, 20, 21]
    assert convert(23, from_instrument="MADRS", to_instrument="HAMD17", links=[link]) == pytest.approx(
        np.mean(covering)
    )
    # MADRS 60 is in the rows of HAMD 51 (58-60) and 52 (60-60)
    assert convert(60, from_instrument="MADRS", to_instrument="HAMD17", links=links) == 51.5
    assert links["MADRS", "HAMD17"].reverse and "reversed" in links["MADRS", "HAMD17"].source
    # no chaining: QIDS -> MADRS still needs its own table
    with pytest.raises(InputError, match="no linking table from QIDS_SR16 to MADRS"):
        convert(10, from_instrument="QIDS_SR16", to_instrument="MADRS", links=links)


def test_reverse_gap_gives_nan_with_reason(tmp_path, caplog):
    # QIDS -> MADRS made-up table that only ever hits even MADRS scores (and 54 for QIDS 27)
    p = _write(tmp_path / "q_m.tsv", [(q, 2 * q, 2 * q) for q in range(27)] + [(27, 54, 60)])
    link = load_link(p, from_instrument="QIDS_SR16", to_instrument="MADRS", source="gappy")
    with caplog.at_level(logging.WARNING, logger="stratify.inputs.harmonise"):
        out = convert([4, 5, 4.5, 58], from_instrument="MADRS", to_instrument="QIDS_SR16", links=[link])
    assert out[0] == 2 and np.isnan(out[1]) and np.isnan(out[2]) and out[3] == 27
    assert "MADRS score 5 has no corresponding QIDS_SR16 score" in caplog.text
    assert "totals 4.5, 5 give NaN" in caplog.text
    t = pd.DataFrame({"patient_id": ["A", "B"], "week": 0.0, "instrument": "MADRS", "total": [4.0, 5.0]})
    h = harmonise_totals(t, target="QIDS_SR16", links=[link])
    assert h["converted"].tolist() == [True, False]
    assert h["converted_from"].tolist() == ["MADRS", ""]
    assert "no corresponding QIDS_SR16 score" in h.loc[1, "conversion_source"]


def test_user_table_replaces_shipped_and_duplicates_refused(tmp_path):
    p = _write(tmp_path / "q_h.tsv", [(q, q, q) for q in range(28)])
    mine = load_link(p, from_instrument="QIDS_SR16", to_instrument="HAMD17", source="mine")
    assert convert(5, from_instrument="QIDS_SR16", to_instrument="HAMD17", links=[mine]) == 5
    assert available_links([mine])["HAMD17", "QIDS_SR16"].source.startswith("mine")
    with pytest.raises(InputError, match="two linking tables from QIDS_SR16 to HAMD17"):
        available_links([mine, mine])
    # an explicit table in the reverse direction wins over the reversed shipped one
    rev = reverse_link(shipped_links()["QIDS_SR16", "HAMD17"])
    assert convert(18, from_instrument="HAMD17", to_instrument="QIDS_SR16", links=[rev]) == 14.5


# ---------------------------------------------------------------- harmonise_totals


def test_harmonise_totals_mixed_table():
    t = pd.DataFrame(
        {
            "patient_id": ["P1", "P1", "P2", "P3", "P4", "P5"],
            "week": [0.0, 4.0, 0.0, 0.0, 0.0, 2.0],
            "instrument": ["HAMD17", "QIDS_SR16", "QIDS_SR16", "MADRS", "HAMD17", "QIDS_SR16"],
            "total": [21.0, 5.0, 4.5, 30.0, np.nan, np.nan],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    before = t.copy()
    out = harmonise_totals(t, target="HAMD17")
    pd.testing.assert_frame_equal(t, before)  # input untouched
    pd.testing.assert_frame_equal(out[t.columns], t)  # no rows dropped or reordered
    assert out.index.tolist() == [10, 11, 12, 13, 14, 15]
    np.testing.assert_array_equal(out["total_HAMD17"].to_numpy(), [21.0, 7.0, 6.25, np.nan, np.nan, np.nan])
    assert out["total_HAMD17"].dtype == float
    assert out["converted"].tolist() == [False, True, True, False, False, True]
    assert out["converted"].dtype == bool
    assert out["converted_from"].tolist() == ["", "QIDS_SR16", "QIDS_SR16", "", "", "QIDS_SR16"]
    src = out["conversion_source"].tolist()
    assert src[0] == "" and src[4] == ""
    assert "Rush" in src[1] and src[1] == src[2] == src[5]
    assert src[3] == "no linking table from MADRS to HAMD17"


def test_harmonise_totals_to_qids_and_identity():
    t = pd.DataFrame(
        {"patient_id": ["P1", "P2"], "week": 0.0, "instrument": ["HAMD17", "QIDS_SR16"], "total": [19.0, 11.6]}
    )
    out = harmonise_totals(t, target="QIDS_SR16")
    np.testing.assert_allclose(out["total_QIDS_SR16"], [14.5, 11.6])
    assert out["converted"].tolist() == [True, False]


def test_harmonise_totals_out_of_range_names_the_row():
    t = pd.DataFrame({"patient_id": ["P1", "P9"], "week": [0.0, 8.0], "instrument": "QIDS_SR16", "total": [3.0, 31.0]})
    with pytest.raises(InputError, match=r"QIDS_SR16 total 31 \(patient_id P9, week 8.0\) .*0\.\.27"):
        harmonise_totals(t, target="HAMD17")


def test_harmonise_totals_bad_input():
    with pytest.raises(InputError, match="lacks column 'total'"):
        harmonise_totals(pd.DataFrame({"instrument": ["HAMD17"]}), target="HAMD17")
    with pytest.raises(InputError, match="unknown instrument 'HAM'"):
        harmonise_totals(pd.DataFrame({"instrument": ["HAMD17"], "total": [1.0]}), target="HAM")
