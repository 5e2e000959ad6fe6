"""Every NORMLAB_* environment setting and every limit that protects a shared server, in one place.

| variable                  | default | what it sets                                                     |
|---------------------------|---------|------------------------------------------------------------------|
| `NORMLAB_RUNS`            | ./runs  | the run store's folder (read by `vizcore.runs.store.RunStore`)   |
| `NORMLAB_MAX_TRAINING`    | cores   | runs training at once, server-wide (`base.server_slots`)         |
| `NORMLAB_MAX_RUN_SECONDS` | 600     | wall-clock cap of one run's training                             |
| `NORMLAB_IDLE_PAUSE`      | 20      | seconds unwatched before a Live-lab run pauses and frees its slot |
| `NORMLAB_IDLE_STOP`       | 180     | seconds unwatched before a run or a sweep stops (and is saved)   |
| `NORMLAB_SWEEP_PROCESSES` | 1       | 0: batch-size sweeps train in their own thread, no worker processes |
| `NORMLAB_TEACHER_TOKEN`   | unset   | the passphrase a teacher enters to delete saved runs or stop any run |
| `NORMLAB_PUBLIC_URL`      | unset   | the address share links use (else the one the visitor used)        |
| `NORMLAB_WARM_EXPERIMENTS` | 1      | 0: a new server does not train the experiments in the background   |

Values are read when asked for, not at import, so a test or a server script may set them first.
"""

from __future__ import annotations

import os

RUNS = "NORMLAB_RUNS"
MAX_TRAINING = "NORMLAB_MAX_TRAINING"
MAX_RUN_SECONDS = "NORMLAB_MAX_RUN_SECONDS"
IDLE_PAUSE = "NORMLAB_IDLE_PAUSE"
IDLE_STOP = "NORMLAB_IDLE_STOP"
SWEEP_PROCESSES = "NORMLAB_SWEEP_PROCESSES"
TEACHER_TOKEN = "NORMLAB_TEACHER_TOKEN"
PUBLIC_URL = "NORMLAB_PUBLIC_URL"
WARM_EXPERIMENTS = "NORMLAB_WARM_EXPERIMENTS"
NAMES = (
    RUNS,
    MAX_TRAINING,
    MAX_RUN_SECONDS,
    IDLE_PAUSE,
    IDLE_STOP,
    SWEEP_PROCESSES,
    TEACHER_TOKEN,
    PUBLIC_URL,
    WARM_EXPERIMENTS,
)

MAX_SWEEP_RUNS = 200  # a classroom server shares its cores: one request must not queue hours of work
MAX_SWEEP_STEPS = 1_000_000  # ~15 CPU-minutes of small-network training
SHIFT_LAB_IDLE_STOP = 60.0  # seconds unwatched before the covariate-shift lab stops (no variable sets it)


def env_seconds(name: str, default: float) -> float:
    """Return the environment variable `name` as a float, or `default` if it is unset or not a number."""
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def max_training() -> int:
    """Return how many runs may train at once on this server: NORMLAB_MAX_TRAINING, default one per core."""
    return int(os.environ.get(MAX_TRAINING, "0") or 0) or (os.cpu_count() or 1)


def max_run_seconds() -> float:
    """Return the wall-clock cap of one run's training: NORMLAB_MAX_RUN_SECONDS, default 600."""
    return env_seconds(MAX_RUN_SECONDS, 600.0)


def idle_pause() -> float:
    """Return the seconds a Live-lab job may go unwatched before it pauses: NORMLAB_IDLE_PAUSE, default 20."""
    return env_seconds(IDLE_PAUSE, 20.0)


def idle_stop() -> float:
    """Return the seconds a job or sweep may go unwatched before it stops: NORMLAB_IDLE_STOP, default 180.

    Longer than Streamlit keeps a closed tab's session (120 s), so an open tab never loses its run.
    """
    return env_seconds(IDLE_STOP, 180.0)


def sweep_processes() -> bool:
    """Return False if NORMLAB_SWEEP_PROCESSES=0 (sweeps then train in the sweep's thread), else True."""
    return os.environ.get(SWEEP_PROCESSES, "1").strip() != "0"


def warm_experiments() -> bool:
    """Return False if NORMLAB_WARM_EXPERIMENTS=0 (no background training of the experiments at start), else True."""
    return os.environ.get(WARM_EXPERIMENTS, "1").strip() != "0"


def teacher_token() -> str | None:
    """Return the teacher's passphrase set on the server, or None: then no session may delete or stop others' runs."""
    token = os.environ.get(TEACHER_TOKEN, "").strip()
    return token or None


def public_url() -> str | None:
    """Return the address share links should use (NORMLAB_PUBLIC_URL, without a trailing slash), or None."""
    url = os.environ.get(PUBLIC_URL, "").strip().rstrip("/")
    return url or None
