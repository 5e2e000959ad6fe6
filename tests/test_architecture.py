"""The layers of docs/architecture.md, enforced: who may import whom, read from every module's syntax tree."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("engine", "measures", "runs", "workers", "labs", "figures", "experiments", "ui")
# What each layer may import from vizcore (besides itself and the package root's version string).
ALLOWED = {
    "engine": set(),
    "measures": {"engine"},
    "runs": {"engine"},
    "labs": {"engine", "measures", "runs"},
    "figures": {"engine"},  # engine.config only in practice: names and choices, never torch (checked below)
    "workers": {"engine", "measures", "runs", "labs"},
    "experiments": {"engine", "measures", "runs", "workers", "figures"},
    "ui": set(LAYERS),
    "cli": {"engine", "experiments"},
}
THIRD_PARTY = {  # imports that mark a layer: figures never pull torch in, only ui draws with Streamlit
    "figures": {"torch", "streamlit", "sklearn"},
    "engine": {"streamlit", "plotly"},
    "measures": {"streamlit", "plotly"},
    "runs": {"streamlit", "plotly", "torch"},
    "labs": {"streamlit", "threading"},
}


def sources() -> list[Path]:
    """Return every Python file of the app: vizcore (all subfolders), pages and app.py."""
    return sorted((ROOT / "vizcore").rglob("*.py")) + sorted((ROOT / "pages").rglob("*.py")) + [ROOT / "app.py"]


def imports(path: Path, root: Path = ROOT) -> list[tuple[str, list[str], int]]:
    """Return (module, imported names, line) for every import in `path`, relative ones made absolute."""
    rel = path.relative_to(root).with_suffix("")
    package = list(rel.parts[:-1]) if rel.parts[-1] != "__init__" else list(rel.parts[:-1])
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                mod = ".".join(base + ([mod] if mod else []))
            found.append((mod, [a.name for a in node.names], node.lineno))
    return found


def layer_of(path: Path, root: Path = ROOT) -> str | None:
    """Return the layer a vizcore file belongs to ('cli' for the command line), or None outside vizcore."""
    parts = path.relative_to(root).parts
    if parts[0] != "vizcore":
        return None
    if len(parts) == 2:
        return {"cli.py": "cli", "__main__.py": "cli"}.get(parts[1])
    return parts[1]


def vizcore_layers(module: str, names: list[str]) -> set[str]:
    """Return the vizcore layers an import reaches ('from vizcore import X' counts X's layer)."""
    parts = module.split(".")
    if parts[0] != "vizcore":
        return set()
    if len(parts) > 1:
        return {parts[1]} if parts[1] in LAYERS else set()
    return {n for n in names if n in LAYERS} | ({"engine"} if set(names) - {"__version__"} - set(LAYERS) else set())


def test_every_layer_is_a_folder_and_nothing_else_sits_at_the_top():
    top = {p.name for p in (ROOT / "vizcore").iterdir() if p.suffix == ".py"}
    assert top == {"__init__.py", "__main__.py", "cli.py"}
    for layer in LAYERS:
        assert (ROOT / "vizcore" / layer / "__init__.py").exists(), layer


def layer_problems(path: Path, root: Path = ROOT) -> list[str]:
    """Return one line per import in `path` that breaks the layer rules."""
    layer = layer_of(path, root)
    problems = []
    for module, names, line in imports(path, root):
        top = module.split(".")[0]
        if layer in THIRD_PARTY and top in THIRD_PARTY[layer]:
            problems.append(f"line {line}: {layer} imports {module}")
        if top == "streamlit" and layer not in (None, "ui"):
            problems.append(f"line {line}: only vizcore/ui, pages and app.py may import streamlit ({module})")
        if layer is None or layer == "ui":
            continue
        reached = vizcore_layers(module, names) - {layer}
        bad = reached - ALLOWED[layer]
        if bad:
            problems.append(f"line {line}: {layer} imports {module} ({', '.join(sorted(bad))})")
    return problems


def private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """Return one line per `_private` name that `path` imports from another vizcore module."""
    return [
        f"line {line}: {name} from {module}"
        for module, names, line in imports(path, root)
        if module.startswith("vizcore")
        for name in names
        if name.startswith("_") and not name.startswith("__")
    ]


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_follow_the_layers(path):
    problems = layer_problems(path)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_names(path):
    bad = private_imports(path)
    assert not bad, "\n".join(bad)


def test_the_rules_catch_wrong_imports(tmp_path):
    """The walker itself, on a made-up tree: each kind of wrong import is named."""
    (tmp_path / "vizcore" / "figures").mkdir(parents=True)
    (tmp_path / "vizcore" / "engine").mkdir()
    fig = tmp_path / "vizcore" / "figures" / "probe.py"
    fig.write_text("import torch\nfrom vizcore.labs.batch import _pct\nfrom ..workers import jobs\n")
    eng = tmp_path / "vizcore" / "engine" / "probe.py"
    eng.write_text("import streamlit as st\nfrom vizcore import figures\nfrom . import data\n")
    assert imports(fig, tmp_path) == [
        ("torch", [], 1),
        ("vizcore.labs.batch", ["_pct"], 2),
        ("vizcore.workers", ["jobs"], 3),
    ]
    assert layer_problems(fig, tmp_path) == [
        "line 1: figures imports torch",
        "line 2: figures imports vizcore.labs.batch (labs)",
        "line 3: figures imports vizcore.workers (workers)",
    ]
    assert private_imports(fig, tmp_path) == ["line 2: _pct from vizcore.labs.batch"]
    assert layer_problems(eng, tmp_path) == [
        "line 1: engine imports streamlit",
        "line 1: only vizcore/ui, pages and app.py may import streamlit (streamlit)",
        "line 2: engine imports vizcore (figures)",
    ]


def test_no_module_is_over_about_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in sources() if (n := len(p.read_text().splitlines())) > 420}
    assert not long, long


def test_pages_read_in_about_80_lines():
    long = {p.name: n for p in (ROOT / "pages").glob("*.py") if (n := len(p.read_text().splitlines())) > 90}
    assert not long, long
