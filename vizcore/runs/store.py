"""RunStore: a folder of run files, one per config, named by the config's content hash.

A run's id is `RunConfig.key` (16 hex digits, seed included), so a config maps to
one file, `<id>.json`. Every id is checked against ID_PATTERN before any path is
built from it, so no id can reach outside the store. Files are written atomically
(temporary file, then rename) by `runfile.save`, so readers in other threads or
processes see either the old file or the new one, never half of one. JSON only:
nothing here unpickles.

Several server processes (replicas, docs/deploy.md) may share one folder: saves and deletes
take a lock on the folder's `.lock` file as well as a lock within the process, so save's
"is a finished run already there?" check and its write are one step for every replica; lists
and reads take no lock (a file deleted meanwhile is skipped, or a KeyError for get).
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vizcore.engine import runfile
from vizcore.engine.config import RunConfig
from vizcore.engine.runfile import RunFileError

ENV_VAR = "NORMLAB_RUNS"
DEFAULT_ROOT = "runs"
ID_PATTERN = re.compile(r"[0-9a-f]{16}")  # used with fullmatch: no trailing newline slips through
FINISHED = ("completed", "diverged", "stopped")  # statuses save() accepts
REUSABLE = ("completed", "diverged")  # statuses find() may return: a run that reached its end

CURVE_FIELDS = ("step", "train_loss", "train_acc", "test_loss", "test_acc")
TAP_STATS = ("mean", "std", "p15", "p50", "p85", "min", "max", "saturated", "dead")
WEIGHT_STATS = ("grad_norm", "weight_norm", "update_ratio")
LAYER_FIELDS = ("layer", "step", "tap", *TAP_STATS, *WEIGHT_STATS)

# Save's "is a finished run already there?" check and its write happen under this lock,
# shared by every RunStore in the process (Streamlit sessions may each build their own),
# and under an flock on LOCK_NAME, shared by every process on the folder (replicas).
_WRITE_LOCK = threading.Lock()
LOCK_NAME = ".lock"
TMP_PREFIX = ".tmp-"  # runfile.save's temporary files
STALE_TMP_S = 3600.0  # a temporary file this old is left by a crash mid-write: list() removes it

try:
    import fcntl
except ImportError:  # Windows: one process per store folder (the thread lock still holds)
    fcntl = None  # type: ignore[assignment]


def check_id(run_id: Any) -> str:
    """Return `run_id` if it is a valid run id (16 lowercase hex digits); raise ValueError naming it otherwise."""
    if not isinstance(run_id, str) or not ID_PATTERN.fullmatch(run_id):
        raise ValueError(f"invalid run id {run_id!r}: expected 16 lowercase hex digits")
    return run_id


@dataclass(frozen=True)
class RunSummary:
    """One stored run as a row of the run list."""

    id: str
    dataset: str
    model: str
    norm: str
    batch_size: int
    activation: str
    lr: float
    seed: int
    status: str
    steps_done: int
    test_acc: float | None  # the last test-accuracy point (None if it was not finite)
    created: float  # file modification time, seconds since the epoch
    path: Path


def _summary(run_id: str, run: dict, created: float, path: Path) -> RunSummary:
    cfg = run["config"]
    acc = run["curves"].get("test_acc") or [None]
    return RunSummary(
        id=run_id,
        dataset=cfg.get("dataset", RunConfig.dataset),
        model=cfg.get("model", RunConfig.model),
        norm=cfg.get("norm", RunConfig.norm),
        batch_size=cfg.get("batch_size", RunConfig.batch_size),
        activation=cfg.get("activation", RunConfig.activation),
        lr=cfg.get("lr", RunConfig.lr),
        seed=cfg.get("seed", RunConfig.seed),
        status=run["status"],
        steps_done=run["steps_done"],
        test_acc=acc[-1],
        created=created,
        path=path,
    )


class RunStore:
    """A folder of run files; safe to share between threads (e.g. Streamlit sessions)."""

    def __init__(self, root: str | Path | None = None):
        if root is None:
            root = os.environ.get(ENV_VAR) or DEFAULT_ROOT
        # Absolute now, so a later chdir cannot move the store.
        self.root = Path(root).expanduser().absolute()
        self._lock = threading.Lock()  # guards _cache and problems
        self._cache: dict[str, tuple[tuple[int, int, int], RunSummary]] = {}  # file name -> (stat key, summary)
        self.problems: list[tuple[str, str]] = []  # (file name, message) for files the last list() skipped

    def __repr__(self) -> str:
        return f"RunStore({str(self.root)!r})"

    def _path(self, run_id: object) -> Path:
        return self.root / f"{check_id(run_id)}.json"

    # ----- single runs -----
    def save(self, run: dict) -> str:
        """Store a finished run atomically and return its id (its config's key).

        Raises RunFileError if `run` is not a valid run dict and ValueError if it has not
        finished. A `stopped` run never replaces a stored completed or diverged run of the
        same config: the config determines the numbers, so the full run already holds the
        partial one; the id is returned all the same.
        """
        runfile.check(run)
        if run["status"] not in FINISHED:
            raise ValueError(f"only finished runs are stored ({', '.join(FINISHED)}); this one is {run['status']!r}")
        run_id = runfile.config_of(run).key
        path = self._path(run_id)
        with self._writing(create=True):
            if run["status"] == "stopped" and self._stored_status(path) in REUSABLE:
                return run_id
            runfile.save(run, path)
        return run_id

    @contextlib.contextmanager
    def _writing(self, create: bool) -> Iterator[None]:
        """Hold the write lock of this process and of the folder (every process on it); `create` the folder."""
        with _WRITE_LOCK:
            if create:
                self.root.mkdir(parents=True, exist_ok=True)
            if fcntl is None or not self.root.is_dir():
                yield
                return
            fd = os.open(self.root / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes
                yield
            finally:
                os.close(fd)

    def _stored_status(self, path: Path) -> str | None:
        try:
            return runfile.load(path)["status"]
        except (OSError, RunFileError):
            return None

    def get(self, run_id: str) -> dict:
        """Return the stored run `run_id`; raise KeyError if absent, RunFileError if unreadable, ValueError if bad."""
        path = self._path(run_id)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyError(run_id) from None
        return runfile.loads(data)

    def find(self, cfg: RunConfig) -> dict | None:
        """Return a stored completed or diverged run trained with exactly `cfg`, or None (never a stopped run)."""
        if not isinstance(cfg, RunConfig):
            raise TypeError(f"find() takes a RunConfig, got {type(cfg).__name__}")
        try:
            run = self.get(cfg.key)
        except (KeyError, RunFileError):
            return None  # an unreadable file is a miss: the caller trains again and save() replaces it
        if run["status"] not in REUSABLE or runfile.config_of(run) != cfg:
            return None
        if run["status"] == "completed" and run["steps_done"] != cfg.steps:
            return None
        return run

    def delete(self, run_id: str) -> bool:
        """Remove run `run_id`; return True if it existed, False if not."""
        path = self._path(run_id)
        with self._writing(create=False):
            try:
                path.unlink()
            except FileNotFoundError:
                return False
        with self._lock:
            self._cache.pop(path.name, None)
        return True

    def saved_at(self, run_id: str) -> float | None:
        """Return when run `run_id` was saved (seconds since the epoch), or None if it is not stored."""
        try:
            return self._path(run_id).stat().st_mtime
        except (FileNotFoundError, ValueError):
            return None

    def __contains__(self, run_id: object) -> bool:
        """Return True if `run_id` is a valid id with a stored file (any other value: False)."""
        try:
            return self._path(run_id).is_file()
        except ValueError:
            return False

    # ----- the whole store -----
    def list(self) -> list[RunSummary]:
        """Return summaries of the stored runs, newest first; skipped files go to `self.problems`.

        Temporary files (`.tmp-*`, being written or left by a crash mid-write) and other dot
        files are ignored silently; a temporary file older than STALE_TMP_S is removed. A file
        that is not a readable run (corrupt JSON, foreign JSON, another format version, a name
        that is not a run id) is reported in `problems` as (file name, message) and the rest load.
        """
        summaries: list[RunSummary] = []
        problems: list[tuple[str, str]] = []
        seen: set[str] = set()
        try:
            entries = sorted(os.scandir(self.root), key=lambda e: e.name)
        except FileNotFoundError:
            entries = []
        for entry in entries:
            name = entry.name
            if name.startswith(TMP_PREFIX):
                _remove_if_stale(entry)
                continue
            if name.startswith(".") or not name.endswith(".json"):
                continue
            run_id = name[: -len(".json")]
            if not ID_PATTERN.fullmatch(run_id):
                problems.append((name, "file name is not a run id (16 lowercase hex digits + .json)"))
                continue
            try:
                st = entry.stat()
                stat_key = (st.st_mtime_ns, st.st_size, st.st_ino)
                with self._lock:
                    cached = self._cache.get(name)
                if cached is not None and cached[0] == stat_key:
                    summary = cached[1]
                else:
                    run = runfile.loads(Path(entry.path).read_bytes())
                    summary = _summary(run_id, run, st.st_mtime, Path(entry.path))
                    with self._lock:
                        self._cache[name] = (stat_key, summary)
            except FileNotFoundError:
                continue  # deleted while we listed
            except (OSError, RunFileError) as e:
                problems.append((name, str(e)))
                continue
            seen.add(name)
            summaries.append(summary)
        summaries.sort(key=lambda s: (s.created, s.id), reverse=True)
        with self._lock:
            for name in set(self._cache) - seen:
                del self._cache[name]
            self.problems = problems
        return summaries


def _remove_if_stale(entry: os.DirEntry) -> None:
    """Remove a temporary file last written over STALE_TMP_S ago; a fresh one may be another process's write."""
    try:
        if time.time() - entry.stat().st_mtime > STALE_TMP_S:
            os.unlink(entry.path)
    except OSError:
        pass  # gone already, or not ours to remove: it is ignored either way


# ----- CSV exports (the csv module writes None as an empty cell) -----
def _at(values: list, i: int) -> Any:
    return values[i] if i < len(values) else None


def to_csv(run: dict) -> str:
    """Return the run's curves as CSV text: a header, then one row per curve point (nulls as empty cells)."""
    curves = run["curves"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CURVE_FIELDS)
    columns = [curves.get(k, []) for k in CURVE_FIELDS]
    for i in range(len(curves.get("step", []))):
        writer.writerow([_at(col, i) for col in columns])
    return buf.getvalue()


def layers_csv(run: dict) -> str:
    """Return the layer statistics as CSV text: one row per (layer, frame, tap), weight stats repeated per tap."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(LAYER_FIELDS)
    for layer in run["layers"]:
        for i, step in enumerate(layer.get("steps", [])):
            weights = [_at(layer.get(k, []), i) for k in WEIGHT_STATS]
            for tap, d in layer.get("taps", {}).items():
                stats = [_at(d.get(k, []), i) for k in TAP_STATS]
                writer.writerow([layer.get("name", ""), step, tap, *stats, *weights])
    return buf.getvalue()
