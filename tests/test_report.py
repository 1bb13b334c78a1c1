"""Report helpers: tables escape their content, figures are embedded, missing values are blank, the
static files are inlined and the templates autoescape."""

from __future__ import annotations

import pandas as pd

from stratify.plots import wilson
from stratify.report.context import fmt, img, table
from stratify.report.render import macro, render, static


def test_table_escapes_html_and_blanks_missing():
    html = macro("table", table(pd.DataFrame({"a": ["<script>x</script>", None], "b": [float("nan"), 1.23456]})))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "nan" not in html and "1.23" in html
    assert '<td class="num">1.23</td>' in html


def test_table_says_how_many_rows_are_left_out():
    t = table(pd.DataFrame({"a": range(7)}), max_rows=5)
    assert len(t.rows) == 5 and t.more == 2
    assert '<p class="note">2 more rows in the result files.</p>' in macro("table", t)


def test_fmt():
    assert fmt(None) == "" and fmt(float("nan")) == "" and fmt(0.123456) == "0.123" and fmt(12345.6) == "12346"


def test_img_is_inline_or_says_missing(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\nrest")
    assert macro("img", img(p, "alt")).startswith('<img alt="alt" src="data:image/png;base64,')
    assert "was not produced" in macro("img", img(tmp_path / "missing.png", "alt"))


def test_templates_autoescape_data():
    html = render("sections/trd.html.j2", skipped="<b>no treatment history</b>")
    assert "TRD staging skipped: &lt;b&gt;no treatment history&lt;/b&gt;." in html


def test_static_files_are_inlined_not_linked():
    js, css = static("report.js"), static("report.css")
    assert "getElementById('pv-data')" in js and "</script" not in js.lower()
    assert "font-family" in css
    heading = [("x", "X", "")]
    page = render("page.html.j2", title="t", cohort="c", version="0", sections=heading)
    assert css in page and "<link" not in page and "<script src" not in page


def test_wilson_interval():
    lo, hi = wilson(0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28  # 0/10: upper bound 0.278
    assert wilson(0, 0) == (None, None)


def test_how_the_inputs_were_read_lists_spellings_and_assumptions():
    from stratify.report.sections.overview import how_read

    man = {
        "assumed": {"treatments.episode": "t.tsv: no 'episode' column; episode 1 assumed for all 3 trials"},
        "canonicalised": {
            "biomarkers": {
                "columns": {"visit": "week"},
                "values": {"marker": {"CRP -> crp": 4}},
                "missing": {"value": {"NA": 2}},
            }
        },
    }
    html = macro("table", how_read(man))
    for text in (
        "episode 1 assumed for all 3 trials",
        "<td>visit</td><td>week</td>",
        "<td>CRP</td><td>crp</td>",
        "missing value in value",
        "<td>NA</td><td>missing</td>",
    ):
        assert text in html, text
    assert how_read({}) is None
