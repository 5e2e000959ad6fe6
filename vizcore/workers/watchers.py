"""Who is watching: sessions with the Live lab open, server-wide, and how much slower they poll as they grow.

No torch here: a page counts itself as watching before anything heavy is imported.
"""

from __future__ import annotations

import threading
import time

# How much slower the Live lab polls as more sessions have it open on this server.
# Every poll is a script rerun under the server's one GIL, which the training threads need
# too: 20 sessions polling at full rate starved the trainers (bench/classroom.py, 0 of 20
# runs finished in 200 s). Steps, not a formula, so a session's rate rarely changes.
# Beyond 20 the lecture row's 0.15 s would still be about 50 reruns a second at 30 sessions, each
# needing a new script thread: the event loop then answered almost no poll (bench/classroom.py).
POLL_STEPS = ((4, 1.0), (8, 1.5), (14, 2.5), (20, 4.0), (10**9, 8.0))  # (up to n watchers, interval factor)
CROWD = 8  # watchers beyond which paced runs keep their recorder's cadence (no extra snapshots)
WATCH_WINDOW_S = 60.0  # a session counts if it ran the page this recently (a class opens it, then starts)


def poll_factor(watchers: int) -> float:
    """Return the factor by which the Live lab's polling intervals grow with `watchers` sessions."""
    return next(f for n, f in POLL_STEPS if watchers <= n)


def crowded(watchers: int) -> bool:
    """Return True when `watchers` sessions are too many for the paced runs' extra snapshots."""
    return watchers > CROWD


class Watchers:
    """Sessions that ran the Live lab in the last `window` seconds, server-wide (thread-safe)."""

    def __init__(self, window: float = WATCH_WINDOW_S):
        self.window = window
        self._lock = threading.Lock()
        self._seen: dict[str, float] = {}

    def seen(self, token: str) -> None:
        """Record that session `token` ran the page now."""
        with self._lock:
            self._seen[token] = time.monotonic()

    def count(self) -> int:
        """Return how many sessions ran the page within the window (forgetting older ones)."""
        cutoff = time.monotonic() - self.window
        with self._lock:
            self._seen = {k: t for k, t in self._seen.items() if t >= cutoff}
            return len(self._seen)


_watchers = Watchers()


def server_watchers() -> Watchers:
    """Return the process-wide registry of sessions with the Live lab open."""
    return _watchers
