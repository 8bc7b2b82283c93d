"""Cheap checks of the dashboard's assets: everything is local, the vendored uPlot is complete
and its version matches static/vendor/README.md, and data never goes in as HTML."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "templates" / "index.html"
STATIC = ROOT / "static"
UPLOT = STATIC / "vendor" / "uplot"
VENDOR_README = STATIC / "vendor" / "README.md"

URL = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", re.I)


def _template() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


def test_template_has_no_remote_urls():
    text = _template()
    assert not re.search(r"https?://", text, re.I), "templates/index.html must not reference http(s) URLs"
    assert not URL.search(text), "templates/index.html must not reference protocol-relative URLs"


def test_template_assets_are_static_files_that_exist():
    text = _template()
    refs = re.findall(r"url_for\(\s*'static'\s*,\s*filename\s*=\s*'([^']+)'\s*\)", text)
    assert refs, "the template should load its assets with url_for('static', filename=...)"
    for ref in refs:
        assert (STATIC / ref).is_file(), f"templates/index.html references missing static/{ref}"
    # Every src/href is either a url_for() asset or an in-page anchor.
    for double, single in re.findall(r"""\b(?:src|href)\s*=\s*(?:"([^"]*)"|'([^']*)')""", text):
        attr = double or single
        assert attr.startswith("{{ url_for('static'") or attr.startswith("#"), f"unexpected asset reference {attr!r}"


def test_template_has_no_inline_script():
    # Scripts are files only, so a Content-Security-Policy of script-src 'self' works.
    for match in re.finditer(r"<script\b([^>]*)>(.*?)</script>", _template(), re.S | re.I):
        assert "src=" in match.group(1) and not match.group(2).strip()


@pytest.mark.parametrize("name", ["dashboard.js", "dashboard.css", "query.js", "query.css"])
def test_own_assets_have_no_remote_urls(name):
    text = (STATIC / name).read_text(encoding="utf-8")
    assert not re.search(r"https?://", text, re.I), f"static/{name} must not reference http(s) URLs"
    assert "@import" not in text and "@font-face" not in text


@pytest.mark.parametrize("name", ["dashboard.js", "query.js"])
def test_dashboard_js_never_writes_html(name):
    js = (STATIC / name).read_text(encoding="utf-8")
    code = re.sub(r"/\*.*?\*/|//[^\n]*", "", js, flags=re.S)
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in code, f"static/dashboard.js must build DOM nodes, not use {sink}"


def test_vendored_uplot_files_exist():
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "LICENSE"):
        path = UPLOT / name
        assert path.is_file() and path.stat().st_size > 0, f"missing vendored file {path}"
    assert "MIT" in (UPLOT / "LICENSE").read_text(encoding="utf-8")
    assert VENDOR_README.is_file()


def test_vendored_uplot_version_matches_readme():
    banner = (UPLOT / "uPlot.iife.min.js").read_text(encoding="utf-8")[:300]
    found = re.search(r"uPlot \(v(\d+\.\d+\.\d+)\)", banner)
    assert found, "uPlot.iife.min.js should start with its '(vX.Y.Z)' banner"
    readme = VENDOR_README.read_text(encoding="utf-8")
    row = re.search(r"^\|\s*uPlot\s*\|\s*`uplot`\s*\|\s*(\d+\.\d+\.\d+)\s*\|", readme, re.M)
    assert row, "static/vendor/README.md should have a '| uPlot | `uplot` | X.Y.Z |' row"
    assert row.group(1) == found.group(1), (
        f"static/vendor/README.md says uPlot {row.group(1)} but the vendored file is v{found.group(1)}"
    )
