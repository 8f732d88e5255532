"""Update the browser libraries the UI vendors (src/modelreg/web/static/vendor/) from the npm
registry: the Markdown parser, the HTML sanitiser and the code highlighter.

    python scripts/update_vendor.py            # fetch the versions pinned in vendor.json
    python scripts/update_vendor.py --latest   # move each pin to the newest release first

Each package's tarball is checked against the registry's sha512 integrity (and, for a pin
already in vendor.json, against the integrity recorded there), then only the files listed in
vendor.json and the package's licence files are copied. Review the diff and run the browser
tests (`make test`) before committing an update. Users never run this: the files are
committed, so there is no build step.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path
from typing import Any

VENDOR = Path(__file__).resolve().parent.parent / "src/modelreg/web/static/vendor"
MANIFEST = VENDOR / "vendor.json"
REGISTRY = "https://registry.npmjs.org"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as answer:  # noqa: S310 -- https registry only
        data: bytes = answer.read()
        return data


def _metadata(name: str, version: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(_get(f"{REGISTRY}/{name}/{version}"))
    return data


def _check_integrity(tarball: bytes, integrity: str, what: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        sys.exit(f"{what}: unsupported integrity {algorithm!r}")
    actual = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if actual != expected:
        sys.exit(f"{what}: the tarball does not match its integrity; nothing was written")


def _extract(tarball: bytes, files: dict[str, str]) -> dict[str, bytes]:
    """{target name: content} for the listed files and every LICENSE* in the package root."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            path = member.name.removeprefix("package/")
            if not member.isfile():
                continue
            if path in files:
                target = files[path]
            elif "/" not in path and path.upper().startswith("LICENSE"):
                target = None
            else:
                continue
            handle = archive.extractfile(member)
            assert handle is not None
            out[target or path] = handle.read()
    missing = set(files.values()) - set(out)
    if missing:
        sys.exit(f"not in the package: {sorted(missing)}")
    return out


def update(latest: bool) -> None:
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    for package in manifest["packages"]:
        name = package["name"]
        version = _metadata(name, "latest")["version"] if latest else package["version"]
        meta = _metadata(name, version)
        integrity = meta["dist"]["integrity"]
        if version == package["version"] and package.get("integrity") not in (None, integrity):
            sys.exit(f"{name}@{version}: the registry's integrity changed since it was pinned")
        tarball = _get(meta["dist"]["tarball"])
        _check_integrity(tarball, integrity, f"{name}@{version}")
        extracted = _extract(tarball, package["files"])
        licences = []
        for target, content in extracted.items():
            if target in package["files"].values():
                (VENDOR / target).write_bytes(content)
            else:  # a licence: kept per package
                licence = f"{package['prefix']}.{target}"
                (VENDOR / licence).write_bytes(content)
                licences.append(licence)
        package.update(version=version, integrity=integrity, license=meta.get("license"),
                       licence_files=sorted(licences))  # fmt: skip
        print(f"{name}@{version}: {len(extracted)} files")
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--latest", action="store_true", help="move each pin to the newest")
    update(parser.parse_args().latest)


if __name__ == "__main__":
    main()
