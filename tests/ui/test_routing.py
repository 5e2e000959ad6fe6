"""vizcore.ui.routing: the page list, and the patch that sends a direct link through app.py's router."""

import os
from pathlib import Path

import pytest
from streamlit.runtime.pages_manager import PagesManager
from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT
from vizcore.ui.routing import PAGES, ROUTED


def test_every_page_script_is_routed_once_and_exists():
    scripts = [path for path, _, _ in PAGES]
    assert sorted(scripts) == sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))
    assert len({title for _, title, _ in PAGES}) == len(PAGES)


def test_app_marks_the_session_routed_before_the_page_runs():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert at.session_state[ROUTED] is True
    assert at.title[0].value == "NormLab"  # the first page, Start here, is the default


def test_a_page_run_without_app_switches_legacy_routing_off_and_reruns_once(monkeypatch):
    monkeypatch.setattr(PagesManager, "uses_pages_directory", True)  # a fresh server that saw pages/ first
    at = AppTest.from_file(str(Path(ROOT) / "pages" / "about.py"), default_timeout=60).run()
    assert not at.exception
    assert at.session_state[ROUTED] == "retried"  # set once, so the rerun cannot loop
    assert PagesManager.uses_pages_directory is False


def test_the_router_and_the_live_labs_first_screen_import_no_torch():
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import streamlit\n"
        "before = set(sys.modules)\n"
        "import vizcore.ui.routing\n"
        "new = set(sys.modules) - before\n"
        "assert not {'pandas', 'torch', 'sklearn', 'plotly.graph_objects'} & new, 'routing must come first'\n"
        "import vizcore.ui.live, vizcore.ui.live_jobs, vizcore.ui.widgets, vizcore.ui.roles\n"
        "print(sorted({'torch', 'sklearn'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"  # torch loads on the first Start (or in the warm-up), not before


FIRST_RUN = """
import sys
from streamlit.testing.v1 import AppTest
import vizcore.ui.warmup
vizcore.ui.warmup.warm_up = lambda: None  # the background warm-up imports torch on purpose, after the first page
at = AppTest.from_file(sys.argv[1], default_timeout=120)
at.query_params.update(dict(kv.split("=") for kv in sys.argv[2:]))
at.run()
assert not at.exception, at.exception
print(at.title[0].value, sorted({"pandas", "torch", "sklearn"} & set(sys.modules)))
"""


@pytest.mark.parametrize(
    "link, title",
    [([], "NormLab"), (["dataset=moons", "steps=1500"], "Live")],  # "/" (Start here), and the teacher's preset
)
def test_a_fresh_servers_first_page_run_imports_no_torch_and_the_landing_page_no_pandas(link, title):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", FIRST_RUN, str(ROOT / "app.py"), *link],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        env={**os.environ, "NORMLAB_WARM_EXPERIMENTS": "0"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    imported = out.stdout.strip().rsplit("[", 1)[-1]
    assert out.stdout.startswith(title), out.stdout
    # torch (and scikit-learn) load on the first Start or in the warm-up; the Live lab's live chart makes
    # Streamlit import pandas (it checks the chart's data for data frames), the landing page nothing heavy.
    assert "torch" not in imported and "sklearn" not in imported, imported
    if not link:
        assert "pandas" not in imported, imported
