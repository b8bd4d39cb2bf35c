"""Re-vendor the admin UI's JavaScript libraries from the npm registry (``make vendor-ui``).

Each library is fetched with ``npm pack`` at the pinned version, its browser ES module is copied
into chalicelib/ui/static/vendor/ with a header naming the version and carrying the license, and
nothing is fetched at run time. Bump a version here, run the target, commit the result.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

VENDOR_DIR = Path(__file__).resolve().parents[1] / "chalicelib" / "ui" / "static" / "vendor"


@dataclass(frozen=True)
class VendoredFile:
    package: str
    version: str
    source: str  # path inside the package tarball
    target: str  # file name under VENDOR_DIR


FILES = [
    VendoredFile("preact", "11.2.0", "package/dist/preact.mjs", "preact.mjs"),
    VendoredFile("preact", "11.2.0", "package/hooks/dist/hooks.mjs", "preact-hooks.mjs"),
    VendoredFile("htm", "3.1.1", "package/dist/htm.module.js", "htm.mjs"),
]


def pack(package: str, version: str, workdir: Path) -> Path:
    """Download `package@version` from the npm registry as a tarball, with npm itself."""
    out = subprocess.run(
        ["npm", "pack", f"{package}@{version}", "--pack-destination", str(workdir), "--silent"],
        check=True,
        capture_output=True,
        text=True,
    )
    return workdir / out.stdout.strip().splitlines()[-1]


def member_text(tarball: tarfile.TarFile, name: str) -> str:
    extracted = tarball.extractfile(name)
    if extracted is None:
        raise SystemExit(f"{name} is not a file in the tarball")
    return io.TextIOWrapper(extracted, encoding="utf-8").read()


def header(file: VendoredFile, license_text: str) -> str:
    body = license_text.strip().replace("*/", "* /")
    return (
        f"/*! {file.package} {file.version} ({file.source.removeprefix('package/')}) from the npm registry;\n"
        f" * vendored by `make vendor-ui` (tools/vendor_ui.py). Do not edit by hand.\n *\n"
        + "".join(f" * {line}".rstrip() + "\n" for line in body.splitlines())
        + " */\n"
    )


def main() -> int:
    VENDOR_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tarballs: dict[tuple[str, str], Path] = {}
        for file in FILES:
            key = (file.package, file.version)
            if key not in tarballs:
                tarballs[key] = pack(file.package, file.version, Path(tmp))
            with tarfile.open(tarballs[key]) as tarball:
                license_text = member_text(tarball, "package/LICENSE")
                code = member_text(tarball, file.source)
            # The source maps are not vendored; a dangling reference would only produce 404s.
            code = "".join(
                line
                for line in code.splitlines(keepends=True)
                if not line.startswith("//# sourceMappingURL=")
            )
            (VENDOR_DIR / file.target).write_text(header(file, license_text) + code, encoding="utf-8")
            print(f"vendored {file.package}@{file.version} {file.source} -> {file.target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
