"""Nothing user-supplied is ever unpickled: the run store and run files are JSON only."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = re.compile(r"\bimport pickle\b|\bpickle\.loads?\(|\btorch\.load\(|allow_pickle\s*=\s*True|\bjoblib\.load\(")


def test_no_unpickling_anywhere_in_the_app():
    sources = list((ROOT / "vizcore").rglob("*.py")) + list((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
    offenders = [
        f"{p.relative_to(ROOT)}:{i}"
        for p in sources
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if FORBIDDEN.search(line)
    ]
    assert not offenders, offenders


def test_shared_server_config():
    text = (ROOT / ".streamlit" / "config.toml").read_text()
    for setting in (
        "enableXsrfProtection = true",
        'showErrorDetails = "type"',
        "gatherUsageStats = false",
        "maxUploadSize = 5",
    ):
        assert setting in text
