"""Warm-up: pay a fresh server's one-off costs in the background, before anyone presses Start.

A new server process imports lazily: the first optimizer pulls in `torch._dynamo` (about
1 s on an idle core), the first 2-D dataset scikit-learn's generators (about 1 s), and
plotly imports each trace type's validators the first time a figure uses it. In a
classroom every student presses Start at once, and the first Start paid all of it while
holding the GIL: new sessions then waited 2.5 to 3 s for their page (bench/classroom.py,
profiled with py-spy). `warm_up()` does that work once per process in a daemon thread,
started when the first page has been drawn. Then, unless NORMLAB_WARM_EXPERIMENTS=0, it starts the
shared process pool's workers and trains every experiment at its default budget in two
lowest-priority processes (`ui.experiment_cache`), so a Run shows its verdict at once.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from vizcore.workers import memory, settings

_lock = threading.Lock()
_thread: threading.Thread | None = None


def _work() -> None:
    import torch

    from vizcore.engine import data
    from vizcore.engine.config import DATASETS, RunConfig
    from vizcore.engine.training import Trainer
    from vizcore.figures.boundary import boundary
    from vizcore.figures.curves import curves
    from vizcore.figures.distributions import heatmap, histograms, percentile_bands
    from vizcore.figures.gradients import grad_stats, saturation

    torch.set_num_threads(1)
    for name in DATASETS:  # the split of each dataset is cached (data._raw)
        data.load(name)
    t = Trainer(RunConfig(dataset="moons", depth=2, width=4, batch_size=8, steps=3, every=1, eval_every=1))
    run = t.run()  # optimizer, backward, recording, export, decision boundary
    for build in (curves, grad_stats, saturation, boundary):
        build(run)
    for build in (heatmap, histograms, percentile_bands):
        build(run, "act")
    import pandas  # noqa: F401  # for Streamlit's tables (Saved runs); plotly_guard keeps figures safe meanwhile

    if settings.warm_experiments():
        threading.Thread(target=_warm_experiments, name="normlab-warm-experiments", daemon=True).start()


def _warm_experiments() -> None:
    """Start the shared pool's workers (no start-up wait at an experiment's Run), then cache every experiment."""
    from vizcore.experiments import all_experiments
    from vizcore.ui import experiment_cache
    from vizcore.workers.sweep import shared_pool

    pool = shared_pool()
    if pool is not None:
        pool.warm()
    experiment_cache.warm(all_experiments())


def _quiet() -> bool:
    """Return True while no Live-lab job trains on this server."""
    from vizcore.workers.jobs import server_jobs

    return server_jobs().running() == 0


def _forget_closed_sessions(runtime: Any = None) -> bool:
    """Drop closed tabs' sessions whose time (server.disconnectedSessionTTL) is up; return True if any went.

    Streamlit keeps them in its TTLCache, which removes expired entries only on a write: after a
    class left, its 30 sessions (and every run they showed) stayed in memory until the next visitor
    came. The cache belongs to the server's event loop, so it is expired there. Reaches into
    streamlit 1.67's runtime (pinned; tests/ui/test_warmup.py checks the names).
    """
    from streamlit.runtime import Runtime

    if runtime is None:
        if not Runtime.exists():
            return False
        runtime = Runtime.instance()
    storage = getattr(getattr(runtime, "_session_mgr", None), "_session_storage", None)
    cache = getattr(storage, "_cache", None)
    if cache is None or not hasattr(cache, "expire"):  # another session storage, or AppTest's mock runtime
        return False

    async def expire() -> int:
        gone = cache.expire()
        for _, info in gone:
            _release(info.session)
        return len(gone)

    loop = runtime._get_async_objs().eventloop
    expired = asyncio.run_coroutine_threadsafe(expire(), loop).result(timeout=10)
    # A download button's deferred data (a closure over the whole run) is released only when some
    # script run ends after its session went: with nobody left, never.
    files = getattr(runtime, "media_file_mgr", None)
    held = len(getattr(files, "_deferred_callables", ()))
    if files is not None:
        files.remove_orphaned_files()  # thread-safe (Streamlit's own lock)
    return expired > 0 or len(getattr(files, "_deferred_callables", ())) < held


def _release(session: Any) -> None:
    """Shut down an expired session and empty its state and fragments (on the server's event loop).

    Streamlit drops an expired session without shutting it down, and its runtime loop can keep
    the last session it flushed referenced long after (a loop variable): with its state emptied,
    that reference holds no runs, jobs or figures. `SessionState.clear` keeps the widgets'
    metadata (their callbacks and each chart component's presenter), so it goes too.
    """
    for release in (
        lambda: session.shutdown(),
        lambda: session.session_state.clear(),
        lambda: session.session_state._new_widget_state.widget_metadata.clear(),
        lambda: session._fragment_storage.clear(),
    ):
        try:
            release()
        except Exception:  # best effort: each part is freed on its own
            pass


def warm_up() -> threading.Thread:
    """Start the warm-up thread if this process has none yet; return it (join it to wait).

    Also, once: cap malloc's arenas and start giving freed memory back whenever nothing trains
    (`workers.memory`), so a server's memory returns near its baseline after a class.
    """
    global _thread
    with _lock:
        if _thread is None:
            memory.limit_arenas()
            memory.start_trimmer(_quiet, _forget_closed_sessions)
            _thread = threading.Thread(target=_work, name="normlab-warm-up", daemon=True)
            _thread.start()
        return _thread
