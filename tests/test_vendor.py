"""The UI's vendored browser libraries: every file vendor.json lists is there, pinned to one
version, with its package's licence next to it (scripts/update_vendor.py writes them)."""

from __future__ import annotations

import json
import re

from modelreg.web.routes import STATIC_DIR

VENDOR = STATIC_DIR / "vendor"


def test_every_vendored_package_is_pinned_with_its_files_and_licence() -> None:
    manifest = json.loads((VENDOR / "vendor.json").read_text())
    names = {p["name"] for p in manifest["packages"]}
    assert {"marked", "dompurify", "@highlightjs/cdn-assets"} <= names
    for package in manifest["packages"]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", package["version"]), package
        assert package["integrity"].startswith("sha512-"), package
        assert package["license"], package
        for target in package["files"].values():
            assert (VENDOR / target).stat().st_size > 0, target
        assert package["licence_files"], package
        for licence in package["licence_files"]:
            assert (VENDOR / licence).read_text().strip(), licence


def test_the_vendored_versions_are_the_ones_the_files_say() -> None:
    manifest = {p["name"]: p for p in json.loads((VENDOR / "vendor.json").read_text())["packages"]}
    highlight = (VENDOR / "highlight.min.js").read_text()[:200]
    assert f"v{manifest['@highlightjs/cdn-assets']['version']}" in highlight
    purify = (VENDOR / "purify.es.js").read_text()[:200]
    assert manifest["dompurify"]["version"] in purify
    marked = (VENDOR / "marked.esm.js").read_text()[:400]
    assert manifest["marked"]["version"] in marked
