"""The report in a real browser (headless Chromium through chromedriver): every section
renders, images load, the per-patient view works, the console has no errors, the page makes
no network request, and a screenshot is saved. Plus the pseudonymised report.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when missing).
Screenshots go to the test's temporary folder, and also to ``$STRATIFY_TEST_ARTIFACTS`` when
that is set.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from stratify.report.build import SECTIONS, build_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
CHROMEDRIVER = shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="headless Chromium not installed: apt-get install chromium chromium-driver (.ci/run does this)",
)


def _config(run, **report):
    cfg = copy.deepcopy(run["config"])
    cfg["report"].update(report)
    return cfg


def _ids(run) -> list[str]:
    from stratify.io.tables import read_table

    return read_table(run["results"] / "validate" / "patients.parquet", kind="input.patients")["patient_id"].tolist()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
        "--window-size=1400,1000",
    ):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(120)
    yield drv
    drv.quit()


def _open(drv, path: Path):
    drv.get_log("performance")  # drop what an earlier page logged
    drv.get_log("browser")
    drv.get(path.resolve().as_uri())
    assert drv.execute_script("return document.readyState") == "complete"


def _requests(drv) -> list[str]:
    urls = []
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _screenshot(drv, tmp_path: Path, name: str) -> Path:
    height = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(1400, min(int(height), 16000))
    out = tmp_path / name
    assert drv.save_screenshot(str(out))
    if os.environ.get("STRATIFY_TEST_ARTIFACTS"):
        dest = Path(os.environ["STRATIFY_TEST_ARTIFACTS"])
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(out, dest / name)
    drv.set_window_size(1400, 1000)
    return out


@needs_browser
def test_report_renders_in_chromium_offline_without_errors(planted_run, browser, tmp_path):
    from selenium.webdriver.common.by import By

    page = tmp_path / "report.html"
    page.write_text(build_report(_config(planted_run), planted_run["results"]), encoding="utf-8")
    _open(browser, page)
    # every section is there, visible, with its heading and content
    for sid, title in SECTIONS:
        el = browser.find_element(By.ID, sid)
        assert el.is_displayed(), sid
        assert el.find_element(By.TAG_NAME, "h2").text == title
        assert el.size["height"] > 60, (sid, el.size)
    # every figure decoded (a broken data URI has naturalWidth 0)
    n_img, broken = browser.execute_script(
        "var i=[].slice.call(document.images);return [i.length, i.filter(function(x){"
        "return !x.complete || x.naturalWidth===0;}).map(function(x){return x.alt;})];"
    )
    assert n_img >= 8 and broken == []
    # the per-patient view drew the highest prediction's patient, and finds any patient by identifier
    out = browser.find_element(By.ID, "pv-out")
    assert out.find_elements(By.TAG_NAME, "svg")
    pid = _ids(planted_run)[17]
    box = browser.find_element(By.ID, "pv-id")
    box.clear()
    box.send_keys(pid)
    browser.find_element(By.CSS_SELECTOR, "#pv-form button[type=submit]").click()
    assert out.find_element(By.TAG_NAME, "b").text == pid
    bars = out.find_elements(By.CSS_SELECTOR, "svg rect")
    assert 5 <= len(bars) <= 13
    box.clear()
    box.send_keys("no-such-patient")
    browser.find_element(By.CSS_SELECTOR, "#pv-form button[type=submit]").click()
    assert "No patient no-such-patient in this report" in out.text
    # no console errors, no request but the page itself
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    requests = _requests(browser)
    assert page.resolve().as_uri() in requests
    # the embedded images are data: URIs, decoded in the page; nothing else may be fetched
    assert [u[:80] for u in requests if u != page.resolve().as_uri() and not u.startswith("data:")] == []
    shot = _screenshot(browser, tmp_path, "report.png")
    assert shot.stat().st_size > 50_000


def test_pseudonymised_report_has_no_raw_identifier(planted_run, tmp_path, monkeypatch):
    monkeypatch.setenv("STRATIFY_REPORT_SALT", "consortium-salt")
    cfg = _config(planted_run, pseudonymise=True)
    html = build_report(cfg, planted_run["results"])
    ids = _ids(planted_run)
    # no identifier anywhere, delimited by anything that is not base64 text (which images are)
    found = [i for i in ids if re.search(rf"(?<![A-Za-z0-9+/]){re.escape(i)}(?![A-Za-z0-9+/])", html)]
    assert found == []
    # the pseudonyms are there instead: in the per-patient view and the flagged-trial tables
    from stratify.report.build import Pseudonymiser

    p = Pseudonymiser("consortium-salt")
    data = json.loads(re.search(r"<script type='application/json' id='pv-data'>(.*?)</script>", html).group(1))
    assert set(data["patients"]) == {p(i) for i in ids}
    assert "pseudonymised (salted HMAC-SHA256" in html
    # stable with the same salt, different with another
    assert build_report(cfg, planted_run["results"]).count(p(ids[0])) == html.count(p(ids[0])) > 0
    monkeypatch.setenv("STRATIFY_REPORT_SALT", "another-salt")
    assert p(ids[0]) not in build_report(cfg, planted_run["results"])


def test_pseudonymisation_without_salt_warns_and_still_hides_identifiers(planted_run, monkeypatch, caplog):
    monkeypatch.delenv("STRATIFY_REPORT_SALT", raising=False)
    html = build_report(_config(planted_run, pseudonymise=True), planted_run["results"])
    assert "random salt" in caplog.text and "STRATIFY_REPORT_SALT" in caplog.text
    ids = _ids(planted_run)
    assert not [i for i in ids if re.search(rf"(?<![A-Za-z0-9+/]){re.escape(i)}(?![A-Za-z0-9+/])", html)]


def test_a_leaked_identifier_stops_the_report(planted_run, monkeypatch):
    """The final check fails closed: a section that forgot to pseudonymise stops the report."""
    from markupsafe import Markup

    import stratify.report.build as rep

    monkeypatch.setattr(rep, "section_provenance", lambda config, r: Markup(f"<p>{_ids(planted_run)[3]}</p>"))
    with pytest.raises(RuntimeError, match="pseudonymisation left 1 raw patient identifier"):
        build_report(_config(planted_run, pseudonymise=True), planted_run["results"])


@needs_browser
def test_the_network_check_sees_a_request(browser, tmp_path):
    """The request log the test above relies on does catch a page that fetches something."""
    page = tmp_path / "fetches.html"
    page.write_text("<!DOCTYPE html><html><body><img src='http://127.0.0.1:9/x.png'></body></html>")
    _open(browser, page)
    assert "http://127.0.0.1:9/x.png" in _requests(browser)
