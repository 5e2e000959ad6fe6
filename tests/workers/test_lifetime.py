"""Worker processes end with their parent: a server killed with SIGKILL leaves no pool worker waiting and no
warm-up process training."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]

POOL = "from vizcore.workers.sweep import SweepPool\np = SweepPool(2)\np.warm()\n"
WARM = (
    "import threading\n"
    "from vizcore.experiments import get\n"
    "from vizcore.ui import experiment_cache\n"
    "threading.Thread(target=experiment_cache.warm, args=([get('running-stats'), get('ioffe-fig1')],)).start()\n"
)


@pytest.mark.parametrize("code", [POOL, WARM], ids=["pool workers", "warm-up processes"])
def test_children_end_when_their_parent_is_killed(code):
    parent = subprocess.Popen(
        [sys.executable, "-c", code + "import time\ntime.sleep(600)\n"],
        cwd=ROOT,
        env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    try:
        proc = psutil.Process(parent.pid)
        end = time.monotonic() + 120
        while len(proc.children(recursive=True)) < 2 and time.monotonic() < end:  # its two workers (+ tracker)
            time.sleep(0.2)
        children = [c for c in proc.children(recursive=True) if "spawn_main" in " ".join(c.cmdline())]
        assert len(children) == 2
        time.sleep(3)  # they are up and busy (importing, or training)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        gone, alive = psutil.wait_procs(children, timeout=20)
        assert not alive, [c.pid for c in alive]
    finally:
        if parent.poll() is None:
            parent.kill()
