"""One run store shared by several processes, as replicas behind a proxy share NORMLAB_RUNS (docs/deploy.md).

Each worker process builds its own RunStore on the same folder and saves, lists, reads, finds and
deletes at random for a few seconds; every answer it gets must be whole: no partial JSON, no file
reported as a problem, a deleted file skipped by a concurrent list and a KeyError for get.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import time
from pathlib import Path

import pytest

from vizcore import RunConfig, Trainer
from vizcore.engine import runfile
from vizcore.runs.store import RunStore

# Large enough (a frame every step) that a write takes a while and a torn read would show.
BASE = dict(dataset="moons", depth=3, width=16, batch_size=32, steps=40, every=1, eval_every=5)
N_CONFIGS = 6
SECONDS = 6.0


def _runs() -> list[dict]:
    """One completed run per config, each also as a stopped run of the same config (the same id)."""
    out = []
    for seed in range(N_CONFIGS):
        t = Trainer(RunConfig(**BASE, seed=seed))
        t.step(15)
        t.stop()
        stopped = t.export()
        out.append({"completed": Trainer(RunConfig(**BASE, seed=seed)).run(), "stopped": stopped})
    return out


@pytest.fixture(scope="module")
def pool_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pool") / "runs.json"
    path.write_text(json.dumps(_runs()))
    return path


def _churn(root: str, pool: str, seed: int, seconds: float, start, queue) -> None:
    """A worker process: random store operations on `root` for `seconds`; put (counts, failures) on `queue`."""
    runs = json.loads(Path(pool).read_text())
    ids = [RunConfig.from_dict(r["completed"]["config"]).key for r in runs]
    store, rng = RunStore(root), random.Random(seed)
    counts = dict.fromkeys(("save", "list", "get", "find", "delete", "missing", "listed"), 0)
    failures: list[str] = []
    start.wait()
    end = time.monotonic() + seconds
    while time.monotonic() < end and len(failures) < 20:
        i = rng.randrange(len(runs))
        op = rng.choice(("save", "save", "list", "list", "get", "find", "delete"))
        counts[op] += 1
        try:
            if op == "save":
                assert store.save(runs[i][rng.choice(("completed", "stopped"))]) == ids[i]
            elif op == "list":
                listed = store.list()
                counts["listed"] += len(listed)
                assert store.problems == [], store.problems
                assert {s.id for s in listed} <= set(ids)
            elif op == "get":
                try:
                    run = store.get(ids[i])
                except KeyError:
                    counts["missing"] += 1
                else:
                    runfile.check(run)
                    assert run["config"] == runs[i]["completed"]["config"]
            elif op == "find":
                found = store.find(RunConfig.from_dict(runs[i]["completed"]["config"]))
                assert found is None or found["status"] == "completed"
            else:
                store.delete(ids[i])
        except Exception as e:  # every failure is reported to the parent
            failures.append(f"{op} {ids[i]}: {type(e).__name__}: {e}"[:300])
    queue.put((counts, failures))


def _run_workers(target, argsets: list[tuple]) -> list:
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that has run torch
    start, queue = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, queue)) for args in argsets]
    for p in procs:
        p.start()
    time.sleep(0.5)
    start.set()
    results = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return results


def _whole(root: Path) -> list[dict]:
    """Every file in the store, checked: run-id names, whole run files, no temporary files left."""
    names = sorted(os.listdir(root))
    assert not [n for n in names if n.startswith(".tmp-")], names
    runs = []
    for name in names:
        if name.startswith("."):
            continue  # the store's lock file
        run = runfile.load(root / name)  # strict JSON and runfile.check
        assert name == runfile.config_of(run).key + ".json"
        runs.append(run)
    return runs


def test_two_processes_share_one_store(tmp_path, pool_file):
    root = tmp_path / "shared"
    results = _run_workers(_churn, [(str(root), str(pool_file), seed, SECONDS) for seed in (1, 2)])
    failures = [f for _, fs in results for f in fs]
    assert failures == []
    for counts, _ in results:  # both really raced: each did every kind of operation many times
        assert min(counts[k] for k in ("save", "list", "get", "find", "delete")) >= 10, counts
        assert counts["listed"] > 0 and counts["missing"] > 0, counts
    _whole(root)
    store = RunStore(root)
    store.list()
    assert store.problems == []


def _save_all(root: str, pool: str, status: str, rounds: int, start, queue) -> None:
    """A worker process: save every run of the pool as `status`, `rounds` times over."""
    runs = json.loads(Path(pool).read_text())
    store = RunStore(root)
    start.wait()
    failures = []
    for _ in range(rounds):
        for r in runs:
            try:
                store.save(r[status])
            except Exception as e:
                failures.append(f"{type(e).__name__}: {e}"[:300])
    queue.put((status, failures))


def test_a_stopped_save_in_another_process_never_replaces_a_completed_run(tmp_path, pool_file):
    # Within one process a lock orders "is a completed run there?" and the write; replicas need
    # the same across processes, or a stopped run written just after the check replaces the full run.
    for attempt in range(4):
        root = tmp_path / f"race{attempt}"
        args = [(str(root), str(pool_file), status, 1) for status in ("completed", "stopped", "stopped")]
        results = _run_workers(_save_all, args)
        assert [f for _, fs in results for f in fs] == []
        statuses = [run["status"] for run in _whole(root)]
        assert statuses == ["completed"] * N_CONFIGS, f"attempt {attempt}: {statuses}"


def test_stale_temporary_files_are_cleared_fresh_ones_kept(tmp_path, pool_file):
    # A replica killed mid-write leaves `.tmp-*`; list() removes those older than an hour, never a
    # fresh one (another replica may be writing it right now).
    store = RunStore(tmp_path)
    store.save(json.loads(pool_file.read_text())[0]["completed"])
    old, fresh = tmp_path / ".tmp-old.json", tmp_path / ".tmp-fresh.json"
    old.write_text('{"half": ')
    fresh.write_text('{"half": ')
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    assert len(store.list()) == 1 and store.problems == []
    assert not old.exists() and fresh.exists()
