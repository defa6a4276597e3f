"""The package installs as one `djmesh` namespace, and the core imports without the UI."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ["djmesh.node", "djmesh.protocol", "djmesh.dsp", "djmesh.judge", "djmesh.ledger"]


def test_core_packages_import_without_textual() -> None:
    code = (
        "import sys\n"
        f"for name in {CORE!r}: __import__(name)\n"
        "import djmesh.node.cli, djmesh.node.store, djmesh.node.identity\n"
        "assert 'textual' not in sys.modules, sorted(m for m in sys.modules if m.startswith('textual'))\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# What each layer may import from djmesh: dependencies point down, so a layer never reaches up.
MAY_IMPORT = {
    "protocol": {"protocol"},
    "dsp": {"dsp", "protocol"},
    "judge": {"judge", "dsp", "protocol"},
    "ledger": {"ledger", "protocol"},
    "node": {"node", "protocol", "dsp", "judge", "ledger"},
}


def test_layers_import_only_what_lies_below_them() -> None:
    pattern = re.compile(r"^\s*(?:from|import)\s+djmesh\.([a-z_]+)", re.MULTILINE)
    offenders = [
        f"{path.relative_to(ROOT)} imports djmesh.{target}"
        for layer, allowed in MAY_IMPORT.items()
        for path in sorted((ROOT / layer).rglob("*.py"))
        for target in pattern.findall(path.read_text(encoding="utf-8"))
        if target not in allowed
    ]
    assert offenders == []


def test_no_subpackage_imports_a_generic_top_level_module() -> None:
    """`import node` or `from protocol import x` would work only in the source tree."""
    offenders = []
    for folder in ("node", "protocol", "dsp", "judge", "ledger", "tui", "bootstrap"):
        for path in (ROOT / folder).rglob("*.py"):
            for line in path.read_text(encoding="utf-8").splitlines():
                stripped = line.strip()
                for generic in ("node", "protocol", "dsp", "judge", "ledger", "tui", "bootstrap"):
                    if stripped.startswith((f"import {generic}", f"from {generic} ", f"from {generic}.")):
                        offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert offenders == []


@pytest.mark.slow
def test_wheel_holds_only_the_djmesh_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
    )
    [wheel] = tmp_path.glob("djmesh-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_levels = {name.split("/")[0] for name in names}
    assert top_levels == {"djmesh", wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1] + ".dist-info"}
    on_disk = {
        "djmesh/" + str(init.relative_to(ROOT).parent) + "/__init__.py"
        for folder in ("node", "protocol", "dsp", "judge", "ledger", "tui", "bootstrap")
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert on_disk <= set(names), f"packages missing from the wheel: {sorted(on_disk - set(names))}"
    assert "djmesh/judge/models/judge.onnx" in names  # the pinned scoring model ships
    assert "djmesh/__init__.py" not in names  # a namespace: future plugins can add djmesh.* packages
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "djmesh = djmesh.node.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
