"""The package's layers (docs/architecture.md): imports only point down."""

import re
from pathlib import Path

import dlexp

SRC = Path(dlexp.__file__).parent
# Top to bottom; the root modules (errors, artifacts) are shared by all.
LAYERS = ["cli", "notebook", "run", "report", "train", "nn", "data", "config"]
RANK = {name: len(LAYERS) - i for i, name in enumerate(LAYERS)}
IMPORT = re.compile(r"^\s*(?:from (dlexp[\w.]*) import ([\w, ]+)|import (dlexp[\w.]*))", re.M)


def _layer(module: str) -> int:
    parts = module.split(".")
    return RANK.get(parts[1], 0) if len(parts) > 1 else 0


def _imports(path: Path):
    for m in IMPORT.finditer(path.read_text()):
        if m.group(1) == "dlexp":
            yield from (f"dlexp.{name.strip()}" for name in m.group(2).split(","))
        else:
            yield m.group(1) or m.group(3)


def upward_imports(src: Path = SRC) -> list[str]:
    bad = []
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src.parent).with_suffix("").parts
        module = ".".join(p for p in parts if p != "__init__")
        if module == "dlexp.__main__":
            continue  # the entry point is the command line's
        for target in _imports(path):
            if _layer(target) > _layer(module):
                bad.append(f"{module} imports {target}")
    return bad


def test_imports_only_point_down():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path):
    pkg = tmp_path / "dlexp"
    (pkg / "data").mkdir(parents=True)
    (pkg / "data" / "bad.py").write_text("from dlexp.report import charts\n")
    assert upward_imports(pkg) == ["dlexp.data.bad imports dlexp.report"]


def test_every_layer_exists():
    assert {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()} >= set(LAYERS)
