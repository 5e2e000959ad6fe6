"""The figures layer imports no torch, Streamlit, labs or workers, not even through engine.config (the direct
imports and private names are checked for every layer in tests/test_architecture.py)."""

import pkgutil
import subprocess
import sys

import vizcore.figures

MODULES = sorted(m.name for m in pkgutil.iter_modules(vizcore.figures.__path__))
FORBIDDEN = ("torch", "streamlit", "vizcore.labs", "vizcore.workers")


def test_module_does_not_import_streamlit():
    code = "import sys, vizcore.figures; assert 'streamlit' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_no_module_imports_torch_streamlit_labs_or_workers():
    # One fresh interpreter for all modules: if none is loaded after importing them all, no module loads one.
    imports = "; ".join(f"import vizcore.figures.{m}" for m in MODULES)
    code = f"import sys; {imports}; print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.strip()
    assert out == "[]", f"importing vizcore.figures loads {out}"
