"""Worker processes that end with their parent: a server that is killed must not leave them running or idle.

A pool worker blocks on its call queue, whose pipe it holds both ends of, so it never sees its
parent go; a warm-up process would train on for minutes. `exit_with_parent()` watches for that.
"""

from __future__ import annotations

import os
import threading
import time


def exit_with_parent(parent: int, poll_s: float = 1.0) -> threading.Thread:
    """In a worker process: start a daemon thread that ends the process once `parent` (a pid) is no longer its
    parent, at once if it has gone already (while the worker was starting); return the thread."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os._exit(0)

    thread = threading.Thread(target=watch, name="normlab-exit-with-parent", daemon=True)
    thread.start()
    return thread
