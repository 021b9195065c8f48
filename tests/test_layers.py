"""The package's layers (docs/architecture.md): imports only point down."""

import re
from pathlib import Path

import dlexp

SRC = Path(dlexp.__file__).parent
# Top to bottom; the root modules (errors, checks, artifacts) are shared by all. data sits below
# config: the config validates ``dataset`` into the dataclasses each data set defines.
LAYERS = ["cli", "notebook", "run", "report", "train", "nn", "config", "data"]
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
    (pkg / "data" / "bad.py").write_text("from dlexp.report import charts\nfrom dlexp.config import schema\n")
    assert upward_imports(pkg) == ["dlexp.data.bad imports dlexp.report", "dlexp.data.bad imports dlexp.config"]


def test_every_layer_exists():
    assert {p.name for p in SRC.iterdir() if (p / "__init__.py").exists()} >= set(LAYERS)


def test_every_package_ships_in_the_wheel():
    """pyproject lists the packages by hand: a new subpackage missing there works in the editable
    install and is absent from the wheel."""
    import tomllib

    listed = set(tomllib.loads((SRC.parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.relative_to(SRC.parent).parts) for p in SRC.rglob("*") if (p / "__init__.py").exists()}
    assert found | {"dlexp"} <= listed
