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
    # the apps reach djmesh only through the node's API (and their own modules)
    "tui": {"tui", "node"},
    "bootstrap": {"bootstrap", "node"},
}


def test_layers_import_only_what_lies_below_them() -> None:
    offenders = [
        f"{path.relative_to(ROOT)} imports djmesh.{target}"
        for layer, allowed in MAY_IMPORT.items()
        for path in sorted((ROOT / layer).rglob("*.py"))
        for target in djmesh_imports(path.read_text(encoding="utf-8"))
        if target not in allowed
    ]
    assert offenders == []


_DOTTED = re.compile(r"^\s*(?:from|import)\s+djmesh\.([a-z_]+)", re.MULTILINE)
_FROM_ROOT = re.compile(r"^\s*from\s+djmesh\s+import\s+\(?\s*([a-z_, \n]+)", re.MULTILINE)


def djmesh_imports(source: str) -> list[str]:
    """The djmesh packages a module imports: ``import djmesh.x``, ``from djmesh.x ...``, ``from djmesh import x``."""
    found = _DOTTED.findall(source)
    for names in _FROM_ROOT.findall(source):
        found += [
            name.strip().split(" as ")[0] for name in names.replace("\n", ",").split(",") if name.strip()
        ]
    return found


def test_the_layer_check_sees_every_way_of_importing() -> None:
    source = "import djmesh.protocol.battle\nfrom djmesh.ledger.errors import X\nfrom djmesh import dsp, judge as j\n"
    assert djmesh_imports(source) == ["protocol", "ledger", "dsp", "judge"]


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
    assert "djmesh = djmesh.node.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()
