"""Report helpers: tables escape their content, figures are embedded, missing values are blank."""

from __future__ import annotations

import pandas as pd

from stratify.plots import wilson
from stratify.report.build import _fmt, _img, _table


def test_table_escapes_html_and_blanks_missing():
    html = _table(pd.DataFrame({"a": ["<script>x</script>", None], "b": [float("nan"), 1.23456]}))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "nan" not in html and "1.23" in html


def test_fmt():
    assert _fmt(None) == "" and _fmt(float("nan")) == "" and _fmt(0.123456) == "0.123" and _fmt(12345.6) == "12346"


def test_img_is_inline_or_says_missing(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\nrest")
    assert _img(p, "alt").startswith('<img alt="alt" src="data:image/png;base64,')
    assert "was not produced" in _img(tmp_path / "missing.png", "alt")


def test_wilson_interval():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28      # 0/10: upper bound 0.278
    assert wilson(0, 0) == (None, None)


def test_how_the_inputs_were_read_lists_spellings_and_assumptions():
    from stratify.report.build import _how_read

    man = {"assumed": {"treatments.episode": "t.tsv: no 'episode' column; episode 1 assumed for all 3 trials"},
           "canonicalised": {"biomarkers": {"columns": {"visit": "week"}, "values": {"marker": {"CRP -> crp": 4}},
                                            "missing": {"value": {"NA": 2}}}}}
    html = _how_read(man)
    for text in ("episode 1 assumed for all 3 trials", "<td>visit</td><td>week</td>", "<td>CRP</td><td>crp</td>",
                 "missing value in value", "<td>NA</td><td>missing</td>"):
        assert text in html, text
    assert "nothing was assumed" in _how_read({})
